//! One module per subcommand, plus what they share: the context, errors and target resolution.

pub mod describe;
pub mod generate;
pub mod inventory;
pub mod logs;
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
}

impl Ctx {
    pub fn from_env() -> Result<Ctx, CommandError> {
        let home = Home::from_env()?;
        let color = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Ok(Ctx { home, color })
    }
}

/// Errors that end a command. `exit_code` maps them to the documented codes.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("unknown app {name:?}{suggestion}; known apps: {known}")]
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
            CommandError::Home(_) | CommandError::Io { .. } | CommandError::Dump(_) => 1,
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
