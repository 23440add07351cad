//! A Rust queue handle and a recording worker on a test's private redis-server.

#![allow(dead_code)]

use tp_bullmq::Queue;

use crate::redis_server::RedisServer;

pub async fn queue(server: &RedisServer, name: &str) -> Queue {
    Queue::new(connection(server).await, "bull", name)
}

/// A plain connection, for reading keys as they are.
pub async fn connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).expect("url");
    client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect")
}

/// A worker running on a task of its own until stopped.
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    run: tokio::task::JoinHandle<Result<(), tp_bullmq::Error>>,
}

/// Runs `worker` with `processor` on a task.
pub fn spawn_worker<F, Fut>(worker: tp_bullmq::Worker, processor: F) -> Running
where
    F: Fn(tp_bullmq::Job) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<serde_json::Value, tp_bullmq::JobError>>
        + Send
        + 'static,
{
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        worker
            .run(processor, async {
                let _ = stop_rx.await;
            })
            .await
    });
    Running { stop, run }
}

impl Running {
    /// Closes the worker gracefully and checks it ended without an error.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.run.await.expect("join").expect("run");
    }
}

/// A Rust worker that reports each job it starts (with the wall-clock ms of the start) and
/// completes it with `null`, or with what `outcome` says.
pub struct Recording {
    pub started: tokio::sync::mpsc::UnboundedReceiver<(tp_bullmq::Job, u64)>,
    running: Running,
}

pub async fn recording_worker(
    server: &RedisServer,
    name: &str,
    opts: tp_bullmq::WorkerOptions,
) -> Recording {
    recording_worker_with(server, name, opts, |_| Ok(serde_json::Value::Null)).await
}

pub async fn recording_worker_with(
    server: &RedisServer,
    name: &str,
    opts: tp_bullmq::WorkerOptions,
    outcome: fn(&tp_bullmq::Job) -> Result<serde_json::Value, tp_bullmq::JobError>,
) -> Recording {
    let worker = tp_bullmq::Worker::connect(&server.url(), "bull", name, opts)
        .await
        .expect("worker");
    let (tx, started) = tokio::sync::mpsc::unbounded_channel();
    let running = spawn_worker(worker, move |job| {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let result = outcome(&job);
        let _ = tx.send((job, at));
        async move { result }
    });
    Recording { started, running }
}

impl Recording {
    /// Closes the worker gracefully and checks it ended without an error.
    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// Worker options for tests: a short blocking wait, so closing is quick.
pub fn fast() -> tp_bullmq::WorkerOptions {
    tp_bullmq::WorkerOptions {
        drain_delay: std::time::Duration::from_millis(200),
        ..Default::default()
    }
}

/// Polls `cond` every 20 ms for up to 30 s (a bound on a hang, not a timing).
pub async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
