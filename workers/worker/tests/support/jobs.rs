//! Adding jobs and reading them back through Node bullmq, as the web app and its Admin page
//! do.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::node_support::node_last;
use crate::redis_server::RedisServer;

/// Adds one job with Node's Queue.add; returns its id.
pub fn add(server: &RedisServer, queue: &str, name: &str, data: Value, opts: Value) -> String {
    let jobs = json!([{"name": name, "data": data, "opts": opts}]);
    node_last(
        "produce.cjs",
        &[&server.url(), queue, &jobs.to_string()],
        &[],
    )[0]
    .as_str()
    .expect("id")
    .to_string()
}

/// A job as Node's Job.fromId sees it, with its state (null when it does not exist).
pub fn job(server: &RedisServer, queue: &str, id: &str) -> Value {
    node_last("inspect.cjs", &[&server.url(), queue, "job", id], &[])
}

/// The jobs of a queue in one state, as Node lists them.
pub fn jobs(server: &RedisServer, queue: &str, state: &str) -> Vec<Value> {
    node_last("inspect.cjs", &[&server.url(), queue, "jobs", state], &[])
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|id| job(server, queue, id))
        .collect()
}

/// A job's log lines, as Node's Queue.getJobLogs reads them (the admin page's job log).
pub fn logs(server: &RedisServer, queue: &str, id: &str) -> Vec<String> {
    node_last("inspect.cjs", &[&server.url(), queue, "logs", "-", id], &[])["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Retries a failed job, as the web app's Admin › Job Queues does.
pub fn retry(server: &RedisServer, queue: &str, id: &str) {
    node_last("inspect.cjs", &[&server.url(), queue, "retry", id], &[]);
}

/// Waits until the job is in `state`; returns it.
pub fn wait_state(server: &RedisServer, queue: &str, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(server, queue, id);
        if j["state"] == state {
            return j;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never became {state}: {j}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the job no longer exists (completed with removeOnComplete: true).
pub fn wait_gone(server: &RedisServer, queue: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(server, queue, id);
        if j.is_null() {
            return;
        }
        assert!(Instant::now() < deadline, "job {id} is still there: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
