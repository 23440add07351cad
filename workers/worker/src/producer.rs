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
    /// The connection, and how many failovers the process had heard of when it was made.
    queue: Mutex<Option<(Queue, u64)>>,
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
        // Under Sentinel, a connection made before a failover the process has heard of may be
        // on the old master, which can answer as one for seconds more: made again.
        if slot
            .as_ref()
            .is_some_and(|(_, seen)| *seen != tp_bullmq::sentinel::switches_heard())
        {
            *slot = None;
        }
        let reused = slot.is_some();
        let queue = match slot.as_ref() {
            Some((q, _)) => q.clone(),
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

    async fn connect(&self, slot: &mut Option<(Queue, u64)>) -> Result<Queue, String> {
        let url = self.url.as_deref().ok_or("VALKEY_URL is not set")?;
        let seen = tp_bullmq::sentinel::switches_heard();
        let (conn, _) = tp_bullmq::connect::connect(url, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        let queue = Queue::new(conn, &self.prefix, self.spec.name);
        *slot = Some((queue.clone(), seen));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of the server's client connections other than the asking one.
    async fn clients(url: &str) -> Vec<String> {
        let (mut c, _) = tp_bullmq::connect::connect(url, Duration::from_secs(5))
            .await
            .expect("connect");
        let me: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut c)
            .await
            .expect("CLIENT ID");
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut c)
            .await
            .expect("CLIENT LIST");
        list.lines()
            .filter_map(|l| l.strip_prefix("id=")?.split(' ').next().map(str::to_string))
            .filter(|id| *id != me.to_string())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failover_heard_makes_the_connection_again() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("tp-producer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        /// Stops the server however the test ends.
        struct Server(std::process::Child);
        impl Drop for Server {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let _server = Server(
            std::process::Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                ])
                .arg("--dir")
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is installed"),
        );
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tp_bullmq::connect::connect(&url, Duration::from_secs(1))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let cfg = Config {
            database_url: None,
            valkey_url: Some(url.clone()),
            prefix: "bull".into(),
            multi_tenant: false,
        };
        let p = Producer::new(&cfg, &crate::queues::EMAILS);
        p.add("a", &serde_json::json!({})).await.expect("add");
        let first = clients(&url).await;
        p.add("b", &serde_json::json!({})).await.expect("add");
        let now = clients(&url).await;
        assert!(
            first.iter().all(|id| now.contains(id)),
            "kept between adds: {first:?} then {now:?}"
        );
        tp_bullmq::sentinel::heard_switch();
        p.add("c", &serde_json::json!({})).await.expect("add");
        // The old connection goes (its socket closes as its driver ends) and a new one is up.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let after = clients(&url).await;
            if !after.is_empty() && after.iter().all(|id| !first.contains(id)) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{first:?} then {after:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
