//! The forecast worker end to end on hand-computed data: Node bullmq adds the jobs as
//! TestPlanIt's web app and scheduler do, `tp-worker forecast` runs them against a throw-away
//! database, and every forecast, milestone and queued reminder is compared with figures
//! worked out by hand from spec §5 (the working is in the comments).

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

const SCHEMA: [&str; 3] = ["users.sql", "projects.sql", "forecast.sql"];

/// The forecast queue's default options, which the web app and the scheduler add with.
fn opts() -> Value {
    json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 5000},
           "removeOnComplete": {"age": 604_800, "count": 1000}, "removeOnFail": {"age": 1_209_600}})
}

fn run_job(server: &RedisServer, name: &str, data: Value) -> Value {
    let id = jobs::add(server, "forecast-updates", name, data, opts());
    jobs::wait_state(server, "forecast-updates", &id, "completed")
}

fn start(db: &TestDb, server: &RedisServer, extra: &[(&str, &str)]) -> Running {
    let url = db.url();
    let valkey = server.url();
    let mut env = vec![
        ("DATABASE_URL", url.as_str()),
        ("VALKEY_URL", valkey.as_str()),
        ("TZ", "UTC"),
    ];
    env.extend_from_slice(extra);
    let w = Running::start(&["forecast"], &env);
    w.wait_for_line("Forecast worker started for queue \"forecast-updates\"");
    w
}

/// Cases c1..c7, runs r1..r3 and their results (ids as written).
fn seed_cases(db: &TestDb) {
    db.sql(
        r#"
        INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now());
        INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Web', 'u1');
        INSERT INTO "Status" (id, name, "systemName") VALUES (1, 'Untested', 'untested'), (2, 'Passed', 'passed'), (3, 'Untested (upper)', 'UNTESTED');
        INSERT INTO "RepositoryCases" (id, "projectId", name, source, "creatorId", "isArchived", "forecastManual", "forecastAutomated") VALUES
          (1, 1, 'c1', 'MANUAL', 'u1', false, NULL, NULL),
          (2, 1, 'c2', 'JUNIT', 'u1', false, NULL, NULL),
          (3, 1, 'c3', 'MANUAL', 'u1', false, NULL, NULL),
          (4, 1, 'c4', 'MANUAL', 'u1', false, 99, 9.0),
          (5, 1, 'c5', 'CUCUMBER', 'u1', false, NULL, NULL),
          (6, 1, 'c6', 'API', 'u1', false, 7, 7.0),
          (7, 1, 'c7', 'MANUAL', 'u1', true, NULL, NULL);
        -- c2 is c1 and c3 from another source; a deleted link and another link type count for nothing.
        INSERT INTO "RepositoryCaseLink" ("caseAId", "caseBId", type, "isDeleted", "createdById") VALUES
          (2, 1, 'SAME_TEST_DIFFERENT_SOURCE', false, 'u1'),
          (2, 3, 'SAME_TEST_DIFFERENT_SOURCE', false, 'u1'),
          (4, 5, 'SAME_TEST_DIFFERENT_SOURCE', true, 'u1'),
          (1, 4, 'DEPENDS_ON', false, 'u1');
        INSERT INTO "TestRuns" (id, "projectId", name, "isCompleted", "createdById", "forecastManual", "forecastAutomated") VALUES
          (1, 1, 'r1', false, 'u1', NULL, NULL), (2, 1, 'r2', false, 'u1', NULL, NULL), (3, 1, 'r3', true, 'u1', 5, 5.0);
        INSERT INTO "TestRunCases" (id, "testRunId", "repositoryCaseId", "statusId") VALUES
          (11, 1, 1, NULL), (13, 1, 3, 2), (14, 1, 4, 1), (15, 1, 5, 3), (22, 2, 2, NULL), (33, 3, 3, 2);
        INSERT INTO "TestRunResults" ("testRunId", "testRunCaseId", "statusId", "executedById", elapsed, "isDeleted") VALUES
          (1, 11, 2, 'u1', 30, false), (1, 11, 2, 'u1', 45, false), (1, 11, 2, 'u1', 999, true), (1, 11, 2, 'u1', 0, false),
          (3, 33, 2, 'u1', 61, false);
        INSERT INTO "JUnitTestSuite" (id, name, "testRunId", "createdById") VALUES (1, 'suite', 1, 'u1');
        INSERT INTO "JUnitTestResult" ("repositoryCaseId", time, "testSuiteId", "createdById") VALUES
          (2, 1.2345, 1, 'u1'), (2, 2.5, 1, 'u1'), (2, 0, 1, 'u1'), (5, 0.4, 1, 'u1'), (6, 9.9, 1, 'u1');
        "#,
    );
}

fn forecasts(db: &TestDb, table: &str) -> String {
    db.sql(&format!(
        r#"SELECT id, coalesce("forecastManual"::text, '-'), coalesce("forecastAutomated"::text, '-') FROM "{table}" ORDER BY id"#
    ))
}

#[test]
fn case_and_run_forecasts_match_the_hand_computed_figures() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    seed_cases(&db);
    let worker = start(&db, &server, &[]);

    // update-single-case-forecast for c1. Its group is {c1, c2} (the DEPENDS_ON link does not
    // count). Manual samples (c1's results, not deleted, > 0): 30, 45 → 37.5 → 38. Automated
    // (c2's JUnit times > 0): (1.2345 + 2.5) / 2 = 1.86725 → 1.867. Both written on c1 and c2.
    // Runs holding c1 or c2: r1 and r2, each starting with {c1, c2} as refreshed.
    //   r1 refreshes c3 (group {c2, c3}: manual 61 from r3, automated c2's 1.867 → c2 and c3
    //   = 61 / 1.867), c4 (alone: the link to c5 is deleted → NULL / NULL) and c5 (alone:
    //   0.4). Pending in r1: c1 (no status) and c5 ('UNTESTED'); c3 passed, and c4's
    //   'untested' is not 'UNTESTED' (TestPlanIt compares case-sensitively). r1 = 38 / 1.867 +
    //   0.4 = 2.267.
    //   r2 has only c2 (already refreshed), pending: r2 = c2's 61 / 1.867.
    let done = run_job(
        &server,
        "update-single-case-forecast",
        json!({"repositoryCaseId": 1}),
    );
    assert_eq!(
        done["returnvalue"],
        json!({"status": "completed", "successCount": 1, "failCount": 0})
    );
    assert_eq!(
        forecasts(&db, "RepositoryCases"),
        "1|38|1.867\n2|61|1.867\n3|61|1.867\n4|-|-\n5|-|0.4\n6|7|7\n7|-|-"
    );
    assert_eq!(forecasts(&db, "TestRuns"), "1|38|2.267\n2|61|1.867\n3|5|5");

    // update-all-cases-forecast. Active cases c1..c6 (c7 archived). Representatives, in id
    // order: c1 (covers c2), c3 (c2 already seen, one hop: c3 is not covered by c1), c4, c5,
    // c6 → 5 groups. Cases: {c1,c2} → 38 / 1.867; {c2,c3} → 61 / 1.867 on c2, c3; c4 NULL;
    // c5 0.4; c6 (API: no samples) NULL / NULL. Runs r1, r2, r3; r3 is completed and skipped.
    // Each open run refreshes its cases afresh:
    //   r1: c1 → {c1,c2} 38 / 1.867; c3 → {c2,c3} 61 / 1.867; c4; c5 → r1 = 38 / 2.267.
    //   r2: c2 → {c1,c2,c3}: manual 30, 45, 61 → 45.33 → 45, automated 1.867, written on
    //   c1, c2, c3 → r2 = 45 / 1.867.
    let done = run_job(&server, "update-all-cases-forecast", json!({}));
    assert_eq!(
        done["returnvalue"],
        json!({"status": "completed", "successCount": 5, "failCount": 0})
    );
    assert_eq!(
        forecasts(&db, "RepositoryCases"),
        "1|45|1.867\n2|45|1.867\n3|45|1.867\n4|-|-\n5|-|0.4\n6|-|-\n7|-|-"
    );
    assert_eq!(forecasts(&db, "TestRuns"), "1|38|2.267\n2|45|1.867\n3|5|5");
    worker.wait_for_line("Processed 5 unique case groups. Success: 5, Failed: 0");
    worker.wait_for_line("Updating 2 active test runs (skipped 1 completed)...");

    // A case that does not exist: nothing to do, completed. A non-number: failed, not retried.
    let done = run_job(
        &server,
        "update-single-case-forecast",
        json!({"repositoryCaseId": 404}),
    );
    assert_eq!(done["returnvalue"]["successCount"], 1);
    let bad = jobs::add(
        &server,
        "forecast-updates",
        "update-single-case-forecast",
        json!({"repositoryCaseId": "1"}),
        opts(),
    );
    let failed = jobs::wait_state(&server, "forecast-updates", &bad, "failed");
    assert_eq!(failed["attemptsMade"], 1);
    assert_eq!(
        failed["failedReason"],
        format!("Invalid data for job {bad}: repositoryCaseId missing or not a number.")
    );
    let bogus = jobs::add(&server, "forecast-updates", "bogus", json!({}), opts());
    let failed = jobs::wait_state(&server, "forecast-updates", &bogus, "failed");
    assert_eq!(failed["failedReason"], "Unknown job type: bogus");
    worker.stop_cleanly();
}

/// A stop during the nightly update: it ends before the next case group and the job goes back
/// to the front of the queue, no attempt spent; the next worker computes it all again.
#[test]
fn a_run_total_over_what_the_column_holds_fails_the_job_and_writes_nothing_wrapped() {
    // Two pending cases of 2,000,000,000 s each: 4e9 does not fit the int4 column. TestPlanIt's
    // write is refused and its job fails; so is ours, never a wrapped negative total.
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    db.sql(
        r#"
        INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now());
        INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Web', 'u1');
        INSERT INTO "Status" (id, name, "systemName") VALUES (2, 'Passed', 'passed');
        INSERT INTO "RepositoryCases" (id, "projectId", name, source, "creatorId", "isArchived") VALUES
          (1, 1, 'c1', 'MANUAL', 'u1', false), (2, 1, 'c2', 'MANUAL', 'u1', false);
        INSERT INTO "TestRuns" (id, "projectId", name, "isCompleted", "createdById") VALUES (1, 1, 'r1', false, 'u1');
        INSERT INTO "TestRunCases" (id, "testRunId", "repositoryCaseId", "statusId") VALUES (11, 1, 1, NULL), (12, 1, 2, NULL);
        INSERT INTO "TestRunResults" ("testRunId", "testRunCaseId", "statusId", "executedById", elapsed, "isDeleted") VALUES
          (1, 11, 2, 'u1', 2000000000, false), (1, 12, 2, 'u1', 2000000000, false);
        "#,
    );
    let worker = start(&db, &server, &[]);
    let id = jobs::add(
        &server,
        "forecast-updates",
        "update-single-case-forecast",
        json!({"repositoryCaseId": 1}),
        json!({"attempts": 1}),
    );
    let failed = jobs::wait_state(&server, "forecast-updates", &id, "failed");
    assert!(
        failed["failedReason"]
            .as_str()
            .is_some_and(|r| r.contains("out of range")),
        "{failed}"
    );
    assert_eq!(
        forecasts(&db, "RepositoryCases"),
        "1|2000000000|-\n2|2000000000|-"
    );
    assert_eq!(forecasts(&db, "TestRuns"), "1|-|-");
    worker.stop_cleanly();
}

#[test]
fn a_stop_hands_the_nightly_update_back_and_the_next_worker_finishes_it() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    seed_cases(&db);
    let mut worker = start(&db, &server, &[]);
    // Listing the groups reads cases and links; each group reads its results: held, the
    // worker waits inside the first group.
    let mut lock = pg::TableLock::take(&db, "TestRunResults");
    let id = jobs::add(
        &server,
        "forecast-updates",
        "update-all-cases-forecast",
        json!({}),
        opts(),
    );
    lock.wait_for_waiter(&db);
    worker.interrupt();
    lock.release();
    assert!(worker.wait_exit().success(), "{}", worker.log().join("\n"));
    worker.wait_for_line("forecast update interrupted after 1 of 5 case groups");
    let job = jobs::wait_state(&server, "forecast-updates", &id, "waiting");
    assert_eq!(job["attemptsMade"], 0, "{job}");

    let worker = start(&db, &server, &[]);
    let done = jobs::wait_state(&server, "forecast-updates", &id, "completed");
    assert_eq!(
        (&done["returnvalue"], &done["attemptsMade"]),
        (
            &json!({"status": "completed", "successCount": 5, "failCount": 0}),
            &json!(1)
        )
    );
    assert_eq!(
        forecasts(&db, "RepositoryCases"),
        "1|45|1.867\n2|45|1.867\n3|45|1.867\n4|-|-\n5|-|0.4\n6|-|-\n7|-|-"
    );
    worker.stop_cleanly();
}

fn seed_milestones(db: &TestDb) {
    db.sql(
        r#"
        INSERT INTO "User" (id, name, email, "updatedAt") VALUES
          ('u1', 'u1', 'u1@x', now()), ('u2', 'u2', 'u2@x', now()), ('u3', 'u3', 'u3@x', now()),
          ('u4', 'u4', 'u4@x', now()), ('u5', 'u5', 'u5@x', now()), ('u6', 'u6', 'u6@x', now());
        INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Web', 'u1');
        INSERT INTO "Status" (id, name, "systemName") VALUES (2, 'Passed', 'passed');
        INSERT INTO "Milestones" (id, "projectId", name, "automaticCompletion", "isCompleted", "isDeleted", "notifyDaysBefore", "completedAt", "createdBy") VALUES
          -- auto-complete-milestones: only 1 (automatic, due, open, not deleted).
          (1, 1, 'Due, automatic', true, false, false, 0, now() - interval '1 hour', 'u1'),
          (2, 1, 'Due, manual', false, false, false, 0, now() - interval '1 hour', 'u1'),
          (3, 1, 'Not due yet', true, false, false, 0, now() + interval '2 days', 'u1'),
          (4, 1, 'Deleted', true, false, true, 0, now() - interval '1 hour', 'u1'),
          -- milestone-due-notifications: 10 is due in 2 days and 1 hour (ceil → 3 ≤ 3), 11 is
          -- overdue by a day and an hour, 12 is due in 5 days (> 2), 13 has no notice period,
          -- 14 is completed.
          (10, 1, 'Alpha', false, false, false, 3, now() + interval '2 days 1 hour', 'u1'),
          (11, 1, 'Beta', false, false, false, 1, now() - interval '1 day 1 hour', 'u1'),
          (12, 1, 'Gamma', false, false, false, 2, now() + interval '5 days', 'u1'),
          (13, 1, 'Delta', false, false, false, 0, now() + interval '1 hour', 'u1'),
          (14, 1, 'Done', false, true, false, 3, now() + interval '1 hour', 'u1');
        -- Alpha's people: run 1 by u2 with a case for u3 and a (deleted) result by u4; session
        -- by u5 for u2. A deleted run and a deleted session (both by u6) do not count.
        INSERT INTO "RepositoryCases" (id, "projectId", name, "creatorId") VALUES (1, 1, 'c1', 'u1');
        INSERT INTO "TestRuns" (id, "projectId", name, "milestoneId", "createdById", "isDeleted") VALUES
          (1, 1, 'run', 10, 'u2', false), (2, 1, 'gone', 10, 'u6', true);
        INSERT INTO "TestRunCases" (id, "testRunId", "repositoryCaseId", "assignedToId") VALUES (1, 1, 1, 'u3'), (2, 2, 1, 'u6');
        INSERT INTO "TestRunResults" ("testRunId", "testRunCaseId", "statusId", "executedById", "isDeleted") VALUES
          (1, 1, 2, 'u4', true), (2, 2, 2, 'u6', false);
        INSERT INTO "Sessions" ("projectId", name, "milestoneId", "createdById", "assignedToId", "isDeleted") VALUES
          (1, 's', 10, 'u5', 'u2', false), (1, 'gone', 10, 'u6', 'u6', true);
        "#,
    );
}

#[test]
fn milestones_complete_and_remind_the_people_working_on_them() {
    let server = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    seed_milestones(&db);
    // Multi-tenant: the reminders must carry the job's own tenant.
    let tenants = json!({"acme": {"databaseUrl": db.url()}}).to_string();
    let worker = start(
        &db,
        &server,
        &[("MULTI_TENANT_MODE", "true"), ("TENANT_CONFIGS", &tenants)],
    );

    let done = run_job(
        &server,
        "auto-complete-milestones",
        json!({"tenantId": "acme"}),
    );
    assert_eq!(
        done["returnvalue"],
        json!({"status": "completed", "successCount": 1, "failCount": 0})
    );
    assert_eq!(
        db.sql(r#"SELECT id FROM "Milestones" WHERE "isCompleted" ORDER BY id"#),
        "1\n14"
    );
    worker.wait_for_line("Auto-completed milestone \"Due, automatic\" (ID: 1)");

    let done = run_job(
        &server,
        "milestone-due-notifications",
        json!({"tenantId": "acme"}),
    );
    // Alpha: u1 (creator), u2, u3, u4, u5; Beta: u1.
    assert_eq!(
        done["returnvalue"],
        json!({"status": "completed", "successCount": 6, "failCount": 0})
    );
    let mut queued = jobs::jobs(&server, "notifications", "waiting");
    queued.sort_by_key(|j| {
        (
            j["data"]["data"]["milestoneId"].as_i64().unwrap_or(0),
            j["data"]["userId"].as_str().unwrap_or("").to_string(),
        )
    });
    let who: Vec<(i64, &str)> = queued
        .iter()
        .map(|j| {
            (
                j["data"]["data"]["milestoneId"].as_i64().unwrap_or(0),
                j["data"]["userId"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            (10, "u1"),
            (10, "u2"),
            (10, "u3"),
            (10, "u4"),
            (10, "u5"),
            (11, "u1")
        ]
    );

    let date = |id: u32| {
        db.sql(&format!(
            r#"SELECT to_char("completedAt" AT TIME ZONE 'UTC', 'FMMM/FMDD/YYYY') FROM "Milestones" WHERE id = {id}"#
        ))
    };
    let iso = |id: u32| {
        db.sql(&format!(
            r#"SELECT to_char("completedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM "Milestones" WHERE id = {id}"#
        ))
    };
    let beta = &queued[5];
    assert_eq!(beta["name"], "create-notification");
    assert_eq!(
        beta["data"],
        json!({
            "userId": "u1", "type": "MILESTONE_DUE_REMINDER", "title": "Milestone Overdue",
            "message": format!("Milestone \"Beta\" in project \"Web\" was due on {}", date(11)),
            "relatedEntityId": "11", "relatedEntityType": "Milestone", "tenantId": "acme",
            "data": {"milestoneName": "Beta", "projectName": "Web", "projectId": 1, "milestoneId": 11,
                     "dueDate": iso(11), "isOverdue": true}
        })
    );
    assert_eq!(beta["opts"]["removeOnComplete"], true);
    assert_eq!(beta["opts"]["removeOnFail"], false);
    assert_eq!(beta["opts"]["attempts"], 3);
    let alpha = &queued[0];
    assert_eq!(alpha["data"]["title"], "Milestone Due Soon");
    assert_eq!(
        alpha["data"]["message"],
        format!(
            "Milestone \"Alpha\" in project \"Web\" is due on {}",
            date(10)
        )
    );
    assert_eq!(alpha["data"]["data"]["isOverdue"], false);

    // Without a tenant in multi-tenant mode the job fails with TestPlanIt's reason.
    let id = jobs::add(
        &server,
        "forecast-updates",
        "auto-complete-milestones",
        json!({}),
        json!({"attempts": 1}),
    );
    let failed = jobs::wait_state(&server, "forecast-updates", &id, "failed");
    assert_eq!(
        failed["failedReason"],
        "tenantId is required in multi-tenant mode"
    );
    worker.stop_cleanly();
}
