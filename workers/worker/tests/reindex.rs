//! The Elasticsearch reindex worker end to end, on both search servers we can run here
//! (noida-db as Elasticsearch 8.15, osmem-server as OpenSearch 3): Node bullmq adds `reindex`
//! jobs as TestPlanIt's admin page does, `tp-worker elasticsearch-reindex` indexes a
//! TestPlanIt-shaped PostgreSQL database, and the documents are searched back (`_search`,
//! `_count`, `_mapping`), never read from our own requests. Also: a project filter with a
//! tenant's index names and search server, a document the server refuses, the search server
//! going away mid-run, and the bad inputs that must fail a job.

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
#[path = "support/test_servers.rs"]
mod test_servers;
#[path = "support/worker.rs"]
mod worker;

use std::time::{Duration, Instant};

use pg::TestDb;
use redis_server::RedisServer;
use search_server::{BOTH, Kind, SearchServer};
use serde_json::{Value, json};
use worker::Running;

const QUEUE: &str = "elasticsearch-reindex";
const SCHEMA: [&str; 4] = ["users.sql", "projects.sql", "forecast.sql", "search.sql"];

/// The options TestPlanIt's queue adds reindex jobs with.
fn opts() -> Value {
    json!({"attempts": 1, "removeOnComplete": {"age": 604800, "count": 50}, "removeOnFail": {"age": 1209600}})
}

/// A TipTap document as PostgreSQL's jsonb gives it back (keys shortest first, then bytewise),
/// which is the order the web app, and so the worker, serialises it in.
fn tiptap(text: &str) -> String {
    json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"text": text, "type": "text"}]}]})
        .to_string()
}

/// Two live projects and a deleted one, with every entity type the indexer reads.
fn seed(db: &TestDb) {
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
fn sql_json(s: &str) -> String {
    s.replace('\'', "''")
}

fn start_worker(db_url: &str, redis: &RedisServer, extra: &[(&str, &str)]) -> Running {
    let url = redis.url();
    let mut env = vec![("DATABASE_URL", db_url), ("VALKEY_URL", url.as_str())];
    env.extend_from_slice(extra);
    let w = Running::start(&["elasticsearch-reindex"], &env);
    w.wait_for_line("Elasticsearch reindex worker started for queue \"elasticsearch-reindex\"");
    w
}

/// A private Valkey, a seeded database and the worker writing to search server `node`.
fn seeded_worker(node: &str) -> (RedisServer, TestDb, Running) {
    let redis = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    seed(&db);
    let worker = start_worker(&db.url(), &redis, &[("ELASTICSEARCH_NODE", node)]);
    (redis, db, worker)
}

/// Adds a reindex job as the web app does; waits for it to finish; returns it as Node sees
/// it with its log lines.
fn reindex(redis: &RedisServer, name: &str, data: Value) -> (Value, Vec<String>) {
    let id = jobs::add(redis, QUEUE, name, data, opts());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = jobs::job(redis, QUEUE, &id);
        if j["state"] == "completed" || j["state"] == "failed" {
            return (j, logs(redis, &id));
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn logs(redis: &RedisServer, id: &str) -> Vec<String> {
    let v = node_support::node_last("inspect.cjs", &[&redis.url(), QUEUE, "logs", "-", id], &[]);
    v["logs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect()
}

fn field<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["customFields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["fieldName"] == name))
        .unwrap_or_else(|| panic!("no custom field {name} in {doc}"))
}

fn indexes_every_entity_type(kind: Kind) {
    let search = SearchServer::start(kind);
    let (redis, _db, worker) = seeded_worker(&search.url());

    let (job, log) = reindex(
        &redis,
        "reindex",
        json!({"entityType": "all", "userId": "u1"}),
    );
    assert_eq!(job["state"], "completed", "{job}\n{log:#?}");
    assert_eq!(
        job["returnvalue"],
        json!({"success": true, "totalDocuments": 17, "results": {
            "projects": 3, "repositoryCases": 3, "sharedSteps": 1, "testRuns": 3,
            "sessions": 1, "issues": 4, "milestones": 2}})
    );
    assert_eq!(job["progress"], 100);
    assert_eq!(
        log.first().map(String::as_str),
        Some("Starting reindex operation...")
    );
    assert_eq!(
        log.last().map(String::as_str),
        Some("Reindex completed successfully!")
    );
    for line in [
        "Initializing Elasticsearch indexes...",
        "Found 2 projects to process",
        "Indexing projects...",
        "Processing project: Payments",
        "Syncing 2 repository cases for project Payments",
        "Syncing 2 cases for project 1...",
        "Indexed 2/2 cases...",
        "Successfully synced 2 cases to Elasticsearch",
        "Syncing 1 shared steps for project Payments",
        "Syncing 2 test runs for project Payments",
        "Syncing 3 issues for project Payments",
        "Completed project: Mobile",
    ] {
        assert!(
            log.iter().any(|l| l == line),
            "no log line {line:?}: {log:#?}"
        );
    }

    // Every index exists with its mapping, and holds what was indexed.
    for (index, n) in [
        ("testplanit-projects", 3),
        ("testplanit-repository-cases", 3),
        ("testplanit-shared-steps", 1),
        ("testplanit-test-runs", 3),
        ("testplanit-sessions", 1),
        ("testplanit-issues", 4),
        ("testplanit-milestones", 2),
    ] {
        assert_eq!(search.count(index), n, "{index}");
    }
    let m = search.mapping("testplanit-repository-cases");
    assert_eq!(m["steps"]["type"], "nested");
    assert_eq!(m["tags"]["type"], "nested");
    assert_eq!(m["customFields"]["type"], "nested");
    assert_eq!(m["name"]["fields"]["suggest"]["type"], "completion");
    assert_eq!(m["folderPath"]["type"], "keyword");
    assert_eq!(
        search.mapping("testplanit-test-runs")["tags"]["type"],
        "nested"
    );
    assert_eq!(
        search.mapping("testplanit-issues")["externalId"]["type"],
        "keyword"
    );
    assert_eq!(
        search.mapping("testplanit-milestones")["dueDate"]["type"],
        "date"
    );
    assert_eq!(
        search.mapping("testplanit-shared-steps")["items"]["type"],
        "nested"
    );
    assert_eq!(
        search.mapping("testplanit-projects")["iconUrl"]["type"],
        "keyword"
    );

    // The case: folder path, lookups, tags, steps with the shared group expanded, custom
    // fields of every type.
    let cases = "testplanit-repository-cases";
    let c = search.doc(cases, 101);
    assert_eq!(c["folderPath"], "/Root/Checkout/Cards");
    assert_eq!(c["projectName"], "Payments");
    assert_eq!(c["projectIconUrl"], "pay.png");
    assert_eq!(c["templateName"], "Default");
    assert_eq!(
        (&c["stateName"], &c["stateIcon"], &c["stateColor"]),
        (&json!("New"), &json!("circle"), &json!("#ff0000"))
    );
    assert_eq!(
        (&c["creatorName"], &c["creatorImage"]),
        (&json!("Ada"), &json!("ada.png"))
    );
    assert_eq!(
        c["tags"],
        json!([{"id": 1, "name": "smoke"}, {"id": 3, "name": "ui"}])
    );
    let steps: Vec<(i64, String, bool)> = c["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap_or(0),
                s["step"].as_str().unwrap_or("").to_string(),
                s["isSharedStep"] == true,
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (1001, "Add item to cart".into(), false),
            (1_002_000, "Open login".into(), true),
            (1_002_001, "Enter password".into(), true),
        ]
    );
    assert_eq!(c["steps"][1]["sharedStepGroupName"], "Login as admin");
    assert_eq!(field(&c, "Reviewed")["valueBoolean"], true);
    assert_eq!(field(&c, "Due")["valueDate"], "2026-03-04T00:00:00.000Z");
    assert_eq!(field(&c, "Points")["valueNumeric"], 8.0);
    assert_eq!(field(&c, "Platforms")["valueArray"], json!(["1"]));
    assert_eq!(
        field(&c, "Platforms")["fieldOptions"][0]["icon"]["name"],
        "circle"
    );
    assert_eq!(field(&c, "Priority")["fieldOption"]["name"], "High");
    assert_eq!(
        field(&c, "Priority")["fieldOption"]["iconColor"]["value"],
        "#00ff00"
    );
    assert_eq!(field(&c, "Risk")["fieldOption"]["name"], "Severe");
    assert_eq!(field(&c, "Owner")["valueKeyword"], "Carol");
    assert_eq!(field(&c, "Notes")["value"], "Needs a 3DS card");
    assert_eq!(field(&c, "Spec")["valueKeyword"], "https://spec.test/pay");
    // The empty Owner value is dropped: nine fields, not ten.
    assert_eq!(c["customFields"].as_array().map(Vec::len), Some(9));
    assert_eq!(
        c["searchableContent"],
        "Pay with card CardSpec smoke ui true 2026-03-04T00:00:00.000Z 8 Web High Carol Needs a 3DS card https://spec.test/pay 5 \
         Add item to cart Cart has 1 item Open login Form shown Login as admin Enter password Dashboard Login as admin"
            .replace("true 2026", "Reviewed 2026")
            .replace(" 5 Add", " Severe Add")
    );
    // Searching works the way the web app searches: nested steps, custom field options, the
    // English stop words; the deleted case is there (filtered by permission at search time),
    // the archived one is not.
    assert_eq!(
        search.ids(
            cases,
            json!({"nested": {"path": "steps", "query": {"match": {"steps.step": "password"}}}})
        ),
        vec![101]
    );
    assert_eq!(
        search.ids(cases, json!({"nested": {"path": "customFields", "query": {"term": {"customFields.fieldOption.name": "High"}}}})),
        vec![101]
    );
    assert_eq!(
        search.ids(cases, json!({"match": {"searchableContent": "severe"}})),
        vec![101]
    );
    assert_eq!(
        search.ids(cases, json!({"match": {"name": "card"}})),
        vec![101]
    );
    // "with" is an English stop word: the index's analyzer drops it.
    assert!(
        search
            .ids(cases, json!({"match": {"name": "with"}}))
            .is_empty()
    );
    assert_eq!(search.doc(cases, 102)["isDeleted"], true);
    assert!(search.ids(cases, json!({"term": {"id": 103}})).is_empty());
    assert_eq!(search.doc(cases, 201)["folderPath"], "/Home");

    let g = search.doc("testplanit-shared-steps", 1);
    assert_eq!(g["items"][0]["step"], tiptap("Open login"));
    assert_eq!(
        g["searchableContent"],
        "Login as admin Open login Form shown Enter password Dashboard"
    );
    assert_eq!(g["createdByName"], "Ada");

    let r = search.doc("testplanit-test-runs", 301);
    assert_eq!(r["note"], "Nightly run");
    assert_eq!(
        (&r["configurationName"], &r["milestoneName"]),
        (&json!("Chrome"), &json!("Release 1.0"))
    );
    assert_eq!(
        (&r["stateName"], &r["testRunType"]),
        (&json!("Active"), &json!("REGULAR"))
    );
    assert_eq!(r["tags"], json!([{"id": 2, "name": "regression"}]));
    assert_eq!(
        r["searchableContent"],
        "Sprint 1 regression Nightly run  regression"
    );
    assert!(
        r.get("configurationName").is_some()
            && search
                .doc("testplanit-test-runs", 302)
                .get("configurationName")
                .is_none()
    );
    assert_eq!(search.doc("testplanit-test-runs", 302)["isDeleted"], true);

    let s = search.doc("testplanit-sessions", 501);
    assert_eq!(
        (&s["assignedToName"], &s["mission"]),
        (&json!("Bob"), &json!("Find edge cases"))
    );
    assert_eq!(s["templateName"], "Default");

    let ms = search.doc("testplanit-milestones", 401);
    assert_eq!(
        (&ms["milestoneTypeName"], &ms["milestoneTypeIcon"]),
        (&json!("Release"), &json!("flag"))
    );
    assert_eq!(ms["completedAt"], "2026-06-30T00:00:00.000Z");
    assert_eq!(ms["note"], "First public release");
    let beta = search.doc("testplanit-milestones", 402);
    assert_eq!(
        (&beta["parentId"], &beta["parentName"]),
        (&json!(401), &json!("Release 1.0"))
    );
    // TestPlanIt leaves createdByName out of milestones; we carry it.
    assert_eq!(beta["createdByName"], "Bob");
    assert!(beta.get("milestoneTypeIcon").is_none());

    let issues = "testplanit-issues";
    let i = search.doc(issues, 601);
    assert_eq!(
        (&i["url"], &i["issueSystem"]),
        (&json!("https://jira.test/PAY-1"), &json!("Jira Cloud"))
    );
    assert_eq!(
        i["searchableContent"],
        "PAY-1 Card declined  PAY-1  Jira Cloud"
    );
    let linked = search.doc(issues, 602);
    assert_eq!(
        (&linked["projectId"], &linked["issueSystem"]),
        (&json!(1), &json!("Unknown"))
    );
    assert_eq!(search.doc(issues, 605)["projectName"], "Payments");
    assert_eq!(search.doc(issues, 603)["projectName"], "Mobile");
    assert!(search.ids(issues, json!({"term": {"id": 604}})).is_empty());

    let p = search.doc("testplanit-projects", 1);
    assert_eq!(p["createdAt"], "2026-01-02T03:04:05.678Z");
    assert_eq!(
        (&p["note"], &p["createdByName"]),
        (&json!("Card payments"), &json!("Ada"))
    );
    assert_eq!(search.doc("testplanit-projects", 3)["isDeleted"], true);

    // Reindexing again replaces the documents (same ids), it does not add to them.
    let (again, _) = reindex(
        &redis,
        "reindex-after-import-imp1",
        json!({"entityType": "all", "userId": "u1"}),
    );
    assert_eq!(again["state"], "completed");
    assert_eq!(search.count(cases), 3);
    worker.stop_cleanly();
}

#[test]
fn indexes_every_entity_type_on_elasticsearch() {
    indexes_every_entity_type(Kind::Elasticsearch);
}

#[test]
fn indexes_every_entity_type_on_opensearch() {
    indexes_every_entity_type(Kind::OpenSearch);
}

/// One project for a tenant: its database, its search server and its index names; the other
/// project and the unprefixed indices are left alone.
#[test]
fn a_tenants_project_goes_to_the_tenants_indices() {
    for kind in BOTH {
        let search = SearchServer::start(kind);
        let redis = RedisServer::start();
        let db = TestDb::with_schema(&SCHEMA);
        seed(&db);
        let tenants = json!({"acme": {"databaseUrl": db.url(), "elasticsearchNode": search.url()}})
            .to_string();
        let worker = start_worker(
            "postgres://nobody@127.0.0.1:1/none",
            &redis,
            &[
                ("MULTI_TENANT_MODE", "true"),
                ("TENANT_CONFIGS", &tenants),
                // The tenant's own server wins over the global one (which is not there).
                ("ELASTICSEARCH_NODE", "http://127.0.0.1:1"),
            ],
        );
        let (job, log) = reindex(
            &redis,
            "reindex",
            json!({"entityType": "all", "projectId": 2, "userId": "u1", "tenantId": "acme"}),
        );
        assert_eq!(job["state"], "completed", "{kind:?} {job}\n{log:#?}");
        assert_eq!(
            job["returnvalue"]["results"],
            json!({"projects": 1, "repositoryCases": 1, "sharedSteps": 0, "testRuns": 1,
                   "sessions": 0, "issues": 1, "milestones": 0})
        );
        assert!(log.iter().any(|l| l == "Found 1 projects to process"));
        assert_eq!(
            search.ids("testplanit-acme-projects", json!({"match_all": {}})),
            vec![2]
        );
        assert_eq!(
            search.ids("testplanit-acme-repository-cases", json!({"match_all": {}})),
            vec![201]
        );
        assert_eq!(
            search.ids("testplanit-acme-issues", json!({"match_all": {}})),
            vec![603]
        );
        // Every requested index was created with its mapping, even those left empty.
        assert_eq!(
            search.mapping("testplanit-acme-sessions")["tags"]["type"],
            "nested"
        );
        assert!(!search.exists("testplanit-repository-cases"));

        // One entity type only.
        let (job, _) = reindex(
            &redis,
            "reindex",
            json!({"entityType": "milestones", "projectId": 1, "userId": "u1", "tenantId": "acme"}),
        );
        assert_eq!(job["returnvalue"]["totalDocuments"], 2, "{job}");
        assert_eq!(job["returnvalue"]["results"]["milestones"], 2, "{job}");
        assert_eq!(search.count("testplanit-acme-milestones"), 2);
        worker.stop_cleanly();
    }
}

/// An index created earlier with another mapping refuses some documents: they are tried once
/// more, then counted, their reason logged, and the job fails; the rest is indexed.
#[test]
fn documents_the_server_refuses_fail_the_job_with_their_reason() {
    for kind in BOTH {
        let search = SearchServer::start(kind);
        let (status, v) = search.request(
            "PUT",
            "/testplanit-issues",
            Some(&json!({"mappings": {"properties": {"externalId": {"type": "integer"}}}})),
        );
        assert_eq!(status, 200, "{v}");
        let (redis, _db, worker) = seeded_worker(&search.url());
        let (job, log) = reindex(
            &redis,
            "reindex",
            json!({"entityType": "all", "userId": "u1"}),
        );
        assert_eq!(job["state"], "failed", "{kind:?} {job}");
        let reason = job["failedReason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("2 of 17 documents could not be indexed (first: issues 601: "),
            "{reason}"
        );
        assert!(reason.contains("externalId"), "{reason}");
        assert!(
            log.iter()
                .any(|l| l.starts_with("Could not index issue 601 (status 400)")),
            "{log:#?}"
        );
        assert!(
            log.iter()
                .any(|l| l.starts_with("Could not index issue 603 (status 400)")),
            "{log:#?}"
        );
        assert!(
            log.iter().any(|l| l == "1 issues could not be indexed"),
            "{log:#?}"
        );
        assert!(
            log.last().is_some_and(|l| l.starts_with("Error: 2 of 17")),
            "{log:#?}"
        );
        assert!(!log.iter().any(|l| l == "Reindex completed successfully!"));
        // What the server took is there: the issues without an external id, and the rest.
        assert_eq!(
            search.ids("testplanit-issues", json!({"match_all": {}})),
            vec![602, 605]
        );
        assert_eq!(search.count("testplanit-repository-cases"), 3);
        worker.stop_cleanly();
    }
}

/// The search server dies while the worker is between two steps: the job fails, naming the
/// server and the reason, after trying again; nothing reports success.
#[test]
fn the_search_server_going_away_mid_run_fails_the_job() {
    for kind in BOTH {
        let mut search = SearchServer::start(kind);
        let (redis, db, worker) = seeded_worker(&search.url());
        // The case step reads "Tags", the projects step does not: hold the table so the worker
        // stops inside the case step, after writing the projects.
        let mut lock = pg::TableLock::take(&db, "Tags");
        let id = jobs::add(
            &redis,
            QUEUE,
            "reindex",
            json!({"entityType": "all", "userId": "u1"}),
            opts(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'Tags' AND NOT l.granted",
        ) != "1"
        {
            assert!(Instant::now() < deadline, "the worker never waited for Tags: {:?}", logs(&redis, &id));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(search.count("testplanit-projects"), 3);
        search.kill();
        lock.release();
        let deadline = Instant::now() + Duration::from_secs(60);
        let job = loop {
            let j = jobs::job(&redis, QUEUE, &id);
            if j["state"] == "failed" || j["state"] == "completed" {
                break j;
            }
            assert!(Instant::now() < deadline, "job did not end: {j}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(job["state"], "failed", "{kind:?} {job}");
        let reason = job["failedReason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&format!("search server http://127.0.0.1:{}", search.port))
                && reason.contains("unreachable")
                && reason.contains("after 4 tries"),
            "{reason}"
        );
        let log = logs(&redis, &id);
        assert!(
            log.last()
                .is_some_and(|l| l.starts_with("Error: search server")),
            "{log:#?}"
        );
        assert!(worker.log().iter().any(|l| l.contains("trying again in")));
        worker.stop_cleanly();
    }
}

/// No search server configured, an unreachable one, a payload that is not a reindex request,
/// a project that is not there: each fails its job with a message that says so.
#[test]
fn bad_input_fails_the_job_clearly() {
    let redis = RedisServer::start();
    let db = TestDb::with_schema(&SCHEMA);
    seed(&db);
    let worker = start_worker(&db.url(), &redis, &[]);
    let (job, log) = reindex(
        &redis,
        "reindex",
        json!({"entityType": "all", "userId": "u1"}),
    );
    assert_eq!(job["state"], "failed");
    assert_eq!(
        job["failedReason"],
        "Elasticsearch is not configured or unavailable"
    );
    assert_eq!(
        log,
        vec!["Error: Elasticsearch is not configured or unavailable"]
    );
    worker.stop_cleanly();

    let search = SearchServer::start(Kind::OpenSearch);
    let worker = start_worker(&db.url(), &redis, &[("ELASTICSEARCH_NODE", &search.url())]);
    let (job, _) = reindex(
        &redis,
        "reindex",
        json!({"entityType": "everything", "userId": "u1"}),
    );
    assert_eq!(job["state"], "failed");
    assert!(
        job["failedReason"]
            .as_str()
            .is_some_and(|r| r.starts_with("malformed payload: unknown variant `everything`")),
        "{job}"
    );
    let (job, log) = reindex(
        &redis,
        "reindex",
        json!({"entityType": "all", "projectId": 999, "userId": "u1"}),
    );
    assert_eq!(
        job["failedReason"],
        "project 999 does not exist or is deleted: nothing to reindex"
    );
    assert!(
        log.iter()
            .any(|l| l == "Error: project 999 does not exist or is deleted: nothing to reindex")
    );
    // A deleted project is no project to reindex either.
    let (job, _) = reindex(
        &redis,
        "reindex",
        json!({"entityType": "all", "projectId": 3, "userId": "u1"}),
    );
    assert_eq!(job["state"], "failed");
    worker.stop_cleanly();

    let worker = start_worker(
        &db.url(),
        &redis,
        &[("ELASTICSEARCH_NODE", "http://elastic:s3cret@127.0.0.1:1")],
    );
    let (job, _) = reindex(
        &redis,
        "reindex",
        json!({"entityType": "projects", "userId": "u1"}),
    );
    let reason = job["failedReason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("search server http://127.0.0.1:1 unreachable while trying to check index testplanit-projects"),
        "{reason}"
    );
    assert!(!reason.contains("s3cret"));
    worker.stop_cleanly();
}
