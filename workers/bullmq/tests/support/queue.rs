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

/// A Rust worker that reports each job it starts (with the wall-clock ms of the start) and
/// completes it with `null`, or with what `outcome` says.
pub struct Recording {
    pub started: tokio::sync::mpsc::UnboundedReceiver<(tp_bullmq::Job, u64)>,
    stop: tokio::sync::oneshot::Sender<()>,
    run: tokio::task::JoinHandle<Result<(), tp_bullmq::Error>>,
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
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        worker
            .run(
                move |job| {
                    let at = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    let result = outcome(&job);
                    let _ = tx.send((job, at));
                    async move { result }
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
    });
    Recording { started, stop, run }
}

impl Recording {
    /// Closes the worker gracefully and checks it ended without an error.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.run.await.expect("join").expect("run");
    }
}
