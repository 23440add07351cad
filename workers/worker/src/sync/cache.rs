//! The web app's issue cache in Valkey, written as its `IssueCache` writes it:
//! `SETEX issue:{integrationId}:{id} 3600 <issue JSON>` and
//! `SETEX issue-metadata:{integrationId} 7200 <metadata JSON>`.
//!
//! A cache write that fails is reported and the sync goes on: the database row is the truth
//! and the entry expires within the hour anyway (Node failed the issue's sync instead).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

pub const ISSUE_TTL: u64 = 3_600;
pub const METADATA_TTL: u64 = 7_200;

pub struct Cache {
    url: Option<String>,
    /// The connection, and how many failovers the process had heard of when it was made.
    conn: Mutex<Option<(MultiplexedConnection, u64)>>,
}

impl Cache {
    pub fn new(url: Option<String>) -> Cache {
        Cache {
            url,
            conn: Mutex::new(None),
        }
    }

    async fn setex(&self, key: &str, ttl: u64, value: &str) -> Result<(), String> {
        let url = self.url.as_deref().ok_or("VALKEY_URL is not set")?;
        let mut slot = self.conn.lock().await;
        // One made before a failover this process heard of may be on the old master.
        if slot
            .as_ref()
            .is_some_and(|(_, seen)| *seen != tp_bullmq::sentinel::switches_heard())
        {
            *slot = None;
        }
        // Tried on the kept connection, and once more on a new one if that fails.
        for fresh in [false, true] {
            if fresh || slot.is_none() {
                let seen = tp_bullmq::sentinel::switches_heard();
                let (c, _) = tp_bullmq::connect::connect(url, Duration::from_secs(5))
                    .await
                    .map_err(|e| e.to_string())?;
                *slot = Some((c, seen));
            }
            let Some((conn, _)) = slot.as_mut() else {
                continue;
            };
            let r: Result<(), redis::RedisError> = redis::cmd("SETEX")
                .arg(key)
                .arg(ttl)
                .arg(value)
                .query_async(conn)
                .await;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if fresh => {
                    *slot = None;
                    return Err(e.to_string());
                }
                Err(_) => *slot = None,
            }
        }
        Err("cannot reach Valkey".into())
    }

    pub async fn issue(&self, integration: i32, id: &str, entry: &str) {
        let key = format!("issue:{integration}:{id}");
        if let Err(e) = self.setex(&key, ISSUE_TTL, entry).await {
            tracing::warn!("cannot write the issue cache entry {key}: {e}");
        }
    }

    pub async fn metadata(&self, integration: i32, meta: Map<String, Value>) -> Result<(), String> {
        let key = format!("issue-metadata:{integration}");
        self.setex(&key, METADATA_TTL, &Value::Object(meta).to_string())
            .await
            .map_err(|e| format!("cannot write {key}: {e}"))
    }
}
