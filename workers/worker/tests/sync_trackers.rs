//! The sync worker against each tracker: single-issue refreshes on GitHub, Azure DevOps and
//! Jira Server in a tenant's database and index, Jira OAuth tokens renewed and stored
//! encrypted (read back with Node's `crypto`), and the bad credentials, integrations and jobs
//! that must end with clear errors and no secret in the log.

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
