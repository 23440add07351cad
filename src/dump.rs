//! `dump.toml`: the saved process list that `resurrect` (and the boot integration) brings back.
//!
//! Written only by `tpctl save`: temp file, fsync, rename, directory fsync, mode 0600, the
//! previous version kept as `dump.toml.bak`. Env values are not stored when they came from env
//! files (the dump names the files, read again at resurrect), and `save` refuses to write a
//! secret-looking value set directly in an `env` table. The environment each app recorded at
//! its first start goes to `dump-env.toml` (0600) beside it, never into dump.toml.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::env::redact;
use crate::persist::write_atomic;
use crate::spec::AppSpec;

/// Format version of dump.toml; `load` accepts this one (and will keep accepting it).
pub const FORMAT: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dump {
    pub format: u32,
    /// When it was saved, RFC 3339.
    pub saved_at: String,
    #[serde(default)]
    pub apps: Vec<SavedApp>,
}

/// What `resurrect` does with an app.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    /// Start it (one-shots run again).
    Running,
    /// Known but stopped by an operator: listed, not started.
    Stopped,
}

/// One app instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedApp {
    pub state: Desired,
    /// The spec, with `env` emptied: it is rebuilt from `spec.env_sources` at resurrect.
    pub spec: AppSpec,
}

/// Why the dump cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(
        "app {app}: env var {var} is set in an `env` table of {source_file} and looks like a secret; save does not write secrets into the dump. Move it to an env_file (the dump keeps a reference to the file, which resurrect reads again), then run `tpctl save` again"
    )]
    SecretInTable {
        app: String,
        var: String,
        source_file: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(
        "nothing has been saved yet ({path} does not exist): start the apps, then run `tpctl save` first"
    )]
    NeverSaved { path: PathBuf },
}

/// `dump-env.toml`: each saved app's recorded environment (what its first start inherited,
/// or the last `--update-env`), mode 0600 beside dump.toml, so that a boot's resurrect gives
/// every app what it ran with, from a shell that has none of it, without a secret in dump.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EnvDump {
    pub format: u32,
    /// App instance id → its recorded environment.
    #[serde(default)]
    pub apps: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

/// `dump-env.toml` and its `.bak`.
pub fn env_paths(home: &Path) -> (PathBuf, PathBuf) {
    (home.join("dump-env.toml"), home.join("dump-env.toml.bak"))
}

/// Writes `dump-env.toml` (0600), keeping the previous one as `.bak`.
pub fn write_env(home: &Path, env: &EnvDump) -> Result<(), DumpError> {
    let (path, bak) = env_paths(home);
    let text = toml::to_string(env).map_err(|e| DumpError::Write {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    keep_previous(&path, &bak)?;
    write_atomic(&path, text.as_bytes(), 0o600, true)
        .map_err(|source| DumpError::Write { path, source })
}

/// Reads `dump-env.toml` (its `.bak` when it is corrupt); `None` when neither exists (a dump
/// saved by a tpctl that did not record environments).
pub fn load_env(home: &Path) -> Result<Option<EnvDump>, DumpError> {
    let (path, bak) = env_paths(home);
    let read = |p: &Path| -> Result<Option<EnvDump>, DumpError> {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DumpError::Read {
                    path: p.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| DumpError::Read {
                path: p.to_path_buf(),
                reason: e.message().to_string(),
            })
    };
    match read(&path) {
        Ok(Some(d)) => Ok(Some(d)),
        Ok(None) => read(&bak),
        Err(primary) => match read(&bak) {
            Ok(Some(d)) => Ok(Some(d)),
            _ => Err(primary),
        },
    }
}

/// Keeps `path` as `bak` before it is replaced: a hard link, so the .bak is the previous file
/// exactly and appears atomically.
fn keep_previous(path: &Path, bak: &Path) -> Result<bool, DumpError> {
    if !path.exists() {
        return Ok(false);
    }
    let _ = std::fs::remove_file(bak);
    std::fs::hard_link(path, bak).map_err(|source| DumpError::Write {
        path: bak.to_path_buf(),
        source,
    })?;
    Ok(true)
}

/// `dump.toml` and `dump.toml.bak` in the run directory.
pub fn paths(home: &Path) -> (PathBuf, PathBuf) {
    (home.join("dump.toml"), home.join("dump.toml.bak"))
}

/// The dump entry of a spec, or why it cannot be saved.
pub fn saved(spec: &AppSpec, state: Desired) -> Result<SavedApp, DumpError> {
    for (k, v) in &spec.env_sources.table {
        if redact(k, v) != *v {
            return Err(DumpError::SecretInTable {
                app: spec.id.clone(),
                var: k.clone(),
                source_file: spec
                    .source
                    .as_ref()
                    .map_or_else(|| "its ecosystem file".into(), |p| p.display().to_string()),
            });
        }
    }
    let mut spec = spec.clone();
    spec.env.clear();
    spec.env_from_config.clear();
    spec.captured_env.clear();
    Ok(SavedApp { state, spec })
}

/// Writes the dump, keeping the previous one as `.bak`; returns whether there was one.
pub fn write(home: &Path, dump: &Dump) -> Result<bool, DumpError> {
    let (path, bak) = paths(home);
    let text = toml::to_string(dump).map_err(|e| DumpError::Write {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    let had_previous = keep_previous(&path, &bak)?;
    write_atomic(&path, text.as_bytes(), 0o600, true)
        .map_err(|source| DumpError::Write { path, source })?;
    Ok(had_previous)
}

/// Reads one dump file.
pub fn read(path: &Path) -> Result<Dump, DumpError> {
    let text = std::fs::read_to_string(path).map_err(|e| DumpError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let dump: Dump = toml::from_str(&text).map_err(|e| DumpError::Read {
        path: path.to_path_buf(),
        reason: e.message().to_string(),
    })?;
    if dump.format > FORMAT {
        return Err(DumpError::Read {
            path: path.to_path_buf(),
            reason: format!(
                "written by a newer tpctl (format {}, this one reads {FORMAT}); upgrade tpctl",
                dump.format
            ),
        });
    }
    Ok(dump)
}

/// Reads `dump.toml`, falling back to `dump.toml.bak` when it is missing or corrupt. The
/// second value is the warning to show when the fallback was used.
pub fn load(home: &Path) -> Result<(Dump, Option<String>), DumpError> {
    let (path, bak) = paths(home);
    if !path.exists() && !bak.exists() {
        return Err(DumpError::NeverSaved { path });
    }
    match read(&path) {
        Ok(d) => Ok((d, None)),
        Err(primary) => match read(&bak) {
            Ok(d) => Ok((
                d,
                Some(format!(
                    "{primary}; using the previous save, {}",
                    bak.display()
                )),
            )),
            Err(_) => Err(primary),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::collections::BTreeMap;

    fn specs(text: &str) -> Vec<AppSpec> {
        parse(
            Path::new("/srv/tp/ecosystem.toml"),
            text,
            &BTreeMap::from([
                ("PATH".to_string(), "/usr/bin".to_string()),
                ("SECRET_FROM_SHELL".into(), "s3cret".into()),
            ]),
        )
        .expect("valid")
    }

    #[test]
    fn round_trips_without_caller_env_or_env_file_values() {
        let s = specs(
            "[[apps]]\nname = 'web'\nscript = '/bin/sleep'\nenv = { NODE_ENV = 'production', VALKEY_URL = 'redis://h:6379' }\n",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let dump = Dump {
            format: FORMAT,
            saved_at: "now".into(),
            apps: vec![saved(&s[0], Desired::Running).expect("saved")],
        };
        write(dir.path(), &dump).expect("write");
        let text = std::fs::read_to_string(dir.path().join("dump.toml")).expect("read");
        assert!(
            !text.contains("s3cret"),
            "caller env leaked into the dump:\n{text}"
        );
        assert!(text.contains("NODE_ENV"));
        let (back, warning) = load(dir.path()).expect("load");
        assert!(warning.is_none());
        assert_eq!(back, dump);
    }

    #[test]
    fn refuses_secrets_in_env_tables() {
        let s = specs(
            "[[apps]]\nname = 'mail'\nscript = '/bin/sleep'\nenv = { EMAIL_SERVER_PASSWORD = 'hunter2' }\n",
        );
        let err = saved(&s[0], Desired::Running)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("EMAIL_SERVER_PASSWORD")
                && err.contains("env_file")
                && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn a_corrupt_dump_falls_back_to_the_backup_with_a_warning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dump = Dump {
            format: FORMAT,
            saved_at: "first".into(),
            apps: vec![],
        };
        write(dir.path(), &dump).expect("first");
        write(
            dir.path(),
            &Dump {
                saved_at: "second".into(),
                ..dump.clone()
            },
        )
        .expect("second");
        std::fs::write(dir.path().join("dump.toml"), "format = 1\nsaved_at = \"tru")
            .expect("corrupt");
        let (back, warning) = load(dir.path()).expect("fallback");
        assert_eq!(back.saved_at, "first");
        let w = warning.expect("warning");
        assert!(
            w.contains("dump.toml") && w.contains("dump.toml.bak"),
            "{w}"
        );
    }
}
