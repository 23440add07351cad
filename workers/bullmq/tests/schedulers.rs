//! Job schedulers (spec §11 scenario 9, second half) across Node bullmq and Rust: Rust
//! continues Node's (a cron pattern in Europe/Berlin with a limit and a template, and an
//! `every`), Rust writes the same definition Node writes, Node continues Rust's, and removal
//! and replacement work from Rust.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::collections::HashMap;
use std::time::Duration;

use node_support::{node_last, node_lines};
use queue_support::{connection, queue, recording_worker};
use redis_server::RedisServer;
use serde_json::{Value, json};
use tp_bullmq::{JobOptions, Repeat, WorkerOptions};

fn inspect(server: &RedisServer, q: &str, what: &str, arg: &str) -> Value {
    node_last("inspect.cjs", &[&server.url(), q, what, arg], &[])
}

fn berlin() -> Value {
    json!({
        "id": "berlin",
        "repeat": {"pattern": "*/2 * * * * *", "tz": "Europe/Berlin", "limit": 3},
        "template": {"name": "digest", "data": {"k": 1}, "opts": {"attempts": 2, "removeOnComplete": 100}}
    })
}

async fn hash(server: &RedisServer, key: &str) -> HashMap<String, String> {
    let mut conn = connection(server).await;
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("HGETALL")
}

/// (job id, name, data, opts) of a job the Rust worker ran.
type Ran = (String, String, Value, Value);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_continues_node_job_schedulers() {
    let server = RedisServer::start();
    inspect(
        &server,
        "digests",
        "upsert-scheduler",
        &berlin().to_string(),
    );
    let ticker = json!({"id": "ticker", "repeat": {"every": 1000}, "template": {"name": "tick"}});
    inspect(&server, "digests", "upsert-scheduler", &ticker.to_string());

    let mut worker = recording_worker(
        &server,
        "digests",
        WorkerOptions {
            drain_delay: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;

    // Until the limit is spent and three more ticks have passed (two seconds or more, in
    // which a fourth digest would have been due).
    let mut digests: Vec<Ran> = Vec::new();
    let mut ticks: Vec<u64> = Vec::new();
    let mut ticks_after_last_digest = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ticks_after_last_digest < 3 || digests.len() < 3 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (job, _) = tokio::time::timeout(left, worker.started.recv())
            .await
            .unwrap_or_else(|_| panic!("digests {digests:?}, ticks {ticks:?}"))
            .expect("a job");
        let ran: Ran = (job.id, job.name, job.data, job.opts.value().clone());
        if ran.0.starts_with("repeat:ticker:") {
            ticks.push(
                ran.0
                    .rsplit(':')
                    .next()
                    .and_then(|m| m.parse().ok())
                    .expect("ms"),
            );
            if digests.len() >= 3 {
                ticks_after_last_digest += 1;
            }
        } else {
            digests.push(ran);
        }
    }
    assert_eq!(digests.len(), 3, "the limit of 3 holds: {digests:?}");
    for (n, (id, name, data, opts)) in digests.iter().enumerate() {
        let ms: u64 = id
            .strip_prefix("repeat:berlin:")
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("{id} is not repeat:berlin:<ms>"));
        assert_eq!(ms % 2000, 0, "{id} is on the pattern's even seconds");
        assert_eq!(name, "digest");
        assert_eq!(data, &json!({"k": 1}), "the template's data");
        assert_eq!(opts["attempts"], 2, "the template's options: {opts}");
        assert_eq!(opts["repeat"]["count"], n as u64 + 1);
        assert_eq!(opts["repeat"]["tz"], "Europe/Berlin");
    }
    // The ticker advanced a period at a time, each id on a whole second.
    for w in ticks.windows(2) {
        assert!(w[1] > w[0] && (w[1] - w[0]) % 1000 == 0, "ticks {ticks:?}");
    }
    // Stopped, so that nothing moves between the listings compared below.
    worker.stop().await;
    let listed = inspect(&server, "digests", "schedulers", "");
    let tick = listed
        .as_array()
        .and_then(|a| a.iter().find(|s| s["key"] == "ticker"))
        .expect("ticker listed");
    assert!(
        tick["iterationCount"].as_u64() >= Some(ticks.len() as u64),
        "{tick}"
    );
    // Rust lists what Node lists.
    let q = queue(&server, "digests").await;
    let ours = serde_json::to_value(q.job_schedulers().await.expect("list")).expect("json");
    let theirs = inspect(&server, "digests", "schedulers", "");
    assert_eq!(ours, theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_writes_the_scheduler_node_writes_and_node_continues_it() {
    let server = RedisServer::start();
    // The same definition from Node (queue "node") and from Rust (queue "rust").
    inspect(&server, "node", "upsert-scheduler", &berlin().to_string());
    let q = queue(&server, "rust").await;
    let repeat = Repeat {
        pattern: Some("*/2 * * * * *".into()),
        tz: Some("Europe/Berlin".into()),
        limit: Some(3),
        ..Default::default()
    };
    let opts: JobOptions =
        serde_json::from_value(json!({"attempts": 2, "removeOnComplete": 100})).expect("opts");
    let first = q
        .upsert_job_scheduler("berlin", &repeat, "digest", &json!({"k": 1}), &opts)
        .await
        .expect("upsert");
    assert!(first.starts_with("repeat:berlin:"), "{first}");

    let node_def = hash(&server, "bull:node:repeat:berlin").await;
    let rust_def = hash(&server, "bull:rust:repeat:berlin").await;
    assert_eq!(rust_def, node_def, "the definition hash, field for field");

    // The first jobs agree but for their times.
    let job_of = |q: &str, id: &str| inspect(&server, q, "job", id);
    let node_first = inspect(&server, "node", "jobs", "delayed")[0]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            inspect(&server, "node", "jobs", "waiting")[0]
                .as_str()
                .map(str::to_string)
        })
        .expect("Node's first job");
    let (a, b) = (job_of("node", &node_first), job_of("rust", &first));
    // Whether a first job is still delayed or already waiting depends on where in its
    // two-second slot it was made: both are right, so the state is left out with the times.
    for j in [&a, &b] {
        assert!(j["state"] == "delayed" || j["state"] == "waiting", "{j}");
    }
    let timeless = |mut j: Value| {
        for k in ["id", "timestamp", "delay", "state"] {
            j[k] = Value::Null;
        }
        for k in ["jobId", "delay", "timestamp", "prevMillis"] {
            j["opts"][k] = Value::Null;
        }
        j
    };
    assert_eq!(
        timeless(b.clone()),
        timeless(a),
        "first job of Rust's scheduler"
    );
    let stored = hash(&server, &format!("bull:rust:{first}")).await;
    assert_eq!(stored.get("rjk").map(String::as_str), Some("berlin"));

    // Node's worker runs Rust's scheduler on.
    let ran = node_lines("consume.cjs", &[&server.url(), "rust", "2", "30000"], &[]);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert_eq!(ran[0]["id"], first.as_str());
    assert!(
        ran[1]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("repeat:berlin:"))
    );
    assert_eq!(ran[1]["data"], json!({"k": 1}));
    assert_eq!(ran[1]["opts"]["repeat"]["count"], 2);

    // Removed from Rust: nothing listed on either side, no pending job.
    assert!(q.remove_job_scheduler("berlin").await.expect("remove"));
    assert!(
        !q.remove_job_scheduler("berlin")
            .await
            .expect("remove again")
    );
    assert_eq!(inspect(&server, "rust", "schedulers", ""), json!([]));
    assert!(q.job_schedulers().await.expect("list").is_empty());
    let c = q.counts().await.expect("counts");
    assert_eq!((c.delayed, c.waiting), (0, 0), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserting_again_replaces_the_pending_job() {
    let server = RedisServer::start();
    let q = queue(&server, "reports").await;
    let every = |ms| Repeat {
        every: Some(ms),
        ..Default::default()
    };
    let one = q
        .upsert_job_scheduler(
            "nightly",
            &every(60_000),
            "",
            &json!({}),
            &JobOptions::default(),
        )
        .await
        .expect("upsert");
    let same = inspect(&server, "reports", "schedulers", "");
    assert_eq!(same[0]["name"], "nightly", "the id names the jobs: {same}");
    let two = q
        .upsert_job_scheduler(
            "nightly",
            &every(120_000),
            "report",
            &json!({"v": 2}),
            &JobOptions::default(),
        )
        .await
        .expect("upsert again");
    assert_ne!(one, two);
    assert_eq!(
        inspect(&server, "reports", "job", &one),
        Value::Null,
        "the old job is gone"
    );
    let listed = inspect(&server, "reports", "schedulers", "");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["every"], 120_000);
    assert_eq!(listed[0]["name"], "report");
    assert_eq!(listed[0]["template"]["data"], json!({"v": 2}));
    assert_eq!(listed[0]["iterationCount"], 1);
    let c = q.counts().await.expect("counts");
    assert_eq!(c.waiting + c.delayed, 1, "one pending job: {c:?}");
    // Both sides refuse a definition with neither or both of pattern and every.
    let both = Repeat {
        pattern: Some("* * * * *".into()),
        every: Some(1000),
        ..Default::default()
    };
    assert!(
        q.upsert_job_scheduler("bad", &both, "", &json!({}), &JobOptions::default())
            .await
            .is_err()
    );
}
