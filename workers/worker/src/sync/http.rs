//! One integration's HTTP client: connections reused across requests and jobs, at least
//! `SYNC_REQUEST_INTERVAL_MS` (default 1 s, TestPlanIt's rule) between the starts of two
//! requests to the same integration, whichever job sends them, a per-attempt timeout
//! (`SYNC_REQUEST_TIMEOUT_MS`, default 30 s) and the retry rules of [`super::policy`].
//!
//! A final error answer becomes `HTTP <status>: <the tracker's own message>`, Node's form, with
//! the message taken from Jira's `errorMessages`/`errors`, GitHub's and Azure's `message`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, Url};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::retry::{self, Attempt, Decision, Policy};
use crate::search::client::{error_chain, snippet};

/// How a request proves who it is.
#[derive(Clone)]
pub enum Auth {
    Basic(String, String),
    Bearer(String),
    /// GitHub's `token <PAT>`.
    Token(String),
}

impl Auth {
    fn header(&self) -> String {
        use base64::Engine;
        match self {
            Auth::Basic(u, p) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            ),
            Auth::Bearer(t) => format!("Bearer {t}"),
            Auth::Token(t) => format!("token {t}"),
        }
    }
}

impl std::fmt::Debug for Auth {
    // Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Basic(..) => "Basic(..)",
            Auth::Bearer(_) => "Bearer(..)",
            Auth::Token(_) => "Token(..)",
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// A final answer that is not a success, with the tracker's message.
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("{host} did not answer after {attempts} attempts: {reason}")]
    Unreachable {
        host: String,
        attempts: u32,
        reason: String,
    },
    #[error(
        "{host} asks to wait {} s before the next request (more than we hold a job for): sync again later",
        wait.as_secs()
    )]
    WaitTooLong { host: String, wait: Duration },
    #[error("{host} sent an answer that is not JSON: {reason}")]
    NotJson { host: String, reason: String },
    #[error("{url:?} is not a usable URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(crate::config::number(
        name,
        default,
        |_| true,
        "a number of milliseconds",
    ))
}

/// Counters for a job's summary line.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    /// Microseconds waiting for answers.
    pub waited_us: AtomicU64,
    /// Microseconds held back by the interval rule and servers' waits.
    pub paced_us: AtomicU64,
}

pub struct Tracker {
    http: reqwest::Client,
    interval: Duration,
    /// When the next request may start.
    next: Mutex<Instant>,
    pub stats: Stats,
}

impl Tracker {
    pub fn new() -> Result<Tracker, HttpError> {
        crate::tls::install();
        let http = reqwest::Client::builder()
            .timeout(env_ms("SYNC_REQUEST_TIMEOUT_MS", 30_000))
            .connect_timeout(Duration::from_secs(10))
            // GitHub refuses requests without one; Node's fetch sends its own.
            .user_agent(concat!(
                "tp-worker/",
                env!("CARGO_PKG_VERSION"),
                " (TestPlanIt issue sync)"
            ))
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(Tracker {
            http,
            interval: env_ms("SYNC_REQUEST_INTERVAL_MS", 1_000),
            next: Mutex::new(Instant::now()),
            stats: Stats::default(),
        })
    }

    pub async fn get(&self, url: &str, auth: Option<&Auth>) -> Result<Value, HttpError> {
        self.request(Method::GET, url, auth, None).await
    }

    pub async fn post(
        &self,
        url: &str,
        auth: Option<&Auth>,
        body: &Value,
    ) -> Result<Value, HttpError> {
        self.request(Method::POST, url, auth, Some(body)).await
    }

    /// Waits for this integration's turn, then claims the next one `interval` later (or
    /// later still if the server said so).
    async fn turn(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            let wait = *next - now;
            self.stats
                .paced_us
                .fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
        *next = Instant::now() + self.interval;
    }

    /// Pushes the next turn to at least `wait` from now (a server's own limit).
    async fn hold_off(&self, wait: Duration) {
        let mut next = self.next.lock().await;
        let until = Instant::now() + wait;
        if until > *next {
            *next = until;
        }
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&Auth>,
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let parsed = Url::parse(url).map_err(|e| HttpError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        let mut last = String::new();
        let policy = Policy::TRACKERS;
        for attempt in 1..=policy.attempts {
            self.turn().await;
            let mut req = self
                .http
                .request(method.clone(), parsed.clone())
                .header("accept", "application/json");
            if let Some(a) = auth {
                req = req.header("authorization", a.header());
            }
            if let Some(b) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            let started = Instant::now();
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let result = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let h = |n: &str| {
                        resp.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    let got = Attempt::Answer {
                        status,
                        retry_after: h("retry-after"),
                        remaining: h("x-ratelimit-remaining").and_then(|v| v.parse().ok()),
                        reset: h("x-ratelimit-reset").and_then(|v| v.parse().ok()),
                    };
                    resp.bytes().await.map(|b| (got, status, b))
                }
                Err(e) => Err(e),
            };
            self.stats
                .waited_us
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            let (got, answer) = match result {
                Ok((got, status, b)) => (got, Some((status, b))),
                Err(e) => {
                    last = if e.is_timeout() {
                        "timed out".to_string()
                    } else {
                        error_chain(&e)
                    };
                    (Attempt::Transport, None)
                }
            };
            let now = SystemTime::now();
            // A success that used up GitHub's window: the next request waits for its reset.
            if let Attempt::Answer {
                remaining, reset, ..
            } = &got
                && let Some(w) = retry::rate_window(*remaining, *reset, now)
            {
                self.hold_off(w.min(retry::MAX_WAIT)).await;
            }
            match policy.decide(&got, attempt, now) {
                Decision::Accept => {
                    let (status, b) = answer.unwrap_or_default();
                    return finish(&host, status, &b);
                }
                Decision::Retry(wait) => {
                    if let Some((status, b)) = &answer {
                        last = format!("HTTP {status}: {}", message(b));
                    }
                    tracing::warn!(
                        "{host}: {last}; trying again in {:.1} s (attempt {} of {})",
                        wait.as_secs_f64(),
                        attempt + 1,
                        policy.attempts
                    );
                    self.hold_off(wait).await;
                }
                Decision::TooLong(wait) => return Err(HttpError::WaitTooLong { host, wait }),
                Decision::Exhausted => {
                    if let Some((status, b)) = answer {
                        return Err(HttpError::Status {
                            status,
                            message: message(&b),
                        });
                    }
                    return Err(HttpError::Unreachable {
                        host,
                        attempts: attempt,
                        reason: last,
                    });
                }
            }
        }
        Err(HttpError::Unreachable {
            host,
            attempts: policy.attempts,
            reason: last,
        })
    }
}

fn finish(host: &str, status: u16, body: &[u8]) -> Result<Value, HttpError> {
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            status,
            message: message(body),
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| HttpError::NotJson {
        host: host.to_string(),
        reason: e.to_string(),
    })
}

/// The tracker's own message in an error body: Jira's `errorMessages` and `errors`, the
/// `message` of GitHub, Azure DevOps and Atlassian's OAuth server (with its `error`), else
/// the body itself.
pub fn message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return snippet(body);
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(list) = v.get("errorMessages").and_then(Value::as_array) {
        parts.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(map) = v.get("errors").and_then(Value::as_object) {
        parts.extend(
            map.iter()
                .map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or(&m.to_string()))),
        );
    }
    for k in ["message", "error_description", "error"] {
        if parts.is_empty()
            && let Some(m) = v.get(k).and_then(Value::as_str)
        {
            parts.push(m.to_string());
        }
    }
    if parts.is_empty() {
        snippet(body)
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_are_the_trackers_own() {
        assert_eq!(
            message(br#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#),
            "Issue does not exist or you do not have permission to see it."
        );
        assert_eq!(
            message(br#"{"errorMessages":[],"errors":{"summary":"Field is required"}}"#),
            "summary: Field is required"
        );
        assert_eq!(
            message(br#"{"message":"Not Found","documentation_url":"https://docs.github.com"}"#),
            "Not Found"
        );
        assert_eq!(
            message(br#"{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}"#),
            "Unknown or invalid refresh token."
        );
        assert_eq!(
            message(b"<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let a = Auth::Basic("ada@example.com".into(), "t0ken".into());
        assert_eq!(format!("{a:?}"), "Basic(..)");
        assert_eq!(a.header(), "Basic YWRhQGV4YW1wbGUuY29tOnQwa2Vu");
        assert_eq!(Auth::Token("p".into()).header(), "token p");
    }
}
