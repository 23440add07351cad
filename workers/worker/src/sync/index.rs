//! Synced issues into the tenant's `issues` search index, through the shared search-index
//! layer: the index made with its mapping if it is missing, documents sent in bulk a page at a
//! time rather than one request per issue. Node wrote the default database's issue into the
//! unprefixed index even for a tenant's job (§6.2 bug); here the tenant's database, index name
//! and search server are used. A search server that is away is reported, never a sync failure:
//! the database row is what the web app reads, and a reindex repairs the index.

use sqlx::PgPool;

use crate::config::Tenant;
use crate::search::docs::{IndexError, Reader, Target, issues};
use crate::search::{self, BulkLimits, BulkWriter, Entity, SearchClient};

pub struct Indexer {
    tenant: Option<String>,
    writer: BulkWriter,
    reader: Reader,
    pub indexed: u64,
    pub failed: u64,
}

impl Indexer {
    /// The indexer for a job, or `None` when no search server is configured.
    pub async fn open(
        pool: &PgPool,
        tenant: Option<&str>,
        cfg: Option<&Tenant>,
    ) -> Option<Indexer> {
        let node = search::node_for(cfg)?;
        let client = match SearchClient::new(&node) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("synced issues will not be indexed: {e}");
                return None;
            }
        };
        let name = Entity::Issues.index_name(tenant);
        let replicas = search::replicas(pool).await;
        match client
            .ensure_index(&name, &Entity::Issues.create_body(replicas))
            .await
        {
            Ok(true) => tracing::info!("Created search index {name} on {}", client.addr()),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!("synced issues will not be indexed: {e}");
                return None;
            }
        }
        Some(Indexer {
            tenant: tenant.map(str::to_string),
            writer: BulkWriter::new(client, BulkLimits::default()),
            reader: Reader::new(pool.clone()),
            indexed: 0,
            failed: 0,
        })
    }

    /// Queues the issue's document.
    pub async fn add(&mut self, issue: i32) {
        let mut out = Target {
            writer: &mut self.writer,
            tenant: self.tenant.as_deref(),
            page: 1,
        };
        match issues::one(&mut self.reader, &mut out, issue).await {
            Ok(true) => {}
            Ok(false) => tracing::info!("issue {issue} has no project: not indexed"),
            Err(e) => {
                self.failed += 1;
                tracing::warn!("cannot index issue {issue}: {e}");
            }
        }
    }

    /// Sends what is queued and waits for the answer.
    pub async fn flush(&mut self) {
        let (ok, bad) = (
            self.writer.indexed(Entity::Issues),
            self.writer.failed(Entity::Issues),
        );
        if let Err(e) = self.writer.finish().await {
            tracing::warn!("cannot index the synced issues: {}", IndexError::from(e));
        }
        for f in self.writer.new_failures() {
            tracing::warn!(
                "search server refused issue {}: {} {}",
                f.id,
                f.status,
                f.reason
            );
        }
        self.indexed += self.writer.indexed(Entity::Issues) - ok;
        self.failed += self.writer.failed(Entity::Issues) - bad;
    }
}
