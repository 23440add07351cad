//! The resolved description of one app instance: what the keeper runs and how it supervises it.
//!
//! Produced by `config::load` from ecosystem.toml, handed to the keeper on stdin, persisted by
//! the keeper as `spec.json`. Everything in it is absolute and final: no defaults left to apply.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One app instance (`name`, or `name-i` when `instances > 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Unique id of this instance: the app name, or `name-i`.
    pub id: String,
    /// The app's name as written in the file.
    pub name: String,
    /// Instance number when the app has several instances.
    pub instance: Option<u32>,
    /// Absolute path of the program to execute.
    pub script: PathBuf,
    pub args: Vec<String>,
    /// Absolute working directory.
    pub cwd: PathBuf,
    /// The complete environment of the app (caller env < env_file < env < tpctl's own variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The environment of the command that first started the app (PM2's captured env): the
    /// lowest layer of `env`, reused by restart, reload and resurrect from any shell until
    /// `--update-env` replaces it. Kept in spec.json (0600) and in `dump-env.toml` (0600),
    /// never in dump.toml.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub captured_env: BTreeMap<String, String>,
    /// Keys of `env` that the file set (env_file or env), as opposed to inherited from the caller.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub env_from_config: BTreeSet<String>,
    /// Where the configured part of `env` came from: `save` stores these references, not the
    /// values, and `resurrect` reads the env files again.
    #[serde(default)]
    pub env_sources: EnvSources,
    /// The ecosystem file this spec came from, if any; `restart NAME` re-reads it.
    pub source: Option<PathBuf>,
    pub restart: RestartSpec,
    /// Restart gracefully when the app's whole process tree uses more than this (bytes of RSS).
    pub max_memory_restart: Option<u64>,
    /// Signal sent to the app's process group to stop it.
    pub kill_signal: i32,
    /// How long after `kill_signal` the group is killed with SIGKILL.
    #[serde(with = "millis")]
    pub kill_timeout: Duration,
    /// Apps (by name) that must be online, or completed for one-shots, before this one starts.
    pub after: Vec<String>,
    /// The BullMQ queues this app consumes.
    pub queues: Vec<String>,
    pub concurrency: Option<u32>,
    /// Where and how the keeper writes the app's output.
    #[serde(default)]
    pub logs: LogSpec,
    /// Started by `tpctl start FILE` (false: only when named, as PM2's `autostart: false`).
    #[serde(default = "yes")]
    pub autostart: bool,
    /// A cron pattern (5 fields, or 6 with seconds first) for graceful restarts, in the
    /// keeper's local time zone (TZ, else /etc/localtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_restart: Option<String>,
    /// Where this app's alerts go and which events raise them (`[alerts]`, with the app's
    /// own `alerts` overrides); `None` when none are configured or the app turns them off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertSpec>,
    /// `notify = true`: the app speaks systemd's sd_notify protocol on `NOTIFY_SOCKET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifySpec>,
    /// `health = { http | tcp | exec, … }`: a check the keeper runs while the app is online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSpec>,
    /// `restart_when_not_consuming`: restart the app when it has held no worker connection on
    /// one of its queues for this long.
    #[serde(default, with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub restart_when_not_consuming: Option<Duration>,
    /// Who the app runs as and what it may do (`user`, `umask`, `no_new_privileges`,
    /// `limit_*`), applied by the keeper between fork and exec.
    #[serde(default)]
    pub privileges: Privileges,
}

/// What the keeper sets up in the child before exec, beyond the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privileges {
    /// Another user to run as (`user`, `group`, `groups`); the keeper must run as root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    /// The file-mode creation mask; unset: the keeper's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// PR_SET_NO_NEW_PRIVS before exec: no setuid program or file capability raises the app.
    #[serde(default = "yes")]
    pub no_new_privileges: bool,
    /// Resource limits set before exec; the others are the keeper's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<ResourceLimit>,
}

impl Default for Privileges {
    fn default() -> Self {
        Privileges {
            account: None,
            umask: None,
            no_new_privileges: true,
            limits: Vec::new(),
        }
    }
}

/// A user and its groups, resolved when the file is read (names and ids both, for display).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
    /// Supplementary groups: the user's own from the group database, or `groups = [...]`.
    pub groups: Vec<u32>,
    /// The user's home directory (the app's HOME unless its env sets one).
    pub home: PathBuf,
}

/// One resource limit: soft and hard, `None` for unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimit {
    pub resource: Resource,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// The resources `limit_*` keys set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Open files (`limit_nofile`, RLIMIT_NOFILE).
    Nofile,
    /// Core dump size in bytes (`limit_core`, RLIMIT_CORE).
    Core,
    /// Processes of the app's user (`limit_nproc`, RLIMIT_NPROC).
    Nproc,
}

impl Resource {
    pub fn rlimit(self) -> nix::sys::resource::Resource {
        use nix::sys::resource::Resource as R;
        match self {
            Resource::Nofile => R::RLIMIT_NOFILE,
            Resource::Core => R::RLIMIT_CORE,
            Resource::Nproc => R::RLIMIT_NPROC,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Resource::Nofile => "limit_nofile",
            Resource::Core => "limit_core",
            Resource::Nproc => "limit_nproc",
        }
    }
}

impl std::fmt::Display for ResourceLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |l: Option<u64>| l.map_or("unlimited".to_string(), |n| n.to_string());
        if self.soft == self.hard {
            write!(f, "{} = {}", self.resource.key(), v(self.soft))
        } else {
            write!(
                f,
                "{} = {}:{}",
                self.resource.key(),
                v(self.soft),
                v(self.hard)
            )
        }
    }
}

/// A health check and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSpec {
    pub check: HealthCheck,
    #[serde(with = "millis")]
    pub every: Duration,
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Consecutive failures that make the app unhealthy enough to restart.
    pub retries: u32,
    /// Failures within this after the app came online do not count.
    #[serde(with = "millis")]
    pub grace: Duration,
    /// false: only report `unhealthy`.
    pub restart: bool,
}

/// What a health check does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthCheck {
    /// GET it; a 2xx or 3xx answer is healthy.
    Http {
        host: String,
        port: u16,
        path: String,
    },
    /// A TCP connection is accepted.
    Tcp { host: String, port: u16 },
    /// The command exits 0.
    Exec { argv: Vec<String> },
}

impl std::fmt::Display for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthCheck::Http { host, port, path } => write!(f, "http://{host}:{port}{path}"),
            HealthCheck::Tcp { host, port } => write!(f, "tcp {host}:{port}"),
            HealthCheck::Exec { argv } => write!(f, "exec {}", argv.join(" ")),
        }
    }
}

/// Readiness and watchdog over sd_notify (`notify = true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifySpec {
    /// `READY=1` must come within this after the program was executed, or the start failed.
    #[serde(with = "millis")]
    pub ready_timeout: Duration,
    /// `WATCHDOG=1` must come at least this often once ready, or the app is restarted.
    #[serde(default, with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<Duration>,
}

/// An app's alerts: what raises them, how often, and where they go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSpec {
    /// The events that raise an alert.
    pub events: Vec<crate::policy::AlertKind>,
    /// At most this many alerts an hour for the app; the rest are counted and said in the next.
    pub max_per_hour: u32,
    /// The same event again within this is counted, not sent.
    #[serde(with = "millis")]
    pub dedup: Duration,
    /// More than `count` restarts within `window` raise `restarts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_rate: Option<RestartRate>,
    /// Online this long after a problem raises `recovered`.
    #[serde(with = "millis")]
    pub recovered_after: Duration,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookSpec>,
    /// Programs run with the alert as JSON on stdin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Vec<String>>,
    /// Email recipients; sent through the SMTP settings of the app's environment
    /// (EMAIL_SERVER_HOST, EMAIL_SERVER_PORT, EMAIL_SERVER_USER, EMAIL_SERVER_PASSWORD,
    /// EMAIL_FROM, as TestPlanIt's email worker reads them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_to: Vec<String>,
}

/// `restart_rate = "5/10m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRate {
    pub count: u32,
    #[serde(with = "millis")]
    pub window: Duration,
}

/// One webhook destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSpec {
    /// The URL as written, or `None` when it comes from the variable `url_env` of the app's
    /// environment (a Slack URL is a secret: keep it in an env file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    pub format: WebhookFormat,
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The alert as a JSON object.
    Json,
    /// `{"text": …}`, Slack's incoming webhooks (and Mattermost, Rocket.Chat).
    Slack,
    /// A MessageCard, Microsoft Teams' incoming webhooks.
    Teams,
    /// `{"content": …}`, Discord's webhooks.
    Discord,
}

impl WebhookFormat {
    pub const ALL: [(&'static str, WebhookFormat); 4] = [
        ("json", WebhookFormat::Json),
        ("slack", WebhookFormat::Slack),
        ("teams", WebhookFormat::Teams),
        ("discord", WebhookFormat::Discord),
    ];
}

fn yes() -> bool {
    true
}

/// Parses a `cron_restart` pattern as the keeper reads it: 5 fields, or 6 with seconds.
pub fn parse_cron(pattern: &str) -> Result<croner::Cron, String> {
    croner::Cron::new(pattern)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("invalid cron_restart {pattern:?}: {}; expected 5 fields (minute hour day month weekday, e.g. \"0 4 * * *\") or 6 with seconds first", e.to_string().trim_end_matches('.')))
}

/// Log files and their rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSpec {
    /// stdout file; `None` is `logs/out.log` in the app's run directory.
    pub out_file: Option<PathBuf>,
    /// stderr file; `None` is `logs/err.log` in the app's run directory.
    pub error_file: Option<PathBuf>,
    /// stdout and stderr into one file (the stdout one).
    pub merge: bool,
    /// Prefix every line with the time it was read.
    pub time: bool,
    /// moment.js-style pattern for that time; `None` is RFC 3339 with milliseconds.
    pub date_format: Option<String>,
    /// Rotate a file before it grows past this; 0 never rotates.
    pub max_size: u64,
    /// Rotated files kept.
    pub keep: u32,
    /// Gzip rotated files.
    pub compress: bool,
    /// Also rotate on the clock: `daily` at local midnight, `hourly` on the hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_every: Option<RotateEvery>,
}

/// Rotation on the clock (`log_rotate`), in the keeper's local time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotateEvery {
    Daily,
    Hourly,
}

impl RotateEvery {
    /// The cron pattern of the moment a rotation is due.
    pub fn pattern(self) -> &'static str {
        match self {
            RotateEvery::Daily => "0 0 * * *",
            RotateEvery::Hourly => "0 * * * *",
        }
    }
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            out_file: None,
            error_file: None,
            merge: false,
            time: false,
            date_format: None,
            max_size: crate::config::defaults::LOG_MAX_SIZE,
            keep: crate::config::defaults::LOG_KEEP,
            compress: false,
            rotate_every: None,
        }
    }
}

/// The configured layers of an app's environment, lowest first after the caller's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSources {
    /// `env_file`s, `[defaults]`'s first.
    pub files: Vec<EnvFileRef>,
    /// The `env` tables (defaults, then the app's) and tpctl's own variables.
    pub table: BTreeMap<String, String>,
}

/// One env file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvFileRef {
    pub path: PathBuf,
    /// A missing optional file is skipped.
    #[serde(default)]
    pub optional: bool,
}

impl EnvSources {
    /// The full environment, `caller` < env files (read now) < table, and the keys the
    /// configuration set.
    pub fn layer(
        &self,
        caller: &BTreeMap<String, String>,
    ) -> Result<(BTreeMap<String, String>, BTreeSet<String>), String> {
        let mut files = Vec::new();
        let mut configured: BTreeSet<String> = self.table.keys().cloned().collect();
        for f in &self.files {
            if f.optional && !f.path.exists() {
                continue;
            }
            let pairs = crate::config::env::read_env_file(&f.path)?;
            configured.extend(pairs.iter().map(|(k, _)| k.clone()));
            files.push(pairs);
        }
        Ok((
            crate::config::env::layer(caller, &files, &self.table, &[]),
            configured,
        ))
    }
}

/// The restart policy inputs; see `policy.rs` for what they mean together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartSpec {
    /// `false` makes the app a one-shot: it ends `completed` or `failed` and is not restarted.
    pub autorestart: bool,
    /// Consecutive runs shorter than `min_uptime` after which the app is `errored`.
    pub max_restarts: u32,
    #[serde(with = "millis")]
    pub min_uptime: Duration,
    #[serde(with = "millis")]
    pub restart_delay: Duration,
    /// First delay of the exponential back-off; `None` means a fixed `restart_delay`.
    #[serde(default, with = "opt_millis")]
    pub exp_backoff_restart_delay: Option<Duration>,
    /// Exit codes that mean "done, do not restart".
    pub stop_exit_codes: Vec<i32>,
    /// A one-shot that other apps run `after`: a failure is retried with the exponential
    /// back-off (`max_restarts` failures in a row at most) until it completes.
    #[serde(default)]
    pub retry_until_complete: bool,
}

impl AppSpec {
    /// True for apps that run to completion instead of being kept alive.
    pub fn is_one_shot(&self) -> bool {
        !self.restart.autorestart
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_millis))
    }
}
