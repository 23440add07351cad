//! Every command, flag and help text of tpctl, defined once with clap; help, man pages and
//! completions are derived from here.

use clap::{Args, Parser, Subcommand};

/// Runs TestPlanIt's background workers: one small keeper per app, PM2's verbs.
#[derive(Debug, Parser)]
#[command(name = "tpctl", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Examples:\n  tpctl start                 start ./ecosystem.toml\n  tpctl status                list every app\n  tpctl restart email-worker  restart one app with its file re-read\n\nExit codes: 0 success, 1 an operation failed, 2 usage or configuration error.\nEnvironment: TPCTL_HOME (run directory, default ~/.tpctl), NO_COLOR."
)]
pub struct Cli {
    /// Print only what went wrong: no progress lines, no `✓` lines, no tables after an
    /// action (what a command is asked to show, such as `status`, is shown).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Targets of a lifecycle command: app names, instance ids (`web-1`), `all`, or ecosystem files.
#[derive(Debug, Args)]
pub struct Targets {
    /// App names, numbers, instance ids, `all`, or paths to ecosystem files.
    #[arg(value_name = "FILE|NAME", add = clap_complete::engine::ArgValueCompleter::new(crate::commands::generate::app_names))]
    pub targets: Vec<String>,
    /// Only these apps (comma-separated names) of the files or apps given, as PM2's --only;
    /// with nothing else given, of ./ecosystem.toml.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub only: Vec<String>,
    /// Replace the environment recorded at each app's first start with this shell's, and say
    /// which variables changed (the ecosystem file and env files are read again either way).
    #[arg(long)]
    pub update_env: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to every destination now and print each one's answer.
    Test {
        /// The ecosystem file whose [alerts] to test (default ./ecosystem.toml).
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub targets: Targets,
    /// Each output line as a JSON object (`time`, `app`, `stream`, `line`) instead of
    /// `name | line`.
    #[arg(long)]
    pub json: bool,
}

/// How `status` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    Id,
    Name,
    Status,
    Memory,
    Cpu,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub output: Output,
    /// Show each app's ecosystem file (a column shown anyway when the apps come from several).
    #[arg(long, short)]
    pub wide: bool,
    /// Order of the rows: by number (PM2's order), name, status, memory or cpu (the largest
    /// first).
    #[arg(long, value_enum, default_value_t = SortKey::Id)]
    pub sort: SortKey,
    /// A probe (Kubernetes liveness/readiness, a monitoring check): exit 0 only when every
    /// known app is online, completed (a one-shot) or stopped by an operator; else list the
    /// others and exit 1.
    #[arg(long, conflicts_with_all = ["json", "wide"])]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print machine-readable JSON (fields documented in README).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start apps from an ecosystem file (default ./ecosystem.toml) or by name.
    #[command(
        after_help = "Examples:\n  tpctl start\n  tpctl start deploy/ecosystem.toml\n  tpctl start email-worker\n\nApps start in `after` order; a one-shot (autorestart = false) runs to completion before its dependents. Starting a running app leaves it running."
    )]
    Start(Targets),
    /// Stop apps gracefully: kill_signal to the process group, SIGKILL after kill_timeout.
    #[command(after_help = "Examples:\n  tpctl stop email-worker\n  tpctl stop all")]
    Stop(Targets),
    /// Restart apps; their ecosystem file and env files are read again.
    #[command(
        after_help = "Examples:\n  tpctl restart all\n  tpctl restart ecosystem.toml\n  tpctl restart forecast-worker"
    )]
    Restart(Targets),
    /// Restart apps gracefully one instance at a time: the next only once the previous is
    /// online again, so an app with `instances > 1` keeps serving (PM2's reload).
    #[command(
        after_help = "Examples:\n  tpctl reload email-worker\n  tpctl reload all\n\nA reload stops at the first instance that does not come back online; the instances not yet reloaded keep running."
    )]
    Reload(Targets),
    /// Alerts: check that every destination of the file's [alerts] gets them.
    #[command(
        after_help = "Examples:\n  tpctl alerts test\n  tpctl alerts test deploy/ecosystem.toml\n\nDestinations, events and limits are set in ecosystem.toml's [alerts] table (`man 5 tpctl-ecosystem`, ALERTS)."
    )]
    Alerts {
        #[command(subcommand)]
        what: AlertsCommand,
    },
    /// Write a starting ecosystem.toml: TestPlanIt's scheduler and workers (PM2's init).
    #[command(
        visible_alias = "ecosystem",
        after_help = "Examples:\n  tpctl init\n  tpctl init deploy/ecosystem.toml\n\nTo convert PM2's ecosystem.config.js instead: tpctl import pm2 ecosystem.config.js"
    )]
    Init {
        /// Where to write it (default ./ecosystem.toml).
        path: Option<std::path::PathBuf>,
        /// Replace a file that exists.
        #[arg(long)]
        force: bool,
    },
    /// For deploy scripts (PM2's startOrRestart): restart the apps of a file that run, with the
    /// file read again, and start the others.
    #[command(
        name = "start-or-restart",
        visible_alias = "startOrRestart",
        after_help = "Examples:\n  tpctl start-or-restart ecosystem.toml\n  tpctl start-or-restart ecosystem.toml --update-env\n\nApps of the file that belonged to another file move to this one. Apps with autostart = false are restarted only if they run."
    )]
    StartOrRestart(Targets),
    /// For deploy scripts (PM2's startOrReload): start the apps of a file that do not run, then
    /// reload those that do, one instance at a time.
    #[command(
        name = "start-or-reload",
        visible_alias = "startOrReload",
        after_help = "Examples:\n  tpctl start-or-reload ecosystem.toml"
    )]
    StartOrReload(Targets),
    /// Stop apps and remove them from the list (their logs stay on disk).
    #[command(
        visible_alias = "del",
        after_help = "Examples:\n  tpctl delete sync-worker\n  tpctl delete all"
    )]
    Delete(Targets),
    /// List every app with its status, pid, uptime, restarts, CPU and memory.
    #[command(visible_aliases = ["list", "ls"], after_help = "Examples:\n  tpctl status\n  tpctl status --wide          with each app's ecosystem file\n  tpctl status --json | jq '.[] | select(.status != \"online\")'")]
    Status(StatusArgs),
    /// Show one app's resolved settings (secrets redacted), status and restart ledger.
    #[command(
        after_help = "Examples:\n  tpctl describe email-worker\n  tpctl describe email-worker --json"
    )]
    #[command(visible_aliases = ["show", "info"])]
    Describe {
        /// App name, number or instance id.
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::commands::generate::app_names))]
        name: String,
        #[command(flatten)]
        output: Output,
        /// Every entry of the restart ledger (by default the newest few, repeats folded).
        #[arg(long)]
        all: bool,
    },
    /// Stop every app; every keeper exits.
    #[command(after_help = "Example:\n  tpctl kill")]
    Kill,
    /// Show apps' recent output, and follow it (the default on a terminal).
    #[command(
        after_help = "Examples:\n  tpctl logs                      every app, following\n  tpctl logs email-worker --lines 100 --nostream\n  tpctl logs all --err -f\n  tpctl logs forecast-worker --json | jq .line\n\nLines are prefixed `name | ` (stdout) or `name ! ` (stderr)."
    )]
    Logs(LogsArgs),
    /// Empty apps' log files (and their rotated copies) while they keep running.
    #[command(after_help = "Examples:\n  tpctl flush email-worker\n  tpctl flush all")]
    Flush(Targets),
    /// Reopen every log file by name, after an external logrotate moved them.
    #[command(
        name = "reload-logs",
        after_help = "Example (logrotate postrotate):\n  tpctl reload-logs"
    )]
    ReloadLogs,
    /// Save the current process list to dump.toml, for `resurrect` and the boot integration.
    #[command(
        after_help = "Examples:\n  tpctl save\n  tpctl save --force    save even an empty list"
    )]
    Save {
        /// Save even when no app is known (resurrect would then start nothing), or when an
        /// app's required variables would be missing at boot.
        #[arg(long)]
        force: bool,
    },
    /// Bring back the saved process list: saved-running apps start in `after` order, the rest
    /// are listed as stopped; apps already running are left alone. Each app gets the
    /// environment recorded when it was saved, whatever the shell's.
    #[command(
        after_help = "Examples:\n  tpctl resurrect\n  tpctl resurrect --update-env   this shell's environment instead of the saved one"
    )]
    Resurrect {
        /// Give the apps this shell's environment instead of the one saved with them.
        #[arg(long)]
        update_env: bool,
    },
    /// Generate, install, check or print the boot integration that runs `tpctl resurrect` at boot.
    ///
    /// A systemd system unit runs as root only when a saved app has a `user` key (its keeper
    /// must switch to that user), else as --run-as or you; it always carries a sandbox that
    /// leaves a supervisor working: NoNewPrivileges, ProtectSystem=full, PrivateTmp (unless
    /// TPCTL_HOME is under /tmp), ProtectHome=read-only (unless TPCTL_HOME is in a home),
    /// ProtectKernelTunables, ProtectKernelModules, ProtectControlGroups, ProtectHostname,
    /// RestrictSUIDSGID, RestrictRealtime, LockPersonality.
    #[command(
        after_help = "Examples:\n  tpctl startup                    show the unit and the command that installs it\n  sudo tpctl startup systemd --run-as testplanit --install\n  tpctl startup systemd --user --install\n  tpctl startup --check            would a reboot bring the saved list back?"
    )]
    Startup(StartupArgs),
    /// Remove what `tpctl startup --install` installed.
    #[command(after_help = "Example:\n  sudo tpctl unstartup systemd --run-as testplanit")]
    Unstartup(StartupArgs),
    /// Check what the workers need: Valkey, PostgreSQL and its connection budget, programs,
    /// env vars, kill timeouts, disk, boot integration. Exits 1 when a check fails.
    #[command(
        after_help = "Examples:\n  tpctl doctor\n  tpctl doctor deploy/ecosystem.toml --web-connections 20\n  tpctl doctor --json"
    )]
    Doctor {
        /// The ecosystem file to check (default ./ecosystem.toml).
        #[arg(value_name = "FILE")]
        file: Option<std::path::PathBuf>,
        /// Database connections the web app needs besides the workers.
        #[arg(long, default_value_t = 10)]
        web_connections: u32,
        #[command(flatten)]
        output: Output,
    },
    /// Write an ecosystem.toml from PM2's configuration, listing what could not be carried over.
    #[command(
        after_help = "Examples:\n  tpctl import pm2 ecosystem.config.js\n  tpctl import pm2-dump ~/.pm2/dump.pm2 --output ecosystem.toml"
    )]
    Import {
        #[command(subcommand)]
        what: Import,
    },
    /// Full-screen dashboard: every app's status, CPU and memory beside its queue's figures, the
    /// queues, and the selected app's log; keys restart, stop, pause, retry and clean.
    #[command(
        after_help = "Examples:\n  tpctl monit\n  VALKEY_URL=redis://valkey:6379 tpctl monit --interval 2\n\nKeys: ↑↓/jk select, Enter details, l log, r restart, s stop/start, p pause/resume the queue, R retry failed jobs, c clean completed and failed jobs, ? help, q or Esc quit. r, s (stop), p (pause), R and c ask first.\n\nValkey is VALKEY_URL from the environment, else from the apps of ./ecosystem.toml or the running apps."
    )]
    Monit {
        /// Seconds between refreshes (0.2 to 60).
        #[arg(long, default_value = "1", value_parser = parse_interval)]
        interval: std::time::Duration,
    },
    /// The browser dashboard, its JSON API (/api/v1/) and /metrics for Prometheus.
    #[command(
        after_help = "Examples:\n  tpctl web                                   http://127.0.0.1:9615/\n  tpctl web --listen 0.0.0.0:9615 --token-file /etc/tpctl/web.token --allow-host tp.example\n  curl -s localhost:9615/metrics\n  curl -s -X POST -H \"Authorization: Bearer $(cat ~/.tpctl/web.token)\" localhost:9615/api/v1/apps/email-worker/restart\n\nReads from this machine need no token; every action (POST), and every request from another host, needs `Authorization: Bearer <token>`. The token is TPCTL_HOME/web.token (created 0600 on first start) unless --token-file names one; listening on an address other hosts reach needs --token-file.\n\nAPI (JSON unless said):\n  GET  /                                   the overview page (HTML); /apps/NAME an app's page\n  GET  /api/v1/overview                    apps (status --json rows + memory_limit, queues) and queues\n  GET  /api/v1/events                      the overview's parts every 2 s (Server-Sent Events)\n  GET  /api/v1/apps                        tpctl status --json\n  GET  /api/v1/apps/NAME                   tpctl describe NAME --json (404 with did-you-mean)\n  GET  /api/v1/apps/NAME/logs?lines=N      tpctl logs NAME --json --lines N\n  GET  /api/v1/apps/NAME/logs/stream       new log lines (Server-Sent Events)\n  POST /api/v1/apps/NAME/ACTION            start, stop, restart or reload: {ok, command, output}\n  GET  /api/v1/queues                      tpctl queues --json (503 with the reason when Valkey is away)\n  POST /api/v1/queues/Q/ACTION             pause, resume, retry-failed, clean-completed, clean-failed\n  GET  /metrics                            OpenMetrics (Accept: application/openmetrics-text) or Prometheus text"
    )]
    Web {
        /// Address and port to listen on (PM2's `pm2 web` port by default).
        #[arg(long, default_value = crate::web::DEFAULT_LISTEN)]
        listen: String,
        /// The token file (one line, mode 0600); default TPCTL_HOME/web.token, created if missing.
        #[arg(long, value_name = "FILE")]
        token_file: Option<std::path::PathBuf>,
        /// A host name (besides IP addresses and localhost) the Host header may carry (repeatable).
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_hosts: Vec<String>,
    },
    /// Every BullMQ queue with its status, workers and job counts (TestPlanIt's Admin › Job Queues).
    #[command(
        after_help = "Examples:\n  tpctl queues\n  tpctl queues --watch\n  tpctl queues --json | jq '.[] | select(.counts.failed > 0)'\n\nValkey is VALKEY_URL from the environment, else from the apps of ./ecosystem.toml."
    )]
    Queues {
        /// Refresh every 2 seconds until Ctrl-C.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Act on one queue: pause, resume, list and inspect jobs, retry, promote, remove, clean, drain, add.
    #[command(
        after_help = "Examples:\n  tpctl queue emails jobs --state failed --limit 20\n  tpctl queue emails job 42\n  tpctl queue emails retry --all-failed\n  tpctl queue forecast-updates add update-all-cases-forecast --data '{}'\n  tpctl queue emails clean --grace 1d --limit 1000 --state completed --yes"
    )]
    Queue {
        /// The queue (for example emails, notifications, forecast-updates).
        name: String,
        #[command(subcommand)]
        action: QueueAction,
        /// Do not ask before destructive actions.
        #[arg(long, global = true)]
        yes: bool,
    },
    /// Generate shell completions or man pages (the checked-in ones come from here).
    #[command(
        after_help = "Examples:\n  tpctl generate completions bash > /etc/bash_completion.d/tpctl\n  tpctl generate man /usr/local/share/man/man1"
    )]
    Generate {
        #[command(subcommand)]
        what: Generate,
    },
    /// Run apps in the foreground with prefixed output, for development and as a container's
    /// entry point (PID 1); Ctrl-C or SIGTERM stops them all gracefully.
    #[command(
        after_help = "Examples:\n  tpctl run\n  tpctl run email-worker notification-worker\n  tpctl run --json          one JSON object per line, for a log collector\n\nThe apps are known to `tpctl status` (and `tpctl status --check`, a container probe) while they run. As PID 1, run reaps every process re-parented to it. When an app ends errored or failed, run stops the others and exits 1."
    )]
    Run(RunArgs),
}

/// Options of `tpctl logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// App names, instance ids or `all` (the default).
    #[arg(value_name = "NAME", add = clap_complete::engine::ArgValueCompleter::new(crate::commands::generate::app_names))]
    pub targets: Vec<String>,
    /// How many recent lines to show per file.
    #[arg(long, short = 'n', default_value_t = 15)]
    pub lines: usize,
    /// Keep printing new lines (the default when stdout is a terminal).
    #[arg(long, short = 'f', conflicts_with = "nostream")]
    pub follow: bool,
    /// Print the recent lines and exit.
    #[arg(long)]
    pub nostream: bool,
    /// Only stderr.
    #[arg(long, conflicts_with = "out")]
    pub err: bool,
    /// Only stdout.
    #[arg(long)]
    pub out: bool,
    /// Prefix each line with the time the keeper received it (lines stamped by `time = true`
    /// keep their own stamp only).
    #[arg(long)]
    pub timestamp: bool,
    /// One JSON object per line: app, stream, time, line.
    #[arg(long)]
    pub json: bool,
}

/// Options of `tpctl startup` and `tpctl unstartup`.
#[derive(Debug, Args)]
pub struct StartupArgs {
    /// The init system (default: this machine's).
    #[arg(value_enum)]
    pub system: Option<crate::startup::System>,
    /// A per-user unit (systemctl --user, a LaunchAgent) instead of a system one.
    #[arg(long)]
    pub user: bool,
    /// Write and enable the unit (a system unit needs root).
    #[arg(long, conflicts_with_all = ["check", "print"])]
    pub install: bool,
    /// Verify that a reboot would bring the saved list back; exit 1 if not.
    #[arg(long, conflicts_with = "print")]
    pub check: bool,
    /// Print the unit and nothing else.
    #[arg(long)]
    pub print: bool,
    /// The user the apps run as (default: you).
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,
    /// The run directory the unit uses (default: TPCTL_HOME, or ~USER/.tpctl with --run-as).
    #[arg(long, value_name = "DIR")]
    pub tpctl_home: Option<std::path::PathBuf>,
}

/// What `tpctl generate` writes.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// A completion script for SHELL, on stdout; app names complete from ./ecosystem.toml and
    /// the known apps.
    #[command(
        after_help = "Examples:\n  tpctl generate completions bash > ~/.local/share/bash-completion/completions/tpctl\n  tpctl generate completions zsh > \"${fpath[1]}/_tpctl\"\n  tpctl generate completions fish > ~/.config/fish/completions/tpctl.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Man pages (tpctl.1 and one per command) into DIR.
    #[command(after_help = "Example:\n  sudo tpctl generate man /usr/local/share/man/man1")]
    Man { dir: std::path::PathBuf },
}

/// Shells with completion support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    Nushell,
}

/// What `tpctl import` reads.
#[derive(Debug, Subcommand)]
pub enum Import {
    /// A PM2 ecosystem file: .js/.cjs (evaluated with node), .json, .yaml.
    #[command(
        after_help = "Example:\n  tpctl import pm2 ecosystem.config.js --output ecosystem.toml"
    )]
    Pm2 {
        file: std::path::PathBuf,
        /// Where to write (default: ecosystem.toml beside FILE); relative paths are rebased.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// A variable for evaluating a .js file (repeatable), e.g. --env NODE_ENV=production.
        #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
        env: Vec<(String, String)>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// A PM2 dump (default $PM2_HOME/dump.pm2, or ~/.pm2/dump.pm2).
    #[command(
        name = "pm2-dump",
        after_help = "Example:\n  tpctl import pm2-dump ~/.pm2/dump.pm2"
    )]
    Pm2Dump {
        path: Option<std::path::PathBuf>,
        /// Where to write (default: ./ecosystem.toml).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
}

/// What `tpctl queue NAME` does.
#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Stop workers taking jobs from the queue.
    Pause,
    /// Let workers take jobs again.
    Resume,
    /// List jobs of one state, newest first.
    Jobs {
        /// Only jobs in these states (comma-separated): waiting, paused, active, delayed,
        /// prioritized, completed, failed; default all of them.
        #[arg(long, value_delimiter = ',')]
        state: Vec<String>,
        /// At most this many jobs per state, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON (id, name, state, attemptsMade, timestamp, processedOn, finishedOn, failedReason).
        #[arg(long)]
        json: bool,
    },
    /// One job: state, times, attempts, failure, data, options, stack traces, logs.
    Job {
        id: String,
        /// The raw job as JSON (Node's field names, plus state and logs).
        #[arg(long)]
        json: bool,
    },
    /// Run a failed job again, or every failed job.
    Retry {
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<String>,
        #[arg(long)]
        all_failed: bool,
    },
    /// Make a delayed job ready now.
    Promote { id: String },
    /// Remove a job (asks first); a running one only with --force, which retries while it finishes.
    Remove {
        id: String,
        #[arg(long)]
        force: bool,
    },
    /// Remove finished jobs older than --grace (asks first).
    Clean {
        /// Age to keep, such as 1h or 7d (0 removes all).
        #[arg(long, default_value = "0", value_parser = parse_grace)]
        grace: u64,
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        /// completed or failed.
        #[arg(long, default_value = "completed")]
        state: String,
    },
    /// Remove every waiting job (asks first).
    Drain {
        /// Delayed jobs too.
        #[arg(long)]
        delayed: bool,
    },
    /// Add a job by hand (for example a forecast update or a reindex).
    Add {
        /// The job name, as the worker knows it.
        job_name: String,
        /// The job data, JSON.
        #[arg(long, default_value = "{}")]
        data: String,
    },
}

/// `--grace`: a duration (`500ms`, `30s`, `1h`) or `7d`, in milliseconds.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.2..=60.0).contains(&secs) {
        return Err(format!("{s} s is out of range: use 0.2 to 60"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn parse_grace(s: &str) -> Result<u64, String> {
    if let Some(days) = s.strip_suffix('d') {
        return days
            .parse::<u64>()
            .map(|d| d * 86_400_000)
            .map_err(|e| format!("invalid days {s:?}: {e}"));
    }
    crate::config::units::parse_duration(s).map(|d| d.as_millis() as u64)
}

/// `KEY=VALUE` for `import pm2 --env`.
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
