//! Queue figures and actions for `tpctl queues` and `tpctl queue`, through tp-bullmq (the
//! layer the workers use): what TestPlanIt's Admin › Job Queues page shows and does.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tp_bullmq::{Counts, Queue};

use crate::config::ConfigError;
use crate::config::defaults::ECOSYSTEM_FILE;
use crate::spec::AppSpec;

/// One row of `tpctl queues` (also its `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub queue: String,
    /// `error`, `paused`, `active` (jobs running) or `idle`, as the Admin page shows.
    pub status: &'static str,
    /// Concurrency configured in ecosystem.toml for the apps consuming this queue.
    pub concurrency: Option<u32>,
    /// Workers connected (Node's getWorkers()).
    pub workers: usize,
    pub counts: Counts,
    pub error: Option<String>,
    /// Jobs wait and no worker is connected to take them (`waiting, no worker` in the table).
    pub no_worker: bool,
    /// The address (IP) each connected worker comes from, as Valkey sees it: `tpctl web`
    /// tells hosts apart by it.
    #[serde(skip)]
    pub worker_ips: Vec<String>,
    /// The apps tpctl runs on this queue and whether each consumes it (`tpctl queues` fills
    /// it in from their keepers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<Consumer>,
}

/// An app tpctl runs with this queue, and whether it consumes it.
#[derive(Debug, Clone, Serialize)]
pub struct Consumer {
    pub app: String,
    #[serde(flatten)]
    pub consumption: crate::proto::QueueConsumption,
}

/// Each row's consumers among the apps' statuses.
pub fn add_consumers(rows: &mut [QueueRow], apps: &[crate::proto::AppStatus]) {
    for r in rows {
        r.consumers = apps
            .iter()
            .flat_map(|a| {
                a.consumption
                    .iter()
                    .filter(|c| c.queue == r.queue)
                    .map(|c| Consumer {
                        app: a.id.clone(),
                        consumption: c.clone(),
                    })
            })
            .collect();
    }
}

/// `tpctl queue Q` arguments that remove every completed (failed) job: monit's `c` and the
/// dashboard's clean buttons.
pub const CLEAN_ALL_COMPLETED: [&str; 8] = [
    "clean",
    "--grace",
    "0",
    "--limit",
    "100000",
    "--state",
    "completed",
    "--yes",
];
pub const CLEAN_ALL_FAILED: [&str; 8] = [
    "clean", "--grace", "0", "--limit", "100000", "--state", "failed", "--yes",
];

/// Jobs wait (not paused by an operator) and nobody is connected to take them.
pub fn no_worker(status: &str, counts: &Counts, workers: usize) -> bool {
    status != "error" && status != "paused" && counts.waiting + counts.paused > 0 && workers == 0
}

/// The apps of ./ecosystem.toml, or none when there is no such file. A file that exists
/// but is invalid is an error: silently ignoring it would hide its Valkey address.
pub fn ecosystem() -> Result<Vec<AppSpec>, ConfigError> {
    let path = Path::new(ECOSYSTEM_FILE);
    if path.exists() {
        crate::config::load(path)
    } else {
        Ok(Vec::new())
    }
}

/// Where the queues are: Valkey's address and BullMQ's key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valkey {
    pub url: String,
    pub prefix: String,
    /// TLS files (VALKEY_TLS_CA, …) and Sentinel (VALKEY_SENTINELS, …), found as the URL is.
    pub settings: tp_bullmq::connect::Settings,
}

/// A variable of the environment, else of the apps (their `env` or `env_file`), as the
/// workers see it.
fn setting(apps: &[AppSpec], name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| apps.iter().find_map(|s| s.env.get(name).cloned()))
}

/// Where the queues are: `VALKEY_URL` and `BULLMQ_PREFIX` (default `bull`) of the
/// environment, else of the apps; none without a URL, an error for a prefix TestPlanIt would
/// refuse.
pub fn valkey(apps: &[AppSpec]) -> Result<Option<Valkey>, tp_bullmq::keys::PrefixError> {
    let Some(url) = setting(apps, "VALKEY_URL") else {
        return Ok(None);
    };
    let prefix = match setting(apps, "BULLMQ_PREFIX") {
        Some(p) => tp_bullmq::keys::check_prefix(p.trim())?.to_string(),
        None => tp_bullmq::keys::DEFAULT_PREFIX.to_string(),
    };
    let settings = tp_bullmq::connect::Settings::from_lookup(|name| setting(apps, name));
    Ok(Some(Valkey {
        url,
        prefix,
        settings,
    }))
}

/// Queue names the apps consume, with their summed concurrency.
pub fn configured(apps: &[AppSpec]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for s in apps {
        for q in &s.queues {
            *out.entry(q.clone()).or_insert(0) += s.concurrency.unwrap_or(1);
        }
    }
    out
}

/// A single-threaded runtime for the command's few Valkey calls.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Connects within 3 s, printing the server's warnings (such as an eviction policy that can
/// lose jobs), or says why not.
async fn connect(valkey: &Valkey) -> Result<redis::aio::MultiplexedConnection, String> {
    let (conn, warnings) =
        tp_bullmq::connect::connect_with(&valkey.url, Duration::from_secs(3), &valkey.settings)
            .await
            .map_err(|e| e.to_string())?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(conn)
}

/// A queue handle, and the queues that exist (in Valkey or in ecosystem.toml) when `name` is
/// not one of them: acting on a mistyped name would silently find nothing.
pub struct Opened {
    pub queue: Queue,
    pub unknown: Option<Vec<String>>,
}

/// Connects and opens a queue handle, or says why not.
pub async fn open(
    valkey: &Valkey,
    name: &str,
    configured: &BTreeMap<String, u32>,
) -> Result<Opened, String> {
    let mut conn = connect(valkey).await?;
    let prefix = &valkey.prefix;
    // The queue's own keys answer whether it exists; the keyspace SCAN behind the list of
    // known queues is paid only when it does not.
    let keys = tp_bullmq::keys::Keys::new(prefix, name);
    let own: u64 = redis::cmd("EXISTS")
        .arg(keys.of("meta"))
        .arg(keys.of("id"))
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("cannot read queue {name}: {e}"))?;
    let unknown = if own > 0 || configured.contains_key(name) {
        None
    } else {
        Some(names(&mut conn, prefix, configured).await?)
    };
    Ok(Opened {
        queue: Queue::new(conn, prefix, name),
        unknown,
    })
}

/// Every queue found under the prefix plus those the ecosystem file names.
pub async fn rows(
    valkey: &Valkey,
    configured: &BTreeMap<String, u32>,
) -> Result<Vec<QueueRow>, String> {
    let mut conn = connect(valkey).await?;
    rows_on(&mut conn, &valkey.prefix, configured).await
}

/// `rows` on a connection already made (`tpctl web` keeps one).
pub async fn rows_on(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    configured: &BTreeMap<String, u32>,
) -> Result<Vec<QueueRow>, String> {
    let names = names(conn, prefix, configured).await?;
    rows_of(conn, prefix, &names, configured).await
}

/// The rows of the named queues: their reads sent at once over the multiplexed connection
/// (pipelined), not one queue after another.
pub async fn rows_of(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    names: &[String],
    configured: &BTreeMap<String, u32>,
) -> Result<Vec<QueueRow>, String> {
    let clients = client_list(conn).await;
    let conn = &*conn;
    let rows = names
        .iter()
        .map(|name| row(conn, prefix, name, configured, clients.as_deref()));
    Ok(futures_util::future::join_all(rows).await)
}

/// Where the queues are for the apps of `home` and ./ecosystem.toml, and the queues they
/// consume with their concurrency. ./ecosystem.toml's Valkey comes first; apps started from
/// elsewhere still name their queues and Valkey in their saved specs.
pub fn locate(home: &crate::home::Home) -> Result<Located, LocateError> {
    let eco = ecosystem()?;
    let ids = home.app_ids().unwrap_or_default();
    let saved: Vec<AppSpec> = ids
        .iter()
        .filter_map(|id| crate::commands::targets::saved_spec(home, id))
        .collect();
    let valkey = match valkey(&eco)? {
        Some(v) => Some(v),
        None => valkey(&saved)?,
    };
    let mut configured = configured(&saved);
    configured.extend(self::configured(&eco));
    Ok(Located { valkey, configured })
}

/// What `locate` found.
pub struct Located {
    pub valkey: Option<Valkey>,
    pub configured: BTreeMap<String, u32>,
}

/// Why the queues could not be located.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Prefix(#[from] tp_bullmq::keys::PrefixError),
}

/// The server's CLIENT LIST, read once for every queue's worker count.
pub async fn client_list(conn: &mut redis::aio::MultiplexedConnection) -> Result<String, String> {
    tp_bullmq::admin::client_list(conn)
        .await
        .map_err(|e| format!("cannot list connected workers: {e}"))
}

/// The queues found under the prefix (a keyspace SCAN) and those the ecosystem file names,
/// sorted.
pub async fn names(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    configured: &BTreeMap<String, u32>,
) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = tp_bullmq::admin::discover_queues(conn, prefix)
        .await
        .map_err(|e| format!("cannot list queues: {e}"))?;
    names.extend(configured.keys().cloned());
    names.sort();
    names.dedup();
    Ok(names)
}

/// The Admin page's word for a readable queue: `paused`, `active` (jobs running) or `idle`.
pub fn status_word(paused: bool, counts: &Counts) -> &'static str {
    if paused {
        "paused"
    } else if counts.active > 0 {
        "active"
    } else {
        "idle"
    }
}

/// One queue's figures, its workers counted in `clients` (the CLIENT LIST, read once for
/// all queues, or why it could not be); a queue that cannot be read is a row with status
/// `error`.
pub async fn row(
    conn: &redis::aio::MultiplexedConnection,
    prefix: &str,
    name: &str,
    configured: &BTreeMap<String, u32>,
    clients: Result<&str, &String>,
) -> QueueRow {
    let q = Queue::new(conn.clone(), prefix, name);
    let (counts, paused) = tokio::join!(q.counts(), q.is_paused());
    let (counts, paused) = (
        counts.map_err(|e| e.to_string()),
        paused.map_err(|e| e.to_string()),
    );
    match (counts, paused, clients) {
        (Ok(counts), Ok(paused), Ok(clients)) => {
            let status = status_word(paused, &counts);
            let found = q.workers_in(clients);
            let workers = found.len();
            let worker_ips = found
                .iter()
                .filter_map(|c| c.get("addr"))
                .map(|a| {
                    a.rsplit_once(':')
                        .map_or(a.as_str(), |(ip, _)| ip)
                        .to_string()
                })
                .collect();
            QueueRow {
                worker_ips,
                no_worker: no_worker(status, &counts, workers),
                status,
                concurrency: configured.get(name).copied(),
                workers,
                counts,
                error: None,
                queue: name.to_string(),
                consumers: vec![],
            }
        }
        (a, b, c) => QueueRow {
            status: "error",
            concurrency: configured.get(name).copied(),
            workers: 0,
            counts: Counts::default(),
            no_worker: false,
            worker_ips: vec![],
            error: [a.err(), b.err(), c.err().cloned()]
                .into_iter()
                .flatten()
                .next(),
            queue: name.to_string(),
            consumers: vec![],
        },
    }
}
