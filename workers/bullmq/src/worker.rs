//! A worker: takes jobs from one queue and runs a processor on them, N at a time, as Node's
//! `Worker` does (shared/specs/bullmq-v5.md 4 and Appendix A).
//!
//! One connection only waits (`BZPOPMIN` on the marker, named so Node's `getWorkers()` lists
//! this worker); another runs the scripts. Each job runs in its own task that also renews
//! the job's lock and finishes the job, so no state is shared between tasks. Connection
//! errors are retried with back-off: an outage never ends the worker.

use std::future::Future;
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::error::Error;
use crate::job::Job;
use crate::keys::Keys;
use crate::queue::now_ms;
use crate::repeat::{Repeat, next_millis};
use crate::scripts;

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
}

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
}

/// What `moveToActive` gave.
enum Fetched {
    Job(Box<Job>),
    RateLimited(u64),
    Nothing { next_delayed: Option<u64> },
}

/// A worker bound to one queue.
pub struct Worker {
    queue: String,
    keys: Keys,
    cmd: ConnectionManager,
    block: ConnectionManager,
    opts: WorkerOptions,
    id: String,
    /// The blocking connection's name, as Node's getWorkers() looks for it.
    client_name: String,
}

/// Standard base64 with padding (worker client names).
pub(crate) fn base64(input: &[u8]) -> String {
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

/// Retry delay of attempt `attempt` (1-based) for a job's `backoff` option.
pub fn backoff_delay(backoff: &Value, attempt: u32) -> u64 {
    let (kind, delay) = match backoff {
        Value::Number(n) => ("fixed", n.as_u64().unwrap_or(0)),
        Value::Object(o) => (
            o.get("type").and_then(Value::as_str).unwrap_or("fixed"),
            o.get("delay").and_then(Value::as_u64).unwrap_or(0),
        ),
        _ => return 0,
    };
    match kind {
        "exponential" => {
            (2f64.powi(attempt.saturating_sub(1) as i32) * delay as f64).round() as u64
        }
        _ => delay,
    }
}

/// `removeOnComplete` / `removeOnFail` as (count, age seconds, limit): count -1 keeps all.
fn keep_jobs(v: Option<&Value>) -> (i64, u64, u64) {
    match v {
        Some(Value::Bool(true)) => (0, 0, 1000),
        Some(Value::Number(n)) => (n.as_i64().unwrap_or(-1), 0, 1000),
        Some(Value::Object(o)) => (
            o.get("count").and_then(Value::as_i64).unwrap_or(-1),
            o.get("age").and_then(Value::as_u64).unwrap_or(0),
            o.get("limit").and_then(Value::as_u64).unwrap_or(1000),
        ),
        _ => (-1, 0, 1000),
    }
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
        let err = |source| Error::Redis {
            op: "connect",
            queue: queue.to_string(),
            source,
        };
        let client = redis::Client::open(url.as_str()).map_err(err)?;
        let cmd = ConnectionManager::new(client.clone()).await.map_err(err)?;
        let mut block = ConnectionManager::new(client).await.map_err(err)?;
        let mut name = format!("{prefix}:{}", base64(queue.as_bytes()));
        if let Some(n) = &opts.name {
            name.push_str(&format!(":w:{n}"));
        }
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&name)
            .query_async(&mut block)
            .await
            .map_err(err)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Worker {
            queue: queue.to_string(),
            keys: Keys::new(prefix, queue),
            cmd,
            block,
            opts,
            id: format!("{:x}-{nanos:x}", std::process::id()),
            client_name: name,
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
        let mut counter: u64 = 0;
        let mut stalled = tokio::time::interval(self.opts.stalled_interval);
        let mut outage = Duration::ZERO;
        loop {
            let mut wait = self.opts.drain_delay;
            while !closing && tasks.len() < self.opts.concurrency {
                counter += 1;
                let token = format!("{}:{counter}", self.id);
                match self.fetch(&token).await {
                    Ok(Fetched::Job(job)) => {
                        outage = Duration::ZERO;
                        tasks.spawn(self.process(*job, token, processor.clone()));
                    }
                    Ok(Fetched::RateLimited(ms)) => {
                        wait = Duration::from_millis(ms.min(30_000));
                        break;
                    }
                    Ok(Fetched::Nothing { next_delayed }) => {
                        outage = Duration::ZERO;
                        if let Some(t) = next_delayed {
                            wait = wait.min(Duration::from_millis(t.saturating_sub(now_ms())));
                        }
                        break;
                    }
                    Err(e) => {
                        outage =
                            (outage * 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
                        tracing::warn!(queue = %self.queue, error = %e, retry_in_ms = outage.as_millis() as u64, "cannot take jobs; retrying");
                        wait = outage;
                        break;
                    }
                }
            }
            if closing && tasks.is_empty() {
                return Ok(());
            }
            let free = !closing && tasks.len() < self.opts.concurrency;
            tokio::select! {
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(queue = %self.queue, error = %e, "job task panicked");
                    }
                }
                _ = stalled.tick(), if !closing => self.check_stalled().await,
                () = &mut shutdown, if !closing => closing = true,
                () = self.wait_for_marker(wait), if free => {}
                () = tokio::time::sleep(wait), if !free && tasks.is_empty() => {}
            }
        }
    }

    /// Blocks on the marker for at most `wait` (10 s cap, as Node).
    async fn wait_for_marker(&self, wait: Duration) {
        let secs = wait.min(Duration::from_secs(10)).as_secs_f64().max(0.001);
        let mut conn = self.block.clone();
        let r: redis::RedisResult<redis::Value> = redis::cmd("BZPOPMIN")
            .arg(self.keys.of("marker"))
            .arg(secs)
            .query_async(&mut conn)
            .await;
        if r.is_err() {
            // The connection is down: do not spin; the fetch reports the outage. A reconnected
            // connection has lost its name, so name it again (getWorkers must still see us).
            tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
            let _: redis::RedisResult<()> = redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(&self.client_name)
                .query_async(&mut conn)
                .await;
        }
    }

    async fn fetch(&self, token: &str) -> Result<Fetched, Error> {
        let k = &self.keys;
        let mut conn = self.cmd.clone();
        let (max, dur) = self
            .opts
            .limiter
            .map_or((String::new(), String::new()), |(m, d)| {
                (m.to_string(), d.as_millis().to_string())
            });
        let reply: (redis::Value, redis::Value, u64, u64) = scripts::move_to_active()
            .key(k.of("wait"))
            .key(k.of("active"))
            .key(k.of("prioritized"))
            .key(k.of("events"))
            .key(k.of("limiter"))
            .key(k.of("delayed"))
            .key(k.of("paused"))
            .key(k.of("meta"))
            .key(k.of("pc"))
            .key(k.of("marker"))
            .arg(k.base())
            .arg(now_ms())
            .arg(token)
            .arg(self.opts.lock_duration.as_millis() as u64)
            .arg(max)
            .arg(dur)
            .arg(self.opts.name.as_deref().unwrap_or(""))
            .invoke_async(&mut conn)
            .await
            .map_err(|source| Error::Redis {
                op: "take a job",
                queue: self.queue.clone(),
                source,
            })?;
        let (hash, id, limited, next) = reply;
        if let (Ok(flat), Ok(id)) = (
            redis::from_redis_value::<Vec<String>>(&hash),
            redis::from_redis_value::<String>(&id),
        ) && !flat.is_empty()
        {
            let h: std::collections::HashMap<String, String> = flat
                .chunks(2)
                .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
                .collect();
            return Ok(Job::from_hash(&id, &h)
                .map_or(Fetched::Nothing { next_delayed: None }, |j| {
                    Fetched::Job(Box::new(j))
                }));
        }
        if limited > 0 {
            return Ok(Fetched::RateLimited(limited));
        }
        Ok(Fetched::Nothing {
            next_delayed: (next > 0).then_some(next),
        })
    }

    async fn check_stalled(&self) {
        let k = &self.keys;
        let mut conn = self.cmd.clone();
        let r: redis::RedisResult<Vec<String>> = scripts::move_stalled()
            .key(k.of("stalled"))
            .key(k.of("wait"))
            .key(k.of("active"))
            .key(k.of("stalled-check"))
            .key(k.of("meta"))
            .key(k.of("paused"))
            .key(k.of("marker"))
            .key(k.of("events"))
            .arg(self.opts.max_stalled_count)
            .arg(k.base())
            .arg(now_ms())
            .arg(self.opts.stalled_interval.as_millis() as u64)
            .invoke_async(&mut conn)
            .await;
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
        F: Fn(Job) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
    {
        let keys = self.keys.clone();
        let conn = self.cmd.clone();
        let queue = self.queue.clone();
        let lock_ms = self.opts.lock_duration.as_millis() as u64;
        async move {
            tracing::info!(queue = %queue, job = %job.id, name = %job.name, "Processing job {} of type {}", job.id, job.name);
            // A repeatable's next run is produced when its current one starts, as Node does.
            if let Err(e) = next_iteration(&keys, conn.clone(), &job).await {
                tracing::error!(queue = %queue, job = %job.id, error = %e, "cannot schedule the next run of this repeatable");
            }
            let outcome = match job.deferred_failure.clone() {
                Some(reason) => Err(JobError::Unrecoverable(reason)),
                None => {
                    let run = processor(job.clone());
                    tokio::pin!(run);
                    // The first renewal is due after half the lock duration. (An interval's immediate first
                    // tick still waits for the timer wheel, ~1 ms, on every job: avoid it.)
                    let period = Duration::from_millis((lock_ms / 2).max(1));
                    let mut renew =
                        tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    loop {
                        tokio::select! {
                            r = &mut run => break r,
                            _ = renew.tick() => {
                                let mut c = conn.clone();
                                let ok: redis::RedisResult<i64> = scripts::extend_lock().key(keys.job(&job.id) + ":lock").key(keys.of("stalled")).arg(&token).arg(lock_ms).arg(&job.id).invoke_async(&mut c).await;
                                if !matches!(ok, Ok(1)) {
                                    tracing::warn!(queue = %queue, job = %job.id, "lost the job's lock; another worker may run it");
                                }
                            }
                        }
                    }
                }
            };
            let finished = finish(&keys, conn, &job, &token, outcome.clone()).await;
            match (&outcome, finished) {
                (_, Err(e)) => {
                    tracing::error!(queue = %queue, job = %job.id, error = %e, "cannot record the job's end")
                }
                (Ok(_), Ok(code)) if code >= 0 => {
                    tracing::info!(queue = %queue, job = %job.id, "Job {} completed successfully.", job.id)
                }
                (Err(JobError::Failed(r) | JobError::Unrecoverable(r)), Ok(code)) if code >= 0 => {
                    tracing::warn!(queue = %queue, job = %job.id, "Job {} failed: {r}", job.id)
                }
                (_, Ok(code)) => {
                    tracing::warn!(queue = %queue, job = %job.id, code, "the job was no longer ours to finish")
                }
            }
        }
    }
}

/// Adds the next iteration of a repeatable job (shared/specs/bullmq-v5.md 6.3).
async fn next_iteration(keys: &Keys, mut conn: ConnectionManager, job: &Job) -> Result<(), String> {
    let Some(key) = &job.repeat_key else {
        return Ok(());
    };
    let mut opts = job.opts.clone();
    let repeat: Repeat =
        serde_json::from_value(opts.get("repeat").cloned().unwrap_or_default()).unwrap_or_default();
    let iteration = opts
        .get("repeat")
        .and_then(|r| r.get("count"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    let now = now_ms();
    if repeat.limit.is_some_and(|l| iteration > l) || repeat.end_date.is_some_and(|e| e < now) {
        return Ok(());
    }
    let base = now.max(opts.get("prevMillis").and_then(Value::as_u64).unwrap_or(0));
    let Some(next) = next_millis(&repeat, base)? else {
        return Ok(());
    };
    let next = next.max(base);
    if let Some(o) = opts.as_object_mut() {
        o.insert("jobId".into(), format!("repeat:{key}:{next}").into());
        o.insert("delay".into(), next.saturating_sub(now).into());
        o.insert("timestamp".into(), now.into());
        o.insert("prevMillis".into(), next.into());
        o.insert("repeatJobKey".into(), key.clone().into());
        if let Some(r) = o.get_mut("repeat").and_then(Value::as_object_mut) {
            r.insert("count".into(), iteration.into());
        }
    }
    let packed = rmp_serde::to_vec_named(&opts).map_err(|e| e.to_string())?;
    let data = serde_json::to_string(&job.data).map_err(|e| e.to_string())?;
    let produced: String = scripts::next_iteration()
        .key(keys.of("repeat"))
        .key(keys.of("delayed"))
        .key(keys.of("id"))
        .key(keys.of("events"))
        .key(keys.of("meta"))
        .key(keys.of("marker"))
        .arg(next)
        .arg(key)
        .arg(data)
        .arg(packed)
        .arg(now)
        .arg(keys.base())
        .arg(&job.id)
        .invoke_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    if !produced.is_empty() {
        tracing::info!(next = %produced, "next run of repeatable {key} scheduled");
    }
    Ok(())
}

/// Completes, retries or fails a job, per its attempts and backoff.
async fn finish(
    keys: &Keys,
    mut conn: ConnectionManager,
    job: &Job,
    token: &str,
    outcome: Result<Value, JobError>,
) -> Result<i64, redis::RedisError> {
    let attempts = job
        .opts
        .get("attempts")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let finished = |target: &str, payload: String, keep: Option<&Value>, stack: String| {
        let (count, age, limit) = keep_jobs(keep);
        let mut inv = scripts::move_to_finished().prepare_invoke();
        inv.key(keys.of("wait"))
            .key(keys.of("active"))
            .key(keys.of("prioritized"))
            .key(keys.of("events"))
            .key(keys.of("stalled"))
            .key(keys.of(target))
            .key(keys.of("meta"));
        inv.arg(keys.base())
            .arg(&job.id)
            .arg(now_ms())
            .arg(target)
            .arg(payload)
            .arg(token)
            .arg(count)
            .arg(age)
            .arg(limit)
            .arg(attempts)
            .arg(stack);
        inv
    };
    match outcome {
        Ok(value) => {
            let json = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
            finished(
                "completed",
                json,
                job.opts.get("removeOnComplete"),
                String::new(),
            )
            .invoke_async(&mut conn)
            .await
        }
        Err(e) => {
            let (reason, recoverable) = match e {
                JobError::Failed(r) => (r, true),
                JobError::Unrecoverable(r) => (r, false),
            };
            let mut stack: Vec<String> = job.stacktrace.clone();
            stack.push(format!("Error: {reason}"));
            let stack = serde_json::to_string(&stack).unwrap_or_else(|_| "[]".into());
            if recoverable && u64::from(job.attempts_made) + 1 < attempts {
                let delay = job
                    .opts
                    .get("backoff")
                    .map_or(0, |b| backoff_delay(b, job.attempts_made + 1));
                scripts::retry_job()
                    .key(keys.of("wait"))
                    .key(keys.of("active"))
                    .key(keys.of("prioritized"))
                    .key(keys.of("events"))
                    .key(keys.of("stalled"))
                    .key(keys.of("paused"))
                    .key(keys.of("meta"))
                    .key(keys.of("pc"))
                    .key(keys.of("marker"))
                    .key(keys.of("delayed"))
                    .arg(keys.base())
                    .arg(&job.id)
                    .arg(now_ms())
                    .arg(token)
                    .arg(delay)
                    .arg(&reason)
                    .arg(stack)
                    .invoke_async(&mut conn)
                    .await
            } else {
                finished("failed", reason, job.opts.get("removeOnFail"), stack)
                    .invoke_async(&mut conn)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn worker_names_are_base64_as_node_writes_them() {
        assert_eq!(base64(b"exp"), "ZXhw");
        assert_eq!(base64(b"emails"), "ZW1haWxz");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn backoff_follows_bullmq() {
        let exp = json!({"type": "exponential", "delay": 5000});
        assert_eq!(
            (1..=3).map(|a| backoff_delay(&exp, a)).collect::<Vec<_>>(),
            [5000, 10000, 20000]
        );
        assert_eq!(
            backoff_delay(&json!({"type": "fixed", "delay": 700}), 4),
            700
        );
        assert_eq!(backoff_delay(&json!(300), 2), 300);
    }

    #[test]
    fn keep_jobs_reads_every_form() {
        assert_eq!(keep_jobs(Some(&json!(true))), (0, 0, 1000));
        assert_eq!(keep_jobs(None), (-1, 0, 1000));
        assert_eq!(keep_jobs(Some(&json!(5))), (5, 0, 1000));
        assert_eq!(
            keep_jobs(Some(&json!({"age": 3600, "count": 1000}))),
            (1000, 3600, 1000)
        );
    }
}
