//! The variables an app cannot do its work without, and whether a boot would give them to it.
//!
//! A boot runs `tpctl resurrect` from a service manager's bare environment, so an app gets
//! only its env files, its `env` table and the environment recorded at its first start (saved
//! in `dump-env.toml`). `doctor`, `save` and `startup --check` ask the same question here.

use std::collections::BTreeMap;

use crate::spec::AppSpec;

/// Variables a TestPlanIt worker cannot start without (names only; values are never shown).
pub fn required_vars(spec: &AppSpec) -> Vec<&'static str> {
    let mut vars = Vec::new();
    // TestPlanIt's scheduler: `tp-worker scheduler`, or Node's `dist/scheduler.js`.
    let scheduler = spec.script.to_string_lossy().contains("scheduler")
        || spec.args.iter().any(|a| a.contains("scheduler"));
    if !spec.queues.is_empty() || scheduler {
        vars.extend(["VALKEY_URL", "DATABASE_URL"]);
    }
    if spec.queues.iter().any(|q| q == "emails") {
        vars.extend(["EMAIL_SERVER_HOST", "EMAIL_FROM", "NEXTAUTH_URL"]);
    }
    if spec.queues.iter().any(|q| q == "elasticsearch-reindex") {
        vars.push("ELASTICSEARCH_NODE");
    }
    vars
}

/// The required variables that `env` lacks (or has empty).
pub fn missing_in(spec: &AppSpec, env: &BTreeMap<String, String>) -> Vec<&'static str> {
    required_vars(spec)
        .into_iter()
        .filter(|v| env.get(*v).is_none_or(|x| x.trim().is_empty()))
        .collect()
}

/// The required variables a boot would not give the app: its env files (read now) and table
/// over `recorded`, the environment saved for it. An env file that cannot be read is an error.
pub fn missing_at_boot(
    spec: &AppSpec,
    recorded: &BTreeMap<String, String>,
) -> Result<Vec<&'static str>, String> {
    let (env, _) = spec.env_sources.layer(recorded)?;
    Ok(missing_in(spec, &env))
}

/// How to fix a variable a boot would lack, for the messages of doctor, save and startup.
pub fn boot_fix(app: &str, vars: &[&str]) -> String {
    format!(
        "{app}: {} would be missing at boot (`tpctl resurrect` runs without your shell's environment): put {} in the app's env_file (e.g. .env beside ecosystem.toml), or start the app from a shell that has {} and run `tpctl save` (tpctl records the environment of an app's first start; `tpctl restart {app} --update-env` records it again)",
        vars.join(", "),
        if vars.len() == 1 { "it" } else { "them" },
        if vars.len() == 1 { "it" } else { "them" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_variable_only_the_shell_had_is_missing_at_boot() {
        let shell = BTreeMap::from([("VALKEY_URL".to_string(), "redis://h".to_string())]);
        let specs = crate::config::parse(
            Path::new("/srv/e.toml"),
            "[[apps]]\nname = 'w'\nscript = '/bin/sleep'\nqueue = 'q'\nenv = { DATABASE_URL = 'postgres://h/db' }\n",
            &shell,
        )
        .expect("valid");
        let s = &specs[0];
        assert!(missing_in(s, &s.env).is_empty());
        assert_eq!(
            missing_at_boot(s, &BTreeMap::new()).expect("layer"),
            vec!["VALKEY_URL"]
        );
        assert!(missing_at_boot(s, &shell).expect("layer").is_empty());
    }
}
