//! The Testmo import's import mode end to end, as the web app drives it: the export uploaded
//! to a real S3-compatible server and analysed by the worker (part 1), the mapping
//! configuration stored and the job set READY → RUNNING as `POST …/import` does, the
//! `import` job added by Node bullmq; then TestPlanIt's tables (the whole schema, built from
//! `schema.prisma`) read back table by table. Failures, resumption, cancels and stops are in
//! testmo_import_recovery.rs.

// The export fixture is one large `json!` literal.
#![recursion_limit = "512"]

#[path = "support/jobs.rs"]
mod jobs;
#[path = "../../bullmq/tests/support/node.rs"]
mod node_support;
#[path = "support/pg.rs"]
mod pg;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "support/s3_server.rs"]
mod s3_server;
#[path = "support/testmo_export.rs"]
mod testmo_export;
#[path = "support/testmo_import_env.rs"]
mod testmo_import_env;
#[path = "support/worker.rs"]
mod worker;

use serde_json::{Value, json};
use testmo_import_env::Env;

#[test]
fn an_export_is_imported_into_every_table() {
    let env = Env::new();
    let w = env.worker(&[("TESTMO_REPOSITORY_CASE_CHUNK_SIZE", "2")]);
    let row = env.imported("imp1");
    assert_eq!(
        (&row["status"], &row["phase"], &row["statusMessage"]),
        (
            &json!("COMPLETED"),
            &Value::Null,
            &json!("Import completed successfully.")
        ),
        "{row}"
    );
    assert!(row["durationMs"].is_number() && row["completedAt"].is_string());
    assert_eq!(row["processedCount"], row["totalCount"]);

    // Configuration: mapped, created, or mapped by name where the name existed.
    assert_eq!(env.db.sql(r#"SELECT string_agg(name || ':' || scope || ':' || "workflowType", ',' ORDER BY id) FROM "Workflows""#), "Draft:CASES:NOT_STARTED,Active:RUNS:IN_PROGRESS,Review:CASES:IN_PROGRESS");
    assert_eq!(env.db.sql(r#"SELECT name || ':' || "systemName" || ':' || "colorId" || ':' || "isFailure" FROM "Status" WHERE id > 10"#), "Blocked:blocked:2:true");
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "StatusScopeAssignment" WHERE "statusId" > 10"#),
        2,
        "every scope when none chosen"
    );
    assert_eq!(
        env.db
            .sql(r#"SELECT string_agg(name, ',' ORDER BY id) FROM "Tags""#),
        "smoke,regression",
        "smoke existed"
    );
    assert_eq!(env.db.sql(r#"SELECT string_agg(r.name || ':' || p.area || ':' || p."canAddEdit", ',') FROM "Roles" r JOIN "RolePermission" p ON p."roleId" = r.id"#), "Tester:TestRuns:true");
    assert_eq!(env.db.sql(r#"SELECT c.name || '/' || cat.name || '/' || v.name FROM "ConfigurationConfigVariant" l JOIN "Configurations" c ON c.id = l."configurationId" JOIN "ConfigVariants" v ON v.id = l."variantId" JOIN "ConfigCategories" cat ON cat.id = v."categoryId""#), "Browsers/Browser/Chrome");
    assert_eq!(
        env.db
            .sql(r#"SELECT string_agg("templateName", ',' ORDER BY id) FROM "Templates""#),
        "Default,Exploratory,Legacy"
    );
    assert_eq!(
        env.db.sql(r#"SELECT string_agg(f."systemName" || ':' || t.type, ',' ORDER BY f.id) FROM "CaseFields" f JOIN "CaseFieldTypes" t ON t.id = f."typeId""#),
        "preconditions:Text Long,priority:Dropdown,platforms:Multi-Select"
    );
    assert_eq!(env.db.sql(r#"SELECT string_agg(o.name || ':' || o."isDefault", ',' ORDER BY o."order") FROM "FieldOptions" o JOIN "CaseFieldAssignment" a ON a."fieldOptionId" = o.id JOIN "CaseFields" f ON f.id = a."caseFieldId" WHERE f."systemName" = 'priority'"#), "High:true,Low:false");
    assert_eq!(env.db.sql(r#"SELECT string_agg(t."templateName" || ':' || f."systemName", ',' ORDER BY t.id) FROM "TemplateCaseAssignment" a JOIN "Templates" t ON t.id = a."templateId" JOIN "CaseFields" f ON f.id = a."caseFieldId""#), "Exploratory:preconditions,Exploratory:priority,Legacy:preconditions");
    assert_eq!(
        env.db.sql(r#"SELECT "systemName" FROM "ResultFields""#),
        "build"
    );

    // Users: created with a bcrypt hash of the configured password, or mapped by email.
    let (hash, verified, creator): (String, String, String) = {
        let r = env.json(r#"SELECT json_build_array(password, "emailVerified" IS NOT NULL, "createdById")::text FROM "User" WHERE email = 'nina@example.com'"#);
        (
            r[0].as_str().unwrap_or_default().into(),
            r[1].to_string(),
            r[2].as_str().unwrap_or_default().into(),
        )
    };
    assert!(
        bcrypt::verify("s3cret-pass", &hash).unwrap_or(false) && hash.starts_with("$2b$10$"),
        "{hash}"
    );
    assert_eq!((verified.as_str(), creator.as_str()), ("true", "admin"));
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "User""#),
        3,
        "Ursula mapped by email, not created again"
    );
    assert_eq!(
        env.db
            .sql(r#"SELECT string_agg("userId", ',' ORDER BY "userId") FROM "GroupAssignment""#)
            .split(',')
            .count(),
        2
    );
    let stored = &row["configuration"]["users"];
    assert_eq!(
        (&stored["1"]["password"], &stored["1"]["action"]),
        (&Value::Null, &json!("map")),
        "no password stored: {stored}"
    );
    assert_eq!(stored["2"]["mappedTo"], "ursula");

    // Projects: one created (with its assignments and link docs), one mapped by name.
    let p = env.json(r#"SELECT row_to_json(p)::text FROM "Projects" p WHERE name = 'Web Shop'"#);
    assert_eq!(
        (&p["note"], &p["createdBy"]),
        (
            &json!("Main product"),
            &json!(
                env.db
                    .sql("SELECT id FROM \"User\" WHERE email = 'nina@example.com'")
            )
        )
    );
    let docs: Value = serde_json::from_str(p["docs"].as_str().unwrap_or("null")).expect("docs");
    assert_eq!(
        docs["content"][0]["content"][0]["marks"][0]["attrs"]["href"],
        "https://wiki.test/shop"
    );
    assert_eq!(docs["content"][0]["content"][1]["text"], " (team)");
    assert_eq!(docs["content"].as_array().map(Vec::len), Some(2));
    let pid = p["id"].as_i64().unwrap_or_default();
    assert_eq!(
        env.count(&format!(
            r#"SELECT count(*) FROM "ProjectStatusAssignment" WHERE "projectId" = {pid}"#
        )),
        2
    );
    assert_eq!(
        env.count(&format!(
            r#"SELECT count(*) FROM "TemplateProjectAssignment" WHERE "projectId" = {pid}"#
        )),
        3,
        "Default (mapped, and the default), Exploratory, Legacy"
    );
    assert_eq!(env.count(r#"SELECT count(*) FROM "Projects""#), 2);

    // Milestones: parent and root linked though the child came first; the orphan skipped; notes as TipTap.
    let m = env.json(r#"SELECT json_agg(json_build_array(m.name, p.name, m."rootId" = p.id, m.note #>> '{}', m.docs #>> '{}') ORDER BY m.id)::text FROM "Milestones" m LEFT JOIN "Milestones" p ON p.id = m."parentId""#);
    assert_eq!(m[0][0], "Sprint 1");
    assert_eq!((&m[0][1], &m[0][2]), (&json!("Release 1.0"), &json!(true)));
    let note: Value = serde_json::from_str(m[0][3].as_str().unwrap_or("null")).expect("note");
    assert_eq!(
        note["content"][0]["content"][1],
        json!({"type": "text", "text": "sprint", "marks": [{"type": "bold"}]})
    );
    let mdocs: Value =
        serde_json::from_str(m[1][4].as_str().unwrap_or("null")).expect("milestone docs");
    assert_eq!(mdocs["content"][0]["content"][0]["text"], "Notes");
    assert_eq!(m.as_array().map(Vec::len), Some(2));

    // Repository and folders: one repository; the cycle attached to the root.
    assert_eq!(
        env.count(&format!(
            r#"SELECT count(*) FROM "Repositories" WHERE "projectId" = {pid}"#
        )),
        1
    );
    assert_eq!(
        env.db.sql(r#"SELECT string_agg(f.name || '<' || coalesce(p.name, '-'), ',' ORDER BY f.name) FROM "RepositoryFolders" f LEFT JOIN "RepositoryFolders" p ON p.id = f."parentId" WHERE f.name IN ('Web', 'Checkout', 'Loop A', 'Loop B')"#),
        "Checkout<Web,Loop A<Loop B,Loop B<Web,Web<-"
    );

    // Cases: three created (the duplicate name mapped, the orphan skipped), each with version 1.
    let c = env.json(r#"SELECT json_agg(json_build_array(c.name, f.name, t."templateName", w.name, c."className", c.estimate, c."currentVersion") ORDER BY c.id)::text
                       FROM "RepositoryCases" c JOIN "RepositoryFolders" f ON f.id = c."folderId" JOIN "Templates" t ON t.id = c."templateId" JOIN "Workflows" w ON w.id = c."stateId" WHERE c.source = 'MANUAL'"#);
    assert_eq!(
        c,
        json!([
            [
                "Pay by card",
                "Checkout",
                "Exploratory",
                "Review",
                "shop.pay.card",
                90000,
                1
            ],
            ["Search", "Web", "Legacy", "Draft", null, null, 1],
            ["Unfiled", "Web", "Default", "Draft", null, null, 1]
        ])
    );
    let v = env.json(r#"SELECT row_to_json(v)::text FROM "RepositoryCaseVersions" v JOIN "RepositoryCases" c ON c.id = v."repositoryCaseId" WHERE c."className" = 'shop.pay.card'"#);
    assert_eq!(
        (
            &v["version"],
            &v["folderName"],
            &v["templateName"],
            &v["stateName"],
            &v["staticProjectName"]
        ),
        (
            &json!(1),
            &json!("Checkout"),
            &json!("Exploratory"),
            &json!("Review"),
            &json!("Web Shop")
        )
    );
    // The version snapshots the case's own steps; the step a step result needed comes later.
    assert_eq!(
        v["steps"].as_array().map(Vec::len),
        Some(2),
        "{}",
        v["steps"]
    );
    assert_eq!(
        v["steps"][1]["step"]["content"][0]["content"],
        json!([{"type": "text", "text": "Pay 4111 1111"}]),
        "text and <data> in one paragraph, as ProseMirror reads an unknown inline element"
    );
    assert_eq!(
        env.db.sql(r#"SELECT string_agg(s."order"::text, ',' ORDER BY s."order") FROM "Steps" s JOIN "RepositoryCases" c ON c.id = s."testCaseId" WHERE c."className" = 'shop.pay.card'"#),
        "1,2,3"
    );
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "RepositoryCaseVersions""#),
        5,
        "three manual cases and two automation cases"
    );
    let values = env.json(r#"SELECT json_object_agg(f."systemName", cv.value)::text FROM "CaseFieldValues" cv JOIN "CaseFields" f ON f.id = cv."fieldId" JOIN "RepositoryCases" c ON c.id = cv."testCaseId" WHERE c."className" = 'shop.pay.card'"#);
    let high = env.count(r#"SELECT o.id FROM "FieldOptions" o WHERE name = 'High'"#);
    let linux = env.count(r#"SELECT o.id FROM "FieldOptions" o WHERE name = 'Linux'"#);
    let macos = env.count(r#"SELECT o.id FROM "FieldOptions" o WHERE name = 'macOS'"#);
    assert_eq!(
        (&values["priority"], &values["platforms"]),
        (&json!(high), &json!([linux, macos])),
        "{values}"
    );
    let pre: Value = serde_json::from_str(values["preconditions"].as_str().unwrap_or("null"))
        .expect("text long as JSON text");
    assert_eq!(pre["content"][1]["type"], "bulletList");
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "CaseFieldVersionValues""#),
        3,
        "the version holds the case's three values"
    );
    assert!(
        env.db
            .sql(r#"SELECT "activityLog"::text FROM "TestmoImportJob""#)
            .contains("Unrecognized dropdown option")
    );
    assert_eq!(env.db.sql(r#"SELECT string_agg(t.name, ',' ORDER BY t.name) FROM "_RepositoryCasesToTags" j JOIN "Tags" t ON t.id = j."B""#), "regression,smoke");

    // Runs, run cases, tags, results, step results.
    let r = env.json(r#"SELECT json_agg(json_build_array(r.name, m.name, c.name, w.name, r.elapsed, r."isCompleted", r.note #>> '{}' IS NOT NULL) ORDER BY r.id)::text
                       FROM "TestRuns" r LEFT JOIN "Milestones" m ON m.id = r."milestoneId" LEFT JOIN "Configurations" c ON c.id = r."configId" JOIN "Workflows" w ON w.id = r."stateId" WHERE r."testRunType" = 'REGULAR'"#);
    assert_eq!(
        r,
        json!([
            ["Nightly", "Sprint 1", "Browsers", "Active", 120, true, true],
            ["Smoke", null, null, "Active", null, false, false]
        ])
    );
    let rdocs: Value = serde_json::from_str(
        &env.db
            .sql(r#"SELECT docs #>> '{}' FROM "TestRuns" WHERE name = 'Nightly'"#),
    )
    .expect("run docs");
    assert_eq!(rdocs["content"][0]["content"][0]["text"], "Build");
    let rc = env.json(r#"SELECT json_agg(json_build_array(r.name, c.name, t."order", s."systemName", t."isCompleted", t."assignedToId" IS NOT NULL) ORDER BY t.id)::text
                        FROM "TestRunCases" t JOIN "TestRuns" r ON r.id = t."testRunId" JOIN "RepositoryCases" c ON c.id = t."repositoryCaseId" LEFT JOIN "Status" s ON s.id = t."statusId" WHERE r."testRunType" = 'REGULAR'"#);
    assert_eq!(
        rc,
        json!([
            ["Nightly", "Pay by card", 0, "passed", true, true],
            ["Nightly", "Search", 1, "blocked", false, false],
            ["Smoke", "Search", 0, null, false, false]
        ])
    );
    assert_eq!(
        env.db
            .sql(r#"SELECT t.name FROM "_TagsToTestRuns" j JOIN "Tags" t ON t.id = j."A" JOIN "TestRuns" r ON r.id = j."B" WHERE r.name = 'Nightly'"#),
        "regression"
    );
    let res = env.json(r#"SELECT json_agg(json_build_array(c.name, s."systemName", x.elapsed, x.notes, x."testRunCaseVersion") ORDER BY x.id)::text
                         FROM "TestRunResults" x JOIN "TestRunCases" t ON t.id = x."testRunCaseId" JOIN "RepositoryCases" c ON c.id = t."repositoryCaseId" JOIN "Status" s ON s.id = x."statusId""#);
    assert_eq!(
        res,
        json!([
            ["Pay by card", "passed", 25, "fine", 1],
            ["Search", "blocked", null, null, 1],
            ["Search", "untested", null, null, 1]
        ])
    );
    assert_eq!(
        env.db
            .sql(r#"SELECT value #>> '{}' FROM "ResultFieldValues""#),
        "1.2.3"
    );
    assert_eq!(env.db.sql(r#"SELECT string_agg(s."order" || ':' || st."systemName", ',' ORDER BY s."order") FROM "TestRunStepResults" r JOIN "Steps" s ON s.id = r."stepId" JOIN "Status" st ON st.id = r."statusId""#), "1:passed,3:blocked");

    // Sessions: created with their version, results, tags and multi-select names.
    let se = env.json(r#"SELECT row_to_json(s)::text FROM "Sessions" s"#);
    assert_eq!(
        (
            &se["name"],
            &se["estimate"],
            &se["elapsed"],
            &se["isCompleted"]
        ),
        (
            &json!("Explore checkout"),
            &json!(1800),
            &json!(600),
            &json!(true)
        ),
        "{se}"
    );
    let mission: Value =
        serde_json::from_str(se["mission"].as_str().unwrap_or("null")).expect("mission");
    assert_eq!(
        mission["content"][0]["content"][1]["marks"][0]["type"],
        "bold"
    );
    let sv = env.json(r#"SELECT row_to_json(v)::text FROM "SessionVersions" v"#);
    assert_eq!(
        (
            &sv["templateName"],
            &sv["stateName"],
            &sv["milestoneName"],
            &sv["configurationName"],
            &sv["version"]
        ),
        (
            &json!("Exploratory"),
            &json!("Draft"),
            &json!("Release 1.0"),
            &json!("Browsers"),
            &json!(1)
        ),
        "{sv}"
    );
    assert_eq!(sv["tags"], "[]", "Node's JSON text");
    assert_eq!(env.db.sql(r#"SELECT string_agg(s."systemName" || ':' || coalesce(r.elapsed::text, '-'), ',' ORDER BY r.id) FROM "SessionResults" r JOIN "Status" s ON s.id = r."statusId""#), "blocked:60,untested:-");
    assert_eq!(
        env.db
            .sql(r#"SELECT t.name FROM "_SessionsToTags" j JOIN "Tags" t ON t.id = j."B""#),
        "regression"
    );
    assert_eq!(
        env.json(r#"SELECT value::text FROM "SessionFieldValues""#),
        json!(["Linux", "macOS"])
    );

    // Issues: the target created inactive, issues found by key, linked where Testmo linked them.
    assert_eq!(env.db.sql(r#"SELECT name || ':' || provider || ':' || status || ':' || (settings->>'importedFrom') FROM "Integration""#), "Jira Cloud:JIRA:INACTIVE:testmo");
    assert_eq!(
        env.db
            .sql(r#"SELECT string_agg("externalId", ',' ORDER BY id) FROM "Issue""#),
        "PAY-1,PAY-2"
    );
    assert_eq!(
        env.count(&format!(
            r#"SELECT count(*) FROM "ProjectIntegration" WHERE "projectId" = {pid}"#
        )),
        1
    );
    for (table, owner, expected) in [
        (
            "_IssueToRepositoryCases",
            r#"(SELECT name FROM "RepositoryCases" WHERE id = j."B")"#,
            "PAY-1:Pay by card",
        ),
        (
            "_IssueToTestRuns",
            r#"(SELECT name FROM "TestRuns" WHERE id = j."B")"#,
            "PAY-2:Nightly",
        ),
        (
            "_IssueToTestRunResults",
            r#"(SELECT notes #>> '{}' FROM "TestRunResults" WHERE id = j."B")"#,
            "PAY-1:fine",
        ),
        (
            "_IssueToSessions",
            r#"(SELECT name FROM "Sessions" WHERE id = j."B")"#,
            "PAY-2:Explore checkout",
        ),
        (
            "_IssueToSessionResults",
            r#"(SELECT elapsed::text FROM "SessionResults" WHERE id = j."B")"#,
            "PAY-1:60",
        ),
    ] {
        let got = env.db.sql(&format!(r#"SELECT string_agg(i."externalId" || ':' || {owner}, ',') FROM "{table}" j JOIN "Issue" i ON i.id = j."A""#));
        assert_eq!(got, expected, "{table}");
    }
    assert!(
        env.db
            .sql(r#"SELECT "activityLog"::text FROM "TestmoImportJob""#)
            .contains("Skipping import of 1 milestone-issue relationships")
    );

    // Automation: JUnit cases under "Automation", a JUnit run with its suite and results.
    assert_eq!(
        env.db.sql(r#"SELECT string_agg(c.name || ':' || coalesce(c."className", '-') || ':' || f.name || ':' || c.automated, ',' ORDER BY c.id) FROM "RepositoryCases" c JOIN "RepositoryFolders" f ON f.id = c."folderId" WHERE c.source = 'JUNIT'"#),
        "test_login:tests.auth.LoginSpec:LoginSpec:true,test_logout:-:Automation:true"
    );
    let run =
        env.json(r#"SELECT row_to_json(r)::text FROM "TestRuns" r WHERE "testRunType" = 'JUNIT'"#);
    assert_eq!(
        (&run["name"], &run["elapsed"], &run["isCompleted"]),
        (&json!("CI #1"), &json!(5), &json!(true)),
        "{run}"
    );
    assert_eq!(
        run["note"],
        json!({"Version": {"type": 1, "value": "1.2.3"}, "Branch": {"type": 1, "value": "main"}})
    );
    let suite = env.json(r#"SELECT json_build_array(tests, failures, errors, skipped, time)::text FROM "JUnitTestSuite""#);
    assert_eq!(suite, json!([3, 1, 0, 0, 1]), "recomputed from the results");
    let junit = env.json(r#"SELECT json_agg(json_build_array(c.name, r.type, s."systemName", r.file, r.line, r."systemOut", r."systemErr") ORDER BY r.id)::text
                           FROM "JUnitTestResult" r JOIN "RepositoryCases" c ON c.id = r."repositoryCaseId" LEFT JOIN "Status" s ON s.id = r."statusId""#);
    assert_eq!(
        junit,
        json!([
            [
                "test_login",
                "PASSED",
                "passed",
                "login.spec.ts",
                42,
                "ok\n\nbrowser: firefox",
                null
            ],
            [
                "test_logout",
                "FAILURE",
                null,
                null,
                null,
                null,
                "AssertionError: boom"
            ],
            ["test_login", "PASSED", "passed", null, null, null, null]
        ])
    );
    assert_eq!(env.count(r#"SELECT count(*) FROM "TestRunCases" t JOIN "TestRuns" r ON r.id = t."testRunId" WHERE r."testRunType" = 'JUNIT'"#), 2, "one run case per case");
    assert_eq!(
        env.db
            .sql(r#"SELECT url || ' ' || "mimeType" || ' ' || size FROM "Attachments""#),
        "https://ci.test/jobs/1 text/uri-list 22"
    );
    assert_eq!(env.db.sql(r#"SELECT t.name FROM "_TagsToTestRuns" j JOIN "Tags" t ON t.id = j."A" JOIN "TestRuns" r ON r.id = j."B" WHERE r.name = 'CI #1'"#), "smoke");

    // Progress as the page reads it; the reindex queued; staging and ledger gone.
    let progress = &row["entityProgress"];
    assert_eq!(
        progress["repositoryCases"],
        json!({"total": 4, "created": 3, "mapped": 1}),
        "{progress}"
    );
    assert_eq!(
        progress["testRunResults"],
        json!({"total": 3, "created": 3, "mapped": 0})
    );
    assert_eq!(
        progress["testRuns"],
        json!({"total": 2, "created": 2, "mapped": 0})
    );
    let log = row["activityLog"].as_array().cloned().unwrap_or_default();
    assert!(
        log.iter().any(|e| e["type"] == "summary"
            && e["entity"] == "users"
            && e["created"] == 1
            && e["mapped"] == 2),
        "{log:?}"
    );
    assert_eq!(
        log.last().map(|e| e["message"].clone()),
        Some(json!(
            "Queueing Elasticsearch reindex after successful import"
        ))
    );
    let reindex = jobs::jobs(&env.redis, "elasticsearch-reindex", "waiting");
    assert_eq!(reindex.len(), 1, "{reindex:?}");
    assert_eq!(
        (&reindex[0]["name"], &reindex[0]["data"]),
        (
            &json!("reindex-after-import-imp1"),
            &json!({"entityType": "all", "userId": "admin"})
        )
    );
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "TestmoImportStaging""#),
        0
    );
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "TestmoImportMapping""#),
        0
    );
    w.stop_cleanly();
}

/// Multi-tenant: the job's tenant database is written (DATABASE_URL names none that exists) and
/// the reindex that follows carries the tenant, so the reindex worker indexes that database.
#[test]
fn a_tenants_import_writes_its_database_and_queues_its_reindex() {
    let env = Env::multi_tenant("acme");
    let w = env.worker(&[]);
    let row = env.imported("imp-acme");
    assert_eq!(
        row["entityProgress"]["testRunResults"],
        json!({"total": 3, "created": 3, "mapped": 0}),
        "{row}"
    );
    assert_eq!(env.count(r#"SELECT count(*) FROM "TestRunResults""#), 3);
    let reindex = jobs::jobs(&env.redis, "elasticsearch-reindex", "waiting");
    assert_eq!(reindex.len(), 1, "{reindex:?}");
    assert_eq!(
        (&reindex[0]["name"], &reindex[0]["data"]),
        (
            &json!("reindex-after-import-imp-acme"),
            &json!({"entityType": "all", "userId": "admin", "tenantId": "acme"})
        )
    );
    w.stop_cleanly();
}
