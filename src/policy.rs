//! The supervision decisions for one app instance, as a pure state machine.
//!
//! `Policy::on(now, event)` returns the effects the keeper must carry out. No clock, no I/O, no
//! tokio: every rule (restart or not, delay, back-off, crash-loop limit, memory limit, stop
//! escalation) is tested as a table with `now` as an argument.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::defaults::EXP_BACKOFF_CAP;
use crate::spec::RestartSpec;

/// Where an app instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Started by an operator, waiting for the apps it runs `after` (online, or completed for
    /// one-shots) before it is spawned.
    Waiting,
    /// Being spawned.
    Launching,
    /// Its program was executed and is running.
    Online,
    /// Told to stop; waiting for its process group to exit.
    Stopping,
    /// Not running, on purpose.
    Stopped,
    /// Exited; will be started again when the restart delay ends.
    WaitingRestart,
    /// Gave up: crash loop, or the program cannot be executed.
    Errored,
    /// A one-shot app that exited 0.
    Completed,
    /// A one-shot app that exited non-zero or was killed.
    Failed,
    /// Its keeper died without settling the app (killed with SIGKILL, say). Never produced by
    /// the policy: the client finds it, and the app died with its keeper.
    Lost,
}

impl Status {
    /// True when nothing more will happen without an operator.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Status::Stopped | Status::Errored | Status::Completed | Status::Failed | Status::Lost
        )
    }

    /// The word shown in status listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Launching => "launching",
            Status::Online => "online",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::WaitingRestart => "waiting-restart",
            Status::Errored => "errored",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Lost => "lost",
        }
    }
}

/// How the app's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by {}", crate::config::units::signal_name(*s)),
        }
    }
}

/// `exit 1`, `SIGSEGV`: an exit in a word or two.
pub fn short_exit(exit: Exit) -> String {
    match exit {
        Exit::Code(c) => format!("exit {c}"),
        Exit::Signal(s) => crate::config::units::signal_name(s),
    }
}

/// Why a run ended and another began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The app exited by itself.
    Exit { exit: Exit },
    /// Its process tree used more memory than `max_memory_restart`.
    Memory { rss_bytes: u64, limit_bytes: u64 },
    /// An operator asked (`tpctl restart`).
    Manual,
    /// `cron_restart` came due.
    Scheduled,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Exit { exit } => write!(f, "{exit}"),
            Cause::Memory {
                rss_bytes,
                limit_bytes,
            } => {
                write!(
                    f,
                    "memory {} MiB over the {} MiB limit",
                    rss_bytes >> 20,
                    limit_bytes >> 20
                )
            }
            Cause::Manual => f.write_str("manual restart"),
            Cause::Scheduled => f.write_str("scheduled restart (cron_restart)"),
        }
    }
}

/// Something that happened to the app or was asked of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The operator wants it running.
    Start,
    /// The operator wants it stopped.
    Stop,
    /// The operator wants a fresh run.
    Restart,
    /// `cron_restart` is due: a graceful restart if the app is running, else nothing.
    ScheduledRestart,
    /// The program was executed.
    Spawned,
    /// The program could not be executed (missing, not executable, bad cwd...).
    SpawnFailed { reason: String },
    /// The main process exited but other processes of its group are still alive.
    Leftovers { exit: Exit },
    /// The main process exited and every process of its group is gone.
    Ended { exit: Exit },
    /// A sample of the whole process tree's resident memory.
    Memory { rss_bytes: u64 },
    /// A timer armed by an earlier effect fired.
    Timer(Timer),
    /// Every app it runs `after` is online (or completed, for a one-shot).
    DependenciesMet,
    /// Not yet; `reason` says which and why (`scheduler: failed (exit 1: …); retrying`).
    DependenciesPending { reason: String },
}

/// What a person may need to know about an app: the events alerts are sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A crash loop ended in `errored`.
    Errored,
    /// A one-shot failed for good.
    Failed,
    /// The program could not be executed.
    StartFailed,
    /// A restart because of the memory limit.
    Memory,
    /// Its keeper died and the app with it (found by the next tpctl command that looks).
    Lost,
    /// More restarts than `restart_rate` allows.
    Restarts,
    /// Up again, for `recovered_after`, after one of the problems above.
    Recovered,
    /// `tpctl alerts test`.
    Test,
}

impl AlertKind {
    /// Every kind an `[alerts]` table may name, as written there.
    pub const NAMED: [AlertKind; 7] = [
        AlertKind::Errored,
        AlertKind::Failed,
        AlertKind::StartFailed,
        AlertKind::Memory,
        AlertKind::Lost,
        AlertKind::Restarts,
        AlertKind::Recovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Errored => "errored",
            AlertKind::Failed => "failed",
            AlertKind::StartFailed => "start_failed",
            AlertKind::Memory => "memory",
            AlertKind::Lost => "lost",
            AlertKind::Restarts => "restarts",
            AlertKind::Recovered => "recovered",
            AlertKind::Test => "test",
        }
    }

    /// True for the problems a later `Recovered` answers.
    pub fn opens_problem(self) -> bool {
        matches!(
            self,
            AlertKind::Errored
                | AlertKind::Failed
                | AlertKind::StartFailed
                | AlertKind::Lost
                | AlertKind::Restarts
        )
    }
}

/// The timers the policy arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The restart delay is over.
    Restart,
    /// `kill_timeout` after the stop signal: escalate to SIGKILL.
    Kill,
    /// Look at the apps it runs `after` again.
    Dependencies,
    /// Online for `recovered_after` since a problem: it has recovered.
    Recovered,
}

/// What the keeper must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start a new run of the program.
    Spawn,
    /// Send this signal to the app's process group.
    Signal(i32),
    /// SIGKILL the whole process group.
    KillGroup,
    Arm(Timer, Duration),
    Disarm(Timer),
    /// A run ended and a new one follows (or is scheduled): record it in the ledger.
    Record {
        cause: Cause,
        uptime: Duration,
    },
    /// Find out whether the apps it runs `after` are up; answer with `DependenciesMet` or
    /// `DependenciesPending`.
    CheckDependencies,
    /// Tell a person (the keeper hands it to the alert queue, which filters and sends it).
    Alert {
        kind: AlertKind,
        detail: String,
    },
}

/// The limits the policy works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub restart: RestartSpec,
    pub max_memory_bytes: Option<u64>,
    pub kill_signal: i32,
    pub kill_timeout: Duration,
    /// It runs `after` other apps: an operator's start or restart waits for them.
    pub has_after: bool,
    /// More than this many restarts within the window raise a `Restarts` alert.
    pub restart_rate: Option<(u32, Duration)>,
    /// Online this long after a problem raises `Recovered`.
    pub recovered_after: Duration,
}

/// How often a waiting app looks at the apps it runs `after` again.
pub const DEPENDENCY_POLL: Duration = Duration::from_millis(250);

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

            (Launching, Event::Spawned) => {
                self.status = Online;
                self.started_at = Some(now);
                self.reason = None;
                if self.problem_open {
                    vec![Effect::Arm(Timer::Recovered, self.limits.recovered_after)]
                } else {
                    vec![]
                }
            }
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
            (Online | Launching, Event::Ended { exit }) => self.on_unexpected_end(now, exit),
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
        vec![
            Effect::Signal(self.limits.kill_signal),
            Effect::Arm(Timer::Kill, self.limits.kill_timeout),
        ]
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

        let stable = uptime >= spec.min_uptime;
        if stable {
            self.unstable_runs = 0;
            self.backoff = None;
        } else {
            self.unstable_runs += 1;
            if self.unstable_runs >= spec.max_restarts {
                self.status = Status::Errored;
                self.cause = Some(format!("crash loop ({})", short_exit(exit)));
                let reason = format!(
                    "crash loop: {} consecutive runs shorter than min_uptime ({} ms), last {exit}",
                    self.unstable_runs,
                    spec.min_uptime.as_millis()
                );
                self.reason = Some(reason.clone());
                return vec![self.alert(AlertKind::Errored, reason)];
            }
        }

        let delay = match spec.exp_backoff_restart_delay {
            Some(base) => {
                let next = match self.backoff {
                    Some(prev) => (prev * 2).min(EXP_BACKOFF_CAP),
                    None => base,
                };
                self.backoff = Some(next);
                next
            }
            None => spec.restart_delay,
        };

        self.restarts += 1;
        let mut fx: Vec<Effect> = self.count_restart(now).into_iter().collect();
        fx.push(Effect::Record {
            cause: Cause::Exit { exit },
            uptime,
        });
        if delay.is_zero() {
            fx.extend(self.launch());
        } else {
            self.status = Status::WaitingRestart;
            fx.push(Effect::Arm(Timer::Restart, delay));
        }
        fx
    }
}

impl Policy {
    /// A one-shot that others need failed: run it again after the back-off, until it
    /// completes or has failed `max_restarts` times in a row.
    fn retry_one_shot(&mut self, now: Instant, uptime: Duration, exit: Exit) -> Vec<Effect> {
        let spec = &self.limits.restart;
        self.unstable_runs += 1;
        if self.unstable_runs >= spec.max_restarts {
            self.status = Status::Failed;
            let reason = format!(
                "{exit}, failed {} times in a row (max_restarts); `tpctl restart` tries again",
                self.unstable_runs
            );
            self.reason = Some(reason.clone());
            return vec![self.alert(AlertKind::Failed, reason)];
        }
        let base = spec
            .exp_backoff_restart_delay
            .unwrap_or(crate::config::defaults::ONE_SHOT_RETRY_BASE);
        let delay = match self.backoff {
            Some(prev) => (prev * 2).min(EXP_BACKOFF_CAP),
            None => base,
        };
        self.backoff = Some(delay);
        self.restarts += 1;
        self.status = Status::WaitingRestart;
        self.cause = Some(format!(
            "failed ({}), retry in {}",
            short_exit(exit),
            crate::config::units::format_duration(delay)
        ));
        self.reason = Some(format!(
            "{exit}; retrying in {}, failure {} of {}",
            crate::config::units::format_duration(delay),
            self.unstable_runs,
            spec.max_restarts
        ));
        let mut fx: Vec<Effect> = self.count_restart(now).into_iter().collect();
        fx.push(Effect::Record {
            cause: Cause::Exit { exit },
            uptime,
        });
        fx.push(Effect::Arm(Timer::Restart, delay));
        fx
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
#[path = "policy_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "policy_after_tests.rs"]
mod after_tests;
