//! The search server's HTTP API, the few calls we make: whether an index exists, create it,
//! `_bulk`, `_refresh`. Elasticsearch 7–9 and OpenSearch answer these the same way.
//!
//! A transport error or a 5xx/429 answer is tried again with back-off (TestPlanIt's client
//! retries 3 times); then the error names the server's address and what went wrong. The
//! address is shown without any credentials the URL carries.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::retry::{Attempt, Decision, Policy};

/// Each request's own limit (TestPlanIt's requestTimeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("ELASTICSEARCH_NODE {url:?} is not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(
        "search server {addr} unreachable while trying to {op} (after {tries} tries): {reason}"
    )]
    Unreachable {
        addr: String,
        op: String,
        tries: u32,
        reason: String,
    },
    #[error("search server {addr} answered {status} to {op}: {body}")]
    Status {
        addr: String,
        op: String,
        status: u16,
        body: String,
    },
    #[error("search server {addr} sent an answer to {op} that is not JSON: {reason}")]
    Answer {
        addr: String,
        op: String,
        reason: String,
    },
}

/// One search server, as `ELASTICSEARCH_NODE` names it.
#[derive(Clone)]
pub struct SearchClient {
    base: Url,
    /// User and password from the URL, sent as basic auth (kept out of `base`).
    auth: Option<(String, Option<String>)>,
    /// `scheme://host:port` for messages (no user or password).
    addr: String,
    http: reqwest::Client,
    /// Time spent waiting for the server, for the job's summary.
    waited: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SearchClient {
    pub fn new(node: &str) -> Result<SearchClient, SearchError> {
        let bad = |reason: String| SearchError::BadUrl {
            url: redact(node),
            reason,
        };
        let mut base = Url::parse(node.trim()).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https".into()));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let auth = (!base.username().is_empty()).then(|| {
            (
                percent_decode(base.username()),
                base.password().map(percent_decode),
            )
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
        let addr = format!(
            "{}://{}{}",
            base.scheme(),
            base.host_str().unwrap_or_default(),
            base.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        crate::tls::install();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("tp-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SearchError::Client(e.to_string()))?;
        Ok(SearchClient {
            base,
            auth,
            addr,
            http,
            waited: Default::default(),
        })
    }

    /// The server's address, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Time spent waiting on the server so far.
    pub fn waited(&self) -> Duration {
        Duration::from_micros(self.waited.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sends one request, trying again while the server is away or overloaded; returns the
    /// status and body of the first answer that is not a 5xx or 429.
    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Bytes>,
        op: &str,
    ) -> Result<(StatusCode, Bytes), SearchError> {
        let url = self.base.join(path).map_err(|e| SearchError::BadUrl {
            url: redact(self.base.as_str()),
            reason: e.to_string(),
        })?;
        let policy = Policy::SEARCH;
        let mut last = String::new();
        for attempt in 1..=policy.attempts {
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(b) = &body {
                req = req.header("content-type", content_type).body(b.clone());
            }
            if let Some((user, password)) = &self.auth {
                req = req.basic_auth(user, password.as_ref());
            }
            let started = Instant::now();
            let result = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    resp.bytes().await.map(|b| (status, retry_after, b))
                }
                Err(e) => Err(e),
            };
            self.waited.fetch_add(
                started.elapsed().as_micros() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            let (got, answer) = match result {
                Ok((status, retry_after, b)) => (
                    Attempt::Answer {
                        status: status.as_u16(),
                        retry_after,
                        remaining: None,
                        reset: None,
                    },
                    Some((status, b)),
                ),
                Err(e) => {
                    last = error_chain(&e);
                    (Attempt::Transport, None)
                }
            };
            match (policy.decide(&got, attempt, SystemTime::now()), answer) {
                (Decision::Accept, Some(answer)) => return Ok(answer),
                (Decision::Retry(wait), answer) => {
                    if let Some((status, b)) = &answer {
                        last = format!("{status}: {}", snippet(b));
                    }
                    tracing::warn!(
                        "search server {} did not answer {op} ({last}); trying again in {} ms",
                        self.addr,
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                }
                (_, Some((status, b))) => {
                    return Err(SearchError::Status {
                        addr: self.addr.clone(),
                        op: op.to_string(),
                        status: status.as_u16(),
                        body: snippet(&b),
                    });
                }
                (_, None) => break,
            }
        }
        Err(SearchError::Unreachable {
            addr: self.addr.clone(),
            op: op.to_string(),
            tries: policy.attempts,
            reason: last,
        })
    }

    fn status_error(&self, op: &str, status: StatusCode, body: &[u8]) -> SearchError {
        SearchError::Status {
            addr: self.addr.clone(),
            op: op.to_string(),
            status: status.as_u16(),
            body: snippet(body),
        }
    }

    fn json(&self, op: &str, body: &[u8]) -> Result<Value, SearchError> {
        serde_json::from_slice(body).map_err(|e| SearchError::Answer {
            addr: self.addr.clone(),
            op: op.to_string(),
            reason: e.to_string(),
        })
    }

    /// Creates `index` with `body` (settings and mappings) unless it exists; an existing index
    /// is left as it is. True when it was created.
    pub async fn ensure_index(&self, index: &str, body: &Value) -> Result<bool, SearchError> {
        let op = format!("check index {index}");
        let (status, b) = self.send(Method::HEAD, index, "", None, &op).await?;
        match status {
            StatusCode::OK => return Ok(false),
            StatusCode::NOT_FOUND => {}
            s => return Err(self.status_error(&op, s, &b)),
        }
        let op = format!("create index {index}");
        let (status, b) = self
            .send(
                Method::PUT,
                index,
                "application/json",
                Some(Bytes::from(body.to_string())),
                &op,
            )
            .await?;
        if status.is_success() {
            return Ok(true);
        }
        // Another job created it meanwhile: fine, it has the same mapping.
        if status == StatusCode::BAD_REQUEST
            && self
                .json(&op, &b)
                .is_ok_and(|v| v["error"]["type"] == "resource_already_exists_exception")
        {
            return Ok(false);
        }
        Err(self.status_error(&op, status, &b))
    }

    /// Sends one `_bulk` body (NDJSON) and returns the parsed answer.
    pub async fn bulk(&self, body: Bytes) -> Result<Value, SearchError> {
        let op = "write documents (_bulk)";
        let (status, b) = self
            .send(
                Method::POST,
                "_bulk",
                "application/x-ndjson",
                Some(body),
                op,
            )
            .await?;
        if !status.is_success() {
            return Err(self.status_error(op, status, &b));
        }
        self.json(op, &b)
    }

    /// Makes what was written to `index` searchable now.
    pub async fn refresh(&self, index: &str) -> Result<(), SearchError> {
        let op = format!("refresh index {index}");
        let (status, b) = self
            .send(Method::POST, &format!("{index}/_refresh"), "", None, &op)
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.status_error(&op, status, &b))
        }
    }
}

/// The URL with any user and password replaced, for messages.
fn redact(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The start of a body, for messages.
pub(crate) fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

/// An error with its causes ("error sending request: connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shown_without_credentials() {
        let c = SearchClient::new("http://elastic:s3cret@search.test:9200").expect("client");
        assert_eq!(c.addr(), "http://search.test:9200");
        assert!(!redact("http://elastic:s3cret@search.test:9200").contains("s3cret"));
        assert_eq!(percent_decode("a%40b"), "a@b");
    }

    #[test]
    fn unusable_urls_are_refused_with_the_reason() {
        assert!(matches!(
            SearchClient::new("search.test:9200"),
            Err(SearchError::BadUrl { .. })
        ));
        let e = SearchClient::new("ftp://x").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("http or https")));
    }
}
