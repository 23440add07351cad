//! The rest of spec §11's scenarios: ordering both ways against Node's own (4), counts in a
//! mixed state with an active job and a flow parent (3), maxStalledCount 0 (7), lock renewal
//! under other workers' stalled checks (8), removeOnComplete/removeOnFail (12), Node's
//! obliterate while a Rust job runs (14) and getWorkers with and without a name (15).

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::process::Stdio;
use std::time::Duration;

use node_support::{node_command, node_last, node_lines, node_worker_sitting_on_a_job};
use queue_support::{
    connection, eventually, fast, queue, recording_worker, recording_worker_with, spawn_worker,
};
use redis_server::RedisServer;
use serde_json::{Value, json};
use tp_bullmq::{JobError, JobOptions, Worker, WorkerOptions};

fn inspect(server: &RedisServer, q: &str, what: &str, arg: &str) -> Value {
    node_last("inspect.cjs", &[&server.url(), q, what, arg], &[])
}

fn ordering_jobs() -> Value {
    let mut jobs = vec![
        json!({"name": "plain-a", "data": {}}),
        json!({"name": "plain-b", "data": {}}),
    ];
    for (i, p) in [5, 1, 3, 0, 1].iter().enumerate() {
        jobs.push(json!({"name": format!("p{p}-{i}"), "data": {}, "opts": {"priority": p}}));
    }
    jobs.push(json!({"name": "lifo", "data": {}, "opts": {"lifo": true}}));
    Value::from(jobs)
}

/// Names in the order a single-slot Node worker ran them.
fn node_order(server: &RedisServer, q: &str) -> Vec<String> {
    let n = ordering_jobs().as_array().map_or(0, Vec::len);
    node_lines(
        "consume.cjs",
        &[&server.url(), q, &n.to_string(), "30000"],
        &[],
    )
    .iter()
    .map(|j| j["name"].as_str().unwrap_or("").to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_in_nodes_order_whoever_adds_and_runs_them() {
    let server = RedisServer::start();
    let n = ordering_jobs().as_array().map_or(0, Vec::len);
    // Node → Node, the reference.
    node_last(
        "produce.cjs",
        &[&server.url(), "nn", &ordering_jobs().to_string()],
        &[],
    );
    let reference = node_order(&server, "nn");
    assert_eq!(reference.len(), n);

    // Node → Rust.
    node_last(
        "produce.cjs",
        &[&server.url(), "nr", &ordering_jobs().to_string()],
        &[],
    );
    let mut worker = recording_worker(&server, "nr", fast()).await;
    let mut ours = Vec::new();
    for _ in 0..n {
        let (job, _) = tokio::time::timeout(Duration::from_secs(30), worker.started.recv())
            .await
            .expect("a job in time")
            .expect("a job");
        ours.push(job.name);
    }
    worker.stop().await;
    assert_eq!(ours, reference, "a Rust worker on Node's jobs");

    // Rust → Node.
    let q = queue(&server, "rn").await;
    for j in ordering_jobs().as_array().into_iter().flatten() {
        let opts: JobOptions =
            serde_json::from_value(j.get("opts").cloned().unwrap_or(json!({}))).expect("opts");
        q.add(j["name"].as_str().unwrap_or(""), &j["data"], &opts)
            .await
            .expect("add");
    }
    assert_eq!(
        node_order(&server, "rn"),
        reference,
        "a Node worker on Rust's jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_agree_with_an_active_job_and_a_flow_parent() {
    let server = RedisServer::start();
    let jobs = json!([
        {"name": "held", "data": {}},
        {"name": "w1", "data": {}}, {"name": "w2", "data": {}},
        {"name": "later", "data": {}, "opts": {"delay": 600000}},
        {"name": "urgent", "data": {}, "opts": {"priority": 2}}
    ]);
    node_last(
        "produce.cjs",
        &[&server.url(), "mixed", &jobs.to_string()],
        &[],
    );
    // A Rust worker holds the first job in its processor until released.
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let worker = Worker::connect(&server.url(), "bull", "mixed", fast())
        .await
        .expect("worker");
    let running = spawn_worker(worker, move |job| {
        let mut release = release_rx.clone();
        async move {
            if job.name == "held" {
                let _ = release.wait_for(|r| *r).await;
            }
            Ok(json!(null))
        }
    });
    let q = queue(&server, "mixed").await;
    eventually("the held job is active", async || {
        q.counts().await.is_ok_and(|c| c.active == 1)
    })
    .await;
    // Pause so nothing else moves; then a flow parent (waiting-children) and its child.
    q.pause().await.expect("pause");
    inspect(&server, "mixed", "flow", "parent");
    let compare = async |step: &str| {
        let theirs = inspect(&server, "mixed", "counts", "");
        let ours = serde_json::to_value(q.counts().await.expect("counts")).expect("json");
        assert_eq!(ours, theirs, "counts {step}");
        theirs
    };
    let paused = compare("while paused").await;
    assert_eq!(paused["waiting-children"], 1, "{paused}");
    assert_eq!(paused["active"], 1, "{paused}");
    assert_eq!(paused["paused"], 3, "w1, w2 and the child: {paused}");
    // Resumed, with the only slot still held: the same jobs, now waiting.
    q.resume().await.expect("resume");
    let resumed = compare("after resume").await;
    assert_eq!(resumed["waiting"], 3, "{resumed}");
    // Released: everything runs, the parent after its child.
    let _ = release_tx.send(true);
    eventually("every job ran", async || {
        q.counts().await.is_ok_and(|c| {
            c.waiting + c.prioritized + c.active + c.waiting_children == 0 && c.completed == 6
        })
    })
    .await;
    compare("at the end").await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_stalled_count_zero_a_stalled_job_fails_without_running() {
    let server = RedisServer::start();
    let ids = node_last(
        "produce.cjs",
        &[&server.url(), "stalls", r#"[{"name": "long", "data": {}}]"#],
        &[],
    );
    let id = ids[0].as_str().expect("id").to_string();
    let mut node_worker = node_worker_sitting_on_a_job(&server.url(), "stalls");
    let q = queue(&server, "stalls").await;
    eventually("Node runs the job", async || {
        q.counts().await.is_ok_and(|c| c.active == 1)
    })
    .await;
    node_worker.kill().expect("kill -9");
    let _ = node_worker.wait();
    let opts = WorkerOptions {
        stalled_interval: Duration::from_millis(300),
        lock_duration: Duration::from_millis(1000),
        max_stalled_count: 0,
        ..fast()
    };
    let worker = recording_worker(&server, "stalls", opts).await;
    eventually("the stalled job failed", async || {
        q.counts().await.is_ok_and(|c| c.failed == 1)
    })
    .await;
    let job = inspect(&server, "stalls", "job", &id);
    assert_eq!(job["failedReason"], "job stalled more than allowable limit");
    let mut worker = worker;
    assert!(
        worker.started.try_recv().is_err(),
        "the job must not run again"
    );
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lock_keeps_a_long_job_from_stalling() {
    let server = RedisServer::start();
    let ids = node_last(
        "produce.cjs",
        &[
            &server.url(),
            "long",
            r#"[{"name": "reindex", "data": {}}]"#,
        ],
        &[],
    );
    let id = ids[0].as_str().expect("id").to_string();
    let opts = WorkerOptions {
        // Renewed every second; a lock of two leaves a second of slack on a loaded machine.
        lock_duration: Duration::from_millis(2000),
        stalled_interval: Duration::from_millis(300),
        ..fast()
    };
    let worker = Worker::connect(&server.url(), "bull", "long", opts)
        .await
        .expect("worker");
    let running = spawn_worker(worker, |_job| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(json!("done"))
    });
    let q = queue(&server, "long").await;
    eventually("Rust runs the job", async || {
        q.counts().await.is_ok_and(|c| c.active == 1)
    })
    .await;
    // A Node worker's stalled checker runs every 300 ms meanwhile (it finds nothing to run).
    let node_worker = node_command("consume.cjs")
        .args([&server.url(), "long", "1", "6000"])
        .env("LOCK_MS", "2000")
        .env("STALLED_MS", "300")
        .stdout(Stdio::null())
        .spawn()
        .expect("node worker");
    eventually("the job completed", async || {
        q.counts().await.is_ok_and(|c| c.completed == 1)
    })
    .await;
    let job = inspect(&server, "long", "job", &id);
    assert_eq!(job["attemptsStarted"], 1, "started exactly once: {job}");
    let mut conn = connection(&server).await;
    let events: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("bull:long:events")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("events");
    assert!(
        !events.iter().any(|(_, f)| f.iter().any(|v| v == "stalled")),
        "no stalled event: {events:?}"
    );
    running.stop().await;
    let _ = node_worker.wait_with_output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_on_complete_and_fail_keep_what_node_would() {
    let server = RedisServer::start();
    let jobs = json!([
        {"name": "gone", "data": {}, "opts": {"removeOnComplete": true}},
        {"name": "k1", "data": {}, "opts": {"removeOnComplete": 2}},
        {"name": "k2", "data": {}, "opts": {"removeOnComplete": 2}},
        {"name": "k3", "data": {}, "opts": {"removeOnComplete": 2}},
        {"name": "fail-gone", "data": {"fail": true}, "opts": {"removeOnFail": true}},
        {"name": "fail-kept", "data": {"fail": true}, "opts": {"removeOnFail": 5}}
    ]);
    let ids = node_last(
        "produce.cjs",
        &[&server.url(), "keep", &jobs.to_string()],
        &[],
    );
    let id = |i: usize| ids[i].as_str().expect("id").to_string();
    let mut worker = recording_worker_with(&server, "keep", fast(), |job| {
        if job.data["fail"] == true {
            Err(JobError::Failed("boom".into()))
        } else {
            Ok(json!(null))
        }
    })
    .await;
    let q = queue(&server, "keep").await;
    eventually("all ran", async || {
        q.counts()
            .await
            .is_ok_and(|c| c.waiting + c.active == 0 && c.completed + c.failed >= 3)
    })
    .await;
    let state = |i: usize| inspect(&server, "keep", "job", &id(i));
    assert_eq!(state(0), Value::Null, "removeOnComplete true");
    assert_eq!(
        state(1),
        Value::Null,
        "removeOnComplete 2 keeps the last two"
    );
    assert_eq!(state(2)["state"], "completed");
    assert_eq!(state(3)["state"], "completed");
    assert_eq!(state(4), Value::Null, "removeOnFail true");
    assert_eq!(state(5)["state"], "failed");
    assert_eq!(
        inspect(&server, "keep", "counts", ""),
        serde_json::to_value(q.counts().await.expect("counts")).expect("json")
    );

    // By age: the first job is removed by a later completion once it is over a second old.
    let run_one = async |name: &str| {
        let job = json!([{"name": name, "data": {}, "opts": {"removeOnComplete": {"age": 1}}}]);
        let id = node_last(
            "produce.cjs",
            &[&server.url(), "keep", &job.to_string()],
            &[],
        )[0]
        .as_str()
        .expect("id")
        .to_string();
        eventually("the job completed", async || {
            inspect(&server, "keep", "job", &id)["state"] == "completed"
        })
        .await;
        id
    };
    let old = run_one("old").await;
    let finished = inspect(&server, "keep", "job", &old)["finishedOn"]
        .as_u64()
        .expect("finishedOn");
    eventually("over a second has passed", async || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .is_ok_and(|d| d.as_millis() as u64 > finished + 1_100)
    })
    .await;
    run_one("new").await;
    assert_eq!(
        inspect(&server, "keep", "job", &old),
        Value::Null,
        "aged out"
    );
    worker.started.close();
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_can_obliterate_a_queue_while_a_rust_job_runs() {
    let server = RedisServer::start();
    node_last(
        "produce.cjs",
        &[&server.url(), "doomed", r#"[{"name": "slow", "data": {}}]"#],
        &[],
    );
    let worker = Worker::connect(&server.url(), "bull", "doomed", fast())
        .await
        .expect("worker");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let running = spawn_worker(worker, move |job| {
        let _ = tx.send(job.name.clone());
        async move {
            if job.name == "slow" {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            Ok(json!(null))
        }
    });
    assert_eq!(rx.recv().await.as_deref(), Some("slow"));
    inspect(&server, "doomed", "obliterate-force", "");
    let q = queue(&server, "doomed").await;
    assert_eq!(q.counts().await.expect("counts").active, 0, "obliterated");
    // The Rust job finishes into a queue that no longer has it; the worker carries on.
    node_last(
        "produce.cjs",
        &[
            &server.url(),
            "doomed",
            r#"[{"name": "after", "data": {}}]"#,
        ],
        &[],
    );
    let next = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the worker took the next job");
    assert_eq!(next.as_deref(), Some("after"));
    eventually("the new job completed", async || {
        q.counts().await.is_ok_and(|c| c.completed == 1)
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_lists_named_and_unnamed_rust_workers_once_each() {
    let server = RedisServer::start();
    let named = recording_worker(
        &server,
        "emails",
        WorkerOptions {
            name: Some("mailer".into()),
            ..fast()
        },
    )
    .await;
    let unnamed = recording_worker(&server, "emails", fast()).await;
    let q = queue(&server, "emails").await;
    eventually("both workers connected", async || {
        q.workers().await.is_ok_and(|w| w.len() == 2)
    })
    .await;
    assert_eq!(inspect(&server, "emails", "workers", ""), 2);
    named.stop().await;
    unnamed.stop().await;
    eventually("both workers gone", async || {
        q.workers().await.is_ok_and(|w| w.is_empty())
    })
    .await;
    assert_eq!(inspect(&server, "emails", "workers", ""), 0);
}
