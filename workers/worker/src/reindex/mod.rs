//! The Elasticsearch reindex worker (spec §7, queue `elasticsearch-reindex`): jobs `reindex`
//! (the admin page's button) and `reindex-after-import-<id>` (after a Testmo import) rebuild
//! TestPlanIt's search indices from PostgreSQL, with the progress and `job.log` lines the admin
//! page polls.
//!
//! Where TestPlanIt's worker is wrong we do better (README, "Elasticsearch reindex"): every
//! index is created with its mapping; `projectId` limits the projects step too; a document the
//! server refuses is counted, its reason logged, and fails the job if a second try refuses it
//! too; the result counts what was indexed, not an estimate.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;
use tp_bullmq::{Job, JobError};

use crate::db::Databases;
use crate::fail;
use crate::joblog::JobLog;
use crate::run::WithDatabases;
use crate::search::docs::IndexError;
use crate::search::{self, Entity};

mod counts;
mod run;

use run::Run;

/// The worker's state.
pub struct Reindexer {
    pub dbs: Databases,
    pub log: JobLog,
}

impl WithDatabases for Reindexer {
    fn databases(&self) -> &Databases {
        &self.dbs
    }
}

/// What the job asks to reindex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum EntityType {
    All,
    RepositoryCases,
    TestRuns,
    Sessions,
    SharedSteps,
    Issues,
    Milestones,
    Projects,
}

impl EntityType {
    fn wants(self, e: Entity) -> bool {
        self == EntityType::All
            || matches!(
                (self, e),
                (EntityType::RepositoryCases, Entity::RepositoryCases)
                    | (EntityType::TestRuns, Entity::TestRuns)
                    | (EntityType::Sessions, Entity::Sessions)
                    | (EntityType::SharedSteps, Entity::SharedSteps)
                    | (EntityType::Issues, Entity::Issues)
                    | (EntityType::Milestones, Entity::Milestones)
                    | (EntityType::Projects, Entity::Projects)
            )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    entity_type: EntityType,
    #[serde(default)]
    project_id: Option<i32>,
    /// Who pressed the button (not used, as in TestPlanIt).
    #[serde(default)]
    #[allow(dead_code)]
    user_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

/// Why a reindex failed.
#[derive(Debug, thiserror::Error)]
enum ReindexError {
    #[error("Elasticsearch is not configured or unavailable")]
    NotConfigured,
    #[error("{0}")]
    Setup(String),
    #[error("project {0} does not exist or is deleted: nothing to reindex")]
    NoProject(i32),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(
        "interrupted by a worker stop after {done} of {total} documents; the reindex runs again"
    )]
    Interrupted { done: u64, total: u64 },
    #[error(
        "{failed} of {attempted} documents could not be indexed (first: {first}); the rest were indexed"
    )]
    Refused {
        failed: u64,
        attempted: u64,
        first: String,
    },
}

impl From<search::SearchError> for ReindexError {
    fn from(e: search::SearchError) -> Self {
        ReindexError::Index(IndexError::Search(e))
    }
}

/// Rows per page (`ELASTICSEARCH_REINDEX_BATCH_SIZE`, default 100).
fn page_size() -> i64 {
    crate::config::number(
        "ELASTICSEARCH_REINDEX_BATCH_SIZE",
        100,
        |n| (1..=10_000).contains(n),
        "a number from 1 to 10000",
    )
}

pub async fn process(state: Arc<Reindexer>, job: Job) -> Result<Value, JobError> {
    let payload: Payload = serde_json::from_value(job.data.clone()).map_err(fail::malformed)?;
    let mut run = Run {
        state: &state,
        job: &job.id,
        payload,
        started: Instant::now(),
    };
    match run.go().await {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = e.to_string();
            if let ReindexError::Interrupted { .. } = e {
                // A reindex can be repeated safely: back to the front of the queue, no
                // attempt spent (the queue allows one), rather than a 1 h lock left to expire.
                state.log.line(&job.id, &format!("Reindex {msg}")).await;
                return Err(JobError::HandBack(msg));
            }
            state.log.line(&job.id, &format!("Error: {msg}")).await;
            Err(match e {
                ReindexError::NoProject(_) => JobError::Unrecoverable(msg),
                _ => JobError::Failed(msg),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_parse_as_the_web_app_sends_them() {
        let p: Payload =
            serde_json::from_value(json!({"entityType": "all", "userId": "u1"})).expect("payload");
        assert_eq!(p.entity_type, EntityType::All);
        let p: Payload = serde_json::from_value(
            json!({"entityType": "sharedSteps", "projectId": 3, "userId": "u1", "tenantId": "acme"}),
        )
        .expect("payload");
        assert!(p.entity_type.wants(Entity::SharedSteps));
        assert!(!p.entity_type.wants(Entity::Projects));
        assert_eq!(
            (p.project_id, p.tenant_id.as_deref()),
            (Some(3), Some("acme"))
        );
        assert!(serde_json::from_value::<Payload>(json!({"entityType": "everything"})).is_err());
        assert!(serde_json::from_value::<Payload>(json!({"projectId": 1})).is_err());
    }
}
