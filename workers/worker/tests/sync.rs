//! The sync worker end to end, bulk syncs: Node bullmq adds `issue-sync` jobs as TestPlanIt's
//! web app does, `tp-worker sync` fetches from the tracker stand-ins (`support/trackers.py`,
//! speaking the trackers' public API shapes), and the results are read back where the web app
//! reads them: the `"Issue"` rows, the Valkey cache entries and their TTLs, the search index
//! (noida-db), the stand-in's request log (auth headers, query strings, the one-second pace).
//! Refreshes, OAuth and credentials are in `sync_trackers.rs`.

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
#[path = "support/trackers.rs"]
mod trackers;
#[path = "support/worker.rs"]
mod worker;

#[path = "support/sync_env.rs"]
mod sync_env;

use redis_server::RedisServer;
use search_server::{Kind, SearchServer};
use serde_json::{Value, json};
use sync_env::*;
use trackers::Trackers;

#[test]
fn a_jira_bulk_sync_updates_rows_cache_and_index_at_one_request_a_second() {
    node_support::ensure_installed();
    let trackers = Trackers::start(0);
    let search = SearchServer::start(Kind::Elasticsearch);
    let credentials = node_crypto(
        "encrypt",
        KEY,
        r#"{"email":"ada@example.com","apiToken":"jira-token"}"#,
    );
    let db = database(
        &format!(
            r#"(1, 'Acme Jira', 'JIRA', 'API_KEY', 'ACTIVE', '{{"encrypted": "{credentials}"}}', '{{"baseUrl": "{}"}}', now())"#,
            trackers.url("/jira")
        ),
        r#"INSERT INTO "Issue" (id, name, title, "externalId", "externalKey", "createdById", "projectId", "integrationId") VALUES
             (1, 'PAY-1', 'old title', 'PAY-1', 'PAY-1', 'u1', 1, 1),
             (2, 'PAY-2', 'old', NULL, 'PAY-2', 'u1', 1, 1),
             (3, 'PAY-404', 'gone', 'PAY-404', 'PAY-404', 'u1', 1, 1),
             (4, 'PAY-9', 'other project', 'PAY-9', 'PAY-9', 'u1', 2, 1);"#,
    );
    let redis = RedisServer::start();
    let node = search.url();
    let w = worker(&db, &redis, &[("ELASTICSEARCH_NODE", &node)]);

    let id = jobs::add(
        &redis,
        QUEUE,
        "sync-project-issues",
        json!({"userId": "u1", "integrationId": 1, "projectId": "1", "action": "sync", "data": {"includeMetadata": true}}),
        sync_opts(),
    );
    let job = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(
        job["returnvalue"],
        json!({"synced": 2, "errors": ["Failed to sync issue PAY-404: HTTP 404: Issue does not exist or you do not have permission to see it."]}),
        "{job}"
    );
    assert_eq!(
        job["progress"],
        json!({"current": 3, "total": 3, "percentage": 100, "message": "Syncing issue 3 of 3"})
    );

    // Every mapped column, the description as HTML from ADF.
    let base = trackers.url("/jira");
    assert_eq!(
        row(&db, 1),
        [
            "PAY-1",
            "Summary of PAY-1",
            PAY_1_HTML,
            "In Progress",
            "High",
            "10001",
            "PAY-1",
            &format!("{base}/browse/PAY-1"),
            "In Progress",
            "10004",
            "Bug",
            &format!("{base}/images/bug.svg"),
            "t"
        ]
    );
    assert_eq!(
        external_data(&db, 1),
        json!({"customfield_10020": [{"id": 4, "name": "Sprint 4", "state": "active"}]})
    );
    assert_eq!(
        row(&db, 2)[5],
        "10002",
        "found by its key, stored with its id"
    );
    assert_eq!(row(&db, 3)[1], "gone", "the failed issue is left alone");
    assert_eq!(
        row(&db, 4)[1],
        "other project",
        "another project's issue is not synced"
    );

    // The cache entries, byte for byte as the web app's IssueCache writes them, with their TTLs.
    let cached = redis_cli(&redis, &["GET", "issue:1:10001"]);
    let cached_at = serde_json::from_str::<Value>(&cached).expect("cache JSON")["cachedAt"]
        .as_str()
        .expect("cachedAt")
        .to_string();
    let description = serde_json::to_string(PAY_1_HTML).expect("json");
    assert_eq!(
        cached,
        format!(
            r#"{{"id":"10001","key":"PAY-1","title":"Summary of PAY-1","description":{description},"status":"In Progress","priority":"High","issueType":{{"id":"10004","name":"Bug","iconUrl":"{base}/images/bug.svg"}},"assignee":{{"id":"5b10ac8d82e05b22cc7d4ef5","name":"Ada Lovelace","email":"ada@example.com"}},"reporter":{{"id":"5b10ac8d82e05b22cc7d4ef6","name":"Bob"}},"labels":["payments","n1"],"customFields":{{"customfield_10020":[{{"id":4,"name":"Sprint 4","state":"active"}}]}},"createdAt":"2024-01-15T10:30:00.000Z","updatedAt":"2024-01-16T10:00:00.000Z","url":"{base}/browse/PAY-1","integrationId":1,"cachedAt":"{cached_at}"}}"#
        )
    );
    let ttl: u64 = redis_cli(&redis, &["TTL", "issue:1:10001"])
        .parse()
        .expect("ttl");
    assert!((3_500..=3_600).contains(&ttl), "TTL {ttl}");
    assert!(redis_cli(&redis, &["GET", "issue:1:10002"]).contains("Summary of PAY-2"));
    assert_eq!(
        redis_cli(&redis, &["GET", "issue-metadata:1"]),
        r#"{"projects":[{"id":"10000","key":"PAY","name":"Payments"}]}"#
    );
    let ttl: u64 = redis_cli(&redis, &["TTL", "issue-metadata:1"])
        .parse()
        .expect("ttl");
    assert!((7_100..=7_200).contains(&ttl), "TTL {ttl}");

    // Indexed into the issues index and found by a search for its new title.
    search.request("POST", "/testplanit-issues/_refresh", None);
    let hits = search.search(
        "testplanit-issues",
        json!({"match": {"title": "Summary PAY-2"}}),
    );
    assert_eq!(
        hits.iter().map(|h| h["id"].clone()).collect::<Vec<_>>(),
        [json!(1), json!(2)]
    );
    assert_eq!(hits[0]["issueSystem"], "Acme Jira");

    // Basic auth on every request, the query Node sends, and at least 1 s between starts.
    let log = trackers.requests("/jira/");
    let paths: Vec<&str> = log.iter().filter_map(|r| r["path"].as_str()).collect();
    assert_eq!(
        paths,
        [
            "/jira/rest/api/3/myself",
            "/jira/rest/api/3/issue/PAY-1",
            "/jira/rest/api/3/issue/PAY-2",
            "/jira/rest/api/3/issue/PAY-404",
            "/jira/rest/api/3/project/search"
        ]
    );
    assert!(log.iter().all(
        |r| r["auth"] == "Basic YWRhQGV4YW1wbGUuY29tOmppcmEtdG9rZW4="
            && r["accept"] == "application/json"
    ));
    assert_eq!(
        log[1]["query"],
        "fields=summary%2Cdescription%2Cstatus%2Cpriority%2Cissuetype%2Cassignee%2Creporter%2Clabels%2Ccreated%2Cupdated&expand=names%2Cschema"
    );
    let times: Vec<f64> = log.iter().filter_map(|r| r["t"].as_f64()).collect();
    for pair in times.windows(2) {
        // Arrival times at the stand-in; the worker spaces the starts by 1 s.
        assert!(
            pair[1] - pair[0] >= 0.95,
            "requests {:.3} s apart",
            pair[1] - pair[0]
        );
    }

    // A whole-integration sync as the web app adds it (removed on completion) reaches PAY-9.
    let id = jobs::add(
        &redis,
        QUEUE,
        "sync-issues",
        json!({"userId": "u1", "integrationId": 1, "action": "sync", "data": {}}),
        json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 2000}, "removeOnComplete": true, "removeOnFail": false}),
    );
    jobs::wait_gone(&redis, QUEUE, &id);
    assert_eq!(row(&db, 4)[1], "Summary of PAY-9");
    let log = w.log().join("\n");
    assert!(log.contains("Synced 3 issues successfully"), "{log}");
    stop_without_secrets(w, &["jira-token"]);
}

#[test]
fn transient_answers_are_retried_and_waited_for_final_ones_are_not() {
    node_support::ensure_installed();
    let trackers = Trackers::start(0);
    let db = database(
        &plain_jira(&trackers),
        r#"INSERT INTO "Issue" (id, name, title, "externalId", "createdById", "projectId", "integrationId") VALUES
             (1, 'PAY-1', 'a', 'PAY-1', 'u1', 1, 1), (2, 'PAY-2', 'b', 'PAY-2', 'u1', 1, 1),
             (3, 'PAY-3', 'c', 'PAY-3', 'u1', 1, 1), (4, 'PAY-4', 'd', 'PAY-4', 'u1', 1, 1);"#,
    );
    let redis = RedisServer::start();
    // PAY-1: 429 asking for 3 s, then a 500; PAY-2: a 403 (final); PAY-3: a slow answer;
    // PAY-4: the connection dropped without an answer, once.
    trackers.fault(json!({"match": "/issue/PAY-1", "status": 429, "headers": {"Retry-After": "3"}, "body": {"errorMessages": ["Rate limit exceeded."]}}));
    trackers.fault(
        json!({"match": "/issue/PAY-1", "status": 500, "body": {"errorMessages": ["Internal server error"]}}),
    );
    trackers.fault(json!({"match": "/issue/PAY-2", "status": 403, "body": {"errorMessages": ["You do not have permission to see this issue."], "errors": {}}}));
    trackers.fault(json!({"match": "/issue/PAY-3", "delay": 2.5}));
    trackers.fault(json!({"match": "/issue/PAY-4", "drop": true}));
    let w = worker(&db, &redis, &[("SYNC_REQUEST_TIMEOUT_MS", "10000")]);
    let id = jobs::add(
        &redis,
        QUEUE,
        "sync-issues",
        json!({"userId": "u1", "integrationId": 1, "action": "sync"}),
        sync_opts(),
    );
    let job = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(
        job["returnvalue"],
        json!({"synced": 3, "errors": ["Failed to sync issue PAY-2: HTTP 403: You do not have permission to see this issue."]}),
        "{job}"
    );
    let pay1 = trackers.requests("/issue/PAY-1");
    assert_eq!(pay1.len(), 3, "429, 500, then the answer");
    let t: Vec<f64> = pay1.iter().filter_map(|r| r["t"].as_f64()).collect();
    assert!(
        t[1] - t[0] >= 2.9,
        "Retry-After 3 s waited: {:.2} s",
        t[1] - t[0]
    );
    assert!(
        t[2] - t[1] >= 0.95,
        "back-off after the 500: {:.2} s",
        t[2] - t[1]
    );
    assert_eq!(
        trackers.requests("/issue/PAY-2").len(),
        1,
        "a 403 is not retried"
    );
    assert_eq!(
        row(&db, 3)[1],
        "Summary of PAY-3",
        "a slow answer within the timeout is used"
    );
    assert_eq!(row(&db, 4)[1], "Summary of PAY-4");
    assert_eq!(
        trackers.requests("/issue/PAY-4").len(),
        2,
        "a dropped connection is tried again"
    );
    w.stop_cleanly();
}

#[test]
fn a_stop_hands_a_long_sync_back_to_the_queue_between_two_issues() {
    node_support::ensure_installed();
    let trackers = Trackers::start(0);
    let values: Vec<String> = (1..=30)
        .map(|n| format!("({n}, 'PAY-{n}', 'old', 'PAY-{n}', 'u1', 1, 1)"))
        .collect();
    let db = database(
        &plain_jira(&trackers),
        &format!(
            r#"INSERT INTO "Issue" (id, name, title, "externalId", "createdById", "projectId", "integrationId") VALUES {};"#,
            values.join(", ")
        ),
    );
    let redis = RedisServer::start();
    let w = worker(&db, &redis, &[]);
    let id = jobs::add(
        &redis,
        QUEUE,
        "sync-issues",
        json!({"userId": "u1", "integrationId": 1, "action": "sync"}),
        sync_opts(),
    );
    // Two issues in (a second apiece), the worker is told to stop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db.sql(r#"SELECT count(*) FROM "Issue" WHERE "lastSyncedAt" IS NOT NULL"#) != "2" {
        assert!(
            std::time::Instant::now() < deadline,
            "the sync never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (status, log) = w.stop_with_log();
    let log = log.join("\n");
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("interrupted after"), "{log}");
    // Back at the front of the queue, no attempt spent, what was done kept; the job's log
    // (the admin page's) says why.
    let job = jobs::wait_state(&redis, QUEUE, &id, "waiting");
    assert_eq!(job["attemptsMade"], 0, "{job}");
    let logs = jobs::logs(&redis, QUEUE, &id);
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Sync interrupted by a worker stop after")),
        "{logs:?}"
    );
    let synced: u32 = db
        .sql(r#"SELECT count(*) FROM "Issue" WHERE "lastSyncedAt" IS NOT NULL"#)
        .parse()
        .expect("count");
    assert!((2..30).contains(&synced), "{synced} synced");
}
