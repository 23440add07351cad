//! The audit-log worker end to end: Node bullmq adds `audit-event` jobs exactly as TestPlanIt's
//! web app does (name, payload, job id, the queue's default options), `tp-worker audit-log`
//! processes them, and the `"AuditLog"` rows and the jobs' final states are checked. Also: bad
//! payloads fail their job with a reason while the worker carries on, and a database that is
//! not there yet holds the jobs back until it is.

#[path = "support/jobs.rs"]
mod jobs;
#[path = "../../bullmq/tests/support/node.rs"]
mod node_support;
#[path = "support/pg.rs"]
mod pg;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "support/worker.rs"]
mod worker;

use pg::TestDb;
use redis_server::RedisServer;
use serde_json::{Value, json};
use worker::Running;

const OPTS: &str = r#"{"attempts": 3, "backoff": {"type": "exponential", "delay": 5000}, "removeOnComplete": {"age": 31536000, "count": 100000}, "removeOnFail": {"age": 7776000}}"#;

/// Adds one audit event as `captureAuditEvent` does; returns the job id.
fn capture(server: &RedisServer, data: Value, job_id: &str) -> String {
    let mut opts: Value = serde_json::from_str(OPTS).expect("opts");
    opts["jobId"] = job_id.into();
    jobs::add(server, "audit-logs", "audit-event", data, opts)
}

fn seed(db: &TestDb) {
    db.sql(r#"INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now())"#);
    db.sql(r#"INSERT INTO "Projects" (id, name, "createdBy") VALUES (7, 'Payments', 'u1')"#);
}

#[test]
fn audit_events_become_audit_log_rows() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&["users.sql", "projects.sql", "audit.sql"]);
    seed(&db);
    let worker = Running::start(
        &["audit-log"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("Audit log worker started for queue \"audit-logs\"");

    let full = capture(
        &server,
        json!({
            "event": {
                "action": "UPDATE", "entityType": "RepositoryCases", "entityId": "42",
                "entityName": "Login works", "projectId": 7, "userId": "u1",
                "userEmail": "ada@example.com", "userName": "Ada",
                "changes": {"name": {"old": "Login", "new": "Login works"}},
                "metadata": {"source": "ui"}
            },
            "context": {"ipAddress": "10.0.0.1", "userAgent": "Firefox", "requestId": "r-1"},
            "queuedAt": "2026-11-28T12:00:00.000Z"
        }),
        "UPDATE-RepositoryCases-42-1795867200000",
    );
    // The user comes from the context when the event has none; a deleted project is kept
    // out of the foreign key but remembered in the metadata.
    let from_context = capture(
        &server,
        json!({
            "event": {"action": "LOGIN", "entityType": "User", "entityId": "u2", "projectId": 999},
            "context": {"userId": "u2", "userEmail": "bob@example.com", "userName": "Bob"},
            "queuedAt": "2026-11-28T12:00:01.000Z"
        }),
        "LOGIN-User-u2-1795867201000",
    );
    let malformed = capture(&server, json!({"context": null}), "bad-1");
    let unknown = capture(
        &server,
        json!({"event": {"action": "EXPLODE", "entityType": "X", "entityId": "1"}, "context": null}),
        "bad-2",
    );

    jobs::wait_state(&server, "audit-logs", &full, "completed");
    jobs::wait_state(&server, "audit-logs", &from_context, "completed");
    let bad = jobs::wait_state(&server, "audit-logs", &malformed, "failed");
    assert!(
        bad["failedReason"]
            .as_str()
            .is_some_and(|r| r.contains("malformed audit-event payload") && r.contains("event")),
        "{bad}"
    );
    let bad = jobs::wait_state(&server, "audit-logs", &unknown, "failed");
    assert_eq!(bad["failedReason"], "unknown audit action \"EXPLODE\"");

    let rows = db.sql(
        r#"SELECT action, "entityType", "entityId", coalesce("entityName", '-'), coalesce("userId", '-'),
                  coalesce("userEmail", '-'), coalesce("userName", '-'), coalesce("projectId"::text, '-'),
                  coalesce(changes::text, '-'), length(id)
           FROM "AuditLog" ORDER BY "entityId""#,
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0],
        vec![
            "UPDATE",
            "RepositoryCases",
            "42",
            "Login works",
            "u1",
            "ada@example.com",
            "Ada",
            "7",
            r#"{"name": {"new": "Login works", "old": "Login"}}"#,
            "25"
        ]
    );
    assert_eq!(
        rows[1],
        vec![
            "LOGIN",
            "User",
            "u2",
            "-",
            "u2",
            "bob@example.com",
            "Bob",
            "-",
            "-",
            "25"
        ]
    );
    let meta: Value =
        serde_json::from_str(&db.sql(r#"SELECT metadata FROM "AuditLog" WHERE "entityId" = '42'"#))
            .expect("metadata");
    assert_eq!(meta["source"], "ui");
    assert_eq!(meta["ipAddress"], "10.0.0.1");
    assert_eq!(meta["userAgent"], "Firefox");
    assert_eq!(meta["requestId"], "r-1");
    assert_eq!(meta["queuedAt"], "2026-11-28T12:00:00.000Z");
    assert!(
        meta["processedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{meta}"
    );
    let meta: Value =
        serde_json::from_str(&db.sql(r#"SELECT metadata FROM "AuditLog" WHERE "entityId" = 'u2'"#))
            .expect("metadata");
    assert_eq!(meta["originalProjectId"], 999);

    let log = worker.log().join("\n");
    assert!(
        log.contains("[AuditLogWorker] Processing audit event: UPDATE RepositoryCases:42"),
        "{log}"
    );
    assert!(
        log.contains("Job bad-2 failed (not retried): unknown audit action"),
        "{log}"
    );
    worker.stop_cleanly();
}

#[test]
fn a_database_that_is_not_there_yet_holds_the_jobs_until_it_is() {
    let server = RedisServer::start();
    // The worker's database does not exist yet: no job is taken (none fails for it) until it
    // does and its schema has been checked.
    let name = pg::unique_name("tp_worker_late");
    let worker = Running::start(
        &["audit-log"],
        &[
            ("DATABASE_URL", &pg::database_url(&name)),
            ("VALKEY_URL", &server.url()),
        ],
    );
    worker.wait_for_line("cannot reach PostgreSQL");
    let id = capture(
        &server,
        json!({"event": {"action": "DELETE", "entityType": "Tags", "entityId": "3"}, "context": null}),
        "DELETE-Tags-3-1795867200000",
    );
    let waiting = jobs::wait_state(&server, "audit-logs", &id, "waiting");
    assert_eq!(waiting["attemptsMade"], 0, "{waiting}");
    // The database appears (an outage ends): checked, then the job is taken at its first try.
    let db = TestDb::adopt(&name, &["users.sql", "projects.sql", "audit.sql"]);
    worker.wait_for_line("started for queue");
    let done = jobs::wait_state(&server, "audit-logs", &id, "completed");
    assert_eq!(done["attemptsMade"], 1, "one attempt, none failed: {done}");
    assert_eq!(
        db.sql(r#"SELECT action || ' ' || "entityId" FROM "AuditLog""#),
        "DELETE 3"
    );
    worker.stop_cleanly();
}
