//! The PM2 operator's first hour: PM2's habits either work or say what to do instead, and no
//! command answers with silence.

mod common;

use std::time::Duration;

use common::*;

/// Bounds a hang; it does not measure speed.
const LONG: Duration = Duration::from_secs(30);

fn fails_with(t: &TempHome, args: &[&str], code: i32, needle: &str) {
    let out = t.run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "tpctl {args:?}: {err}");
    assert!(err.contains(needle), "tpctl {args:?}:\n{err}");
}

#[test]
fn pm2_files_and_scripts_point_to_their_tpctl_equivalent() {
    let t = TempHome::new();
    fails_with(&t, &["start"], 2, "no ecosystem.toml in ");
    fails_with(&t, &["start"], 2, "`man 5 tpctl-ecosystem`");
    t.write(
        "ecosystem.config.js",
        "module.exports = { apps: [{ name: 'a', script: 'a.js' }] };\n",
    );
    fails_with(
        &t,
        &["start"],
        2,
        "this directory has PM2's ecosystem.config.js: convert it with `tpctl import pm2 ecosystem.config.js`",
    );
    fails_with(
        &t,
        &["start", "ecosystem.config.js"],
        2,
        "ecosystem.config.js is a PM2 ecosystem file; tpctl reads TOML: convert it with `tpctl import pm2 ecosystem.config.js`",
    );
    fails_with(
        &t,
        &["start", "server.js"],
        2,
        "server.js is a script; tpctl starts apps from an ecosystem file",
    );
    fails_with(&t, &["start", "server.js"], 2, "args = [\"server.js\"]");
    assert!(t.status().is_empty());
    t.finish();
}

#[test]
fn nothing_to_show_is_said_not_left_silent() {
    let t = TempHome::new();
    let out = t.run(&["logs", "--nostream"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("no apps in ") && text(&out.stderr).contains("tpctl start"),
        "{}",
        text(&out.stderr)
    );
    fails_with(&t, &["resurrect"], 1, "nothing has been saved yet");
    fails_with(&t, &["resurrect"], 1, "run `tpctl save` first");

    // The first save claims no previous save; the second names it. Counts read as English.
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\nargs = [\"60\"]\n",
    );
    t.ok(&["start"]);
    let first = t.ok(&["save"]);
    assert!(first.contains("saved 1 app to "), "{first}");
    assert!(first.contains("(the first save here)"), "{first}");
    assert!(!first.contains(".bak"), "{first}");
    let second = t.ok(&["save"]);
    assert!(second.contains("(the previous save is "), "{second}");
    assert!(second.contains("dump.toml.bak"), "{second}");
    t.finish();
}

#[test]
fn start_name_starts_what_it_runs_after_first() {
    let t = TempHome::new();
    let journal = t.path().join("journal");
    let marker = fixture("marker.sh");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"scheduler\"\nscript = \"{marker}\"\nautorestart = false\nenv = {{ MARK = \"scheduler\", JOURNAL = \"{j}\", RUN_SECS = \"0.3\" }}\n\n\
             [[apps]]\nname = \"email-worker\"\nscript = \"{marker}\"\nafter = [\"scheduler\"]\nenv = {{ MARK = \"email\", JOURNAL = \"{j}\", LINGER = \"1\" }}\n",
            j = journal.display()
        ),
    );
    let out = t.ok(&["start", "email-worker"]);
    assert!(
        out.contains("↳ scheduler: started first (email-worker runs after it)"),
        "{out}"
    );
    wait_for("the worker to start", LONG, || {
        lines(&journal).contains(&"email start".to_string())
    });
    assert_eq!(
        lines(&journal)[..3],
        ["scheduler start", "scheduler done", "email start"],
        "the one-shot completes before its dependent starts"
    );
    // Completed since: starting the worker again does not run the scheduler again.
    t.ok(&["stop", "email-worker"]);
    let out = t.ok(&["start", "email-worker"]);
    assert!(!out.contains("scheduler"), "{out}");
    wait_for("the worker to start again", LONG, || {
        lines(&journal)
            .iter()
            .filter(|l| *l == "email start")
            .count()
            == 2
    });
    assert_eq!(
        lines(&journal)
            .iter()
            .filter(|l| *l == "scheduler start")
            .count(),
        1
    );
    t.finish();
}

#[test]
fn status_shows_causes_and_numbers_and_fits_80_columns() {
    let t = TempHome::new();
    let pids = t.path().join("pids");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"elasticsearch-reindex-worker\"\nscript = \"{balloon}\"\nmax_memory_restart = \"60M\"\nkill_timeout = \"2s\"\nenv = {{ CHUNK_MB = \"10\", STEP_MS = \"50\" }}\n\n\
             [[apps]]\nname = \"testmo-import-worker\"\nscript = \"{stubborn}\"\nkill_timeout = \"300ms\"\nenv = {{ PIDS = \"{pids}\" }}\n\n\
             [[apps]]\nname = \"crashing-notification-worker\"\nscript = \"{crasher}\"\nrestart_delay = \"10s\"\nenv = {{ STARTS = \"{starts}\", EXIT_CODE = \"3\" }}\n",
            balloon = fixture("balloon.py"),
            stubborn = fixture("stubborn.sh"),
            crasher = fixture("crasher.sh"),
            pids = pids.display(),
            starts = t.path().join("starts").display(),
        ),
    );
    t.ok(&["start"]);
    wait_for("the memory-limit restart", LONG, || {
        t.app("elasticsearch-reindex-worker")["restarts"].as_u64() >= Some(1)
    });
    wait_for("the crash", LONG, || {
        t.app("crashing-notification-worker")["cause"] == "crashed (exit 3)"
    });
    wait_for("the stubborn app to be up", LONG, || pids.exists());
    let stop = t.ok(&["stop", "testmo-import-worker"]);
    assert!(
        stop.contains(
            "✓ testmo-import-worker: stopped (SIGKILL after kill_timeout 300ms: it did not exit on SIGINT)"
        ),
        "{stop}"
    );

    let rows = t.status();
    let by = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by("elasticsearch-reindex-worker")["cause"], "memory limit");
    // The restart is told in the app's own stream, with its cause.
    let out = lines(
        &t.home()
            .join("apps/elasticsearch-reindex-worker/logs/out.log"),
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("[tpctl] restarted: memory ")
                && l.contains(" MiB over the 60 MiB limit (it had run ")),
        "{out:?}"
    );
    assert_eq!(
        by("testmo-import-worker")["cause"],
        "stopped, SIGKILL after kill_timeout"
    );
    // Numbers are given once, in start (file) order, as PM2 does, and name the app in commands.
    let numbers: Vec<u64> = [
        "elasticsearch-reindex-worker",
        "testmo-import-worker",
        "crashing-notification-worker",
    ]
    .iter()
    .filter_map(|n| by(n)["number"].as_u64())
    .collect();
    assert_eq!(numbers, [0, 1, 2], "{rows:?}");
    let n = by("testmo-import-worker")["number"].to_string();
    let out = t.ok(&["start", &n]);
    assert!(out.contains("testmo-import-worker"), "{out}");

    let table = |columns: &str| {
        let out = t
            .cmd(&["status"])
            .env("COLUMNS", columns)
            .output()
            .expect("status");
        text(&out.stdout)
    };
    let narrow = table("80");
    for line in narrow.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}\n{narrow}",
            line.chars().count()
        );
    }
    for word in [
        "id",
        "elasticsearch-reindex-worker",
        "crashing-notification-worker",
        "online",
        "cause",
        "memory limit",
    ] {
        assert!(
            narrow.contains(word),
            "{word} missing:\n{narrow}\nwide:\n{}",
            table("300")
        );
    }
    let wide = table("200");
    assert!(
        wide.contains("crashed (exit 3)") && wide.contains("cpu"),
        "{wide}"
    );
    t.finish();
}

#[test]
fn reload_goes_one_instance_at_a_time_and_pm2_verbs_work_or_teach() {
    let t = TempHome::new();
    let journal = t.path().join("journal");
    let script = t.write(
        "worker.sh",
        &format!(
            // A stop takes 300 ms, and says when it began (ms since the epoch).
            "#!/bin/sh\necho \"start $TPCTL_INSTANCE\" >> {j}\ntrap 'echo \"stop $TPCTL_INSTANCE $(date +%s%3N)\" >> {j}; sleep 0.3; exit 0' INT\nwhile :; do sleep 0.05; done\n",
            j = journal.display()
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"web\"\nscript = \"{s}\"\ninstances = 2\n\n[[apps]]\nname = \"other\"\nscript = \"{s}\"\n",
            s = script.display()
        ),
    );
    // --only picks apps of the file; --update-env is accepted.
    let out = t.ok(&["start", "--only", "web", "--update-env"]);
    assert!(out.contains("web-0") && !out.contains("other"), "{out}");
    wait_for("both instances", LONG, || lines(&journal).len() == 2);
    let out = t.ok(&["reload", "web"]);
    assert!(
        out.contains("✓ web-0: online") && out.contains("✓ web-1: online"),
        "{out}"
    );
    // web-1 was told to stop only after web-0 had been restarted (its ledger says when), not
    // alongside it: in a parallel restart both stops begin 300 ms before either restart.
    wait_for("both restarted instances", LONG, || {
        lines(&journal)
            .iter()
            .filter(|l| l.starts_with("start"))
            .count()
            == 4
    });
    let journal_lines = lines(&journal);
    let stop_1: u64 = journal_lines
        .iter()
        .find_map(|l| l.strip_prefix("stop 1 "))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no stop of web-1: {journal_lines:?}"));
    let described: serde_json::Value =
        serde_json::from_str(&t.ok(&["describe", "web-0", "--json"])).expect("json");
    let restarted_0 = described[0]["ledger"][0]["at_ms"]
        .as_u64()
        .expect("web-0 restarted");
    assert!(
        stop_1 >= restarted_0,
        "web-1 was stopped at {stop_1}, before web-0 was back at {restarted_0}: {journal_lines:?}"
    );

    // PM2's listing verbs.
    let jlist: Vec<serde_json::Value> =
        serde_json::from_str(&t.ok(&["jlist"])).expect("jlist is status --json");
    assert_eq!(jlist.len(), 2);
    let show = t.ok(&["show", "web-1"]);
    assert!(show.contains("web-1"), "{show}");
    let out = t.run(&["scale", "web", "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("set `instances = 4` for web in ecosystem.toml, then `tpctl reload web`"),
        "{}",
        text(&out.stderr)
    );
    let out = t.run(&["ping"]);
    assert!(
        text(&out.stderr).contains("no daemon to ping"),
        "{}",
        text(&out.stderr)
    );
    fails_with(&t, &["start", "--only", "wbe"], 2, "did you mean \"web\"?");
    t.finish();
}

#[test]
fn autostart_false_waits_to_be_named_and_cron_restart_restarts_on_schedule() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"nightly\"\nscript = \"/bin/sleep\"\nargs = [\"600\"]\ncron_restart = \"*/2 * * * * *\"\n\n\
         [[apps]]\nname = \"manual\"\nscript = \"/bin/sleep\"\nargs = [\"600\"]\nautostart = false\n",
    );
    let out = t.ok(&["start"]);
    assert!(
        out.contains("- manual: not started (autostart = false; `tpctl start manual` starts it)"),
        "{out}"
    );
    assert_eq!(t.status().len(), 1, "only nightly runs");
    let out = t.ok(&["start", "manual"]);
    assert!(out.contains("✓ manual: online"), "{out}");

    // Every 2 s by the pattern (seconds first): a graceful restart with its own cause.
    wait_for("a scheduled restart", LONG, || {
        t.app("nightly")["restarts"].as_u64() >= Some(1)
    });
    assert_eq!(t.app("nightly")["cause"], "restarted by cron_restart");
    let described: serde_json::Value =
        serde_json::from_str(&t.ok(&["describe", "nightly", "--json"])).expect("json");
    let ledger = described[0]["ledger"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ledger[0]["cause"]["kind"], "scheduled", "{described}");
    assert_eq!(t.app("manual")["restarts"], 0);
    t.finish();
}
