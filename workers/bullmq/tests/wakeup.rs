//! Spec §11 scenario 6 and §12 "idle pick-up": an idle worker sits in its blocking wait on the
//! queue's marker for as long as its drain delay (20 s here) and must still take a job the
//! other side adds as soon as it is due: a plain job at once, a delayed one when its delay
//! ends. A worker that missed the marker would only notice at the end of its 20 s wait, so the
//! bound below (5 s) tells the two apart on a loaded machine without timing anything finely.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use node_support::{node_command, node_last};
use queue_support::{connection, queue, recording_worker};
use redis_server::RedisServer;
use serde_json::{Value, json};
use tp_bullmq::{JobOptions, WorkerOptions};

const DRAIN: Duration = Duration::from_secs(20);
/// Far below DRAIN, far above any honest wake-up.
const BOUND_MS: u64 = 5_000;

/// Clients blocked in BZPOPMIN: an idle worker waiting on the marker.
async fn blocked_waiters(server: &RedisServer) -> usize {
    let mut conn = connection(server).await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .expect("CLIENT LIST");
    list.lines().filter(|l| l.contains("cmd=bzpopmin")).count()
}

async fn wait_idle(server: &RedisServer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while blocked_waiters(server).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never blocked on the marker"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn due_ms(server: &RedisServer, q: &str, id: &str) -> u64 {
    let job = node_last("inspect.cjs", &[&server.url(), q, "job", id], &[]);
    job["timestamp"].as_u64().expect("timestamp") + job["delay"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_rust_worker_takes_node_jobs_when_due() {
    let server = RedisServer::start();
    let mut worker = recording_worker(
        &server,
        "emails",
        WorkerOptions {
            drain_delay: DRAIN,
            ..Default::default()
        },
    )
    .await;

    for (name, opts) in [("delayed", json!({"delay": 1500})), ("plain", json!({}))] {
        wait_idle(&server).await;
        let jobs = json!([{"name": name, "data": {}, "opts": opts}]);
        let ids = node_last(
            "produce.cjs",
            &[&server.url(), "emails", &jobs.to_string()],
            &[],
        );
        let id = ids[0].as_str().expect("id").to_string();
        let due = due_ms(&server, "emails", &id);
        let (ran, started) = tokio::time::timeout(DRAIN * 2, worker.started.recv())
            .await
            .expect("the job ran before the drain delay ended twice")
            .expect("a job");
        assert_eq!(ran.id, id);
        assert!(started + 50 >= due, "{name} job ran before it was due");
        assert!(
            started - due.min(started) < BOUND_MS,
            "{name} job started {} ms after it was due: the marker was missed",
            started - due
        );
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_worker_takes_rust_jobs_when_due() {
    let server = RedisServer::start();
    let mut child = node_command("consume.cjs")
        .args([&server.url(), "emails", "2", "60000"])
        .env("DRAIN_S", DRAIN.as_secs().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let q = queue(&server, "emails").await;
    for (name, delay) in [("delayed", Some(1500)), ("plain", None)] {
        wait_idle(&server).await;
        let opts = JobOptions {
            delay,
            ..Default::default()
        };
        let id = q.add(name, &json!({}), &opts).await.expect("add");
        let due = due_ms(&server, "emails", &id);
        let seen = tokio::time::timeout(DRAIN * 2, rx.recv())
            .await
            .expect("Node ran the job before its drain delay ended twice")
            .expect("a job line");
        assert_eq!(seen["id"], id.as_str());
        let started = seen["startedAt"].as_u64().expect("startedAt");
        assert!(started + 50 >= due, "{name} job ran before it was due");
        assert!(
            started - due.min(started) < BOUND_MS,
            "Node started the {name} job {} ms after it was due: the marker Rust wrote was missed",
            started - due
        );
    }
    let status = child.wait().expect("node exits");
    assert!(status.success(), "node consume.cjs failed: {status}");
}
