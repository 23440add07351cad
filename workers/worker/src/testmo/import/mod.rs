//! Import mode (spec §9.4): the staged Testmo rows become TestPlanIt's configuration,
//! projects, milestones, repositories, cases, runs and results, following the mapping
//! configuration the web app stored on the job, phase after phase in Node's order.
//!
//! Better than Node: rows are read as a stream in `rowIndex` order and written a chunk per
//! transaction with multi-row statements (Node loaded each dataset whole and wrote row by
//! row); id maps are compact sorted vectors; the configuration is checked before anything is
//! written; cancellation is honoured between chunks; and every chunk commits, with its rows,
//! a ledger entry of what it wrote (`ledger.rs`), so a failure names the phase and the row and
//! leaves an exact record, and retrying the failed job resumes where it stopped without
//! creating anything twice.

mod automation;
mod automation_tests;
mod case_steps;
mod cases;
mod config;
mod config_fields;
mod ctx;
mod fields;
mod fieldvalue;
mod idmap;
mod issues;
mod joins;
mod ledger;
mod lifecycle;
mod phase;
mod progress;
mod projects;
mod repository;
mod results;
mod rows;
mod runs;
mod sessions;
mod setup;
mod tiptap;
mod validate;
mod values;

use serde_json::{Value, json};
use sqlx::PgPool;

use ctx::Phase;
pub use ctx::{Ctx, ImportError};

use crate::producer::Producer;

/// What the job row holds that the import reads.
pub struct JobRow {
    pub created_by: String,
    pub configuration: Option<Value>,
}

pub async fn load(pool: &PgPool, id: &str) -> Result<Option<JobRow>, sqlx::Error> {
    let r: Option<(String, Option<Value>)> = sqlx::query_as(
        r#"SELECT "createdById", configuration FROM "TestmoImportJob" WHERE id = $1"#,
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(r.map(|(created_by, configuration)| JobRow {
        created_by,
        configuration,
    }))
}

/// Whether a FAILED job can be run again: it failed importing (its staged rows are kept;
/// a failed analysis removes them) and still has its configuration.
pub async fn resumable(pool: &PgPool, id: &str) -> Result<bool, sqlx::Error> {
    let (yes,): (bool,) = sqlx::query_as(
        r#"SELECT j.configuration IS NOT NULL AND EXISTS (SELECT 1 FROM "TestmoImportStaging" s WHERE s."jobId" = j.id)
           FROM "TestmoImportJob" j WHERE j.id = $1"#,
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(yes)
}

/// How the import ended.
pub enum Outcome {
    Completed,
    Canceled,
    /// A worker stop between two chunks: the job goes back to the queue (the reason).
    Interrupted(String),
}

/// Runs the import of job `id`; `resume` when the job failed earlier and is being retried.
pub async fn run(
    pool: &PgPool,
    id: &str,
    row: JobRow,
    tenant: Option<&str>,
    reindex: &Producer,
) -> Result<Outcome, String> {
    let raw = row.configuration.clone().ok_or_else(|| {
        format!("Testmo import job {id} cannot start background import without configuration")
    })?;
    let mut ctx = Ctx::open(pool, id, &row, &raw)
        .await
        .map_err(|e| e.to_string())?;
    let outcome = async {
        // Nothing is written before the configuration is known to be applicable.
        validate::validate(&ctx).await?;
        ctx.start().await?;
        phases(&mut ctx).await?;
        ctx.completed(tenant, reindex).await
    }
    .await;
    match outcome {
        Ok(()) => Ok(Outcome::Completed),
        Err(ImportError::Canceled) => {
            ctx.canceled().await;
            Ok(Outcome::Canceled)
        }
        Err(e @ ImportError::Interrupted { .. }) => {
            Ok(Outcome::Interrupted(ctx.interrupted(&e).await))
        }
        Err(e) => Err(ctx.failed(&e).await),
    }
}

async fn phases(ctx: &mut Ctx<'_>) -> Result<(), ImportError> {
    setup::workflows(ctx).await?;
    setup::statuses(ctx).await?;
    setup::groups(ctx).await?;
    setup::tags(ctx).await?;
    setup::roles(ctx).await?;
    setup::milestone_types(ctx).await?;
    setup::configurations(ctx).await?;
    setup::templates(ctx).await?;
    setup::template_fields(ctx).await?;
    setup::users(ctx).await?;
    setup::user_groups(ctx).await?;
    projects::projects(ctx).await?;
    projects::links(ctx, Phase::ProjectLinks).await?;
    projects::milestones(ctx).await?;
    projects::links(ctx, Phase::MilestoneLinks).await?;
    sessions::sessions(ctx).await?;
    sessions::session_results(ctx).await?;
    joins::links(ctx, Phase::SessionTags).await?;
    repository::repositories(ctx).await?;
    repository::folders(ctx).await?;
    repository::cases(ctx).await?;
    joins::links(ctx, Phase::RepositoryCaseTags).await?;
    automation::cases(ctx).await?;
    automation::runs(ctx).await?;
    automation_tests::run_tests(ctx).await?;
    automation::run_fields(ctx).await?;
    automation::run_links(ctx).await?;
    automation_tests::test_fields(ctx).await?;
    joins::links(ctx, Phase::AutomationRunTags).await?;
    sessions::session_values(ctx).await?;
    runs::runs(ctx).await?;
    projects::links(ctx, Phase::RunLinks).await?;
    runs::run_cases(ctx).await?;
    joins::links(ctx, Phase::RunTags).await?;
    results::results(ctx).await?;
    results::step_results(ctx).await?;
    issues::issue_targets(ctx).await?;
    issues::issues(ctx).await?;
    issues::project_integrations(ctx).await?;
    issues::milestone_issues(ctx).await?;
    for phase in [
        Phase::RepositoryCaseIssues,
        Phase::RunIssues,
        Phase::RunResultIssues,
        Phase::SessionIssues,
        Phase::SessionResultIssues,
    ] {
        joins::links(ctx, phase).await?;
    }
    Ok(())
}

/// The payload of the reindex that follows a completed import (Node's, plus the tenant so a
/// multi-tenant reindex worker indexes the right database).
pub fn reindex_payload(user: &str, tenant: Option<&str>) -> Value {
    let mut v = json!({"entityType": "all", "userId": user});
    if let Some(t) = tenant {
        v["tenantId"] = json!(t);
    }
    v
}
