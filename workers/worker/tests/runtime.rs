//! The shared worker runtime under trouble: SIGINT while a job runs lets the job finish
//! before the worker exits; a worker started while Valkey is down keeps trying and serves the
//! queue once Valkey is up; with nothing to connect to it never exits on its own.

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

use std::io::Write;
use std::process::Stdio;
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
    let mut locker = pg::pg("psql")
        .args(["-X", "-q", "-d", &db.name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("psql");
    let mut lock_input = locker.stdin.take().expect("stdin");
    writeln!(
        lock_input,
        r#"BEGIN; LOCK TABLE "AuditLog" IN ACCESS EXCLUSIVE MODE;"#
    )
    .expect("lock");
    lock_input.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.sql(r#"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'AuditLog' AND l.granted AND l.mode = 'AccessExclusiveLock'"#) != "1" {
        assert!(Instant::now() < deadline, "the lock was not taken");
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut worker = Running::start(
        &["audit-log"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("started for queue");
    let id = audit_event(&server, "1");
    worker.wait_for_line("Processing audit event: CREATE Tags:1");
    // The INSERT is now waiting on the lock. Ask the worker to stop.
    let pid = worker.pid();
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    worker.wait_for_line("SIGINT received");
    // It is still there, finishing its job, which is still active.
    assert!(
        worker.running(),
        "exited with a job running:\n{}",
        worker.log().join("\n")
    );
    assert_eq!(jobs::job(&server, "audit-logs", &id)["state"], "active");
    writeln!(lock_input, "COMMIT;").expect("unlock");
    drop(lock_input);
    let status = worker.wait_exit();
    assert!(status.success(), "{status}:\n{}", worker.log().join("\n"));
    assert_eq!(jobs::job(&server, "audit-logs", &id)["state"], "completed");
    assert_eq!(db.sql(r#"SELECT "entityId" FROM "AuditLog""#), "1");
    let _ = locker.wait();
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
    worker.stop_cleanly();
}
