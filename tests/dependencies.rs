//! `after` as a requirement, unattended: a one-shot that fails because Valkey is not up yet is
//! retried with back-off, its dependents wait (and say for what), and everything comes up by
//! itself once Valkey does, with nobody typing a command.

mod common;

use std::time::{Duration, Instant};

use common::*;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_late_valkey_brings_the_stack_up_by_itself() {
    let mut valkey = RedisServer::start();
    valkey.stop();
    let t = TempHome::new();
    let app = fixture("needs_valkey.py");
    t.write(
        "ecosystem.toml",
        &format!(
            "[defaults]\nenv = {{ VALKEY_URL = \"{url}\" }}\n\n\
             [[apps]]\nname = \"scheduler\"\nscript = \"{app}\"\nautorestart = false\n\n\
             [[apps]]\nname = \"email-worker\"\nscript = \"{app}\"\nargs = [\"serve\"]\nafter = \"scheduler\"\n\n\
             [[apps]]\nname = \"forecast-worker\"\nscript = \"{app}\"\nargs = [\"serve\"]\nafter = \"scheduler\"\n",
            url = valkey.url()
        ),
    );
    let started = Instant::now();
    let out = t.run(&["start"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✗ scheduler: failed: exit code 1; retrying in 1s")
            && stdout.contains("cannot reach Valkey"),
        "the scheduler's own last line is in the start output:\n{stdout}"
    );
    for w in ["email-worker", "forecast-worker"] {
        assert!(
            stdout.contains(&format!(
                "… {w}: waiting (for scheduler: failed: cannot reach Valkey"
            )),
            "{stdout}"
        );
        let st = t.app(w);
        assert_eq!(st["status"], "waiting", "{st}");
        assert!(
            st["cause"]
                .as_str()
                .is_some_and(|c| c.contains("scheduler: failed: cannot reach Valkey")),
            "status says what it waits for: {st}"
        );
    }

    // Valkey comes up ten seconds after tpctl start, as at a boot where it is slow.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(started.elapsed()));
    valkey.start_again();
    wait_for("the scheduler completes and both workers run", LONG, || {
        let s = t.status();
        s.iter().all(|a| {
            matches!(
                (a["id"].as_str(), a["status"].as_str()),
                (Some("scheduler"), Some("completed")) | (Some(_), Some("online"))
            ) && (a["id"] == "scheduler" || a["pid"].is_number())
        })
    });
    let scheduler = t.app("scheduler");
    assert!(scheduler["restarts"].as_u64() >= Some(1), "{scheduler}");
    assert!(
        scheduler.get("last_error").is_none_or(|e| e.is_null()),
        "a completed one-shot keeps no stale error: {scheduler}"
    );
    // The workers ran after the scheduler completed: their own output says Valkey was up.
    for w in ["email-worker", "forecast-worker"] {
        let log = t.home().join(format!("apps/{w}/logs/out.log"));
        wait_for("the worker's first line", LONG, || {
            lines(&log).iter().any(|l| l == "Valkey is up")
        });
    }
    t.finish();
}
