//! The Elasticsearch reindex worker end to end, on both search servers we can run here
//! (noida-db as Elasticsearch 8.15, osmem-server as OpenSearch 3): Node bullmq adds `reindex`
//! jobs as TestPlanIt's admin page does, `tp-worker elasticsearch-reindex` indexes a
//! TestPlanIt-shaped PostgreSQL database, and the documents are searched back (`_search`,
//! `_count`, `_mapping`), never read from our own requests. Also a project filter with a
//! tenant's index names and search server. What goes wrong is in reindex_failures.rs.

#[path = "support/jobs.rs"]
mod jobs;
#[path = "../../bullmq/tests/support/node.rs"]
mod node_support;
#[path = "support/pg.rs"]
mod pg;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "support/reindex_env.rs"]
mod reindex_env;
#[path = "support/search_server.rs"]
mod search_server;
#[path = "support/test_servers.rs"]
mod test_servers;
#[path = "support/worker.rs"]
mod worker;

use pg::TestDb;
use redis_server::RedisServer;
use reindex_env::*;
use search_server::{BOTH, Kind, SearchServer};
use serde_json::{Value, json};

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
