//! BullMQ v5 in Rust: the data layout, encodings and operations that let Rust share queues
//! with TestPlanIt's Node web app (bullmq 5.67.2). Every state change is one of our own Lua
//! scripts (`src/scripts/`), written from the layout description in
//! `shared/specs/bullmq-v5.md`; key names and encodings live in `keys` and `opts` only.
//!
//! The producer side (`Queue::add`, `add_bulk`), the admin operations (`admin`, counts as
//! Node's `getJobCounts()`), repeatables and job schedulers, and the `Worker`, whose hot path
//! runs on a pipelined connection of its own (`link`).

pub mod acl;
pub mod admin;
pub mod connect;
pub mod error;
pub mod job;
pub mod keys;
pub mod link;
pub mod opts;
pub mod queue;
pub mod repeat;
pub mod scheduler;
mod scripts;
pub mod sentinel;
pub mod tls;
pub mod worker;

pub use error::Error;
pub use job::Job;
pub use link::LinkError;
pub use opts::{Backoff, JobOptions, KeepJobs};
pub use queue::{Counts, Queue, Repeatable};
pub use repeat::Repeat;
pub use scheduler::{JobScheduler, Template};
pub use worker::{Heartbeat, JobError, Worker, WorkerOptions};
