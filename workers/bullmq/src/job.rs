//! A job as stored in its hash.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// A job's stored options: the JSON the add script wrote, parsed as a whole only when read
/// (admin listings, repeat iterations, a failure's back-off). A worker finishing a job needs
/// three of them and takes those from [`StoredOpts::finishing`] without building the tree:
/// that parse and its drop were a tenth of a worker's instructions per job.
#[derive(Debug, Default)]
pub struct StoredOpts {
    raw: String,
    parsed: OnceLock<Value>,
}

impl StoredOpts {
    /// Options from their stored JSON.
    pub fn from_raw(raw: String) -> StoredOpts {
        StoredOpts {
            raw,
            parsed: OnceLock::new(),
        }
    }

    /// The options as JSON (an empty object when the stored text does not parse).
    pub fn value(&self) -> &Value {
        self.parsed.get_or_init(|| {
            serde_json::from_str(&self.raw).unwrap_or_else(|_| Value::Object(Default::default()))
        })
    }

    /// `attempts`, `removeOnComplete` and `removeOnFail`, read straight from the text (which
    /// is always there, parsed or not).
    pub fn finishing(&self) -> Finishing {
        serde_json::from_str(&self.raw).unwrap_or_default()
    }
}

impl From<Value> for StoredOpts {
    fn from(v: Value) -> StoredOpts {
        StoredOpts {
            raw: v.to_string(),
            parsed: OnceLock::from(v),
        }
    }
}

impl Deref for StoredOpts {
    type Target = Value;
    fn deref(&self) -> &Value {
        self.value()
    }
}

impl Clone for StoredOpts {
    fn clone(&self) -> StoredOpts {
        StoredOpts {
            raw: self.raw.clone(),
            parsed: self.parsed.clone(),
        }
    }
}

impl PartialEq for StoredOpts {
    fn eq(&self, other: &StoredOpts) -> bool {
        self.value() == other.value()
    }
}

impl Serialize for StoredOpts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

/// What finishing a job reads from its options.
#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
pub struct Finishing {
    #[serde(default, deserialize_with = "lenient_count")]
    pub attempts: Option<u64>,
    #[serde(rename = "removeOnComplete")]
    pub remove_on_complete: Option<Keep>,
    #[serde(rename = "removeOnFail")]
    pub remove_on_fail: Option<Keep>,
}

/// A count when the value is a non-negative integer; anything else reads as absent rather
/// than failing the other options.
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Keep::deserialize(d)? {
        Keep::Count(n) => u64::try_from(n).ok(),
        _ => None,
    })
}

/// `removeOnComplete` / `removeOnFail`: true, false, a count, or {count, age, limit}.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keep {
    Remove(bool),
    Count(i64),
    Policy {
        count: Option<i64>,
        age: Option<u64>,
        limit: Option<u64>,
    },
    /// Anything else: treated as absent.
    Other,
}

impl<'de> Deserialize<'de> for Keep {
    // By hand rather than `untagged`: serde buffers untagged input in allocations, which is
    // what this type exists to avoid.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keep, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keep;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean, a number or {count, age, limit}")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Keep, E> {
                Ok(Keep::Remove(b))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Keep, E> {
                Ok(Keep::Count(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Keep, E> {
                Ok(i64::try_from(n).map_or(Keep::Other, Keep::Count))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Keep, E> {
                Ok(Keep::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Keep, E> {
                Ok(Keep::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Keep, E> {
                Ok(Keep::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Keep, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Keep::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keep, A::Error> {
                let (mut count, mut age, mut limit) = (None, None, None);
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "count" => count = m.next_value::<Option<i64>>().ok().flatten(),
                        "age" => age = m.next_value::<Option<u64>>().ok().flatten(),
                        "limit" => limit = m.next_value::<Option<u64>>().ok().flatten(),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Keep::Policy { count, age, limit })
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of a job hash that callers read.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub name: String,
    /// The job's data (JSON).
    pub data: Value,
    /// The stored options (JSON re-encoded by the add script), parsed when read.
    pub opts: StoredOpts,
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
    /// What the job last reported with `updateProgress` (a number or any JSON).
    pub progress: Option<Value>,
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
            opts: StoredOpts::default(),
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
            progress: None,
        };
        let mut legacy_attempts = None;
        let mut atm = None;
        for (k, v) in fields {
            match k.as_str() {
                "name" => job.name = v,
                "data" => job.data = json(&v).unwrap_or(job.data),
                "opts" => job.opts = StoredOpts::from_raw(v),
                "timestamp" => job.timestamp = num(&v).unwrap_or(0),
                "delay" => job.delay = num(&v).unwrap_or(0),
                "priority" => job.priority = num(&v).unwrap_or(0) as u32,
                "atm" => atm = num(&v),
                "attemptsMade" => legacy_attempts = num(&v),
                "processedOn" => job.processed_on = num(&v),
                "finishedOn" => job.finished_on = num(&v),
                "failedReason" => job.failed_reason = Some(v),
                "progress" => job.progress = json(&v),
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
