//! The shared worker runtime under trouble: SIGINT while a job runs lets the job finish
//! before the worker exits; a worker started while Valkey is down keeps trying and serves the
//! queue once Valkey is up; with nothing to connect to it never exits on its own; PostgreSQL
//! or Valkey going away while a job runs delays the job, which completes once, when they are
//! back.

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

use std::time::{Duration, Instant};

use pg::TestDb;
use redis_server::RedisServer;
use serde_json::json;
use worker::Running;

fn audit_event(server: &RedisServer, entity: &str) -> String {
    jobs::add(
        server,
        "audit-logs",
        "audit-event",
        json!({"event": {"action": "CREATE", "entityType": "Tags", "entityId": entity}, "context": null}),
        json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 5000}}),
    )
}

#[test]
fn sigint_during_a_job_lets_it_finish_before_exit() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&["users.sql", "projects.sql", "audit.sql"]);
    // Another session holds "AuditLog" locked: the job's INSERT waits for it.
    let mut lock = pg::TableLock::take(&db, "AuditLog");

    let mut worker = Running::start(
        &["audit-log"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("started for queue");
    let id = audit_event(&server, "1");
    worker.wait_for_line("Processing audit event: CREATE Tags:1");
    // The INSERT is now waiting on the lock. Ask the worker to stop.
    worker.interrupt();
    // It is still there, finishing its job, which is still active.
    assert!(
        worker.running(),
        "exited with a job running:\n{}",
        worker.log().join("\n")
    );
    assert_eq!(jobs::job(&server, "audit-logs", &id)["state"], "active");
    lock.release();
    let status = worker.wait_exit();
    assert!(status.success(), "{status}:\n{}", worker.log().join("\n"));
    assert_eq!(jobs::job(&server, "audit-logs", &id)["state"], "completed");
    assert_eq!(db.sql(r#"SELECT "entityId" FROM "AuditLog""#), "1");
}

#[test]
fn a_worker_started_before_valkey_serves_once_it_is_up() {
    // A port with nothing on it yet.
    let mut server = RedisServer::start();
    server.stop();
    let db = TestDb::with_schema(&["users.sql", "projects.sql", "audit.sql"]);
    let mut worker = Running::start(
        &["audit-log"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("cannot reach Valkey");
    assert!(
        worker.running(),
        "a worker must not exit while Valkey is away"
    );
    server.restart();
    worker.wait_for_line("started for queue");
    let id = audit_event(&server, "2");
    jobs::wait_state(&server, "audit-logs", &id, "completed");
    worker.wait_for_line(&format!("Job {id} completed successfully."));
    // Each job event once, and the processor's own lines carry the job's id.
    let log = worker.log();
    let count = |text: &str| log.iter().filter(|l| l.contains(text)).count();
    assert_eq!(
        count(&format!("Processing job {id} of type audit-event")),
        1,
        "{log:?}"
    );
    assert_eq!(
        count(&format!("Job {id} completed successfully.")),
        1,
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("job{{id={id}}}")) && l.contains("Processing audit event")),
        "{log:?}"
    );
    worker.stop_cleanly();
}

#[test]
fn postgresql_away_during_a_job_retries_it_until_it_is_back() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&["users.sql", "projects.sql", "audit.sql"]);
    let worker = Running::start(
        &["audit-log"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("started for queue");
    // A first job opens the pool's connections, which the outage then cuts.
    let first = audit_event(&server, "1");
    jobs::wait_state(&server, "audit-logs", &first, "completed");

    db.set_reachable(false);
    let id = audit_event(&server, "2");
    // The attempt fails and waits for the queue's 5 s back-off.
    let delayed = jobs::wait_state(&server, "audit-logs", &id, "delayed");
    assert_eq!(delayed["attemptsMade"], 1, "{delayed}");
    assert!(
        delayed["failedReason"].as_str().is_some_and(|r| r
            .contains("not currently accepting connections")
            || r.contains("terminat")),
        "{delayed}"
    );
    db.set_reachable(true);
    let done = jobs::wait_state(&server, "audit-logs", &id, "completed");
    assert_eq!(done["attemptsMade"], 2, "{done}");
    assert_eq!(
        db.sql(r#"SELECT "entityId" FROM "AuditLog" ORDER BY "entityId""#),
        "1\n2",
        "each event once"
    );
    worker.stop_cleanly();
}

#[test]
fn valkey_away_while_a_job_runs_records_it_once_when_back() {
    // Valkey with its data on disk: the restart is an outage, not a wipe.
    let mut server = RedisServer::start_persistent();
    let db = TestDb::with_schema(&["users.sql", "projects.sql", "audit.sql"]);
    let mut lock = pg::TableLock::take(&db, "AuditLog");
    let worker = Running::start(
        &["audit-log"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("started for queue");
    let id = audit_event(&server, "1");
    worker.wait_for_line("Processing audit event: CREATE Tags:1");
    // The job is mid-INSERT; Valkey dies; the INSERT then goes through while it is away.
    server.stop();
    lock.release();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.sql(r#"SELECT count(*) FROM "AuditLog""#) != "1" {
        assert!(Instant::now() < deadline, "the job's row was not written");
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.wait_for_line("cannot record the job's end yet");
    server.restart();
    let done = jobs::wait_state(&server, "audit-logs", &id, "completed");
    assert_eq!(
        done["attemptsMade"], 1,
        "recorded by the attempt that did the work: {done}"
    );
    // Later jobs are served as usual, and the first one was not run a second time.
    let next = audit_event(&server, "2");
    jobs::wait_state(&server, "audit-logs", &next, "completed");
    assert_eq!(
        db.sql(r#"SELECT "entityId" FROM "AuditLog" ORDER BY "entityId""#),
        "1\n2"
    );
    worker.stop_cleanly();
}

#[test]
fn bullmq_prefix_moves_the_worker_to_the_web_apps_keys() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&["users.sql", "projects.sql", "audit.sql"]);
    let prefixed = [("BULLMQ_PREFIX", "tp-prod_1")];
    let add = |entity: &str, env: &[(&str, &str)]| {
        let jobs = json!([{"name": "audit-event",
            "data": {"event": {"action": "CREATE", "entityType": "Tags", "entityId": entity}, "context": null}}]);
        node_support::node_last(
            "produce.cjs",
            &[&server.url(), "audit-logs", &jobs.to_string()],
            env,
        )[0]
        .as_str()
        .expect("id")
        .to_string()
    };
    let worker = Running::start(
        &["audit-log"],
        &[
            ("DATABASE_URL", &db.url()),
            ("VALKEY_URL", &server.url()),
            prefixed[0],
        ],
    );
    worker.wait_for_line("started for queue");
    let ours = add("1", &prefixed);
    let other = add("2", &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = node_support::node_last(
            "inspect.cjs",
            &[&server.url(), "audit-logs", "job", &ours],
            &prefixed,
        );
        if j["state"] == "completed" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job under tp-prod_1 not run: {j}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(db.sql(r#"SELECT "entityId" FROM "AuditLog""#), "1");
    // The job under the default prefix belongs to another deployment: untouched.
    assert_eq!(jobs::job(&server, "audit-logs", &other)["state"], "waiting");
    worker.stop_cleanly();
}

#[test]
fn the_command_line_says_what_it_knows() {
    let out = worker::command(&["--version"], &[]).output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tp-worker {}", env!("CARGO_PKG_VERSION"))
    );
    let out = worker::command(&["audit-logs"], &[]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"unknown worker "audit-logs"; did you mean "audit-log"?"#),
        "{err}"
    );
    let out = worker::command(&["audit-log"], &[("BULLMQ_PREFIX", "bull:x")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"BULLMQ_PREFIX "bull:x" is not a valid key prefix"#),
        "{err}"
    );
}
