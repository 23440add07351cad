//! What the sync worker's tests share: the database they seed, the worker they start, and
//! reading back what it wrote (rows, Valkey, Node's `crypto` for the web app's encryption).

#![allow(dead_code)]

use std::process::Command;

use serde_json::{Value, json};

use crate::pg::TestDb;
use crate::redis_server::RedisServer;
use crate::trackers::Trackers;
use crate::worker::Running;

pub const QUEUE: &str = "issue-sync";
pub const SCHEMA: [&str; 5] = [
    "users.sql",
    "projects.sql",
    "forecast.sql",
    "search.sql",
    "sync.sql",
];
pub const KEY: &str = "web-app-encryption-key";

/// The web app's options for `sync-issues`, but kept on completion so the result can be read.
pub fn sync_opts() -> Value {
    json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 2000}, "removeOnComplete": false, "removeOnFail": false})
}

/// TestPlanIt's scheme through Node's `crypto`.
pub fn node_crypto(op: &str, password: &str, value: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/crypto.cjs");
    let out = Command::new("node")
        .args([script, op, password, value])
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn redis_cli(redis: &RedisServer, args: &[&str]) -> String {
    let port = redis
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let out = Command::new("redis-cli")
        .args(["-p", &port, "--no-raw"])
        .args(args)
        .output()
        .expect("redis-cli");
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // --no-raw quotes strings and prefixes integers; take the value itself.
    if let Some(n) = s.strip_prefix("(integer) ") {
        return n.to_string();
    }
    serde_json::from_str::<String>(&s).unwrap_or(s)
}

/// A database with a user, two projects and `integrations` (SQL values for
/// `(id, name, provider, "authType", status, credentials, settings)`).
pub fn database(integrations: &str, issues: &str) -> TestDb {
    let db = TestDb::with_schema(&SCHEMA);
    db.sql(&format!(
        r#"INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now()), ('u2', 'Bob', 'bob@example.com', now());
           INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Payments', 'u1'), (2, 'Mobile', 'u1');
           INSERT INTO "Integration" (id, name, provider, "authType", status, credentials, settings, "updatedAt") VALUES {integrations};
           {issues}"#
    ));
    db
}

/// Integration 1: Jira Cloud with its API token stored in plain JSON.
pub fn plain_jira(trackers: &Trackers) -> String {
    format!(
        r#"(1, 'Acme Jira', 'JIRA', 'API_KEY', 'ACTIVE', '{{"email": "ada@example.com", "apiToken": "jira-token"}}', '{{"baseUrl": "{}"}}', now())"#,
        trackers.url("/jira")
    )
}

pub fn worker(db: &TestDb, redis: &RedisServer, extra: &[(&str, &str)]) -> Running {
    let url = db.url();
    let r = redis.url();
    let mut env = vec![
        ("DATABASE_URL", url.as_str()),
        ("VALKEY_URL", r.as_str()),
        ("ENCRYPTION_KEY", KEY),
    ];
    env.extend_from_slice(extra);
    let w = Running::start(&["sync"], &env);
    w.wait_for_line("Sync worker started");
    w
}

/// Stops the worker cleanly; none of `secrets` may appear in anything it logged.
pub fn stop_without_secrets(w: Running, secrets: &[&str]) {
    let (status, log) = w.stop_with_log();
    let log = log.join("\n");
    assert!(status.success(), "{status}:\n{log}");
    for s in secrets {
        assert!(!log.contains(s), "{s:?} in the log:\n{log}");
    }
}

pub fn row(db: &TestDb, id: i32) -> Vec<String> {
    db.sql(&format!(
        r#"SELECT name, title, description, status, priority, "externalId", "externalKey", "externalUrl",
                  "externalStatus", "issueTypeId", "issueTypeName", "issueTypeIconUrl", "lastSyncedAt" IS NOT NULL
           FROM "Issue" WHERE id = {id}"#
    ))
    .split('|')
    .map(str::to_string)
    .collect()
}

pub fn external_data(db: &TestDb, id: i32) -> Value {
    serde_json::from_str(&db.sql(&format!(
        r#"SELECT "externalData"::text FROM "Issue" WHERE id = {id}"#
    )))
    .expect("externalData is JSON")
}

pub const PAY_1_HTML: &str = concat!(
    r#"<h2>Steps for PAY-1</h2><p>Pay with <strong>card</strong><br><a href="https://docs.example/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">docs</a></p>"#,
    r#"<ul><li>open &lt;checkout&gt;</li></ul><pre><code class="language-js">if (a &lt; b) pay();</code></pre>"#,
    r#"<p><span class="mention">@Ada</span>:tada:</p><table><tr><th><p>Card</p></th><td><p>Visa</p></td></tr></table>"#
);
