//! One module per subcommand, plus what they share: the context, errors and target resolution.

pub mod alerts;
pub mod describe;
pub mod ecosystem_file;
pub mod generate;
pub mod import;
pub mod init;
pub mod inventory;
pub mod log_json;
pub mod logs;
mod outcome;
pub mod queue_jobs;
pub mod queues;
pub mod run;
pub mod save;
pub mod start;
pub mod startup;
pub mod status;
pub mod stop;
pub mod targets;

use std::io::IsTerminal;

use crate::config::ConfigError;
use crate::home::{Home, HomeError};

/// What every command gets.
pub struct Ctx {
    pub home: Home,
    /// Colour on stdout: a terminal, and NO_COLOR unset.
    pub color: bool,
    /// Live progress lines on stderr: a terminal, and no `--quiet`.
    pub progress: bool,
}

impl Ctx {
    pub fn from_env(quiet: bool) -> Result<Ctx, CommandError> {
        let home = Home::from_env()?;
        home.check_owner()?;
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Ok(Ctx {
            home,
            color,
            progress: crate::progress::enabled(quiet),
        })
    }
}

/// Errors that end a command. `exit_code` maps them to the documented codes.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("unknown app {name:?}{suggestion}{known}")]
    UnknownApp {
        name: String,
        known: String,
        suggestion: String,
    },
    #[error("no apps given: name apps, `all`, or an ecosystem file")]
    NoTargets,
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Dump(#[from] crate::dump::DumpError),
    /// A keeper that would not answer this user (SO_PEERCRED).
    #[error("{id}: {message}")]
    Refused { id: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl CommandError {
    /// 2 for usage and configuration errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_)
            | CommandError::UnknownApp { .. }
            | CommandError::NoTargets
            | CommandError::Usage(_) => 2,
            CommandError::Home(_)
            | CommandError::Io { .. }
            | CommandError::Dump(_)
            | CommandError::Refused { .. } => 1,
        }
    }
}

/// Whether every app a command acted on ended where it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Some app failed; details were printed.
    Failed,
}

/// `tpctl doctor`: prints the checklist (or JSON) and fails when a line failed.
pub fn doctor(
    ctx: &Ctx,
    file: Option<std::path::PathBuf>,
    web_connections: u32,
    json: bool,
) -> Result<Outcome, CommandError> {
    let file = file.unwrap_or_else(|| crate::config::defaults::ECOSYSTEM_FILE.into());
    let lines = crate::doctor::run(
        &ctx.home,
        &crate::doctor::Options {
            ecosystem: &file,
            web_connections,
        },
    );
    if json {
        let text = serde_json::to_string_pretty(&lines).map_err(|e| CommandError::Io {
            what: "cannot encode JSON".into(),
            source: std::io::Error::other(e),
        })?;
        println!("{text}");
    } else {
        for l in &lines {
            let mark = match l.verdict {
                crate::doctor::Verdict::Ok => "✓",
                crate::doctor::Verdict::Warn => "!",
                crate::doctor::Verdict::Fail => "✗",
                crate::doctor::Verdict::Skip => "-",
            };
            println!("{mark} {:<12} {}", l.check, l.detail);
        }
    }
    Ok(
        if lines
            .iter()
            .any(|l| l.verdict == crate::doctor::Verdict::Fail)
        {
            Outcome::Failed
        } else {
            Outcome::Success
        },
    )
}
