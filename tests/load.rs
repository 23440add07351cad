//! Many apps logging hard while `status` is called in a loop: every status call answers with
//! every app, no line is lost, cut or doubled, and rotation bounds every file.
//!
//! The size is set by the environment so that CI runs a short version and `bench/faults.py`
//! the full one (50 apps × 10 MB/s for 60 s): TPCTL_LOAD_APPS (50), TPCTL_LOAD_RATE (bytes a
//! second per app, 1,000,000), TPCTL_LOAD_SECS (8), TPCTL_LOAD_MAX_SIZE (bytes, 1 MiB).
//! The status latencies are printed (`status under load: ...`), not asserted: speed targets
//! live in the benchmark.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// bench/apps/spammer.c, built for this test: numbered 100-byte lines at a set rate.
fn spammer(t: &TempHome) -> String {
    let out = t.path().join("spammer");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/apps/spammer.c");
    let status = std::process::Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .expect("cc (the C compiler Rust links with)");
    assert!(status.success(), "cannot build {src}");
    out.display().to_string()
}

/// out.log.K … out.log.1, out.log: the kept output, oldest first.
fn kept_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut rotated: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(dir)
        .expect("logs dir")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("out.log.")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut files: Vec<_> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(dir.join("out.log"));
    files
}

fn last_number(dir: &Path) -> Option<u64> {
    let text = std::fs::read(dir.join("out.log")).ok()?;
    let line = text.strip_suffix(b"\n")?.rsplit(|b| *b == b'\n').next()?;
    std::str::from_utf8(line.get(..9)?).ok()?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[test]
fn fifty_apps_logging_hard_lose_nothing_and_status_keeps_answering() {
    let apps = knob("TPCTL_LOAD_APPS", 50) as usize;
    let rate = knob("TPCTL_LOAD_RATE", 1_000_000);
    let secs = knob("TPCTL_LOAD_SECS", 8);
    let max_size = knob("TPCTL_LOAD_MAX_SIZE", 1024 * 1024);
    let keep = 5u64;
    let lines = rate * secs / 100;

    let t = TempHome::new();
    let bin = spammer(&t);
    let mut eco = format!(
        "[defaults]\nlog_max_size = \"{max_size}\"\nlog_keep = {keep}\n\
         env = {{ LINES = \"{lines}\", RATE = \"{rate}\" }}\n"
    );
    for i in 0..apps {
        eco.push_str(&format!(
            "\n[[apps]]\nname = \"spam-{i:02}\"\nscript = \"{bin}\"\n"
        ));
    }
    t.write("ecosystem.toml", &eco);
    t.ok(&["start"]);

    let ids: Vec<String> = (0..apps).map(|i| format!("spam-{i:02}")).collect();
    let dirs: Vec<_> = ids
        .iter()
        .map(|id| t.home().join(format!("apps/{id}/logs")))
        .collect();
    // status in a loop from the first line to the last one on disk.
    let done = AtomicBool::new(false);
    let (took, spawn) = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut took = Vec::new();
            let mut spawn = Vec::new();
            while !done.load(Ordering::Relaxed) {
                // The machine's floor: how long any short process takes to run here now.
                let started = Instant::now();
                let _ = std::process::Command::new("true").status();
                spawn.push(started.elapsed());
                let started = Instant::now();
                let out = t.run(&["status", "--json"]);
                took.push(started.elapsed());
                assert!(out.status.success(), "status failed: {}", text(&out.stderr));
                let rows: Vec<serde_json::Value> =
                    serde_json::from_slice(&out.stdout).expect("status json");
                assert_eq!(rows.len(), apps, "status lost apps");
                assert!(
                    rows.iter().all(|r| r["status"] == "online"),
                    "an app is not online: {rows:?}"
                );
            }
            (took, spawn)
        });
        let waited = wait_until(Duration::from_secs(secs * 4 + 60), || {
            let behind: Vec<&String> = ids
                .iter()
                .zip(&dirs)
                .filter(|(_, d)| last_number(d) != Some(lines - 1))
                .map(|(id, _)| id)
                .collect();
            behind.is_empty().then_some(()).ok_or(behind)
        });
        done.store(true, Ordering::Relaxed);
        let took = poller.join();
        if let Err(behind) = waited {
            panic!("the last line never reached the log of {behind:?}");
        }
        took.unwrap_or_else(|e| std::panic::resume_unwind(e))
    });

    for (id, dir) in ids.iter().zip(&dirs) {
        let files = kept_files(dir);
        assert!(
            files.len() as u64 <= keep + 1,
            "{id}: {} files kept, log_keep is {keep}",
            files.len()
        );
        let mut expect: Option<u64> = None;
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(
                bytes.len() as u64 <= max_size,
                "{} is {} bytes, over log_max_size {max_size}",
                f.display(),
                bytes.len()
            );
            for line in bytes.chunks(100) {
                assert!(
                    line.len() == 100 && line[99] == b'\n' && line[9] == b' ',
                    "{}: a cut or malformed line {:?}",
                    f.display(),
                    String::from_utf8_lossy(line)
                );
                let n: u64 = std::str::from_utf8(&line[..9])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_else(|| panic!("{}: not a numbered line", f.display()));
                if let Some(e) = expect {
                    assert_eq!(n, e, "{}: line {e} lost or doubled", f.display());
                }
                expect = Some(n + 1);
            }
        }
        assert_eq!(
            expect,
            Some(lines),
            "{id}: the kept output ends with the last line"
        );
    }
    for row in t.status() {
        assert_eq!(row["dropped_log_bytes"], 0, "{row}");
    }

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut sorted = took;
    sorted.sort();
    let mut floor = spawn;
    floor.sort();
    println!(
        "status under load: {apps} apps x {:.1} MB/s for {secs} s, {} calls, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; /bin/true meanwhile p50 {:.1} ms, p99 {:.1} ms",
        rate as f64 / 1e6,
        sorted.len(),
        ms(percentile(&sorted, 0.5)),
        ms(percentile(&sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
        ms(percentile(&floor, 0.5)),
        ms(percentile(&floor, 0.99)),
    );
    t.finish();
}
