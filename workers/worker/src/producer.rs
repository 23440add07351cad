//! A connection to one queue made on first use and made again after an error, so an outage
//! fails the current call (and BullMQ retries the job) rather than leaving the worker with a
//! dead connection; and adding jobs to another queue from inside a job through it (the
//! notification worker feeds `emails`).

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tp_bullmq::{JobOptions, Queue};

use crate::queues::QueueSpec;

/// One queue, connected when first used.
pub struct QueueHandle {
    url: Option<String>,
    pub spec: &'static QueueSpec,
    queue: Mutex<Option<Queue>>,
}

impl QueueHandle {
    pub fn new(url: Option<String>, spec: &'static QueueSpec) -> QueueHandle {
        QueueHandle {
            url,
            spec,
            queue: Mutex::new(None),
        }
    }

    /// Runs `f` on the queue, connecting first if need be; an error drops the connection so
    /// that the next call makes a new one.
    pub async fn with<T, F, Fut>(&self, f: F) -> Result<T, String>
    where
        F: FnOnce(Queue) -> Fut,
        Fut: Future<Output = Result<T, tp_bullmq::Error>>,
    {
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
        match f(queue.clone()).await {
            Ok(v) => Ok(v),
            Err(e) => {
                *slot = None;
                Err(e.to_string())
            }
        }
    }
}

pub struct Producer(QueueHandle);

impl Producer {
    pub fn new(url: Option<String>, spec: &'static QueueSpec) -> Producer {
        Producer(QueueHandle::new(url, spec))
    }

    /// Adds `name` with `data` and the queue's default options; returns the job id.
    pub async fn add(&self, name: &str, data: &Value) -> Result<String, String> {
        self.add_with(name, data, &self.0.spec.job_options()).await
    }

    /// Adds `name` with `data` and `opts`; returns the job id.
    pub async fn add_with(
        &self,
        name: &str,
        data: &Value,
        opts: &JobOptions,
    ) -> Result<String, String> {
        self.0
            .with(|q| async move { q.add(name, data, opts).await })
            .await
            .map_err(|e| format!("cannot add {name} to {}: {e}", self.0.spec.name))
    }
}
