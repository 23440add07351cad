//! A connection to one queue made on first use and made again after an error, so an outage
//! fails the current call (and BullMQ retries the job) rather than leaving the worker with a
//! dead connection; and adding jobs to another queue from inside a job through it (the
//! notification worker feeds `emails`).

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tp_bullmq::{JobOptions, Queue};

use crate::config::Config;
use crate::queues::QueueSpec;

/// One queue, connected when first used.
pub struct QueueHandle {
    url: Option<String>,
    prefix: String,
    pub spec: &'static QueueSpec,
    queue: Mutex<Option<Queue>>,
}

impl QueueHandle {
    pub fn new(cfg: &Config, spec: &'static QueueSpec) -> QueueHandle {
        QueueHandle {
            url: cfg.valkey_url.clone(),
            prefix: cfg.prefix.clone(),
            spec,
            queue: Mutex::new(None),
        }
    }

    /// Runs `f` on the queue, connecting first if need be. A connection kept from earlier that
    /// turns out to have died (Valkey restarted since) is replaced and `f` runs once more on
    /// the new one, so the first call after an outage succeeds rather than failing its job;
    /// any other error drops the connection so that the next call makes a new one.
    pub async fn with<T, F, Fut>(&self, f: F) -> Result<T, String>
    where
        F: Fn(Queue) -> Fut,
        Fut: Future<Output = Result<T, tp_bullmq::Error>>,
    {
        let mut slot = self.queue.lock().await;
        let reused = slot.is_some();
        let queue = match slot.as_ref() {
            Some(q) => q.clone(),
            None => self.connect(&mut slot).await?,
        };
        match f(queue).await {
            Ok(v) => Ok(v),
            Err(e) if reused && e.is_connection_lost() => {
                tracing::info!(
                    "the Valkey connection for queue {} was lost ({e}); connecting again",
                    self.spec.name
                );
                *slot = None;
                let queue = self.connect(&mut slot).await?;
                f(queue).await.map_err(|e| {
                    *slot = None;
                    e.to_string()
                })
            }
            Err(e) => {
                *slot = None;
                Err(e.to_string())
            }
        }
    }

    async fn connect(&self, slot: &mut Option<Queue>) -> Result<Queue, String> {
        let url = self.url.as_deref().ok_or("VALKEY_URL is not set")?;
        let (conn, _) = tp_bullmq::connect::connect(url, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        let queue = Queue::new(conn, &self.prefix, self.spec.name);
        *slot = Some(queue.clone());
        Ok(queue)
    }
}

pub struct Producer(QueueHandle);

impl Producer {
    pub fn new(cfg: &Config, spec: &'static QueueSpec) -> Producer {
        Producer(QueueHandle::new(cfg, spec))
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
