//! The database guard against real PostgreSQL: every worker starts on TestPlanIt 0.11.x's
//! schema; on a database of a later release (its markers), or one where a column it writes is
//! gone, of another kind, or a new required one appeared, it exits 2 before taking a job, with
//! what it found and what to run instead; in multi-tenant mode such a tenant's jobs fail with
//! the reason while another tenant's go on.

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
use serde_json::json;
use worker::Running;

const SCHEMA: [&str; 1] = ["testplanit.sql"];

fn refused(db: &TestDb, server: &RedisServer, worker: &str) -> String {
    let mut w = Running::start(
        &[worker],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    let status = w.wait_exit();
    // The last lines may still be on their way from the pipe's reader.
    w.wait_for_line("It refuses to write to a schema it does not know");
    let log = w.log().join("\n");
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.contains("not the TestPlanIt schema") && log.contains("TestPlanIt 0.11.x"),
        "{log}"
    );
    log
}

#[test]
fn every_worker_starts_on_the_schema_it_implements() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    for (worker, queue) in [
        ("audit-log", "audit-logs"),
        ("notification", "notifications"),
        ("email", "emails"),
        ("forecast", "forecast-updates"),
        ("sync", "issue-sync"),
        ("testmo-import", "testmo-imports"),
        ("elasticsearch-reindex", "elasticsearch-reindex"),
    ] {
        let w = Running::start(
            &[worker],
            &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
        );
        w.wait_for_line(&format!("started for queue \"{queue}\""));
        w.stop_cleanly();
    }
}

#[test]
fn a_later_release_is_refused_before_any_job_is_taken() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    db.sql(r#"ALTER TABLE "AuditLog" ADD COLUMN "operationId" text; CREATE TABLE "DataChangeLog" (id bigserial PRIMARY KEY)"#);
    let id = jobs::add(
        &server,
        "audit-logs",
        "audit-event",
        json!({"event": {"action": "DELETE", "entityType": "Tags", "entityId": "3"}, "context": null}),
        json!({"jobId": "waits", "attempts": 3}),
    );
    let log = refused(&db, &server, "audit-log");
    assert!(
        log.contains(r#"table "DataChangeLog""#)
            && log.contains(r#"column "AuditLog"."operationId""#)
            && log
                .contains(r#"run TestPlanIt's own worker for the queue "audit-logs" under tpctl"#),
        "{log}"
    );
    // Never written to, never even attempted.
    assert_eq!(db.sql(r#"SELECT count(*) FROM "AuditLog""#), "0");
    let job = jobs::job(&server, "audit-logs", &id);
    assert_eq!(job["state"], "waiting", "{job}");
    assert_eq!(job["attemptsMade"], 0, "{job}");
    // The reindex writes nothing, but a later schema is still not one it knows how to read.
    refused(&db, &server, "elasticsearch-reindex");
}

#[test]
fn a_written_column_gone_or_changed_and_a_new_required_one_are_named() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    db.sql(r#"ALTER TABLE "Notification" DROP COLUMN "relatedEntityType"; ALTER TABLE "Notification" ALTER COLUMN "title" TYPE integer USING 0; ALTER TABLE "Notification" ADD COLUMN "channel" text NOT NULL"#);
    let log = refused(&db, &server, "notification");
    for says in [
        r#"no column "Notification"."relatedEntityType""#,
        r#"column "Notification"."title" is int4, where it writes text"#,
        r#"column "Notification"."channel" is required (NOT NULL, no default) and unknown to TestPlanIt 0.11.x"#,
    ] {
        assert!(log.contains(says), "{says}\n{log}");
    }
    // The email worker only updates Notification: a new required column does not concern it,
    // the changed title does not either (it writes isRead and updatedAt).
    let w = Running::start(
        &["email"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    w.wait_for_line("started for queue \"emails\"");
    w.stop_cleanly();
}

#[test]
fn a_tenant_on_a_later_release_has_its_jobs_failed_with_the_reason_while_others_go_on() {
    let server = RedisServer::start();
    let good = TestDb::with_schema(&SCHEMA);
    let later = TestDb::with_schema(&SCHEMA);
    later.sql(r#"CREATE TABLE "DataChangeLog" (id bigserial PRIMARY KEY)"#);
    let tenants = json!({
        "good": {"databaseUrl": good.url()},
        "later": {"databaseUrl": later.url()},
    })
    .to_string();
    let w = Running::start(
        &["audit-log"],
        &[
            ("MULTI_TENANT_MODE", "true"),
            ("TENANT_CONFIGS", &tenants),
            ("VALKEY_URL", &server.url()),
        ],
    );
    w.wait_for_line("started for queue \"audit-logs\"");
    let add = |tenant: &str| {
        jobs::add(
            &server,
            "audit-logs",
            "audit-event",
            json!({"event": {"action": "DELETE", "entityType": "Tags", "entityId": tenant}, "context": null, "tenantId": tenant}),
            json!({"jobId": tenant, "attempts": 1}),
        )
    };
    let bad = add("later");
    let ok = add("good");
    let failed = jobs::wait_state(&server, "audit-logs", &bad, "failed");
    assert!(
        failed["failedReason"].as_str().is_some_and(|r| r
            .starts_with("tenant later: this database is not the TestPlanIt schema")
            && r.contains(r#"table "DataChangeLog""#)),
        "{failed}"
    );
    jobs::wait_state(&server, "audit-logs", &ok, "completed");
    assert_eq!(good.sql(r#"SELECT "entityId" FROM "AuditLog""#), "good");
    assert_eq!(later.sql(r#"SELECT count(*) FROM "AuditLog""#), "0");
    // A job's lines carry its tenant beside its id.
    assert!(
        w.log()
            .iter()
            .any(|l| l.contains("job{id=good tenant=good}")),
        "{:?}",
        w.log()
    );
    w.stop_cleanly();
}
