//! Spec §12 "memory under load": 30,000 jobs that Node added (TestPlanIt's options, completed
//! jobs trimmed to 1,000 by removeOnComplete) through one Rust worker at concurrency 10. Its
//! resident memory after the first 5,000 jobs and at the end must be about the same: a buffer
//! or channel that grows per job (one port grew from 8 to 40 MB this way) fails the test.
//! This test has a file (a process) of its own so that nothing else moves the figure.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use node_support::node_lines;
use queue_support::queue;
use redis_server::RedisServer;
use serde_json::json;
use tp_bullmq::{Worker, WorkerOptions};

const JOBS: u64 = 30_000;
const WARM: u64 = 5_000;
/// Growth allowed between WARM and JOBS jobs: allocator slack, not a per-job leak
/// (25,000 jobs × even 300 bytes would be 7 MiB).
const SLACK_KIB: u64 = 3 * 1024;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_jobs_through_one_worker_in_flat_memory() {
    let server = RedisServer::start();
    node_lines(
        "bench-produce.cjs",
        &[&server.url(), "notifications", &JOBS.to_string()],
        &[],
    );
    let q = queue(&server, "notifications").await;
    assert_eq!(q.counts().await.expect("counts").waiting, JOBS);

    let done = Arc::new(AtomicU64::new(0));
    let worker = Worker::connect(
        &server.url(),
        "bull",
        "notifications",
        WorkerOptions {
            concurrency: 10,
            drain_delay: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await
    .expect("worker");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let counter = done.clone();
    let run = tokio::spawn(async move {
        worker
            .run(
                move |job| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    async move { Ok(json!({"ok": job.id})) }
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await
    });

    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut warm_rss = None;
    loop {
        let n = done.load(Ordering::Relaxed);
        if warm_rss.is_none() && n >= WARM {
            warm_rss = Some(rss_kib());
        }
        let c = q.counts().await.expect("counts");
        if n >= JOBS && c.waiting == 0 && c.active == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of {JOBS} jobs done: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let end_rss = rss_kib();
    let c = q.counts().await.expect("counts");
    assert_eq!(
        done.load(Ordering::Relaxed),
        JOBS,
        "each job ran exactly once"
    );
    assert_eq!(c.failed, 0);
    assert_eq!(
        c.completed, 1000,
        "removeOnComplete count 1000 trimmed the rest"
    );
    let warm = warm_rss.expect("warm sample");
    assert!(
        end_rss <= warm + SLACK_KIB,
        "RSS grew from {warm} KiB after {WARM} jobs to {end_rss} KiB after {JOBS}"
    );
    let _ = stop_tx.send(());
    run.await.expect("join").expect("run");
}
