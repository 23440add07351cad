//! What a file named on the command line holds: an ecosystem file's apps, or, for a PM2 file
//! or a program given in its place, what to do instead.

use std::collections::BTreeMap;
use std::path::Path;

use super::CommandError;
use crate::config::env::process_env;
use crate::config::{self, defaults::ECOSYSTEM_FILE};
use crate::spec::AppSpec;

/// What a file PM2 would have been given is: its ecosystem file, or a script it ran directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pm2Kind {
    Ecosystem,
    Script,
}

pub(super) fn pm2_kind(path: &Path) -> Option<Pm2Kind> {
    let name = path.file_name()?.to_str()?;
    let ext = path.extension()?.to_str()?;
    match ext {
        "json" | "yml" | "yaml" | "config" => Some(Pm2Kind::Ecosystem),
        "js" | "cjs" | "mjs" | "ts" if name.contains("ecosystem") || name.contains("pm2") => {
            Some(Pm2Kind::Ecosystem)
        }
        "js" | "cjs" | "mjs" | "ts" => Some(Pm2Kind::Script),
        _ => None,
    }
}

/// A file given where an ecosystem file was expected that is a program to run (a shell or
/// Python script, any executable): the `script` and `args` that would run it.
fn program_to_run(path: &Path) -> Option<(String, Vec<String>)> {
    use std::os::unix::fs::PermissionsExt;
    if path.extension().is_some_and(|e| e == "toml") {
        return None;
    }
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let executable = meta.permissions().mode() & 0o111 != 0;
    let interpreter = match path.extension().and_then(|e| e.to_str()) {
        Some("sh") => Some("sh"),
        Some("bash") => Some("bash"),
        Some("py") => Some("python3"),
        Some("rb") => Some("ruby"),
        Some("pl") => Some("perl"),
        _ => None,
    };
    let relative = if path.is_absolute() || shown.starts_with("./") || shown.starts_with("../") {
        shown.clone()
    } else {
        format!("./{shown}")
    };
    match (executable, interpreter) {
        (true, _) => Some((relative, vec![])),
        (false, Some(i)) => Some((i.to_string(), vec![shown])),
        // A file that starts like a script but is not executable: run it through its `#!`.
        (false, None) => {
            let head = std::fs::read(path).ok()?;
            let line = head.split(|b| *b == b'\n').next()?;
            let line = std::str::from_utf8(line).ok()?.strip_prefix("#!")?;
            let mut words = line.split_whitespace();
            let first = words.next()?;
            let program = if first.ends_with("/env") {
                words.next()?
            } else {
                first
            };
            Some((program.to_string(), vec![shown]))
        }
    }
}

/// An ecosystem file's apps, or what to do instead: a PM2 file is converted first, a missing
/// ./ecosystem.toml is written or imported, a file without apps says so.
pub fn load_ecosystem(path: &Path) -> Result<Vec<AppSpec>, CommandError> {
    load_ecosystem_with(path, &process_env())
}

/// `load_ecosystem` with an explicit inherited environment.
pub(super) fn load_ecosystem_with(
    path: &Path,
    caller: &BTreeMap<String, String>,
) -> Result<Vec<AppSpec>, CommandError> {
    let shown = path.display();
    match pm2_kind(path) {
        Some(Pm2Kind::Ecosystem) => {
            return Err(CommandError::Usage(format!(
                "{shown} is a PM2 ecosystem file; tpctl reads TOML: convert it with `tpctl import pm2 {shown}` (writes ./ecosystem.toml and lists every key it could not map), then run `tpctl start`"
            )));
        }
        Some(Pm2Kind::Script) => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("app");
            return Err(CommandError::Usage(format!(
                "{shown} is a script; tpctl starts apps from an ecosystem file rather than from a script: add\n\n  [[apps]]\n  name = \"{stem}\"\n  script = \"node\"\n  args = [\"{shown}\"]\n\nto ecosystem.toml and run `tpctl start {stem}`"
            )));
        }
        None => {}
    }
    if !path.exists() && path == Path::new(ECOSYSTEM_FILE) {
        let here = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| ".".into());
        let pm2 = [
            "ecosystem.config.js",
            "ecosystem.config.cjs",
            "ecosystem.json",
        ]
        .into_iter()
        .find(|f| Path::new(f).is_file());
        let how = match pm2 {
            Some(f) => format!(
                "this directory has PM2's {f}: convert it with `tpctl import pm2 {f}`"
            ),
            None => "`tpctl init` writes one for TestPlanIt's stack (`man 5 tpctl-ecosystem`; an app needs only `[[apps]]`, `name` and `script`), or convert PM2's with `tpctl import pm2 FILE`".to_string(),
        };
        return Err(CommandError::Usage(format!(
            "no ecosystem.toml in {here}: {how}; or name an app or a file (`tpctl start NAME`, `tpctl start path/to/ecosystem.toml`)"
        )));
    }
    if let Some((script, args)) = program_to_run(path) {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("app");
        let args = if args.is_empty() {
            String::new()
        } else {
            format!(
                "\n  args = [{}]",
                args.iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(CommandError::Usage(format!(
            "{shown} is a program, not an ecosystem file; tpctl starts apps from an ecosystem file: add\n\n  [[apps]]\n  name = \"{stem}\"\n  script = {script:?}{args}\n\nto ecosystem.toml and run `tpctl start {stem}`"
        )));
    }
    let specs = config::load_with_env(path, caller)?;
    if specs.is_empty() {
        return Err(CommandError::Usage(format!(
            "{shown} defines no apps: add an [[apps]] table with `name` and `script` (`man 5 tpctl-ecosystem`)"
        )));
    }
    Ok(specs)
}
