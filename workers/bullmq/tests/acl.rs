//! Valkey ACL users, on a private redis-server: a user with the rights BullMQ needs runs a
//! job through `redis://user:password@…`; users without a command, without the queue's keys
//! or without CLIENT SETNAME are refused when the worker connects, with the command and what
//! to grant, as configuration errors (retrying cannot fix them).

#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use redis_server::RedisServer;
use serde_json::json;
use tp_bullmq::{JobOptions, Queue, Worker};

async fn acl(server: &RedisServer, rules: &[&str]) {
    let mut conn = queue_support::connection(server).await;
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(rules);
    let () = cmd.query_async(&mut conn).await.expect("ACL SETUSER");
}

fn url_of(server: &RedisServer, user: &str) -> String {
    format!("redis://{user}:pw@127.0.0.1:{}", server.port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_with_and_without_the_rights_bullmq_needs() {
    let server = RedisServer::start();
    acl(
        &server,
        &[
            "worker",
            "on",
            ">pw",
            "~bull:*",
            "&*",
            "+@all",
            "-@dangerous",
            "+client|list",
            "+info",
        ],
    )
    .await;
    acl(
        &server,
        &["noscript", "on", ">pw", "~bull:*", "+@all", "-@scripting"],
    )
    .await;
    acl(&server, &["nokeys", "on", ">pw", "~other:*", "+@all"]).await;
    acl(
        &server,
        &["noname", "on", ">pw", "~*", "+@all", "-client|setname"],
    )
    .await;

    // The right user: a job goes through.
    let url = url_of(&server, "worker");
    let (conn, _) = tp_bullmq::connect::connect(&url, std::time::Duration::from_secs(5))
        .await
        .expect("the worker user logs in");
    let q = Queue::new(conn, "bull", "acl-jobs");
    q.add("hello", &json!({}), &JobOptions::default())
        .await
        .expect("add as the worker user");
    let worker = Worker::connect(&url, "bull", "acl-jobs", queue_support::fast())
        .await
        .expect("a worker as the worker user");
    let running = queue_support::spawn_worker(worker, |_job| async move { Ok(json!(1)) });
    queue_support::eventually("the job completed", async || {
        q.counts().await.is_ok_and(|c| c.completed == 1)
    })
    .await;
    running.stop().await;

    for (user, says) in [
        ("noscript", "ACL SETUSER noscript +evalsha"),
        ("nokeys", "ACL SETUSER nokeys ~bull:*"),
        ("noname", "ACL SETUSER noname +client|setname"),
    ] {
        let e = Worker::connect(
            &url_of(&server, user),
            "bull",
            "acl-jobs",
            queue_support::fast(),
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{user} connected"));
        assert!(e.to_string().contains(says), "{user}: {e}");
        assert!(e.is_configuration(), "{user}: {e}");
    }
    let e = Worker::connect(
        &format!("redis://worker:wrong@127.0.0.1:{}", server.port),
        "bull",
        "acl-jobs",
        queue_support::fast(),
    )
    .await
    .err()
    .expect("a wrong password");
    assert!(e.is_configuration(), "{e}");
}
