//! Queue consumption seen from Valkey, with real workers and a real redis-server: a Node
//! `bullmq@5.67.2` worker and tp-worker under tpctl show `consuming`; their worker connection
//! killed with CLIENT KILL and kept out, they show `not consuming (since …)` and are
//! restarted after `restart_when_not_consuming` with the queue in the ledger; let back in,
//! they consume again. A dead Valkey is `unknown` with the reason and restarts nothing.

mod common;

#[path = "../workers/bullmq/tests/support/node.rs"]
mod node_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;

const PATIENCE: Duration = Duration::from_secs(40);

/// Kills every connection named as a worker's on `queue` as soon as it shows up in the client
/// list, until dropped: a worker kept out of Valkey however often it reconnects.
struct KeepOut {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KeepOut {
    fn new(url: &str, queue: &str) -> KeepOut {
        let stop = Arc::new(AtomicBool::new(false));
        let (url, queue, flag) = (url.to_string(), queue.to_string(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let client = redis::Client::open(url.as_str()).expect("a valid URL");
            let mut conn = client.get_connection().expect("connect");
            while !flag.load(Ordering::SeqCst) {
                let list: String = redis::cmd("CLIENT")
                    .arg("LIST")
                    .query(&mut conn)
                    .expect("CLIENT LIST");
                for line in list.lines() {
                    let field = |k: &str| {
                        line.split(' ')
                            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                            .unwrap_or_default()
                            .to_string()
                    };
                    if tp_bullmq::admin::is_worker_connection("bull", &queue, &field("name")) {
                        let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
                            .arg("KILL")
                            .arg("ID")
                            .arg(field("id"))
                            .query(&mut conn);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        KeepOut {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for KeepOut {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The app's consumption of its one queue: (state, the whole entry).
fn consumption(t: &TempHome, id: &str) -> (String, serde_json::Value) {
    let a = t.app(id);
    let c = a["consumption"][0].clone();
    (c["state"].as_str().unwrap_or("none").to_string(), c)
}

fn wait_state(t: &TempHome, id: &str, state: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let found = wait_until(PATIENCE, || {
        let (s, c) = consumption(t, id);
        last = c.clone();
        (s == state).then_some(c).ok_or(())
    });
    found.unwrap_or_else(|()| panic!("{id} never {state}; last {last}"))
}

/// The ledger's not-consuming causes of the app, as `describe --json` gives them.
fn not_consuming_causes(t: &TempHome, id: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&t.ok(&["describe", id, "--json"])).expect("json");
    v[0]["ledger"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|e| e["cause"].clone())
                .filter(|c| c["kind"] == "not_consuming")
                .collect()
        })
        .unwrap_or_default()
}

/// Kept out, the app is shown not consuming and then restarted for it; let back in, it
/// consumes again.
fn kept_out_then_let_in(t: &TempHome, server: &RedisServer, id: &str, queue: &str) {
    let guard = KeepOut::new(&server.url(), queue);
    let c = wait_state(t, id, "not_consuming");
    assert!(c["since_ms"].is_u64(), "{c}");
    let table = t.ok(&["status"]);
    assert!(table.contains(&format!("not consuming {queue}")), "{table}");
    wait_for("a restart for not consuming", PATIENCE, || {
        !not_consuming_causes(t, id).is_empty()
    });
    let cause = &not_consuming_causes(t, id)[0];
    assert_eq!(cause["queue"], queue, "{cause}");
    assert_eq!(cause["window_ms"], 3000, "{cause}");
    let shown = t.ok(&["describe", id]);
    assert!(
        shown.contains(&format!("not consuming queue {queue} for 3s")),
        "{shown}"
    );
    drop(guard);
    wait_state(t, id, "consuming");
}

#[test]
fn a_node_bullmq_worker_is_seen_consuming_losing_its_queue_and_restarted() {
    node_support::ensure_installed();
    let mut server = RedisServer::start();
    let t = TempHome::new();
    let script = node_support::node_dir().join("consume.cjs");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"mailer\"\nscript = \"node\"\nargs = [\"{}\", \"{url}\", \"emails\", \"100000000\", \"3600000\"]\nqueue = \"emails\"\nrestart_when_not_consuming = \"3s\"\nmin_uptime = \"500ms\"\nenv = {{ VALKEY_URL = \"{url}\" }}\n",
            script.display(),
            url = server.url()
        ),
    );
    t.ok(&["start"]);
    wait_state(&t, "mailer", "consuming");
    // `tpctl queues` says who consumes the queue.
    let rows: serde_json::Value = serde_json::from_str(&t.ok(&["queues", "--json"])).expect("json");
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["queue"] == "emails"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["consumers"][0]["app"], "mailer", "{row}");
    assert_eq!(row["consumers"][0]["state"], "consuming", "{row}");

    kept_out_then_let_in(&t, &server, "mailer", "emails");

    // Valkey gone: unknown, with the reason, and no restart for it however long it lasts.
    let restarts = t.app("mailer")["restarts"].as_u64();
    server.stop();
    let c = wait_state(&t, "mailer", "unknown");
    assert!(
        c["detail"].as_str().is_some_and(|d| d.contains("connect")),
        "{c}"
    );
    // Two windows of an outage: still the same run.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(t.app("mailer")["restarts"].as_u64(), restarts);
    assert_eq!(consumption(&t, "mailer").0, "unknown");
    server.start_again();
    wait_state(&t, "mailer", "consuming");
    t.finish();
}

#[test]
fn tp_worker_is_seen_consuming_losing_its_queue_and_restarted() {
    let server = RedisServer::start();
    let t = TempHome::new();
    let worker = tp_worker();
    let db = AuditDb::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"audit-log-worker\"\nscript = \"{}\"\nargs = [\"audit-log\"]\nnotify = true\nqueue = \"audit-logs\"\nrestart_when_not_consuming = \"3s\"\nmin_uptime = \"500ms\"\nenv = {{ VALKEY_URL = \"{}\", DATABASE_URL = \"{}\" }}\n",
            worker.display(),
            server.url(),
            db.url()
        ),
    );
    t.ok(&["start"]);
    wait_state(&t, "audit-log-worker", "consuming");
    kept_out_then_let_in(&t, &server, "audit-log-worker", "audit-logs");
    t.finish();
}

#[test]
fn restart_when_not_consuming_needs_a_queue_and_a_sane_window() {
    let t = TempHome::new();
    for (keys, says) in [
        (
            "restart_when_not_consuming = \"2m\"",
            "`restart_when_not_consuming` needs `queue`",
        ),
        (
            "queue = \"emails\"\nrestart_when_not_consuming = \"500ms\"",
            "must be at least 2s",
        ),
    ] {
        t.write(
            "ecosystem.toml",
            &format!("[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nargs = [\"100\"]\n{keys}\n"),
        );
        let out = t.run(&["start"]);
        assert_eq!(out.status.code(), Some(2), "{keys}");
        let err = text(&out.stderr);
        assert!(
            err.contains("ecosystem.toml:") && err.contains(says),
            "{keys}: {err}"
        );
    }
    // From [defaults], it applies to the apps with a queue and leaves the others alone.
    t.write(
        "ecosystem.toml",
        "[defaults]\nrestart_when_not_consuming = \"2m\"\n\n[[apps]]\nname = \"w\"\nscript = \"/bin/sleep\"\nargs = [\"100\"]\n",
    );
    t.ok(&["start"]);
    t.finish();
}
