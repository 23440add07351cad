//! Readiness and the watchdog over sd_notify (`notify = true`), with real processes: `start`
//! waits for READY=1, an app that never sends it fails to start with the reason (and ends in a
//! crash loop, not online), a missed watchdog restarts the app with its cause in the ledger,
//! STATUS= is shown, a message from outside the app's process group is ignored, and the timing
//! keys without `notify` are located errors.

mod common;

use std::time::{Duration, Instant};

use common::*;

const PATIENCE: Duration = Duration::from_secs(30);

fn app(t: &TempHome, name: &str, args: &str, extra: &str) {
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"{name}\"\nscript = \"python3\"\nargs = [\"{}\", {args}]\nnotify = true\nmin_uptime = \"500ms\"\n{extra}\n",
            fixture("notifier.py")
        ),
    );
}

#[test]
fn start_waits_for_ready_and_status_shows_what_the_app_says() {
    let t = TempHome::new();
    app(
        &t,
        "worker",
        r#""--ready-after", "1.5", "--status", "consuming emails""#,
        "ready_timeout = \"20s\"",
    );
    let t0 = Instant::now();
    t.ok(&["start"]);
    let took = t0.elapsed();
    // The start answered only once READY=1 came: online at once, and not before 1.5 s.
    let a = t.app("worker");
    assert_eq!(a["status"], "online", "{a}");
    assert!(
        took >= Duration::from_millis(1400),
        "start returned after {took:?}"
    );
    assert_eq!(a["notify_status"], "consuming emails", "{a}");
    let out = t.ok(&["describe", "worker"]);
    assert!(
        out.lines()
            .any(|l| l.contains("app says") && l.contains("consuming emails")),
        "{out}"
    );
    assert!(out.contains("ready within 20s, watchdog none"), "{out}");
    let table = t.ok(&["status"]);
    assert!(table.contains("consuming emails"), "{table}");
    t.finish();
}

#[test]
fn an_app_that_never_gets_ready_fails_to_start_with_the_reason() {
    let t = TempHome::new();
    app(
        &t,
        "mute",
        r#""--never-ready""#,
        "ready_timeout = \"1s\"\nmax_restarts = 2",
    );
    let out = t.run(&["start"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("not ready: no READY=1 within 1s"), "{said}");
    // A message from outside the app's group does not make it ready.
    let sock = t.home().join("apps/mute/notify.sock");
    if let Ok(s) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = s.send_to(b"READY=1", &sock);
    }
    // Never ready, however long each run lasted: a crash loop, not online.
    wait_for("mute errored", PATIENCE, || {
        t.app("mute")["status"] == "errored"
    });
    let a = t.app("mute");
    assert!(
        a["reason"]
            .as_str()
            .is_some_and(|r| r.contains("consecutive runs that never got ready")),
        "{a}"
    );
    let described = t.ok(&["describe", "mute"]);
    assert!(
        described.contains("not ready: no READY=1 within 1s"),
        "{described}"
    );
    t.finish();
}

#[test]
fn a_missed_watchdog_restarts_the_app_and_the_ledger_says_why() {
    let t = TempHome::new();
    app(
        &t,
        "pinger",
        r#""--watchdog-every", "0.2", "--watchdog-for", "1.5""#,
        "watchdog = \"1s\"",
    );
    t.ok(&["start"]);
    assert_eq!(t.app("pinger")["status"], "online");
    wait_for("the watchdog restart", PATIENCE, || {
        t.app("pinger")["restarts"].as_u64() >= Some(1)
    });
    let described = t.ok(&["describe", "pinger"]);
    assert!(
        described.contains("watchdog: no WATCHDOG=1 for 1s"),
        "{described}"
    );
    t.finish();
}

#[test]
fn timing_keys_without_notify_are_located_errors() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nargs = [\"60\"]\nwatchdog = \"30s\"\n",
    );
    let out = t.run(&["start"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("ecosystem.toml:5") && err.contains("`watchdog` needs `notify = true`"),
        "{err}"
    );
    t.finish();
}

#[test]
fn tp_worker_is_online_only_once_valkey_answers() {
    let mut server = RedisServer::start();
    // Valkey is not there yet when the worker starts.
    server.stop();
    let t = TempHome::new();
    let db = AuditDb::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"audit-log-worker\"\nscript = \"{}\"\nargs = [\"audit-log\"]\nnotify = true\nready_timeout = \"60s\"\nwatchdog = \"20s\"\nenv = {{ VALKEY_URL = \"{}\", DATABASE_URL = \"{}\" }}\n",
            tp_worker().display(),
            server.url(),
            db.url()
        ),
    );
    let start = t.cmd(&["start"]).spawn().expect("tpctl start");
    wait_for("the worker launching", PATIENCE, || {
        t.status()
            .first()
            .is_some_and(|a| a["status"] == "launching" && a["pid"].is_u64())
    });
    // Running, trying Valkey every second, and not called online.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(t.app("audit-log-worker")["status"], "launching");
    server.start_again();
    let out = start.wait_with_output().expect("start ends");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a = t.app("audit-log-worker");
    assert_eq!(a["status"], "online", "{a}");
    assert!(
        a["notify_status"].as_str().is_some_and(
            |s| s.starts_with("taking jobs from audit-logs") || s.contains("no job yet")
        ),
        "{a}"
    );
    t.finish();
}
