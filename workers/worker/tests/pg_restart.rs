//! PostgreSQL restarting under each queue worker while a job is in flight: the job is held
//! inside a query (a table lock taken by another session), then the database refuses new
//! connections and every one of the worker's connections is ended, as a restart does. The job
//! in flight fails into the queue's retry (attempts left) or fails (reindex: one attempt), never
//! vanishes; once PostgreSQL is back the pool reconnects by itself, the retry and later jobs
//! succeed, and the process is the same one throughout (no crash, no restart loop).

#[path = "support/jobs.rs"]
mod jobs;
#[path = "../../bullmq/tests/support/node.rs"]
mod node_support;
#[path = "support/pg.rs"]
mod pg;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "support/search_server.rs"]
mod search_server;
#[path = "support/smtp.rs"]
mod smtp;
#[path = "support/test_servers.rs"]
mod test_servers;
#[path = "support/worker.rs"]
mod worker;

use pg::{TableLock, TestDb};
use redis_server::RedisServer;
use serde_json::{Value, json};
use worker::Running;

/// One worker under test: how to start it, what its jobs look like, which table a job waits
/// on when that table is locked.
struct Case<'a> {
    worker: &'a str,
    queue: &'a str,
    schema: &'a [&'a str],
    seed: &'a str,
    env: Vec<(&'a str, String)>,
    job_name: &'a str,
    job: fn(u32) -> Value,
    opts: Value,
    table: &'a str,
    /// Attempts left after the first (the retry completes the job), or none (it fails).
    retried: bool,
    /// A query counting what the three jobs wrote, when they write rows: each once.
    written: Option<&'a str>,
}

fn lock_holder(db: &TestDb, table: &str) -> String {
    db.sql(&format!(
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         WHERE c.relname = '{table}' AND l.granted AND l.mode = 'AccessExclusiveLock'"
    ))
}

fn restart_mid_job(case: Case<'_>) {
    let redis = RedisServer::start();
    let db = TestDb::with_schema(case.schema);
    db.sql(case.seed);
    let url = db.url();
    let valkey = redis.url();
    let mut env: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &url),
        ("VALKEY_URL", &valkey),
        ("TZ", "UTC"),
    ];
    env.extend(case.env.iter().map(|(k, v)| (*k, v.as_str())));
    let mut worker = Running::start(&[case.worker], &env);
    worker.wait_for_line(&format!("started for queue \"{}\"", case.queue));
    let pid = worker.pid();
    let add = |n: u32| {
        jobs::add(
            &redis,
            case.queue,
            case.job_name,
            (case.job)(n),
            case.opts.clone(),
        )
    };

    // A first job opens the pool's connections.
    let first = add(1);
    jobs::wait_state(&redis, case.queue, &first, "completed");

    // The next job waits inside a query on the locked table...
    let mut lock = TableLock::take(&db, case.table);
    let holder = lock_holder(&db, case.table);
    let held = add(2);
    lock.wait_for_waiter(&db);
    // ...when PostgreSQL goes down under it: no new connections, the worker's ended.
    db.admin(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS false",
        db.name
    ));
    db.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> {holder}",
        db.name
    ));
    lock.release();
    // The attempt in flight fails; with attempts left the job waits for its retry (which
    // may fail again while PostgreSQL is still down: what matters is that it is not lost).
    let after_outage = jobs::wait_state(
        &redis,
        case.queue,
        &held,
        if case.retried { "delayed" } else { "failed" },
    );
    let reason = after_outage["failedReason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("{}: the job in flight failed with: {reason}", case.worker);
    assert!(
        reason.contains("terminat")
            || reason.contains("not currently accepting connections")
            || reason.contains("connection"),
        "{}: {reason}",
        case.worker
    );

    // PostgreSQL is back: the retry and a new job succeed on reconnected connections.
    db.admin(&format!(
        "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
        db.name
    ));
    let back = std::time::Instant::now();
    if case.retried {
        let done = jobs::wait_state(&redis, case.queue, &held, "completed");
        assert!(
            done["attemptsMade"].as_u64() >= Some(2),
            "{}: {done}",
            case.worker
        );
    }
    let later = add(3);
    jobs::wait_state(&redis, case.queue, &later, "completed");
    // Includes the Node client that adds the job (~0.3 s) and the retry's back-off.
    eprintln!(
        "recovery: {:.2} s ({}: a new job completed after PostgreSQL was back)",
        back.elapsed().as_secs_f64(),
        case.worker
    );
    if let Some(q) = case.written {
        assert_eq!(db.sql(q), "3", "{}: each job's row once", case.worker);
    }
    assert!(worker.running(), "{} exited", case.worker);
    assert_eq!(worker.pid(), pid);
    assert!(
        worker
            .log()
            .iter()
            .any(|l| l.contains(&format!("Job {held} failed"))),
        "{}: the failure is in the worker's log",
        case.worker
    );
    worker.stop_cleanly();
}

const USER: &str = r#"INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now());"#;

#[test]
fn audit_log_worker() {
    restart_mid_job(Case {
        worker: "audit-log",
        queue: "audit-logs",
        schema: &["users.sql", "projects.sql", "audit.sql"],
        seed: USER,
        env: vec![],
        job_name: "audit-event",
        job: |n| json!({"event": {"action": "CREATE", "entityType": "Tags", "entityId": n.to_string()}, "context": null}),
        opts: json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}}),
        table: "AuditLog",
        retried: true,
        written: Some(
            r#"SELECT count(DISTINCT "entityId") || '' FROM "AuditLog" HAVING count(*) = count(DISTINCT "entityId")"#,
        ),
    });
}

#[test]
fn notification_worker() {
    restart_mid_job(Case {
        worker: "notification",
        queue: "notifications",
        schema: &["users.sql"],
        seed: &format!(
            r#"{USER} INSERT INTO "UserPreferences" (id, "userId", "notificationMode") VALUES ('p1', 'u1', 'IN_APP');"#
        ),
        env: vec![],
        job_name: "create-notification",
        job: |n| json!({"userId": "u1", "type": "WORK_ASSIGNED", "title": format!("Run {n}"), "message": "assigned"}),
        opts: json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}}),
        table: "Notification",
        retried: true,
        written: Some(
            r#"SELECT count(DISTINCT title) || '' FROM "Notification" HAVING count(*) = count(DISTINCT title)"#,
        ),
    });
}

#[test]
fn email_worker() {
    let smtp = smtp::SmtpServer::start();
    restart_mid_job(Case {
        worker: "email",
        queue: "emails",
        schema: &["users.sql"],
        seed: &format!(
            r#"{USER} INSERT INTO "Notification" (id, "userId", type, title, message, "updatedAt")
               VALUES ('n1', 'u1', 'WORK_ASSIGNED', 'Run assigned', 'You have a run', now());
               INSERT INTO "UserPreferences" (id, "userId") VALUES ('p1', 'u1');"#
        ),
        env: vec![
            ("EMAIL_SERVER_HOST", "127.0.0.1".into()),
            ("EMAIL_SERVER_PORT", smtp.port.to_string()),
            ("EMAIL_FROM", "noreply@tp.test".into()),
        ],
        job_name: "send-notification-email",
        job: |_| json!({"notificationId": "n1", "userId": "u1", "immediate": true}),
        opts: json!({"attempts": 5, "backoff": {"type": "exponential", "delay": 1000}}),
        table: "Notification",
        retried: true,
        written: None,
    });
}

#[test]
fn forecast_worker() {
    restart_mid_job(Case {
        worker: "forecast",
        queue: "forecast-updates",
        schema: &["users.sql", "projects.sql", "forecast.sql"],
        seed: &format!(
            r#"{USER} INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'P', 'u1');
               INSERT INTO "RepositoryCases" (id, "projectId", name, "creatorId") VALUES (1, 1, 'Case', 'u1');"#
        ),
        env: vec![],
        job_name: "update-single-case-forecast",
        job: |_| json!({"repositoryCaseId": 1}),
        opts: json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}}),
        table: "RepositoryCases",
        retried: true,
        written: None,
    });
}

#[test]
fn elasticsearch_reindex_worker() {
    let search = search_server::SearchServer::start(search_server::Kind::OpenSearch);
    restart_mid_job(Case {
        worker: "elasticsearch-reindex",
        queue: "elasticsearch-reindex",
        schema: &["users.sql", "projects.sql", "forecast.sql", "search.sql"],
        seed: &format!(
            r#"{USER} INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'P', 'u1');
               INSERT INTO "RepositoryCases" (id, "projectId", name, "creatorId") VALUES (1, 1, 'Case', 'u1');"#
        ),
        env: vec![("ELASTICSEARCH_NODE", search.url())],
        job_name: "reindex",
        job: |_| json!({"entityType": "repositoryCases", "userId": "u1"}),
        // One attempt, as TestPlanIt's queue adds reindex jobs: the job fails, visibly.
        opts: json!({"attempts": 1}),
        table: "Tags",
        retried: false,
        written: None,
    });
}
