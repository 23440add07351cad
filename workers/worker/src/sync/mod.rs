//! The sync worker (spec §6, queue `issue-sync`): TestPlanIt's issues refreshed from Jira,
//! GitHub and Azure DevOps. Jobs `sync-issues` and `sync-project-issues` (every issue of an
//! integration, or of one project), `refresh-issue` (one issue), and `create-issue` /
//! `update-issue`, which answer "Not implemented" as Node's worker does.
//!
//! Where Node is wrong we do better (README, "Sync"): each tenant's own database for the
//! adapter lookup and the index; the job's own user's OAuth tokens, refreshed when expired and
//! stored back encrypted; pages in id order (Node's unordered skip/take could skip or repeat
//! issues); GitHub issues found through their stored repository in bulk syncs too; SIMPLE_URL
//! issues never overwritten with invented data; a database that is away fails the job (and
//! BullMQ retries it) instead of completing it with nothing done.

pub mod adapters;
mod adf;
mod cache;
pub mod crypto;
mod http;
mod index;
mod integration;
mod issue;
mod local;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;
use tp_bullmq::{Job, JobError};

use crate::db::Databases;
use crate::fail;
use crate::joblog::JobLog;
use crate::run::WithDatabases;
use adapters::{Adapter, FetchError};
use http::Tracker;
use integration::{Integration, LoadError};
use issue::IssueData;

/// Issues read from PostgreSQL at a time (Node's batch size).
const PAGE: i64 = 50;

type Key = (Option<String>, i32);

/// The worker's state: database pools, the job progress writer, the issue cache, and per
/// integration its HTTP client (whose pacing outlives jobs) and its adapter.
pub struct Syncer {
    pub dbs: Databases,
    pub log: JobLog,
    pub cache: cache::Cache,
    trackers: Mutex<HashMap<Key, Arc<Tracker>>>,
    adapters: Mutex<HashMap<Key, Arc<Adapter>>>,
}

impl WithDatabases for Syncer {
    fn databases(&self) -> &Databases {
        &self.dbs
    }
}

impl Syncer {
    pub fn new(dbs: Databases, log: JobLog, valkey: Option<String>) -> Syncer {
        Syncer {
            dbs,
            log,
            cache: cache::Cache::new(valkey),
            trackers: Mutex::new(HashMap::new()),
            adapters: Mutex::new(HashMap::new()),
        }
    }
}

/// A number the web app may send as a number or as text.
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = Value::deserialize(d)?;
    v.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| serde::de::Error::custom(format!("integrationId {v} is not a number")))
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    user_id: String,
    #[serde(deserialize_with = "number")]
    integration_id: i32,
    #[serde(default, deserialize_with = "text")]
    project_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    issue_id: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    tenant_id: Option<String>,
}

pub async fn process(state: Arc<Syncer>, job: Job) -> Result<Value, JobError> {
    let p: Payload = serde_json::from_value(job.data.clone()).map_err(fail::malformed)?;
    let bad = |m: &str| Err(JobError::Unrecoverable(m.to_string()));
    match job.name.as_str() {
        "sync-issues" | "sync-project-issues" => {
            let project = job.name == "sync-project-issues";
            if project && p.project_id.is_none() {
                return bad("Project ID is required for project sync");
            }
            let (synced, errors) = perform_sync(&state, &job.id, &p).await?;
            let what = if project { "Project sync" } else { "Sync" };
            if !errors.is_empty() {
                tracing::warn!(
                    "{what} completed with {} errors: {}",
                    errors.len(),
                    serde_json::to_string(&errors).unwrap_or_default()
                );
            }
            let from = if project { " from project" } else { "" };
            tracing::info!("Synced {synced} issues{from} successfully");
            Ok(json!({"synced": synced, "errors": errors}))
        }
        "refresh-issue" => {
            let Some(issue) = p.issue_id.clone() else {
                return bad("Issue ID is required for issue refresh");
            };
            match perform_refresh(&state, &p, &issue).await? {
                Ok(()) => {
                    tracing::info!("Refreshed issue {issue} successfully");
                    Ok(json!({"success": true}))
                }
                Err(e) => Err(JobError::Failed(e)),
            }
        }
        "create-issue" => {
            if p.data.is_none() {
                return bad("Issue data is required for issue creation");
            }
            tracing::info!("Issue creation not yet implemented in worker");
            Ok(json!({"success": false, "error": "Not implemented"}))
        }
        "update-issue" => {
            if p.issue_id.is_none() || p.data.is_none() {
                return bad("Issue ID and data are required for issue update");
            }
            tracing::info!("Issue update not yet implemented in worker");
            Ok(json!({"success": false, "error": "Not implemented"}))
        }
        other => bad(&format!("Unknown job type: {other}")),
    }
}

/// Why a job could not get as far as its tracker.
enum Setup {
    /// Recorded as the job's error (`Sync failed: …`).
    Refused(String),
    /// Infrastructure away: the job fails and BullMQ tries again.
    Retry(String),
}

impl From<LoadError> for Setup {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Db { .. } => Setup::Retry(e.to_string()),
            other => Setup::Refused(other.to_string()),
        }
    }
}

/// The pool, the integration (auth checked) and its adapter.
async fn prepare(
    state: &Syncer,
    p: &Payload,
) -> Result<
    (
        PgPool,
        Option<crate::config::Tenant>,
        Integration,
        Arc<Adapter>,
    ),
    Setup,
> {
    let tenant = p.tenant_id.as_deref();
    let (pool, cfg) = state
        .dbs
        .pool_and_tenant(tenant)
        .await
        .map_err(Setup::Retry)?;
    let i = integration::load(&pool, &p.user_id, p.integration_id).await?;
    i.check_auth().map_err(Setup::Refused)?;
    let adapter = adapter(state, tenant, &i, &pool).await?;
    Ok((pool, cfg, i, adapter))
}

/// The integration's adapter: the one built before while its row is unchanged, else a new
/// one (validated against the tracker; an OAuth pair renewed on the way is stored).
async fn adapter(
    state: &Syncer,
    tenant: Option<&str>,
    i: &Integration,
    pool: &PgPool,
) -> Result<Arc<Adapter>, Setup> {
    let key = (tenant.map(str::to_string), i.id);
    let mut adapters = state.adapters.lock().await;
    if let Some(a) = adapters.get(&key)
        && a.matches(i)
    {
        return Ok(a.clone());
    }
    let tracker = {
        let mut trackers = state.trackers.lock().await;
        match trackers.get(&key) {
            Some(t) => t.clone(),
            None => {
                let t = Arc::new(Tracker::new().map_err(|e| Setup::Refused(e.to_string()))?);
                trackers.insert(key.clone(), t.clone());
                t
            }
        }
    };
    let (built, renewed) = Adapter::build(i, tracker).await.map_err(Setup::Refused)?;
    if let (Some(t), Some(row)) = (renewed, &i.user_auth) {
        let stored = local::store_tokens(pool, &row.id, &t)
            .await
            .map_err(Setup::Retry)?;
        tracing::info!(
            "Renewed the OAuth tokens of integration {} for this user",
            i.id
        );
        built.renewed(i, stored);
    }
    let a = Arc::new(built);
    adapters.insert(key, a.clone());
    Ok(a)
}

/// Fetches an issue; an OAuth token the tracker no longer accepts is renewed (and stored)
/// once, then the fetch is tried again.
async fn fetch(
    adapter: &Adapter,
    pool: &PgPool,
    i: &Integration,
    id: &str,
) -> Result<IssueData, String> {
    match adapter.fetch(id).await {
        Err(FetchError::Http(e)) if e.status() == Some(401) => {
            let Some(renewed) = adapter.refresh().await else {
                return Err(e.to_string());
            };
            let t = renewed?;
            if let Some(row) = &i.user_auth {
                let stored = local::store_tokens(pool, &row.id, &t).await?;
                adapter.renewed(i, stored);
                tracing::info!(
                    "Renewed the OAuth tokens of integration {} for this user",
                    i.id
                );
            }
            adapter.fetch(id).await.map_err(|e| e.to_string())
        }
        r => r.map_err(|e| e.to_string()),
    }
}

/// Fetch, cache, update the local row (§6.2); returns the local id.
async fn sync_one(
    state: &Syncer,
    adapter: &Adapter,
    pool: &PgPool,
    i: &Integration,
    id: &str,
) -> Result<i32, String> {
    let issue = fetch(adapter, pool, i, id).await?;
    let now =
        crate::search::text::iso_millis(chrono::Utc::now().timestamp_millis()).unwrap_or_default();
    state
        .cache
        .issue(i.id, &issue.id, &issue.cache_entry(i.id, &now))
        .await;
    local::update(pool, i.id, &issue).await
}

/// A stored issue's identifier at its tracker. A GitHub issue stored as `n` or `#n` is named
/// `owner/repo#n` from the repository its row remembers, when it does.
fn identifier(adapter: &Adapter, row: &StoredIssue) -> Option<String> {
    let id = [
        row.external_id.as_deref(),
        row.external_key.as_deref(),
        Some(row.name.as_str()),
    ]
    .into_iter()
    .flatten()
    .find(|s| !s.is_empty())?;
    if !adapter.is_github() || id.contains('/') {
        return Some(id.to_string());
    }
    Some(github_context(row).map_or_else(
        || id.to_string(),
        |(o, r)| format!("{o}/{r}#{}", id.trim_start_matches('#')),
    ))
}

/// The repository a stored GitHub issue belongs to: `externalData._github_owner/_repo`, else
/// its `github.com/<owner>/<repo>/issues/...` address.
fn github_context(row: &StoredIssue) -> Option<(String, String)> {
    let d = row.external_data.as_ref();
    let field = |k: &str| {
        d.and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match (field("_github_owner"), field("_github_repo")) {
        (Some(o), Some(r)) => Some((o, r)),
        _ => row
            .external_url
            .as_deref()
            .and_then(adapters::github::repo_of_url),
    }
}

/// What a sync reads of a stored issue.
struct StoredIssue {
    id: i32,
    name: String,
    external_id: Option<String>,
    external_key: Option<String>,
    external_data: Option<Value>,
    external_url: Option<String>,
}

type StoredRow = (
    i32,
    String,
    Option<String>,
    Option<String>,
    Option<Value>,
    Option<String>,
);

impl From<StoredRow> for StoredIssue {
    fn from((id, name, external_id, external_key, external_data, external_url): StoredRow) -> Self {
        StoredIssue {
            id,
            name,
            external_id,
            external_key,
            external_data,
            external_url,
        }
    }
}

/// `performSync`: every issue of the integration (or of one project) fetched and stored;
/// each failure recorded and the rest go on.
async fn perform_sync(
    state: &Syncer,
    job: &str,
    p: &Payload,
) -> Result<(u64, Vec<String>), JobError> {
    let started = Instant::now();
    let mut errors = Vec::new();
    let project =
        match &p.project_id {
            Some(s) => Some(s.trim().parse::<i32>().map_err(|_| {
                JobError::Unrecoverable(format!("projectId {s:?} is not a number"))
            })?),
            None => None,
        };
    let (pool, cfg, i, adapter) = match prepare(state, p).await {
        Ok(x) => x,
        Err(Setup::Refused(m)) => return Ok((0, vec![format!("Sync failed: {m}")])),
        Err(Setup::Retry(m)) => return Err(JobError::Failed(m)),
    };
    if !adapter.can_sync() {
        errors.push(format!(
            "Sync failed: integration \"{}\" is a Simple URL integration: its issues have no tracker to be synced from, so they were left as they are",
            i.name
        ));
        return Ok((0, errors));
    }
    let (total,): (i64,) = sqlx::query_as(
        r#"SELECT count(*) FROM "Issue" WHERE "integrationId" = $1 AND ($2::int IS NULL OR "projectId" = $2)"#,
    )
    .bind(i.id)
    .bind(project)
    .fetch_one(&pool)
    .await
    .map_err(fail::db("cannot count the issues to sync"))?;
    let mut indexer = index::Indexer::open(&pool, p.tenant_id.as_deref(), cfg.as_ref()).await;
    let mut synced = 0u64;
    let mut done = 0i64;
    let mut after = 0i32;
    loop {
        let rows: Vec<StoredRow> = sqlx::query_as(
            r#"SELECT id, name, "externalId", "externalKey", "externalData", "externalUrl"
               FROM "Issue"
               WHERE "integrationId" = $1 AND ($2::int IS NULL OR "projectId" = $2) AND id > $3
               ORDER BY id LIMIT $4"#,
        )
        .bind(i.id)
        .bind(project)
        .bind(after)
        .bind(PAGE)
        .fetch_all(&pool)
        .await
        .map_err(fail::db("cannot read the issues to sync"))?;
        let rows: Vec<StoredIssue> = rows.into_iter().map(StoredIssue::from).collect();
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            if crate::run::stopping() {
                if let Some(ix) = indexer.as_mut() {
                    ix.flush().await;
                }
                tracing::info!(
                    "Stopping: sync of integration {} interrupted after {done} of {total} issues",
                    i.id
                );
                // Syncing again is harmless: the job goes back to the front of the queue, no
                // attempt spent, and the next worker runs it anew.
                let why = format!(
                    "interrupted by a worker stop after {done} of {total} issues ({synced} synced); the sync runs again"
                );
                state.log.line(job, &format!("Sync {why}")).await;
                return Err(JobError::HandBack(why));
            }
            done += 1;
            // More issues than counted (added meanwhile) still show a sensible bar.
            let total = total.max(done);
            let progress = json!({
                "current": done,
                "total": total,
                "percentage": (100.0 * done as f64 / total as f64).round() as i64,
                "message": format!("Syncing issue {done} of {total}"),
            });
            state.log.progress_value(job, &progress).await;
            let Some(id) = identifier(&adapter, row) else {
                errors.push(format!("Issue {} has no external identifier", row.id));
                continue;
            };
            match sync_one(state, &adapter, &pool, &i, &id).await {
                Ok(local) => {
                    synced += 1;
                    if let Some(ix) = indexer.as_mut() {
                        ix.add(local).await;
                    }
                }
                Err(e) => {
                    let name = [&row.external_key, &row.external_id]
                        .into_iter()
                        .flatten()
                        .find(|s| !s.is_empty())
                        .cloned()
                        .unwrap_or_else(|| row.id.to_string());
                    errors.push(format!("Failed to sync issue {name}: {e}"));
                }
            }
        }
        if let Some(ix) = indexer.as_mut() {
            ix.flush().await;
        }
    }
    if p.data
        .as_ref()
        .and_then(|d| d.get("includeMetadata"))
        .is_some_and(crate::search::text::truthy)
    {
        let meta = adapter.metadata().await;
        if let Err(e) = match meta {
            Ok(m) => state.cache.metadata(i.id, m).await,
            Err(e) => Err(e),
        } {
            errors.push(format!("Failed to fetch metadata: {e}"));
        }
    }
    let s = &adapter.tracker.stats;
    tracing::info!(
        "Sync of integration {} ({}): {synced} of {done} issues synced, {} errors, {} indexed, \
         {} requests; {:.1} s in all, {:.1} s waiting on the tracker, {:.1} s paced",
        i.id,
        i.name,
        errors.len(),
        indexer.as_ref().map_or(0, |x| x.indexed),
        s.requests.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        s.waited_us.load(Ordering::Relaxed) as f64 / 1e6,
        s.paced_us.load(Ordering::Relaxed) as f64 / 1e6,
    );
    Ok((synced, errors))
}

/// `performIssueRefresh`: one issue fetched and stored. `Err` inside is the job's error.
async fn perform_refresh(
    state: &Syncer,
    p: &Payload,
    external: &str,
) -> Result<Result<(), String>, JobError> {
    let (pool, cfg, i, adapter) = match prepare(state, p).await {
        Ok(x) => x,
        Err(Setup::Refused(m)) => return Ok(Err(m)),
        Err(Setup::Retry(m)) => return Err(JobError::Failed(m)),
    };
    if !adapter.can_sync() {
        return Ok(Err(
            "This integration does not support syncing individual issues".into(),
        ));
    }
    let mut id = external.to_string();
    if adapter.is_github() && !external.contains('/') {
        let row: Option<StoredIssue> = sqlx::query_as::<_, StoredRow>(
            r#"SELECT id, name, "externalId", "externalKey", "externalData", "externalUrl"
               FROM "Issue" WHERE "integrationId" = $1 AND ("externalId" = $2 OR "externalKey" = $2)
               ORDER BY id LIMIT 1"#,
        )
        .bind(i.id)
        .bind(external)
        .fetch_optional(&pool)
        .await
        .map_err(fail::db("cannot read the issue to refresh"))?
        .map(StoredIssue::from);
        match row.as_ref().and_then(github_context) {
            Some((o, r)) => id = format!("{o}/{r}#{}", external.trim_start_matches('#')),
            None => {
                return Ok(Err(format!(
                    "Cannot determine GitHub repository for issue {external}. Issue data is missing repository context."
                )));
            }
        }
    }
    let local = match sync_one(state, &adapter, &pool, &i, &id).await {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(mut ix) = index::Indexer::open(&pool, p.tenant_id.as_deref(), cfg.as_ref()).await {
        ix.add(local).await;
        ix.flush().await;
    }
    Ok(Ok(()))
}
