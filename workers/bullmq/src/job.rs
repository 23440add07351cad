//! A job as stored in its hash.

use std::collections::HashMap;

use serde_json::Value;

/// The fields of a job hash that callers read.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub name: String,
    /// The job's data (JSON).
    pub data: Value,
    /// The stored options (JSON re-encoded by the add script).
    pub opts: Value,
    pub timestamp: u64,
    pub delay: u64,
    pub priority: u32,
    /// Attempts made (`atm`, legacy `attemptsMade`).
    pub attempts_made: u32,
    pub processed_on: Option<u64>,
    pub finished_on: Option<u64>,
    pub failed_reason: Option<String>,
    pub return_value: Option<Value>,
    /// Stack traces of earlier failed attempts.
    pub stacktrace: Vec<String>,
    /// Set by the stalled checker: fail on activation without running (`defa`).
    pub deferred_failure: Option<String>,
    /// The repeatable this job is an iteration of (`rjk`).
    pub repeat_key: Option<String>,
}

impl Job {
    /// Builds a job from HGETALL output; `None` when the hash is empty (no such job).
    pub fn from_hash(id: &str, h: &HashMap<String, String>) -> Option<Job> {
        Job::from_fields(
            id.to_string(),
            h.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        )
    }

    /// Builds a job from its hash's field/value pairs, moving the values in (one pass, no
    /// map: this runs for every job a worker takes). `None` when there are none.
    pub fn from_fields(id: String, fields: Vec<(String, String)>) -> Option<Job> {
        if fields.is_empty() {
            return None;
        }
        let num = |v: &str| v.parse::<f64>().ok().map(|f| f as u64);
        let json = |v: &str| serde_json::from_str::<Value>(v).ok();
        let mut job = Job {
            id,
            name: String::new(),
            data: Value::Object(Default::default()),
            opts: Value::Object(Default::default()),
            timestamp: 0,
            delay: 0,
            priority: 0,
            attempts_made: 0,
            processed_on: None,
            finished_on: None,
            failed_reason: None,
            return_value: None,
            stacktrace: Vec::new(),
            deferred_failure: None,
            repeat_key: None,
        };
        let mut legacy_attempts = None;
        let mut atm = None;
        for (k, v) in fields {
            match k.as_str() {
                "name" => job.name = v,
                "data" => job.data = json(&v).unwrap_or(job.data),
                "opts" => job.opts = json(&v).unwrap_or(job.opts),
                "timestamp" => job.timestamp = num(&v).unwrap_or(0),
                "delay" => job.delay = num(&v).unwrap_or(0),
                "priority" => job.priority = num(&v).unwrap_or(0) as u32,
                "atm" => atm = num(&v),
                "attemptsMade" => legacy_attempts = num(&v),
                "processedOn" => job.processed_on = num(&v),
                "finishedOn" => job.finished_on = num(&v),
                "failedReason" => job.failed_reason = Some(v),
                "returnvalue" => job.return_value = json(&v),
                "stacktrace" => {
                    job.stacktrace = serde_json::from_str(&v).unwrap_or_default();
                }
                "defa" => job.deferred_failure = Some(v),
                "rjk" => job.repeat_key = Some(v),
                _ => {}
            }
        }
        job.attempts_made = atm.or(legacy_attempts).unwrap_or(0) as u32;
        Some(job)
    }
}
