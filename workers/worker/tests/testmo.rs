//! The Testmo import worker's analyze mode end to end: exports in every shape of spec §9.2 put
//! in a real S3-compatible server (s3s-fs, SigV4 checked), `"TestmoImportJob"` rows as the
//! web app creates them, `process-testmo-import` added by Node bullmq as the web app adds it,
//! and the results read where the web app reads them: the job row, `"TestmoImportDataset"`
//! and `"TestmoImportStaging"`. Also: cancellation while scanning, each bad input, PostgreSQL
//! going away mid-staging.

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
#[path = "support/worker.rs"]
mod worker;

use std::time::{Duration, Instant};

use pg::TestDb;
use redis_server::RedisServer;
use s3_server::S3Server;
use serde_json::{Value, json};
use worker::Running;

const QUEUE: &str = "testmo-imports";
const SCHEMA: [&str; 1] = ["testplanit.sql"];
const BUCKET: &str = "testplanit-uploads";

/// The queue's default options, as the web app's `POST /api/imports/testmo/jobs` adds with.
fn opts() -> Value {
    json!({"attempts": 1, "removeOnComplete": {"age": 2592000, "count": 100}, "removeOnFail": {"age": 2592000}})
}

fn database() -> TestDb {
    let db = TestDb::with_schema(&SCHEMA);
    db.sql(r#"INSERT INTO "Roles" (id, name, "isDefault") VALUES (1, 'User', true); INSERT INTO "User" (id, name, email, password, "updatedAt") VALUES ('admin', 'Admin', 'admin@example.com', 'x', now())"#);
    db
}

/// A job row as the web app creates it after the upload.
fn import_job(db: &TestDb, id: &str, key: &str, size: usize, bucket: Option<&str>) {
    let bucket = bucket.map_or("NULL".to_string(), |b| format!("'{b}'"));
    db.sql(&format!(
        r#"INSERT INTO "TestmoImportJob" (id, "updatedAt", "createdById", status, phase, "storageKey", "storageBucket", "originalFileName", "originalFileSize")
           VALUES ('{id}', now(), 'admin', 'QUEUED', 'ANALYZING', '{key}', {bucket}, 'export.json', {size})"#
    ));
}

fn worker(db: &TestDb, redis: &RedisServer, s3: &S3Server, extra: &[(&str, &str)]) -> Running {
    let url = db.url();
    let r = redis.url();
    let s3_env = s3.env();
    let mut env: Vec<(&str, &str)> = vec![("DATABASE_URL", &url), ("VALKEY_URL", &r)];
    env.extend(s3_env.iter().map(|(k, v)| (*k, v.as_str())));
    env.extend_from_slice(extra);
    let w = Running::start(&["testmo-import"], &env);
    w.wait_for_line("Testmo import worker started");
    w
}

fn analyze(redis: &RedisServer, job: &str, mode: &str) -> String {
    jobs::add(
        redis,
        QUEUE,
        "process-testmo-import",
        json!({"jobId": job, "mode": mode}),
        opts(),
    )
}

fn job_row(db: &TestDb, id: &str) -> Value {
    serde_json::from_str(&db.sql(&format!(
        r#"SELECT row_to_json(j)::text FROM "TestmoImportJob" j WHERE id = '{id}'"#
    )))
    .expect("job row")
}

fn staged(db: &TestDb, job: &str) -> u64 {
    db.sql(&format!(
        r#"SELECT count(*) FROM "TestmoImportStaging" WHERE "jobId" = '{job}'"#
    ))
    .parse()
    .expect("count")
}

fn export() -> Value {
    let users: Vec<Value> = (1..=7)
        .map(|i| json!({"id": i, "name": format!("User {i}"), "email": format!("u{i}@example.com"), "is_active": i % 2 == 1}))
        .collect();
    json!({
        "meta": {"exported_at": "2026-11-30T10:00:00Z", "data": [{"not": "a dataset"}]},
        "users": {"schema": {"id": "id", "name": "string", "email": "string", "is_active": "bool"}, "data": users},
        "fields": {"fields": {"id": "id", "name": "string", "dropdown_options": "array"},
                   "data": [{"id": 10, "name": "Priority", "dropdown_options": ["Low", "High"], "note": "x".repeat(1_200)}]},
        "repositories": {"data": [{"id": 1, "project_id": 1, "is_master": 1, "is_snapshot": 0}, {"id": 2, "project_id": 1, "is_master": 0, "is_snapshot": 1}]},
        "repository_cases": {"columns": {"id": "id", "repo_id": "id", "name": "string"},
                             "rows": [{"id": 100, "repo_id": 1, "name": "Login\twith \"tab\"\nand \\ backslash"}, {"id": 101, "repo_id": 2, "name": "Login (snapshot)"}]},
        "automation_run_test_fields": {"records": [{"run_id": 1, "test_id": 2, "name": "browser", "value": "firefox"},
                                                   {"run_id": 1, "test_id": 3, "name": "meta", "value": {"a": 1}}]},
        "run_result_steps": {"items": [{"result_id": 5, "test_id": 2, "status_id": 1, "display_order": 0, "text1": "Open", "text2": "Works", "text3": null}]},
        "run_attachments": {"data": [{"id": 1, "blob": "QUJD"}]},
        "summary": {"datasets": 7},
    })
}

#[test]
fn an_export_is_staged_and_summarised_and_the_job_is_ready() {
    node_support::ensure_installed();
    let s3 = S3Server::start();
    let db = database();
    let redis = RedisServer::start();
    let body = serde_json::to_vec_pretty(&export()).expect("json");
    s3.put(BUCKET, "imports/a1/export.json", &body);
    import_job(
        &db,
        "job1",
        "imports/a1/export.json",
        body.len(),
        Some(BUCKET),
    );
    let w = worker(&db, &redis, &s3, &[("AWS_BUCKET_NAME", BUCKET)]);

    let id = analyze(&redis, "job1", "analyze");
    let done = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(done["returnvalue"], json!({"status": "READY"}), "{done}");

    let j = job_row(&db, "job1");
    assert_eq!(
        (&j["status"], &j["phase"], &j["statusMessage"]),
        (
            &json!("READY"),
            &json!("CONFIGURING"),
            &json!("Analysis complete. Configure mapping to continue.")
        )
    );
    assert_eq!(
        (
            &j["totalDatasets"],
            &j["totalRows"],
            &j["processedDatasets"],
            &j["processedRows"]
        ),
        (&json!(7), &json!(16), &json!(7), &json!(16))
    );
    assert!(
        j["startedAt"].is_string()
            && j["analysisGeneratedAt"].is_string()
            && j["durationMs"].is_number()
    );
    let meta = &j["analysis"]["meta"];
    assert_eq!(
        (&meta["totalDatasets"], &meta["totalRows"]),
        (&json!(7), &json!(16))
    );
    assert_eq!(meta["fileSizeBytes"], body.len());
    assert!(meta["startedAt"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert!(
        j["error"].is_null()
            && j["estimatedTimeRemaining"].is_null()
            && j["configuration"].is_null()
    );

    // One dataset row each, in file order: counts, samples (cut as Node cuts them), schemas.
    let datasets: Vec<Value> = serde_json::from_str(&db.sql(
        r#"SELECT json_agg(json_build_object('name', name, 'rows', "rowCount", 'samples', "sampleRowCount",
                  'truncated', truncated, 'schema', schema, 'sampleRows', "sampleRows", 'allRows', "allRows") ORDER BY id)::text
           FROM "TestmoImportDataset" WHERE "jobId" = 'job1'"#,
    ))
    .expect("datasets");
    let summary: Vec<(String, i64, i64)> = datasets
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default().to_string(),
                d["rows"].as_i64().unwrap_or(-1),
                d["samples"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let expect = |n: &str, r, s| (n.to_string(), r, s);
    assert_eq!(
        summary,
        [
            expect("users", 7, 5),
            expect("fields", 1, 1),
            expect("repositories", 2, 2),
            expect("repository_cases", 2, 2),
            expect("automation_run_test_fields", 2, 2),
            expect("run_result_steps", 1, 1),
            expect("run_attachments", 1, 0)
        ]
    );
    assert_eq!(
        datasets[0]["schema"],
        json!({"id": "id", "name": "string", "email": "string", "is_active": "bool"})
    );
    assert_eq!(datasets[0]["sampleRows"][4]["email"], "u5@example.com");
    assert_eq!(
        datasets[1]["schema"],
        json!({"id": "id", "name": "string", "dropdown_options": "array"})
    );
    assert_eq!(
        datasets[1]["sampleRows"][0]["note"],
        format!("{}\u{2026} [200 more characters]", "x".repeat(1_000))
    );
    assert_eq!(datasets[3]["schema"]["repo_id"], "id");
    assert!(datasets[6]["sampleRows"].is_null() && datasets[6]["schema"].is_null());
    assert!(
        datasets
            .iter()
            .all(|d| d["truncated"] == false && d["allRows"].is_null())
    );

    // Staged: every row but the snapshot repository's, its case and the attachment.
    let rows: Vec<Value> = serde_json::from_str(&db.sql(
        r#"SELECT json_agg(json_build_object('d', "datasetName", 'i', "rowIndex", 'row', "rowData", 'fn', "fieldName",
                  'fv', "fieldValue", 't1', text1, 't2', text2, 't3', text3, 'p', processed, 'idlen', length(id)) ORDER BY "datasetName", "rowIndex")::text
           FROM "TestmoImportStaging" WHERE "jobId" = 'job1'"#,
    ))
    .expect("staging");
    assert_eq!(rows.len(), 13);
    let of = |d: &str| {
        rows.iter()
            .filter(|r| r["d"] == d)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of("users").len(), 7);
    assert_eq!(of("users")[6]["i"], 6);
    assert_eq!(of("repositories").len(), 1);
    let cases = of("repository_cases");
    assert_eq!(cases.len(), 1);
    assert_eq!(
        (&cases[0]["i"], &cases[0]["row"]["name"]),
        (&json!(0), &json!("Login\twith \"tab\"\nand \\ backslash"))
    );
    let fields = of("automation_run_test_fields");
    assert_eq!(
        (&fields[0]["fn"], &fields[0]["fv"], &fields[0]["row"]),
        (
            &json!("browser"),
            &json!("firefox"),
            &json!({"run_id": 1, "test_id": 2, "name": "browser"})
        )
    );
    assert_eq!(fields[1]["fv"], r#"{"a":1}"#);
    let steps = of("run_result_steps");
    assert_eq!(
        (
            &steps[0]["t1"],
            &steps[0]["t2"],
            &steps[0]["t3"],
            &steps[0]["row"]
        ),
        (
            &json!("Open"),
            &json!("Works"),
            &Value::Null,
            &json!({"result_id": 5, "test_id": 2, "status_id": 1, "display_order": 0})
        )
    );
    assert!(rows.iter().all(|r| r["p"] == false && r["idlen"] == 25));
    assert!(of("run_attachments").is_empty());

    // Analysed again (the web app re-queues a job): its staging is replaced, not doubled.
    db.sql(r#"UPDATE "TestmoImportJob" SET status = 'QUEUED' WHERE id = 'job1'"#);
    let id = analyze(&redis, "job1", "analyze");
    jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(staged(&db, "job1"), 13);
    assert_eq!(
        db.sql(r#"SELECT count(*) FROM "TestmoImportDataset" WHERE "jobId" = 'job1'"#),
        "7"
    );

    // A finished job is left as it is.
    let id = analyze(&redis, "job1", "analyze");
    assert_eq!(
        jobs::wait_state(&redis, QUEUE, &id, "completed")["returnvalue"],
        json!({"status": "READY"})
    );

    // Datasets under a container, and an export with none at all.
    let contained = json!({"entities": {"projects": {"data": [{"id": 1, "name": "Web"}]}, "milestones": {"rows": [{"id": 3}, {"id": 4}]}}});
    let body = contained.to_string();
    s3.put(BUCKET, "c.json", body.as_bytes());
    import_job(&db, "job2", "c.json", body.len(), Some(BUCKET));
    s3.put(BUCKET, "empty.json", b"{ }");
    import_job(&db, "job3", "empty.json", 3, None);
    let a = analyze(&redis, "job2", "analyze");
    let b = analyze(&redis, "job3", "analyze");
    jobs::wait_state(&redis, QUEUE, &a, "completed");
    jobs::wait_state(&redis, QUEUE, &b, "completed");
    assert_eq!(job_row(&db, "job2")["totalRows"], 3);
    assert_eq!(staged(&db, "job2"), 3);
    let empty = job_row(&db, "job3");
    assert_eq!(
        (&empty["status"], &empty["statusMessage"]),
        (
            &json!("READY"),
            &json!("Analysis complete (no datasets found)")
        )
    );
    w.stop_cleanly();
}

/// A large export of generated users (about `mb` MB), written straight into the bucket.
fn big_export(s3: &S3Server, key: &str, mb: usize) -> usize {
    use std::io::Write;
    let path = s3.bucket(BUCKET).join(key);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
    let mut n = 0usize;
    write!(
        f,
        r#"{{"users": {{"schema": {{"id": "id", "name": "string"}}, "data": ["#
    )
    .expect("write");
    let mut i = 0u64;
    while n < mb << 20 {
        let row = format!(
            r#"{}{{"id": {i}, "name": "User {i}", "email": "user{i}@example.com", "note": "a note long enough to make the row a realistic size for an export", "is_active": true}}"#,
            if i == 0 { "" } else { "," }
        );
        n += row.len();
        f.write_all(row.as_bytes()).expect("write");
        i += 1;
    }
    write!(f, "]}}}}").expect("write");
    f.flush().expect("flush");
    drop(f);
    std::fs::metadata(&path)
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

/// An analysis of a big export (job "big", about `mb` MB) under way: a percentage shown,
/// rows staged.
struct Scan {
    s3: S3Server,
    db: TestDb,
    redis: RedisServer,
    w: Running,
    id: String,
    size: usize,
}

impl Scan {
    fn under_way(mb: usize) -> Scan {
        node_support::ensure_installed();
        let s3 = S3Server::start();
        let db = database();
        let redis = RedisServer::start();
        let size = big_export(&s3, "big.json", mb);
        import_job(&db, "big", "big.json", size, Some(BUCKET));
        let w = worker(&db, &redis, &s3, &[]);
        let id = analyze(&redis, "big", "analyze");
        scanning(&db, "big");
        Scan {
            s3,
            db,
            redis,
            w,
            id,
            size,
        }
    }
}

/// Waits until the analysis of `job` is under way: a percentage shown, rows staged.
fn scanning(db: &TestDb, job: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = job_row(db, job);
        let msg = j["statusMessage"].as_str().unwrap_or_default();
        if msg.starts_with("Scanning file... ")
            && !msg.starts_with("Scanning file... 0%")
            && staged(db, job) > 0
        {
            return;
        }
        assert!(
            j["status"] != "READY",
            "the scan finished before it could be interrupted: {j}"
        );
        assert!(Instant::now() < deadline, "the scan never got going: {j}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_cancel_is_honoured_while_the_export_is_being_scanned() {
    // Once scanning is under way, the admin cancels.
    let Scan {
        s3: _s3,
        db,
        redis,
        w,
        id,
        size,
    } = Scan::under_way(60);
    db.sql(r#"UPDATE "TestmoImportJob" SET "cancelRequested" = true WHERE id = 'big'"#);
    let done = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(done["returnvalue"], json!({"status": "CANCELED"}));
    let j = job_row(&db, "big");
    assert_eq!(
        (&j["status"], &j["statusMessage"], &j["phase"]),
        (
            &json!("CANCELED"),
            &json!("Import was canceled"),
            &Value::Null
        )
    );
    assert!(j["canceledAt"].is_string());
    assert_eq!(
        staged(&db, "big"),
        0,
        "a canceled analysis leaves no staged rows"
    );
    assert_eq!(db.sql(r#"SELECT count(*) FROM "TestmoImportDataset""#), "0");

    // Canceled before it started: nothing is read at all.
    import_job(&db, "early", "big.json", size, Some(BUCKET));
    db.sql(r#"UPDATE "TestmoImportJob" SET "cancelRequested" = true WHERE id = 'early'"#);
    let id = analyze(&redis, "early", "analyze");
    assert_eq!(
        jobs::wait_state(&redis, QUEUE, &id, "completed")["returnvalue"],
        json!({"status": "CANCELED"})
    );
    assert_eq!(
        job_row(&db, "early")["statusMessage"],
        "Import was canceled before it started"
    );
    w.stop_cleanly();
}

/// A worker stop mid-scan: the analysis stops at once, its staged rows removed, and the job
/// goes back to the front of the queue (no attempt spent: the queue allows one); the next
/// worker analyses the export from the top.
#[test]
fn a_stop_while_scanning_hands_the_analysis_to_the_next_worker() {
    let Scan {
        s3,
        db,
        redis,
        w,
        id,
        ..
    } = Scan::under_way(40);
    let (status, log) = w.stop_with_log();
    assert!(status.success(), "{status}: {log:?}");
    let job = jobs::wait_state(&redis, QUEUE, &id, "waiting");
    assert_eq!(job["attemptsMade"], 0, "{job}");
    let j = job_row(&db, "big");
    assert_eq!(
        (&j["status"], &j["statusMessage"]),
        (
            &json!("RUNNING"),
            &json!(
                "Paused by a worker stop; the analysis starts again when a worker takes the job"
            )
        ),
        "{j}"
    );
    assert_eq!(staged(&db, "big"), 0, "the partial staging is removed");

    let w = worker(&db, &redis, &s3, &[]);
    let done = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(done["returnvalue"], json!({"status": "READY"}), "{done}");
    let rows: u64 = db
        .sql(r#"SELECT "rowCount" FROM "TestmoImportDataset" WHERE "jobId" = 'big' AND name = 'users'"#)
        .parse()
        .expect("row count");
    assert!(rows > 0);
    assert_eq!(staged(&db, "big"), rows, "every row staged once");
    w.stop_cleanly();
}

#[test]
fn bad_exports_and_bad_storage_fail_the_job_with_a_message_an_administrator_understands() {
    node_support::ensure_installed();
    let s3 = S3Server::start();
    let db = database();
    let redis = RedisServer::start();
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "malformed",
            br#"{"users": {"data": [{"id": 1,, }]}}"#,
            "the export is not valid JSON at byte 29: expecting member name or object end",
        ),
        (
            "truncated",
            br#"{"users": {"data": [{"id": 1}, {"id": 2, "na"#,
            "the export ends at byte 44 in the middle of its JSON: the file is truncated (an incomplete upload?)",
        ),
        (
            "list",
            br#"[{"users": []}]"#,
            "the export is a JSON list, not the object of datasets a Testmo export is",
        ),
    ];
    for (name, body, _) in &cases {
        s3.put(BUCKET, &format!("{name}.json"), body);
        import_job(&db, name, &format!("{name}.json"), body.len(), Some(BUCKET));
    }
    import_job(&db, "missing", "nowhere.json", 10, Some(BUCKET));
    import_job(&db, "nobucket", "x.json", 10, Some("no-such-bucket"));
    import_job(&db, "unconfigured", "x.json", 10, None);
    import_job(&db, "importing", "x.json", 10, Some(BUCKET));
    let w = worker(&db, &redis, &s3, &[]);
    let fail = |job: &str, mode: &str| {
        let id = analyze(&redis, job, mode);
        let j = jobs::wait_state(&redis, QUEUE, &id, "failed");
        let row = job_row(&db, job);
        assert_eq!(
            (&row["status"], &row["phase"], &row["statusMessage"]),
            (&json!("FAILED"), &Value::Null, &json!("Import failed")),
            "{row}"
        );
        assert_eq!(row["error"], j["failedReason"]);
        assert_eq!(staged(&db, job), 0, "nothing half-written is left");
        row["error"].as_str().unwrap_or_default().to_string()
    };
    for (name, _, reason) in &cases {
        assert_eq!(fail(name, "analyze"), *reason);
    }
    assert_eq!(
        fail("missing", "analyze"),
        format!(
            "the export s3://{BUCKET}/nowhere.json does not exist (NoSuchKey): was it removed after upload?"
        )
    );
    let nobucket = fail("nobucket", "analyze");
    // s3s-fs answers a missing bucket as a missing key (S3 itself says NoSuchBucket, which
    // gets its own message); either way the message names the bucket and the key.
    assert!(
        nobucket.contains("s3://no-such-bucket/x.json") || nobucket.contains("\"no-such-bucket\""),
        "{nobucket}"
    );
    assert_eq!(
        fail("unconfigured", "analyze"),
        "AWS bucket is not configured (the job has no storageBucket and AWS_BUCKET_NAME is not set)"
    );
    assert_eq!(
        fail("importing", "import"),
        "Testmo import job importing cannot start background import without configuration"
    );
    w.stop_cleanly();

    // Wrong credentials: S3's own refusal, named.
    s3.put(BUCKET, "ok.json", b"{}");
    import_job(&db, "creds", "ok.json", 2, Some(BUCKET));
    let w = worker(
        &db,
        &redis,
        &s3,
        &[("AWS_SECRET_ACCESS_KEY", "wrong-secret")],
    );
    let reason = fail("creds", "analyze");
    assert!(
        reason.starts_with("S3 refused the credentials (SignatureDoesNotMatch"),
        "{reason}"
    );
    w.stop_cleanly();
}

#[test]
fn postgresql_going_away_mid_staging_fails_the_job_and_never_marks_it_ready() {
    node_support::ensure_installed();
    let s3 = S3Server::start();
    let db = database();
    let redis = RedisServer::start();
    let size = big_export(&s3, "pg.json", 60);
    import_job(&db, "pg", "pg.json", size, Some(BUCKET));
    let w = worker(&db, &redis, &s3, &[]);
    let id = analyze(&redis, "pg", "analyze");
    // Rows are being staged; then the database goes away under the worker.
    let deadline = Instant::now() + Duration::from_secs(60);
    while staged(&db, "pg") == 0 {
        assert!(
            Instant::now() < deadline,
            "the staging never reached PostgreSQL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    db.set_reachable(false);
    let j = jobs::wait_state(&redis, QUEUE, &id, "failed");
    assert!(
        j["failedReason"]
            .as_str()
            .is_some_and(|r| r.starts_with("cannot stage the export's rows in PostgreSQL")),
        "{j}"
    );
    db.set_reachable(true);
    assert_ne!(job_row(&db, "pg")["status"], "READY");
    w.stop_cleanly();
}
