//! A running job's progress and log lines (Node's `job.updateProgress` and `job.log`), which
//! TestPlanIt's admin pages and `tpctl queue … job ID` show. The connection is made on first
//! use and again after an error. A line that cannot be written (Valkey away) is reported in
//! the worker's own log and the job goes on: its work matters more than its progress bar.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tp_bullmq::Queue;

use crate::queues::QueueSpec;

pub struct JobLog {
    url: Option<String>,
    spec: &'static QueueSpec,
    queue: Mutex<Option<Queue>>,
}

impl JobLog {
    pub fn new(url: Option<String>, spec: &'static QueueSpec) -> JobLog {
        JobLog {
            url,
            spec,
            queue: Mutex::new(None),
        }
    }

    async fn with_queue<T, F, Fut>(&self, what: &str, job: &str, f: F) -> Option<T>
    where
        F: FnOnce(Queue) -> Fut,
        Fut: std::future::Future<Output = Result<T, tp_bullmq::Error>>,
    {
        let mut slot = self.queue.lock().await;
        if slot.is_none() {
            let url = self.url.as_deref()?;
            match tp_bullmq::connect::connect(url, Duration::from_secs(5)).await {
                Ok((conn, _)) => *slot = Some(Queue::new(conn, "bull", self.spec.name)),
                Err(e) => {
                    tracing::warn!("job {job}: cannot write its {what}: {e}");
                    return None;
                }
            }
        }
        let queue = slot.as_ref()?.clone();
        match f(queue).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("job {job}: cannot write its {what}: {e}");
                *slot = None;
                None
            }
        }
    }

    /// Sets the job's progress (0–100).
    pub async fn progress(&self, job: &str, percent: f64) {
        let v =
            serde_json::Number::from_f64(percent.clamp(0.0, 100.0)).map_or(Value::from(0), |n| {
                // Whole numbers as integers, as Node's progress numbers print.
                if percent.fract() == 0.0 {
                    Value::from(percent as i64)
                } else {
                    Value::Number(n)
                }
            });
        self.with_queue("progress", job, |q| async move {
            q.update_progress(job, &v).await
        })
        .await;
    }

    /// Appends a line to the job's log.
    pub async fn line(&self, job: &str, line: &str) {
        self.with_queue("log", job, |q| async move { q.add_log(job, line, 0).await })
            .await;
    }
}
