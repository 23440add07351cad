//! Environment resolution: inherited env < `env_file` < `env` < tpctl's own variables.
//!
//! Re-run on every start and restart, so an edited `.env` or ecosystem file takes effect on
//! `tpctl restart`. The inherited layer is the environment recorded at the app's first start
//! (as PM2 does), so what an app runs with never depends on which shell typed the command;
//! `--update-env` records the command's own environment in its place.

use std::collections::BTreeMap;
use std::path::Path;

/// This process's environment (variables that are not UTF-8 left out): what an app started
/// for the first time inherits.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Reads a `.env` file with dotenvy (quoting, `export`, comments, `${VAR}` expansion).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| match e {
        dotenvy::Error::Io(io) => format!("cannot read env file {}: {io}", path.display()),
        other => format!("cannot parse env file {}: {other}", path.display()),
    })?;
    let mut pairs = Vec::new();
    for item in iter {
        pairs.push(item.map_err(|e| format!("cannot parse env file {}: {e}", path.display()))?);
    }
    Ok(pairs)
}

/// The environment variable a worker reads its concurrency from, derived from the app name:
/// `email-worker` → `EMAIL_CONCURRENCY`, `testmo-import-worker` → `TESTMO_IMPORT_CONCURRENCY`.
pub fn concurrency_var(app_name: &str) -> String {
    let base = app_name.strip_suffix("-worker").unwrap_or(app_name);
    let mut var: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    var.push_str("_CONCURRENCY");
    var
}

/// True for names that look like they hold a secret; their values are never printed.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const MARKERS: &[&str] = &[
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
        "AUTH",
    ];
    if MARKERS.iter().any(|m| upper.contains(m)) {
        return true;
    }
    // Connection URLs routinely carry a password (postgres://user:pw@host).
    upper.ends_with("_URL") || upper.ends_with("_URI") || upper.ends_with("_DSN")
}

/// Redacts a value for display if its name looks secret, or if it embeds credentials.
pub fn redact(name: &str, value: &str) -> String {
    // An empty value hides nothing, and "<redacted>" would hide that it is empty.
    if value.is_empty() {
        return String::new();
    }
    if is_secret_name(name) {
        if let Some(redacted) = redact_url_password(value) {
            return redacted;
        }
        if name.to_ascii_uppercase().ends_with("_URL")
            || name.to_ascii_uppercase().ends_with("_URI")
        {
            return value.to_string();
        }
        return "<redacted>".to_string();
    }
    value.to_string()
}

/// `scheme://user:pw@host/...` → `scheme://user:<redacted>@host/...`; `None` if no password.
fn redact_url_password(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    let (auth, host) = rest.split_once('@')?;
    let (user, _pw) = auth.split_once(':')?;
    Some(format!("{scheme}://{user}:<redacted>@{host}"))
}

/// Layers the environment: caller, then each env file, then the table, then tpctl's variables.
pub fn layer(
    caller: &BTreeMap<String, String>,
    files: &[Vec<(String, String)>],
    table: &BTreeMap<String, String>,
    own: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut env = caller.clone();
    for file in files {
        env.extend(file.iter().cloned());
    }
    env.extend(table.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(own.iter().cloned());
    env
}

/// What changed between two environments, by variable name (values are never shown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl EnvDiff {
    pub fn between(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> EnvDiff {
        let mut d = EnvDiff::default();
        for (k, v) in new {
            match old.get(k) {
                None => d.added.push(k.clone()),
                Some(o) if o != v => d.changed.push(k.clone()),
                Some(_) => {}
            }
        }
        d.removed = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect();
        d
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

impl std::fmt::Display for EnvDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("no variable changed");
        }
        let parts: Vec<String> = [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| format!("{what} {}", names.join(", ")))
        .collect();
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_diff_names_added_changed_and_removed_variables() {
        let old = BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("B".into(), "1".into()),
            ("C".into(), "1".into()),
        ]);
        let new = BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("B".into(), "2".into()),
            ("D".into(), "1".into()),
        ]);
        let d = EnvDiff::between(&old, &new);
        assert_eq!(d.to_string(), "added D; changed B; removed C");
        assert_eq!(
            EnvDiff::between(&old, &old).to_string(),
            "no variable changed"
        );
    }

    use super::*;

    #[test]
    fn concurrency_var_follows_testplanit_names() {
        assert_eq!(concurrency_var("email-worker"), "EMAIL_CONCURRENCY");
        assert_eq!(
            concurrency_var("testmo-import-worker"),
            "TESTMO_IMPORT_CONCURRENCY"
        );
        assert_eq!(
            concurrency_var("elasticsearch-reindex-worker"),
            "ELASTICSEARCH_REINDEX_CONCURRENCY"
        );
        assert_eq!(concurrency_var("sync"), "SYNC_CONCURRENCY");
    }

    #[test]
    fn later_layers_win() {
        let caller = BTreeMap::from([
            ("A".into(), "caller".into()),
            ("B".into(), "caller".into()),
            ("C".into(), "caller".into()),
        ]);
        let file = vec![("B".into(), "file".into()), ("C".into(), "file".into())];
        let table = BTreeMap::from([("C".into(), "table".into())]);
        let env = layer(&caller, &[file], &table, &[]);
        assert_eq!(env["A"], "caller");
        assert_eq!(env["B"], "file");
        assert_eq!(env["C"], "table");
    }

    #[test]
    fn secrets_are_redacted_and_urls_keep_their_shape() {
        assert_eq!(redact("EMAIL_SERVER_PASSWORD", "hunter2"), "<redacted>");
        assert_eq!(
            redact("DATABASE_URL", "postgres://tp:pw@db:5432/tp"),
            "postgres://tp:<redacted>@db:5432/tp"
        );
        assert_eq!(
            redact("VALKEY_URL", "redis://localhost:6379"),
            "redis://localhost:6379"
        );
        assert_eq!(redact("NODE_ENV", "production"), "production");
    }
}
