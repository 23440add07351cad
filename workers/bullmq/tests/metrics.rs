//! Per-minute metrics as Node's `metrics: {maxDataPoints}` worker option records them: the
//! Rust worker and Node's, on twin queues fed the same jobs, leave what Node's own
//! `Queue.getMetrics` reads back the same (running counts, per-minute deltas, the zeros of the
//! minutes without a job); without the option nothing is recorded.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use queue_support::{eventually, fast, queue, spawn_worker};
use redis_server::RedisServer;
use serde_json::{Value, json};
use tp_bullmq::{JobError, Worker, WorkerOptions};

fn node(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    node_support::node_last(script, args, env)
}

fn metrics(server: &RedisServer, q: &str) -> Value {
    node("inspect.cjs", &[&server.url(), q, "metrics"], &[])
}

fn produce(server: &RedisServer, q: &str, jobs: &Value) {
    node("produce.cjs", &[&server.url(), q, &jobs.to_string()], &[]);
}

/// Moves the metrics' last minute three minutes back, as if the queue had been idle since.
fn idle_three_minutes(server: &RedisServer, q: &str) {
    let key = format!("bull:{q}:metrics:completed");
    let out = std::process::Command::new("redis-cli")
        .args(["-u", &server.url(), "HGET", &key, "prevTS"])
        .output()
        .expect("redis-cli");
    let prev: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("prevTS");
    let status = std::process::Command::new("redis-cli")
        .args(["-u", &server.url(), "HSET", &key, "prevTS"])
        .arg((prev - 180_000).to_string())
        .status()
        .expect("redis-cli");
    assert!(status.success());
}

/// Node's getMetrics without the timestamps, which differ between the twins.
fn comparable(m: &Value) -> Value {
    let strip = |x: &Value| {
        json!({
            "count": x["meta"]["count"],
            "prevCount": x["meta"]["prevCount"],
            "data": x["data"],
            "points": x["count"],
        })
    };
    json!({"completed": strip(&m["completed"]), "failed": strip(&m["failed"])})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_records_metrics_exactly_as_node_does() {
    let server = RedisServer::start();
    let ok = json!([{"name": "a", "data": {}}, {"name": "b", "data": {}}]);
    let failing = json!([{"name": "c", "data": {"fail": true}}]);
    let last = json!([{"name": "d", "data": {}}]);
    let opts = WorkerOptions {
        metrics_max_data_points: Some(tp_bullmq::worker::METRICS_ONE_WEEK),
        ..fast()
    };
    let worker = Worker::connect(&server.url(), "bull", "rust", opts)
        .await
        .expect("worker");
    let running = spawn_worker(worker, |job| async move {
        if job.data["fail"] == true {
            Err(JobError::Failed("boom".into()))
        } else {
            Ok(json!(null))
        }
    });
    let q = queue(&server, "rust").await;
    let node_env = [("METRICS", "10080"), ("FAIL_MARKED", "1")];
    let node_consume = |n: &str| {
        node(
            "consume.cjs",
            &[&server.url(), "node", n, "20000"],
            &node_env,
        )
    };

    // Two completed and one failed on each side.
    produce(&server, "rust", &ok);
    produce(&server, "rust", &failing);
    produce(&server, "node", &ok);
    produce(&server, "node", &failing);
    node_consume("3");
    eventually("rust finished three", async || {
        q.counts()
            .await
            .is_ok_and(|c| c.completed == 2 && c.failed == 1)
    })
    .await;
    assert_eq!(
        comparable(&metrics(&server, "rust")),
        comparable(&metrics(&server, "node"))
    );
    assert_eq!(metrics(&server, "rust")["completed"]["meta"]["count"], 2);

    // Three idle minutes, then a job: its minute's delta and two zeros, newest first.
    idle_three_minutes(&server, "rust");
    idle_three_minutes(&server, "node");
    produce(&server, "rust", &last);
    produce(&server, "node", &last);
    node_consume("1");
    eventually("rust finished the last", async || {
        q.counts().await.is_ok_and(|c| c.completed == 3)
    })
    .await;
    let rust = metrics(&server, "rust");
    assert_eq!(comparable(&rust), comparable(&metrics(&server, "node")));
    assert_eq!(rust["completed"]["data"], json!([0, 0, 2]), "{rust}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_nothing_is_recorded() {
    let server = RedisServer::start();
    let worker = Worker::connect(&server.url(), "bull", "plain", fast())
        .await
        .expect("worker");
    let running = spawn_worker(worker, |_job| async move { Ok(json!(null)) });
    produce(&server, "plain", &json!([{"name": "a", "data": {}}]));
    let q = queue(&server, "plain").await;
    eventually("the job completed", async || {
        q.counts().await.is_ok_and(|c| c.completed == 1)
    })
    .await;
    let m = metrics(&server, "plain");
    assert_eq!(m["completed"]["count"], 0, "{m}");
    running.stop().await;
}
