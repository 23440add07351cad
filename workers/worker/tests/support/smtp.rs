//! A real SMTP server process (tests/support/smtp_server.py, on aiosmtpd) on a free port,
//! with the messages it accepted, decoded. Killed on drop; can be stopped and started again
//! on the same port (a mail server outage).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    received: Arc<Mutex<Vec<Value>>>,
}

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let mut s = SmtpServer {
            child: None,
            port: 0,
            received: Arc::new(Mutex::new(Vec::new())),
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new("python3")
            .args([SCRIPT, &self.port.to_string()])
            .env("PYTHONPATH", crate::test_servers::python_path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .and_then(|l| serde_json::from_str::<Value>(&l).ok())
            .expect("the SMTP server says its port");
        self.port = first["port"].as_u64().expect("port") as u16;
        let received = self.received.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line)
                    && let Ok(mut r) = received.lock()
                {
                    r.push(v);
                }
            }
        });
        self.child = Some(child);
    }

    /// Stops the server (connections are refused until `restart`).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn received(&self) -> Vec<Value> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until `n` messages have arrived; returns them.
    pub fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} emails arrived: {r:?}",
                r.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}
