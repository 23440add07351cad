//! `tpctl run` as a container's entry point: PID 1 of a PID namespace (`unshare --pid --fork`,
//! what Docker and Kubernetes give it) that reaps the orphans re-parented to it, turns the
//! runtime's SIGTERM into a graceful stop of every app, exits non-zero when an app ends
//! errored, logs JSON lines on request, and answers a probe through `status --check`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const LONG: Duration = Duration::from_secs(30);

/// The process's state letter (`S`, `Z`, ...) and parent pid, from /proc.
fn stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every process (zombies included) whose command line is exactly `argv`.
fn with_cmdline(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == want))
                .collect()
        })
        .unwrap_or_default()
}

fn children_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| stat(*p).is_some_and(|(_, pp)| pp == parent))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn run_as_pid_1_reaps_orphans_answers_the_probe_and_stops_gracefully_on_sigterm() {
    if Command::new("unshare")
        .args(["--pid", "--fork", "true"])
        .status()
        .map_or(true, |s| !s.success())
    {
        panic!("unshare --pid --fork is needed (util-linux, run as root)");
    }
    let t = TempHome::new();
    // The one-shot leaves a process of its own session behind (it waits until the process has
    // left its group, or its keeper would stop it as a leftover): once the keeper has exited,
    // it is re-parented to PID 1, which must reap it when it ends.
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"spawner\"\nscript = \"/bin/sh\"\nargs = [\"-c\", \"setsid /bin/sleep 300 & c=$!; while [ \\\"$(cut -d' ' -f5 /proc/$c/stat)\\\" = $$ ]; do :; done; echo spawned\"]\nautorestart = false\n\n\
             [[apps]]\nname = \"worker\"\nscript = \"{}\"\nafter = \"spawner\"\nkill_signal = \"SIGINT\"\nenv = {{ SIGNALS = \"{}\" }}\n",
            fixture("sigint_only.sh"),
            t.path().join("signals").display()
        ),
    );
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", BIN, "run"])
        .current_dir(t.path())
        .env("TPCTL_HOME", t.home())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare");
    let unshare_pid = unshare.id() as i32;
    let run_pid = wait_until(LONG, || match children_of(unshare_pid).as_slice() {
        [pid] => Ok(*pid),
        _ => Err(()),
    })
    .expect("tpctl run, PID 1 of the namespace");
    let ns_pid = std::fs::read_to_string(format!("/proc/{run_pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .map(|v| v.split_whitespace().last().unwrap_or("").to_string())
        });
    assert_eq!(
        ns_pid.as_deref(),
        Some("1"),
        "run is PID 1 in its namespace"
    );

    // Both apps known and up (during the first milliseconds only the first wave is known).
    wait_for("the worker online and the probe passing", LONG, || {
        let out = t.run(&["status", "--check"]);
        out.status.success() && text(&out.stdout).contains("✓ 2 apps up")
    });
    // The orphan: re-parented to run (PID 1) once the spawner's keeper exited, then reaped.
    let ours = |p: &i32| t.live_processes().contains(p);
    let orphan = wait_until(LONG, || {
        match with_cmdline(&["/bin/sleep", "300"])
            .into_iter()
            .filter(ours)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [pid] => Ok(*pid),
            _ => Err(()),
        }
    })
    .expect("the orphan");
    wait_for("the orphan adopted by PID 1", LONG, || {
        stat(orphan).is_some_and(|(_, ppid)| ppid == run_pid)
    });
    // It ends (killed here, so that a slow machine cannot miss it alive): PID 1 must reap it.
    unsafe { libc::kill(orphan, libc::SIGTERM) };
    wait_for("the orphan reaped, not a zombie", LONG, || {
        stat(orphan).is_none()
    });

    // What `docker stop` does: SIGTERM to PID 1 only.
    unsafe { libc::kill(run_pid, libc::SIGTERM) };
    let out = unshare.wait_with_output().expect("unshare ends");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("spawner | spawned"), "{stdout}");
    // The worker traps only SIGINT: it got its kill_signal and stopped by itself, no SIGKILL.
    let worker = t.app("worker");
    assert_eq!(worker["status"], "stopped", "{worker}");
    assert_eq!(lines(&t.path().join("signals")), ["ready", "got INT"]);
    assert_eq!(worker["cause"], "stopped", "{worker}");
    t.finish();
}

#[test]
fn run_exits_1_when_an_app_ends_errored_and_logs_json_lines() {
    let t = TempHome::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"crasher\"\nscript = \"{}\"\nmax_restarts = 2\nenv = {{ STARTS = \"{}\" }}\n\n\
             [[apps]]\nname = \"idle\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n",
            fixture("crasher.sh"),
            t.path().join("starts").display()
        ),
    );
    let out = t
        .cmd(&["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("tpctl run: crasher ended errored or failed")
            && err.contains("stopping the other apps"),
        "{err}"
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["app"] == "crasher"
            && l["stream"] == "err"
            && l["line"] == "crasher exiting with 1"
            && l["time"].as_str().is_some_and(|t| t.ends_with('Z'))),
        "{lines:?}"
    );
    assert_eq!(t.app("idle")["status"], "stopped");
    assert_eq!(t.app("crasher")["status"], "errored");
    t.finish();
}
