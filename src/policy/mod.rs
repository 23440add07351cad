//! The supervision decisions for one app instance, as a pure state machine.
//!
//! `Policy::on(now, event)` returns the effects the keeper must carry out. No clock, no I/O, no
//! tokio: every rule (restart or not, delay, back-off, crash-loop limit, memory limit, stop
//! escalation) is tested as a table with `now` as an argument.

use std::time::{Duration, Instant};

use crate::config::defaults::EXP_BACKOFF_CAP;

mod checks;
pub mod consumption;
mod kinds;
mod restarts;

pub use kinds::*;

/// What to do once a stopping app's group is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterStop {
    Stay,
    Restart(Cause),
    /// The app exited by itself and left processes behind: decide as for an exit once they are gone.
    Decide,
}

/// The state machine of one app instance.
#[derive(Debug, Clone)]
pub struct Policy {
    limits: Limits,
    status: Status,
    started_at: Option<Instant>,
    after_stop: AfterStop,
    /// Consecutive runs shorter than `min_uptime`.
    unstable_runs: u32,
    /// The delay used for the last back-off restart, doubled for the next unstable one.
    backoff: Option<Duration>,
    restarts: u32,
    last_exit: Option<Exit>,
    reason: Option<String>,
    /// Why the last run ended, in a few words (`status` shows it).
    cause: Option<String>,
    /// The current stop had to SIGKILL the group after `kill_timeout`.
    killed: bool,
    /// When the recent restarts happened (for `restart_rate`).
    recent_restarts: std::collections::VecDeque<Instant>,
    /// A problem was alerted and the app has not been stable since.
    problem_open: bool,
    /// The current launch's program was executed (with `notify`: it may still not be ready).
    spawned: bool,
    /// Health checks of the current run: consecutive failures, the last verdict, since when
    /// it has been passing, and whether it passed long enough to count as a stable run.
    health_failures: u32,
    health: Option<Result<(), String>>,
    healthy_since: Option<Instant>,
    healthy_stable: bool,
    /// Whether the current run consumes its queues.
    watching: consumption::Watching,
}

impl Policy {
    pub fn new(limits: Limits) -> Self {
        Policy {
            limits,
            status: Status::Stopped,
            started_at: None,
            after_stop: AfterStop::Stay,
            unstable_runs: 0,
            backoff: None,
            restarts: 0,
            last_exit: None,
            reason: None,
            cause: None,
            killed: false,
            recent_restarts: Default::default(),
            problem_open: false,
            spawned: false,
            health_failures: 0,
            health: None,
            healthy_since: None,
            healthy_stable: false,
            watching: Default::default(),
        }
    }

    /// A new keeper of an app that was errored, failed or lost: its next stable run is a
    /// recovery.
    pub fn set_problem_open(&mut self, open: bool) {
        self.problem_open = open;
    }

    pub fn status(&self) -> Status {
        self.status
    }
    /// Number of restarts since the app was started by an operator.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
    pub fn last_exit(&self) -> Option<Exit> {
        self.last_exit
    }
    /// Why the app is errored, failed or stopped by itself, in words.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
    /// Why the last run ended, in a few words: `memory limit`, `crashed (exit 1)`,
    /// `SIGKILL after kill_timeout`, ...; while the group's leftovers of a main process that
    /// exited by itself are being stopped, that.
    pub fn cause(&self) -> Option<String> {
        if self.status == Status::Waiting {
            return self.reason.clone();
        }
        if self.status == Status::Stopping && self.after_stop == AfterStop::Decide {
            let exit = self.last_exit.map(short_exit).unwrap_or_default();
            return Some(format!(
                "main process ended ({exit}); stopping its leftovers"
            ));
        }
        self.cause.clone()
    }
    /// When the current run started, if one is running.
    pub fn started_at(&self) -> Option<Instant> {
        self.started_at
    }
    /// Replace the limits (a restart with a re-read ecosystem file).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Applies one event at time `now` and returns the effects to carry out, in order.
    pub fn on(&mut self, now: Instant, event: Event) -> Vec<Effect> {
        use Status::*;
        match (self.status, event) {
            (Stopped | Errored | Completed | Failed | Lost, Event::Start | Event::Restart) => {
                self.reset_counters();
                self.launch_when_ready()
            }
            (Waiting, Event::Start | Event::Restart) => vec![],
            (Waiting, Event::Stop) => {
                self.status = Stopped;
                self.reason = None;
                vec![Effect::Disarm(Timer::Dependencies)]
            }
            (Waiting, Event::DependenciesMet) => {
                self.reason = None;
                let mut fx = vec![Effect::Disarm(Timer::Dependencies)];
                fx.extend(self.launch());
                fx
            }
            (Waiting, Event::DependenciesPending { reason }) => {
                self.reason = Some(format!("for {reason}"));
                vec![Effect::Arm(Timer::Dependencies, DEPENDENCY_POLL)]
            }
            (Waiting, Event::Timer(Timer::Dependencies)) => vec![Effect::CheckDependencies],
            (Launching | Online, Event::Start) => vec![],
            (WaitingRestart, Event::Start) => vec![],
            (Stopping, Event::Start) => {
                self.after_stop = AfterStop::Restart(Cause::Manual);
                vec![]
            }

            (Launching | Online, Event::Stop) => self.begin_stop(AfterStop::Stay),
            (WaitingRestart, Event::Stop) => {
                self.status = Stopped;
                vec![Effect::Disarm(Timer::Restart)]
            }
            (Stopping, Event::Stop) => {
                self.after_stop = AfterStop::Stay;
                vec![]
            }
            (Stopped | Errored | Completed | Failed | Lost, Event::Stop) => vec![],

            (Launching | Online, Event::Restart) => {
                self.begin_stop(AfterStop::Restart(Cause::Manual))
            }
            (WaitingRestart, Event::Restart) => {
                self.unstable_runs = 0;
                self.backoff = None;
                let mut fx = vec![Effect::Disarm(Timer::Restart)];
                fx.extend(self.launch_when_ready());
                fx
            }
            (Launching | Online, Event::ScheduledRestart) => {
                self.begin_stop(AfterStop::Restart(Cause::Scheduled))
            }
            (Stopping, Event::Restart) => {
                self.after_stop = AfterStop::Restart(Cause::Manual);
                vec![]
            }

            (Launching, Event::Spawned) if self.limits.notify.is_some() && !self.spawned => {
                // Executed, not yet ready: `launching` until READY=1.
                self.spawned = true;
                self.started_at = Some(now);
                self.reason = None;
                let timeout = self
                    .limits
                    .notify
                    .map_or(Duration::ZERO, |n| n.ready_timeout);
                vec![Effect::Arm(Timer::Ready, timeout)]
            }
            (Launching, Event::Ready) if self.spawned => {
                self.status = Online;
                let mut fx = vec![Effect::Disarm(Timer::Ready)];
                fx.extend(self.health_arm());
                fx.extend(self.consumption_arm(now));
                if let Some(w) = self.limits.notify.and_then(|n| n.watchdog) {
                    fx.push(Effect::Arm(Timer::Watchdog, w));
                }
                if self.problem_open {
                    fx.push(Effect::Arm(Timer::Recovered, self.limits.recovered_after));
                }
                fx
            }
            (Launching, Event::Timer(Timer::Ready)) if self.spawned => {
                let after_ms = self
                    .limits
                    .notify
                    .map_or(0, |n| n.ready_timeout.as_millis() as u64);
                let cause = Cause::NotReady { after_ms };
                self.reason = Some(cause.to_string());
                self.begin_stop(AfterStop::Restart(cause))
            }
            (Online, Event::WatchdogPing) => match self.limits.notify.and_then(|n| n.watchdog) {
                Some(w) => vec![Effect::Arm(Timer::Watchdog, w)],
                None => vec![],
            },
            (Online, Event::Timer(Timer::Watchdog)) => {
                let window_ms = self
                    .limits
                    .notify
                    .and_then(|n| n.watchdog)
                    .map_or(0, |w| w.as_millis() as u64);
                self.begin_stop(AfterStop::Restart(Cause::Watchdog { window_ms }))
            }
            (Launching, Event::Spawned) => {
                self.status = Online;
                self.started_at = Some(now);
                self.reason = None;
                let mut fx = self.health_arm();
                fx.extend(self.consumption_arm(now));
                if self.problem_open {
                    fx.push(Effect::Arm(Timer::Recovered, self.limits.recovered_after));
                }
                fx
            }
            (Online, Event::Timer(Timer::Health)) => self.health_due(),
            (Online, Event::Health { ok, detail }) => self.on_health(now, ok, detail),
            (Online, Event::Timer(Timer::Consumption)) => vec![Effect::CheckConsumption],
            (Online, Event::Consumption(found)) => self.on_consumption(now, found),
            (Online, Event::Timer(Timer::Recovered)) if self.problem_open => {
                self.problem_open = false;
                vec![Effect::Alert {
                    kind: AlertKind::Recovered,
                    detail: format!(
                        "online for {}",
                        crate::config::units::format_duration(self.limits.recovered_after)
                    ),
                }]
            }
            (Launching, Event::SpawnFailed { reason }) => {
                self.status = Errored;
                self.started_at = None;
                self.reason = Some(reason.clone());
                vec![self.alert(AlertKind::StartFailed, reason)]
            }

            (Online, Event::Memory { rss_bytes }) => match self.limits.max_memory_bytes {
                Some(limit) if rss_bytes > limit => {
                    let cause = Cause::Memory {
                        rss_bytes,
                        limit_bytes: limit,
                    };
                    let alert = Effect::Alert {
                        kind: AlertKind::Memory,
                        detail: format!("restarted: {cause}"),
                    };
                    let mut fx = self.begin_stop(AfterStop::Restart(cause));
                    fx.push(alert);
                    fx
                }
                _ => vec![],
            },

            (Stopping, Event::Timer(Timer::Kill)) => {
                self.killed = true;
                vec![Effect::KillGroup]
            }
            (WaitingRestart, Event::Timer(Timer::Restart)) => self.launch(),

            (Online | Launching, Event::Leftovers { exit }) => {
                self.last_exit = Some(exit);
                self.begin_stop(AfterStop::Decide)
            }
            (Online | Launching, Event::Ended { exit }) => {
                let mut fx = self.notify_disarms();
                fx.extend(self.on_unexpected_end(now, exit));
                fx
            }
            (Stopping, Event::Ended { exit }) if self.after_stop == AfterStop::Decide => {
                self.after_stop = AfterStop::Stay;
                let mut fx = vec![Effect::Disarm(Timer::Kill)];
                fx.extend(self.on_unexpected_end(now, exit));
                fx
            }
            (Stopping, Event::Ended { exit }) => self.on_stopped(now, exit),

            // Late timers, samples of a stopping app, events that do not apply in this state.
            _ => vec![],
        }
    }

    /// An alert for a problem: a later stable run is a recovery.
    fn alert(&mut self, kind: AlertKind, detail: String) -> Effect {
        if kind.opens_problem() {
            self.problem_open = true;
        }
        Effect::Alert { kind, detail }
    }

    /// Counts a restart that the app did not ask for (not an operator's or cron's); the one
    /// that goes over `restart_rate` raises an alert.
    fn count_restart(&mut self, now: Instant) -> Option<Effect> {
        let (limit, window) = self.limits.restart_rate?;
        self.recent_restarts.push_back(now);
        while self
            .recent_restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.recent_restarts.pop_front();
        }
        (self.recent_restarts.len() == limit as usize + 1).then(|| {
            self.alert(
                AlertKind::Restarts,
                format!(
                    "{} restarts within {}, last: {}",
                    self.recent_restarts.len(),
                    crate::config::units::format_duration(window),
                    self.cause.clone().unwrap_or_default()
                ),
            )
        })
    }

    fn reset_counters(&mut self) {
        self.unstable_runs = 0;
        self.backoff = None;
        self.restarts = 0;
        self.reason = None;
    }

    fn launch(&mut self) -> Vec<Effect> {
        self.status = Status::Launching;
        self.after_stop = AfterStop::Stay;
        self.spawned = false;
        self.health_failures = 0;
        self.health = None;
        self.healthy_since = None;
        self.healthy_stable = false;
        self.watching = Default::default();
        vec![Effect::Spawn]
    }

    /// An operator's start or restart: an app that runs `after` others waits for them first
    /// (restarts after a crash, the memory limit or cron do not: what it needed was there).
    fn launch_when_ready(&mut self) -> Vec<Effect> {
        if !self.limits.has_after {
            return self.launch();
        }
        self.status = Status::Waiting;
        self.after_stop = AfterStop::Stay;
        self.reason = None;
        vec![Effect::CheckDependencies]
    }

    fn begin_stop(&mut self, after: AfterStop) -> Vec<Effect> {
        self.status = Status::Stopping;
        self.killed = false;
        self.after_stop = after;
        let mut fx = vec![
            Effect::Signal(self.limits.kill_signal),
            Effect::Arm(Timer::Kill, self.limits.kill_timeout),
        ];
        fx.extend(self.notify_disarms());
        fx
    }

    fn uptime(&self, now: Instant) -> Duration {
        self.started_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }

    /// The app was stopped on purpose (stop, restart, memory limit) and its group is gone.
    fn on_stopped(&mut self, now: Instant, exit: Exit) -> Vec<Effect> {
        let uptime = self.uptime(now);
        self.last_exit = Some(exit);
        self.started_at = None;
        let mut fx = vec![Effect::Disarm(Timer::Kill)];
        let after = std::mem::replace(&mut self.after_stop, AfterStop::Stay);
        let why = match &after {
            AfterStop::Restart(Cause::Memory { .. }) => "memory limit",
            AfterStop::Restart(Cause::Scheduled) => "restarted by cron_restart",
            AfterStop::Restart(Cause::NotReady { .. }) => "not ready in time",
            AfterStop::Restart(Cause::Watchdog { .. }) => "watchdog",
            AfterStop::Restart(Cause::Health { .. }) => "health check",
            AfterStop::Restart(Cause::NotConsuming { .. }) => "queue not consumed",
            AfterStop::Restart(_) => "restarted",
            AfterStop::Stay | AfterStop::Decide => "stopped",
        };
        self.cause = Some(if self.killed {
            format!("{why}, SIGKILL after kill_timeout")
        } else {
            why.to_string()
        });
        match after {
            AfterStop::Stay | AfterStop::Decide => self.status = Status::Stopped,
            // The app failed to do its part: a failed run, under the crash-loop and back-off
            // rules of any failure.
            AfterStop::Restart(
                cause @ (Cause::NotReady { .. }
                | Cause::Watchdog { .. }
                | Cause::Health { .. }
                | Cause::NotConsuming { .. }),
            ) => {
                let words = match &cause {
                    Cause::NotReady { .. } => "not ready".to_string(),
                    Cause::Health { .. } => "health check".to_string(),
                    Cause::NotConsuming { .. } => "not consuming".to_string(),
                    _ => "watchdog".to_string(),
                };
                fx.extend(self.failed_run(now, uptime, cause, words));
            }
            AfterStop::Restart(cause) => {
                self.restarts += 1;
                let manual = cause == Cause::Manual;
                if matches!(cause, Cause::Memory { .. }) {
                    fx.extend(self.count_restart(now));
                }
                fx.push(Effect::Record { cause, uptime });
                fx.extend(if manual {
                    self.launch_when_ready()
                } else {
                    self.launch()
                });
            }
        }
        fx
    }

    /// The app exited by itself: restart, give up, or finish, by the rules in `RestartSpec`.
    fn on_unexpected_end(&mut self, now: Instant, exit: Exit) -> Vec<Effect> {
        let uptime = self.uptime(now);
        self.last_exit = Some(exit);
        self.started_at = None;
        self.cause = Some(match exit {
            Exit::Code(0) => "exited (code 0)".to_string(),
            Exit::Code(_) => format!("crashed ({})", short_exit(exit)),
            Exit::Signal(_) => format!("killed by {}", short_exit(exit)),
        });
        let spec = &self.limits.restart;

        if !spec.autorestart {
            if exit == Exit::Code(0) {
                self.status = Status::Completed;
                self.reason = None;
                return vec![];
            }
            if !spec.retry_until_complete {
                self.status = Status::Failed;
                self.reason = Some(exit.to_string());
                return vec![self.alert(AlertKind::Failed, exit.to_string())];
            }
            return self.retry_one_shot(now, uptime, exit);
        }
        if let Exit::Code(code) = exit
            && spec.stop_exit_codes.contains(&code)
        {
            self.status = Status::Stopped;
            self.reason = Some(format!("exited with {code}, listed in stop_exit_codes"));
            return vec![];
        }

        self.failed_run(now, uptime, Cause::Exit { exit }, short_exit(exit))
    }
}

/// How soon the keeper samples the app's memory again. Only apps with a limit are sampled on a
/// timer (others when someone asks for their status), every second while well under the limit
/// and every quarter second from three quarters of it: 200 idle keepers cost nothing, and a
/// growing app is caught within about a quarter second of crossing.
pub fn sample_interval(rss_bytes: Option<u64>, limit_bytes: Option<u64>) -> Option<Duration> {
    let limit = limit_bytes?;
    match rss_bytes {
        Some(rss) if rss >= limit / 4 * 3 => Some(Duration::from_millis(250)),
        _ => Some(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod after_tests;

#[cfg(test)]
mod notify_tests;

#[cfg(test)]
mod health_tests;

#[cfg(test)]
mod consumption_tests;
