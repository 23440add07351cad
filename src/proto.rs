//! The control-socket protocol between the `tpctl` client and a keeper.
//!
//! One request and one response per connection, each a frame: a 4-byte big-endian length and
//! that many bytes of JSON. Every message carries the protocol version `v`; a keeper answers a
//! request of another version with an error that says how to replace it, never with a guess.

use std::io;

use serde::{Deserialize, Serialize};

use crate::policy::{Cause, Exit, Status};
use crate::spec::AppSpec;

/// Version of the messages below. Bump on any incompatible change.
pub const VERSION: u32 = 1;
/// Largest frame accepted either way; a spec with a big environment fits easily.
pub const MAX_FRAME: usize = 4 << 20;

/// What a client asks of a keeper.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The app's current status.
    Status,
    /// Status, resolved spec and restart ledger.
    Describe,
    /// Run the app if it is not running; answers once it is online or settled.
    Start,
    /// Stop the app; answers once it is stopped, after which the keeper exits.
    Stop,
    /// Stop and start again, with a new spec if given (a re-read ecosystem file).
    Restart { spec: Option<Box<AppSpec>> },
    /// Answer once the app is settled (one-shots: completed or failed), or a one-shot has
    /// failed and waits to be retried.
    WaitSettled,
    /// Reopen the log files by name (after an external logrotate moved them).
    ReopenLogs,
    /// Empty the log files and remove their rotated copies.
    FlushLogs,
}

/// A request with its version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestFrame {
    pub v: u32,
    #[serde(flatten)]
    pub request: Request,
}

/// What a keeper answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Status {
        status: AppStatus,
    },
    Describe {
        status: AppStatus,
        spec: Box<AppSpec>,
        ledger: Vec<LedgerEntry>,
    },
    Error {
        message: String,
    },
}

/// A response with its version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub v: u32,
    #[serde(flatten)]
    pub response: Response,
}

/// The status of one app instance, as `status --json` prints it (documented in README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    pub id: String,
    /// Its number (as PM2's numeric ids: `tpctl restart 3`), kept until it is deleted.
    #[serde(default)]
    pub number: Option<u32>,
    pub name: String,
    pub instance: Option<u32>,
    pub status: Status,
    /// PID of the app's main process while it runs.
    pub pid: Option<u32>,
    /// PID of the keeper supervising it, while the keeper lives.
    pub keeper_pid: Option<u32>,
    pub uptime_ms: Option<u64>,
    pub restarts: u32,
    pub cpu_percent: Option<f64>,
    /// CPU seconds used by the app's runs while its keeper lives (only grows).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Resident memory of the app's whole process tree.
    pub memory_bytes: Option<u64>,
    pub last_exit: Option<Exit>,
    /// Why it is errored, failed, stopped by itself or lost.
    pub reason: Option<String>,
    /// Why the last run ended, in a few words (`memory limit`, `crashed (exit 1)`,
    /// `stopped, SIGKILL after kill_timeout`), or what a stop is waiting for.
    #[serde(default)]
    pub cause: Option<String>,
    /// Wall-clock time (ms since the Unix epoch) of the last change of `status`.
    pub since_ms: u64,
    /// Log bytes that could not be written (disk full, unwritable file).
    #[serde(default)]
    pub dropped_log_bytes: u64,
    /// The last line the app wrote to stderr in its last run that failed (or why it could
    /// not be executed), until an operator starts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The ecosystem file the app belongs to (absolute), if it came from one.
    #[serde(default)]
    pub source: Option<String>,
    /// What an app with `notify = true` last said of itself (STATUS=…, or stopping/reloading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_status: Option<String>,
    /// With `health`: `healthy`, `unhealthy: <the last failure>` or `checking`, while online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// With `queue`, while online: whether it holds a worker connection on each queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumption: Vec<QueueConsumption>,
}

/// Whether an app consumes one of its queues, as Valkey's client list showed it last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConsumption {
    pub queue: String,
    /// `consuming`, `not_consuming`, `unknown` (with `detail`) or `checking` (no look yet).
    pub state: ConsumptionState,
    /// Not consuming since (ms since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Why it cannot be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumptionState {
    Checking,
    Consuming,
    NotConsuming,
    Unknown,
}

impl QueueConsumption {
    /// `consuming`, `not consuming (since 12:03:04Z, 2m 5s)`, `unknown: …`, `checking`.
    pub fn describe(&self, now_ms: u64) -> String {
        match self.state {
            ConsumptionState::Checking => "checking".into(),
            ConsumptionState::Consuming => "consuming".into(),
            ConsumptionState::NotConsuming => match self.since_ms {
                Some(t) => format!(
                    "not consuming (since {}, {})",
                    crate::render::timestamp(t),
                    crate::render::duration_ms(now_ms.saturating_sub(t))
                ),
                None => "not consuming".into(),
            },
            ConsumptionState::Unknown => format!(
                "unknown: {}",
                self.detail.as_deref().unwrap_or("cannot be told")
            ),
        }
    }
}

impl AppStatus {
    /// `not consuming Q (since …)` for the first of its queues it does not consume.
    pub fn not_consuming(&self, now_ms: u64) -> Option<String> {
        self.consumption
            .iter()
            .find(|c| c.state == ConsumptionState::NotConsuming)
            .map(|c| {
                c.describe(now_ms).replacen(
                    "not consuming",
                    &format!("not consuming {}", c.queue),
                    1,
                )
            })
    }

    /// A stopped app that has no keeper, with `since_ms` as the time of that state.
    pub fn stopped(id: &str, name: &str, instance: Option<u32>, since_ms: u64) -> AppStatus {
        AppStatus {
            id: id.to_string(),
            number: None,
            name: name.to_string(),
            instance,
            status: Status::Stopped,
            pid: None,
            keeper_pid: None,
            uptime_ms: None,
            restarts: 0,
            cpu_percent: None,
            cpu_seconds: None,
            memory_bytes: None,
            last_exit: None,
            reason: None,
            cause: None,
            since_ms,
            dropped_log_bytes: 0,
            last_error: None,
            notify_status: None,
            health: None,
            consumption: Vec::new(),
            source: None,
        }
    }
}

/// The one line a freshly launched keeper writes on its stdout for the client that launched it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Handshake {
    /// The keeper holds the lock and made its first attempt to start the app.
    Started { status: Box<AppStatus> },
    /// Another keeper holds this app's lock: talk to it instead.
    Locked,
    /// The keeper could not set itself up.
    Failed { message: String },
}

/// One restart in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Wall-clock time of the restart, ms since the Unix epoch.
    pub at_ms: u64,
    pub cause: Cause,
    /// How long the run that ended had been up.
    pub uptime_ms: u64,
    /// The last lines the app wrote to stderr before the restart.
    pub stderr_tail: Vec<String>,
}

/// Failure to exchange frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encodes a message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes one frame from the front of `buf` if it is complete: `Ok(None)` means "need more".
pub fn decode<T: for<'de> Deserialize<'de>>(buf: &[u8]) -> Result<Option<(T, usize)>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    Ok(Some((serde_json::from_slice(&buf[4..4 + len])?, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_completion() {
        let frame = encode(&RequestFrame {
            v: VERSION,
            request: Request::Stop,
        })
        .expect("encode");
        assert!(
            decode::<RequestFrame>(&frame[..frame.len() - 1])
                .expect("partial")
                .is_none()
        );
        let (back, used): (RequestFrame, usize) =
            decode(&frame).expect("decode").expect("complete");
        assert_eq!(used, frame.len());
        assert!(matches!(back.request, Request::Stop));
        assert_eq!(
            String::from_utf8_lossy(&frame[4..]),
            r#"{"v":1,"op":"stop"}"#
        );
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut buf = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(b"{}");
        assert!(matches!(
            decode::<RequestFrame>(&buf),
            Err(FrameError::TooLarge(_))
        ));
    }
}
