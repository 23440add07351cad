//! What `tpctl web` shows, read as the CLI reads it: the keepers' statuses (`status --json`),
//! the apps' saved specs (their memory limit and queues) and the queues in Valkey
//! (`queues --json`), over one Valkey connection the server keeps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::home::Home;
use crate::proto::AppStatus;
use crate::queues::{self, QueueRow, Valkey};

/// How long a Valkey round may take before Valkey counts as unreachable.
const VALKEY_PATIENCE: Duration = Duration::from_secs(3);
/// How often the keyspace is scanned for queues.
const DISCOVER_EVERY: Duration = Duration::from_secs(10);
/// How long the located Valkey and the apps' specs are reused before being read again.
const SPECS_EVERY: Duration = Duration::from_secs(5);

/// One app instance as the overview shows it: its `status --json` row and what its spec says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppView {
    #[serde(flatten)]
    pub status: AppStatus,
    /// `max_memory_restart` in bytes.
    pub memory_limit: Option<u64>,
    pub queues: Vec<String>,
}

/// The queues, or why they cannot be shown.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueueState {
    /// No VALKEY_URL in the environment, ./ecosystem.toml or the apps' specs.
    NotConfigured,
    Down {
        address: String,
        reason: String,
    },
    Up {
        address: String,
        rows: Vec<QueueRow>,
        /// Per queue, its workers per host (see `fleet::workers_by_host`).
        workers_by_host: BTreeMap<String, BTreeMap<String, usize>>,
        /// Per queue, the jobs its workers completed and failed since they record BullMQ's
        /// metrics (`metrics:completed|failed` count; absent when nobody records them).
        finished: BTreeMap<String, Finished>,
    },
}

/// Everything the overview, its live updates and `/metrics` show, read at once.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub host: String,
    pub at_ms: u64,
    pub apps: Vec<AppView>,
    /// Why `apps` is empty when the apps could not be read (TPCTL_HOME unreadable): the page
    /// and /metrics still answer, saying so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apps_error: Option<String>,
    pub queues: QueueState,
    /// The other hosts (`scope=fleet`): live ones with their apps, gone ones with when they
    /// were last seen. None when not asked for, or Valkey is not there to tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Vec<super::fleet::Host>>,
}

/// The apps' specs as last read, with where the queues are.
struct Specs {
    read_at: Instant,
    valkey: Option<Valkey>,
    configured: BTreeMap<String, u32>,
    /// id → (memory limit, queues).
    apps: BTreeMap<String, (Option<u64>, Vec<String>)>,
    error: Option<String>,
}

/// The server's view of the host, shared by every request.
pub struct Source {
    pub home: Home,
    pub host: String,
    specs: std::sync::Mutex<Option<Arc<Specs>>>,
    conn: Mutex<Option<MultiplexedConnection>>,
    /// The queues found under the prefix, and when: the keyspace SCAN behind them is paid
    /// every `DISCOVER_EVERY`, not every request.
    names: std::sync::Mutex<Option<(Instant, Vec<String>)>>,
}

impl Source {
    pub fn new(home: Home, host: String) -> Source {
        Source {
            home,
            host,
            specs: std::sync::Mutex::new(None),
            conn: Mutex::new(None),
            names: std::sync::Mutex::new(None),
        }
    }

    fn specs(&self) -> Arc<Specs> {
        let mut cached = self.specs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cached
            .as_ref()
            .filter(|s| s.read_at.elapsed() < SPECS_EVERY)
        {
            return s.clone();
        }
        let ids = self.home.app_ids().unwrap_or_default();
        let apps = ids
            .iter()
            .filter_map(|id| {
                crate::commands::targets::saved_spec(&self.home, id)
                    .map(|s| (id.clone(), (s.max_memory_restart, s.queues.clone())))
            })
            .collect();
        let (valkey, configured, error) = match queues::locate(&self.home) {
            Ok(l) => (l.valkey, l.configured, None),
            Err(e) => (None, BTreeMap::new(), Some(e.to_string())),
        };
        let specs = Arc::new(Specs {
            read_at: Instant::now(),
            valkey,
            configured,
            apps,
            error,
        });
        *cached = Some(specs.clone());
        specs
    }

    /// Every app's `status --json` row, from the keepers (blocking socket calls, on a thread
    /// of the blocking pool).
    pub async fn statuses(self: &Arc<Self>) -> Result<Vec<AppStatus>, String> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            crate::commands::inventory::all(&me.home)
                .map_err(|e| format!("cannot list apps in {}: {e}", me.home.root().display()))
        })
        .await
        .map_err(|e| format!("reading the apps failed: {e}"))?
    }

    /// `queues --json`'s rows, or why not.
    pub async fn queues(self: &Arc<Self>) -> QueueState {
        let me = self.clone();
        let specs = match tokio::task::spawn_blocking(move || me.specs()).await {
            Ok(s) => s,
            Err(e) => {
                return QueueState::Down {
                    address: String::new(),
                    reason: format!("reading the apps' specs failed: {e}"),
                };
            }
        };
        let Some(valkey) = specs.valkey.clone() else {
            return match &specs.error {
                Some(e) => QueueState::Down {
                    address: String::new(),
                    reason: e.clone(),
                },
                None => QueueState::NotConfigured,
            };
        };
        let address = tp_bullmq::connect::redacted(&valkey.url);
        let round = async {
            let mut conn = self.conn(&valkey).await?;
            let names = self
                .queue_names(&mut conn, &valkey.prefix, &specs.configured)
                .await?;
            let rows =
                queues::rows_of(&mut conn, &valkey.prefix, &names, &specs.configured).await?;
            let finished = finished_counts(&mut conn, &valkey.prefix, &rows).await?;
            let hosts = super::fleet::read(&mut conn, crate::keeper::now_ms())
                .await
                .unwrap_or_default();
            Ok::<_, String>((rows, hosts, finished))
        };
        match tokio::time::timeout(VALKEY_PATIENCE, round).await {
            Ok(Ok((rows, hosts, finished))) => {
                let workers_by_host = rows
                    .iter()
                    .map(|r| {
                        (
                            r.queue.clone(),
                            super::fleet::workers_by_host(&r.worker_ips, &hosts),
                        )
                    })
                    .collect();
                QueueState::Up {
                    address,
                    rows,
                    workers_by_host,
                    finished,
                }
            }
            Ok(Err(reason)) => {
                // The next round connects afresh.
                self.forget_conn().await;
                QueueState::Down { address, reason }
            }
            Err(_) => {
                self.forget_conn().await;
                QueueState::Down {
                    address,
                    reason: format!("no answer within {}s", VALKEY_PATIENCE.as_secs()),
                }
            }
        }
    }

    /// The queues under the prefix and those the apps name, found again every
    /// `DISCOVER_EVERY`.
    async fn queue_names(
        &self,
        conn: &mut MultiplexedConnection,
        prefix: &str,
        configured: &BTreeMap<String, u32>,
    ) -> Result<Vec<String>, String> {
        let cached = {
            let guard = self.names.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .filter(|(at, _)| at.elapsed() < DISCOVER_EVERY)
                .map(|(_, n)| n.clone())
        };
        if let Some(mut names) = cached {
            // Apps started since still show their queues at once.
            names.extend(configured.keys().cloned());
            names.sort();
            names.dedup();
            return Ok(names);
        }
        let names = queues::names(conn, prefix, configured).await?;
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), names.clone()));
        Ok(names)
    }

    /// The server's Valkey connection, made when there is none.
    async fn conn(&self, valkey: &Valkey) -> Result<MultiplexedConnection, String> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let (conn, _warnings) =
            tp_bullmq::connect::connect_with(&valkey.url, VALKEY_PATIENCE, &valkey.settings)
                .await
                .map_err(|e| e.to_string())?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    async fn forget_conn(&self) {
        *self.conn.lock().await = None;
    }

    /// Publishes this host's apps to the fleet; quietly does nothing without Valkey.
    pub async fn publish(self: &Arc<Self>, apps: Vec<AppView>) -> Result<(), String> {
        let Some(valkey) = self.valkey().await else {
            return Ok(());
        };
        let round = async {
            let mut conn = self.conn(&valkey).await?;
            let entry = super::fleet::Entry {
                host: self.host.clone(),
                at_ms: crate::keeper::now_ms(),
                client_ip: super::fleet::own_ip(&mut conn).await,
                apps,
            };
            super::fleet::publish(&mut conn, &entry)
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(VALKEY_PATIENCE, round).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.forget_conn().await;
                Err(e)
            }
            Err(_) => {
                self.forget_conn().await;
                Err("Valkey did not answer".into())
            }
        }
    }

    /// The other hosts of the fleet, or None without Valkey.
    pub async fn fleet(self: &Arc<Self>) -> Option<Vec<super::fleet::Host>> {
        let valkey = self.valkey().await?;
        let round = async {
            let mut conn = self.conn(&valkey).await?;
            super::fleet::read(&mut conn, crate::keeper::now_ms())
                .await
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(VALKEY_PATIENCE, round).await {
            Ok(Ok(hosts)) => Some(hosts.into_iter().filter(|h| h.host != self.host).collect()),
            _ => None,
        }
    }

    /// Where the queues are, as last located (for the actions' `tpctl queue` commands).
    pub async fn valkey(self: &Arc<Self>) -> Option<Valkey> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.specs().valkey.clone())
            .await
            .ok()
            .flatten()
    }

    /// A handle on queue `name` over the server's connection.
    pub async fn open_queue(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<tp_bullmq::Queue, QueueProblem> {
        let me = self.clone();
        let specs = tokio::task::spawn_blocking(move || me.specs())
            .await
            .map_err(|e| QueueProblem::Unavailable(e.to_string()))?;
        let Some(valkey) = specs.valkey.clone() else {
            return Err(QueueProblem::Unavailable(
                "VALKEY_URL is not set (environment, ./ecosystem.toml or the apps)".into(),
            ));
        };
        let opened = tokio::time::timeout(
            VALKEY_PATIENCE,
            queues::open(&valkey, name, &specs.configured),
        )
        .await
        .map_err(|_| {
            QueueProblem::Unavailable(format!(
                "Valkey {} did not answer",
                tp_bullmq::connect::redacted(&valkey.url)
            ))
        })?
        .map_err(QueueProblem::Unavailable)?;
        match opened.unknown {
            Some(known) => Err(QueueProblem::NotFound(
                crate::commands::queues::unknown_queue(name, &known).to_string(),
            )),
            None => Ok(opened.queue),
        }
    }

    /// Apps and queues at once; the other hosts too with `fleet`.
    pub async fn snapshot(self: &Arc<Self>, fleet: bool) -> Snapshot {
        let (apps, queues) = tokio::join!(self.apps(), self.queues());
        let fleet = if fleet { self.fleet().await } else { None };
        let (apps, apps_error) = match apps {
            Ok(a) => (a, None),
            Err(e) => (vec![], Some(e)),
        };
        Snapshot {
            host: self.host.clone(),
            at_ms: crate::keeper::now_ms(),
            apps,
            apps_error,
            queues,
            fleet,
        }
    }

    /// Every app's `status --json` row with its memory limit and queues.
    pub async fn apps(self: &Arc<Self>) -> Result<Vec<AppView>, String> {
        let statuses = self.statuses().await?;
        let me = self.clone();
        let specs = tokio::task::spawn_blocking(move || me.specs()).await.ok();
        Ok(statuses
            .into_iter()
            .map(|status| {
                let (memory_limit, queues) = specs
                    .as_ref()
                    .and_then(|s| s.apps.get(&status.id).cloned())
                    .unwrap_or_default();
                AppView {
                    status,
                    memory_limit,
                    queues,
                }
            })
            .collect())
    }
}

/// A queue's finished jobs as BullMQ's metrics count them.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Finished {
    pub completed: Option<u64>,
    pub failed: Option<u64>,
}

/// Every queue's `metrics:completed` and `metrics:failed` counts, in one round trip.
async fn finished_counts(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    rows: &[QueueRow],
) -> Result<BTreeMap<String, Finished>, String> {
    if rows.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut pipe = redis::pipe();
    for r in rows {
        let keys = tp_bullmq::keys::Keys::new(prefix, &r.queue);
        for kind in ["metrics:completed", "metrics:failed"] {
            pipe.cmd("HGET").arg(keys.of(kind)).arg("count");
        }
    }
    let counts: Vec<Option<u64>> = pipe
        .query_async(conn)
        .await
        .map_err(|e| format!("cannot read the queues' metrics: {e}"))?;
    Ok(rows
        .iter()
        .zip(counts.chunks(2))
        .map(|(r, c)| {
            (
                r.queue.clone(),
                Finished {
                    completed: c.first().copied().flatten(),
                    failed: c.get(1).copied().flatten(),
                },
            )
        })
        .collect())
}

/// Why a queue cannot be opened.
pub enum QueueProblem {
    /// No such queue (with the CLI's did-you-mean).
    NotFound(String),
    /// Valkey is not configured or not reachable.
    Unavailable(String),
}

/// This machine's name, as the fleet tells hosts apart.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
