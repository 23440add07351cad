//! The email worker end to end: Node bullmq adds `send-notification-email` and
//! `send-digest-email` jobs as TestPlanIt's notification worker does, `tp-worker email` reads
//! a throw-away database and delivers to a real SMTP server process; the messages that
//! arrive (recipient, sender, subject, both bodies, links), the rows and the jobs' final
//! states are checked, with permanent and temporary rejections and a mail server outage.

#[path = "support/jobs.rs"]
mod jobs;
#[path = "../../bullmq/tests/support/node.rs"]
mod node_support;
#[path = "support/pg.rs"]
mod pg;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "support/smtp.rs"]
mod smtp;
#[path = "support/test_servers.rs"]
mod test_servers;
#[path = "support/worker.rs"]
mod worker;

use pg::TestDb;
use redis_server::RedisServer;
use serde_json::{Value, json};
use smtp::SmtpServer;
use worker::Running;

/// The emails queue's default options, which the notification worker adds with.
fn email_opts() -> Value {
    json!({"attempts": 5, "backoff": {"type": "exponential", "delay": 10000},
           "removeOnComplete": {"age": 2_592_000, "count": 5000}, "removeOnFail": {"age": 2_592_000}})
}

fn user(db: &TestDb, id: &str, email: &str, locale: &str) {
    db.sql(&format!(
        r#"INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('{id}', 'Name {id}', '{email}', now());
           INSERT INTO "UserPreferences" (id, "userId", locale) VALUES (gen_random_uuid()::text, '{id}', '{locale}')"#
    ));
}

fn notification(db: &TestDb, id: &str, user: &str, kind: &str, data: Value, age: &str) {
    db.sql(&format!(
        r#"INSERT INTO "Notification" (id, "userId", type, title, message, data, "createdAt", "updatedAt")
           VALUES ('{id}', '{user}', '{kind}', 'stored title {id}', 'stored message {id}', '{data}', now() - interval '{age}', now())"#
    ));
}

fn start_worker(
    db: &TestDb,
    valkey: &RedisServer,
    smtp: &SmtpServer,
    extra: &[(&str, &str)],
) -> Running {
    let port = smtp.port.to_string();
    let mut env = vec![
        ("DATABASE_URL", db.url()),
        ("VALKEY_URL", valkey.url()),
        ("EMAIL_SERVER_HOST", "127.0.0.1".to_string()),
        ("EMAIL_SERVER_PORT", port),
        ("EMAIL_FROM", "noreply@tp.test".to_string()),
        ("TZ", "UTC".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let w = Running::start(&["email"], &env);
    w.wait_for_line("Email worker started for queue \"emails\"");
    w
}

fn send(server: &RedisServer, notification: &str, user: &str) -> String {
    jobs::add(
        server,
        "emails",
        "send-notification-email",
        json!({"notificationId": notification, "userId": user, "immediate": true}),
        email_opts(),
    )
}

#[test]
fn a_notification_email_arrives_in_the_users_language_with_its_deep_link() {
    let valkey = RedisServer::start();
    let smtp = SmtpServer::start();
    let db = TestDb::with_schema(&["users.sql"]);
    user(&db, "ana", "ana@example.com", "es_ES");
    notification(
        &db,
        "n1",
        "ana",
        "WORK_ASSIGNED",
        json!({"projectId": 3, "testRunId": 9, "testCaseId": 41, "assignedByName": "Bea",
               "testCaseName": "Login <ok>", "projectName": "Web"}),
        "1 minute",
    );
    let worker = start_worker(
        &db,
        &valkey,
        &smtp,
        &[("NEXTAUTH_URL", "http://tp.test:3000/")],
    );

    // A notification that does not exist: nothing to send, the job still completes.
    let missing = send(&valkey, "no-such-notification", "ana");
    let done = jobs::wait_state(&valkey, "emails", &missing, "completed");
    assert_eq!(done["returnvalue"]["sent"], false);
    worker.wait_for_line("Notification or user email not found");

    let id = send(&valkey, "n1", "ana");
    let done = jobs::wait_state(&valkey, "emails", &id, "completed");
    assert_eq!(done["returnvalue"]["sent"], true);
    let mail = &smtp.wait_for(1)[0];
    assert_eq!(mail["to"], json!(["ana@example.com"]));
    assert_eq!(mail["envelope_from"], "noreply@tp.test");
    assert_eq!(mail["from"], "TestPlanIt <noreply@tp.test>");
    assert_eq!(
        mail["subject"],
        "TestPlanIt: Se te ha asignado un caso de prueba"
    );
    let text = mail["text"].as_str().expect("a text part");
    let html = mail["html"].as_str().expect("an HTML part");
    let link = "http://tp.test:3000/es-ES/projects/runs/3/9?selectedCase=41";
    assert!(text.contains("Hola, Name ana:"), "{text}");
    assert!(
        text.contains("Bea te ha asignado el caso de prueba \"Login <ok>\" en el proyecto \"Web\""),
        "{text}"
    );
    assert!(text.contains(&format!("Ver detalles: {link}")), "{text}");
    assert!(
        text.contains("http://tp.test:3000/es-ES/users/profile/ana"),
        "{text}"
    );
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(html.contains("Login &lt;ok&gt;"), "{html}");
    assert!(
        html.contains("http://tp.test:3000/es-ES?openNotifications=true"),
        "{html}"
    );
    assert!(
        html.contains("http://tp.test:3000/tpi_logo_square.png"),
        "{html}"
    );
    worker.wait_for_line("Sent notification email to ana@example.com");
    // Sending a single notification does not mark it read (the digest does).
    assert_eq!(
        db.sql(r#"SELECT "isRead" FROM "Notification" WHERE id = 'n1'"#),
        "f"
    );
    assert_eq!(smtp.received().len(), 1, "one email only");
    worker.stop_cleanly();
}

#[test]
fn the_digest_lists_the_payloads_notifications_and_marks_them_read() {
    let valkey = RedisServer::start();
    let smtp = SmtpServer::start();
    let db = TestDb::with_schema(&["users.sql"]);
    user(&db, "zoe", "zoe@example.com", "fr_FR");
    notification(
        &db,
        "m1",
        "zoe",
        "MILESTONE_DUE_REMINDER",
        json!({"milestoneName": "v2", "projectName": "Web", "projectId": 4, "milestoneId": 12,
               "dueDate": "2026-03-10T12:00:00.000Z", "isOverdue": true}),
        "2 hours",
    );
    notification(
        &db,
        "c1",
        "zoe",
        "COMMENT_MENTION",
        json!({"creatorName": "Bea", "entityName": "Login", "projectName": "Web", "projectId": 4,
               "hasProjectAccess": true, "entityType": "RepositoryCase", "repositoryCaseId": 77}),
        "1 hour",
    );
    notification(
        &db,
        "later",
        "zoe",
        "USER_REGISTERED",
        json!({}),
        "1 minute",
    );
    // Multi-tenant: the database and the links' base come from the tenant's configuration.
    let tenants =
        json!({"acme": {"databaseUrl": db.url(), "baseUrl": "https://acme.tp.test"}}).to_string();
    let worker = start_worker(
        &db,
        &valkey,
        &smtp,
        &[("MULTI_TENANT_MODE", "true"), ("TENANT_CONFIGS", &tenants)],
    );
    let id = jobs::add(
        &valkey,
        "emails",
        "send-digest-email",
        json!({"userId": "zoe", "tenantId": "acme", "notifications": [
            {"id": "c1", "title": "t", "message": "m", "createdAt": "2026-03-01T00:00:00.000Z"},
            {"id": "m1", "title": "t", "message": "m", "createdAt": "2026-03-01T00:00:00.000Z"},
            {"id": "deleted-since", "title": "t", "message": "m", "createdAt": "2026-03-01T00:00:00.000Z"}
        ]}),
        email_opts(),
    );
    jobs::wait_state(&valkey, "emails", &id, "completed");
    let mail = &smtp.wait_for(1)[0];
    assert_eq!(mail["to"], json!(["zoe@example.com"]));
    assert_eq!(mail["subject"], "TestPlanIt Daily Digest - 2 notifications");
    let text = mail["text"].as_str().expect("a text part");
    let html = mail["html"].as_str().expect("an HTML part");
    // Newest first, in French, with the tenant's links.
    let mention = text
        .find("Vous avez été mentionné dans un commentaire")
        .expect(text);
    let overdue = text.find("Jalon en retard").expect(text);
    assert!(mention < overdue, "{text}");
    assert!(
        text.contains(
            "Bea vous a mentionné dans un commentaire sur \"Login\" dans le projet \"Web\""
        ),
        "{text}"
    );
    assert!(
        text.contains("Le jalon « v2 » du projet « Web » était dû le 10/03/2026."),
        "{text}"
    );
    assert!(
        text.contains("Ouvrir: https://acme.tp.test/fr-FR/projects/repository/4/77"),
        "{text}"
    );
    assert!(
        text.contains("https://acme.tp.test/fr-FR/projects/milestones/4/12"),
        "{text}"
    );
    assert!(
        html.contains("href=\"https://acme.tp.test/fr-FR/users/profile/zoe\""),
        "{html}"
    );
    assert!(!text.contains("stored message later"), "{text}");
    assert_eq!(
        db.sql(r#"SELECT id, "isRead" FROM "Notification" ORDER BY id"#),
        "c1|t\nlater|f\nm1|t"
    );
    worker.wait_for_line("Sent digest email to zoe@example.com with 2 notifications");

    // A tenant nobody configured: the job fails with the reason.
    let stray = jobs::add(
        &valkey,
        "emails",
        "send-digest-email",
        json!({"userId": "zoe", "tenantId": "nobody", "notifications": []}),
        json!({"attempts": 1}),
    );
    let failed = jobs::wait_state(&valkey, "emails", &stray, "failed");
    assert_eq!(
        failed["failedReason"],
        "No configuration found for tenant: nobody"
    );
    worker.stop_cleanly();
}

#[test]
fn permanent_rejections_fail_at_once_and_temporary_ones_are_retried() {
    let valkey = RedisServer::start();
    let smtp = SmtpServer::start();
    let db = TestDb::with_schema(&["users.sql"]);
    user(&db, "r", "reject-me@example.com", "en_US");
    user(&db, "b", "busy-me@example.com", "en_US");
    notification(&db, "nr", "r", "USER_REGISTERED", json!({}), "1 minute");
    notification(
        &db,
        "nb",
        "b",
        "SYSTEM_ANNOUNCEMENT",
        json!({"htmlContent": "<p>Maintenance <b>tonight</b></p>"}),
        "1 minute",
    );
    let worker = start_worker(&db, &valkey, &smtp, &[]);

    let rejected = send(&valkey, "nr", "r");
    let failed = jobs::wait_state(&valkey, "emails", &rejected, "failed");
    assert_eq!(failed["attemptsMade"], 1, "a 5xx is not retried: {failed}");
    let reason = failed["failedReason"].as_str().unwrap_or("");
    assert!(
        reason.contains("550") && reason.contains("User unknown"),
        "{reason}"
    );

    // 451 on the first delivery: retried after the queue's 10 s back-off, then delivered.
    let busy = send(&valkey, "nb", "b");
    let done = jobs::wait_state(&valkey, "emails", &busy, "completed");
    assert_eq!(done["attemptsMade"], 2, "{done}");
    let mail = &smtp.wait_for(1)[0];
    assert_eq!(mail["to"], json!(["busy-me@example.com"]));
    assert_eq!(mail["subject"], "TestPlanIt: stored title nb");
    let html = mail["html"].as_str().unwrap_or("");
    assert!(
        html.contains("<p>Maintenance <b>tonight</b></p>"),
        "announcement HTML as written: {html}"
    );

    // Unknown names and malformed payloads fail with the reason; the worker carries on.
    let bogus = jobs::add(&valkey, "emails", "bogus", json!({}), email_opts());
    let f = jobs::wait_state(&valkey, "emails", &bogus, "failed");
    assert_eq!(f["failedReason"], "Unknown job type: bogus");
    let bad = jobs::add(
        &valkey,
        "emails",
        "send-digest-email",
        json!({"userId": 5}),
        email_opts(),
    );
    let f = jobs::wait_state(&valkey, "emails", &bad, "failed");
    assert_eq!(f["attemptsMade"], 1);
    assert!(
        f["failedReason"]
            .as_str()
            .is_some_and(|r| r.starts_with("malformed payload")),
        "{f}"
    );
    assert_eq!(smtp.received().len(), 1);
    worker.stop_cleanly();
}

#[test]
fn an_smtp_outage_delays_the_email_until_the_server_is_back() {
    let valkey = RedisServer::start();
    let mut smtp = SmtpServer::start();
    let db = TestDb::with_schema(&["users.sql"]);
    user(&db, "u", "u@example.com", "en_US");
    notification(&db, "n", "u", "USER_REGISTERED", json!({}), "1 minute");
    let worker = start_worker(&db, &valkey, &smtp, &[]);
    smtp.stop();

    let id = send(&valkey, "n", "u");
    // The first attempt fails (connection refused) and waits for its back-off.
    let delayed = jobs::wait_state(&valkey, "emails", &id, "delayed");
    assert_eq!(delayed["attemptsMade"], 1, "{delayed}");
    assert!(
        delayed["failedReason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot send the email now")),
        "{delayed}"
    );
    smtp.restart();
    let done = jobs::wait_state(&valkey, "emails", &id, "completed");
    assert_eq!(done["attemptsMade"], 2, "{done}");
    let mail = &smtp.wait_for(1)[0];
    assert_eq!(mail["to"], json!(["u@example.com"]));
    worker.stop_cleanly();
}
