//! Benchmark worker (bench/bullmq.py): drains COUNT no-op jobs at CONCURRENCY and prints
//! one JSON line with throughput, CPU per job and peak RSS; with `latency`, also the
//! add → processor-start latency from the wall-clock time (µs) in each job's `t`.
//!
//! usage: bench_worker URL QUEUE CONCURRENCY COUNT [latency|idle SECONDS]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tp_bullmq::{Worker, WorkerOptions};

fn cpu_us() -> u64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (ru.ru_utime.tv_sec * 1_000_000
        + ru.ru_utime.tv_usec
        + ru.ru_stime.tv_sec * 1_000_000
        + ru.ru_stime.tv_usec) as u64
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, queue) = (&args[1], &args[2]);
    let concurrency: usize = args[3].parse().expect("concurrency");
    let count: u64 = args[4].parse().expect("count");
    let mode = args.get(5).map(String::as_str).unwrap_or("drain");
    let opts = WorkerOptions {
        concurrency,
        drain_delay: Duration::from_secs(5),
        ..Default::default()
    };
    let worker = Worker::connect(url, "bull", queue, opts)
        .await
        .expect("connect");
    if mode == "idle" {
        let secs: u64 = args[6].parse().expect("seconds");
        let cpu0 = cpu_us();
        let _ = tokio::time::timeout(
            Duration::from_secs(secs),
            worker.run(
                |_job| async { Ok(serde_json::Value::Null) },
                std::future::pending(),
            ),
        )
        .await;
        println!(
            "{{\"rss_mb\": {:.1}, \"cpu_s\": {:.3}}}",
            rss_kb() as f64 / 1024.0,
            (cpu_us() - cpu0) as f64 / 1e6
        );
        return;
    }
    println!("ready");
    let started = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None::<(Instant, u64)>));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Arc::new(std::sync::Mutex::new(Some(stop_tx)));
    let (s, f, l, st) = (
        started.clone(),
        first.clone(),
        latencies.clone(),
        stop_tx.clone(),
    );
    worker
        .run(
            move |job| {
                let now_us = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros()) as f64;
                if let Ok(mut f) = f.lock()
                    && f.is_none()
                {
                    *f = Some((Instant::now(), cpu_us()));
                }
                if let Some(t) = job.data.get("t").and_then(serde_json::Value::as_f64)
                    && let Ok(mut l) = l.lock()
                {
                    l.push((now_us - t) / 1000.0);
                }
                if s.fetch_add(1, Ordering::SeqCst) + 1 == count
                    && let Some(tx) = st.lock().ok().and_then(|mut t| t.take())
                {
                    let _ = tx.send(());
                }
                async { Ok(serde_json::Value::Null) }
            },
            async {
                let _ = stop_rx.await;
            },
        )
        .await
        .expect("run");
    let (t0, cpu0) = first
        .lock()
        .ok()
        .and_then(|f| *f)
        .unwrap_or((Instant::now(), cpu_us()));
    let secs = t0.elapsed().as_secs_f64();
    let mut lat = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{{\"jobs_per_s\": {:.0}, \"cpu_us_per_job\": {:.1}, \"peak_rss_mb\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}}}",
        count as f64 / secs,
        (cpu_us() - cpu0) as f64 / count as f64,
        peak_rss_kb() as f64 / 1024.0,
        pct(0.5),
        pct(0.99)
    );
    let _ = mode;
}
