//! A Testmo export touching every dataset the import writes (automation included), the workspace it is imported
//! into (what TestPlanIt's seed gives a fresh install, plus a few rows the import must map
//! rather than duplicate), and the mapping configuration the web app's mapping screen would
//! store for it.

#![allow(dead_code)]

use serde_json::{Value, json};

use crate::pg::TestDb;

/// The workspace: importer, default role, colours and icons, status scopes and statuses,
/// default workflows, template and milestone type, field types; and an existing project,
/// user and tag with the names the export uses.
pub fn seed(db: &TestDb) {
    db.sql(
        r#"
        INSERT INTO "Roles" (id, name, "isDefault") VALUES (1, 'User', true);
        INSERT INTO "User" (id, name, email, password, access, "updatedAt") VALUES
          ('admin', 'Admin', 'admin@example.com', 'x', 'ADMIN', now()),
          ('ursula', 'Ursula Existing', 'ursula@example.com', 'x', 'USER', now());
        INSERT INTO "ColorFamily" (id, name) VALUES (1, 'Grey');
        INSERT INTO "Color" (id, "colorFamilyId", value, "order") VALUES (1, 1, '#B1B2B3', 0), (2, 1, '#FF0000', 1);
        INSERT INTO "FieldIcon" (id, name) VALUES (1, 'circle'), (2, 'flag');
        INSERT INTO "StatusScope" (id, name) VALUES (1, 'Test Runs'), (2, 'Sessions');
        INSERT INTO "Status" (id, name, "systemName", "colorId", "isEnabled", "isSuccess", "isFailure", "isCompleted") VALUES
          (1, 'Untested', 'untested', 1, true, false, false, false),
          (2, 'Passed', 'passed', 1, true, true, false, true),
          (3, 'Failed', 'failed', 2, true, false, true, true);
        INSERT INTO "Workflows" (id, name, "iconId", "colorId", "isDefault", scope, "workflowType") VALUES
          (1, 'Draft', 1, 1, true, 'CASES', 'NOT_STARTED'),
          (2, 'Active', 1, 1, true, 'RUNS', 'IN_PROGRESS');
        INSERT INTO "Templates" (id, "templateName", "isEnabled", "isDefault") VALUES (1, 'Default', true, true);
        INSERT INTO "MilestoneTypes" (id, name, "iconId", "isDefault") VALUES (1, 'Release', 1, true);
        INSERT INTO "CaseFieldTypes" (id, type) VALUES (1, 'Text Long'), (2, 'Dropdown'), (3, 'Multi-Select'), (4, 'Text String'), (5, 'Integer');
        INSERT INTO "Projects" (id, name, "createdBy") VALUES (1, 'Existing Project', 'admin');
        INSERT INTO "Tags" (id, name) VALUES (1, 'smoke');
        SELECT setval(pg_get_serial_sequence('"Projects"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"Tags"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"Status"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"Workflows"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"Templates"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"Roles"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"MilestoneTypes"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"Color"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"FieldIcon"', 'id'), 10);
        SELECT setval(pg_get_serial_sequence('"CaseFieldTypes"', 'id'), 10);
        "#,
    );
}

fn ds(rows: Vec<Value>) -> Value {
    json!({"data": rows})
}

/// The export: counts are chosen so each rule shows (see the assertions).
pub fn export() -> Value {
    let mut e = json!({
        "users": ds(vec![
            json!({"id": 1, "name": "Nina New", "email": "nina@example.com"}),
            json!({"id": 2, "name": "Ursula", "email": "URSULA@example.com"}),
            json!({"id": 3, "name": "Admin", "email": "admin@example.com"}),
        ]),
        "roles": ds(vec![json!({"id": 1, "name": "Tester"})]),
        "groups": ds(vec![json!({"id": 1, "name": "QA"})]),
        "user_groups": ds(vec![json!({"user_id": 1, "group_id": 1}), json!({"user_id": 2, "group_id": 1}), json!({"user_id": 1, "group_id": 1})]),
        "states": ds(vec![json!({"id": 1, "name": "Draft"}), json!({"id": 2, "name": "Review"}), json!({"id": 3, "name": "Active"})]),
        "statuses": ds(vec![json!({"id": 1, "name": "Passed"}), json!({"id": 2, "name": "Blocked"})]),
        "tags": ds(vec![json!({"id": 1, "name": "regression"}), json!({"id": 2, "name": "smoke"})]),
        "milestone_types": ds(vec![json!({"id": 1, "name": "Release"})]),
        "configs": ds(vec![json!({"id": 1, "name": "Browsers"})]),
        "templates": ds(vec![json!({"id": 1, "name": "Default"}), json!({"id": 2, "name": "Exploratory"}), json!({"id": 3, "name": "Legacy"})]),
        "fields": ds(vec![json!({"id": 11, "name": "priority"}), json!({"id": 12, "name": "platforms"})]),
        "field_values": ds(vec![
            json!({"id": 501, "field_id": 11, "name": "High"}),
            json!({"id": 502, "field_id": 11, "name": "Low"}),
            json!({"id": 601, "field_id": 12, "name": "Linux"}),
            json!({"id": 602, "field_id": 12, "name": "macOS"}),
        ]),
        "template_fields": ds(vec![json!({"template_id": 2, "field_id": 11}), json!({"template_id": 3, "field_id": 10})]),
        "projects": ds(vec![
            json!({"id": 1, "name": "Web Shop", "note": "Main product", "is_completed": 0, "created_at": "2024-01-02 03:04:05", "created_by": 1}),
            json!({"id": 2, "name": "Existing Project"}),
        ]),
        "project_links": ds(vec![
            json!({"project_id": 1, "name": "Wiki", "url": "https://wiki.test/shop", "note": "team"}),
            json!({"project_id": 1, "name": "CI", "url": "https://ci.test"}),
        ]),
        "milestones": ds(vec![
            json!({"id": 11, "project_id": 1, "parent_id": 10, "root_id": 10, "type_id": 1, "name": "Sprint 1", "note": "<p>First <b>sprint</b></p>", "is_started": 1}),
            json!({"id": 10, "project_id": 1, "type_id": 1, "name": "Release 1.0", "is_completed": 1, "completed_at": "2024-03-01 00:00:00"}),
            json!({"id": 12, "project_id": 99, "name": "Orphan"}),
        ]),
        "milestone_links": ds(vec![json!({"milestone_id": 10, "name": "Notes", "url": "https://notes.test/1.0"})]),
        "repositories": ds(vec![
            json!({"id": 1, "project_id": 1, "is_master": 1, "is_snapshot": 0}),
            json!({"id": 2, "project_id": 1, "is_master": 0, "is_snapshot": 1}),
        ]),
        "repository_folders": ds(vec![
            json!({"id": 21, "repo_id": 1, "project_id": 1, "parent_id": 20, "name": "Checkout", "display_order": 2, "created_by": 1}),
            json!({"id": 20, "repo_id": 1, "project_id": 1, "name": "Web", "display_order": 1}),
            json!({"id": 22, "repo_id": 1, "project_id": 1, "parent_id": 23, "name": "Loop A"}),
            json!({"id": 23, "repo_id": 1, "project_id": 1, "parent_id": 22, "name": "Loop B"}),
        ]),
        "repository_cases": ds(vec![
            json!({"id": 100, "repo_id": 1, "project_id": 1, "folder_id": 21, "template_id": 2, "state_id": 2, "name": "Pay by card",
                   "key": "shop.pay.card", "estimate": 90_000_000_000_i64, "display_order": 1, "created_by": 1, "created_at": "2024-02-01 10:00:00",
                   "custom_preconditions": "<p>Cart has <i>one</i> item</p><ul><li>Logged in</li></ul>", "custom_priority": 501}),
            json!({"id": 101, "repo_id": 1, "project_id": 1, "folder_id": 20, "template_id": 3, "state_id": 1, "name": "Search", "custom_priority": "Nope"}),
            json!({"id": 102, "repo_id": 1, "project_id": 1, "folder_id": 999, "name": "Unfiled"}),
            json!({"id": 103, "repo_id": 1, "project_id": 1, "folder_id": 20, "name": "Pay by card"}),
            json!({"id": 104, "repo_id": 1, "project_id": 99, "name": "No project"}),
        ]),
        "repository_case_steps": ds(vec![
            json!({"case_id": 100, "repo_id": 1, "project_id": 1, "display_order": 1, "text1": "<p>Open the cart</p>", "text3": "<p>Cart shown</p>"}),
            json!({"case_id": 100, "repo_id": 1, "project_id": 1, "display_order": 2, "text1": "Pay", "text2": "4111 1111", "text3": "Paid"}),
        ]),
        "repository_case_values": ds(vec![
            json!({"case_id": 100, "field_id": 12, "value_id": 601, "repo_id": 1, "project_id": 1}),
            json!({"case_id": 100, "field_id": 12, "value_id": 602, "repo_id": 1, "project_id": 1}),
        ]),
        "repository_case_tags": ds(vec![json!({"case_id": 100, "tag_id": 1}), json!({"case_id": 100, "tag_id": 2}), json!({"case_id": 101, "tag_id": 9})]),
        "runs": ds(vec![
            json!({"id": 200, "project_id": 1, "milestone_id": 11, "config_id": 1, "state_id": 3, "name": "Nightly", "note": "Run <b>note</b>",
                   "elapsed": 120, "is_closed": 1, "closed_at": "2024-02-02 00:00:00", "created_by": 2}),
            json!({"id": 201, "project_id": 1, "state_id": 3, "name": "Smoke"}),
            json!({"id": 202, "project_id": 1, "state_id": 77, "name": "No workflow"}),
        ]),
        "run_links": ds(vec![json!({"run_id": 200, "name": "Build", "url": "https://ci.test/200"})]),
        "run_tests": ds(vec![
            json!({"id": 300, "run_id": 200, "case_id": 100, "status_id": 1, "assignee_id": 1, "is_selected": 1, "elapsed": 30}),
            json!({"id": 301, "run_id": 200, "case_id": 101, "status_id": 2, "is_selected": 1}),
            json!({"id": 302, "run_id": 200, "case_id": 103, "is_selected": 1}),
            json!({"id": 303, "run_id": 201, "case_id": 100, "is_selected": 0}),
            json!({"id": 304, "run_id": 201, "case_id": 101, "is_selected": 0}),
        ]),
        "run_tags": ds(vec![json!({"run_id": 200, "tag_id": 1})]),
        "run_results": ds(vec![
            json!({"id": 400, "run_id": 200, "test_id": 300, "status_id": 1, "elapsed": 25, "comment": "fine", "created_by": 1,
                   "created_at": "2024-02-01 12:00:00", "custom_build": "1.2.3"}),
            json!({"id": 401, "run_id": 200, "test_id": 301, "status_id": 2}),
            json!({"id": 402, "run_id": 201, "test_id": 304, "status_id": 5}),
            json!({"id": 403, "run_id": 200, "test_id": 300, "is_deleted": 1}),
        ]),
        "run_result_steps": ds(vec![
            json!({"result_id": 400, "test_id": 300, "status_id": 1, "display_order": 1, "text1": "Open the cart"}),
            json!({"result_id": 400, "test_id": 300, "status_id": 2, "display_order": 3, "text1": "Extra check", "comment": "odd"}),
        ]),
        "run_attachments": ds(vec![json!({"id": 1, "blob": "QUJD"})]),
        "sessions": ds(vec![
            json!({"id": 1, "project_id": 1, "template_id": 2, "state_id": 1, "milestone_id": 10, "config_id": 1, "assignee_id": 1,
                   "name": "Explore checkout", "note": "<p>Charter</p>", "custom_mission": "Find <b>bugs</b>", "estimate": 1_800_000_000_i64,
                   "elapsed": 600_000_000, "is_closed": 1, "closed_at": "2024-02-03 00:00:00", "created_by": 1}),
            json!({"id": 2, "project_id": 99, "name": "Nowhere"}),
        ]),
        "session_results": ds(vec![
            json!({"id": 1, "session_id": 1, "status_id": 2, "comment": "<p>Found one</p>", "elapsed": 60_000_000, "created_by": 1}),
            json!({"id": 2, "session_id": 1, "status_id": 9}),
        ]),
        "session_tags": ds(vec![json!({"session_id": 1, "tag_id": 1})]),
        "session_values": ds(vec![
            json!({"session_id": 1, "field_id": 12, "value_id": 601}),
            json!({"session_id": 1, "field_id": 12, "value_id": 602}),
        ]),
        "issue_targets": ds(vec![json!({"id": 1, "name": "Jira", "type": 1})]),
        "issues": ds(vec![
            json!({"id": 1, "project_id": 1, "target_id": 1, "display_id": "PAY-1"}),
            json!({"id": 2, "project_id": 1, "target_id": 1, "display_id": "PAY-2"}),
            json!({"id": 3, "project_id": 1, "target_id": 5, "display_id": "X-1"}),
        ]),
        "repository_case_issues": ds(vec![json!({"case_id": 100, "issue_id": 1})]),
        "run_issues": ds(vec![json!({"run_id": 200, "issue_id": 2})]),
        "run_result_issues": ds(vec![json!({"result_id": 400, "issue_id": 1})]),
        "session_issues": ds(vec![json!({"session_id": 1, "issue_id": 2})]),
        "session_result_issues": ds(vec![json!({"result_id": 1, "issue_id": 1})]),
        "milestone_issues": ds(vec![json!({"milestone_id": 10, "issue_id": 1})]),
    });
    e["automation_cases"] = ds(vec![
        json!({"id": 1, "project_id": 1, "name": "test_login", "folder": "tests.auth.a1b2c3d4e5f6.LoginSpec", "created_at": "2024-03-01 00:00:00"}),
        json!({"id": 2, "project_id": 1, "name": "test_login", "folder": "tests.auth.a1b2c3d4e5f6.LoginSpec"}),
        json!({"id": 3, "project_id": 1, "name": "test_logout"}),
    ]);
    e["automation_runs"] = ds(vec![
        json!({"id": 1, "project_id": 1, "name": "CI #1", "config_id": 1, "milestone_id": 10, "is_completed": 1,
                                           "total_count": 3, "elapsed": 4_500_000, "created_at": "2024-03-01 00:00:00", "created_by": 1}),
    ]);
    e["automation_run_tests"] = ds(vec![
        json!({"id": 1, "run_id": 1, "project_id": 1, "case_id": 1, "status_id": 1, "elapsed": 1_200_000, "file": "login.spec.ts", "line": "42", "assertions": 3}),
        json!({"id": 2, "run_id": 1, "project_id": 1, "case_id": 3, "status": "failed"}),
        json!({"id": 3, "run_id": 1, "project_id": 1, "case_id": 2, "status_id": 1}),
    ]);
    e["automation_run_fields"] = ds(vec![
        json!({"run_id": 1, "project_id": 1, "name": "Version", "type": 1, "value": "1.2.3"}),
        json!({"run_id": 1, "project_id": 1, "name": "Branch", "type": 1, "value": "main"}),
    ]);
    e["automation_run_links"] = ds(vec![
        json!({"run_id": 1, "project_id": 1, "name": "Job", "url": "https://ci.test/jobs/1", "note": "green"}),
    ]);
    e["automation_run_test_fields"] = ds(vec![
        json!({"run_id": 1, "test_id": 2, "project_id": 1, "name": "Error", "value": "AssertionError: boom"}),
        json!({"run_id": 1, "test_id": 1, "project_id": 1, "name": "Output", "value": "ok"}),
        json!({"run_id": 1, "test_id": 1, "project_id": 1, "name": "browser", "value": "firefox"}),
    ]);
    e["automation_run_tags"] = ds(vec![json!({"run_id": 1, "tag_id": 2})]);
    e
}

/// The mapping configuration for `export()`.
pub fn configuration() -> Value {
    json!({
        "workflows": {
            "1": {"action": "map", "mappedTo": 1},
            "2": {"action": "create", "name": "Review", "scope": "CASES", "workflowType": "IN_PROGRESS", "iconId": 2, "colorId": 1},
            "3": {"action": "map", "mappedTo": 2}
        },
        "statuses": {
            "1": {"action": "map", "mappedTo": 2},
            "2": {"action": "create", "name": "Blocked", "colorHex": "ff0000", "isFailure": true}
        },
        "groups": {"1": {"action": "create", "name": "QA", "note": "Quality"}},
        "tags": {"1": {"action": "create", "name": "regression"}, "2": {"action": "create", "name": "smoke"}},
        "roles": {"1": {"action": "create", "name": "Tester", "permissions": {"TestRuns": {"canAddEdit": true}, "Bogus": {"canDelete": true}}}},
        "milestoneTypes": {"1": {"action": "map", "mappedTo": 1}},
        "configurations": {"1": {"action": "create", "name": "Browsers", "variants": {"0": {"token": "Chrome", "action": "create-category-variant", "categoryName": "Browser"}}}},
        "templates": {"1": {"action": "map", "mappedTo": 1}, "2": {"action": "create", "name": "Exploratory"}},
        "templateFields": {
            "10": {"action": "create", "targetType": "case", "displayName": "Preconditions", "systemName": "preconditions", "typeId": 1, "templateName": "Exploratory"},
            "11": {"action": "create", "targetType": "case", "displayName": "Priority", "systemName": "priority", "typeId": 2,
                   "dropdownOptions": [{"name": "Low", "order": 2}, {"name": "High", "order": 1}]},
            "12": {"action": "create", "targetType": "case", "displayName": "Platforms", "systemName": "platforms", "typeId": 3, "dropdownOptions": "Linux, macOS"},
            "13": {"action": "create", "targetType": "result", "displayName": "Build", "systemName": "build", "typeId": 4}
        },
        "issueTargets": {"1": {"action": "create", "name": "Jira Cloud", "testmoType": 1}},
        "users": {
            "1": {"action": "create", "name": "Nina New", "email": "Nina@Example.com", "password": "s3cret-pass", "access": "user"},
            "2": {"action": "create", "name": "Ursula", "email": "ursula@example.com"},
            "3": {"action": "map", "mappedTo": "admin"}
        }
    })
}
