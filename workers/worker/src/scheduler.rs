//! The scheduler (spec §10), a one-shot: on `forecast-updates` and `notifications`, remove
//! every legacy repeatable of TestPlanIt's four daily jobs (for any tenant) and register them
//! again, per tenant, with the same names, cron patterns and job ids as TestPlanIt's own
//! scheduler, so that the web app's Admin page and Node workers see the same schedules.

use std::time::Duration;

use serde_json::json;
use tp_bullmq::{Queue, Repeat};

use crate::config::{self, Config};
use crate::queues::{FORECAST, NOTIFICATIONS, QueueSpec};

/// (queue, job name, cron pattern), in TestPlanIt's order.
pub const JOBS: [(&QueueSpec, &str, &str); 4] = [
    (&FORECAST, "update-all-cases-forecast", "0 3 * * *"),
    (&FORECAST, "auto-complete-milestones", "0 6 * * *"),
    (&FORECAST, "milestone-due-notifications", "0 6 * * *"),
    (&NOTIFICATIONS, "send-daily-digest", "0 8 * * *"),
];

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("VALKEY_URL is not set: set it to the Valkey the web app uses")]
    NoValkey,
    #[error(transparent)]
    Connect(#[from] tp_bullmq::connect::ConnectError),
    #[error(transparent)]
    Tenants(#[from] config::TenantError),
    #[error(
        "multi-tenant mode is on but no tenant is configured (TENANT_CONFIG_FILE, TENANT_CONFIGS or TENANT_<ID>_DATABASE_URL)"
    )]
    NoTenants,
    #[error("{0}")]
    Queue(#[from] tp_bullmq::Error),
}

/// Registers the schedules; returns how many were (re)registered.
pub async fn run(cfg: &Config) -> Result<usize, SchedulerError> {
    let url = cfg.valkey_url.as_deref().ok_or(SchedulerError::NoValkey)?;
    let (conn, warnings) = tp_bullmq::connect::connect(url, Duration::from_secs(10)).await?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let tenants: Vec<Option<String>> = if cfg.multi_tenant {
        let all = config::tenants()?;
        if all.is_empty() {
            return Err(SchedulerError::NoTenants);
        }
        tracing::info!(
            "Multi-tenant mode enabled. Scheduling jobs for {} tenants.",
            all.len()
        );
        all.into_keys().map(Some).collect()
    } else {
        vec![None]
    };
    let mut registered = 0;
    for spec in [&FORECAST, &NOTIFICATIONS] {
        let queue = Queue::new(conn.clone(), &cfg.prefix, spec.name);
        let names: Vec<&str> = JOBS
            .iter()
            .filter(|(s, _, _)| s.name == spec.name)
            .map(|(_, n, _)| *n)
            .collect();
        let mut removed = 0;
        for r in queue.repeatables().await? {
            if names.contains(&r.name.as_str()) {
                queue.remove_repeatable_by_key(&r.key).await?;
                tracing::info!(
                    "Removed repeatable job \"{}\" ({}) from queue \"{}\"",
                    r.name,
                    r.key,
                    spec.name
                );
                removed += 1;
            }
        }
        tracing::info!(
            "Removed {removed} old repeatable job(s) from queue \"{}\"",
            spec.name
        );
        for tenant in &tenants {
            for (s, name, pattern) in JOBS.iter().filter(|(s, _, _)| s.name == spec.name) {
                let job_id = match tenant {
                    Some(t) => format!("{name}-{t}"),
                    None => name.to_string(),
                };
                let data = match tenant {
                    Some(t) => json!({ "tenantId": t }),
                    None => json!({}),
                };
                let repeat = Repeat {
                    pattern: Some(pattern.to_string()),
                    ..Default::default()
                };
                queue
                    .add_repeatable(name, &data, &s.job_options(), &repeat, Some(&job_id))
                    .await?;
                let for_tenant = crate::run::for_tenant(tenant.as_deref());
                tracing::info!(
                    "Successfully scheduled repeatable job \"{name}\"{for_tenant} with pattern \"{pattern}\" on queue \"{}\".",
                    spec.name
                );
                registered += 1;
            }
        }
    }
    Ok(registered)
}
