//! tp-bullmq against Node bullmq 5.67.2 (tests/interop/node, installed by `.ci/run`) on a
//! private redis-server: what Rust adds, Node processes as it would its own jobs; counts and
//! pause state agree both ways.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
use queue_support::queue;

use redis_server::RedisServer;

fn node(script: &str, args: &[&str]) -> Vec<Value> {
    node_support::node_lines(script, args, &[])
}
use serde_json::{Value, json};
use tp_bullmq::{Backoff, JobOptions, KeepJobs};

fn counts_from_node(server: &RedisServer, q: &str) -> Value {
    node("inspect.cjs", &[&server.url(), q, "counts"]).remove(0)
}

#[tokio::test]
async fn jobs_added_by_rust_are_processed_by_node_with_the_same_name_data_and_options() {
    let server = RedisServer::start();
    let q = queue(&server, "emails").await;
    let opts = JobOptions {
        attempts: Some(5),
        backoff: Some(Backoff::exponential(10_000)),
        remove_on_complete: Some(KeepJobs::Policy {
            age: Some(2_592_000),
            count: Some(5000),
        }),
        remove_on_fail: Some(KeepJobs::Policy {
            age: Some(2_592_000),
            count: None,
        }),
        keep_logs: Some(10),
        ..Default::default()
    };
    let first = q
        .add(
            "send-notification-email",
            &json!({"notificationId": "n1", "userId": "u1"}),
            &opts,
        )
        .await
        .expect("add");
    let second = q
        .add(
            "send-digest-email",
            &json!({"userId": "u2", "notifications": [1, 2]}),
            &JobOptions::default(),
        )
        .await
        .expect("add");
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("1", "2"),
        "auto ids come from the id counter"
    );
    let seen = node("consume.cjs", &[&server.url(), "emails", "2", "20000"]);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0]["id"], "1", "FIFO: the first added runs first");
    assert_eq!(seen[0]["name"], "send-notification-email");
    assert_eq!(
        seen[0]["data"],
        json!({"notificationId": "n1", "userId": "u1"})
    );
    assert_eq!(seen[0]["opts"]["attempts"], 5);
    assert_eq!(
        seen[0]["opts"]["backoff"],
        json!({"type": "exponential", "delay": 10000})
    );
    assert_eq!(
        seen[0]["opts"]["removeOnComplete"],
        json!({"age": 2592000, "count": 5000})
    );
    assert_eq!(
        seen[0]["opts"]["keepLogs"], 10,
        "Node decodes the short key kl"
    );
    assert_eq!(seen[1]["name"], "send-digest-email");
    let counts = counts_from_node(&server, "emails");
    assert_eq!(counts["completed"], 2);
    assert_eq!(
        serde_json::to_value(q.counts().await.expect("counts")).expect("json"),
        counts
    );
}

#[tokio::test]
async fn delayed_prioritized_lifo_and_custom_ids_behave_as_nodes_own() {
    let server = RedisServer::start();
    let q = queue(&server, "forecast-updates").await;
    let p = |n: u32| JobOptions {
        priority: Some(n),
        ..Default::default()
    };
    q.add("plain-1", &json!({}), &JobOptions::default())
        .await
        .expect("add");
    q.add("prio-5", &json!({}), &p(5)).await.expect("add");
    q.add("prio-1", &json!({}), &p(1)).await.expect("add");
    q.add("plain-2", &json!({}), &JobOptions::default())
        .await
        .expect("add");
    q.add(
        "lifo",
        &json!({}),
        &JobOptions {
            lifo: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("add");
    let delayed = q
        .add(
            "delayed",
            &json!({"x": 1}),
            &JobOptions {
                delay: Some(60_000),
                ..Default::default()
            },
        )
        .await
        .expect("add");
    let custom = JobOptions {
        job_id: Some("update-all-cases-forecast".into()),
        ..Default::default()
    };
    let id = q.add("custom", &json!({}), &custom).await.expect("add");
    assert_eq!(id, "update-all-cases-forecast");
    assert_eq!(
        q.add("custom-again", &json!({}), &custom)
            .await
            .expect("duplicate"),
        id,
        "a duplicate id returns the existing job"
    );
    assert!(
        q.add(
            "bad",
            &json!({}),
            &JobOptions {
                job_id: Some("42".into()),
                ..Default::default()
            }
        )
        .await
        .is_err()
    );

    let node_job = node(
        "inspect.cjs",
        &[&server.url(), "forecast-updates", "job", &delayed],
    )
    .remove(0);
    assert_eq!(node_job["delay"], 60000);
    assert_eq!(node_job["data"], json!({"x": 1}));
    let counts = counts_from_node(&server, "forecast-updates");
    assert_eq!(
        serde_json::to_value(q.counts().await.expect("counts")).expect("json"),
        counts
    );
    assert_eq!(
        (
            counts["waiting"].as_u64(),
            counts["prioritized"].as_u64(),
            counts["delayed"].as_u64()
        ),
        (Some(4), Some(2), Some(1))
    );

    let seen = node(
        "consume.cjs",
        &[&server.url(), "forecast-updates", "6", "20000"],
    );
    let order: Vec<&str> = seen
        .iter()
        .map(|j| j["name"].as_str().unwrap_or(""))
        .collect();
    // LIFO first, then the plain jobs in order, then by priority; the delayed one waits.
    assert_eq!(
        order,
        ["lifo", "plain-1", "plain-2", "custom", "prio-1", "prio-5"]
    );
    assert_eq!(counts_from_node(&server, "forecast-updates")["delayed"], 1);
}

#[tokio::test]
async fn jobs_added_by_node_are_counted_by_rust_exactly_as_node_counts_them() {
    let server = RedisServer::start();
    let jobs = json!([
        {"name": "a", "data": {}},
        {"name": "b", "data": {}, "opts": {"delay": 60000}},
        {"name": "c", "data": {}, "opts": {"priority": 3}},
        {"name": "d", "data": {"tenantId": "t1"}, "opts": {"jobId": "send-daily-digest-t1"}}
    ]);
    node(
        "produce.cjs",
        &[&server.url(), "notifications", &jobs.to_string()],
    );
    let q = queue(&server, "notifications").await;
    let node_counts = counts_from_node(&server, "notifications");
    assert_eq!(
        serde_json::to_value(q.counts().await.expect("counts")).expect("json"),
        node_counts
    );
    let job = q
        .job("send-daily-digest-t1")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(job.name, "d");
    assert_eq!(job.data, json!({"tenantId": "t1"}));
    assert!(q.job("no-such-job").await.expect("read").is_none());
}

#[tokio::test]
async fn adds_from_both_sides_during_a_pause_survive_the_resume() {
    let server = RedisServer::start();
    let q = queue(&server, "audit-logs").await;
    q.add("before", &json!({}), &JobOptions::default())
        .await
        .expect("add");
    node("inspect.cjs", &[&server.url(), "audit-logs", "pause"]);
    assert!(q.is_paused().await.expect("paused"));
    q.add("rust-during", &json!({}), &JobOptions::default())
        .await
        .expect("add");
    node(
        "produce.cjs",
        &[
            &server.url(),
            "audit-logs",
            r#"[{"name": "node-during", "data": {}}]"#,
        ],
    );
    let paused_counts = counts_from_node(&server, "audit-logs");
    assert_eq!(paused_counts["paused"], 3, "{paused_counts}");
    assert_eq!(
        serde_json::to_value(q.counts().await.expect("counts")).expect("json"),
        paused_counts
    );
    // Rust resumes what Node paused; Node's worker gets all three, in order.
    q.resume().await.expect("resume");
    assert_eq!(
        node("inspect.cjs", &[&server.url(), "audit-logs", "paused"]).remove(0),
        json!(false)
    );
    let seen = node("consume.cjs", &[&server.url(), "audit-logs", "3", "20000"]);
    let order: Vec<&str> = seen
        .iter()
        .map(|j| j["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(order, ["before", "rust-during", "node-during"]);
    // And Node sees a pause made by Rust.
    q.pause().await.expect("pause");
    assert_eq!(
        node("inspect.cjs", &[&server.url(), "audit-logs", "paused"]).remove(0),
        json!(true)
    );
}

#[tokio::test]
async fn a_deduplication_id_keeps_one_job() {
    let server = RedisServer::start();
    let q = queue(&server, "elasticsearch-reindex").await;
    let opts = JobOptions {
        deduplication: Some(tp_bullmq::opts::Deduplication {
            id: "reindex-all".into(),
            ttl: None,
        }),
        ..Default::default()
    };
    let a = q
        .add("reindex", &json!({"entityType": "all"}), &opts)
        .await
        .expect("add");
    let b = q
        .add("reindex", &json!({"entityType": "all"}), &opts)
        .await
        .expect("add");
    assert_eq!(a, b);
    let counts = counts_from_node(&server, "elasticsearch-reindex");
    assert_eq!(counts["waiting"], 1);
}

#[tokio::test]
async fn add_bulk_adds_every_job_in_order_in_one_transaction() {
    let server = RedisServer::start();
    let q = queue(&server, "audit-logs").await;
    let jobs: Vec<(String, Value, JobOptions)> = (0..50)
        .map(|i| {
            (
                "audit".to_string(),
                json!({ "i": i }),
                JobOptions::default(),
            )
        })
        .collect();
    let ids = q.add_bulk(&jobs).await.expect("add_bulk");
    assert_eq!(ids, (1..=50).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(counts_from_node(&server, "audit-logs")["waiting"], 50);
    let seen = node("consume.cjs", &[&server.url(), "audit-logs", "50", "20000"]);
    assert_eq!(
        seen.iter()
            .map(|j| j["data"]["i"].as_u64().unwrap_or(999))
            .collect::<Vec<_>>(),
        (0..50).collect::<Vec<u64>>()
    );
    assert!(q.add_bulk(&[]).await.expect("empty").is_empty());
}
