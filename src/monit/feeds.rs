//! monit's I/O: a thread asking the keepers for process figures, a thread reading the queues
//! from Valkey (reconnecting by itself), the selected app's log files, and operator actions
//! run as `tpctl` child processes. Each sends what it found to the drawing loop, which never
//! waits on any of them.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;

use super::model::{Action, LogLine, QueueFigures};
use crate::commands::inventory;
use crate::commands::logs::{Follower, Source, in_arrival_order, last_lines_at, poll_in_order};
use crate::commands::targets::saved_spec;
use crate::home::Home;
use crate::proto::AppStatus;
use crate::queues::{self, Valkey};

/// How long one round of Valkey reads may take before Valkey counts as unreachable.
const VALKEY_PATIENCE: Duration = Duration::from_secs(3);
/// How often the queue list is looked for again (a keyspace SCAN).
const DISCOVER_EVERY: Duration = Duration::from_secs(10);
/// How often the apps' saved specs (their queues) are read again.
const SPECS_EVERY: Duration = Duration::from_secs(10);
/// The window of the jobs-per-minute figure.
const MINUTE_MS: u64 = 60_000;
/// Log lines read back when an app is selected.
const LOG_BACKLOG: usize = 200;

/// What the feeds tell the drawing loop.
pub enum Msg {
    Apps(Result<Vec<(AppStatus, Vec<String>)>, String>),
    /// The newest restarts of an app, sent when its restart count changes.
    Ledger {
        id: String,
        entries: Vec<crate::proto::LedgerEntry>,
    },
    Queues {
        result: Result<Vec<QueueFigures>, String>,
        warnings: Vec<String>,
    },
    Done {
        text: String,
        ok: bool,
    },
}

/// Wakes the feeds early (after an action) so its effect shows at once.
#[derive(Clone)]
pub struct Poke {
    processes: Sender<()>,
    queues: Arc<Notify>,
}

impl Poke {
    pub fn now(&self) {
        let _ = self.processes.send(());
        self.queues.notify_one();
    }
}

/// Starts the feeds; they stop when the receiver of `tx` is dropped.
pub fn start(
    home: Home,
    valkey: Option<Valkey>,
    configured: BTreeMap<String, u32>,
    every: Duration,
    tx: Sender<Msg>,
) -> std::io::Result<Poke> {
    let (poke_tx, poke_rx) = std::sync::mpsc::channel();
    let notify = Arc::new(Notify::new());
    {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("monit-processes".into())
            .spawn(move || processes(home, every, tx, poke_rx))?;
    }
    if let Some(valkey) = valkey {
        let notify = notify.clone();
        let rt = queues::runtime()?;
        std::thread::Builder::new()
            .name("monit-queues".into())
            .spawn(move || rt.block_on(queue_feed(valkey, configured, every, tx, notify)))?;
    }
    Ok(Poke {
        processes: poke_tx,
        queues: notify,
    })
}

/// Restarts the details window shows.
const LEDGER_SHOWN: usize = 5;

fn processes(home: Home, every: Duration, tx: Sender<Msg>, poke: Receiver<()>) {
    let mut specs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Each app's restart count when its ledger was last read: read again only on a change.
    let mut ledger_at: BTreeMap<String, u32> = BTreeMap::new();
    let mut specs_at = Instant::now();
    loop {
        if specs_at.elapsed() >= SPECS_EVERY {
            specs.clear();
            specs_at = Instant::now();
        }
        let msg: Result<Vec<(AppStatus, Vec<String>)>, String> = match home.app_ids() {
            Ok(ids) => {
                let statuses = inventory::statuses(&home, &ids);
                Ok(statuses
                    .into_iter()
                    .map(|s| {
                        let queues = specs
                            .entry(s.id.clone())
                            .or_insert_with(|| {
                                saved_spec(&home, &s.id).map_or_else(Vec::new, |sp| sp.queues)
                            })
                            .clone();
                        (s, queues)
                    })
                    .collect())
            }
            Err(e) => Err(format!(
                "cannot list apps in {}: {e}",
                home.apps_dir().display()
            )),
        };
        let mut ledgers = Vec::new();
        if let Ok(apps) = &msg {
            for (s, _) in apps {
                if ledger_at.get(&s.id) != Some(&s.restarts) {
                    ledger_at.insert(s.id.clone(), s.restarts);
                    let entries = crate::keeper::state::load(&home.app(&s.id).state_path())
                        .map(|st| {
                            let skip = st.ledger.len().saturating_sub(LEDGER_SHOWN);
                            st.ledger.into_iter().skip(skip).collect()
                        })
                        .unwrap_or_default();
                    ledgers.push(Msg::Ledger {
                        id: s.id.clone(),
                        entries,
                    });
                }
            }
        }
        if tx.send(Msg::Apps(msg)).is_err() {
            return;
        }
        for l in ledgers {
            if tx.send(l).is_err() {
                return;
            }
        }
        match poke.recv_timeout(every) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Completions of one queue in the last minute, read incrementally from its event stream
/// (`<prefix>:<queue>:events`, whose entry ids are the server's milliseconds).
#[derive(Default)]
struct Throughput {
    last_id: Option<String>,
    stamps: VecDeque<u64>,
}

impl Throughput {
    fn record(&mut self, id: &str, completed: bool) {
        if completed && let Some(ms) = id.split('-').next().and_then(|m| m.parse().ok()) {
            self.stamps.push_back(ms);
        }
        self.last_id = Some(id.to_string());
    }

    fn per_min(&mut self, server_ms: u64) -> u64 {
        let from = server_ms.saturating_sub(MINUTE_MS);
        while self.stamps.front().is_some_and(|t| *t < from) {
            self.stamps.pop_front();
        }
        self.stamps.len() as u64
    }
}

/// Reads the stream entries after the last one seen (or of the last minute, the first time).
async fn read_events(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    queue: &str,
    t: &mut Throughput,
    server_ms: u64,
) -> redis::RedisResult<()> {
    const BATCH: usize = 1000;
    let key = tp_bullmq::keys::Keys::new(prefix, queue).of("events");
    // A busy queue writes more than a batch a second; ten batches a round keep up with
    // 10,000 events a second (the stream keeps about that many anyway).
    for _ in 0..10 {
        let start = match &t.last_id {
            Some(id) => format!("({id}"),
            None => format!("{}", server_ms.saturating_sub(MINUTE_MS)),
        };
        let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(&key)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await?;
        let n = entries.len();
        for (id, fields) in entries {
            let completed = fields
                .chunks(2)
                .any(|kv| kv.len() == 2 && kv[0] == b"event" && kv[1] == b"completed");
            t.record(&id, completed);
        }
        if t.last_id.is_none() {
            // An empty stream: count from now on.
            t.last_id = Some(format!("{}-0", server_ms.saturating_sub(MINUTE_MS)));
        }
        if n < BATCH {
            break;
        }
    }
    Ok(())
}

async fn server_ms(conn: &mut MultiplexedConnection) -> redis::RedisResult<u64> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(secs * 1000 + micros / 1000)
}

struct QueueState {
    conn: Option<MultiplexedConnection>,
    names: Vec<String>,
    discovered: Option<Instant>,
    throughput: BTreeMap<String, Throughput>,
}

async fn queue_feed(
    valkey: Valkey,
    configured: BTreeMap<String, u32>,
    every: Duration,
    tx: Sender<Msg>,
    poke: Arc<Notify>,
) {
    let mut st = QueueState {
        conn: None,
        names: Vec::new(),
        discovered: None,
        throughput: BTreeMap::new(),
    };
    loop {
        let mut warnings = Vec::new();
        let round = tokio::time::timeout(
            VALKEY_PATIENCE,
            queue_round(&valkey, &configured, &mut st, &mut warnings),
        )
        .await;
        let result = match round {
            Ok(Ok(figures)) => Ok(figures),
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(format!("no answer within {} s", VALKEY_PATIENCE.as_secs())),
        };
        if result.is_err() {
            // Start afresh: a new connection, and the event streams read from the last minute.
            st.conn = None;
            st.throughput.clear();
        }
        if tx.send(Msg::Queues { result, warnings }).is_err() {
            return;
        }
        let _ = tokio::time::timeout(every, poke.notified()).await;
    }
}

async fn queue_round(
    valkey: &Valkey,
    configured: &BTreeMap<String, u32>,
    st: &mut QueueState,
    warnings: &mut Vec<String>,
) -> Result<Vec<QueueFigures>, String> {
    if st.conn.is_none() {
        let (conn, w) =
            tp_bullmq::connect::connect_with(&valkey.url, VALKEY_PATIENCE, &valkey.settings)
                .await
                .map_err(|e| e.to_string())?;
        warnings.extend(w);
        st.conn = Some(conn);
        st.discovered = None;
    }
    let Some(conn) = st.conn.as_mut() else {
        return Err("not connected".into());
    };
    if st.discovered.is_none_or(|t| t.elapsed() >= DISCOVER_EVERY) {
        st.names = queues::names(conn, &valkey.prefix, configured).await?;
        st.discovered = Some(Instant::now());
    }
    let now = server_ms(conn)
        .await
        .map_err(|e| format!("cannot read the server's time: {e}"))?;
    let clients = queues::client_list(conn).await;
    let mut out = Vec::with_capacity(st.names.len());
    for name in &st.names {
        let row = queues::row(conn, &valkey.prefix, name, configured, clients.as_deref()).await;
        if row.status == "error" && row.error.as_deref().is_some_and(is_connection_error) {
            return Err(row.error.unwrap_or_default());
        }
        let t = st.throughput.entry(name.clone()).or_default();
        let per_min = match read_events(conn, &valkey.prefix, name, t, now).await {
            Ok(()) => Some(t.per_min(now)),
            Err(e) if e.is_io_error() || e.is_connection_dropped() => return Err(e.to_string()),
            Err(_) => None,
        };
        out.push(QueueFigures { row, per_min });
    }
    Ok(out)
}

/// Errors that mean the connection is gone rather than one queue being odd.
fn is_connection_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["broken pipe", "connection", "io error", "timed out", "eof"]
        .iter()
        .any(|w| t.contains(w))
}

/// The selected app's log files, followed from their ends.
pub struct LogTail {
    pub id: String,
    followers: Vec<Follower>,
}

impl LogTail {
    /// Reads the last lines of the app's logs, stdout's and stderr's in the order they
    /// arrived, and follows them.
    pub fn open(home: &Home, id: &str) -> (LogTail, Vec<LogLine>) {
        let mut lines = Vec::new();
        let mut followers = Vec::new();
        if let Some(spec) = saved_spec(home, id) {
            let (out, err) = crate::keeper::logs::paths(&spec.logs, &home.app(id));
            let mut files: Vec<(PathBuf, bool)> = vec![(out, false)];
            files.extend(err.map(|p| (p, true)));
            let sources: Vec<Source> = files
                .into_iter()
                .map(|(path, is_err)| Source {
                    app: id.to_string(),
                    stream: if is_err { "err" } else { "out" },
                    path,
                })
                .collect();
            let backlog = sources
                .iter()
                .filter_map(|s| Some((s, last_lines_at(&s.path, LOG_BACKLOG).ok()?)))
                .collect();
            for (s, _, l) in in_arrival_order(backlog) {
                lines.push(line(&l, s.stream == "err"));
            }
            followers.extend(sources.into_iter().map(|s| Follower::new(s, true)));
        }
        (
            LogTail {
                id: id.to_string(),
                followers,
            },
            lines,
        )
    }

    /// Lines written since the last call, in the order they arrived.
    pub fn poll(&mut self) -> Vec<LogLine> {
        poll_in_order(&mut self.followers)
            .into_iter()
            .map(|(s, _, l)| line(&l, s.stream == "err"))
            .collect()
    }
}

fn line(bytes: &[u8], err: bool) -> LogLine {
    // Control characters would move the cursor; tabs are widened.
    let text = String::from_utf8_lossy(bytes)
        .replace('\t', "    ")
        .chars()
        .map(|c| if c.is_control() { '�' } else { c })
        .collect();
    LogLine { err, text }
}

/// The `tpctl` invocations that carry out an action.
pub fn commands(action: &Action) -> Vec<Vec<String>> {
    let v = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let each = |qs: &[String], args: &[&str]| {
        qs.iter()
            .map(|q| {
                let mut c = v(&["queue", q]);
                c.extend(v(args));
                c
            })
            .collect::<Vec<_>>()
    };
    match action {
        Action::Restart(id) => vec![v(&["--quiet", "restart", id])],
        Action::Stop(id) => vec![v(&["--quiet", "stop", id])],
        Action::Start(id) => vec![v(&["--quiet", "start", id])],
        Action::Pause(qs) => each(qs, &["pause"]),
        Action::Resume(qs) => each(qs, &["resume"]),
        Action::RetryFailed(qs) => each(qs, &["retry", "--all-failed", "--yes"]),
        Action::Clean(qs) => {
            let mut out = each(qs, &queues::CLEAN_ALL_COMPLETED);
            out.extend(each(qs, &queues::CLEAN_ALL_FAILED));
            out
        }
    }
}

/// Runs an action's commands one after another on a thread; reports the outcome and pokes
/// the feeds.
pub fn run(action: Action, valkey: Option<Valkey>, tx: Sender<Msg>, poke: Poke) {
    let spawned = std::thread::Builder::new()
        .name("monit-action".into())
        .spawn({
            let tx = tx.clone();
            move || {
                let (ok, text) = run_commands(&action, valkey.as_ref());
                poke.now();
                let _ = tx.send(Msg::Done { text, ok });
            }
        });
    if let Err(e) = spawned {
        let _ = tx.send(Msg::Done {
            text: format!("cannot start the action: {e}"),
            ok: false,
        });
    }
}

fn run_commands(action: &Action, valkey: Option<&Valkey>) -> (bool, String) {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return (false, format!("cannot find the tpctl binary: {e}")),
    };
    let mut said = Vec::new();
    for args in commands(action) {
        let mut cmd = Command::new(&exe);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1");
        if let Some(v) = valkey {
            cmd.env("VALKEY_URL", &v.url)
                .env("BULLMQ_PREFIX", &v.prefix);
        }
        match cmd.output() {
            Ok(out) => {
                let text = last_line(&out.stdout, &out.stderr, out.status.success());
                if !out.status.success() {
                    return (false, format!("{} failed: {text}", action.describe()));
                }
                said.push(text);
            }
            Err(e) => return (false, format!("cannot run {}: {e}", exe.display())),
        }
    }
    let said: Vec<String> = said.into_iter().filter(|s| !s.is_empty()).collect();
    let app_action = matches!(
        action,
        Action::Restart(_) | Action::Stop(_) | Action::Start(_)
    );
    // Lifecycle commands end with a status table; their success says enough.
    if said.is_empty() || app_action {
        (true, format!("done: {}", action.describe()))
    } else {
        (true, said.join(" · "))
    }
}

/// The line that says what happened: stdout's last line, or stderr's on failure.
fn last_line(stdout: &[u8], stderr: &[u8], ok: bool) -> String {
    let pick = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    let first = if ok { pick(stdout) } else { pick(stderr) };
    first
        .or_else(|| pick(if ok { stderr } else { stdout }))
        .unwrap_or_default()
}
