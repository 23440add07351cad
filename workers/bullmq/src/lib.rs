//! BullMQ v5 in Rust: the data layout, encodings and operations that let Rust share queues
//! with TestPlanIt's Node web app (bullmq 5.67.2). Every state change is one of our own Lua
//! scripts (`src/scripts/`), written from the layout description in
//! `shared/specs/bullmq-v5.md`; key names and encodings live in `keys` and `opts` only.
//!
//! This first slice is the producer side and the queue-level reads: `add` (standard, delayed,
//! prioritized, LIFO, custom id, deduplication id), `add_bulk`, `counts` (as Node's
//! `getJobCounts()`), `pause`/`resume`/`is_paused` and `job`. The worker side comes next.

pub mod admin;
pub mod connect;
pub mod error;
pub mod job;
pub mod keys;
pub mod opts;
pub mod queue;
pub mod repeat;
pub mod scheduler;
mod scripts;
pub mod worker;

pub use error::Error;
pub use job::Job;
pub use opts::{Backoff, JobOptions, KeepJobs};
pub use queue::{Counts, Queue, Repeatable};
pub use repeat::Repeat;
pub use scheduler::{JobScheduler, Template};
pub use worker::{JobError, Worker, WorkerOptions};
