//! Repeatables the way TestPlanIt's scheduler makes them (legacy `add` with `repeat.pattern`
//! and a `jobId`), across Node bullmq 5.67.2 and Rust: Rust continues Node's chains with the
//! same ids, and Node continues and removes Rust's.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
use queue_support::{queue, spawn_worker};

use std::time::Duration;

use redis_server::RedisServer;

fn node(script: &str, args: &[&str]) -> Vec<Value> {
    node_support::node_lines(script, args, &[])
}
use serde_json::{Value, json};
use tp_bullmq::repeat::repeat_key;
use tp_bullmq::{JobOptions, Repeat, Worker, WorkerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_continues_a_repeatable_that_node_registered() {
    let server = RedisServer::start();
    let jobs = json!([{"name": "send-daily-digest", "data": {}, "opts": {"repeat": {"pattern": "* * * * * *"}, "jobId": "send-daily-digest", "attempts": 3}}]);
    node(
        "produce.cjs",
        &[&server.url(), "notifications", &jobs.to_string()],
    );
    let key = repeat_key(
        "send-daily-digest",
        Some("send-daily-digest"),
        &Repeat {
            pattern: Some("* * * * * *".into()),
            ..Default::default()
        },
    );
    let listed = node(
        "inspect.cjs",
        &[&server.url(), "notifications", "repeatables"],
    )
    .remove(0);
    assert_eq!(listed[0]["key"], key, "our md5 key is Node's: {listed}");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let worker = Worker::connect(
        &server.url(),
        "bull",
        "notifications",
        WorkerOptions {
            drain_delay: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await
    .expect("worker");
    let running = spawn_worker(worker, move |job| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(job.id.clone());
            Ok(json!(null))
        }
    });
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let id = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an iteration within 20 s")
            .expect("open");
        ids.push(id);
    }
    running.stop().await;
    let millis: Vec<u64> = ids
        .iter()
        .map(|id| {
            let rest = id
                .strip_prefix(&format!("repeat:{key}:"))
                .unwrap_or_else(|| panic!("iteration id {id} is not repeat:{key}:<ms>"));
            rest.parse().expect("ms")
        })
        .collect();
    assert!(
        millis.iter().all(|m| m % 1000 == 0),
        "runs aligned to the pattern's seconds: {millis:?}"
    );
    assert!(
        millis.windows(2).all(|w| w[1] > w[0]),
        "each run later than the last: {millis:?}"
    );
    let q = queue(&server, "notifications").await;
    let next = q.repeatables().await.expect("list");
    assert_eq!(next.len(), 1);
    assert!(
        next[0].next > millis[2],
        "the chain goes on after the last run"
    );
    let node_view = node(
        "inspect.cjs",
        &[&server.url(), "notifications", "repeatables"],
    )
    .remove(0);
    assert_eq!(node_view[0]["next"].as_u64(), Some(next[0].next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_continues_and_lists_a_repeatable_that_rust_registered_and_rust_removes_it() {
    let server = RedisServer::start();
    let q = queue(&server, "forecast-updates").await;
    let repeat = Repeat {
        pattern: Some("* * * * * *".into()),
        ..Default::default()
    };
    let (key, first) = q
        .add_repeatable(
            "update-all-cases-forecast",
            &json!({}),
            &JobOptions {
                attempts: Some(3),
                ..Default::default()
            },
            &repeat,
            Some("update-all-cases-forecast"),
        )
        .await
        .expect("add");
    assert!(first.starts_with(&format!("repeat:{key}:")));
    let listed = node(
        "inspect.cjs",
        &[&server.url(), "forecast-updates", "repeatables"],
    )
    .remove(0);
    assert_eq!(listed[0]["key"], key);
    assert_eq!(listed[0]["name"], "update-all-cases-forecast");
    assert_eq!(listed[0]["pattern"], "* * * * * *");
    // Node's worker runs Rust's first job and then the iterations Node itself produces.
    let seen = node(
        "consume.cjs",
        &[&server.url(), "forecast-updates", "2", "20000"],
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0]["id"], first);
    assert_eq!(seen[0]["opts"]["repeat"]["count"], 1);
    assert!(
        seen[1]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("repeat:{key}:")))
    );
    assert!(q.remove_repeatable_by_key(&key).await.expect("remove"));
    assert_eq!(
        node(
            "inspect.cjs",
            &[&server.url(), "forecast-updates", "repeatables"]
        )
        .remove(0),
        json!([])
    );
    assert!(
        !q.remove_repeatable_by_key(&key)
            .await
            .expect("remove again")
    );
}

/// Next run times equal those of the cron-parser bullmq uses, across DST changes (spring
/// forward skips 02:00–03:00, fall back repeats it), in several zones, for the daily
/// patterns TestPlanIt registers and the extensions cron-parser supports. Each case is
/// followed for six runs, every run starting from the previous one, as a worker does.
#[test]
fn cron_next_times_equal_node_cron_parsers() {
    let patterns = [
        "0 3 * * *",
        "0 6 * * *",
        "0 8 * * *",
        "30 2 * * *",
        "0 2 * * *",
        "*/30 * * * *",
        "0 9 * * 1-5",
        "15 10 1,15 * 5",
        "0 0 L * *",
        "0 9 * * 1#2",
        "*/20 59 1 * * *",
    ];
    let zones = [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "UTC",
    ];
    // 2026-03-07 12:00Z, 2026-03-28 12:00Z, 2026-10-24 12:00Z, 2026-10-31 12:00Z.
    let starts: [u64; 4] = [
        1_772_884_800_000,
        1_774_699_200_000,
        1_792_843_200_000,
        1_793_448_000_000,
    ];
    let mut cases = Vec::new();
    for p in patterns {
        for tz in zones {
            for s in starts {
                cases.push((p, tz, s));
            }
        }
    }
    // Follow each case for six runs, asking Node for one step of every case at a time.
    let mut afters: Vec<u64> = cases.iter().map(|c| c.2).collect();
    for step in 0..6 {
        let input: Vec<Value> = cases
            .iter()
            .zip(&afters)
            .map(|((p, tz, _), a)| json!({"pattern": p, "tz": tz, "after": a}))
            .collect();
        let theirs = node("cron.cjs", &[&Value::from(input).to_string()]).remove(0);
        for (i, ((p, tz, _), after)) in cases.iter().zip(afters.iter_mut()).enumerate() {
            let r = Repeat {
                pattern: Some(p.to_string()),
                tz: Some(tz.to_string()),
                ..Default::default()
            };
            let ours = tp_bullmq::repeat::next_millis(&r, *after).expect("next");
            assert_eq!(
                ours,
                theirs[i].as_u64(),
                "step {step}: {p:?} in {tz} after {after}"
            );
            *after = ours.unwrap_or(*after);
        }
    }
}
