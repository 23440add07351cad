//! A Rust queue handle and a recording worker on a test's private redis-server.

#![allow(dead_code)]

use tp_bullmq::Queue;

use crate::redis_server::RedisServer;

pub async fn queue(server: &RedisServer, name: &str) -> Queue {
    let client = redis::Client::open(server.url()).expect("url");
    let conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    Queue::new(conn, "bull", name)
}

/// A Rust worker that reports each job it starts (with the wall-clock ms of the start) and
/// completes it with `null`.
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
                    let _ = tx.send((job, at));
                    async { Ok(serde_json::Value::Null) }
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
