//! The Elasticsearch reindex worker when things go wrong: a document the server refuses, the
//! search server going away mid-run, a worker stop mid-run, and the bad inputs that must fail
//! a job.

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

use std::time::{Duration, Instant};

use pg::TestDb;
use redis_server::RedisServer;
use reindex_env::*;
use search_server::{BOTH, Kind, SearchServer};
use serde_json::json;

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
        let id = add_reindex_all(&redis);
        lock.wait_for_waiter(&db);
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
        let log = jobs::logs(&redis, QUEUE, &id);
        assert!(
            log.last()
                .is_some_and(|l| l.starts_with("Error: search server")),
            "{log:#?}"
        );
        assert!(worker.log().iter().any(|l| l.contains("trying again in")));
        worker.stop_cleanly();
    }
}

/// A stop while a reindex runs: it ends at the next page and its job goes back to the front of
/// the queue, no attempt spent (the queue allows one), instead of holding its 1 h lock; the
/// next worker runs it to the end.
#[test]
fn a_stop_hands_a_running_reindex_back_and_the_next_worker_finishes_it() {
    let search = SearchServer::start(Kind::Elasticsearch);
    let (redis, db, mut worker) = seeded_worker(&search.url());
    // The case step reads "Tags": held, the worker waits inside its first page of cases.
    let mut lock = pg::TableLock::take(&db, "Tags");
    let id = add_reindex_all(&redis);
    lock.wait_for_waiter(&db);
    worker.interrupt();
    lock.release();
    let status = worker.wait_exit();
    assert!(status.success(), "{status}:\n{}", worker.log().join("\n"));

    let job = jobs::wait_state(&redis, QUEUE, &id, "waiting");
    assert_eq!(job["attemptsMade"], 0, "{job}");
    let log = jobs::logs(&redis, QUEUE, &id);
    assert!(
        log.last().is_some_and(
            |l| l.starts_with("Reindex interrupted by a worker stop after")
                && l.ends_with("documents; the reindex runs again")
        ),
        "{log:#?}"
    );

    let worker = start_worker(&db.url(), &redis, &[("ELASTICSEARCH_NODE", &search.url())]);
    let job = jobs::wait_state(&redis, QUEUE, &id, "completed");
    assert_eq!(job["attemptsMade"], 1, "{job}");
    assert_eq!(search.count("testplanit-repository-cases"), 3);
    worker.stop_cleanly();
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
