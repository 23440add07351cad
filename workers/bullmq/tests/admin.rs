//! Operator actions from Rust on queues Node bullmq 5.67.2 also uses, checked through Node's
//! own getters (what TestPlanIt's Admin › Job Queues page reads).

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
use queue_support::queue;

use std::process::Stdio;
use std::time::Duration;

use node_support::node_command;
use redis_server::RedisServer;

fn node(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    node_support::node_last(script, args, env)
}
use serde_json::{Value, json};
use tp_bullmq::admin::{Refused, State, discover_queues};
use tp_bullmq::{JobOptions, Worker, WorkerOptions};

fn inspect(server: &RedisServer, q: &str, what: &[&str]) -> Value {
    let mut args = vec![server.url()];
    args.push(q.to_string());
    args.extend(what.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    node("inspect.cjs", &refs, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_promote_remove_clean_and_drain_as_node_sees_them() {
    let server = RedisServer::start();
    let q = queue(&server, "emails").await;
    // Two jobs fail on a Node worker; two more wait; one is delayed.
    let a = q
        .add("mail", &json!({"n": 1}), &JobOptions::default())
        .await
        .expect("add");
    let b = q
        .add("mail", &json!({"n": 2}), &JobOptions::default())
        .await
        .expect("add");
    node(
        "consume.cjs",
        &[&server.url(), "emails", "2", "20000"],
        &[("FAIL", "1")],
    );
    assert_eq!(inspect(&server, "emails", &["counts"])["failed"], 2);
    let w1 = q
        .add("mail", &json!({"n": 3}), &JobOptions::default())
        .await
        .expect("add");
    let w2 = q
        .add("mail", &json!({"n": 4}), &JobOptions::default())
        .await
        .expect("add");
    let d = q
        .add(
            "mail",
            &json!({"n": 5}),
            &JobOptions {
                delay: Some(3_600_000),
                ..Default::default()
            },
        )
        .await
        .expect("add");

    // Listings agree with Node's getJobs, newest first.
    let ours: Vec<String> = q.job_ids(State::Waiting, 0, 100).await.expect("list");
    assert_eq!(
        json!(ours),
        inspect(&server, "emails", &["jobs", "waiting"])
    );
    let failed: Vec<String> = q
        .jobs(State::Failed, 0, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        json!(failed),
        inspect(&server, "emails", &["jobs", "failed"])
    );
    assert_eq!(
        q.job(&a)
            .await
            .expect("job")
            .expect("exists")
            .failed_reason
            .as_deref(),
        Some(format!("boom {a}").as_str())
    );

    assert_eq!(q.retry(&a, State::Failed).await.expect("retry"), Ok(()));
    assert_eq!(inspect(&server, "emails", &["job", &a])["state"], "waiting");
    assert_eq!(
        q.retry(&a, State::Failed).await.expect("retry again"),
        Err(Refused::WrongState)
    );
    assert_eq!(q.retry_all_failed().await.expect("retry all"), 1);
    assert_eq!(inspect(&server, "emails", &["job", &b])["state"], "waiting");

    assert_eq!(q.promote(&d).await.expect("promote"), Ok(()));
    assert_eq!(inspect(&server, "emails", &["job", &d])["state"], "waiting");
    assert_eq!(
        q.promote(&d).await.expect("promote again"),
        Err(Refused::WrongState)
    );

    assert_eq!(q.remove(&w1).await.expect("remove"), Ok(()));
    assert_eq!(inspect(&server, "emails", &["job", &w1]), Value::Null);
    assert_eq!(
        q.remove(&w1).await.expect("remove again"),
        Err(Refused::NoSuchJob)
    );

    // Completed jobs, then clean them.
    node("consume.cjs", &[&server.url(), "emails", "4", "20000"], &[]);
    assert_eq!(inspect(&server, "emails", &["counts"])["completed"], 4);
    let cleaned = q.clean(0, 100, State::Completed).await.expect("clean");
    assert_eq!(cleaned.len(), 4);
    assert_eq!(inspect(&server, "emails", &["counts"])["completed"], 0);

    // Drain waiting jobs.
    for n in 0..3 {
        q.add("mail", &json!({ "n": n }), &JobOptions::default())
            .await
            .expect("add");
    }
    assert_eq!(q.drain(false).await.expect("drain"), 3);
    assert_eq!(inspect(&server, "emails", &["counts"])["waiting"], 0);
    let _ = w2;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_cannot_be_removed_and_obliterate_needs_a_pause() {
    let server = RedisServer::start();
    let q = queue(&server, "issue-sync").await;
    let id = q
        .add("sync", &json!({}), &JobOptions::default())
        .await
        .expect("add");
    let mut busy = node_command("consume.cjs")
        .args([&server.url(), "issue-sync", "1", "60000"])
        .env("SLEEP_MS", "60000")
        .stdout(Stdio::null())
        .spawn()
        .expect("node worker");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while inspect(&server, "issue-sync", &["job", &id])["state"] != "active" {
        assert!(
            std::time::Instant::now() < deadline,
            "the Node worker never took the job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(q.remove(&id).await.expect("remove"), Err(Refused::Locked));
    assert!(
        q.obliterate(false).await.expect("obliterate").is_err(),
        "refused while not paused"
    );
    q.pause().await.expect("pause");
    assert!(
        q.obliterate(false).await.expect("obliterate").is_err(),
        "refused with a running job"
    );
    assert!(q.obliterate(true).await.expect("obliterate").is_ok());
    let _ = busy.kill();
    let _ = busy.wait();
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("bull:issue-sync:*")
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_logs_workers_and_queue_discovery() {
    let server = RedisServer::start();
    let q = queue(&server, "elasticsearch-reindex").await;
    let id = q
        .add(
            "reindex",
            &json!({"entityType": "all"}),
            &JobOptions::default(),
        )
        .await
        .expect("add");
    assert!(
        q.update_progress(&id, &json!({"indexed": 10, "total": 40}))
            .await
            .expect("progress")
    );
    for i in 0..3 {
        q.add_log(&id, &format!("line {i}"), 2).await.expect("log");
    }
    let job = inspect(&server, "elasticsearch-reindex", &["job", &id]);
    assert_eq!(job["progress"], json!({"indexed": 10, "total": 40}));
    let logs = inspect(&server, "elasticsearch-reindex", &["logs", "-", &id]);
    assert_eq!(logs["logs"], json!(["line 1", "line 2"]));
    assert_eq!(q.job_logs(&id).await.expect("logs"), ["line 1", "line 2"]);

    let worker = Worker::connect(
        &server.url(),
        "bull",
        "elasticsearch-reindex",
        WorkerOptions {
            name: Some("rust-1".into()),
            ..Default::default()
        },
    )
    .await
    .expect("worker");
    assert_eq!(q.workers().await.expect("workers").len(), 1);
    assert_eq!(
        inspect(&server, "elasticsearch-reindex", &["workers"]),
        json!(1)
    );
    drop(worker);

    queue(&server, "audit-logs")
        .await
        .add("log", &json!({}), &JobOptions::default())
        .await
        .expect("add");
    let client = redis::Client::open(server.url()).expect("url");
    let mut conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    assert_eq!(
        discover_queues(&mut conn, "bull").await.expect("scan"),
        ["audit-logs", "elasticsearch-reindex"]
    );
}
