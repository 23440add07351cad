//! Start, stop, restart, delete and status against real processes.

mod common;

use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

fn sigint_app(t: &TempHome, extra: &str) -> std::path::PathBuf {
    let signals = t.path().join("signals.txt");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"worker\"\nscript = \"{}\"\nenv = {{ SIGNALS = \"{}\" }}\n{extra}\n",
            fixture("sigint_only.sh"),
            signals.display()
        ),
    );
    signals
}

#[test]
fn graceful_stop_of_a_sigint_only_app() {
    let t = TempHome::new();
    let signals = sigint_app(&t, "");
    let out = t.ok(&["start"]);
    assert!(out.contains("✓ worker: online"), "{out}");
    wait_for("app ready", LONG, || {
        lines(&signals).contains(&"ready".to_string())
    });
    let pid = t.app("worker")["pid"].as_i64().expect("pid") as i32;
    let out = t.ok(&["stop", "worker"]);
    assert!(out.contains("✓ worker: stopped"), "{out}");
    assert_eq!(lines(&signals), vec!["ready", "got INT"]);
    assert!(!alive(pid));
    let app = t.app("worker");
    assert_eq!(app["status"], "stopped");
    assert_eq!(app["last_exit"]["code"], 0, "{app}");
    t.finish();
}

#[test]
fn sigkill_after_kill_timeout_leaves_no_survivor_in_the_group() {
    let t = TempHome::new();
    let pids = t.path().join("pids.txt");
    t.write(
        "ecosystem.toml",
        &format!("[[apps]]\nname = \"stubborn\"\nscript = \"{}\"\nkill_timeout = \"300ms\"\nenv = {{ PIDS = \"{}\" }}\n", fixture("stubborn.sh"), pids.display()),
    );
    t.ok(&["start"]);
    wait_for("pids written", LONG, || lines(&pids).len() == 1);
    let both: Vec<i32> = lines(&pids)[0]
        .split(' ')
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert!(both.iter().all(|p| alive(*p)));
    t.ok(&["stop", "stubborn"]);
    for pid in &both {
        assert!(!alive(*pid), "pid {pid} survived the stop");
    }
    assert_eq!(t.app("stubborn")["last_exit"]["signal"], libc::SIGKILL);
    t.finish();
}

#[test]
fn start_is_idempotent_and_restart_rereads_env_files() {
    let t = TempHome::new();
    let journal = t.path().join("journal.txt");
    t.write(".env", "GREETING=first\n");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"greeter\"\nscript = \"{}\"\nenv_file = \".env\"\nenv = {{ MARK = \"g\", LINGER = \"1\", JOURNAL = \"{}\" }}\n",
            fixture("marker.sh"),
            journal.display()
        ),
    );
    t.ok(&["start"]);
    let pid = t.app("greeter")["pid"].clone();
    let again = t.ok(&["start"]);
    assert!(again.contains("already running"), "{again}");
    assert_eq!(
        t.app("greeter")["pid"],
        pid,
        "a second start must not start a second copy"
    );
    let out_log = t.home().join("apps/greeter/logs/out.log");
    wait_for("first greeting logged", LONG, || {
        lines(&out_log)
            .iter()
            .any(|l| l.starts_with("GREETING=first"))
    });

    t.write(".env", "GREETING=second\n");
    t.ok(&["restart", "greeter"]);
    wait_for("second greeting logged", LONG, || {
        lines(&out_log)
            .iter()
            .any(|l| l.starts_with("GREETING=second"))
    });
    let app = t.app("greeter");
    assert_ne!(app["pid"], pid);
    assert_eq!(app["restarts"], 1);
    t.finish();
}

#[test]
fn one_shot_runs_to_completion_before_its_dependents_start() {
    let t = TempHome::new();
    let journal = t.path().join("journal.txt");
    let j = journal.display();
    let m = fixture("marker.sh");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"worker\"\nscript = \"{m}\"\nafter = \"scheduler\"\ninstances = 2\nenv = {{ MARK = \"worker\", LINGER = \"1\", JOURNAL = \"{j}\" }}\n\n\
             [[apps]]\nname = \"scheduler\"\nscript = \"{m}\"\nautorestart = false\nenv = {{ MARK = \"scheduler\", RUN_SECS = \"0.3\", JOURNAL = \"{j}\" }}\n"
        ),
    );
    let out = t.ok(&["start"]);
    assert!(out.contains("✓ scheduler: completed"), "{out}");
    let entries = lines(&journal);
    assert_eq!(
        &entries[..2],
        ["scheduler start", "scheduler done"],
        "{entries:?}"
    );
    wait_for("both workers started", LONG, || {
        lines(&journal)
            .iter()
            .filter(|l| *l == "worker start")
            .count()
            == 2
    });
    let ids: Vec<String> = t
        .status()
        .iter()
        .map(|a| a["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, ["scheduler", "worker-0", "worker-1"]);
    t.finish();
}

#[test]
fn failed_one_shot_is_retried_and_its_dependents_wait_for_it() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"migrate\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"echo no database yet >&2; exit 1\"]\nautorestart = false\n\n[[apps]]\nname = \"worker\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nafter = [\"migrate\"]\n\n[[apps]]\nname = \"lonely\"\nscript = \"/bin/false\"\nautorestart = false\n",
    );
    let out = t.run(&["start"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    // Its last stderr line in the start output, and the retry it waits for.
    assert!(
        stdout.contains(
            "✗ migrate: failed: exit code 1; retrying in 1s, failure 1 of 16 — no database yet"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("… worker: waiting (for migrate: failed: no database yet"),
        "{stdout}"
    );
    // A one-shot nothing runs after is not retried.
    assert!(stdout.contains("✗ lonely: failed: exit code 1"), "{stdout}");
    let worker = t.app("worker");
    assert_eq!(worker["status"], "waiting");
    assert!(
        worker["cause"]
            .as_str()
            .is_some_and(|c| c.starts_with("for migrate: failed: no database yet")),
        "{worker}"
    );
    assert_eq!(t.app("lonely")["status"], "failed");
    wait_for("migrate retried", LONG, || {
        t.app("migrate")["restarts"].as_u64() >= Some(2)
    });
    let describe = t.ok(&["describe", "migrate"]);
    assert!(
        describe.contains("last error           no database yet"),
        "{describe}"
    );
    t.finish();
}

#[test]
fn concurrent_starts_of_one_app_run_exactly_one_instance() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"solo\"\nscript = \"/bin/sleep\"\nargs = [\"1000\"]\n",
    );
    let children: Vec<_> = (0..4)
        .map(|_| {
            t.cmd(&["start"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let apps = t.instances("solo", "sleep").len();
    assert_eq!(apps, 1);
    t.finish();
}

#[test]
fn missing_script_errors_that_app_only() {
    let t = TempHome::new();
    t.write("ecosystem.toml", "[[apps]]\nname = \"ghost\"\nscript = \"./no-such-program\"\n\n[[apps]]\nname = \"real\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n");
    let out = t.run(&["start"]);
    assert_eq!(out.status.code(), Some(1));
    let ghost = t.app("ghost");
    assert_eq!(ghost["status"], "errored");
    let reason = ghost["reason"].as_str().unwrap_or("");
    assert!(reason.contains("no-such-program not found"), "{reason}");
    assert_eq!(t.app("real")["status"], "online");
    let described = t.ok(&["describe", "ghost"]);
    assert!(described.contains("not found"), "{described}");
    t.finish();
}

#[test]
fn unknown_app_names_the_known_ones_and_exits_2() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"email-worker\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
    );
    t.ok(&["start"]);
    let out = t.run(&["stop", "emial-worker"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim_end(),
        "error: unknown app \"emial-worker\" (did you mean \"email-worker\"?)"
    );
    // Nothing close: the known apps are listed (a fleet's would be counted instead).
    let out = t.run(&["stop", "zzz"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown app \"zzz\"; known apps: email-worker"),
        "{}",
        text(&out.stderr)
    );
    // A pattern selects by name.
    let stopped = t.ok(&["stop", "email-*"]);
    assert!(stopped.contains("email-worker"), "{stopped}");
    assert_eq!(t.app("email-worker")["status"], "stopped");
    t.finish();
}

#[test]
fn describe_redacts_secrets_and_delete_forgets_the_app() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"web\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\nenv = { DATABASE_URL = \"postgres://tp:hunter2@db/tp\", EMAIL_SERVER_PASSWORD = \"hunter2\", NODE_ENV = \"production\" }\n",
    );
    t.ok(&["start"]);
    for args in [
        &["describe", "web"][..],
        &["describe", "web", "--json"][..],
        &["status", "--json"][..],
    ] {
        let out = t.ok(args);
        assert!(
            !out.contains("hunter2"),
            "secret printed by {args:?}:\n{out}"
        );
    }
    let out = t.ok(&["describe", "web"]);
    assert!(out.contains("NODE_ENV=production"), "{out}");
    assert!(
        out.contains("DATABASE_URL=postgres://tp:<redacted>@db/tp"),
        "{out}"
    );
    t.ok(&["delete", "web"]);
    assert!(t.status().is_empty());
    t.finish();
}

#[test]
fn unwritable_home_is_a_clear_error() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/true\"\n",
    );
    t.write("home", "a file where a directory should be");
    let out = t.run(&["start"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("as TPCTL_HOME") && err.contains("set TPCTL_HOME to a writable directory"),
        "{err}"
    );
}

#[test]
fn run_prefixes_output_and_stops_everything_on_interrupt() {
    let t = TempHome::new();
    let journal = t.path().join("journal.txt");
    let j = journal.display();
    let m = fixture("marker.sh");
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"alpha\"\nscript = \"{m}\"\nenv = {{ MARK = \"alpha\", LINGER = \"1\", JOURNAL = \"{j}\", GREETING = \"hi\" }}\n\n\
             [[apps]]\nname = \"beta\"\nscript = \"{m}\"\nenv = {{ MARK = \"beta\", LINGER = \"1\", JOURNAL = \"{j}\" }}\n"
        ),
    );
    let child = t
        .cmd(&["run"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn run");
    wait_for("both apps done", LONG, || {
        let l = lines(&journal);
        l.contains(&"alpha done".to_string()) && l.contains(&"beta done".to_string())
    });
    // Ctrl-C in a terminal reaches the whole foreground group; send it to run and its keepers.
    let run_pid = child.id() as i32;
    let keepers: Vec<i32> = processes_with_env(&format!("TPCTL_HOME={}", t.home().display()))
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.contains("--foreground"))
        })
        .collect();
    assert_eq!(keepers.len(), 2);
    for pid in keepers.iter().chain([&run_pid]) {
        unsafe { libc::kill(*pid, libc::SIGINT) };
    }
    let out = child.wait_with_output().expect("run output");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("alpha | GREETING=hi SECRET_TOKEN=unset"),
        "{stdout}"
    );
    assert!(stdout.contains("beta  | GREETING=unset"), "{stdout}");
    assert!(t.live_processes().is_empty());
    t.finish();
}

#[test]
fn piped_output_has_no_progress_lines_or_colour() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        "[[apps]]\nname = \"a\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\n[[apps]]\nname = \"b\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
    );
    for args in [
        &["start"][..],
        &["restart", "all"][..],
        &["status"][..],
        &["stop", "all"][..],
    ] {
        let out = t.cmd(args).env_remove("NO_COLOR").output().expect("run");
        assert!(out.status.success());
        for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let s = text(bytes);
            assert!(
                !s.contains('\x1b') && !s.contains('⠁') && !s.contains("SIGKILL in"),
                "{args:?} {name} has terminal output:\n{s}"
            );
        }
    }
    t.finish();
}

#[test]
fn a_mistyped_subcommand_suggests_the_right_one_and_exits_2() {
    let t = TempHome::new();
    let out = t.run(&["stpo", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("a similar subcommand exists: 'stop'"),
        "{}",
        text(&out.stderr)
    );
    // Every command `tpctl --help` lists, so a new one cannot ship without an example.
    let top = t.ok(&["--help"]);
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 20 && commands.contains(&"queue"), "{top}");
    for cmd in commands {
        let help = t.ok(&[cmd, "--help"]);
        assert!(
            help.contains("Example"),
            "`tpctl {cmd} --help` has no example:\n{help}"
        );
    }
}
