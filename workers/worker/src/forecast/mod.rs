//! The forecast worker (spec §5): time forecasts of repository cases and test runs from past
//! results, the nightly update of every case, and the daily milestone jobs. Every job returns
//! `{status: "completed", successCount, failCount}` as TestPlanIt's does.

mod math;
mod milestones;
mod service;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::PgPool;
use tp_bullmq::{Job, JobError};

use crate::db::Databases;
use crate::fail::db;
use crate::producer::Producer;

/// What the worker needs besides the job.
pub struct Forecasts {
    pub dbs: Databases,
    pub notifications: Producer,
}

impl crate::run::WithDatabases for Forecasts {
    fn databases(&self) -> &Databases {
        &self.dbs
    }
}

fn verbose() -> bool {
    crate::config::flag("DEBUG_FORECAST")
}

fn result(ok: u64, failed: u64) -> Value {
    json!({"status": "completed", "successCount": ok, "failCount": failed})
}

/// Runs one job.
pub async fn process(f: Arc<Forecasts>, job: Job) -> Result<Value, JobError> {
    let tenant = crate::run::tenant_of(&job);
    // An unknown name fails before the database is looked at.
    let pool = || async {
        f.dbs
            .pool(tenant.as_deref())
            .await
            .map_err(JobError::Failed)
    };
    match job.name.as_str() {
        "update-single-case-forecast" => single_case(&pool().await?, &job).await,
        "update-all-cases-forecast" => all_cases(&pool().await?).await,
        "auto-complete-milestones" => {
            let t = milestones::auto_complete(&pool().await?).await?;
            tracing::info!("Auto-completed {} milestone(s); failed: {}", t.ok, t.failed);
            Ok(result(t.ok, t.failed))
        }
        "milestone-due-notifications" => {
            let t =
                milestones::due_notifications(&pool().await?, &f.notifications, tenant.as_deref())
                    .await?;
            tracing::info!(
                "Sent {} milestone notifications. Failed: {}",
                t.ok,
                t.failed
            );
            Ok(result(t.ok, t.failed))
        }
        other => Err(JobError::Unrecoverable(format!(
            "Unknown job type: {other}"
        ))),
    }
}

/// The case id of an `update-single-case-forecast` job: a JSON integer, as TestPlanIt checks
/// (`typeof repositoryCaseId === "number"`). Not retried when it is not one.
fn case_id(job_id: &str, data: &Value) -> Result<i32, JobError> {
    data.get("repositoryCaseId")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| {
            JobError::Unrecoverable(format!(
                "Invalid data for job {job_id}: repositoryCaseId missing or not a number."
            ))
        })
}

async fn single_case(pool: &PgPool, job: &Job) -> Result<Value, JobError> {
    let id = case_id(&job.id, &job.data)?;
    let done = service::update_case(pool, id, false, false)
        .await
        .map_err(|e| JobError::Failed(e.to_string()))?;
    tracing::info!("Updated forecast for case {id}");
    if verbose() {
        tracing::info!("case group {:?}", done.updated);
    }
    Ok(result(1, 0))
}

/// Between two items of the nightly update: a worker stop hands the job back to the front of
/// the queue, no attempt spent. Computing the forecasts again is harmless, and a run cut off
/// by the stop's deadline would instead wait for the stalled check and count as a stall.
fn stop_point(done: usize, total: usize, what: &str) -> Result<(), JobError> {
    if crate::run::stopping() {
        tracing::info!("Stopping: forecast update interrupted after {done} of {total} {what}");
        return Err(JobError::HandBack(format!(
            "interrupted by a worker stop after {done} of {total} {what}; the forecast update runs again"
        )));
    }
    Ok(())
}

/// Every active case once per group, then every open run that holds one.
async fn all_cases(pool: &PgPool) -> Result<Value, JobError> {
    let cases: Vec<i32> = sqlx::query_scalar(
        r#"SELECT id FROM "RepositoryCases" WHERE NOT "isDeleted" AND NOT "isArchived" ORDER BY id"#,
    )
    .fetch_all(pool)
    .await
    .map_err(db("cannot list the cases"))?;
    let mut links: HashMap<i32, Vec<i32>> = HashMap::new();
    for chunk in cases.chunks(1000) {
        let pairs: Vec<(i32, i32)> = sqlx::query_as(
            r#"SELECT "caseAId", "caseBId" FROM "RepositoryCaseLink"
               WHERE type = 'SAME_TEST_DIFFERENT_SOURCE' AND NOT "isDeleted"
                 AND ("caseAId" = ANY($1) OR "caseBId" = ANY($1))"#,
        )
        .bind(chunk)
        .fetch_all(pool)
        .await
        .map_err(db("cannot read the case links"))?;
        for (a, b) in pairs {
            links.entry(a).or_default().push(b);
            links.entry(b).or_default().push(a);
        }
    }
    let groups = math::representatives(&cases, &links);
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut runs = BTreeSet::new();
    for (i, case) in groups.iter().enumerate() {
        stop_point(i, groups.len(), "case groups")?;
        match service::update_case(pool, *case, true, true).await {
            Ok(done) => {
                ok += 1;
                runs.extend(done.affected_runs);
            }
            Err(e) => {
                tracing::warn!("{e}");
                failed += 1;
            }
        }
    }
    tracing::info!(
        "Processed {} unique case groups. Success: {ok}, Failed: {failed}",
        groups.len()
    );
    let runs: Vec<i32> = runs.into_iter().collect();
    let open: Vec<i32> = sqlx::query_scalar(
        r#"SELECT id FROM "TestRuns" WHERE id = ANY($1) AND NOT "isCompleted" ORDER BY id"#,
    )
    .bind(&runs)
    .fetch_all(pool)
    .await
    .map_err(db("cannot list the affected runs"))?;
    let open_count = open.len();
    tracing::info!(
        "Updating {open_count} active test runs (skipped {} completed)...",
        runs.len() - open_count
    );
    let (mut runs_ok, mut runs_failed) = (0u64, 0u64);
    // Each run refreshes its cases afresh, as TestPlanIt does (so every case is computed a
    // second time): one-hop groups overlap, and sharing the set would change the figures.
    for (i, run) in open.into_iter().enumerate() {
        stop_point(i, open_count, "open runs")?;
        match service::update_run(pool, run, &mut HashSet::new()).await {
            Ok(()) => runs_ok += 1,
            Err(e) => {
                tracing::warn!("{e}");
                runs_failed += 1;
            }
        }
    }
    tracing::info!(
        "Updated {runs_ok} test runs. Failed: {runs_failed}. Skipped {} completed.",
        runs.len() - open_count
    );
    if failed + runs_failed > 0 {
        tracing::warn!(
            "forecast update finished with {} failure(s); see the lines above",
            failed + runs_failed
        );
    }
    // The counts are the case groups', as TestPlanIt reports them.
    Ok(result(ok, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_must_be_numbers() {
        assert_eq!(
            case_id("7", &json!({"repositoryCaseId": 12})).ok(),
            Some(12)
        );
        for bad in [
            json!({}),
            json!({"repositoryCaseId": "12"}),
            json!({"repositoryCaseId": 1.5}),
        ] {
            match case_id("7", &bad) {
                Err(JobError::Unrecoverable(m)) => assert_eq!(
                    m,
                    "Invalid data for job 7: repositoryCaseId missing or not a number."
                ),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
