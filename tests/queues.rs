//! `tpctl queues` and `tpctl queue` against a private redis-server, checked through Node
//! bullmq 5.67.2's own getters.

mod common;
#[path = "../workers/bullmq/tests/support/node.rs"]
mod node_support;

use common::*;
use node_support::node_last;
use serde_json::{Value, json};

fn inspect(server: &RedisServer, q: &str, what: &[&str]) -> Value {
    let url = server.url();
    let mut args = vec![url.as_str(), q];
    args.extend_from_slice(what);
    node_last("inspect.cjs", &args, &[])
}

fn tpctl(t: &TempHome, server: &RedisServer, args: &[&str]) -> std::process::Output {
    t.cmd(args)
        .env("VALKEY_URL", server.url())
        .output()
        .expect("tpctl")
}

fn ok(t: &TempHome, server: &RedisServer, args: &[&str]) -> String {
    let out = tpctl(t, server, args);
    assert!(
        out.status.success(),
        "tpctl {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn queues_json_counts_equal_node_get_job_counts() {
    let server = RedisServer::start();
    let t = TempHome::new();
    let jobs = json!([
        {"name": "a", "data": {}}, {"name": "b", "data": {}},
        {"name": "c", "data": {}, "opts": {"delay": 60000}},
        {"name": "d", "data": {}, "opts": {"priority": 2}}
    ]);
    node_last(
        "produce.cjs",
        &[&server.url(), "emails", &jobs.to_string()],
        &[],
    );
    node_last(
        "produce.cjs",
        &[
            &server.url(),
            "notifications",
            r#"[{"name": "x", "data": {}}]"#,
        ],
        &[],
    );
    node_last(
        "consume.cjs",
        &[&server.url(), "notifications", "1", "20000"],
        &[("FAIL", "1")],
    );
    t.write("ecosystem.toml", "[[apps]]\nname = \"email-worker\"\nscript = \"/bin/true\"\nqueue = \"emails\"\nconcurrency = 3\n");
    let rows: Vec<Value> =
        serde_json::from_str(&ok(&t, &server, &["queues", "--json"])).expect("json");
    for q in ["emails", "notifications"] {
        let row = rows
            .iter()
            .find(|r| r["queue"] == q)
            .unwrap_or_else(|| panic!("{q} missing: {rows:?}"));
        assert_eq!(row["counts"], inspect(&server, q, &["counts"]), "{q}");
    }
    let emails = rows
        .iter()
        .find(|r| r["queue"] == "emails")
        .expect("emails");
    assert_eq!(
        (
            emails["status"].as_str(),
            emails["concurrency"].as_u64(),
            emails["workers"].as_u64()
        ),
        (Some("idle"), Some(3), Some(0))
    );
    let out = t
        .cmd(&["queues"])
        .env("VALKEY_URL", server.url())
        .env("COLUMNS", "80")
        .output()
        .expect("tpctl");
    let table = text(&out.stdout);
    let emails_line = table
        .lines()
        .find(|l| l.trim_start().starts_with("emails"))
        .unwrap_or_default();
    assert!(emails_line.contains("waiting, no worker"), "{table}");
    assert!(table.lines().all(|l| l.chars().count() <= 80), "{table}");
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("queue") && h.contains("failed")),
        "{table}"
    );
}

#[test]
fn queue_actions_change_the_real_queue() {
    let server = RedisServer::start();
    let t = TempHome::new();
    ok(
        &t,
        &server,
        &[
            "queue",
            "forecast-updates",
            "add",
            "update-all-cases-forecast",
            "--data",
            r#"{"tenantId": "t1"}"#,
        ],
    );
    let waiting = inspect(&server, "forecast-updates", &["jobs", "waiting"]);
    assert_eq!(waiting, json!(["1"]));
    assert_eq!(
        inspect(&server, "forecast-updates", &["job", "1"])["data"],
        json!({"tenantId": "t1"})
    );

    // A mistyped queue is an error naming the queues that exist, not an empty answer.
    let out = tpctl(&t, &server, &["queue", "forecast-update", "jobs"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(r#"no queue "forecast-update" in Valkey or ./ecosystem.toml (did you mean "forecast-updates"?); known queues: forecast-updates"#),
        "{}",
        text(&out.stderr)
    );
    let out = tpctl(
        &t,
        &server,
        &["queue", "forecast-updates", "jobs", "--state", "failed"],
    );
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("no failed jobs in forecast-updates"),
        "{}",
        text(&out.stderr)
    );

    ok(&t, &server, &["queue", "forecast-updates", "pause"]);
    assert_eq!(
        inspect(&server, "forecast-updates", &["paused"]),
        json!(true)
    );
    ok(&t, &server, &["queue", "forecast-updates", "resume"]);
    assert_eq!(
        inspect(&server, "forecast-updates", &["paused"]),
        json!(false)
    );

    // A failed job, retried; a delayed one, promoted.
    node_last(
        "consume.cjs",
        &[&server.url(), "forecast-updates", "1", "20000"],
        &[("FAIL", "1")],
    );
    let listed = ok(
        &t,
        &server,
        &["queue", "forecast-updates", "jobs", "--state", "failed"],
    );
    // A header, then the job with its state, attempts out of those allowed, age and reason.
    let mut rows = listed.lines();
    let header = rows.next().unwrap_or_default();
    assert!(
        header.split_whitespace().collect::<Vec<_>>()[..4] == ["id", "name", "state", "attempts"],
        "{listed}"
    );
    let row = rows.nth(1).unwrap_or_default();
    assert!(
        row.contains("update-all-cases-forecast")
            && row.contains("failed")
            && row.contains("boom 1")
            && row.contains(" ago"),
        "{listed}"
    );
    // All states by default; --json for scripts.
    let all: Vec<Value> = serde_json::from_str(&ok(
        &t,
        &server,
        &["queue", "forecast-updates", "jobs", "--json"],
    ))
    .expect("json");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["state"], "failed");
    let job: Value = serde_json::from_str(&ok(
        &t,
        &server,
        &["queue", "forecast-updates", "job", "1", "--json"],
    ))
    .expect("json");
    assert_eq!(job["failedReason"], "boom 1");
    assert_eq!(job["state"], "failed");
    let shown = ok(&t, &server, &["queue", "forecast-updates", "job", "1"]);
    assert!(
        shown.starts_with("job 1 (update-all-cases-forecast): failed"),
        "{shown}"
    );
    assert!(shown.contains("  attempts   1 of "), "{shown}");
    assert!(
        shown.contains("  added      20") && shown.contains(" ago)"),
        "{shown}"
    );
    assert!(shown.contains("  failed     boom 1"), "{shown}");
    ok(
        &t,
        &server,
        &["queue", "forecast-updates", "retry", "--all-failed"],
    );
    assert_eq!(
        inspect(&server, "forecast-updates", &["job", "1"])["state"],
        "waiting"
    );
    node_last(
        "produce.cjs",
        &[
            &server.url(),
            "forecast-updates",
            r#"[{"name": "later", "data": {}, "opts": {"delay": 600000}}]"#,
        ],
        &[],
    );
    ok(&t, &server, &["queue", "forecast-updates", "promote", "2"]);
    assert_eq!(
        inspect(&server, "forecast-updates", &["job", "2"])["state"],
        "waiting"
    );
    // A refusal says the state the job is in and the one the action needs.
    for (action, needs) in [("promote", "delayed"), ("retry", "failed")] {
        let out = tpctl(&t, &server, &["queue", "forecast-updates", action, "2"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains(&format!(
                "job 2 is waiting; this action needs a {needs} job"
            )),
            "{}",
            text(&out.stderr)
        );
    }

    // Destructive actions need --yes without a terminal, and say so.
    let refused = tpctl(&t, &server, &["queue", "forecast-updates", "drain"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("confirm with --yes"),
        "{}",
        text(&refused.stderr)
    );
    ok(
        &t,
        &server,
        &["queue", "forecast-updates", "remove", "2", "--yes"],
    );
    assert_eq!(
        inspect(&server, "forecast-updates", &["job", "2"]),
        Value::Null
    );
    ok(
        &t,
        &server,
        &["queue", "forecast-updates", "drain", "--yes"],
    );
    assert_eq!(
        inspect(&server, "forecast-updates", &["counts"])["waiting"],
        0
    );

    node_last(
        "produce.cjs",
        &[
            &server.url(),
            "forecast-updates",
            r#"[{"name": "x", "data": {}}]"#,
        ],
        &[],
    );
    node_last(
        "consume.cjs",
        &[&server.url(), "forecast-updates", "1", "20000"],
        &[],
    );
    assert_eq!(
        inspect(&server, "forecast-updates", &["counts"])["completed"],
        1
    );
    let out = ok(
        &t,
        &server,
        &[
            "queue",
            "forecast-updates",
            "clean",
            "--grace",
            "0",
            "--state",
            "completed",
            "--yes",
        ],
    );
    assert!(out.contains("1 completed job removed"), "{out}");
    assert_eq!(
        inspect(&server, "forecast-updates", &["counts"])["completed"],
        0
    );
}

#[test]
fn a_dead_valkey_is_named_with_what_to_fix() {
    let t = TempHome::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let out = t
        .cmd(&["queues"])
        .env("VALKEY_URL", format!("redis://127.0.0.1:{port}"))
        .output()
        .expect("tpctl");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot connect to Valkey at redis://127.0.0.1:"),
        "{}",
        text(&out.stderr)
    );
    let out = t
        .cmd(&["queues"])
        .env_remove("VALKEY_URL")
        .output()
        .expect("tpctl");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("VALKEY_URL is not set"),
        "{}",
        text(&out.stderr)
    );

    // The address the workers get from their env_file is the one used; a broken file is named.
    t.write(".env", &format!("VALKEY_URL=redis://127.0.0.1:{port}\n"));
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"email-worker\"\nscript = \"/bin/true\"\nenv_file = \".env\"\n",
    );
    let out = t
        .cmd(&["queues"])
        .env_remove("VALKEY_URL")
        .output()
        .expect("tpctl");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("redis://127.0.0.1:{port}")),
        "{}",
        text(&out.stderr)
    );
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"email-worker\"\nscript = \"/bin/true\"\nconcurrency = \"three\"\n",
    );
    let out = t
        .cmd(&["queues"])
        .env_remove("VALKEY_URL")
        .output()
        .expect("tpctl");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ecosystem.toml:4"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bullmq_prefix_selects_the_web_apps_queues() {
    let server = RedisServer::start();
    let t = TempHome::new();
    let prefixed = [("BULLMQ_PREFIX", "tp-prod")];
    node_last(
        "produce.cjs",
        &[
            &server.url(),
            "emails",
            r#"[{"name": "a", "data": {}}, {"name": "b", "data": {}}]"#,
        ],
        &prefixed,
    );
    node_last(
        "produce.cjs",
        &[
            &server.url(),
            "audit-logs",
            r#"[{"name": "x", "data": {}}]"#,
        ],
        &[],
    );
    let listed = |prefix: Option<&str>| -> Vec<(String, u64)> {
        let mut cmd = t.cmd(&["queues", "--json"]);
        cmd.env("VALKEY_URL", server.url());
        match prefix {
            Some(p) => cmd.env("BULLMQ_PREFIX", p),
            None => cmd.env_remove("BULLMQ_PREFIX"),
        };
        let out = cmd.output().expect("tpctl");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
        rows.iter()
            .map(|r| {
                (
                    r["queue"].as_str().unwrap_or("").to_string(),
                    r["counts"]["waiting"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert_eq!(listed(Some("tp-prod")), [("emails".to_string(), 2)]);
    assert_eq!(listed(None), [("audit-logs".to_string(), 1)]);
    // Actions reach the prefixed queue too.
    let out = t
        .cmd(&["queue", "emails", "pause", "--yes"])
        .env("VALKEY_URL", server.url())
        .env("BULLMQ_PREFIX", "tp-prod")
        .output()
        .expect("tpctl");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = server.url();
    assert_eq!(
        node_last(
            "inspect.cjs",
            &[url.as_str(), "emails", "paused"],
            &prefixed
        ),
        json!(true)
    );
    let out = t
        .cmd(&["queues"])
        .env("VALKEY_URL", server.url())
        .env("BULLMQ_PREFIX", "a b")
        .output()
        .expect("tpctl");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(r#"BULLMQ_PREFIX "a b" is not a valid key prefix"#),
        "{}",
        text(&out.stderr)
    );
}
