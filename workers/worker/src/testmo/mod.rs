//! The Testmo import worker (spec §9, queue `testmo-imports`), job `process-testmo-import`
//! with `{jobId, mode, tenantId?}`: the `"TestmoImportJob"` row's lifecycle and analyze mode
//! (§9.1–9.3): the uploaded export read from S3 as it arrives, parsed as a stream, every row
//! staged, a summary per dataset for the mapping screen, READY with the analysis; and import
//! mode (§9.4, `import/`): the staged rows written into TestPlanIt's tables.
//!
//! Better than Node: memory stays flat whatever the export's size (Node needed an 8 GB heap);
//! no temp file (the body is parsed as it arrives); a cancel is honoured while scanning, not
//! only at the end; a second analysis of a job replaces its staged rows instead of doubling
//! them; a failed or canceled analysis leaves no staged rows; errors name the byte offset of
//! malformed JSON, a truncated upload, a missing object or bucket, refused credentials.

mod analyze;
mod import;
mod progress;
mod s3;
mod sample;
mod scan;
mod stage;

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tp_bullmq::{Job, JobError};

use crate::db::Databases;
use crate::fail;
use crate::run::WithDatabases;
use analyze::{AnalyzeError, Found};
use progress::thousands;

pub struct Importer {
    pub dbs: Databases,
    /// Where a completed import queues its reindex.
    pub reindex: crate::producer::Producer,
}

impl WithDatabases for Importer {
    fn databases(&self) -> &Databases {
        &self.dbs
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(default)]
    job_id: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

const FINAL: [&str; 3] = ["COMPLETED", "FAILED", "CANCELED"];

/// The import job's row, as far as analysis reads it.
struct Row {
    status: String,
    storage_key: String,
    storage_bucket: Option<String>,
    original_size: Option<i64>,
    cancel_requested: bool,
}

type JobColumns = (String, String, Option<String>, Option<i64>, bool);

async fn load(pool: &PgPool, id: &str) -> Result<Option<Row>, sqlx::Error> {
    let r: Option<JobColumns> = sqlx::query_as(
        r#"SELECT status::text, "storageKey", "storageBucket", "originalFileSize", "cancelRequested"
           FROM "TestmoImportJob" WHERE id = $1"#,
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(r.map(
        |(status, storage_key, storage_bucket, original_size, cancel_requested)| Row {
            status,
            storage_key,
            storage_bucket,
            original_size,
            cancel_requested,
        },
    ))
}

const NOW: &str = "now() AT TIME ZONE 'UTC'";

async fn mark_failed(pool: &PgPool, id: &str, error: &str) {
    let sql = format!(
        r#"UPDATE "TestmoImportJob" SET status = 'FAILED', "statusMessage" = 'Import failed',
             error = $2, phase = NULL, "estimatedTimeRemaining" = NULL, "updatedAt" = {NOW}
           WHERE id = $1"#
    );
    if let Err(e) = sqlx::query(&sql).bind(id).bind(error).execute(pool).await {
        tracing::error!("cannot mark Testmo import {id} FAILED ({error}): {e}");
    }
}

async fn mark_canceled(pool: &PgPool, id: &str, message: &str) -> Result<(), sqlx::Error> {
    let sql = format!(
        r#"UPDATE "TestmoImportJob" SET status = 'CANCELED', "statusMessage" = $2,
             "canceledAt" = {NOW}, phase = NULL, "estimatedTimeRemaining" = NULL, "updatedAt" = {NOW}
           WHERE id = $1"#
    );
    sqlx::query(&sql)
        .bind(id)
        .bind(message)
        .execute(pool)
        .await?;
    Ok(())
}

/// The row's message while an analysis a stop interrupted waits for the next worker.
const ANALYSIS_PAUSED: &str =
    "Paused by a worker stop; the analysis starts again when a worker takes the job";

async fn status(pool: &PgPool, id: &str, message: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        r#"UPDATE "TestmoImportJob" SET "statusMessage" = $2, "updatedAt" = {NOW} WHERE id = $1"#
    ))
    .bind(id)
    .bind(message)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn process(state: Arc<Importer>, job: Job) -> Result<Value, JobError> {
    let p: Payload = serde_json::from_value(job.data.clone()).map_err(fail::malformed)?;
    let Some(id) = p.job_id.filter(|j| !j.is_empty()) else {
        return Err(JobError::Unrecoverable("Job id is required".into()));
    };
    let pool = state
        .dbs
        .pool(p.tenant_id.as_deref())
        .await
        .map_err(JobError::Failed)?;
    let row = load(&pool, &id)
        .await
        .map_err(fail::db("cannot read the import job"))?
        .ok_or_else(|| JobError::Failed(format!("Testmo import job {id} not found")))?;
    let mode = p.mode.as_deref().unwrap_or("analyze");
    if FINAL.contains(&row.status.as_str()) {
        // A failed import retried (Admin › Job Queues) resumes; anything else final stays.
        let retry = mode == "import"
            && row.status == "FAILED"
            && import::resumable(&pool, &id)
                .await
                .map_err(fail::db("cannot read the import job"))?;
        if !retry {
            return Ok(json!({"status": row.status}));
        }
        tracing::info!("Testmo import {id}: resuming the failed import");
    } else if mode == "import" && row.status == "RUNNING" {
        tracing::info!(
            "Testmo import {id}: resuming the import a worker stop (or crash) left RUNNING"
        );
    }
    match mode {
        "analyze" => analyze_job(&pool, &id, &row).await,
        "import" => import_job(&state, &pool, &id, p.tenant_id.as_deref()).await,
        other => Err(JobError::Unrecoverable(format!(
            "Unsupported Testmo import job mode: {other}"
        ))),
    }
}

async fn import_job(
    state: &Importer,
    pool: &PgPool,
    id: &str,
    tenant: Option<&str>,
) -> Result<Value, JobError> {
    let Some(row) = import::load(pool, id)
        .await
        .map_err(fail::db("cannot read the import job"))?
    else {
        return Err(JobError::Failed(format!(
            "Testmo import job {id} not found"
        )));
    };
    if row.configuration.is_none() {
        let e =
            format!("Testmo import job {id} cannot start background import without configuration");
        mark_failed(pool, id, &e).await;
        return Err(JobError::Failed(e));
    }
    match import::run(pool, id, row, tenant, &state.reindex).await {
        Ok(import::Outcome::Completed) => Ok(json!({"status": "COMPLETED"})),
        Ok(import::Outcome::Canceled) => Ok(json!({"status": "CANCELED"})),
        Ok(import::Outcome::Interrupted(why)) => Err(JobError::HandBack(why)),
        Err(e) => {
            tracing::error!("Testmo import {id} failed: {e}");
            Err(JobError::Failed(e))
        }
    }
}

async fn analyze_job(pool: &PgPool, id: &str, row: &Row) -> Result<Value, JobError> {
    let bucket = row
        .storage_bucket
        .clone()
        .filter(|b| !b.is_empty())
        .or_else(|| {
            std::env::var("AWS_BUCKET_NAME")
                .ok()
                .filter(|b| !b.trim().is_empty())
        });
    let Some(bucket) = bucket else {
        let e = s3::S3Error::NoBucket.to_string();
        mark_failed(pool, id, &e).await;
        return Err(JobError::Failed(e));
    };
    if row.storage_key.is_empty() {
        let e = "Storage key missing on import job";
        mark_failed(pool, id, e).await;
        return Err(JobError::Failed(e.into()));
    }
    if row.cancel_requested {
        mark_canceled(pool, id, "Import was canceled before it started")
            .await
            .map_err(fail::db("cannot mark the import canceled"))?;
        return Ok(json!({"status": "CANCELED"}));
    }
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    reset(pool, id)
        .await
        .map_err(fail::db("cannot reset the import job"))?;
    let result = match s3::Store::from_env() {
        Ok(store) => {
            analyze::run(
                &store,
                pool,
                id,
                &bucket,
                &row.storage_key,
                row.original_size.and_then(|s| u64::try_from(s).ok()),
            )
            .await
        }
        Err(e) => Err(AnalyzeError::S3(e)),
    };
    let outcome = match result {
        Ok(found) => finish(pool, id, row, found, started, started_at).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(status) => Ok(json!({"status": status})),
        Err(AnalyzeError::Canceled) => {
            purge(pool, id).await;
            mark_canceled(pool, id, "Import was canceled")
                .await
                .map_err(fail::db("cannot mark the import canceled"))?;
            tracing::info!("Testmo import {id}: analysis canceled");
            Ok(json!({"status": "CANCELED"}))
        }
        Err(e @ AnalyzeError::Interrupted { .. }) => {
            // Back to the front of the queue, no attempt spent (the queue allows one); the
            // next worker analyses the export again from the top.
            purge(pool, id).await;
            if let Err(db) = status(pool, id, ANALYSIS_PAUSED).await {
                tracing::warn!("cannot record the stop on Testmo import {id}: {db}");
            }
            Err(JobError::HandBack(e.to_string()))
        }
        Err(e) => {
            let msg = e.to_string();
            purge(pool, id).await;
            mark_failed(pool, id, &msg).await;
            Err(JobError::Failed(msg))
        }
    }
}

/// Rows an analysis that did not finish staged are removed.
async fn purge(pool: &PgPool, id: &str) {
    if let Err(e) = stage::Stager::purge(pool, id).await {
        tracing::warn!("cannot remove the staged rows of Testmo import {id}: {e}");
    }
}

async fn reset(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(r#"DELETE FROM "TestmoImportDataset" WHERE "jobId" = $1"#)
        .bind(id)
        .execute(pool)
        .await?;
    let removed = stage::Stager::purge(pool, id).await?;
    if removed > 0 {
        tracing::info!("Testmo import {id}: removed {removed} rows staged by an earlier analysis");
    }
    sqlx::query(&format!(
        r#"UPDATE "TestmoImportJob" SET status = 'RUNNING', phase = 'ANALYZING',
             "statusMessage" = 'Opening and scanning export file...', "startedAt" = {NOW},
             "processedDatasets" = 0, "processedRows" = 0, error = NULL, "updatedAt" = {NOW}
           WHERE id = $1"#
    ))
    .bind(id)
    .execute(pool)
    .await?;
    status(pool, id, "Preparing data...").await
}

/// Writes the datasets and marks the job READY; `CANCELED` when a cancel came in meanwhile.
async fn finish(
    pool: &PgPool,
    id: &str,
    row: &Row,
    found: Found,
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
) -> Result<&'static str, AnalyzeError> {
    let mut datasets = 0i64;
    let mut rows = 0i64;
    for d in &found.datasets {
        let count = i64::try_from(d.rows).unwrap_or(i64::MAX);
        sqlx::query(
            r#"INSERT INTO "TestmoImportDataset" ("jobId", name, "rowCount", "sampleRowCount", truncated, schema, "sampleRows", "allRows")
               VALUES ($1, $2, $3, $4, false, $5, $6, NULL)"#,
        )
        .bind(id)
        .bind(&d.name)
        .bind(i32::try_from(d.rows).unwrap_or(i32::MAX))
        .bind(d.samples.len() as i32)
        .bind(d.schema.clone())
        .bind((!d.samples.is_empty()).then(|| Value::Array(d.samples.clone())))
        .execute(pool)
        .await?;
        datasets += 1;
        rows += count;
        let (cancel,): (bool,) = sqlx::query_as(&format!(
            r#"UPDATE "TestmoImportJob" SET "processedDatasets" = $2, "processedRows" = $3,
                 "statusMessage" = $4, "updatedAt" = {NOW}
               WHERE id = $1 RETURNING "cancelRequested""#
        ))
        .bind(id)
        .bind(datasets as i32)
        .bind(rows)
        .bind(format!("Found {} ({} rows)", d.name, thousands(d.rows)))
        .fetch_one(pool)
        .await?;
        if cancel {
            return Err(AnalyzeError::Canceled);
        }
    }
    let duration_ms = started.elapsed().as_millis() as i64;
    let completed_at = chrono::Utc::now();
    let iso = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let file_size = row
        .original_size
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .or(found.size)
        .unwrap_or(0);
    let analysis = json!({"meta": {
        "totalDatasets": found.datasets.len(),
        "totalRows": found.rows,
        "durationMs": duration_ms,
        "startedAt": iso(started_at),
        "completedAt": iso(completed_at),
        "fileSizeBytes": file_size,
    }});
    let message = if found.datasets.is_empty() {
        "Analysis complete (no datasets found)"
    } else {
        "Analysis complete. Configure mapping to continue."
    };
    sqlx::query(&format!(
        r#"UPDATE "TestmoImportJob" SET status = 'READY', phase = 'CONFIGURING', "statusMessage" = $2,
             "totalDatasets" = $3, "totalRows" = $4, "processedDatasets" = $3, "processedRows" = $4,
             "durationMs" = $5, "analysisGeneratedAt" = {NOW}, configuration = NULL, options = NULL,
             analysis = $6, "processedCount" = 0, "errorCount" = 0, "skippedCount" = 0, "totalCount" = 0,
             "currentEntity" = NULL, "estimatedTimeRemaining" = NULL, "processingRate" = NULL,
             "activityLog" = NULL, "entityProgress" = NULL, "updatedAt" = {NOW}
           WHERE id = $1"#
    ))
    .bind(id)
    .bind(message)
    .bind(found.datasets.len() as i32)
    .bind(i64::try_from(found.rows).unwrap_or(i64::MAX))
    .bind(i32::try_from(duration_ms).unwrap_or(i32::MAX))
    .bind(analysis)
    .execute(pool)
    .await?;
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    tracing::info!(
        "Testmo import {id}: {} datasets, {} rows ({} staged) from {} bytes in {secs:.1} s ({:.1} MB/s, {:.0} rows/s)",
        found.datasets.len(),
        found.rows,
        found.staged,
        found.bytes,
        found.bytes as f64 / 1e6 / secs,
        found.staged as f64 / secs,
    );
    Ok("READY")
}
