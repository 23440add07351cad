//! systemd's sd_notify protocol, as tpctl's keeper (`notify = true`) and systemd's
//! `Type=notify` speak it: READY=1 once the worker's connections are up and it is registered,
//! STATUS= with its running jobs and the age of its last one, and WATCHDOG=1 from the loop
//! that takes jobs (so a wedged loop is caught), at half the `WATCHDOG_USEC` window.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often STATUS is refreshed when no watchdog asks for more.
const STATUS_EVERY: Duration = Duration::from_secs(5);

pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
    /// Half the watchdog window (`WATCHDOG_USEC`), or `STATUS_EVERY` without one.
    every: Duration,
    last: Mutex<Option<Instant>>,
    watchdog: bool,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for (a path, or `@name` for an abstract socket).
    pub fn from_env() -> Option<Notifier> {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|t| !t.is_empty())?;
        let addr = match target.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())
            }
            None => SocketAddr::from_pathname(&target),
        };
        let made = addr.and_then(|addr| UnixDatagram::unbound().map(|s| (s, addr)));
        let (sock, addr) = match made {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET {target} cannot be used: {e}");
                return None;
            }
        };
        let window = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0)
            .map(Duration::from_micros);
        Some(Notifier {
            sock,
            addr,
            every: window.map_or(STATUS_EVERY, |w| (w / 2).min(STATUS_EVERY)),
            last: Mutex::new(None),
            watchdog: window.is_some(),
        })
    }

    fn send(&self, msg: &str) {
        if let Err(e) = self.sock.send_to_addr(msg.as_bytes(), &self.addr) {
            tracing::debug!("cannot notify: {e}");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// A turn of the loop that takes jobs: WATCHDOG=1 (when a watchdog is set) and STATUS,
    /// at most every `every`.
    pub fn beat(&self, status: impl FnOnce() -> String) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= self.every) {
            *last = Some(Instant::now());
            let ping = if self.watchdog { "WATCHDOG=1\n" } else { "" };
            self.send(&format!("{ping}STATUS={}", status()));
        }
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=finishing running jobs");
    }
}

/// What the worker is doing, for STATUS.
#[derive(Default)]
pub struct Activity {
    active: AtomicUsize,
    last_started_ms: AtomicU64,
}

impl Activity {
    pub fn started(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.last_started_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn finished(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// `2 jobs running, last started 12s ago` / `idle, no job yet`.
    pub fn describe(&self) -> String {
        let active = self.active.load(Ordering::Relaxed);
        let last = self.last_started_ms.load(Ordering::Relaxed);
        let running = match active {
            0 => "idle".to_string(),
            1 => "1 job running".to_string(),
            n => format!("{n} jobs running"),
        };
        if last == 0 {
            format!("{running}, no job yet")
        } else {
            format!(
                "{running}, last started {}s ago",
                now_ms().saturating_sub(last) / 1000
            )
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_says_what_runs_and_since_when() {
        let a = Activity::default();
        assert_eq!(a.describe(), "idle, no job yet");
        a.started();
        a.started();
        assert_eq!(a.describe(), "2 jobs running, last started 0s ago");
        a.finished();
        a.finished();
        assert!(a.describe().starts_with("idle, last started"));
    }
}
