//! The search-index layer: TestPlanIt's Elasticsearch/OpenSearch indices (names, settings,
//! mappings), the HTTP client, bulk writing with per-item error handling, and the document
//! builders for all seven entity types. Used by the reindex worker and the sync worker.
//!
//! The client is `reqwest` with our own serde types rather than the official `elasticsearch`
//! crate: we make four calls (HEAD/PUT index, `_bulk`, `_refresh`), the official crate is
//! still an alpha tied to one server line and would not type our bodies anyway, and reqwest
//! is the HTTP client the sync worker needs for Jira, GitHub and Azure DevOps too, so both
//! share one client stack (rustls with ring, as lettre uses).

pub mod bulk;
pub mod client;
pub mod docs;
pub mod fields;
pub mod index;
pub mod text;

pub use bulk::{BulkLimits, BulkWriter};
pub use client::{SearchClient, SearchError};
pub use index::Entity;

use sqlx::PgPool;

/// `AppConfig.elasticsearch_replicas` (a JSON number; 0 when absent or unreadable, as
/// TestPlanIt does).
pub async fn replicas(pool: &PgPool) -> u32 {
    let row: Result<Option<(serde_json::Value,)>, _> =
        sqlx::query_as(r#"SELECT value FROM "AppConfig" WHERE key = 'elasticsearch_replicas'"#)
            .fetch_optional(pool)
            .await;
    match row {
        Ok(Some((v,))) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        Ok(None) => 0,
        Err(e) => {
            tracing::warn!("cannot read AppConfig elasticsearch_replicas ({e}); using 0 replicas");
            0
        }
    }
}

/// The search server for a job: the tenant's own (`TENANT_<ID>_ELASTICSEARCH_NODE` or
/// `elasticsearchNode` in the tenant configuration), else `ELASTICSEARCH_NODE`.
pub fn node_for(tenant: Option<&crate::config::Tenant>) -> Option<String> {
    tenant
        .and_then(|t| t.elasticsearch_node.clone())
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            std::env::var("ELASTICSEARCH_NODE")
                .ok()
                .filter(|n| !n.trim().is_empty())
        })
}
