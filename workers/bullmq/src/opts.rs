//! Job options, encoded as Node bullmq encodes them: a msgpack map with BullMQ's key names,
//! short keys where BullMQ shortens them (`de`, `kl`), absent options left out.

use serde::{Deserialize, Serialize};

/// How long to wait before a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// `fixed` or `exponential` (delay × 2^(attempt−1)).
    #[serde(rename = "type")]
    pub kind: String,
    /// Milliseconds.
    pub delay: u64,
}

impl Backoff {
    pub fn fixed(ms: u64) -> Backoff {
        Backoff {
            kind: "fixed".into(),
            delay: ms,
        }
    }
    pub fn exponential(ms: u64) -> Backoff {
        Backoff {
            kind: "exponential".into(),
            delay: ms,
        }
    }
}

/// `removeOnComplete` / `removeOnFail`: remove at once, keep the last N, or keep by age/count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeepJobs {
    Remove(bool),
    Count(u64),
    Policy {
        /// Seconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        age: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
}

/// Deduplication: while a job with this id exists (or for `ttl` ms), adds with the same id
/// return that job instead of adding another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deduplication {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// The options of one job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Milliseconds before the job may run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<u64>,
    /// 1 (highest) to 2097151; 0 or absent means none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Run next, ahead of the queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifo: Option<bool>,
    #[serde(rename = "jobId", skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(rename = "removeOnComplete", skip_serializing_if = "Option::is_none")]
    pub remove_on_complete: Option<KeepJobs>,
    #[serde(rename = "removeOnFail", skip_serializing_if = "Option::is_none")]
    pub remove_on_fail: Option<KeepJobs>,
    /// Log lines kept per job.
    #[serde(rename = "kl", skip_serializing_if = "Option::is_none")]
    pub keep_logs: Option<u32>,
    #[serde(rename = "de", skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<Deduplication>,
    /// Any other option, carried through as it is (repeat, prevMillis, timestamp, ...).
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

impl JobOptions {
    /// The msgpack map the add script stores (as JSON) in the job's `opts` field.
    pub fn to_msgpack(&self) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        rmp_serde::to_vec_named(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_use_bullmqs_names_and_leave_out_what_is_unset() {
        let o = JobOptions {
            attempts: Some(5),
            backoff: Some(Backoff::exponential(10_000)),
            remove_on_complete: Some(KeepJobs::Policy {
                age: Some(2_592_000),
                count: Some(5000),
            }),
            keep_logs: Some(10),
            deduplication: Some(Deduplication {
                id: "d".into(),
                ttl: None,
            }),
            ..Default::default()
        };
        let back: serde_json::Value =
            rmp_serde::from_slice(&o.to_msgpack().expect("encode")).expect("decode");
        assert_eq!(
            back,
            serde_json::json!({"attempts": 5, "backoff": {"type": "exponential", "delay": 10000}, "removeOnComplete": {"age": 2592000, "count": 5000}, "kl": 10, "de": {"id": "d"}})
        );
    }
}
