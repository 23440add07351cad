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
    #[command(subcommand)]
    pub command: Command,
}

/// Targets of a lifecycle command: app names, instance ids (`web-1`), `all`, or ecosystem files.
#[derive(Debug, Args)]
pub struct Targets {
    /// App names, instance ids, `all`, or paths to ecosystem files.
    #[arg(value_name = "FILE|NAME")]
    pub targets: Vec<String>,
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
    /// Stop apps and remove them from the list (their logs stay on disk).
    #[command(
        visible_alias = "del",
        after_help = "Examples:\n  tpctl delete sync-worker\n  tpctl delete all"
    )]
    Delete(Targets),
    /// List every app with its status, pid, uptime, restarts, CPU and memory.
    #[command(visible_aliases = ["list", "ls"], after_help = "Examples:\n  tpctl status\n  tpctl status --json | jq '.[] | select(.status != \"online\")'")]
    Status(Output),
    /// Show one app's resolved settings (secrets redacted), status and restart ledger.
    #[command(
        after_help = "Examples:\n  tpctl describe email-worker\n  tpctl describe email-worker --json"
    )]
    Describe {
        /// App name or instance id.
        name: String,
        #[command(flatten)]
        output: Output,
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
    /// Run apps in the foreground with prefixed output (development); Ctrl-C stops them all.
    #[command(after_help = "Examples:\n  tpctl run\n  tpctl run email-worker notification-worker")]
    Run(Targets),
}

/// Options of `tpctl logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// App names, instance ids or `all` (the default).
    #[arg(value_name = "NAME")]
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
    /// Prefix each line with the time `tpctl logs` read it (stored times: set `time = true`).
    #[arg(long)]
    pub timestamp: bool,
    /// One JSON object per line: app, stream, time, line.
    #[arg(long)]
    pub json: bool,
}
