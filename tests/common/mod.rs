//! Helpers for black-box tests of the real `tpctl` binary: a private TPCTL_HOME per test, a
//! condition wait with a deadline, and a leak check that fails the test if any process it
//! started (keeper or app) is still alive at the end.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tpctl");

/// A temporary directory holding TPCTL_HOME (`home/`) and the test's ecosystem files.
pub struct TempHome {
    pub dir: tempfile::TempDir,
    finished: bool,
}

impl TempHome {
    pub fn new() -> TempHome {
        TempHome {
            dir: tempfile::Builder::new()
                .prefix("tpctl-test-")
                .tempdir()
                .expect("tempdir"),
            finished: false,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Writes a file under the test directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write fixture");
        p
    }

    /// A command for the tpctl binary in this test's home, run from the test directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env("TPCTL_HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("TPCTL_LOG");
        c
    }

    /// Runs tpctl and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run tpctl")
    }

    /// Runs tpctl, asserting exit 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tpctl {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `status --json` as JSON values.
    pub fn status(&self) -> Vec<serde_json::Value> {
        let out = self.ok(&["status", "--json"]);
        serde_json::from_str(&out).expect("status --json is JSON")
    }

    /// The status entry of one app instance.
    pub fn app(&self, id: &str) -> serde_json::Value {
        self.status()
            .into_iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in status"))
    }

    /// Every live process (not zombie) whose environment carries this test's TPCTL_HOME.
    pub fn live_processes(&self) -> Vec<i32> {
        let marker = format!("TPCTL_HOME={}", self.home().display());
        processes_with_env(&marker)
    }

    /// This test's live processes of app `id` whose command name is `comm` (other tests'
    /// apps of the same name do not count).
    pub fn instances(&self, id: &str, comm: &str) -> Vec<i32> {
        let ours = self.live_processes();
        processes_with_env(&format!("TPCTL_APP_ID={id}"))
            .into_iter()
            .filter(|p| ours.contains(p))
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
            })
            .collect()
    }

    /// Stops everything and asserts that no process of this test is left.
    pub fn finish(mut self) {
        self.finished = true;
        let _ = self.run(&["kill"]);
        let leftover = wait_until(Duration::from_secs(10), || {
            let live = self.live_processes();
            live.is_empty().then_some(()).ok_or(live)
        });
        if let Err(live) = leftover {
            for pid in &live {
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            panic!("processes leaked after `tpctl kill`: {live:?}");
        }
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        if !self.finished {
            // A failing test still must not leave processes behind.
            let _ = self.run(&["kill"]);
            for pid in self.live_processes() {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `check` until it returns `Ok` or `timeout` passes; returns the last error then.
pub fn wait_until<T, E>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Waits for a condition, panicking with `what` when the deadline passes. Deadlines are
/// generous: they only bound a hang, they do not measure speed.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    if wait_until(timeout, || if cond() { Ok(()) } else { Err(()) }).is_err() {
        panic!("timed out after {timeout:?} waiting for: {what}");
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Live processes whose environment contains exactly `var=value`.
pub fn processes_with_env(entry: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ"))
            && env.split(|b| *b == 0).any(|v| v == entry.as_bytes())
            && alive(pid)
        {
            out.push(pid);
        }
    }
    out
}

/// Runs a command to its end, or kills it and fails the test once `limit` has passed (a
/// program that should exit must not hang the suite).
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("the command's output"),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not end within {limit:?}");
        }
    }
}

/// tp-worker, built beside tpctl by `cargo test --workspace`.
pub fn tp_worker() -> std::path::PathBuf {
    let p = std::path::Path::new(BIN).with_file_name("tp-worker");
    assert!(
        p.exists(),
        "{} is missing: `cargo build -p tp-worker` (cargo test --workspace builds it)",
        p.display()
    );
    p
}

/// Path of a fixture app.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/apps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Lines of a file, empty if it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[path = "../support/redis_server.rs"]
mod redis_server;
#[allow(unused_imports)]
pub use redis_server::RedisServer;

/// A throw-away PostgreSQL database (the machine's server, 127.0.0.1:5432) holding the tables
/// tp-worker's audit-log worker writes, so its schema guard lets it take jobs; dropped after.
pub struct AuditDb {
    name: String,
}

impl AuditDb {
    pub fn new() -> AuditDb {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "tpctl_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let psql = |db: &str, args: &[&str]| {
            let out = Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-d",
                    db,
                ])
                .args(args)
                .output()
                .expect("psql runs");
            assert!(out.status.success(), "psql {args:?}: {}", text(&out.stderr));
        };
        psql(
            "postgres",
            &["-c", &format!("DROP DATABASE IF EXISTS \"{name}\"")],
        );
        psql("postgres", &["-c", &format!("CREATE DATABASE \"{name}\"")]);
        let db = AuditDb { name };
        for f in ["users.sql", "projects.sql", "audit.sql"] {
            let path = format!(
                "{}/workers/worker/tests/schema/{f}",
                env!("CARGO_MANIFEST_DIR")
            );
            psql(&db.name, &["-f", &path]);
        }
        db
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for AuditDb {
    fn drop(&mut self) {
        let _ = Command::new("dropdb")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "--if-exists",
                "--force",
                &self.name,
            ])
            .status();
    }
}
