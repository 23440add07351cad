//! How a job fails, shared by the workers: a database error is retried by BullMQ's back-off
//! (PostgreSQL may be back by then); a payload that does not parse never will, so it is not.

use tp_bullmq::JobError;

/// Maps a database error to a retried failure saying what was being done.
pub fn db(what: &'static str) -> impl Fn(sqlx::Error) -> JobError {
    move |e| JobError::Failed(format!("{what}: {e}"))
}

/// A payload that does not have the job's shape: failed, not retried.
pub fn malformed(e: serde_json::Error) -> JobError {
    JobError::Unrecoverable(format!("malformed payload: {e}"))
}
