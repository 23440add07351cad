//! The reindex tests' surroundings: the queue's job options, a TestPlanIt-shaped database
//! seeded with every entity type the indexer reads, the worker, and a job run to its end.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::jobs;
use crate::pg::TestDb;
use crate::redis_server::RedisServer;
use crate::worker::Running;

pub const QUEUE: &str = "elasticsearch-reindex";
pub const SCHEMA: [&str; 4] = ["users.sql", "projects.sql", "forecast.sql", "search.sql"];

/// The options TestPlanIt's queue adds reindex jobs with.
pub fn opts() -> Value {
    json!({"attempts": 1, "removeOnComplete": {"age": 604800, "count": 50}, "removeOnFail": {"age": 1209600}})
}

/// A TipTap document as PostgreSQL's jsonb gives it back (keys shortest first, then bytewise),
/// which is the order the web app, and so the worker, serialises it in.
pub fn tiptap(text: &str) -> String {
    json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"text": text, "type": "text"}]}]})
        .to_string()
}

/// Two live projects and a deleted one, with every entity type the indexer reads.
pub fn seed(db: &TestDb) {
    let t = tiptap;
    db.sql(&format!(
        r#"
        INSERT INTO "User" (id, name, email, image, "updatedAt") VALUES
          ('u1', 'Ada', 'ada@example.com', 'ada.png', now()), ('u2', 'Bob', 'bob@example.com', NULL, now());
        INSERT INTO "Projects" (id, name, "iconUrl", note, docs, "createdBy", "isDeleted", "createdAt") VALUES
          (1, 'Payments', 'pay.png', 'Card payments', NULL, 'u1', false, '2026-01-02T03:04:05.678Z'),
          (2, 'Mobile', NULL, NULL, NULL, 'u2', false, now()),
          (3, 'Legacy', NULL, NULL, NULL, 'u1', true, now());
        INSERT INTO "ColorFamily" (id, name, "order") VALUES (1, 'Reds', 0);
        INSERT INTO "Color" (id, "colorFamilyId", value, "order") VALUES (1, 1, '#ff0000', 0), (2, 1, '#00ff00', 1);
        INSERT INTO "FieldIcon" (id, name) VALUES (1, 'circle'), (2, 'star'), (3, 'flag');
        INSERT INTO "Workflows" (id, name, "iconId", "colorId", scope) VALUES (1, 'New', 1, 1, 'CASES'), (2, 'Active', 2, 2, 'RUNS');
        INSERT INTO "Templates" (id, "templateName", "isEnabled", "isDefault") VALUES (1, 'Default', true, true);
        INSERT INTO "MilestoneTypes" (id, name, "iconId") VALUES (1, 'Release', 3), (2, 'Sprint', NULL);
        INSERT INTO "Configurations" (id, name) VALUES (1, 'Chrome');
        INSERT INTO "Tags" (id, name) VALUES (1, 'smoke'), (2, 'regression'), (3, 'ui');
        INSERT INTO "Repositories" (id, "projectId") VALUES (1, 1), (2, 2);
        INSERT INTO "RepositoryFolders" (id, "projectId", "repositoryId", "parentId", name, "creatorId") VALUES
          (1, 1, 1, NULL, 'Root', 'u1'), (2, 1, 1, 1, 'Checkout', 'u1'), (3, 1, 1, 2, 'Cards', 'u1'),
          (4, 2, 2, NULL, 'Home', 'u2');
        INSERT INTO "CaseFieldTypes" (id, type) VALUES (1, 'Checkbox'), (2, 'Date'), (3, 'Number'),
          (4, 'Multi-Select'), (5, 'Select'), (6, 'Text String'), (7, 'Text Long'), (8, 'Link'), (9, 'Dropdown');
        INSERT INTO "CaseFields" (id, "displayName", "systemName", "typeId") VALUES
          (1, 'Reviewed', 'reviewed', 1), (2, 'Due', 'due', 2), (3, 'Points', 'points', 3),
          (4, 'Platforms', 'platforms', 4), (5, 'Priority', 'priority', 5), (6, 'Owner', 'owner', 6),
          (7, 'Notes', 'notes', 7), (8, 'Spec', 'spec', 8), (9, 'Risk', 'risk', 9);
        INSERT INTO "FieldOptions" (id, name, "iconId", "iconColorId", "order") VALUES
          (1, 'Web', 1, 1, 0), (2, 'iOS', NULL, NULL, 1), (3, 'High', 2, 2, 0), (4, 'Low', NULL, NULL, 1), (5, 'Severe', 3, NULL, 0);
        INSERT INTO "CaseFieldAssignment" ("fieldOptionId", "caseFieldId") VALUES (1, 4), (2, 4), (3, 5), (4, 5), (5, 9);
        INSERT INTO "SharedStepGroup" (id, name, "projectId", "createdById", "updatedAt") VALUES (1, 'Login as admin', 1, 'u1', now());
        INSERT INTO "SharedStepItem" ("sharedStepGroupId", "order", step, "expectedResult", "updatedAt") VALUES
          (1, 0, '{open_login}', '{form_shown}', now()), (1, 1, '{enter_password}', '{dashboard}', now());
        INSERT INTO "RepositoryCases" (id, "projectId", "repositoryId", "folderId", "templateId", name, "className",
            "stateId", estimate, "creatorId", "isDeleted", "isArchived", "forecastAutomated") VALUES
          (101, 1, 1, 3, 1, 'Pay with card', 'CardSpec', 1, 60, 'u1', false, false, 1.5),
          (102, 1, 1, 2, 1, 'Refund order', NULL, 1, NULL, 'u2', true, false, NULL),
          (103, 1, 1, 2, 1, 'Old flow', NULL, 1, NULL, 'u1', false, true, NULL),
          (201, 2, 2, 4, 1, 'Open app', NULL, 1, NULL, 'u2', false, false, NULL);
        INSERT INTO "_RepositoryCasesToTags" ("A", "B") VALUES (101, 1), (101, 3), (201, 1);
        INSERT INTO "Steps" (id, "testCaseId", "order", step, "expectedResult", "sharedStepGroupId", "isDeleted") VALUES
          (1001, 101, 0, '{add_item}', '{cart_has}', NULL, false),
          (1002, 101, 1, NULL, NULL, 1, false),
          (1003, 101, 2, '{ignored}', NULL, NULL, true);
        INSERT INTO "CaseFieldValues" ("testCaseId", "fieldId", value) VALUES
          (101, 1, 'true'), (101, 2, '"2026-03-04"'), (101, 3, '8'), (101, 4, '[1]'), (101, 5, '3'),
          (101, 6, '"Carol"'), (101, 7, '{notes}'), (101, 8, '"https://spec.test/pay"'), (101, 9, '5'),
          (101, 6, '""');
        INSERT INTO "Milestones" (id, "projectId", "parentId", "milestoneTypesId", name, note, "createdBy", "isCompleted", "completedAt") VALUES
          (401, 1, NULL, 1, 'Release 1.0', '{release_note}', 'u1', false, '2026-06-30T00:00:00Z'),
          (402, 1, 401, 2, 'Beta', NULL, 'u2', true, NULL);
        INSERT INTO "TestRuns" (id, "projectId", name, note, "configId", "milestoneId", "stateId", "createdById", "isDeleted") VALUES
          (301, 1, 'Sprint 1 regression', '{nightly}', 1, 401, 2, 'u1', false),
          (302, 1, 'Old run', NULL, NULL, NULL, 2, 'u1', true),
          (303, 2, 'Mobile smoke', NULL, NULL, NULL, 2, 'u2', false);
        INSERT INTO "_TagsToTestRuns" ("A", "B") VALUES (2, 301);
        INSERT INTO "Sessions" (id, "projectId", "templateId", name, mission, "stateId", "assignedToId", "createdById") VALUES
          (501, 1, 1, 'Explore checkout', '{edge_cases}', 1, 'u2', 'u1');
        INSERT INTO "_SessionsToTags" ("A", "B") VALUES (501, 3);
        INSERT INTO "Integration" (id, name, provider, "authType", credentials, "updatedAt") VALUES
          (1, 'Jira Cloud', 'JIRA', 'API_KEY', '{{}}', now());
        INSERT INTO "Issue" (id, name, title, "externalId", data, "createdById", "projectId", "integrationId") VALUES
          (601, 'PAY-1', 'Card declined', 'PAY-1', '{{"url": "https://jira.test/PAY-1"}}', 'u1', 1, 1),
          (602, 'BUG-7', 'Crash on start', NULL, NULL, 'u2', NULL, NULL),
          (603, 'MOB-3', 'Slow start', 'MOB-3', NULL, 'u2', 2, 1),
          (604, 'ORPHAN', 'Linked to nothing', NULL, NULL, 'u1', NULL, NULL),
          (605, 'VIA-CASE', 'Found through a case', NULL, NULL, 'u1', NULL, NULL);
        INSERT INTO "_IssueToTestRuns" ("A", "B") VALUES (602, 301);
        INSERT INTO "_IssueToRepositoryCases" ("A", "B") VALUES (605, 101);
        "#,
        open_login = sql_json(&t("Open login")),
        form_shown = sql_json(&t("Form shown")),
        enter_password = sql_json(&t("Enter password")),
        dashboard = sql_json(&t("Dashboard")),
        add_item = sql_json(&t("Add item to cart")),
        cart_has = sql_json(&t("Cart has 1 item")),
        ignored = sql_json(&t("Deleted step")),
        notes = sql_json(&t("Needs a 3DS card")),
        release_note = sql_json(&t("First public release")),
        nightly = sql_json(&t("Nightly run")),
        edge_cases = sql_json(&t("Find edge cases")),
    ));
}

/// Text for inside a single-quoted SQL literal.
pub fn sql_json(s: &str) -> String {
    s.replace('\'', "''")
}

pub fn start_worker(db_url: &str, redis: &RedisServer, extra: &[(&str, &str)]) -> Running {
    let url = redis.url();
    let mut env = vec![("DATABASE_URL", db_url), ("VALKEY_URL", url.as_str())];
    env.extend_from_slice(extra);
    let w = Running::start(&["elasticsearch-reindex"], &env);
    w.wait_for_line("Elasticsearch reindex worker started for queue \"elasticsearch-reindex\"");
    w
}

/// A private Valkey, a seeded database and the worker writing to search server `node`.
pub fn seeded_worker(node: &str) -> (RedisServer, TestDb, Running) {
    let redis = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    seed(&db);
    let worker = start_worker(&db.url(), &redis, &[("ELASTICSEARCH_NODE", node)]);
    (redis, db, worker)
}

/// Adds a reindex of everything as the admin page does; returns its id.
pub fn add_reindex_all(redis: &RedisServer) -> String {
    jobs::add(
        redis,
        QUEUE,
        "reindex",
        json!({"entityType": "all", "userId": "u1"}),
        opts(),
    )
}

/// Adds a reindex job as the web app does; waits for it to finish; returns it as Node sees
/// it with its log lines.
pub fn reindex(redis: &RedisServer, name: &str, data: Value) -> (Value, Vec<String>) {
    let id = jobs::add(redis, QUEUE, name, data, opts());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = jobs::job(redis, QUEUE, &id);
        if j["state"] == "completed" || j["state"] == "failed" {
            return (j, jobs::logs(redis, QUEUE, &id));
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
