//! PostgreSQL pools: one on DATABASE_URL, or one per tenant in multi-tenant mode (re-read for
//! every job, replaced when a tenant's URL changes). Pools connect lazily: a worker starts
//! while PostgreSQL is down and takes no job until it answers and its schema has been checked
//! (`schema_guard`); a later outage fails the jobs it meets, retried by BullMQ, until it is back.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;

use crate::config::{self, Config};

/// How long a job waits for a connection before it fails (and is retried).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Databases {
    /// The queue its worker consumes: what the schema guard checks for.
    queue: &'static str,
    multi_tenant: bool,
    single: Option<Result<PgPool, String>>,
    tenants: Mutex<HashMap<String, (String, PgPool)>>,
    size: u32,
}

fn open(url: &str, size: u32) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy(url)
        .map_err(|e| format!("invalid database URL: {e}"))
}

impl Databases {
    /// Pools of `size` connections (the worker's concurrency).
    pub fn new(cfg: &Config, size: usize, queue: &'static str) -> Databases {
        let size = u32::try_from(size.max(1)).unwrap_or(u32::MAX);
        Databases {
            queue,
            multi_tenant: cfg.multi_tenant,
            single: (!cfg.multi_tenant).then(|| match &cfg.database_url {
                Some(url) => open(url, size),
                None => Err("DATABASE_URL is not set".into()),
            }),
            tenants: Mutex::new(HashMap::new()),
            size,
        }
    }

    /// The pool for a job of `tenant`, or why there is none (the job fails with that reason).
    pub async fn pool(&self, tenant: Option<&str>) -> Result<PgPool, String> {
        self.pool_and_tenant(tenant).await.map(|(pool, _)| pool)
    }

    /// The pool, and in multi-tenant mode the tenant's configuration as read for this job
    /// (so a caller needing more of it, such as the base URL, does not read it again).
    pub async fn pool_and_tenant(
        &self,
        tenant: Option<&str>,
    ) -> Result<(PgPool, Option<config::Tenant>), String> {
        if !self.multi_tenant {
            return match &self.single {
                Some(Ok(p)) => Ok((p.clone(), None)),
                Some(Err(e)) => Err(e.clone()),
                None => Err("DATABASE_URL is not set".into()),
            };
        }
        let id = tenant.ok_or("tenantId is required in multi-tenant mode")?;
        let mut all = config::tenants().map_err(|e| e.to_string())?;
        let t = all
            .remove(id)
            .ok_or_else(|| format!("No configuration found for tenant: {id}"))?;
        let mut cache = self.tenants.lock().await;
        if let Some((url, pool)) = cache.get(id)
            && *url == t.database_url
        {
            return Ok((pool.clone(), Some(t)));
        }
        let pool = open(&t.database_url, self.size)?;
        // A tenant's database is checked once, before the first job writes to it; a refusal
        // fails its jobs with the reason (another tenant's go on), and is checked again later.
        crate::schema_guard::check(self.queue, &pool)
            .await
            .map_err(|e| format!("tenant {id}: {e}"))?;
        if let Some((_, old)) = cache.insert(id.to_string(), (t.database_url.clone(), pool.clone()))
        {
            tracing::info!("database URL of tenant {id} changed; closing its old connections");
            tokio::spawn(async move { old.close().await });
        }
        Ok((pool, Some(t)))
    }

    /// Whether PostgreSQL answers (`SELECT 1` on the pool; in multi-tenant mode each job
    /// finds its tenant's database, so there is nothing to ask before the first).
    pub async fn reachable(&self) -> Result<(), String> {
        match &self.single {
            Some(Ok(p)) => sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e.clone()),
            None if self.multi_tenant => Ok(()),
            None => Err("DATABASE_URL is not set".into()),
        }
    }

    /// The single database, when one is configured (not in multi-tenant mode).
    pub fn single(&self) -> Option<&PgPool> {
        self.single.as_ref().and_then(|p| p.as_ref().ok())
    }

    pub fn queue(&self) -> &'static str {
        self.queue
    }

    /// Closes every pool (at shutdown).
    pub async fn close(&self) {
        if let Some(Ok(p)) = &self.single {
            p.close().await;
        }
        for (_, (_, p)) in self.tenants.lock().await.drain() {
            p.close().await;
        }
    }
}
