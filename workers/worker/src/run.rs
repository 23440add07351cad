//! The runtime every queue worker shares: connect (and keep trying while Valkey is away; a
//! worker never exits on an outage), one log line per job started, completed and failed, and a
//! graceful close on SIGINT or SIGTERM that lets running jobs finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tp_bullmq::{Job, JobError, Worker};
use tracing::Instrument;

use crate::config::Config;
use crate::db::Databases;
use crate::queues::QueueSpec;

/// Set once a stop signal has arrived: long jobs (a bulk issue sync) check it between items
/// and hand their job back for a retry instead of holding the stop up for hours.
static STOPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn stopping() -> bool {
    STOPPING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Resolves on the first SIGINT or SIGTERM.
pub fn shutdown_signal() -> std::io::Result<watch::Receiver<bool>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        // Set before it is said, so whoever reads the line finds long jobs told.
        STOPPING.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("{name} received: finishing running jobs, then exiting");
        let _ = tx.send(true);
    });
    Ok(rx)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The tenant a job names, for log lines.
pub fn tenant_of(job: &Job) -> Option<String> {
    job.data
        .get("tenantId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// " for tenant <t>" for log lines, or nothing.
pub fn for_tenant(tenant: Option<&str>) -> String {
    tenant
        .map(|t| format!(" for tenant {t}"))
        .unwrap_or_default()
}

/// Waits until PostgreSQL answers (trying every second, said once), or a stop.
async fn wait_for_postgres(databases: &Databases, shutdown: &watch::Receiver<bool>) {
    let mut said = false;
    loop {
        match databases.reachable().await {
            Ok(()) => {
                if said {
                    tracing::info!("PostgreSQL reached");
                }
                return;
            }
            Err(e) => {
                if !said {
                    said = true;
                    tracing::warn!(
                        "cannot reach PostgreSQL: {e}; not ready until it answers, trying every second"
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped(shutdown.clone()) => return,
                }
            }
        }
    }
}

/// Waits for PostgreSQL and checks its schema (`schema_guard`); false when a stop came first.
async fn guarded(databases: &Databases, shutdown: &watch::Receiver<bool>) -> anyhow::Result<bool> {
    let mut said = false;
    loop {
        wait_for_postgres(databases, shutdown).await;
        if *shutdown.borrow() {
            return Ok(false);
        }
        let Some(pool) = databases.single() else {
            return Ok(true);
        };
        match crate::schema_guard::check(databases.queue(), pool).await {
            Ok(()) => return Ok(true),
            Err(crate::schema_guard::GuardError::Unknown(m)) => return Err(ConfigError(m).into()),
            // Gone again between the two, or not migrated yet: wait, said once.
            Err(e) => {
                if !said {
                    said = true;
                    tracing::warn!("{e}; not ready until it is, trying every second");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped(shutdown.clone()) => return Ok(false),
                }
            }
        }
    }
}

/// Runs `processor` on `spec`'s queue until a signal; `label` names the worker in logs. Under
/// a supervisor that gives NOTIFY_SOCKET (tpctl's `notify = true`, systemd's Type=notify) it
/// reports READY once Valkey and PostgreSQL answer and its worker is registered, then STATUS
/// and WATCHDOG from the loop that takes jobs.
pub async fn serve<P, Fut>(
    label: &'static str,
    spec: &QueueSpec,
    cfg: &Config,
    concurrency: usize,
    databases: &Databases,
    processor: P,
) -> anyhow::Result<()>
where
    P: Fn(Job) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    let shutdown = shutdown_signal()?;
    tracing::info!("{label} worker starting in {} mode", cfg.mode());
    let Some(url) = cfg.valkey_url.clone() else {
        anyhow::bail!("VALKEY_URL is not set: the {label} worker has no queue to read");
    };
    let mut opts = spec.worker_options(concurrency);
    let notifier = crate::notify::Notifier::from_env().map(Arc::new);
    let activity = Arc::new(crate::notify::Activity::default());
    if let Some(n) = &notifier {
        let (n, activity) = (n.clone(), activity.clone());
        opts.heartbeat = Some(tp_bullmq::Heartbeat(Arc::new(move || {
            n.beat(|| activity.describe())
        })));
    }
    // Tries every second while Valkey is away (it must be noticed soon after it is back),
    // saying so once, and once more when connected.
    let mut down_since: Option<std::time::Instant> = None;
    let worker = loop {
        match Worker::connect(&url, &cfg.prefix, spec.name, opts.clone()).await {
            Ok(w) => {
                if let Some(t) = down_since {
                    tracing::info!("Valkey reached after {:.1} s", t.elapsed().as_secs_f64());
                }
                break w;
            }
            // A URL, certificate or password that cannot work: said once, exit 2.
            Err(e) if e.is_configuration() => return Err(ConfigError(e.to_string()).into()),
            Err(e) => {
                if down_since.is_none() {
                    down_since = Some(std::time::Instant::now());
                    tracing::warn!("cannot reach Valkey: {e}; trying again every second");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped(shutdown.clone()) => return Ok(()),
                }
            }
        }
    };
    // No job before the database is known to be the schema this worker implements: with a
    // database configured, wait for it, then check it (a refusal exits 2).
    if (databases.single().is_some() || notifier.is_some())
        && !guarded(databases, &shutdown).await?
    {
        return Ok(());
    }
    if let Some(n) = &notifier {
        n.ready(&format!("taking jobs from {}", spec.name));
    }
    tracing::info!(
        "{label} worker started for queue \"{}\" (concurrency {concurrency})",
        spec.name
    );
    let processor = Arc::new(processor);
    let counted = activity.clone();
    worker
        .run(
            move |job: Job| {
                let processor = processor.clone();
                let activity = counted.clone();
                // Every line the job's processor logs carries the job's id and, in
                // multi-tenant mode, its tenant (`job{id=42 tenant=acme}:`); its end is
                // logged once, by tp-bullmq, when it is recorded.
                let tenant = tenant_of(&job);
                let span = match &tenant {
                    Some(t) => tracing::info_span!("job", id = %job.id, tenant = %t),
                    None => tracing::info_span!("job", id = %job.id),
                };
                async move {
                    let for_tenant = for_tenant(tenant.as_deref());
                    tracing::info!("Processing job {} of type {}{for_tenant}", job.id, job.name);
                    activity.started();
                    let result = processor(job).await;
                    activity.finished();
                    result
                }
                .instrument(span)
            },
            {
                let notifier = notifier.clone();
                async move {
                    stopped(shutdown).await;
                    if let Some(n) = notifier {
                        n.stopping();
                    }
                }
            },
        )
        .await?;
    tracing::info!("{label} worker stopped");
    Ok(())
}

/// A queue worker's state: it owns the database pools, which are closed at shutdown.
pub trait WithDatabases {
    fn databases(&self) -> &Databases;
}

impl WithDatabases for Databases {
    fn databases(&self) -> &Databases {
        self
    }
}

/// Runs a queue worker: its state built around pools sized to the queue's concurrency,
/// `process` for each job, the pools closed once the worker has stopped.
pub async fn serve_queue<S, P, Fut>(
    label: &'static str,
    spec: &QueueSpec,
    cfg: &Config,
    state: impl FnOnce(Databases) -> S,
    process: P,
) -> anyhow::Result<()>
where
    S: WithDatabases + Send + Sync + 'static,
    P: Fn(Arc<S>, Job) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    let concurrency = spec.concurrency();
    let state = Arc::new(state(Databases::new(
        cfg,
        concurrency * spec.connections_per_job.max(1),
        spec.name,
    )));
    let shared = state.clone();
    let result = serve(
        label,
        spec,
        cfg,
        concurrency,
        state.databases(),
        move |job| process(shared.clone(), job),
    )
    .await;
    state.databases().close().await;
    result
}

/// A configuration mistake that retrying cannot fix: the process exits 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
