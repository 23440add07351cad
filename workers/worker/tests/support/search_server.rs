//! A private Elasticsearch-compatible search server for a test, on a free port, killed on
//! drop: `noida-db` (answers as Elasticsearch 8.15) or `osmem-server` (OpenSearch 3), both
//! pinned and installed by `install-test-servers` (see `test_servers`).
//! Also a small HTTP client to read the documents back the way a search does.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// noida-db, Elasticsearch 8.15 API.
    Elasticsearch,
    /// osmem-server, OpenSearch 3 API.
    OpenSearch,
}

pub const BOTH: [Kind; 2] = [Kind::Elasticsearch, Kind::OpenSearch];

fn binary(kind: Kind) -> PathBuf {
    crate::test_servers::dir()
        .join("unpacked")
        .join(match kind {
            Kind::Elasticsearch => "noida_db/noida-db",
            Kind::OpenSearch => "osmem_server/bin/osmem-server",
        })
}

pub struct SearchServer {
    child: Option<Child>,
    pub kind: Kind,
    pub port: u16,
    data: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

impl SearchServer {
    pub fn start(kind: Kind) -> SearchServer {
        let data = std::env::temp_dir().join(format!(
            "tp-search-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&data).expect("data directory");
        let mut s = SearchServer {
            child: None,
            kind,
            port: free_port(),
            data,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let bin = binary(self.kind);
        let mut cmd = Command::new(&bin);
        match self.kind {
            Kind::Elasticsearch => cmd
                .args([
                    "start",
                    "--only",
                    "elasticsearch",
                    "--elasticsearch-port",
                    &self.port.to_string(),
                    "--data-dir",
                ])
                .arg(&self.data),
            Kind::OpenSearch => cmd.args([
                "-addr",
                &format!("127.0.0.1:{}", self.port),
                "-no-stdin-watch",
                "-no-ja",
                "-parent-pid",
                &std::process::id().to_string(),
            ]),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = self.try_request("GET", "/", None) {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("{:?} search server exited at start: {status}", self.kind);
            }
            assert!(
                Instant::now() < deadline,
                "{:?} search server did not answer on port {}",
                self.kind,
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server (the search server going away).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let rest = raw.get(split + 4..).unwrap_or_default();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A request whose answer is JSON; panics on a transport error.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let b = body.map(Value::to_string);
        let (status, text) = self
            .try_request(method, path, b.as_deref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `_count` of an index.
    pub fn count(&self, index: &str) -> u64 {
        let (status, v) = self.request("GET", &format!("/{index}/_count"), None);
        assert_eq!(status, 200, "count {index}: {v}");
        v["count"].as_u64().expect("count")
    }

    /// The `_source` of each hit of a query, sorted by id.
    pub fn search(&self, index: &str, query: Value) -> Vec<Value> {
        let (status, v) = self.request(
            "POST",
            &format!("/{index}/_search"),
            Some(&serde_json::json!({ "query": query, "size": 1000 })),
        );
        assert_eq!(status, 200, "search {index}: {v}");
        let mut hits: Vec<Value> = v["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|h| h["_source"].clone())
            .collect();
        hits.sort_by_key(|h| h["id"].as_i64());
        hits
    }

    /// The one document whose `id` is `id`.
    pub fn doc(&self, index: &str, id: i64) -> Value {
        let hits = self.search(index, serde_json::json!({ "term": { "id": id } }));
        assert_eq!(hits.len(), 1, "document {id} in {index}: {hits:?}");
        hits[0].clone()
    }

    /// The ids of the hits of a query.
    pub fn ids(&self, index: &str, query: Value) -> Vec<i64> {
        self.search(index, query)
            .iter()
            .filter_map(|h| h["id"].as_i64())
            .collect()
    }

    /// An index's field mapping (`properties`).
    pub fn mapping(&self, index: &str) -> Value {
        let (status, v) = self.request("GET", &format!("/{index}/_mapping"), None);
        assert_eq!(status, 200, "mapping {index}: {v}");
        v[index]["mappings"]["properties"].clone()
    }

    /// Whether an index exists.
    pub fn exists(&self, index: &str) -> bool {
        self.try_request("HEAD", &format!("/{index}"), None)
            .map(|(s, _)| s == 200)
            .unwrap_or(false)
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..eol]);
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let tail = &rest[eol + 2..];
        if n == 0 || tail.len() < n {
            break;
        }
        out.extend_from_slice(&tail[..n]);
        rest = tail[n..].strip_prefix(b"\r\n").unwrap_or(&tail[n..]);
    }
    out
}

impl Drop for SearchServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
