//! The notification worker end to end: Node bullmq adds `create-notification` and
//! `send-daily-digest` jobs as TestPlanIt does, `tp-worker notification` runs them against a
//! throw-away database, and the `"Notification"` rows and the `emails` jobs it queues are
//! checked (modes per user, the global default, the digest's window and selection).

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

/// What NotificationService.createNotification adds with (on top of the queue's defaults).
fn create_opts() -> Value {
    json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 5000},
           "removeOnComplete": true, "removeOnFail": false})
}

fn user(db: &TestDb, id: &str, mode: Option<&str>) {
    db.sql(&format!(
        r#"INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('{id}', '{id}', '{id}@example.com', now())"#
    ));
    if let Some(m) = mode {
        db.sql(&format!(
            r#"INSERT INTO "UserPreferences" (id, "userId", "notificationMode") VALUES (gen_random_uuid()::text, '{id}', '{m}')"#
        ));
    }
}

fn notify(server: &RedisServer, user: &str, title: &str) -> String {
    jobs::add(
        server,
        "notifications",
        "create-notification",
        json!({"userId": user, "type": "WORK_ASSIGNED", "title": title, "message": format!("{title}!"),
               "relatedEntityId": "17", "relatedEntityType": "TestRun", "data": {"runId": 17}}),
        create_opts(),
    )
}

fn emails(server: &RedisServer) -> Vec<Value> {
    let mut all = jobs::jobs(server, "emails", "waiting");
    all.sort_by_key(|j| j["data"]["userId"].as_str().unwrap_or("").to_string());
    all
}

#[test]
fn notifications_follow_each_users_mode_and_the_global_default() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&["users.sql"]);
    user(&db, "a-in-app", Some("IN_APP"));
    user(&db, "b-immediate", Some("IN_APP_EMAIL_IMMEDIATE"));
    user(&db, "c-none", Some("NONE"));
    user(&db, "d-no-prefs", None);
    user(&db, "e-global", Some("USE_GLOBAL"));
    let worker = Running::start(
        &["notification"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("Notification worker started for queue \"notifications\"");

    // No AppConfig yet: the global default is IN_APP.
    for u in ["a-in-app", "b-immediate", "c-none", "d-no-prefs"] {
        // removeOnComplete: true, as TestPlanIt adds them: a completed job is gone.
        let id = notify(&server, u, &format!("for {u}"));
        jobs::wait_gone(&server, "notifications", &id);
    }
    // Now the global default asks for immediate emails.
    db.sql(r#"INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode": "IN_APP_EMAIL_IMMEDIATE"}')"#);
    let id = notify(&server, "e-global", "for e-global");
    // removeOnComplete: true, as TestPlanIt adds them: the completed job is gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while jobs::job(&server, "notifications", &id) != Value::Null {
        assert!(
            std::time::Instant::now() < deadline,
            "job {id} was not removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let rows = db.sql(
        r#"SELECT "userId", type, title, message, "relatedEntityId", "relatedEntityType", data::text,
                  "isRead", "isDeleted", length(id)
           FROM "Notification" ORDER BY "userId""#,
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('|').collect()).collect();
    let users: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(
        users,
        ["a-in-app", "b-immediate", "d-no-prefs", "e-global"],
        "NONE gets no row"
    );
    assert_eq!(
        rows[0][1..],
        [
            "WORK_ASSIGNED",
            "for a-in-app",
            "for a-in-app!",
            "17",
            "TestRun",
            r#"{"runId": 17}"#,
            "f",
            "f",
            "25"
        ]
    );
    // Immediate mode (own or global) queues one email each, with the emails queue's options.
    let queued = emails(&server);
    assert_eq!(queued.len(), 2, "{queued:?}");
    for (job, u) in queued.iter().zip(["b-immediate", "e-global"]) {
        assert_eq!(job["name"], "send-notification-email");
        assert_eq!(job["data"]["userId"], u);
        assert_eq!(job["data"]["immediate"], true);
        let nid = job["data"]["notificationId"].as_str().expect("id");
        assert_eq!(
            db.sql(&format!(
                r#"SELECT "userId" FROM "Notification" WHERE id = '{nid}'"#
            )),
            u
        );
        assert_eq!(job["opts"]["attempts"], 5);
        assert_eq!(
            job["opts"]["backoff"],
            json!({"type": "exponential", "delay": 10000})
        );
    }
    let log = worker.log().join("\n");
    assert!(
        log.contains("Skipping notification for user c-none - notifications disabled"),
        "{log}"
    );
    assert!(
        log.contains("for user b-immediate with mode IN_APP_EMAIL_IMMEDIATE"),
        "{log}"
    );
    worker.stop_cleanly();
}

#[test]
fn the_daily_digest_gathers_each_daily_users_unread_notifications() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&["users.sql"]);
    db.sql(r#"INSERT INTO "AppConfig" (key, value) VALUES ('notificationSettings', '{"defaultMode": "IN_APP_EMAIL_DAILY"}')"#);
    user(&db, "f-daily", Some("IN_APP_EMAIL_DAILY"));
    user(&db, "g-global", Some("USE_GLOBAL"));
    user(&db, "h-no-prefs", None);
    user(&db, "i-in-app", Some("IN_APP"));
    let note = |u: &str, id: &str, age: &str, read: bool, deleted: bool| {
        db.sql(&format!(
            r#"INSERT INTO "Notification" (id, "userId", type, title, message, "isRead", "isDeleted", "createdAt", "updatedAt")
               VALUES ('{id}', '{u}', 'COMMENT_MENTION', 'title {id}', 'message {id}', {read}, {deleted}, now() - interval '{age}', now())"#
        ));
    };
    note("f-daily", "n1", "3 hours", false, false);
    note("f-daily", "n2", "1 hour", false, false);
    note("f-daily", "n3", "2 hours", true, false);
    note("f-daily", "n4", "2 hours", false, true);
    note("f-daily", "n5", "2 days", false, false);
    note("g-global", "n6", "5 minutes", false, false);
    note("h-no-prefs", "n7", "5 minutes", false, false);
    note("i-in-app", "n8", "5 minutes", false, false);

    let worker = Running::start(
        &["notification"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    let id = jobs::add(
        &server,
        "notifications",
        "send-daily-digest",
        json!({}),
        json!({}),
    );
    jobs::wait_state(&server, "notifications", &id, "completed");
    let queued = emails(&server);
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert_eq!(queued[0]["name"], "send-digest-email");
    assert_eq!(queued[0]["data"]["userId"], "f-daily");
    let ids: Vec<&str> = queued[0]["data"]["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["n2", "n1"],
        "unread, undeleted, within a day, newest first"
    );
    let first = &queued[0]["data"]["notifications"][0];
    assert_eq!(first["title"], "title n2");
    assert_eq!(first["message"], "message n2");
    assert!(
        first["createdAt"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{first}"
    );
    assert_eq!(queued[1]["data"]["userId"], "g-global");
    worker.wait_for_line("Processed daily digest for 2 users");

    // process-user-notifications only counts: n1, n2 and n5 are unread and not deleted.
    let count = jobs::add(
        &server,
        "notifications",
        "process-user-notifications",
        json!({"userId": "f-daily"}),
        json!({}),
    );
    let done = jobs::wait_state(&server, "notifications", &count, "completed");
    assert_eq!(done["returnvalue"], json!({"unread": 3}));
    worker.wait_for_line("User f-daily has 3 unread notification(s)");

    // A job this worker does not know fails with the reason; the worker carries on.
    let bogus = jobs::add(&server, "notifications", "bogus", json!({}), json!({}));
    let failed = jobs::wait_state(&server, "notifications", &bogus, "failed");
    assert_eq!(failed["failedReason"], "Unknown job type: bogus");
    worker.stop_cleanly();
}

#[test]
fn the_emails_producer_reconnects_after_a_valkey_outage() {
    // Valkey with its data on disk: the restart is an outage, not a wipe.
    let mut server = RedisServer::start_persistent();
    let db = TestDb::with_schema(&["users.sql"]);
    user(&db, "b-immediate", Some("IN_APP_EMAIL_IMMEDIATE"));
    let worker = Running::start(
        &["notification"],
        &[("DATABASE_URL", &db.url()), ("VALKEY_URL", &server.url())],
    );
    worker.wait_for_line("started for queue");
    // The first email opens the producer's connection to `emails`.
    let first = notify(&server, "b-immediate", "before");
    jobs::wait_gone(&server, "notifications", &first);
    assert_eq!(emails(&server).len(), 1);

    server.stop();
    std::thread::sleep(std::time::Duration::from_secs(3));
    server.restart();
    // The producer's connection died with the server; the next email goes out on a new one
    // in the same attempt, so the notification is neither failed nor written twice.
    let second = notify(&server, "b-immediate", "after");
    jobs::wait_gone(&server, "notifications", &second);
    assert_eq!(emails(&server).len(), 2, "{:?}", emails(&server));
    assert_eq!(
        db.sql(r#"SELECT count(*) FROM "Notification" WHERE title = 'after'"#),
        "1"
    );
    worker.wait_for_line("the Valkey connection for queue emails was lost");
    worker.stop_cleanly();
}
