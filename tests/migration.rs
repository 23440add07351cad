//! A PM2 operator's daily commands, second pass: what `start x.sh` says, `describe` on a
//! crash-looping app, doctor on an interpreter whose script is missing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;

#[test]
fn starting_a_script_or_program_gives_the_app_table_that_runs_it() {
    let t = TempHome::new();
    t.write("worker.sh", "echo hi\n");
    t.write("job.py", "print('hi')\n");
    t.write("tool", "#!/usr/bin/env python3\nprint('hi')\n");
    t.write("bin-worker", "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        t.path().join("bin-worker"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let cases = [
        ("worker.sh", "script = \"sh\"\n  args = [\"worker.sh\"]"),
        ("job.py", "script = \"python3\"\n  args = [\"job.py\"]"),
        ("tool", "script = \"python3\"\n  args = [\"tool\"]"),
        ("bin-worker", "script = \"./bin-worker\""),
    ];
    for (file, snippet) in cases {
        let out = t.run(&["start", file]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        let stem = file.split('.').next().unwrap_or(file);
        assert!(
            err.contains("is a program, not an ecosystem file")
                && err.contains(&format!("name = \"{stem}\"\n  {snippet}"))
                && err.contains(&format!("`tpctl start {stem}`"))
                && !err.contains("TOML"),
            "{file}: {err}"
        );
    }
    assert!(t.status().is_empty());
    t.finish();
}

#[test]
fn describe_folds_repeated_restarts_and_shows_the_newest() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"looper\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"echo no valkey >&2; exit 1\"]\nmax_restarts = 12\n",
    );
    t.ok(&["start"]);
    wait_for("the crash loop over", Duration::from_secs(30), || {
        t.app("looper")["status"] == "errored"
    });
    let out = t.ok(&["describe", "looper"]);
    let folded: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("exit code 1") && l.contains("  after "))
        .collect();
    assert_eq!(folded.len(), 1, "{out}");
    assert!(folded[0].contains("× 11, first at"), "{out}");
    assert!(
        out.contains("restarts ledger (11 restarts; newest last)"),
        "{out}"
    );
    assert!(out.contains("      | no valkey"), "{out}");
    t.finish();
}

#[test]
fn doctor_fails_an_interpreter_whose_script_is_missing() {
    let t = TempHome::new();
    t.write("present.py", "print('hi')\n");
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"ok\"\nscript = \"python3\"\nargs = [\"-u\", \"present.py\"]\n\n[[apps]]\nname = \"gone\"\nscript = \"python3\"\nargs = [\"-u\", \"dist/gone.py\"]\n",
    );
    let out = t.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let scripts: Vec<&str> = lines
        .iter()
        .filter(|l| l["check"] == "script")
        .filter_map(|l| l["detail"].as_str())
        .collect();
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    assert!(
        scripts[0].starts_with("gone: ")
            && scripts[0].contains("dist/gone.py, which does not exist"),
        "{scripts:?}"
    );
    t.finish();
}

#[test]
fn stopping_one_app_shows_its_countdown_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("`script` (util-linux) is needed to give tpctl a terminal");
    }
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"slow\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"trap 'sleep 1.5; exit 0' INT; while :; do sleep 0.1; done\"]\nkill_timeout = \"3m\"\n",
    );
    t.ok(&["start"]);
    let typescript = t.path().join("typescript");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{BIN} stop slow"),
            typescript.to_str().expect("utf-8"),
        ])
        .current_dir(t.path())
        .env("TPCTL_HOME", t.home())
        .env("TERM", "xterm")
        .output()
        .expect("script");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let screen = std::fs::read_to_string(&typescript).expect("typescript");
    assert!(
        screen.contains("stopping… SIGKILL in 2m 5") || screen.contains("stopping… SIGKILL in 3m"),
        "{screen:?}"
    );
    assert_eq!(t.app("slow")["status"], "stopped");
    t.finish();
}

#[test]
fn the_small_ones_sort_flush_markers_and_empty_values() {
    let t = TempHome::new();
    t.write(".env", "EMAIL_SERVER_PASSWORD=\n");
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"zeta\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\n[[apps]]\nname = \"alpha\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv_file = \".env\"\n",
    );
    t.ok(&["start", "zeta"]);
    t.ok(&["start", "alpha"]);
    // PM2's order: by number, the order of first start; --sort name for the other.
    let names = |args: &[&str]| -> Vec<String> {
        let out = t.ok(args);
        out.lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect()
    };
    assert_eq!(names(&["status"]), ["zeta", "alpha"]);
    assert_eq!(names(&["status", "--sort", "name"]), ["alpha", "zeta"]);
    // Starting what runs says so once, and the table after it has figures, not `-`.
    let again = t.ok(&["start"]);
    assert!(
        again.contains("✓ 2 apps already running: zeta, alpha; `tpctl restart NAME`")
            && again.matches("already running").count() == 1,
        "{again}"
    );
    let memory_column = again
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(7))
        .collect::<Vec<_>>();
    assert!(memory_column.iter().all(|m| *m != "-"), "{again}");
    // Flush wants its apps named, as stop does.
    let out = t.run(&["flush"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`tpctl flush all`"),
        "{}",
        text(&out.stderr)
    );
    // Starts and stops by an operator are in the app's log between its runs, as restarts are.
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"zeta\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"echo run; exec sleep 1000\"]\n\n[[apps]]\nname = \"alpha\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv_file = \".env\"\n",
    );
    t.ok(&["restart", "zeta"]);
    let log_path = t.home().join("apps/zeta/logs/out.log");
    wait_for("its first line", Duration::from_secs(10), || {
        !lines(&log_path).is_empty()
    });
    t.ok(&["stop", "zeta"]);
    t.ok(&["start", "zeta"]);
    wait_for("its second run's line", Duration::from_secs(10), || {
        lines(&log_path).len() >= 4
    });
    let log = lines(&log_path);
    assert!(
        log[0].starts_with("[tpctl] restarted: manual restart"),
        "{log:?}"
    );
    assert_eq!(
        log[1..],
        [
            "run",
            "[tpctl] stopped by operator",
            "[tpctl] started by operator",
            "run"
        ]
    );
    // An empty secret is shown empty, not as <redacted>.
    let out = t.ok(&["describe", "alpha"]);
    assert!(out.contains("    EMAIL_SERVER_PASSWORD=\n"), "{out}");
    t.finish();
}

/// A TZ in which local midnight is `secs` seconds away (POSIX form, `TST-hh:mm:ss`).
fn tz_with_midnight_in(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut offset = (86_400 - secs as i64 - (now % 86_400) as i64).rem_euclid(86_400);
    if offset > 43_200 {
        offset -= 86_400;
    }
    // POSIX TZ offsets are west-positive: local = UTC + offset is `TST-offset`.
    let sign = if offset >= 0 { '-' } else { '+' };
    let a = offset.abs();
    format!(
        "TST{sign}{:02}:{:02}:{:02}",
        a / 3600,
        a % 3600 / 60,
        a % 60
    )
}

#[test]
fn daily_rotation_happens_at_local_midnight_and_loses_no_line() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"ticker\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done\"]\nlog_rotate = \"daily\"\nlog_keep = 2\n",
    );
    let out = t
        .cmd(&["start"])
        .env("TZ", tz_with_midnight_in(3))
        .output()
        .expect("start");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = t.home().join("apps/ticker/logs");
    wait_for("the rotation at midnight", Duration::from_secs(30), || {
        logs.join("out.log.1").exists()
    });
    wait_for("lines after it", Duration::from_secs(30), || {
        lines(&logs.join("out.log")).len() > 5
    });
    t.ok(&["stop", "ticker"]);
    assert!(
        !logs.join("err.log.1").exists(),
        "an empty file is not rotated"
    );
    let before = lines(&logs.join("out.log.1"));
    let after = lines(&logs.join("out.log"));
    let ticks: Vec<u64> = before
        .iter()
        .chain(&after)
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert!(ticks.len() > 20, "{ticks:?}");
    assert_eq!(
        ticks,
        (1..=ticks.len() as u64).collect::<Vec<_>>(),
        "every line once, in order"
    );
    assert!(before.iter().any(|l| l == "tick 1") && after.iter().any(|l| l.starts_with("tick ")));
    t.finish();
}

#[test]
fn degraded_is_visible_when_valkey_is_away_and_queues_json_says_no_worker() {
    let mut valkey = RedisServer::start();
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"mailer\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nqueue = \"emails-x\"\nenv = {{ VALKEY_URL = \"{}\" }}\n",
            valkey.url()
        ),
    );
    t.ok(&["start"]);
    assert!(!t.ok(&["status"]).contains("unreachable"));
    // A job waits and no worker is connected (the app is a stand-in that never connects).
    t.ok(&["queue", "emails-x", "add", "send", "--data", "{}"]);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&t.ok(&["queues", "--json"])).expect("json");
    let q = rows
        .iter()
        .find(|r| r["queue"] == "emails-x")
        .expect("the queue");
    assert_eq!(q["no_worker"], true, "{q}");
    assert_eq!(q["counts"]["waiting"], 1, "{q}");

    valkey.stop();
    let table = t.ok(&["status"]);
    assert!(
        table.contains(&format!(
            "! Valkey at redis://127.0.0.1:{} is unreachable (",
            valkey.port
        )) && table.contains("1 app online but cannot take jobs (mailer)"),
        "{table}"
    );
    t.finish();
}

#[test]
fn init_writes_a_starting_file_that_tpctl_reads_and_refuses_to_overwrite() {
    let t = TempHome::new();
    let out = t.run(&["start"]);
    assert!(
        text(&out.stderr).contains("`tpctl init` writes one"),
        "{}",
        text(&out.stderr)
    );
    let said = t.ok(&["init"]);
    assert!(said.contains("wrote ecosystem.toml"), "{said}");
    let toml = std::fs::read_to_string(t.path().join("ecosystem.toml")).expect("written");
    assert!(toml.contains("script = \"tp-worker\""), "{toml}");
    let again = t.run(&["ecosystem"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
    t.finish();
}

#[test]
fn quiet_prints_only_what_went_wrong() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"good\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\n[[apps]]\nname = \"bad\"\nscript = \"/nonexistent/program\"\n",
    );
    let out = t.run(&["start", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.starts_with("✗ bad: errored"), "{said}");
    assert_eq!(t.app("good")["status"], "online");
    for quiet_action in [
        &["restart", "good", "-q"][..],
        &["stop", "good", "--quiet"],
        &["save", "--force", "-q"],
    ] {
        let out = t.run(quiet_action);
        assert!(
            out.status.success(),
            "{quiet_action:?}: {}",
            text(&out.stderr)
        );
        // Only warnings remain (save's: the errored app that resurrect would start again).
        assert!(
            text(&out.stdout)
                .lines()
                .all(|l| l.starts_with("  ! bad is errored")),
            "{quiet_action:?}: {}",
            text(&out.stdout)
        );
    }
    // What a command is asked to show is shown.
    assert!(t.ok(&["status", "-q"]).contains("good"));
    t.finish();
}
