//! `tpctl init [PATH]` (PM2's `init` / `ecosystem`): a starting ecosystem.toml for
//! TestPlanIt's stack under tpctl, from the one this repository ships and tests, with
//! `tp-worker` found on PATH.

use std::path::PathBuf;

use super::{CommandError, Outcome};
use crate::config::defaults::ECOSYSTEM_FILE;

/// The repository's own ecosystem.toml: the stack as it is tested.
const SHIPPED: &str = include_str!("../../ecosystem.toml");

/// The sample: the shipped file, its binaries looked up on PATH.
pub fn sample() -> String {
    format!(
        "# Written by `tpctl init`: TestPlanIt's scheduler and workers under tpctl. Edit it, then\n# `tpctl doctor` and `tpctl start`. Every key: `man 5 tpctl-ecosystem`.\n#\n{}",
        SHIPPED
            .replace("\"target/release/tp-worker\"", "\"tp-worker\"")
            .replace("\"target/release/tpctl\"", "\"tpctl\"")
    )
}

pub fn init(path: Option<PathBuf>, force: bool) -> Result<Outcome, CommandError> {
    let path = path.unwrap_or_else(|| ECOSYSTEM_FILE.into());
    if path.exists() && !force {
        return Err(CommandError::Usage(format!(
            "{} exists; give another path, or --force to replace it",
            path.display()
        )));
    }
    let text = sample();
    // What we write must be what tpctl reads.
    crate::config::parse(&path, &text, &Default::default())?;
    crate::persist::write_atomic(&path, text.as_bytes(), 0o644, true).map_err(|source| {
        CommandError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        }
    })?;
    crate::say!(
        "wrote {} (TestPlanIt's scheduler and seven workers, run by tp-worker, and the dashboard `tpctl web`); set DATABASE_URL and VALKEY_URL in .env beside it, then `tpctl doctor` and `tpctl start`",
        path.display()
    );
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_the_shipped_stack_with_tp_worker_on_path() {
        let specs = crate::config::parse(
            std::path::Path::new("/srv/tp/ecosystem.toml"),
            &sample(),
            &Default::default(),
        )
        .expect("the sample is valid");
        assert_eq!(specs.len(), 9);
        assert!(
            specs
                .iter()
                .any(|s| s.name == "web" && s.args.first().is_some_and(|a| a == "web"))
        );
        assert!(sample().contains("script = \"tpctl\""));
        assert!(!sample().contains("target/release"));
        assert!(
            specs
                .iter()
                .any(|s| s.name == "scheduler" && s.is_one_shot())
        );
    }
}
