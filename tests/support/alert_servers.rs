//! Real receivers for the alert tests: a webhook receiver (tests/fixtures/servers/
//! webhook_receiver.py) and an SMTP server (tp-worker's aiosmtpd one, the pinned wheels
//! installed by its install-test-servers), each a process on a free port, killed on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Reads the `{"port": N}` line a server prints first; the rest goes to `sink`.
fn port_then(child: &mut Child, sink: Option<Arc<Mutex<Vec<serde_json::Value>>>>) -> u16 {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first: serde_json::Value = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| serde_json::from_str(&l).ok())
        .expect("the server says its port");
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let (Some(sink), Ok(v)) = (&sink, serde_json::from_str(&line))
                && let Ok(mut s) = sink.lock()
            {
                s.push(v);
            }
        }
    });
    first["port"].as_u64().expect("port") as u16
}

/// The webhook receiver: every POST it took, from its record file.
pub struct Receiver {
    child: Option<Child>,
    pub port: u16,
    pub record: PathBuf,
}

impl Receiver {
    pub fn start(record: PathBuf) -> Receiver {
        let mut r = Receiver {
            child: None,
            port: 0,
            record,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let mut child = Command::new("python3")
            .arg(format!("{ROOT}/tests/fixtures/servers/webhook_receiver.py"))
            .arg(self.port.to_string())
            .arg(&self.record)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the webhook receiver");
        self.port = port_then(&mut child, None);
        self.child = Some(child);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Down: connections are refused until `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Up again on the same port.
    pub fn start_again(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The POSTs it took: `{path, content_type, body}`.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// aiosmtpd, with the messages it accepted, decoded.
pub struct Smtp {
    child: Child,
    pub port: u16,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Smtp {
    pub fn start() -> Smtp {
        let servers = install();
        let received = Arc::new(Mutex::new(Vec::new()));
        let mut child = Command::new("python3")
            .arg(format!(
                "{ROOT}/workers/worker/tests/support/smtp_server.py"
            ))
            .arg("0")
            .env("PYTHONPATH", servers.join("python"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP server");
        let port = port_then(&mut child, Some(received.clone()));
        Smtp {
            child,
            port,
            received,
        }
    }

    /// The messages: `{from, to, subject, text, html}`.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pinned aiosmtpd wheels, unpacked under the target directory once (as tp-worker's
/// tests do, under the same lock).
fn install() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-servers");
    if dir.join("python/aiosmtpd/__init__.py").exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("tools directory");
    let lock = std::fs::File::create(dir.join(".lock")).expect("lock file");
    // SAFETY: flock on a file we hold open; released when it is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    let script = format!("{ROOT}/workers/worker/tests/support/install-test-servers");
    let ok = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "could not install the test servers: run {script}");
    dir
}
