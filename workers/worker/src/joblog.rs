//! A running job's progress and log lines (Node's `job.updateProgress` and `job.log`), which
//! TestPlanIt's admin pages and `tpctl queue … job ID` show. The connection is made on first
//! use and again after an error. A line that cannot be written (Valkey away) is reported in
//! the worker's own log and the job goes on: its work matters more than its progress bar.

use serde_json::Value;

use crate::config::Config;
use crate::producer::QueueHandle;
use crate::queues::QueueSpec;

pub struct JobLog(QueueHandle);

impl JobLog {
    pub fn new(cfg: &Config, spec: &'static QueueSpec) -> JobLog {
        JobLog(QueueHandle::new(cfg, spec))
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
        self.progress_value(job, &v).await;
    }

    /// Sets the job's progress to any JSON value (the sync worker's `{current, total, ...}`).
    pub async fn progress_value(&self, job: &str, v: &Value) {
        if let Err(e) = self
            .0
            .with(|q| async move { q.update_progress(job, v).await })
            .await
        {
            tracing::warn!("job {job}: cannot write its progress: {e}");
        }
    }

    /// Appends a line to the job's log.
    pub async fn line(&self, job: &str, line: &str) {
        if let Err(e) = self
            .0
            .with(|q| async move { q.add_log(job, line, 0).await })
            .await
        {
            tracing::warn!("job {job}: cannot write its log: {e}");
        }
    }
}
