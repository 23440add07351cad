//! The sync worker end to end: Node bullmq adds `issue-sync` jobs as TestPlanIt's web app
//! does, `tp-worker sync` fetches from the tracker stand-ins (`support/trackers.py`: Jira
//! Cloud and Server, Atlassian OAuth, GitHub, Azure DevOps, speaking their public API shapes),
//! and the results are read back where the web app reads them: the `"Issue"` rows, the Valkey
//! cache entries and their TTLs, the search index (noida-db), the stand-in's request log
//! (auth headers, query strings, the one-second pace), and credentials encrypted by Node's
//! `crypto` as the web app encrypts them.

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

use std::process::Command;

use pg::TestDb;
use redis_server::RedisServer;
use search_server::{Kind, SearchServer};
use serde_json::{Value, json};
use trackers::Trackers;
use worker::Running;

const QUEUE: &str = "issue-sync";
const SCHEMA: [&str; 5] = [
    "users.sql",
    "projects.sql",
    "forecast.sql",
    "search.sql",
    "sync.sql",
];
const KEY: &str = "web-app-encryption-key";

/// The web app's options for `sync-issues`, but kept on completion so the result can be read.
fn sync_opts() -> Value {
    json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 2000}, "removeOnComplete": false, "removeOnFail": false})
}

/// TestPlanIt's scheme through Node's `crypto`.
fn node_crypto(op: &str, password: &str, value: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/crypto.cjs");
    let out = Command::new("node")
        .args([script, op, password, value])
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn redis_cli(redis: &RedisServer, args: &[&str]) -> String {
    let port = redis
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let out = Command::new("redis-cli")
        .args(["-p", &port, "--no-raw"])
        .args(args)
        .output()
        .expect("redis-cli");
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // --no-raw quotes strings and prefixes integers; take the value itself.
    if let Some(n) = s.strip_prefix("(integer) ") {
        return n.to_string();
    }
    serde_json::from_str::<String>(&s).unwrap_or(s)
}

/// A database with a user, two projects and `integrations` (SQL values for
/// `(id, name, provider, "authType", status, credentials, settings)`).
fn database(integrations: &str, issues: &str) -> TestDb {
    let db = TestDb::with_schema(&SCHEMA);
    db.sql(&format!(
        r#"INSERT INTO "User" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', now()), ('u2', 'Bob', 'bob@example.com', now());
           INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Payments', 'u1'), (2, 'Mobile', 'u1');
           INSERT INTO "Integration" (id, name, provider, "authType", status, credentials, settings, "updatedAt") VALUES {integrations};
           {issues}"#
    ));
    db
}

/// Integration 1: Jira Cloud with its API token stored in plain JSON.
fn plain_jira(trackers: &Trackers) -> String {
    format!(
        r#"(1, 'Acme Jira', 'JIRA', 'API_KEY', 'ACTIVE', '{{"email": "ada@example.com", "apiToken": "jira-token"}}', '{{"baseUrl": "{}"}}', now())"#,
        trackers.url("/jira")
    )
}

fn worker(db: &TestDb, redis: &RedisServer, extra: &[(&str, &str)]) -> Running {
    let url = db.url();
    let r = redis.url();
    let mut env = vec![
        ("DATABASE_URL", url.as_str()),
        ("VALKEY_URL", r.as_str()),
        ("ENCRYPTION_KEY", KEY),
    ];
    env.extend_from_slice(extra);
    let w = Running::start(&["sync"], &env);
    w.wait_for_line("Sync worker started");
    w
}

/// Stops the worker cleanly; none of `secrets` may appear in anything it logged.
fn stop_without_secrets(w: Running, secrets: &[&str]) {
    let (status, log) = w.stop_with_log();
    let log = log.join("\n");
    assert!(status.success(), "{status}:\n{log}");
    for s in secrets {
        assert!(!log.contains(s), "{s:?} in the log:\n{log}");
    }
}

fn row(db: &TestDb, id: i32) -> Vec<String> {
    db.sql(&format!(
        r#"SELECT name, title, description, status, priority, "externalId", "externalKey", "externalUrl",
                  "externalStatus", "issueTypeId", "issueTypeName", "issueTypeIconUrl", "lastSyncedAt" IS NOT NULL
           FROM "Issue" WHERE id = {id}"#
    ))
    .split('|')
    .map(str::to_string)
    .collect()
}

fn external_data(db: &TestDb, id: i32) -> Value {
    serde_json::from_str(&db.sql(&format!(
        r#"SELECT "externalData"::text FROM "Issue" WHERE id = {id}"#
    )))
    .expect("externalData is JSON")
}

const PAY_1_HTML: &str = concat!(
    r#"<h2>Steps for PAY-1</h2><p>Pay with <strong>card</strong><br><a href="https://docs.example/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">docs</a></p>"#,
    r#"<ul><li>open &lt;checkout&gt;</li></ul><pre><code class="language-js">if (a &lt; b) pay();</code></pre>"#,
    r#"<p><span class="mention">@Ada</span>:tada:</p><table><tr><th><p>Card</p></th><td><p>Visa</p></td></tr></table>"#
);

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
fn github_azure_and_jira_server_issues_refresh_in_a_tenants_database_and_index() {
    node_support::ensure_installed();
    let trackers = Trackers::start(0);
    let search = SearchServer::start(Kind::Elasticsearch);
    let gh = node_crypto("encrypt", KEY, r#"{"personalAccessToken":"gh-pat"}"#);
    let db = database(
        &format!(
            r#"(1, 'GitHub', 'GITHUB', 'PERSONAL_ACCESS_TOKEN', 'ACTIVE', '{{"encrypted": "{gh}"}}', '{{}}', now()),
               (2, 'Azure', 'AZURE_DEVOPS', 'PERSONAL_ACCESS_TOKEN', 'ACTIVE', '{{"personalAccessToken": "az-pat"}}', '{{"organizationUrl": "{az}", "project": "web"}}', now()),
               (3, 'Jira DC', 'JIRA', 'PERSONAL_ACCESS_TOKEN', 'ACTIVE', '{{"personalAccessToken": "server-pat"}}', '{{"baseUrl": "{js}", "deploymentType": "server"}}', now())"#,
            az = trackers.url("/azure/acme"),
            js = trackers.url("/jiraserver"),
        ),
        r#"INSERT INTO "Issue" (id, name, title, "externalId", "externalKey", "externalData", "externalUrl", "createdById", "projectId", "integrationId") VALUES
             (1, '#12', 'old', '12', '#12', '{"_github_owner": "acme", "_github_repo": "web"}', NULL, 'u1', 1, 1),
             (2, '#13', 'old', '13', '#13', NULL, 'https://github.com/acme/api/issues/13', 'u1', 1, 1),
             (3, '42', 'old', '42', '42', NULL, NULL, 'u1', 1, 2),
             (4, 'OPS-5', 'old', 'OPS-5', 'OPS-5', NULL, NULL, 'u1', 2, 3);"#,
    );
    let redis = RedisServer::start();
    let tenants =
        json!({"acme": {"databaseUrl": db.url(), "elasticsearchNode": search.url()}}).to_string();
    let w = worker(
        &db,
        &redis,
        &[
            ("MULTI_TENANT_MODE", "true"),
            ("TENANT_CONFIGS", &tenants),
            ("GITHUB_API_URL", &trackers.url("/github")),
        ],
    );
    let refresh = |integration: i32, issue: &str| {
        let id = jobs::add(
            &redis,
            QUEUE,
            "refresh-issue",
            json!({"userId": "u1", "integrationId": integration, "issueId": issue, "action": "refresh", "tenantId": "acme"}),
            json!({"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}, "removeOnComplete": false, "removeOnFail": false}),
        );
        jobs::wait_state(&redis, QUEUE, &id, "completed")["returnvalue"].clone()
    };
    // GitHub's primary rate limit used up: a 403 with remaining 0 is waited out until the reset.
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 2;
    trackers.fault(json!({"match": "/issues/12", "status": 403,
        "headers": {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset.to_string()},
        "body": {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com/rest/rate-limit"}}));
    assert_eq!(refresh(1, "12"), json!({"success": true}));
    let tries: Vec<f64> = trackers
        .requests("/issues/12")
        .iter()
        .filter_map(|r| r["t"].as_f64())
        .collect();
    assert_eq!(
        tries.len(),
        2,
        "the limited request and its retry after the reset"
    );
    assert!(
        tries[1] >= reset as f64,
        "retried {:.2} s before the reset",
        reset as f64 - tries[1]
    );
    assert_eq!(refresh(1, "#13"), json!({"success": true}));
    assert_eq!(refresh(2, "42"), json!({"success": true}));
    assert_eq!(refresh(3, "OPS-5"), json!({"success": true}));

    // GitHub: owner/repo from the stored data or address, `token` auth, a User-Agent, and
    // the null body of #13 stored as an empty description.
    let r = row(&db, 1);
    assert_eq!(
        (
            &r[0][..],
            &r[1][..],
            &r[2][..],
            &r[3][..],
            &r[4][..],
            &r[5][..],
            &r[6][..],
            &r[7][..]
        ),
        (
            "#12",
            "GitHub issue 12",
            "Body of **12**",
            "open",
            "medium",
            "12",
            "#12",
            "https://github.com/acme/web/issues/12"
        )
    );
    assert_eq!(
        external_data(&db, 2),
        json!({"_github_owner": "acme", "_github_repo": "api"})
    );
    assert_eq!(row(&db, 2)[2], "");
    let gh_log = trackers.requests("/github/");
    assert!(
        gh_log
            .iter()
            .any(|r| r["path"] == "/github/repos/acme/web/issues/12")
    );
    assert!(
        gh_log
            .iter()
            .any(|r| r["path"] == "/github/repos/acme/api/issues/13")
    );
    assert!(gh_log.iter().all(|r| {
        r["auth"] == "token gh-pat"
            && r["ua"]
                .as_str()
                .is_some_and(|u| u.starts_with("tp-worker/"))
    }));

    // Azure DevOps: Basic ":PAT", api-version 7.0 with $expand=all, tags and custom fields.
    let r = row(&db, 3);
    assert_eq!(
        (&r[1][..], &r[2][..], &r[3][..], &r[4][..]),
        (
            "Work item 42",
            "<div>Repro <b>steps</b></div>",
            "Active",
            "2"
        )
    );
    assert_eq!(
        r[7],
        format!("{}/web/_workitems/edit/42", trackers.url("/azure/acme"))
    );
    assert_eq!(
        external_data(&db, 3),
        json!({"System.AreaPath": "Acme\\Web"})
    );
    let az = trackers.requests("/_apis/wit/workitems/42");
    assert_eq!(az[0]["auth"], "Basic OmF6LXBhdA==");
    assert_eq!(az[0]["query"], "api-version=7.0&%24expand=all");
    let cached: Value =
        serde_json::from_str(&redis_cli(&redis, &["GET", "issue:2:42"])).expect("json");
    assert_eq!(cached["labels"], json!(["auth", "web"]));

    // Jira Server: REST v2 with the PAT as Bearer, the wiki text as it is.
    let r = row(&db, 4);
    assert_eq!(
        (&r[1][..], &r[2][..]),
        ("Summary of OPS-5", "h1. Steps for OPS-5\n*bold*")
    );
    assert!(
        trackers.requests("/jiraserver/rest/api/2/issue/OPS-5")[0]["auth"] == "Bearer server-pat"
    );

    // The tenant's index (its name prefixed), on the tenant's search server.
    search.request("POST", "/testplanit-acme-issues/_refresh", None);
    assert_eq!(
        search.ids("testplanit-acme-issues", json!({"match_all": {}})),
        [1, 2, 3, 4]
    );
    assert!(!search.exists("testplanit-issues"));

    // A GitHub issue with no repository anywhere cannot be refreshed, and says why.
    db.sql(r#"INSERT INTO "Issue" (id, name, title, "externalId", "createdById", "integrationId") VALUES (5, '#99', 'x', '99', 'u1', 1)"#);
    let id = jobs::add(
        &redis,
        QUEUE,
        "refresh-issue",
        json!({"userId": "u1", "integrationId": 1, "issueId": "99", "action": "refresh", "tenantId": "acme"}),
        json!({"attempts": 1}),
    );
    let failed = jobs::wait_state(&redis, QUEUE, &id, "failed");
    assert_eq!(
        failed["failedReason"],
        "Cannot determine GitHub repository for issue 99. Issue data is missing repository context."
    );
    w.stop_cleanly();
}

#[test]
fn an_expired_oauth_token_is_renewed_and_stored_encrypted() {
    node_support::ensure_installed();
    let trackers = Trackers::start(0);
    let db = database(
        r#"(1, 'Jira Cloud', 'JIRA', 'OAUTH2', 'ACTIVE', '{}', '{}', now())"#,
        r#"INSERT INTO "Issue" (id, name, title, "externalId", "externalKey", "createdById", "projectId", "integrationId") VALUES
             (1, 'PAY-3', 'old', 'PAY-3', 'PAY-3', 'u1', 1, 1);"#,
    );
    let access = node_crypto("encrypt", KEY, "access-1");
    let refresh = node_crypto("encrypt", KEY, "refresh-1");
    db.sql(&format!(
        r#"INSERT INTO "UserIntegrationAuth" (id, "userId", "integrationId", "accessToken", "refreshToken", "tokenExpiresAt", "updatedAt")
           VALUES ('auth1', 'u1', 1, '{access}', '{refresh}', (now() AT TIME ZONE 'UTC') - interval '5 minutes', now())"#
    ));
    let redis = RedisServer::start();
    let w = worker(
        &db,
        &redis,
        &[
            ("JIRA_CLIENT_ID", "cid"),
            ("JIRA_CLIENT_SECRET", "csecret"),
            (
                "JIRA_REDIRECT_URI",
                "https://testplanit.example/api/integrations/jira/callback",
            ),
            ("ATLASSIAN_API_URL", &trackers.url("/atlassian")),
            ("ATLASSIAN_AUTH_URL", &trackers.url("/atlassian-auth")),
        ],
    );
    let id = jobs::add(
        &redis,
        QUEUE,
        "sync-issues",
        json!({"userId": "u1", "integrationId": 1, "action": "sync", "data": {}}),
        sync_opts(),
    );
    let job = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(
        job["returnvalue"],
        json!({"synced": 1, "errors": []}),
        "{job}"
    );
    assert_eq!(row(&db, 1)[1], "Summary of PAY-3");
    assert_eq!(trackers.oauth_state()["renewals"], 1);

    // The new pair is stored encrypted in the web app's scheme: Node's crypto reads it.
    let stored = db.sql(
        r#"SELECT "accessToken", "refreshToken", "tokenExpiresAt" > (now() AT TIME ZONE 'UTC') + interval '50 minutes' FROM "UserIntegrationAuth" WHERE id = 'auth1'"#,
    );
    let parts: Vec<&str> = stored.split('|').collect();
    assert_eq!(node_crypto("decrypt", KEY, parts[0]), "access-2");
    assert_eq!(node_crypto("decrypt", KEY, parts[1]), "refresh-2");
    assert_eq!(parts[2], "t");
    let api = trackers.requests("/atlassian/ex/jira/");
    assert_eq!(
        api[0]["path"],
        "/atlassian/ex/jira/11223344-a1b2-3b33-c444-def123456789/rest/api/3/issue/PAY-3"
    );
    assert_eq!(api[0]["auth"], "Bearer access-2");

    // A token the tracker stops accepting mid-way is renewed once more and the fetch repeated.
    trackers.fault(json!({"match": "/rest/api/3/issue/PAY-3", "status": 401, "body": {"code": 401, "message": "Unauthorized"}}));
    let id = jobs::add(
        &redis,
        QUEUE,
        "refresh-issue",
        json!({"userId": "u1", "integrationId": 1, "issueId": "PAY-3", "action": "refresh"}),
        json!({"attempts": 1}),
    );
    assert_eq!(
        jobs::wait_state(&redis, QUEUE, &id, "completed")["returnvalue"],
        json!({"success": true})
    );
    assert_eq!(trackers.oauth_state()["renewals"], 2);
    let access = db.sql(r#"SELECT "accessToken" FROM "UserIntegrationAuth" WHERE id = 'auth1'"#);
    assert_eq!(node_crypto("decrypt", KEY, &access), "access-3");
    stop_without_secrets(w, &["refresh-1", "access-2"]);
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
fn bad_credentials_simple_url_and_bad_jobs_end_with_clear_errors() {
    node_support::ensure_installed();
    let trackers = Trackers::start(0);
    let wrong = node_crypto(
        "encrypt",
        "another-key",
        r#"{"email":"ada@example.com","apiToken":"jira-token"}"#,
    );
    let db = database(
        &format!(
            r#"(1, 'Wrong key', 'JIRA', 'API_KEY', 'ACTIVE', '{{"encrypted": "{wrong}"}}', '{{"baseUrl": "{jira}"}}', now()),
               (2, 'Corrupt', 'JIRA', 'API_KEY', 'ACTIVE', '{{"encrypted": "bm90IGEgYmxvYg=="}}', '{{"baseUrl": "{jira}"}}', now()),
               (3, 'Links', 'SIMPLE_URL', 'NONE', 'ACTIVE', '{{}}', '{{"baseUrl": "https://bugs.example/{{issueId}}"}}', now()),
               (4, 'Bad token', 'JIRA', 'API_KEY', 'ACTIVE', '{{"email": "ada@example.com", "apiToken": "nope"}}', '{{"baseUrl": "{jira}"}}', now()),
               (5, 'Off', 'JIRA', 'API_KEY', 'INACTIVE', '{{"email": "ada@example.com", "apiToken": "jira-token"}}', '{{"baseUrl": "{jira}"}}', now())"#,
            jira = trackers.url("/jira")
        ),
        r#"INSERT INTO "Issue" (id, name, title, "externalId", "createdById", "projectId", "integrationId") VALUES
             (1, 'BUG-1', 'kept as it is', 'BUG-1', 'u1', 1, 3);"#,
    );
    let redis = RedisServer::start();
    let w = worker(&db, &redis, &[]);
    let sync = |integration: i32, user: &str| {
        let id = jobs::add(
            &redis,
            QUEUE,
            "sync-issues",
            json!({"userId": user, "integrationId": integration, "action": "sync"}),
            sync_opts(),
        );
        jobs::wait_state(&redis, QUEUE, &id, "completed")["returnvalue"]["errors"].clone()
    };
    assert_eq!(
        sync(1, "u1"),
        json!([
            "Sync failed: cannot decrypt the credentials of integration \"Wrong key\" (id 1): it does not decrypt with this ENCRYPTION_KEY (a different key, or the value is damaged); check ENCRYPTION_KEY is the web app's"
        ])
    );
    assert_eq!(
        sync(2, "u1"),
        json!([
            "Sync failed: cannot decrypt the credentials of integration \"Corrupt\" (id 2): it is 10 bytes, shorter than salt, IV and tag (64 bytes); check ENCRYPTION_KEY is the web app's"
        ])
    );
    let simple = sync(3, "u1");
    assert!(
        simple[0].as_str().is_some_and(|e| e.contains("Simple URL")),
        "{simple}"
    );
    assert_eq!(
        row(&db, 1)[1],
        "kept as it is",
        "no invented data over a Simple URL issue"
    );
    assert_eq!(
        sync(4, "u1"),
        json!([
            "Sync failed: Jira API authentication failed: HTTP 401: Client must be authenticated to access this resource."
        ])
    );
    assert_eq!(
        sync(5, "u1"),
        json!(["Sync failed: Integration is not active: 5"])
    );
    assert_eq!(sync(1, "nobody"), json!(["Sync failed: User not found"]));
    assert_eq!(
        sync(99, "u1"),
        json!(["Sync failed: Integration not found"])
    );

    // Jobs that can never succeed fail at once, without retries.
    for (name, data, reason) in [
        (
            "sync-project-issues",
            json!({"userId": "u1", "integrationId": 4}),
            "Project ID is required for project sync",
        ),
        (
            "refresh-issue",
            json!({"userId": "u1", "integrationId": 4}),
            "Issue ID is required for issue refresh",
        ),
        (
            "create-issue",
            json!({"userId": "u1", "integrationId": 4}),
            "Issue data is required for issue creation",
        ),
        (
            "frobnicate",
            json!({"userId": "u1", "integrationId": 4}),
            "Unknown job type: frobnicate",
        ),
    ] {
        let id = jobs::add(&redis, QUEUE, name, data, json!({"attempts": 3}));
        let j = jobs::wait_state(&redis, QUEUE, &id, "failed");
        assert_eq!(
            (j["failedReason"].as_str(), j["attemptsMade"].as_u64()),
            (Some(reason), Some(1)),
            "{j}"
        );
    }
    let id = jobs::add(
        &redis,
        QUEUE,
        "create-issue",
        json!({"userId": "u1", "integrationId": 4, "action": "create", "data": {"title": "x"}}),
        json!({"attempts": 2, "backoff": {"type": "fixed", "delay": 1000}}),
    );
    assert_eq!(
        jobs::wait_state(&redis, QUEUE, &id, "completed")["returnvalue"],
        json!({"success": false, "error": "Not implemented"})
    );
    stop_without_secrets(w, &["jira-token", "nope"]);
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
    // Back in the queue for another try (its back-off), what was done kept.
    let job = jobs::wait_state(&redis, QUEUE, &id, "delayed");
    assert!(
        job["failedReason"]
            .as_str()
            .is_some_and(|r| r.starts_with("interrupted by a worker stop after")),
        "{job}"
    );
    let synced: u32 = db
        .sql(r#"SELECT count(*) FROM "Issue" WHERE "lastSyncedAt" IS NOT NULL"#)
        .parse()
        .expect("count");
    assert!((2..30).contains(&synced), "{synced} synced");
}
