//! Rust and Node workers on the same queue: mixed fleets share the work without running a
//! job twice, and a job of a SIGKILLed Rust worker is recovered by Node.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
use queue_support::queue;

use std::process::{Command, Stdio};
use std::time::Duration;

use node_support::{node_command, node_last};
use redis_server::RedisServer;
use serde_json::json;
use tp_bullmq::{JobOptions, Worker, WorkerOptions};

const CHILD: &str = "TP_BULLMQ_CHILD_WORKER_URL";

/// Not a test of its own: the body of the Rust worker process that
/// `a_job_of_a_killed_rust_worker_is_recovered_by_node` starts (and kills).
#[tokio::test]
#[ignore = "run as a child process by a_job_of_a_killed_rust_worker_is_recovered_by_node"]
async fn child_worker_process() {
    let url = std::env::var(CHILD).expect("started by the fleet test");
    // Short lock and stalled interval, so the recovery does not wait out the 30 s defaults.
    let opts = WorkerOptions {
        lock_duration: Duration::from_millis(1000),
        stalled_interval: Duration::from_millis(300),
        ..Default::default()
    };
    let worker = Worker::connect(&url, "bull", "issue-sync", opts)
        .await
        .expect("worker");
    worker
        .run(
            |_job| async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Ok(json!(null))
            },
            std::future::pending(),
        )
        .await
        .expect("run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_a_killed_rust_worker_is_recovered_by_node() {
    let server = RedisServer::start();
    let q = queue(&server, "issue-sync").await;
    let id = q
        .add("sync-issue", &json!({"issueId": 9}), &JobOptions::default())
        .await
        .expect("add");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "child_worker_process",
            "--nocapture",
        ])
        .env(CHILD, server.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("child worker");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while q
        .job(&id)
        .await
        .expect("job")
        .and_then(|j| j.processed_on)
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the Rust worker never took the job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    // Node's worker (stalled checks every 300 ms) finds the expired lock and runs the job.
    let seen = node_last(
        "consume.cjs",
        &[&server.url(), "issue-sync", "1", "30000"],
        &[("STALLED_MS", "300"), ("LOCK_MS", "1000")],
    );
    assert_eq!(seen["id"], id);
    let after = node_last(
        "inspect.cjs",
        &[&server.url(), "issue-sync", "job", &id],
        &[],
    );
    assert_eq!(after["state"], "completed");
    assert_eq!(after["attemptsStarted"], 2, "started by Rust, then by Node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_runs_every_job_exactly_once() {
    let server = RedisServer::start();
    let q = queue(&server, "notifications").await;
    for i in 0..200 {
        q.add(
            "create-notification",
            &json!({ "i": i }),
            &JobOptions::default(),
        )
        .await
        .expect("add");
    }
    let worker = Worker::connect(
        &server.url(),
        "bull",
        "notifications",
        WorkerOptions {
            concurrency: 5,
            drain_delay: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await
    .expect("worker");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let rust = tokio::spawn(async move {
        worker
            .run(
                |_job| async {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok(json!("rust"))
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
    });
    let mut node = node_command("consume.cjs")
        .args([&server.url(), "notifications", "100000", "60000"])
        .env("SLEEP_MS", "2")
        .stdout(Stdio::null())
        .spawn()
        .expect("node worker");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while q.counts().await.expect("counts").completed < 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fleet did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = node.kill();
    let _ = node.wait();
    let _ = stop_tx.send(());
    rust.await.expect("join").expect("run");
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    let mut by = std::collections::BTreeMap::new();
    for id in 1..=200 {
        let (ats, ret): (u32, String) = redis::cmd("HMGET")
            .arg(format!("bull:notifications:{id}"))
            .arg("ats")
            .arg("returnvalue")
            .query_async(&mut conn)
            .await
            .expect("hmget");
        assert_eq!(ats, 1, "job {id} started {ats} times");
        *by.entry(ret).or_insert(0) += 1;
    }
    assert_eq!(by.values().sum::<u32>(), 200);
    assert!(
        by.contains_key("\"rust\""),
        "the Rust worker took part: {by:?}"
    );
}
