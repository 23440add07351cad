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
        if h.is_empty() {
            return None;
        }
        let num = |k: &str| {
            h.get(k)
                .and_then(|v| v.parse::<f64>().ok())
                .map(|f| f as u64)
        };
        let json = |k: &str| h.get(k).and_then(|v| serde_json::from_str(v).ok());
        Some(Job {
            id: id.to_string(),
            name: h.get("name").cloned().unwrap_or_default(),
            data: json("data").unwrap_or(Value::Object(Default::default())),
            opts: json("opts").unwrap_or(Value::Object(Default::default())),
            timestamp: num("timestamp").unwrap_or(0),
            delay: num("delay").unwrap_or(0),
            priority: num("priority").unwrap_or(0) as u32,
            attempts_made: num("atm").or_else(|| num("attemptsMade")).unwrap_or(0) as u32,
            processed_on: num("processedOn"),
            finished_on: num("finishedOn"),
            failed_reason: h.get("failedReason").cloned(),
            return_value: json("returnvalue"),
            stacktrace: json("stacktrace")
                .and_then(|v: Value| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            deferred_failure: h.get("defa").cloned(),
            repeat_key: h.get("rjk").cloned(),
        })
    }
}
