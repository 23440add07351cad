//! The Rust worker on jobs that Node bullmq 5.67.2 added, as TestPlanIt's web app adds them:
//! results, retries with back-off, final failures, graceful close and stalled recovery are
//! what Node reads back.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
use queue_support::{eventually, fast, queue, spawn_worker};

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use node_support::node_worker_sitting_on_a_job;
use redis_server::RedisServer;

fn node(script: &str, args: &[&str]) -> Value {
    node_support::node_last(script, args, &[])
}
use serde_json::{Value, json};
use tp_bullmq::{JobError, Worker, WorkerOptions};

fn job(server: &RedisServer, q: &str, id: &str) -> Value {
    node("inspect.cjs", &[&server.url(), q, "job", id])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_added_jobs_are_completed_by_rust_and_node_reads_the_result() {
    let server = RedisServer::start();
    let jobs = json!([{"name": "create-notification", "data": {"userId": "u1", "type": "WORK_ASSIGNED"}, "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 5000}, "removeOnComplete": {"age": 604800, "count": 1000}}}]);
    let ids = node(
        "produce.cjs",
        &[&server.url(), "notifications", &jobs.to_string()],
    );
    let id = ids[0].as_str().expect("id").to_string();
    let worker = Worker::connect(&server.url(), "bull", "notifications", fast())
        .await
        .expect("worker");
    let running = spawn_worker(worker, |job| async move {
        Ok(json!({"ok": job.id, "user": job.data["userId"]}))
    });
    let q = queue(&server, "notifications").await;
    eventually("the job completed", async || {
        q.counts().await.is_ok_and(|c| c.completed == 1)
    })
    .await;
    let seen = job(&server, "notifications", &id);
    assert_eq!(seen["state"], "completed");
    assert_eq!(seen["returnvalue"], json!({"ok": id, "user": "u1"}));
    assert_eq!(seen["attemptsMade"], 1);
    assert_eq!(seen["attemptsStarted"], 1);
    assert!(seen["finishedOn"].as_u64() >= seen["processedOn"].as_u64());
    assert_eq!(
        node("inspect.cjs", &[&server.url(), "notifications", "counts"]),
        serde_json::to_value(q.counts().await.expect("counts")).expect("json")
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_backoff_then_failed_with_reason_and_stack() {
    let server = RedisServer::start();
    let jobs = json!([
        {"name": "flaky", "data": {}, "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 100}}},
        {"name": "broken", "data": {}, "opts": {"attempts": 2, "backoff": {"type": "fixed", "delay": 50}}},
        {"name": "fatal", "data": {}, "opts": {"attempts": 5}}
    ]);
    let ids = node("produce.cjs", &[&server.url(), "emails", &jobs.to_string()]);
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    let worker = Worker::connect(&server.url(), "bull", "emails", fast())
        .await
        .expect("worker");
    let running = spawn_worker(worker, move |job| {
        let t = t.clone();
        async move {
            match job.name.as_str() {
                "flaky" if t.fetch_add(1, Ordering::SeqCst) < 2 => {
                    Err(JobError::Failed("smtp 421 try later".into()))
                }
                "flaky" => Ok(json!("sent")),
                "broken" => Err(JobError::Failed("smtp 550 no such user".into())),
                _ => Err(JobError::Unrecoverable("bad payload".into())),
            }
        }
    });
    let q = queue(&server, "emails").await;
    eventually("one completed, two failed", async || {
        q.counts()
            .await
            .is_ok_and(|c| c.completed == 1 && c.failed == 2)
    })
    .await;
    let flaky = job(&server, "emails", ids[0].as_str().expect("id"));
    assert_eq!(
        (
            flaky["state"].as_str(),
            flaky["attemptsMade"].as_u64(),
            flaky["returnvalue"].as_str()
        ),
        (Some("completed"), Some(3), Some("sent"))
    );
    let broken = job(&server, "emails", ids[1].as_str().expect("id"));
    assert_eq!(
        (broken["state"].as_str(), broken["attemptsMade"].as_u64()),
        (Some("failed"), Some(2))
    );
    assert_eq!(broken["failedReason"], "smtp 550 no such user");
    assert_eq!(broken["stacktrace"].as_array().map(Vec::len), Some(2));
    let fatal = job(&server, "emails", ids[2].as_str().expect("id"));
    assert_eq!(
        (fatal["state"].as_str(), fatal["attemptsMade"].as_u64()),
        (Some("failed"), Some(1)),
        "unrecoverable: no retry"
    );
    running.stop().await;
}

/// A job handed back (a worker stop at a point it can resume from) is the next one taken, in
/// its queue and among its priority, and is not an attempt: a one-attempt job completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_back_job_is_taken_next_and_counts_no_attempt() {
    let server = RedisServer::start();
    let jobs = json!([
        {"name": "a", "data": {}, "opts": {"attempts": 1}},
        {"name": "b", "data": {}, "opts": {"attempts": 1}},
        {"name": "c", "data": {}},
        {"name": "p1", "data": {}, "opts": {"priority": 3}},
        {"name": "p2", "data": {}, "opts": {"priority": 3}}
    ]);
    let ids = node(
        "produce.cjs",
        &[&server.url(), "testmo-imports", &jobs.to_string()],
    );
    let order = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = order.clone();
    let worker = Worker::connect(&server.url(), "bull", "testmo-imports", fast())
        .await
        .expect("worker");
    let running = spawn_worker(worker, move |job| {
        let seen = seen.clone();
        async move {
            let first = {
                let mut o = seen.lock().expect("order");
                o.push(job.name.clone());
                !o[..o.len() - 1].contains(&job.name)
            };
            if first && (job.name == "a" || job.name == "p1") {
                Err(JobError::HandBack("the worker is stopping".into()))
            } else {
                Ok(json!(job.attempts_made))
            }
        }
    });
    let q = queue(&server, "testmo-imports").await;
    eventually("all five completed", async || {
        q.counts().await.is_ok_and(|c| c.completed == 5)
    })
    .await;
    running.stop().await;
    // BullMQ takes the wait list before the prioritized set; in each, the handed-back job is
    // next again.
    assert_eq!(
        *order.lock().expect("order"),
        ["a", "a", "b", "c", "p1", "p1", "p2"]
    );
    for (id, name) in [(&ids[0], "a"), (&ids[3], "p1")] {
        let j = job(&server, "testmo-imports", id.as_str().expect("id"));
        assert_eq!(
            (
                j["state"].as_str(),
                j["attemptsMade"].as_u64(),
                j["attemptsStarted"].as_u64(),
                j["returnvalue"].as_u64()
            ),
            (Some("completed"), Some(1), Some(2), Some(0)),
            "{name}: {j}"
        );
        assert!(
            j["failedReason"].as_str().is_none_or(str::is_empty),
            "{name}: {j}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_lets_the_running_job_finish() {
    let server = RedisServer::start();
    let ids = node(
        "produce.cjs",
        &[
            &server.url(),
            "forecast-updates",
            r#"[{"name": "update-all-cases-forecast", "data": {}}]"#,
        ],
    );
    let worker = Worker::connect(&server.url(), "bull", "forecast-updates", fast())
        .await
        .expect("worker");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started = std::sync::Mutex::new(Some(started_tx));
    let started = Arc::new(started);
    let run = worker.run(
        move |_job| {
            let started = started.clone();
            async move {
                if let Some(tx) = started.lock().ok().and_then(|mut s| s.take()) {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(json!("done"))
            }
        },
        async {
            let _ = started_rx.await; // stop as soon as the job is running
        },
    );
    run.await.expect("run");
    assert_eq!(
        job(&server, "forecast-updates", ids[0].as_str().expect("id"))["state"],
        "completed",
        "the worker returned only after the job finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_by_a_killed_node_worker_is_recovered_by_rust() {
    let server = RedisServer::start();
    let ids = node(
        "produce.cjs",
        &[
            &server.url(),
            "issue-sync",
            r#"[{"name": "sync-issue", "data": {"issueId": 7}}]"#,
        ],
    );
    let id = ids[0].as_str().expect("id").to_string();
    // A Node worker takes the job (lock 1 s) and is killed with SIGKILL while running it.
    // Its stalled check (shared by all workers through the stalled-check key) runs often too.
    let mut node_worker = node_worker_sitting_on_a_job(&server.url(), "issue-sync");
    eventually("Node runs the job", async || {
        job(&server, "issue-sync", &id)["state"] == "active"
    })
    .await;
    node_worker.kill().expect("kill -9");
    let _ = node_worker.wait();
    let opts = WorkerOptions {
        stalled_interval: Duration::from_millis(300),
        lock_duration: Duration::from_millis(1000),
        ..fast()
    };
    let worker = Worker::connect(&server.url(), "bull", "issue-sync", opts)
        .await
        .expect("worker");
    let running = spawn_worker(worker, |_job| async { Ok(json!("recovered")) });
    eventually("Rust recovered and completed the job", async || {
        job(&server, "issue-sync", &id)["state"] == "completed"
    })
    .await;
    let seen = job(&server, "issue-sync", &id);
    assert_eq!(seen["returnvalue"], "recovered");
    assert_eq!(
        seen["attemptsStarted"], 2,
        "started once by Node, once by Rust"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_survives_a_valkey_restart_and_takes_new_jobs() {
    let mut server = RedisServer::start();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let worker = Worker::connect(&server.url(), "bull", "audit-logs", fast())
        .await
        .expect("worker");
    let running = spawn_worker(worker, move |job| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(job.name.clone());
            Ok(json!(null))
        }
    });
    node(
        "produce.cjs",
        &[
            &server.url(),
            "audit-logs",
            r#"[{"name": "before", "data": {}}]"#,
        ],
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("before"),
        Some("before".into())
    );
    // Valkey goes away and comes back empty; the worker keeps trying and picks up new work.
    server.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while seen.is_none() && tokio::time::Instant::now() < deadline {
        node(
            "produce.cjs",
            &[
                &server.url(),
                "audit-logs",
                r#"[{"name": "after", "data": {}}]"#,
            ],
        );
        seen = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .ok()
            .flatten();
    }
    assert_eq!(
        seen.as_deref(),
        Some("after"),
        "the worker did not come back after the restart"
    );
    running.stop().await;
}

/// Runs `workers` Rust workers on `queue` until `count` jobs completed; returns the processors'
/// (start, end) times in ms and the largest `active` length sampled meanwhile.
async fn run_fleet(
    server: &RedisServer,
    queue_name: &str,
    workers: usize,
    opts: WorkerOptions,
    count: u64,
    job_ms: u64,
) -> (Vec<(u64, u64)>, u64) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
    let mut stops = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..workers {
        let w = Worker::connect(&server.url(), "bull", queue_name, opts.clone())
            .await
            .expect("worker");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop_tx);
        let tx = tx.clone();
        runs.push(tokio::spawn(async move {
            w.run(
                move |_job| {
                    let tx = tx.clone();
                    async move {
                        let start = tp_bullmq::queue::now_ms();
                        tokio::time::sleep(Duration::from_millis(job_ms)).await;
                        let _ = tx.send((start, tp_bullmq::queue::now_ms()));
                        Ok(json!(null))
                    }
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
        }));
    }
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    let mut spans = Vec::new();
    let mut max_active = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while (spans.len() as u64) < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} jobs ran",
            spans.len()
        );
        let active: u64 = redis::cmd("LLEN")
            .arg(format!("bull:{queue_name}:active"))
            .query_async(&mut conn)
            .await
            .expect("llen");
        max_active = max_active.max(active);
        while let Ok(s) = rx.try_recv() {
            spans.push(s);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for s in stops {
        let _ = s.send(());
    }
    for r in runs {
        r.await.expect("join").expect("run");
    }
    (spans, max_active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_concurrency_from_the_queue_meta_binds_every_worker() {
    let server = RedisServer::start();
    let q = queue(&server, "forecast-updates").await;
    for i in 0..6 {
        q.add(
            "update",
            &json!({ "i": i }),
            &tp_bullmq::JobOptions::default(),
        )
        .await
        .expect("add");
    }
    // What Node's queue.setGlobalConcurrency(1) writes.
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("HSET")
        .arg("bull:forecast-updates:meta")
        .arg("concurrency")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("hset");
    let opts = WorkerOptions {
        concurrency: 5,
        ..fast()
    };
    let (spans, max_active) = run_fleet(&server, "forecast-updates", 2, opts, 6, 50).await;
    assert!(
        max_active <= 1,
        "two workers of concurrency 5 ran {max_active} jobs at once under a global concurrency of 1"
    );
    let mut spans = spans;
    spans.sort();
    assert!(
        spans.windows(2).all(|w| w[1].0 >= w[0].1),
        "jobs overlapped: {spans:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limiter_caps_jobs_per_window_across_workers() {
    let server = RedisServer::start();
    let q = queue(&server, "forecast-updates").await;
    for i in 0..6 {
        q.add(
            "update",
            &json!({ "i": i }),
            &tp_bullmq::JobOptions::default(),
        )
        .await
        .expect("add");
    }
    let opts = WorkerOptions {
        concurrency: 5,
        limiter: Some((2, Duration::from_millis(1000))),
        ..fast()
    };
    let (spans, _) = run_fleet(&server, "forecast-updates", 2, opts, 6, 1).await;
    let mut starts: Vec<u64> = spans.iter().map(|s| s.0).collect();
    starts.sort();
    // At most 2 jobs start in any window of the limiter's duration. The limiter counts when a
    // job is taken, in Valkey; these stamps are taken later, when the processor runs, which on
    // a loaded box can lag by tens of ms: the window checked is 750 ms, not 1 s. Without a
    // working limiter all six start within a few ms.
    for (i, s) in starts.iter().enumerate() {
        let in_window = starts[i..].iter().take_while(|t| **t < s + 750).count();
        assert!(
            in_window <= 2,
            "{in_window} jobs started within 750 ms of {s}: {starts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_timeout_abandons_a_job_that_will_not_finish() {
    let server = RedisServer::start();
    let ids = node(
        "produce.cjs",
        &[
            &server.url(),
            "testmo-imports",
            r#"[{"name": "import", "data": {}}]"#,
        ],
    );
    let opts = WorkerOptions {
        drain_timeout: Some(Duration::from_millis(300)),
        ..fast()
    };
    let worker = Worker::connect(&server.url(), "bull", "testmo-imports", opts)
        .await
        .expect("worker");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Arc::new(std::sync::Mutex::new(Some(started_tx)));
    worker
        .run(
            move |_job| {
                let started = started.clone();
                async move {
                    if let Some(tx) = started.lock().ok().and_then(|mut s| s.take()) {
                        let _ = tx.send(());
                    }
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(json!(null))
                }
            },
            async {
                let _ = started_rx.await;
            },
        )
        .await
        .expect("run returns after the drain timeout");
    // The job stays active with its lock until the lock expires; a stalled check requeues it.
    assert_eq!(
        job(&server, "testmo-imports", ids[0].as_str().expect("id"))["state"],
        "active"
    );
}
