//! Queue consumption: whether a running app holds a worker connection on each of its queues
//! (the keeper reads Valkey's client list), since when it has not, and the restart
//! `restart_when_not_consuming` asks for once that lasts its window.

use std::time::{Duration, Instant};

use super::{AfterStop, Cause, Effect, Policy, Status, Timer};

/// How often a look is taken when only reporting (no restart window).
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
/// The first look of a run comes this soon after it is online (or `every`, if sooner): a
/// worker connects within a second or two.
const FIRST_LOOK: Duration = Duration::from_secs(2);
/// The shortest window `restart_when_not_consuming` takes: a worker reconnecting after a
/// network blip must not be restarted for it.
pub const MIN_WINDOW: Duration = Duration::from_secs(2);

/// What is watched of an app's queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub queues: Vec<String>,
    /// `restart_when_not_consuming`.
    pub window: Option<Duration>,
    /// Time between looks.
    pub every: Duration,
}

impl Watch {
    /// The watch of an app with `queue`; none without.
    pub fn of(spec: &crate::spec::AppSpec) -> Option<Watch> {
        if spec.queues.is_empty() {
            return None;
        }
        let window = spec.restart_when_not_consuming;
        Some(Watch {
            queues: spec.queues.clone(),
            window,
            every: interval(window),
        })
    }
}

/// Looks come a quarter of the window apart (so the restart comes within 1.25 windows of the
/// loss), between 500ms and `REPORT_EVERY`.
pub fn interval(window: Option<Duration>) -> Duration {
    window.map_or(REPORT_EVERY, |w| {
        (w / 4).clamp(Duration::from_millis(500), REPORT_EVERY)
    })
}

/// What the last look found for one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No look yet in this run.
    Checking,
    Consuming,
    NotConsuming {
        since: Instant,
    },
    /// It cannot be told now, and why.
    Unknown(String),
}

/// The consumption state of the current run.
#[derive(Debug, Clone, Default)]
pub(super) struct Watching {
    online_at: Option<Instant>,
    seen: Vec<Seen>,
    /// Some queue was seen consuming in this run (ending it for not consuming is then no
    /// crash: a run that never consumed counts toward the crash loop).
    consumed: bool,
}

impl Watching {
    pub(super) fn consumed(&self) -> bool {
        self.consumed
    }
}

impl Policy {
    /// The first look of a run that just came online.
    pub(super) fn consumption_arm(&mut self, now: Instant) -> Vec<Effect> {
        let Some(w) = &self.limits.consumption else {
            return vec![];
        };
        self.watching = Watching {
            online_at: Some(now),
            seen: vec![Seen::Checking; w.queues.len()],
            consumed: false,
        };
        vec![Effect::Arm(Timer::Consumption, w.every.min(FIRST_LOOK))]
    }

    /// A look's result: each queue's state updated, and a restart once one has not been
    /// consumed for the window.
    pub(super) fn on_consumption(
        &mut self,
        now: Instant,
        found: Result<Vec<(String, bool)>, String>,
    ) -> Vec<Effect> {
        let Some(w) = self.limits.consumption.clone() else {
            return vec![];
        };
        let online_at = self.watching.online_at.unwrap_or(now);
        for (i, queue) in w.queues.iter().enumerate() {
            let Some(seen) = self.watching.seen.get_mut(i) else {
                continue;
            };
            *seen = match &found {
                Err(why) => Seen::Unknown(why.clone()),
                Ok(list) if list.iter().any(|(q, on)| q == queue && *on) => {
                    self.watching.consumed = true;
                    Seen::Consuming
                }
                Ok(_) => Seen::NotConsuming {
                    since: match seen {
                        Seen::NotConsuming { since } => *since,
                        // Never seen consuming in this run: since it came online.
                        Seen::Checking => online_at,
                        // Lost since the last look (or since Valkey could be read again).
                        Seen::Consuming | Seen::Unknown(_) => now,
                    },
                },
            };
        }
        if let Some(window) = w.window {
            let overdue = w.queues.iter().zip(&self.watching.seen).find(|(_, s)| {
                matches!(s, Seen::NotConsuming { since } if now.saturating_duration_since(*since) >= window)
            });
            if let Some((queue, _)) = overdue {
                let cause = Cause::NotConsuming {
                    queue: queue.clone(),
                    window_ms: window.as_millis() as u64,
                };
                self.reason = Some(format!("restarted: {cause}"));
                return self.begin_stop(AfterStop::Restart(cause));
            }
        }
        vec![Effect::Arm(Timer::Consumption, w.every)]
    }

    /// Each watched queue and what the last look found, while the app is online.
    pub fn consumption(&self) -> Vec<(String, Seen)> {
        match (&self.limits.consumption, self.status) {
            (Some(w), Status::Online) => w
                .queues
                .iter()
                .cloned()
                .zip(self.watching.seen.iter().cloned())
                .collect(),
            _ => vec![],
        }
    }
}
