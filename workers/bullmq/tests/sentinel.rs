//! Valkey under Sentinel, failing over: one master, one replica and three sentinels on
//! loopback ports. Node bullmq 5.67.2 adds jobs through ioredis's sentinel options (as
//! TestPlanIt configures it) while a Rust worker takes them; the master is killed mid-stream.
//! Every job added is completed (at most retried by BullMQ's own stalled-job rule), none is
//! lost, and the worker's named connection is on the new master soon after the promotion.
//!
//! Sentinel settings come from the environment, so this binary has one test, which sets them
//! before any other thread reads the environment.

#[path = "support/node.rs"]
mod node_support;
#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "../../../tests/support/sentinel.rs"]
mod sentinel;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sentinel::{MASTER, SentinelSetup, cli, wait_for};
use serde_json::json;
use tp_bullmq::connect::{Settings, connect_with};
use tp_bullmq::{Queue, Worker, WorkerOptions};

const JOBS: usize = 300;

/// What a run through a failover found.
struct Outcome {
    /// How long after the promotion the worker's named connection was on the new master.
    followed: Duration,
    produced: usize,
    /// Jobs the new master has, and how many of them are completed once none waits or runs.
    present: usize,
    completed: usize,
}

/// Runs JOBS jobs through a failover that `fail_over` causes once a third are done.
fn through_a_failover(
    setup: &mut SentinelSetup,
    queue: &'static str,
    fail_over: impl FnOnce(&mut SentinelSetup),
) -> Outcome {
    // Under Sentinel, VALKEY_URL's address is not used (nothing listens on port 1).
    let url = "redis://127.0.0.1:1";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let opts = WorkerOptions {
        concurrency: 4,
        lock_duration: Duration::from_secs(5),
        stalled_interval: Duration::from_secs(2),
        drain_delay: Duration::from_millis(200),
        ..Default::default()
    };
    let worker = rt
        .block_on(Worker::connect(url, "bull", queue, opts))
        .expect("a worker through the sentinels");
    let counted = runs.clone();
    let running = rt.block_on(async {
        queue_support::spawn_worker(worker, move |job| {
            let counted = counted.clone();
            async move {
                *counted
                    .lock()
                    .expect("lock")
                    .entry(job.id.clone())
                    .or_insert(0) += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(json!({"done": job.id}))
            }
        })
    });

    let producer = std::thread::spawn({
        let sentinels = setup.sentinels_var();
        move || {
            let out = node_support::node_command("produce-sentinel.cjs")
                .args([&sentinels, MASTER, queue, &JOBS.to_string(), "5"])
                .output()
                .expect("node runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            serde_json::from_str::<serde_json::Value>(text.trim().lines().last().unwrap_or("{}"))
                .expect("the producer's summary")
        }
    });

    wait_for("a third of the jobs done", Duration::from_secs(60), || {
        runs.lock().expect("lock").len() >= JOBS / 3
    });
    let old = setup.current_master().expect("a master");
    fail_over(setup);
    wait_for("a replica promoted", Duration::from_secs(60), || {
        setup.current_master().is_some_and(|m| m != old)
    });
    let promoted = Instant::now();
    let new = setup.current_master().expect("the new master");
    let name = format!("name=bull:{}", tp_bullmq::worker::base64(queue.as_bytes()));
    wait_for(
        "the worker on the new master",
        Duration::from_secs(30),
        || cli(new, &["CLIENT", "LIST"]).is_some_and(|l| l.contains(&name)),
    );
    let followed = promoted.elapsed();

    let summary = producer.join().expect("the producer");
    let produced = summary["produced"].as_u64().expect("produced") as usize;
    assert_eq!(produced, JOBS, "{summary}");
    let settings = Settings::from_env();
    let (conn, _) = rt
        .block_on(connect_with(url, Duration::from_secs(10), &settings))
        .expect("the new master");
    let q = Queue::new(conn, "bull", queue);
    // Done once nothing waits, runs or waits to be retried (a job whose end the old master
    // took and lost is recovered by the stalled-job check and run again).
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let c = rt.block_on(q.counts()).expect("counts");
        let pending = c.waiting + c.active + c.delayed + c.prioritized + c.paused;
        if pending == 0 || Instant::now() > deadline {
            break c;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let runs = runs.lock().expect("lock").clone();
    let twice = runs.values().filter(|n| **n > 1).count();
    eprintln!(
        "{queue}: master {old} -> {new}, produced {produced}, completed {}, run twice {twice}, retried adds {}, worker on the new master {followed:?} after the promotion",
        counts.completed, summary["retries"]
    );
    assert_eq!(counts.failed, 0, "{counts:?}");
    let present = (counts.completed + counts.waiting + counts.active) as usize;
    for i in 0..produced {
        let id = format!("j{i}");
        let on_new = rt.block_on(q.state_of(&id)).ok().flatten();
        if on_new.is_some() {
            assert!(
                runs.contains_key(&id),
                "{id} is on the new master but never ran"
            );
        }
    }
    rt.block_on(running.stop());
    Outcome {
        followed,
        produced,
        present,
        completed: counts.completed as usize,
    }
}

#[test]
fn a_failover_loses_no_job_and_the_worker_follows_the_new_master() {
    node_support::ensure_installed();
    let mut setup = SentinelSetup::start();
    // SAFETY: the only test of this binary, before its runtimes or any thread start; the
    // variables are not changed afterwards.
    unsafe {
        std::env::set_var("VALKEY_SENTINELS", setup.sentinels_var());
        std::env::set_var("VALKEY_SENTINEL_MASTER", MASTER);
        std::env::remove_var("VALKEY_SENTINEL_PASSWORD");
    }
    // An operator's failover: the master is demoted to a replica and answers READONLY to
    // writes; nothing may be trusted to it.
    // The old master keeps answering as a master until a sentinel turns it into a replica
    // (up to 10 s later): the worker leaves it at the +switch-master notice. What the Node
    // producer still wrote to it in that time is lost with it (ioredis's doing, not the
    // worker's); every job the new master has is completed.
    let ports = setup.sentinel_ports.clone();
    let o = through_a_failover(&mut setup, "switched", move |_| {
        assert!(cli(ports[0], &["SENTINEL", "FAILOVER", MASTER]).is_some_and(|r| r == "OK"));
    });
    assert!(o.followed < Duration::from_secs(5), "{:?}", o.followed);
    assert_eq!(o.completed, o.present);
    // The master killed (once the old one replicates it): every job produced is completed
    // on the new one.
    setup.wait_healthy();
    let o = through_a_failover(&mut setup, "failover", SentinelSetup::kill_master);
    assert!(o.followed < Duration::from_secs(5), "{:?}", o.followed);
    assert_eq!(o.completed, o.produced, "lost jobs");
}
