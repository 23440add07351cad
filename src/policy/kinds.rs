//! The policy's vocabulary: statuses, exits and causes, the events it reacts to, the effects
//! it asks for, the timers it arms and the limits it works within.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// `notify = true` and no READY=1 within `ready_timeout`.
    NotReady { after_ms: u64 },
    /// `watchdog`: no WATCHDOG=1 for this long.
    Watchdog { window_ms: u64 },
    /// `health`: `retries` failed checks in a row; the last one's reason.
    Health { detail: String },
    /// `restart_when_not_consuming`: no worker connection on `queue` for the window.
    NotConsuming { queue: String, window_ms: u64 },
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
            Cause::NotReady { after_ms } => write!(
                f,
                "not ready: no READY=1 within {}",
                crate::config::units::format_duration(Duration::from_millis(*after_ms))
            ),
            Cause::Health { detail } => write!(f, "health check: {detail}"),
            Cause::NotConsuming { queue, window_ms } => write!(
                f,
                "not consuming queue {queue} for {}",
                crate::config::units::format_duration(Duration::from_millis(*window_ms))
            ),
            Cause::Watchdog { window_ms } => write!(
                f,
                "watchdog: no WATCHDOG=1 for {}",
                crate::config::units::format_duration(Duration::from_millis(*window_ms))
            ),
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
    /// The app sent READY=1 (sd_notify).
    Ready,
    /// The app sent WATCHDOG=1.
    WatchdogPing,
    /// A health check ended: passed, or why not.
    Health { ok: bool, detail: String },
    /// Which of its queues the app holds a worker connection on, as Valkey's client list
    /// shows; or why that cannot be told now (Valkey unreachable, …).
    Consumption(Result<Vec<(String, bool)>, String>),
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
    /// `ready_timeout` after the spawn of an app with `notify = true`.
    Ready,
    /// `watchdog` since the last WATCHDOG=1 (or READY=1).
    Watchdog,
    /// The next health check is due.
    Health,
    /// The next look at the app's queue connections is due.
    Consumption,
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
    /// Run the health check; answer with `Event::Health`.
    CheckHealth,
    /// Look whether the app consumes its queues; answer with `Event::Consumption`.
    CheckConsumption,
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
    /// `notify = true`: online only once it sends READY=1, and watched if `watchdog` is set.
    pub notify: Option<crate::spec::NotifySpec>,
    /// `health`: checked while online.
    pub health: Option<crate::spec::HealthSpec>,
    /// `queue`: its consumption is watched while online.
    pub consumption: Option<super::consumption::Watch>,
}

impl Limits {
    /// The limits an app's spec sets.
    pub fn of(spec: &crate::spec::AppSpec) -> Limits {
        Limits {
            restart: spec.restart.clone(),
            max_memory_bytes: spec.max_memory_restart,
            kill_signal: spec.kill_signal,
            kill_timeout: spec.kill_timeout,
            has_after: !spec.after.is_empty(),
            restart_rate: spec
                .alerts
                .as_ref()
                .and_then(|a| a.restart_rate)
                .map(|r| (r.count, r.window)),
            recovered_after: spec
                .alerts
                .as_ref()
                .map_or(crate::config::alerts::RECOVERED_AFTER, |a| {
                    a.recovered_after
                }),
            notify: spec.notify,
            health: spec.health.clone(),
            consumption: super::consumption::Watch::of(spec),
        }
    }
}

/// How often a waiting app looks at the apps it runs `after` again.
pub const DEPENDENCY_POLL: Duration = Duration::from_millis(250);
