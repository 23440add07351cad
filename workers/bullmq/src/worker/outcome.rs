//! What happens to a job after its processor ran: completed, retried (now or after a
//! back-off), handed back (a stop) or failed, per its attempts, backoff and removeOn* options;
//! and, for a repeatable, its next iteration. (shared/specs/bullmq-v5.md 4.5, 4.6, 4.8, 6.3)

use serde_json::Value;

use super::{HotKeys, JobError};
use crate::job::{Job, Keep};
use crate::keys::Keys;
use crate::link::{KeyList, Link, LinkError, Reply, ScriptCall};
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
pub(super) async fn next_iteration(keys: &Keys, conn: &Link, job: &Job) -> Result<(), String> {
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
    let repeat_keys = KeyList::new(
        keys.base(),
        &["repeat", "delayed", "id", "events", "meta", "marker"],
    );
    let mut call = ScriptCall::new(scripts::next_iteration(), &repeat_keys);
    call.arg(next)
        .arg(key)
        .arg(data)
        .arg(packed.as_slice())
        .arg(now)
        .arg(keys.base())
        .arg(&job.id);
    let produced = call
        .run(conn)
        .await
        .map_err(|e| e.to_string())?
        .into_text()
        .unwrap_or_default();
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
/// moved out of the reply's bulk strings, not copied: this runs per job.
fn job_from_reply(hash: Reply, id: Reply) -> Option<Job> {
    let Reply::Array(flat) = hash else {
        return None;
    };
    if flat.is_empty() {
        return None;
    }
    let id = id.into_text()?;
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (k.into_text(), v.into_text()) {
            fields.push((k, v));
        }
    }
    Job::from_fields(id, fields)
}

/// What moveToActive gave.
pub(super) enum Fetched {
    Job(Box<Job>),
    /// Rate-limited for this many ms.
    RateLimited(u64),
    /// No job now; when the next delayed one is due, if any.
    Nothing {
        next_delayed: Option<u64>,
    },
}

/// moveToActive's `{hash, id, limited ms, next delayed time}`.
pub(super) fn fetched_from(reply: Reply) -> Result<Fetched, LinkError> {
    let unexpected = |r: &Reply| LinkError::Unexpected {
        what: "taking a job",
        reply: format!("{r:?}"),
    };
    let Reply::Array(items) = reply else {
        return Err(unexpected(&reply));
    };
    let [hash, id, limited, next]: [Reply; 4] = match items.try_into() {
        Ok(four) => four,
        Err(other) => return Err(unexpected(&Reply::Array(other))),
    };
    if let Some(job) = job_from_reply(hash, id) {
        return Ok(Fetched::Job(Box::new(job)));
    }
    let (limited, next) = (limited.int().unwrap_or(0), next.int().unwrap_or(0));
    Ok(if limited > 0 {
        Fetched::RateLimited(limited as u64)
    } else {
        Fetched::Nothing {
            next_delayed: (next > 0).then_some(next as u64),
        }
    })
}

fn finished_from(reply: Reply) -> Finished {
    match reply {
        r @ Reply::Array(_) => match fetched_from(r) {
            Ok(Fetched::Job(job)) => Finished::Next(job),
            _ => Finished::Code(0),
        },
        other => Finished::Code(other.int().unwrap_or(0)),
    }
}

pub(super) async fn finish(
    keys: &Keys,
    hot: &HotKeys,
    conn: &Link,
    job: &Job,
    token: &str,
    outcome: Result<Value, JobError>,
    fetch: Option<&FetchNext>,
) -> Result<Finished, LinkError> {
    let opts = job.opts.finishing();
    let attempts = opts.attempts.unwrap_or(0);
    let base = keys.base();
    let finished = |target: &str, payload: &str, keep: Option<Keep>, stack: &str| {
        let (count, age, limit) = keep_jobs(keep);
        let keys = if target == "completed" {
            &hot.completed
        } else {
            &hot.failed
        };
        let mut call = ScriptCall::new(scripts::move_to_finished(), keys);
        call.arg(base)
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
            Some(f) => call
                .arg("1")
                .arg(&f.token)
                .arg(f.lock_ms)
                .arg(&f.max)
                .arg(&f.duration)
                .arg(&f.name),
            None => call.arg("0").arg("").arg(0u64).arg("").arg("").arg(""),
        };
        call.arg(&hot.metrics);
        call
    };
    // Back to the queue: a retry (`delay`, the failure recorded, an attempt counted) or a
    // hand-back (`None`: to the front, nothing recorded).
    let requeue = |retry: Option<(u64, &str, &str)>| {
        let (delay, reason, stack) = retry.unwrap_or((0, "", ""));
        let mut call = ScriptCall::new(scripts::retry_job(), &hot.retry);
        call.arg(base)
            .arg(&job.id)
            .arg(now_ms())
            .arg(token)
            .arg(delay)
            .arg(reason)
            .arg(stack)
            .arg(if retry.is_none() { "1" } else { "0" });
        call
    };
    let (reason, recoverable) = match outcome {
        Ok(value) => {
            let json = serde_json::to_string(&value).unwrap_or_else(|_| "null".into());
            let call = finished("completed", &json, opts.remove_on_complete, "");
            return Ok(finished_from(call.run(conn).await?));
        }
        Err(JobError::HandBack(_)) => {
            return Ok(Finished::Code(
                requeue(None).run(conn).await?.int().unwrap_or(0),
            ));
        }
        Err(JobError::Failed(r)) => (r, true),
        Err(JobError::Unrecoverable(r)) => (r, false),
    };
    let mut stack: Vec<String> = job.stacktrace.clone();
    stack.push(format!("Error: {reason}"));
    let stack = serde_json::to_string(&stack).unwrap_or_else(|_| "[]".into());
    if recoverable && u64::from(job.attempts_made) + 1 < attempts {
        let delay = job
            .opts
            .get("backoff")
            .map_or(0, |b| backoff_delay(b, job.attempts_made + 1));
        let call = requeue(Some((delay, &reason, &stack)));
        Ok(Finished::Code(call.run(conn).await?.int().unwrap_or(0)))
    } else {
        let call = finished("failed", &reason, opts.remove_on_fail, &stack);
        Ok(finished_from(call.run(conn).await?))
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
