//! Benchmark worker for bench/failover.py: takes the jobs of QUEUE through Sentinel
//! (VALKEY_SENTINELS, VALKEY_SENTINEL_MASTER: tp-bullmq's own support) and prints
//! `<job id> <unix ms>` as each one's processor ends, until SIGINT. Each job takes SLEEP_MS
//! (2 by default).
//!
//! usage: failover_worker URL QUEUE

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tp_bullmq::{Worker, WorkerOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, queue) = (&args[1], &args[2]);
    let opts = WorkerOptions {
        concurrency: 4,
        lock_duration: Duration::from_secs(5),
        stalled_interval: Duration::from_secs(2),
        drain_delay: Duration::from_millis(200),
        ..Default::default()
    };
    let worker = Worker::connect(url, "bull", queue, opts)
        .await
        .expect("connect");
    let sleep = Duration::from_millis(
        std::env::var("SLEEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
    );
    println!("ready");
    worker
        .run(
            move |job| async move {
                tokio::time::sleep(sleep).await;
                let ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{} {ms}", job.id);
                let _ = out.flush();
                Ok(serde_json::Value::Null)
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await
        .expect("run");
}
