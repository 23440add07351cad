//! The tracker stand-in (`trackers.py`: Jira Cloud and Server, Atlassian OAuth, GitHub, Azure
//! DevOps) as a child process on a free port, killed on drop; its request log and fault
//! injection over its control endpoints.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub struct Trackers {
    child: Child,
    pub port: u16,
}

impl Trackers {
    /// Starts the stand-in; every answer is held back `delay_ms` first.
    pub fn start(delay_ms: u64) -> Trackers {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/trackers.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(delay_ms.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the tracker stand-in");
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line).expect("port line");
        }
        let port = line.trim().parse().expect("the stand-in prints its port");
        Trackers { child, port }
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("http://127.0.0.1:{}{prefix}", self.port)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("stand-in is up");
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("request");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("answer");
        let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(json).expect("control answers are JSON")
    }

    /// The next `times` requests whose path contains `match` get this answer instead.
    pub fn fault(&self, fault: Value) {
        self.call("POST", "/_control/fault", Some(&fault));
    }

    /// Every request so far: `{t, method, path, query, auth, ua, accept}`.
    pub fn log(&self) -> Vec<Value> {
        self.call("GET", "/_control/log", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The requests whose path contains `part`.
    pub fn requests(&self, part: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(part)))
            .collect()
    }

    /// The OAuth server's current tokens and how many renewals it granted.
    pub fn oauth_state(&self) -> Value {
        self.call("GET", "/_control/state", None)
    }

    pub fn reset(&self) {
        self.call("POST", "/_control/reset", None);
    }
}

impl Drop for Trackers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
