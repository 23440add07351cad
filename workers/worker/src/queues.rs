//! TestPlanIt's queues: their default job options (what the web app adds with) and the
//! options its workers run with (spec §2.3). The `*_CONCURRENCY` variables are honoured, with
//! the concurrency TestPlanIt really runs as the default.

use std::time::Duration;

use tp_bullmq::{Backoff, JobOptions, KeepJobs, WorkerOptions};

const DAY_S: u64 = 86_400;

/// One queue and how it is worked.
#[derive(Debug, Clone, Copy)]
pub struct QueueSpec {
    pub name: &'static str,
    attempts: u32,
    /// Exponential back-off base, ms.
    backoff_ms: Option<u64>,
    complete_age_days: u64,
    complete_count: u64,
    fail_age_days: u64,
    pub concurrency_var: &'static str,
    concurrency: usize,
    lock: Option<Duration>,
    stalled_interval: Option<Duration>,
    /// (jobs, per ms)
    limiter: Option<(u64, u64)>,
    /// PostgreSQL connections one job uses at once (the Testmo analysis stages with two
    /// `COPY`s in flight while it reports progress on a third).
    pub connections_per_job: usize,
}

pub const FORECAST: QueueSpec = QueueSpec {
    name: "forecast-updates",
    attempts: 3,
    backoff_ms: Some(5_000),
    complete_age_days: 7,
    complete_count: 1_000,
    fail_age_days: 14,
    concurrency_var: "FORECAST_CONCURRENCY",
    concurrency: 5,
    lock: None,
    stalled_interval: None,
    limiter: Some((100, 1_000)),
    connections_per_job: 1,
};

pub const NOTIFICATIONS: QueueSpec = QueueSpec {
    name: "notifications",
    attempts: 3,
    backoff_ms: Some(5_000),
    complete_age_days: 7,
    complete_count: 1_000,
    fail_age_days: 14,
    concurrency_var: "NOTIFICATION_CONCURRENCY",
    concurrency: 5,
    lock: None,
    stalled_interval: None,
    limiter: None,
    connections_per_job: 1,
};

pub const EMAILS: QueueSpec = QueueSpec {
    name: "emails",
    attempts: 5,
    backoff_ms: Some(10_000),
    complete_age_days: 30,
    complete_count: 5_000,
    fail_age_days: 30,
    concurrency_var: "EMAIL_CONCURRENCY",
    concurrency: 3,
    lock: None,
    stalled_interval: None,
    limiter: None,
    connections_per_job: 1,
};

pub const AUDIT_LOGS: QueueSpec = QueueSpec {
    name: "audit-logs",
    attempts: 3,
    backoff_ms: Some(5_000),
    complete_age_days: 365,
    complete_count: 100_000,
    fail_age_days: 90,
    concurrency_var: "AUDIT_LOG_CONCURRENCY",
    concurrency: 10,
    lock: None,
    stalled_interval: None,
    limiter: None,
    connections_per_job: 1,
};

pub const ELASTICSEARCH_REINDEX: QueueSpec = QueueSpec {
    name: "elasticsearch-reindex",
    attempts: 1,
    backoff_ms: None,
    complete_age_days: 7,
    complete_count: 50,
    fail_age_days: 14,
    concurrency_var: "ELASTICSEARCH_REINDEX_CONCURRENCY",
    concurrency: 2,
    // A large project takes long: an hour's lock, and a stall check every 5 minutes.
    lock: Some(Duration::from_secs(3_600)),
    stalled_interval: Some(Duration::from_secs(300)),
    limiter: None,
    connections_per_job: 1,
};

pub const ISSUE_SYNC: QueueSpec = QueueSpec {
    name: "issue-sync",
    attempts: 3,
    backoff_ms: Some(5_000),
    complete_age_days: 3,
    complete_count: 500,
    fail_age_days: 7,
    concurrency_var: "SYNC_CONCURRENCY",
    concurrency: 2,
    // A large integration syncs for hours at one request a second: a 6 h lock, stalls
    // checked every 5 minutes.
    lock: Some(Duration::from_secs(6 * 3_600)),
    stalled_interval: Some(Duration::from_secs(300)),
    limiter: None,
    connections_per_job: 1,
};

pub const TESTMO_IMPORTS: QueueSpec = QueueSpec {
    name: "testmo-imports",
    attempts: 1,
    backoff_ms: None,
    complete_age_days: 30,
    complete_count: 100,
    fail_age_days: 30,
    concurrency_var: "TESTMO_IMPORT_CONCURRENCY",
    concurrency: 1,
    lock: None,
    stalled_interval: None,
    limiter: None,
    connections_per_job: 3,
};

impl QueueSpec {
    /// The options TestPlanIt's web app adds this queue's jobs with.
    pub fn job_options(&self) -> JobOptions {
        JobOptions {
            attempts: Some(self.attempts),
            backoff: self.backoff_ms.map(Backoff::exponential),
            remove_on_complete: Some(KeepJobs::Policy {
                age: Some(self.complete_age_days * DAY_S),
                count: Some(self.complete_count),
            }),
            remove_on_fail: Some(KeepJobs::Policy {
                age: Some(self.fail_age_days * DAY_S),
                count: None,
            }),
            ..Default::default()
        }
    }

    /// The concurrency from `*_CONCURRENCY`, else TestPlanIt's; an unusable value is said so
    /// and the default kept.
    pub fn concurrency(&self) -> usize {
        crate::config::number(
            self.concurrency_var,
            self.concurrency,
            |n| *n > 0,
            "a positive number",
        )
    }

    /// The options the worker runs with.
    pub fn worker_options(&self, concurrency: usize) -> WorkerOptions {
        let mut o = WorkerOptions {
            concurrency,
            // Recorded as Node's workers with `metrics: {maxDataPoints: ONE_WEEK}` do, for
            // Queue.getMetrics and `tpctl web`'s per-queue counters.
            metrics_max_data_points: Some(tp_bullmq::worker::METRICS_ONE_WEEK),
            ..Default::default()
        };
        if let Some(l) = self.lock {
            o.lock_duration = l;
        }
        if let Some(s) = self.stalled_interval {
            o.stalled_interval = s;
        }
        o.limiter = self.limiter.map(|(n, ms)| (n, Duration::from_millis(ms)));
        o
    }
}
