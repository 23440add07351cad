//! `tp-worker scheduler` against a private redis-server, read back through Node bullmq: the
//! four daily repeatables with TestPlanIt's names, patterns and job ids (so their keys are the
//! ones TestPlanIt's own scheduler makes), stale ones removed and others kept, nothing
//! doubled on a second run, per tenant in multi-tenant mode, and a clear failure without
//! Valkey.

#[path = "../../bullmq/tests/support/node.rs"]
mod node_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "support/worker.rs"]
mod worker;

use node_support::node_last;
use redis_server::RedisServer;
use serde_json::{Value, json};
use tp_bullmq::Repeat;
use tp_bullmq::repeat::repeat_key;

fn repeatables(server: &RedisServer, queue: &str) -> Vec<Value> {
    let mut v = node_last("inspect.cjs", &[&server.url(), queue, "repeatables"], &[])
        .as_array()
        .cloned()
        .unwrap_or_default();
    v.sort_by_key(|r| r["key"].as_str().unwrap_or("").to_string());
    v
}

fn key(name: &str, job_id: &str, pattern: &str) -> String {
    repeat_key(
        name,
        Some(job_id),
        &Repeat {
            pattern: Some(pattern.into()),
            ..Default::default()
        },
    )
}

fn schedule(env: &[(&str, &str)]) -> std::process::Output {
    worker::command(&["scheduler"], env)
        .output()
        .expect("tp-worker")
}

const DAILY: [(&str, &str, &str); 4] = [
    ("forecast-updates", "update-all-cases-forecast", "0 3 * * *"),
    ("forecast-updates", "auto-complete-milestones", "0 6 * * *"),
    (
        "forecast-updates",
        "milestone-due-notifications",
        "0 6 * * *",
    ),
    ("notifications", "send-daily-digest", "0 8 * * *"),
];

#[test]
fn the_daily_jobs_are_registered_as_testplanits_scheduler_registers_them() {
    let server = RedisServer::start();
    // A stale registration of one of ours (an old tenant) and someone else's repeatable.
    let stale = json!([
        {"name": "update-all-cases-forecast", "data": {}, "opts": {"repeat": {"pattern": "0 4 * * *"}, "jobId": "update-all-cases-forecast-gone"}},
        {"name": "keep-me", "data": {}, "opts": {"repeat": {"pattern": "0 1 * * *"}, "jobId": "keep-me"}}
    ]);
    node_last(
        "produce.cjs",
        &[&server.url(), "forecast-updates", &stale.to_string()],
        &[],
    );
    for run in 0..2 {
        let out = schedule(&[("VALKEY_URL", &server.url())]);
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run {run}: {log}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            log.contains(r#"Successfully scheduled repeatable job "send-daily-digest" with pattern "0 8 * * *" on queue "notifications"."#),
            "{log}"
        );
        for queue in ["forecast-updates", "notifications"] {
            let mut want: Vec<(String, String, String)> = DAILY
                .iter()
                .filter(|(q, _, _)| *q == queue)
                .map(|(_, n, p)| (key(n, n, p), n.to_string(), p.to_string()))
                .collect();
            if queue == "forecast-updates" {
                want.push((
                    key("keep-me", "keep-me", "0 1 * * *"),
                    "keep-me".into(),
                    "0 1 * * *".into(),
                ));
            }
            want.sort();
            let got: Vec<(String, String, String)> = repeatables(&server, queue)
                .iter()
                .map(|r| {
                    (
                        r["key"].as_str().unwrap_or("").to_string(),
                        r["name"].as_str().unwrap_or("").to_string(),
                        r["pattern"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            assert_eq!(got, want, "run {run}, queue {queue}");
            // One pending run per repeatable, nothing orphaned.
            let counts = node_last("inspect.cjs", &[&server.url(), queue, "counts"], &[]);
            assert_eq!(
                counts["delayed"].as_u64(),
                Some(want.len() as u64),
                "{counts}"
            );
        }
    }
    // The pending run carries the queue's default options, as the web app's Queue adds it.
    let pending = node_last(
        "inspect.cjs",
        &[&server.url(), "notifications", "jobs", "delayed"],
        &[],
    );
    let id = pending[0].as_str().expect("a pending run");
    assert!(id.starts_with(&format!(
        "repeat:{}:",
        key("send-daily-digest", "send-daily-digest", "0 8 * * *")
    )));
    let job = node_last(
        "inspect.cjs",
        &[&server.url(), "notifications", "job", id],
        &[],
    );
    assert_eq!(job["opts"]["attempts"], 3, "{job}");
    assert_eq!(
        job["opts"]["backoff"],
        json!({"type": "exponential", "delay": 5000})
    );
    assert_eq!(job["data"], json!({}));
}

#[test]
fn each_tenant_gets_its_own_schedules() {
    let server = RedisServer::start();
    let tenants = r#"{"acme": {"databaseUrl": "postgres://db/acme"}, "globex": {"databaseUrl": "postgres://db/globex"}}"#;
    let out = schedule(&[
        ("VALKEY_URL", &server.url()),
        ("MULTI_TENANT_MODE", "true"),
        ("TENANT_CONFIGS", tenants),
    ]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Multi-tenant mode enabled. Scheduling jobs for 2 tenants."),
        "{log}"
    );
    let got = repeatables(&server, "forecast-updates");
    assert_eq!(got.len(), 6, "{got:?}");
    for t in ["acme", "globex"] {
        for (q, n, p) in DAILY {
            let k = key(n, &format!("{n}-{t}"), p);
            let listed = repeatables(&server, q);
            assert!(
                listed.iter().any(|r| r["key"] == k.as_str()),
                "{n} for {t}: {listed:?}"
            );
        }
    }
    let pending = node_last(
        "inspect.cjs",
        &[&server.url(), "notifications", "jobs", "delayed"],
        &[],
    );
    let datas: Vec<Value> = pending
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str())
        .map(|id| {
            node_last(
                "inspect.cjs",
                &[&server.url(), "notifications", "job", id],
                &[],
            )["data"]
                .clone()
        })
        .collect();
    assert!(datas.contains(&json!({"tenantId": "acme"})), "{datas:?}");
    assert!(datas.contains(&json!({"tenantId": "globex"})), "{datas:?}");
}

#[test]
fn without_valkey_the_scheduler_fails_and_says_why() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let out = schedule(&[("VALKEY_URL", &format!("redis://127.0.0.1:{port}"))]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    let out = schedule(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("VALKEY_URL is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
