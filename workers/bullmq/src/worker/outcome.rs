//! What happens to a job after its processor ran: completed, retried (now or after a
//! back-off) or failed, per its attempts, backoff and removeOn* options; and, for a
//! repeatable, its next iteration. (shared/specs/bullmq-v5.md 4.5, 4.6, 4.8, 6.3)

use redis::aio::ConnectionManager;
use serde_json::Value;

use super::JobError;
use crate::job::{Job, Keep};
use crate::keys::Keys;
use crate::queue::now_ms;
use crate::repeat::{Repeat, next_millis};
use crate::scripts;

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
pub(super) fn keep_jobs(v: Option<Keep>) -> (i64, u64, u64) {
    match v {
        Some(Keep::Remove(true)) => (0, 0, 1000),
        Some(Keep::Count(n)) => (n, 0, 1000),
        Some(Keep::Policy { count, age, limit }) => {
            (count.unwrap_or(-1), age.unwrap_or(0), limit.unwrap_or(1000))
        }
        _ => (-1, 0, 1000),
    }
}

/// Adds the next iteration of a repeatable job (shared/specs/bullmq-v5.md 6.3).
pub(super) async fn next_iteration(
    keys: &Keys,
    mut conn: ConnectionManager,
    job: &Job,
) -> Result<(), String> {
    let Some(key) = &job.repeat_key else {
        return Ok(());
    };
    let mut opts = job.opts.value().clone();
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
/// What a worker passes to take its next job in the same call as finishing one.
pub(super) struct FetchNext {
    pub token: String,
    pub lock_ms: u64,
    pub max: String,
    pub duration: String,
    pub name: String,
}

/// The answer of finishing a job.
pub(super) enum Finished {
    /// 0, or a negative BullMQ code (the job was no longer ours).
    Code(i64),
    /// The next job, already taken and locked with the `FetchNext` token.
    Next(Box<Job>),
}

/// A job from a moveToActive-style reply `{hash, id, ...}`. The field names and values are
/// moved out of the reply's bulk strings, not converted through copies: this runs per job.
pub(super) fn job_from_reply(hash: redis::Value, id: &redis::Value) -> Option<Job> {
    let redis::Value::Array(flat) = hash else {
        return None;
    };
    if flat.is_empty() {
        return None;
    }
    let id = redis::from_redis_value::<String>(id).ok()?;
    let text = |v: redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8(b).ok(),
        redis::Value::SimpleString(s) => Some(s),
        other => redis::from_redis_value::<String>(&other).ok(),
    };
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (text(k), text(v)) {
            fields.push((k, v));
        }
    }
    Job::from_fields(id, fields)
}

fn finished_from(reply: redis::Value) -> Finished {
    match reply {
        redis::Value::Array(mut items) if items.len() >= 2 => {
            let id = items.swap_remove(1);
            let hash = items.swap_remove(0);
            match job_from_reply(hash, &id) {
                Some(job) => Finished::Next(Box::new(job)),
                None => Finished::Code(0),
            }
        }
        other => Finished::Code(redis::from_redis_value::<i64>(&other).unwrap_or(0)),
    }
}

pub(super) async fn finish(
    keys: &Keys,
    mut conn: ConnectionManager,
    job: &Job,
    token: &str,
    outcome: Result<Value, JobError>,
    fetch: Option<&FetchNext>,
) -> Result<Finished, redis::RedisError> {
    let opts = job.opts.finishing();
    let attempts = opts.attempts.unwrap_or(0);
    let finished = |target: &str, payload: String, keep: Option<Keep>, stack: String| {
        let (count, age, limit) = keep_jobs(keep);
        let mut inv = scripts::move_to_finished().prepare_invoke();
        inv.key(keys.of("wait"))
            .key(keys.of("active"))
            .key(keys.of("prioritized"))
            .key(keys.of("events"))
            .key(keys.of("stalled"))
            .key(keys.of(target))
            .key(keys.of("meta"))
            .key(keys.of("limiter"))
            .key(keys.of("delayed"))
            .key(keys.of("paused"))
            .key(keys.of("pc"))
            .key(keys.of("marker"));
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
        match fetch {
            Some(f) => inv
                .arg("1")
                .arg(&f.token)
                .arg(f.lock_ms)
                .arg(&f.max)
                .arg(&f.duration)
                .arg(&f.name),
            None => inv.arg("0").arg("").arg(0).arg("").arg("").arg(""),
        };
        inv
    };
    match outcome {
        Ok(value) => {
            let json = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
            let reply: redis::Value =
                finished("completed", json, opts.remove_on_complete, String::new())
                    .invoke_async(&mut conn)
                    .await?;
            Ok(finished_from(reply))
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
                    .map(Finished::Code)
            } else {
                let reply: redis::Value = finished("failed", reason, opts.remove_on_fail, stack)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(finished_from(reply))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        use crate::job::StoredOpts;
        // From the stored text (the worker's path) and from a parsed tree, alike.
        let read = |v: serde_json::Value| {
            let key = |o: &StoredOpts| keep_jobs(o.finishing().remove_on_complete);
            let from_text = key(&StoredOpts::from_raw(
                json!({"removeOnComplete": v.clone()}).to_string(),
            ));
            let from_tree = key(&StoredOpts::from(json!({"removeOnComplete": v})));
            assert_eq!(from_text, from_tree);
            from_text
        };
        assert_eq!(read(json!(true)), (0, 0, 1000));
        assert_eq!(read(json!(false)), (-1, 0, 1000));
        assert_eq!(read(json!(null)), (-1, 0, 1000));
        assert_eq!(read(json!(5)), (5, 0, 1000));
        assert_eq!(
            read(json!({"age": 3600, "count": 1000})),
            (1000, 3600, 1000)
        );
        assert_eq!(
            read(json!({"age": 60, "limit": 10, "x": [1, {"y": 2}]})),
            (-1, 60, 10)
        );
        assert_eq!(read(json!("odd")), (-1, 0, 1000));
        let none = StoredOpts::from_raw(
            r#"{"attempts": 4, "backoff": {"type": "fixed", "delay": 1}}"#.into(),
        );
        assert_eq!(none.finishing().attempts, Some(4));
        assert_eq!(keep_jobs(none.finishing().remove_on_fail), (-1, 0, 1000));
        // Unparseable text: nothing, as an absent option.
        assert_eq!(
            StoredOpts::from_raw("{".into()).finishing(),
            Default::default()
        );
        // A mistyped attempts is absent, and does not hide the other options.
        let odd =
            StoredOpts::from_raw(r#"{"attempts": "3", "removeOnFail": 7}"#.into()).finishing();
        assert_eq!(
            (odd.attempts, keep_jobs(odd.remove_on_fail)),
            (None, (7, 0, 1000))
        );
    }
}
