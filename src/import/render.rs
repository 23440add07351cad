//! The ecosystem.toml text of imported apps.

use std::collections::BTreeMap;

use super::{Imported, toml_str};

/// The keys `[defaults]` may hold (per-app ones never go there).
fn inheritable(key: &str) -> bool {
    crate::config::keys::KEYS
        .iter()
        .any(|k| k.name == key && !k.per_app)
}

/// The ecosystem.toml text for imported apps; `env_file_of` names each app's secrets file.
/// Keys and variables every app sets alike go to `[defaults]` once.
pub fn render(
    apps: &[Imported],
    source: &str,
    env_file_of: impl Fn(&Imported) -> String,
    shared_env_file: Option<&str>,
    notes: &[String],
) -> String {
    let mut out =
        format!("# Imported from {source} by `tpctl import`. Review it, then `tpctl start`.\n");
    for n in notes {
        out.push_str("#\n");
        for line in n.lines() {
            out.push_str(&format!("# {line}\n"));
        }
    }
    let shared = |pair: &(String, String)| {
        apps.len() > 1 && inheritable(&pair.0) && apps.iter().all(|a| a.keys.contains(pair))
    };
    let common_keys: Vec<(String, String)> = apps
        .first()
        .map(|a| a.keys.iter().filter(|p| shared(p)).cloned().collect())
        .unwrap_or_default();
    let common_env: BTreeMap<String, String> = apps
        .first()
        .filter(|_| apps.len() > 1)
        .map(|a| {
            a.env
                .iter()
                .filter(|(k, v)| apps.iter().all(|b| b.env.get(*k) == Some(*v)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let env_line = |env: &BTreeMap<String, String>| {
        let pairs: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{} = {}", toml_key(k), toml_str(v)))
            .collect();
        format!("env = {{ {} }}\n", pairs.join(", "))
    };
    if let Some(file) = shared_env_file {
        out.push_str(&format!(
            "\n# The settings the PM2 apps took from PM2's environment, kept in a file (0600) so\n# that what they run with does not depend on the shell that starts them.\n[defaults]\nenv_file = {}\n",
            toml_str(file)
        ));
        if !common_keys.is_empty() || !common_env.is_empty() {
            out.push_str("# Set alike by every app in the PM2 file.\n");
        }
    } else if !common_keys.is_empty() || !common_env.is_empty() {
        out.push_str("\n# Set alike by every app in the PM2 file.\n[defaults]\n");
    }
    if !common_keys.is_empty() || !common_env.is_empty() {
        for (k, v) in &common_keys {
            out.push_str(&format!("{k} = {v}\n"));
        }
        if !common_env.is_empty() {
            out.push_str(&env_line(&common_env));
        }
    }
    for a in apps {
        out.push_str(&format!("\n[[apps]]\nname = {}\n", toml_str(&a.name)));
        for (k, v) in a.keys.iter().filter(|p| !common_keys.contains(p)) {
            match a.computed.get(k) {
                Some(vars) => out.push_str(&format!(
                    "{k} = {v}  # computed by the PM2 file from {} (as set when imported)\n",
                    vars.join(", ")
                )),
                None => out.push_str(&format!("{k} = {v}\n")),
            }
        }
        if !a.secrets.is_empty() {
            out.push_str(&format!("env_file = {}\n", toml_str(&env_file_of(a))));
        }
        let own: BTreeMap<String, String> = a
            .env
            .iter()
            .filter(|(k, _)| !common_env.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !own.is_empty() {
            out.push_str(&env_line(&own));
        }
        for d in &a.dropped {
            out.push_str(&format!("# dropped {d}\n"));
        }
        for n in &a.notes {
            out.push_str(&format!("# note: {n}\n"));
        }
    }
    out
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml_str(k)
    }
}
