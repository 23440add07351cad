//! The tp-worker binary as a child process: its environment, its log lines as they come, and
//! a graceful stop (SIGINT) that must end it with status 0. A worker left running fails the
//! test when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tp-worker");

/// `tp-worker ARGS` with only the given environment (plus PATH), so the machine's own
/// DATABASE_URL or VALKEY_URL cannot leak in.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TENANT_CONFIG_FILE", "/nonexistent/tenants.json")
        .envs(env.iter().copied());
    c
}

pub struct Running {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = command(args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tp-worker");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
            });
        }
        Running { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (up to 30 s) for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tp-worker did not exit:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until a log line contains `text`; the log is in the panic message otherwise.
    pub fn wait_for_line(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log().iter().any(|l| l.contains(text)) {
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?}:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sigint(&self) {
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    /// SIGINT, and the worker saying it has begun stopping; it goes on finishing its jobs.
    pub fn interrupt(&self) {
        self.sigint();
        self.wait_for_line("SIGINT received");
    }

    /// SIGINT, then the exit status (within 30 s).
    pub fn stop(mut self) -> ExitStatus {
        self.sigint();
        self.wait_exit()
    }
}

impl Running {
    /// SIGINT, then the exit status and everything the worker logged.
    pub fn stop_with_log(self) -> (ExitStatus, Vec<String>) {
        let log = self.log.clone();
        let status = self.stop();
        let lines = log.lock().map(|l| l.clone()).unwrap_or_default();
        (status, lines)
    }

    /// SIGINT, and a clean exit (status 0), with the log in the message otherwise.
    pub fn stop_cleanly(self) {
        let log = self.log.clone();
        let status = self.stop();
        let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
        assert!(
            status.success(),
            "tp-worker exited with {status} after SIGINT:\n{log}"
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
