//! ecosystem.toml: reading, validating and resolving it into `AppSpec`s.
//!
//! `raw` is the serde model, `resolve` the semantic checks and defaults, `env` the env layering,
//! `units` the value syntaxes, `order` the start order. `load` is the one entry point.

pub mod alerts;
pub mod defaults;
pub mod env;
pub mod error;
pub mod health;
pub mod keys;
pub mod order;
pub mod paths;
pub mod privileges;
pub mod raw;
pub mod required;
pub mod resolve;
pub mod units;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::ConfigError;

use crate::spec::AppSpec;

/// Reads and resolves an ecosystem file with the current process environment as the caller env.
pub fn load(path: &Path) -> Result<Vec<AppSpec>, ConfigError> {
    load_with_env(path, &env::process_env())
}

/// Reads and resolves an ecosystem file with an explicit caller environment.
pub fn load_with_env(
    path: &Path,
    caller_env: &BTreeMap<String, String>,
) -> Result<Vec<AppSpec>, ConfigError> {
    let path = absolute_path(path);
    let source = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&path, &source, caller_env)
}

/// Resolves ecosystem text that was read from `path`.
pub fn parse(
    path: &Path,
    source: &str,
    caller_env: &BTreeMap<String, String>,
) -> Result<Vec<AppSpec>, ConfigError> {
    let locator = error::Locator::new(source);
    let raw: raw::RawFile = toml::from_str(source).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        diagnostics: vec![
            locator.diagnostic(e.span().unwrap_or(0..0), explain(e.message().trim_end())),
        ],
    })?;
    let base_dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let cx = resolve::Context {
        path,
        base_dir: &base_dir,
        locator: &locator,
        caller_env,
    };
    resolve::resolve(raw, &cx).map_err(|diagnostics| ConfigError::Invalid {
        path: path.to_path_buf(),
        diagnostics,
    })
}

fn absolute_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    }
}

/// Adds what to do to the parser's terser messages.
fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once('`')
    {
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // Every [[apps]] table knows these, so the table that does not is [defaults].
        if matches!(key, "name" | "script") {
            return format!("`{key}` is per-app: set it in each [[apps]] table, not in [defaults]");
        }
        // The health table: a key that is no known setting is most likely a check kind.
        let health = ["http", "tcp", "exec", "every", "grace"]
            .iter()
            .all(|k| known.contains(k));
        if health {
            return format!(
                "unknown key `{key}` in health: the checks are http = \"http://…\", tcp = \"host:port\" and exec = [\"cmd\"]; the settings every, timeout, retries, grace and restart"
            );
        }
        let hint = match crate::suggest::closest(key, known.iter().copied()) {
            Some(k) => format!("did you mean `{k}`?"),
            None => "`man 5 tpctl-ecosystem` lists every key".to_string(),
        };
        return format!("unknown key `{key}`; {hint}");
    }
    if message.starts_with("missing field") {
        format!("{message}: every [[apps]] table needs `name` and `script`")
    } else {
        message.replace("expected u32", "expected a whole number")
    }
}
