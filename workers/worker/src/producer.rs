//! Adding jobs to another queue from inside a job (the notification worker feeds `emails`).
//! The connection is made on first use and made again after an error, so an outage fails the
//! job (BullMQ retries it) rather than leaving the worker with a dead connection.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tp_bullmq::{JobOptions, Queue};

use crate::queues::QueueSpec;

pub struct Producer {
    url: Option<String>,
    spec: &'static QueueSpec,
    queue: Mutex<Option<Queue>>,
}

impl Producer {
    pub fn new(url: Option<String>, spec: &'static QueueSpec) -> Producer {
        Producer {
            url,
            spec,
            queue: Mutex::new(None),
        }
    }

    /// Adds `name` with `data` and the queue's default options; returns the job id.
    pub async fn add(&self, name: &str, data: &Value) -> Result<String, String> {
        self.add_with(name, data, &self.spec.job_options()).await
    }

    /// Adds `name` with `data` and `opts`; returns the job id.
    pub async fn add_with(
        &self,
        name: &str,
        data: &Value,
        opts: &JobOptions,
    ) -> Result<String, String> {
        let mut slot = self.queue.lock().await;
        if slot.is_none() {
            let url = self.url.as_deref().ok_or("VALKEY_URL is not set")?;
            let (conn, _) = tp_bullmq::connect::connect(url, Duration::from_secs(5))
                .await
                .map_err(|e| e.to_string())?;
            *slot = Some(Queue::new(conn, "bull", self.spec.name));
        }
        let Some(queue) = slot.as_ref() else {
            return Err("no connection".into());
        };
        match queue.add(name, data, opts).await {
            Ok(id) => Ok(id),
            Err(e) => {
                *slot = None;
                Err(format!("cannot add {name} to {}: {e}", self.spec.name))
            }
        }
    }
}
