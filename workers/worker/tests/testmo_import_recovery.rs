//! The Testmo import when things go wrong: a failure injected mid-results and the retried
//! job resuming without writing anything twice (checked against a clean import, table by
//! table), a cancel between chunks, a worker stop handing the import back, and invalid
//! configurations refused before anything is written.

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
use testmo_import_env::{Env, QUEUE};

#[test]
fn a_failed_import_resumes_when_retried_and_writes_nothing_twice() {
    // The reference: the same export imported in one go into a twin workspace.
    let clean = Env::new();
    let w = clean.worker(&[]);
    clean.analysed(
        "ref",
        &testmo_export::export(),
        &testmo_export::configuration(),
    );
    let id = clean.add("ref", "import");
    jobs::wait_state(&clean.redis, QUEUE, &id, "completed");
    w.stop_cleanly();
    let expected = clean.table_counts();

    let env = Env::new();
    // PostgreSQL refuses the second result: the first chunk (one result) commits, the rest fails.
    env.db.sql(
        r#"CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             IF NEW.elapsed IS NULL AND NEW.notes IS NULL AND NEW."statusId" <> 1 THEN RAISE EXCEPTION 'disk full (injected)'; END IF;
             RETURN NEW; END $$;
           CREATE TRIGGER refuse BEFORE INSERT ON "TestRunResults" FOR EACH ROW EXECUTE FUNCTION refuse();"#,
    );
    let w = env.worker(&[("TESTMO_TEST_RUN_RESULT_CHUNK_SIZE", "1")]);
    let id = env.import("imp2", &testmo_export::configuration());
    let failed = jobs::wait_state(&env.redis, QUEUE, &id, "failed");
    let row = env.row("imp2");
    let error = row["error"].as_str().unwrap_or_default().to_string();
    assert_eq!(row["status"], "FAILED");
    assert_eq!(row["currentEntity"], "testRunResults");
    assert!(
        error.starts_with("testRunResults: run_results rows 1–1: "),
        "{error}"
    );
    assert!(
        error.contains("disk full (injected)") && error.contains("Retry the job"),
        "{error}"
    );
    assert!(
        error.contains("repositoryCases: 4") && error.contains("testRuns: 2"),
        "the record says what was written: {error}"
    );
    assert_eq!(
        failed["failedReason"]
            .as_str()
            .map(|r| error.starts_with(r.trim_end_matches('.'))),
        Some(true),
        "{failed}"
    );
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "TestRunResults""#),
        1,
        "the first chunk committed"
    );
    assert!(
        env.count(r#"SELECT count(*) FROM "TestmoImportStaging""#) > 0,
        "staging kept for the retry"
    );

    env.db.sql(r#"DROP TRIGGER refuse ON "TestRunResults""#);
    jobs::retry(&env.redis, QUEUE, &id);
    let done = jobs::wait_state(&env.redis, QUEUE, &id, "completed");
    assert_eq!(
        done["returnvalue"],
        json!({"status": "COMPLETED"}),
        "{done}"
    );
    assert_eq!(
        env.table_counts(),
        expected,
        "the resumed import wrote what one clean import writes"
    );
    let row = env.row("imp2");
    assert_eq!(
        (&row["status"], &row["error"]),
        (&json!("COMPLETED"), &Value::Null)
    );
    let first = row["activityLog"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        first.starts_with("Background import resumed after a failure; already written:"),
        "{first}"
    );
    assert_eq!(
        row["entityProgress"]["testRunResults"],
        json!({"total": 3, "created": 3, "mapped": 0})
    );
    w.stop_cleanly();
}

#[test]
fn a_cancel_stops_between_chunks() {
    let env = Env::new();
    // The cancel arrives while the results are written (a trigger stands in for the user's click).
    env.db.sql(
        r#"CREATE FUNCTION cancel() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             UPDATE "TestmoImportJob" SET "cancelRequested" = true; RETURN NEW; END $$;
           CREATE TRIGGER cancel AFTER INSERT ON "TestRunResults" FOR EACH ROW EXECUTE FUNCTION cancel();"#,
    );
    let w = env.worker(&[("TESTMO_TEST_RUN_RESULT_CHUNK_SIZE", "1")]);
    let id = env.import("imp3", &testmo_export::configuration());
    let done = jobs::wait_state(&env.redis, QUEUE, &id, "completed");
    assert_eq!(done["returnvalue"], json!({"status": "CANCELED"}), "{done}");
    let row = env.row("imp3");
    assert_eq!(row["status"], "CANCELED");
    assert!(row["canceledAt"].is_string());
    assert!(
        row["statusMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("Import was canceled; written before:")),
        "{row}"
    );
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "TestRunStepResults""#),
        0,
        "no phase after the cancel ran"
    );
    assert_eq!(
        env.count(r#"SELECT count(*) FROM "TestmoImportStaging""#),
        0
    );
    assert!(jobs::jobs(&env.redis, "elasticsearch-reindex", "waiting").is_empty());
    w.stop_cleanly();
}

#[test]
fn an_invalid_configuration_is_refused_before_anything_is_written() {
    let env = Env::new();
    let w = env.worker(&[]);
    let before = env.table_counts();

    let mut bad = testmo_export::configuration();
    bad["workflows"]["1"]["mappedTo"] = json!(999);
    let id = env.import("badcfg", &bad);
    let failed = jobs::wait_state(&env.redis, QUEUE, &id, "failed");
    assert_eq!(
        failed["failedReason"],
        "configuration.workflows[\"1\"]: Workflow 999 selected for mapping was not found."
    );
    assert_eq!(env.row("badcfg")["status"], "FAILED");

    let mut nameless = testmo_export::configuration();
    nameless["users"]["1"]["email"] = json!("  ");
    let id = env.import("noemail", &nameless);
    let failed = jobs::wait_state(&env.redis, QUEUE, &id, "failed");
    assert_eq!(
        failed["failedReason"],
        "configuration.users[\"1\"]: User 1 requires an email address before creation."
    );

    assert_eq!(env.table_counts(), before, "nothing written by any of them");
    w.stop_cleanly();
}

#[test]
fn a_worker_stop_hands_the_import_back_and_the_next_worker_resumes_it() {
    let env = Env::new();
    // Each result takes a second to write, so the stop lands mid-phase.
    env.db.sql(
        r#"CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
           CREATE TRIGGER slow BEFORE INSERT ON "TestRunResults" FOR EACH ROW EXECUTE FUNCTION slow();"#,
    );
    let w = env.worker(&[("TESTMO_TEST_RUN_RESULT_CHUNK_SIZE", "1")]);
    let id = env.import("imp4", &testmo_export::configuration());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.row("imp4")["currentEntity"] != "testRunResults" {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never reached the results: {}",
            env.row("imp4")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, log) = w.stop_with_log();
    assert!(status.success(), "{status}: {log:?}");
    // Handed back, not failed: waiting at the front of the queue with no attempt spent (the
    // queue allows one), the row RUNNING and saying why.
    let waiting = jobs::wait_state(&env.redis, QUEUE, &id, "waiting");
    assert_eq!(waiting["attemptsMade"], 0, "{waiting}");
    let row = env.row("imp4");
    assert_eq!(
        (&row["status"], &row["statusMessage"]),
        (
            &json!("RUNNING"),
            &json!(
                "Paused by a worker stop; the import resumes where it stopped when a worker takes it again"
            )
        ),
        "{row}"
    );
    let partial = env.count(r#"SELECT count(*) FROM "TestRunResults""#);
    assert!(partial < 3, "stopped before the last result ({partial})");

    // The next worker takes it by itself and resumes: nothing written twice.
    env.db.sql(r#"DROP TRIGGER slow ON "TestRunResults""#);
    let w = env.worker(&[]);
    let done = jobs::wait_state(&env.redis, QUEUE, &id, "completed");
    assert_eq!(
        (&done["returnvalue"], &done["attemptsMade"]),
        (&json!({"status": "COMPLETED"}), &json!(1)),
        "{done}"
    );
    w.wait_for_line("resuming the import a worker stop (or crash) left RUNNING");
    for (table, n) in [
        ("RepositoryCases", 5),
        ("TestRunCases", 5),
        ("TestRunResults", 3),
        ("TestRunStepResults", 2),
        ("Issue", 2),
    ] {
        assert_eq!(
            env.count(&format!(r#"SELECT count(*) FROM "{table}""#)),
            n,
            "{table}"
        );
    }
    w.stop_cleanly();
}
