//! Restart policy against real processes: crash restarts, back-off, crash loops, memory limits.

mod common;

use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

fn crasher_app(t: &TempHome, extra: &str, run_secs: &str) -> std::path::PathBuf {
    let starts = t.path().join("starts.txt");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"crasher\"\nscript = \"{}\"\nenv = {{ STARTS = \"{}\", RUN_SECS = \"{run_secs}\", EXIT_CODE = \"3\" }}\n{extra}\n",
            fixture("crasher.sh"),
            starts.display()
        ),
    );
    starts
}

#[test]
fn restarts_after_crash_and_records_the_cause() {
    let t = TempHome::new();
    let starts = crasher_app(&t, "min_uptime = \"100ms\"", "0.2");
    t.ok(&["start"]);
    wait_for("three starts", LONG, || lines(&starts).len() >= 3);
    let app = t.app("crasher");
    assert!(app["restarts"].as_u64().unwrap_or(0) >= 2, "{app}");
    let out = t.ok(&["describe", "crasher", "--json"]);
    let d: serde_json::Value = serde_json::from_str(&out).expect("json");
    let entry = &d[0]["ledger"][0];
    assert_eq!(entry["cause"]["kind"], "exit");
    assert_eq!(entry["cause"]["exit"]["code"], 3);
    assert!(entry["uptime_ms"].as_u64().unwrap_or(0) >= 200, "{entry}");
    let tail: Vec<String> = serde_json::from_value(entry["stderr_tail"].clone()).expect("tail");
    assert!(
        tail.iter().any(|l| l == "crasher exiting with 3"),
        "{tail:?}"
    );
    t.finish();
}

#[test]
fn exponential_backoff_doubles_the_delay_between_starts() {
    let t = TempHome::new();
    let starts = crasher_app(
        &t,
        "min_uptime = \"10s\"\nmax_restarts = 100\nexp_backoff_restart_delay = \"100ms\"",
        "0",
    );
    t.ok(&["start"]);
    wait_for("five starts", LONG, || lines(&starts).len() >= 5);
    let stamps: Vec<u64> = lines(&starts)
        .iter()
        .map(|l| l.parse().expect("ns"))
        .collect();
    let gaps_ms: Vec<u64> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    // Each gap is at least its nominal delay (100, 200, 400, 800 ms); a loaded box may add more.
    for (i, gap) in gaps_ms.iter().take(4).enumerate() {
        let nominal = 100u64 << i;
        assert!(
            *gap >= nominal,
            "gap {i} was {gap} ms, expected at least {nominal} ms: {gaps_ms:?}"
        );
    }
    // Between runs it waits out the back-off (it may be caught running for a moment).
    wait_for("waiting out the back-off", LONG, || {
        t.app("crasher")["status"] == "waiting-restart"
    });
    t.finish();
}

#[test]
fn crash_loop_ends_errored_and_the_keeper_exits() {
    let t = TempHome::new();
    let starts = crasher_app(&t, "max_restarts = 3", "0");
    t.ok(&["start"]);
    wait_for("errored", LONG, || t.app("crasher")["status"] == "errored");
    assert_eq!(lines(&starts).len(), 3);
    let app = t.app("crasher");
    assert_eq!(app["restarts"], 2);
    assert!(
        app["reason"]
            .as_str()
            .unwrap_or("")
            .contains("crash loop: 3 consecutive runs"),
        "{app}"
    );
    assert!(app["keeper_pid"].is_null());
    wait_for("no process left", LONG, || t.live_processes().is_empty());
    t.finish();
}

#[test]
fn stop_exit_code_ends_the_app_without_restart() {
    let t = TempHome::new();
    let starts = crasher_app(&t, "stop_exit_codes = [3]", "0");
    t.ok(&["start"]);
    wait_for("stopped", LONG, || t.app("crasher")["status"] == "stopped");
    assert_eq!(lines(&starts).len(), 1);
    t.finish();
}

#[test]
fn memory_balloon_is_restarted_soon_after_crossing_its_limit() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"balloon\"\nscript = \"{}\"\nmax_memory_restart = \"100M\"\nkill_timeout = \"2s\"\nenv = {{ CHUNK_MB = \"10\", STEP_MS = \"50\" }}\n",
            fixture("balloon.py")
        ),
    );
    t.ok(&["start"]);
    wait_for("a memory restart", LONG, || {
        t.app("balloon")["restarts"].as_u64().unwrap_or(0) >= 1
    });
    let out = t.ok(&["describe", "balloon", "--json"]);
    let d: serde_json::Value = serde_json::from_str(&out).expect("json");
    let cause = &d[0]["ledger"][0]["cause"];
    assert_eq!(cause["kind"], "memory", "{cause}");
    assert_eq!(cause["limit_bytes"], 100u64 << 20);
    // The balloon grows 200 MiB/s: 2 s of growth past the limit would be 400 MiB more. The
    // recorded size bounds how late the keeper noticed without timing anything.
    let rss = cause["rss_bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(
        rss < (100 + 400) << 20,
        "restarted only at {} MiB",
        rss >> 20
    );
    t.finish();
}
