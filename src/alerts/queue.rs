//! The alert queue of one app, on disk in its run directory:
//!
//! ```text
//! apps/<id>/alerts/          0700
//!   state.json               what was sent lately (dedup, max_per_hour) and what was held back
//!   pending/<at>-<n>.json    one alert each, until every destination has it
//!   sender.lock              held by the sender at work
//!   outages.json             destinations that refuse now, and why (logged once per outage)
//! ```
//!
//! Written by the app's keeper (or, for `lost`, by the command that found it, under the app's
//! lock); read and emptied by the sender. Every file is replaced atomically, so a kill at any
//! moment loses no alert and leaves no half-written one.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Alert;
use crate::home::AppDir;
use crate::persist::write_atomic;
use crate::policy::AlertKind;
use crate::spec::AlertSpec;

/// Alerts kept waiting at most; past it the oldest is dropped (and counted).
pub const MAX_PENDING: usize = 100;
const HOUR_MS: u64 = 3_600_000;

/// What became of a raised alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    /// Queued for the sender.
    Queued(PathBuf),
    /// Not one of the app's `events`.
    Off,
    /// Held back (counted, said in the next alert sent): why.
    HeldBack(String),
}

/// The queue's memory of what it sent.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// When alerts were queued in the last hour (ms since the epoch).
    #[serde(default)]
    sent: Vec<u64>,
    /// When each kind was last queued.
    #[serde(default)]
    last: BTreeMap<String, u64>,
    /// Held back since the last one queued.
    #[serde(default)]
    held_back: u32,
    /// Dropped because the queue was full, ever.
    #[serde(default)]
    dropped: u64,
}

pub fn dir(app: &AppDir) -> PathBuf {
    app.path().join("alerts")
}

fn pending_dir(app: &AppDir) -> PathBuf {
    dir(app).join("pending")
}

/// Files up to date: `alerts/` and `alerts/pending/` exist, private.
fn ensure(app: &AppDir) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(pending_dir(app))
}

/// Filters `alert` through the app's rules and, if it passes, queues it.
pub fn raise(app: &AppDir, rules: &AlertSpec, mut alert: Alert) -> io::Result<Raised> {
    if alert.kind != AlertKind::Test && !rules.events.contains(&alert.kind) {
        return Ok(Raised::Off);
    }
    ensure(app)?;
    let state_path = dir(app).join("state.json");
    let mut state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let now = alert.at_ms;
    state.sent.retain(|t| now.saturating_sub(*t) < HOUR_MS);
    let held = match alert.kind {
        // A recovery answers a problem that was told: it is never held back.
        AlertKind::Recovered | AlertKind::Test => None,
        kind => {
            let last = state.last.get(kind.as_str()).copied();
            if let Some(last) = last.filter(|l| now.saturating_sub(*l) < ms(rules.dedup)) {
                Some(format!(
                    "the same event was alerted {} ago (dedup {})",
                    crate::render::duration_ms(now.saturating_sub(last)),
                    crate::config::units::format_duration(rules.dedup)
                ))
            } else if state.sent.len() >= rules.max_per_hour as usize {
                Some(format!(
                    "{} alerts in the last hour (max_per_hour)",
                    state.sent.len()
                ))
            } else {
                None
            }
        }
    };
    if let Some(why) = held {
        state.held_back += 1;
        save(&state_path, &state)?;
        return Ok(Raised::HeldBack(why));
    }
    alert.held_back = std::mem::take(&mut state.held_back);
    state.sent.push(now);
    state.last.insert(alert.kind.as_str().to_string(), now);
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = pending_dir(app).join(format!(
        "{now:013}-{}-{}-{seq}.json",
        alert.kind.as_str(),
        std::process::id()
    ));
    write(&path, &alert)?;
    let mut waiting = pending(app);
    while waiting.len() > MAX_PENDING {
        let oldest = waiting.remove(0);
        let _ = std::fs::remove_file(&oldest);
        state.dropped += 1;
        tracing::warn!(file = %oldest.display(), "alert queue full ({MAX_PENDING}); dropped the oldest alert");
    }
    save(&state_path, &state)?;
    Ok(Raised::Queued(path))
}

/// The queued alerts, oldest first.
pub fn pending(app: &AppDir) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(pending_dir(app))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Reads one queued alert; `None` for a file that is not one (removed by the caller).
pub fn read(path: &Path) -> Option<Alert> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes one queued alert (its `delivered` list, after a destination took it).
pub fn write(path: &Path, alert: &Alert) -> io::Result<()> {
    let bytes = serde_json::to_vec(alert).map_err(io::Error::other)?;
    write_atomic(path, &bytes, 0o600, true)
}

fn save(path: &Path, state: &State) -> io::Result<()> {
    let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
    write_atomic(path, &bytes, 0o600, false)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::AppStatus;
    use std::collections::BTreeMap;

    fn rules() -> AlertSpec {
        AlertSpec {
            events: AlertKind::NAMED.to_vec(),
            max_per_hour: 3,
            dedup: Duration::from_secs(600),
            restart_rate: None,
            recovered_after: Duration::from_secs(60),
            webhooks: vec![],
            commands: vec![],
            email_to: vec![],
        }
    }

    fn alert(kind: AlertKind, at_ms: u64) -> Alert {
        let status = AppStatus::stopped("web", "web", None, 0);
        Alert::new(kind, "why", &status, &BTreeMap::new(), at_ms)
    }

    #[test]
    fn repeats_are_held_back_within_dedup_and_over_max_per_hour_then_counted() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let app = AppDir::at(tmp.path());
        let r = rules();
        let t0 = 1_000_000_000_000;
        assert!(matches!(
            raise(&app, &r, alert(AlertKind::Errored, t0)),
            Ok(Raised::Queued(_))
        ));
        assert!(matches!(
            raise(&app, &r, alert(AlertKind::Errored, t0 + 1000)),
            Ok(Raised::HeldBack(w)) if w.contains("dedup")
        ));
        assert!(matches!(
            raise(&app, &r, alert(AlertKind::Memory, t0 + 2000)),
            Ok(Raised::Queued(_))
        ));
        assert!(matches!(
            raise(&app, &r, alert(AlertKind::Lost, t0 + 3000)),
            Ok(Raised::Queued(_))
        ));
        assert!(matches!(
            raise(&app, &r, alert(AlertKind::Failed, t0 + 4000)),
            Ok(Raised::HeldBack(w)) if w.contains("max_per_hour")
        ));
        // A recovery always goes, and says how many were held back.
        let Ok(Raised::Queued(path)) = raise(&app, &r, alert(AlertKind::Recovered, t0 + 5000))
        else {
            panic!("recovered queued");
        };
        // The dedup'd errored went with the memory alert; the rate-held failed goes now.
        assert_eq!(read(&path).map(|a| a.held_back), Some(1));
        let memory = pending(&app)
            .into_iter()
            .filter_map(|p| read(&p))
            .find(|a| a.kind == AlertKind::Memory);
        assert_eq!(memory.map(|a| a.held_back), Some(1));
        assert_eq!(pending(&app).len(), 4);
        // An hour later the rate allows again; events the app does not want are off.
        assert!(matches!(
            raise(&app, &r, alert(AlertKind::Failed, t0 + HOUR_MS + 6000)),
            Ok(Raised::Queued(_))
        ));
        let only_errored = AlertSpec {
            events: vec![AlertKind::Errored],
            ..r
        };
        assert_eq!(
            raise(&app, &only_errored, alert(AlertKind::Memory, t0)).ok(),
            Some(Raised::Off)
        );
    }

    #[test]
    fn the_queue_keeps_the_newest_hundred() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let app = AppDir::at(tmp.path());
        let r = AlertSpec {
            max_per_hour: 1000,
            dedup: Duration::ZERO,
            ..rules()
        };
        for i in 0..(MAX_PENDING as u64 + 5) {
            raise(&app, &r, alert(AlertKind::Memory, 1_000_000_000_000 + i)).expect("raise");
        }
        let left = pending(&app);
        assert_eq!(left.len(), MAX_PENDING);
        assert_eq!(
            read(&left[0]).map(|a| a.at_ms),
            Some(1_000_000_000_005),
            "the oldest were dropped"
        );
    }
}
