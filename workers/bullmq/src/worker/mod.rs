//! A worker: takes jobs from one queue and runs a processor on them, N at a time, as Node's
//! `Worker` does (shared/specs/bullmq-v5.md 4 and Appendix A).
//!
//! One connection only waits (`BZPOPMIN` on the marker, named so Node's `getWorkers()` lists
//! this worker); the scripts run on a pipelined connection of our own (`crate::link`), the
//! path each job takes. Each job runs in its own task that also renews
//! the job's lock and finishes the job, so no state is shared between tasks. Connection
//! errors are retried with back-off: an outage never ends the worker.

mod outcome;

pub use outcome::backoff_delay;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;

use crate::error::Error;
use crate::job::Job;
use crate::keys::Keys;
use crate::link::{KeyList, Link, LinkError, Reply, ScriptCall};
use crate::queue::now_ms;
use crate::scripts;
use outcome::{FetchNext, Fetched, Finished, fetched_from, finish, next_iteration};

/// The keys of the scripts a worker runs per job, encoded once.
pub(crate) struct HotKeys {
    pub to_active: KeyList,
    pub completed: KeyList,
    pub failed: KeyList,
    pub retry: KeyList,
    /// Metrics data points to keep, as the finish script's argument ("" for none).
    pub metrics: String,
}

impl HotKeys {
    /// Each list in the order of its script's KEYS.
    fn new(keys: &Keys, opts: &WorkerOptions) -> HotKeys {
        let base = keys.base();
        let finished = |target: &str| {
            let names = format!(
                "wait active prioritized events stalled {target} meta limiter delayed paused pc marker metrics:{target} metrics:{target}:data"
            );
            KeyList::new(base, &names.split(' ').collect::<Vec<_>>())
        };
        let list = |names: &str| KeyList::new(base, &names.split(' ').collect::<Vec<_>>());
        HotKeys {
            to_active: list("wait active prioritized events limiter delayed paused meta pc marker"),
            completed: finished("completed"),
            failed: finished("failed"),
            retry: list("wait active prioritized events stalled paused meta pc marker delayed"),
            metrics: opts
                .metrics_max_data_points
                .map_or_else(String::new, |n| n.to_string()),
        }
    }
}

/// How a worker runs (Node's defaults).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    pub lock_duration: Duration,
    pub stalled_interval: Duration,
    pub max_stalled_count: u32,
    /// How long an idle worker waits for the marker before polling anyway.
    pub drain_delay: Duration,
    /// Shown in `getWorkers()` and stored as `pb` on the jobs it runs.
    pub name: Option<String>,
    /// At most `max` jobs per `duration` across the queue.
    pub limiter: Option<(u64, Duration)>,
    /// On shutdown, how long running jobs may take to finish; then they are abandoned (their
    /// locks expire and another worker's stalled check picks them up). `None` waits for them.
    pub drain_timeout: Option<Duration>,
    /// Per-minute completed and failed counts kept for this many minutes, as Node's
    /// `metrics: {maxDataPoints}` (read by `Queue.getMetrics`); `None` records none.
    pub metrics_max_data_points: Option<u32>,
    /// Called on every turn of the loop that takes jobs (at least every `drain_delay` while a
    /// slot is free, at least every `stalled_interval` while all are busy): a watchdog's
    /// sign that the loop is not wedged.
    pub heartbeat: Option<Heartbeat>,
}

/// What `WorkerOptions::heartbeat` calls.
#[derive(Clone)]
pub struct Heartbeat(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Heartbeat")
    }
}

/// Node's `MetricsTime.ONE_WEEK`: a week of per-minute data points.
pub const METRICS_ONE_WEEK: u32 = 7 * 24 * 60;

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 1,
            lock_duration: Duration::from_secs(30),
            stalled_interval: Duration::from_secs(30),
            max_stalled_count: 1,
            drain_delay: Duration::from_secs(5),
            name: None,
            limiter: None,
            drain_timeout: None,
            metrics_max_data_points: None,
            heartbeat: None,
        }
    }
}

/// Why a job's processor failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Retried while attempts remain.
    Failed(String),
    /// Failed at once, whatever attempts remain (Node's UnrecoverableError).
    Unrecoverable(String),
    /// Not failed: put back at the front of the queue with no attempt counted, for the next
    /// worker (or this one, restarted) to take. For a job interrupted by a worker stop at a
    /// point it can resume from or safely repeat; the reason is logged, not recorded.
    HandBack(String),
}

/// The longest pause between two tries to reach Valkey while it is away.
const MAX_OUTAGE_RETRY: Duration = Duration::from_secs(1);

/// A worker bound to one queue.
pub struct Worker {
    queue: String,
    keys: Keys,
    hot: Arc<HotKeys>,
    /// Scripts: the hot path, on our own pipelined connection.
    cmd: Link,
    /// The blocking wait on the marker: a link of its own, named on every connection.
    block: Link,
    opts: WorkerOptions,
    id: String,
    /// Set when the worker is closing: job tasks stop taking the next job.
    closing: Arc<AtomicBool>,
    /// Lock tokens are `<worker id>:<n>`.
    tokens: Arc<AtomicU64>,
}

/// Standard base64 with padding (worker client names).
pub fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Worker {
    /// Connects to `url` (`redis://`, `valkey://`) for queue `queue` under `prefix`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        queue: &str,
        opts: WorkerOptions,
    ) -> Result<Worker, Error> {
        // A first, checked connection: clear errors for a bad URL, password or server.
        let (_, warnings) = crate::connect::connect(url, Duration::from_secs(10))
            .await
            .map_err(|e| Error::Connect {
                queue: queue.to_string(),
                source: e,
            })?;
        for w in warnings {
            tracing::warn!(queue, "{w}");
        }
        let url = url.replacen("valkey://", "redis://", 1);
        let link_err = |source| Error::Link {
            op: "connect",
            queue: queue.to_string(),
            source,
        };
        let cmd = Link::new(&url).map_err(link_err)?;
        cmd.connect().await.map_err(link_err)?;
        let mut name = format!("{prefix}:{}", base64(queue.as_bytes()));
        if let Some(n) = &opts.name {
            name.push_str(&format!(":w:{n}"));
        }
        let block = Link::named(&url, &name).map_err(link_err)?;
        let keys = Keys::new(prefix, queue);
        crate::acl::connect_checked(&cmd, &block, &url, prefix, &keys, queue).await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Worker {
            queue: queue.to_string(),
            hot: Arc::new(HotKeys::new(&keys, &opts)),
            keys,
            cmd,
            block,
            opts,
            id: format!("{:x}-{nanos:x}", std::process::id()),
            closing: Arc::new(AtomicBool::new(false)),
            tokens: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Runs jobs until `shutdown` completes, then lets the running ones finish and returns.
    pub async fn run<F, Fut>(
        &self,
        processor: F,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        F: Fn(Job) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
    {
        tokio::pin!(shutdown);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut closing = false;
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        let mut stalled = tokio::time::interval(self.opts.stalled_interval);
        let mut outage = Duration::ZERO;
        // When the current Valkey outage began (one log line when it starts, one at its end).
        let mut down_since: Option<std::time::Instant> = None;
        // The blocking wait on the marker lives across loop turns: when another branch wins
        // (a job ends, the stalled check is due), dropping it would leave its BZPOPMIN running
        // on the server, where it would pop the next marker for nobody and the worker would
        // sleep through a job for up to 10 s.
        let mut marker_wait: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
        loop {
            if let Some(Heartbeat(beat)) = &self.opts.heartbeat {
                beat();
            }
            let mut wait = self.opts.drain_delay;
            while !closing && tasks.len() < self.opts.concurrency {
                let token = format!(
                    "{}:{}",
                    self.id,
                    self.tokens.fetch_add(1, Ordering::SeqCst) + 1
                );
                match self.fetch(&token).await {
                    Ok(Fetched::Job(job)) => {
                        outage = Duration::ZERO;
                        self.back(&mut down_since);
                        tasks.spawn(self.process(*job, token, processor.clone()));
                    }
                    Ok(Fetched::RateLimited(ms)) => {
                        wait = Duration::from_millis(ms.min(30_000));
                        break;
                    }
                    Ok(Fetched::Nothing { next_delayed }) => {
                        outage = Duration::ZERO;
                        self.back(&mut down_since);
                        if let Some(t) = next_delayed {
                            wait = wait.min(Duration::from_millis(t.saturating_sub(now_ms())));
                        }
                        break;
                    }
                    Err(e) => {
                        // Tries again soon: Valkey coming back must be noticed within a second,
                        // not after a back-off grown over a long outage.
                        outage = (outage * 2).clamp(Duration::from_millis(100), self.outage_cap());
                        if down_since.is_none() {
                            down_since = Some(std::time::Instant::now());
                            tracing::warn!(queue = %self.queue, error = %e, "cannot reach Valkey; trying again every second until it is back");
                        }
                        wait = outage;
                        break;
                    }
                }
            }
            if closing && tasks.is_empty() {
                return Ok(());
            }
            if let Some(deadline) = drain_deadline
                && tokio::time::Instant::now() >= deadline
            {
                tracing::warn!(queue = %self.queue, jobs = tasks.len(), "drain timeout: abandoning running jobs; their locks expire and they are retried");
                tasks.abort_all();
                return Ok(());
            }
            let free = !closing && tasks.len() < self.opts.concurrency;
            if free && marker_wait.is_none() {
                marker_wait = Some(Box::pin(self.wait_for_marker(wait)));
            }
            tokio::select! {
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(queue = %self.queue, error = %e, "job task panicked");
                    }
                }
                _ = stalled.tick(), if !closing => self.check_stalled().await,
                () = &mut shutdown, if !closing => {
                    closing = true;
                    self.closing.store(true, Ordering::SeqCst);
                    drain_deadline = self.opts.drain_timeout.map(|d| tokio::time::Instant::now() + d);
                }
                () = tokio::time::sleep_until(drain_deadline.unwrap_or_else(tokio::time::Instant::now)), if drain_deadline.is_some() => {}
                () = async {
                    match marker_wait.as_mut() {
                        Some(w) => w.await,
                        None => std::future::pending().await,
                    }
                }, if free && marker_wait.is_some() => marker_wait = None,
                // A delayed job may fall due before a wait already in flight ends: look again
                // then, leaving that wait in place.
                () = tokio::time::sleep(wait), if free || tasks.is_empty() => {}
            }
        }
    }

    /// Says that Valkey is back, and after how long, if it was away.
    fn back(&self, down_since: &mut Option<std::time::Instant>) {
        if let Some(t) = down_since.take() {
            tracing::info!(queue = %self.queue, "Valkey is back after {:.1} s; taking jobs again", t.elapsed().as_secs_f64());
        }
    }

    /// Blocks on the marker for at most `wait` (10 s cap, as Node).
    async fn wait_for_marker(&self, wait: Duration) {
        let secs = format!(
            "{}",
            wait.min(Duration::from_secs(10)).as_secs_f64().max(0.001)
        );
        let marker = self.keys.of("marker");
        let cmd = crate::link::command(&[b"BZPOPMIN", marker.as_bytes(), secs.as_bytes()]);
        let r = self.block.call(&[&cmd]).await;
        if r.is_err() {
            // Valkey is away: do not spin; the fetch reports the outage, and the next wait
            // connects again (named in the handshake, so getWorkers sees us at once).
            tokio::time::sleep(wait.min(self.outage_cap())).await;
        }
    }

    /// The longest pause between tries while Valkey is away: a second, or a quarter of one
    /// under Sentinel, where the new master must be followed within a second of being named.
    fn outage_cap(&self) -> Duration {
        if self.cmd.under_sentinel() {
            Duration::from_millis(250)
        } else {
            MAX_OUTAGE_RETRY
        }
    }

    async fn fetch(&self, token: &str) -> Result<Fetched, Error> {
        let k = &self.keys;
        let (max, dur) = self
            .opts
            .limiter
            .map_or((String::new(), String::new()), |(m, d)| {
                (m.to_string(), d.as_millis().to_string())
            });
        let mut call = ScriptCall::new(scripts::move_to_active(), &self.hot.to_active);
        call.arg(k.base())
            .arg(now_ms())
            .arg(token)
            .arg(self.opts.lock_duration.as_millis() as u64)
            .arg(&max)
            .arg(&dur)
            .arg(self.opts.name.as_deref().unwrap_or(""));
        call.run(&self.cmd)
            .await
            .and_then(fetched_from)
            .map_err(|source| Error::Link {
                op: "take a job",
                queue: self.queue.clone(),
                source,
            })
    }

    async fn check_stalled(&self) {
        let k = &self.keys;
        let stalled_keys = KeyList::new(
            k.base(),
            &[
                "stalled",
                "wait",
                "active",
                "stalled-check",
                "meta",
                "paused",
                "marker",
                "events",
            ],
        );
        let mut call = ScriptCall::new(scripts::move_stalled(), &stalled_keys);
        call.arg(self.opts.max_stalled_count)
            .arg(k.base())
            .arg(now_ms())
            .arg(self.opts.stalled_interval.as_millis() as u64);
        let r = call.run(&self.cmd).await.and_then(|reply| match reply {
            Reply::Array(items) => Ok(items
                .into_iter()
                .filter_map(Reply::into_text)
                .collect::<Vec<_>>()),
            other => Err(LinkError::Unexpected {
                what: "the stalled check",
                reply: format!("{other:?}"),
            }),
        });
        match r {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(queue = %self.queue, jobs = ?ids, "stalled jobs put back")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(queue = %self.queue, error = %e, "stalled check failed"),
        }
    }

    /// Runs one job and finishes it; renews its lock meanwhile.
    fn process<F, Fut>(
        &self,
        job: Job,
        token: String,
        processor: F,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
    {
        let keys = self.keys.clone();
        let hot = self.hot.clone();
        let conn = self.cmd.clone();
        let queue = self.queue.clone();
        let lock_ms = self.opts.lock_duration.as_millis() as u64;
        let closing = self.closing.clone();
        let tokens = self.tokens.clone();
        let worker_id = self.id.clone();
        let (max, duration) = self
            .opts
            .limiter
            .map_or((String::new(), String::new()), |(m, d)| {
                (m.to_string(), d.as_millis().to_string())
            });
        let name = self.opts.name.clone().unwrap_or_default();
        async move {
            let (mut job, mut token) = (job, token);
            // Each finish takes the next job in the same call while there is one (and the
            // worker is not closing): one round trip per job, as Node's fetch-next.
            loop {
                let outcome =
                    run_one(&keys, &conn, &queue, &mut job, &token, lock_ms, &processor).await;
                let fetch = (!closing.load(Ordering::SeqCst)).then(|| FetchNext {
                    token: format!("{worker_id}:{}", tokens.fetch_add(1, Ordering::SeqCst) + 1),
                    lock_ms,
                    max: max.clone(),
                    duration: duration.clone(),
                    name: name.clone(),
                });
                // Valkey may be away when the job ends: keep trying while the lock can still
                // be ours, so a job whose work is done is recorded once rather than left to
                // the stalled check (which would run it a second time).
                let give_up = tokio::time::Instant::now() + Duration::from_millis(lock_ms);
                let mut pause = Duration::from_millis(100);
                let finished = loop {
                    let attempt = finish(
                        &keys,
                        &hot,
                        &conn,
                        &job,
                        &token,
                        outcome.clone(),
                        fetch.as_ref(),
                    )
                    .await;
                    match attempt {
                        Err(e) if tokio::time::Instant::now() + pause < give_up => {
                            tracing::warn!(queue = %queue, job = %job.id, error = %e, "cannot record the job's end yet; retrying");
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(2));
                        }
                        other => break other,
                    }
                };
                let code = match &finished {
                    Ok(Finished::Code(c)) => *c,
                    Ok(Finished::Next(_)) => 0,
                    Err(e) => {
                        tracing::error!(queue = %queue, job = %job.id, error = %e, "cannot record the job's end");
                        return;
                    }
                };
                match &outcome {
                    _ if code < 0 => {
                        tracing::warn!(queue = %queue, job = %job.id, code, "the job was no longer ours to finish")
                    }
                    Ok(_) => {
                        tracing::info!(queue = %queue, job = %job.id, "Job {} completed successfully.", job.id)
                    }
                    Err(JobError::Failed(r)) => {
                        tracing::warn!(queue = %queue, job = %job.id, "Job {} failed: {r}", job.id)
                    }
                    Err(JobError::Unrecoverable(r)) => {
                        tracing::warn!(queue = %queue, job = %job.id, "Job {} failed (not retried): {r}", job.id)
                    }
                    Err(JobError::HandBack(r)) => {
                        tracing::info!(queue = %queue, job = %job.id, "Job {} handed back to the queue: {r}", job.id)
                    }
                }
                match (finished, fetch) {
                    (Ok(Finished::Next(next)), Some(f)) => {
                        job = *next;
                        token = f.token;
                    }
                    _ => return,
                }
            }
        }
    }
}

/// Runs the processor on one job, renewing its lock meanwhile; a `defa` job fails at once.
async fn run_one<F, Fut>(
    keys: &Keys,
    conn: &Link,
    queue: &str,
    job: &mut Job,
    token: &str,
    lock_ms: u64,
    processor: &F,
) -> Result<Value, JobError>
where
    F: Fn(Job) -> Fut + Sync,
    Fut: Future<Output = Result<Value, JobError>>,
{
    // The application logs the start of a job in its own words (with its tenant, say); the
    // layer logs only the recorded end, so each event is one line.
    tracing::debug!(queue = %queue, job = %job.id, name = %job.name, "Processing job {} of type {}", job.id, job.name);
    // A repeatable's next run is produced when its current one starts, as Node does.
    if let Err(e) = next_iteration(keys, conn, job).await {
        tracing::error!(queue = %queue, job = %job.id, error = %e, "cannot schedule the next run of this repeatable");
    }
    if let Some(reason) = job.deferred_failure.clone() {
        return Err(JobError::Unrecoverable(reason));
    }
    // The data moves to the processor (finishing needs only the id and options): no deep
    // copy of a job's data per job.
    let data = std::mem::take(&mut job.data);
    let run = processor(Job {
        data,
        ..job.clone()
    });
    tokio::pin!(run);
    // The first renewal is due after half the lock duration. (An interval's immediate first
    // tick still waits for the timer wheel, ~1 ms, on every job: avoid it.)
    let period = Duration::from_millis((lock_ms / 2).max(1));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            // The job first: a job that finishes at once never registers the renewal timer.
            // Registering it (earlier than anything the driver sleeps towards) wakes the
            // driver through its eventfd: polled in random order, that was a write and an
            // extra epoll_wait on every other job.
            biased;
            r = &mut run => return r,
            _ = renew.tick() => {
                let base = keys.base();
                let lock_keys = KeyList::joined(&[&[base, &job.id, ":lock"], &[base, "stalled"]]);
                let mut call = ScriptCall::new(scripts::extend_lock(), &lock_keys);
                call.arg(token).arg(lock_ms).arg(&job.id);
                let ok = call.run(conn).await.map(|r| r.int());
                if !matches!(ok, Ok(Some(1))) {
                    tracing::warn!(queue = %queue, job = %job.id, "lost the job's lock; another worker may run it");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_are_base64_as_node_writes_them() {
        assert_eq!(base64(b"exp"), "ZXhw");
        assert_eq!(base64(b"emails"), "ZW1haWxz");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
