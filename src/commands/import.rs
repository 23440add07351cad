//! `tpctl import pm2 FILE` and `tpctl import pm2-dump [PATH]`: write an ecosystem.toml from a
//! PM2 ecosystem file or dump (see `import.rs` for the mapping).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{CommandError, Outcome};
use crate::import::{self, Imported, Origin};

fn usage(msg: String) -> CommandError {
    CommandError::Usage(msg)
}

/// Reads a PM2 ecosystem file: JavaScript (evaluated by node with the environment shown, and
/// `env` added), JSON or YAML.
fn read_config(file: &Path, env: &[(String, String)]) -> Result<Value, CommandError> {
    read_config_as(file, env, true)
}

/// `read_config`, saying what it does (`shown`) or not (the probes of `computed`).
fn read_config_as(
    file: &Path,
    env: &[(String, String)],
    shown: bool,
) -> Result<Value, CommandError> {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let text = || {
        std::fs::read_to_string(file)
            .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))
    };
    match ext {
        "json" => serde_json::from_str(&text()?)
            .map_err(|e| usage(format!("{} is not valid JSON: {e}", file.display()))),
        "yaml" | "yml" => serde_yaml_ng::from_str(&text()?)
            .map_err(|e| usage(format!("{} is not valid YAML: {e}", file.display()))),
        "js" | "cjs" | "mjs" => {
            let abs = std::path::absolute(file)
                .map_err(|e| usage(format!("cannot resolve {}: {e}", file.display())))?;
            // The file's own console output goes to stderr, where it is shown; stdout carries
            // only the exported object.
            let script = "const w = process.stdout.write.bind(process.stdout); console.log = console.info = console.warn = console.error; const m = require(process.argv[1]); w(JSON.stringify(m && m.default ? m.default : m))";
            let mut cmd = Command::new("node");
            cmd.arg("-e")
                .arg(script)
                .arg(&abs)
                .current_dir(abs.parent().unwrap_or(Path::new("/")));
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
            let node_env = env
                .iter()
                .rev()
                .find(|(k, _)| k == "NODE_ENV")
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var("NODE_ENV").ok());
            if shown {
                println!(
                    "evaluating {} with node, NODE_ENV={} (set variables for it with --env KEY=VALUE)",
                    file.display(),
                    node_env.as_deref().unwrap_or("(unset)")
                );
            }
            let out = cmd.output().map_err(|e| {
                usage(format!("reading {} needs Node.js (`node` on PATH): {e}; or export it to JSON with node and import that", file.display()))
            })?;
            let said = String::from_utf8_lossy(&out.stderr);
            if out.status.success() && shown {
                for line in said.lines() {
                    println!("  {} says: {line}", file.display());
                }
            }
            if !out.status.success() {
                return Err(usage(format!(
                    "node could not load {}: {}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            serde_json::from_slice(&out.stdout).map_err(|e| {
                usage(format!(
                    "{} did not export a JSON-like object: {e}",
                    file.display()
                ))
            })
        }
        _ => Err(usage(format!(
            "{}: expected a .js, .cjs, .json, .yaml or .yml PM2 ecosystem file",
            file.display()
        ))),
    }
}

/// Variables TestPlanIt's `memoryLimits()` reads, and a value each to try: the most specific
/// first (`<PREFIX>_…`), then the shared `WORKER_…`.
const MEMORY_VARS: &[(&str, &str)] = &[
    ("TESTMO_IMPORT_MAX_MEMORY_RESTART", "777M"),
    ("TESTMO_IMPORT_MAX_OLD_SPACE_MB", "777"),
    ("ELASTICSEARCH_REINDEX_MAX_MEMORY_RESTART", "777M"),
    ("ELASTICSEARCH_REINDEX_MAX_OLD_SPACE_MB", "777"),
    ("REPO_CACHE_MAX_MEMORY_RESTART", "777M"),
    ("REPO_CACHE_MAX_OLD_SPACE_MB", "777"),
    ("WORKER_MAX_MEMORY_RESTART", "777M"),
    ("WORKER_MAX_OLD_SPACE_MB", "777"),
];

/// A PM2 file that is JavaScript may compute values from the environment: evaluated again
/// with each known variable set, the values that change are marked as computed, with the
/// variables that change them. Returns one note for them all: a 26-app fleet computes the
/// same two keys of every app.
fn mark_computed(file: &Path, env: &[(String, String)], apps: &mut [Imported]) -> Option<String> {
    for (var, probe) in MEMORY_VARS {
        let mut probed_env = env.to_vec();
        probed_env.push((var.to_string(), probe.to_string()));
        let Ok(v) = read_config_as(file, &probed_env, false) else {
            continue;
        };
        for other in apps_of(&v) {
            let other = import::app(other, Origin::Config);
            let Some(a) = apps.iter_mut().find(|a| a.name == other.name) else {
                continue;
            };
            for (key, value) in &a.keys {
                let changed = other
                    .keys
                    .iter()
                    .find(|(k, _)| k == key)
                    .is_some_and(|(_, v)| v != value);
                if changed {
                    a.computed
                        .entry(key.clone())
                        .or_default()
                        .push(var.to_string());
                }
            }
        }
    }
    // (key, variables) → the apps whose key those variables computed.
    let mut groups: BTreeMap<(&str, &[String]), Vec<&str>> = BTreeMap::new();
    for a in apps.iter() {
        for (key, vars) in &a.computed {
            groups
                .entry((key.as_str(), vars.as_slice()))
                .or_default()
                .push(a.name.as_str());
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut note = "values the PM2 file computed from the environment are marked `# computed`: to keep one, leave it; to change it, edit it, or set its variable and run `tpctl import` again".to_string();
    for ((key, vars), names) in groups {
        let set: Vec<&str> = vars
            .iter()
            .filter(|v| env.iter().any(|(k, _)| k == *v) || std::env::var_os(v).is_some())
            .map(String::as_str)
            .collect();
        let whose = match names.as_slice() {
            [one] => one.to_string(),
            [a, b] => format!("{a} and {b}"),
            [a, b, c] => format!("3 apps ({a}, {b} and {c})"),
            [a, b, c, rest @ ..] => format!(
                "{} apps ({a}, {b}, {c} and {} more)",
                names.len(),
                rest.len()
            ),
            [] => continue,
        };
        note.push_str(&format!(
            "\n  {key} of {whose}: from {} ({})",
            vars.join(", "),
            if set.is_empty() {
                "none set when imported".to_string()
            } else {
                format!("{} set when imported", set.join(", "))
            }
        ));
    }
    Some(note)
}

fn apps_of(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => match o.get("apps") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(single @ Value::Object(_)) => vec![single],
            _ => vec![v],
        },
        _ => vec![],
    }
}

/// `tpctl import pm2 FILE`.
pub fn pm2(
    file: &Path,
    output: Option<PathBuf>,
    force: bool,
    env: &[(String, String)],
) -> Result<Outcome, CommandError> {
    let v = read_config(file, env)?;
    let mut apps: Vec<Imported> = apps_of(&v)
        .into_iter()
        .map(|a| import::app(a, Origin::Config))
        .collect();
    let mut notes = Vec::new();
    if matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("js" | "cjs" | "mjs")
    ) {
        notes.extend(mark_computed(file, env, &mut apps));
    }
    notes.extend(import::testplanit(&mut apps));
    let from = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let out = output.unwrap_or_else(|| from.join("ecosystem.toml"));
    let to = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if !same(from, to) {
        let abs = std::path::absolute(from).unwrap_or_else(|_| from.to_path_buf());
        import::rebase(&mut apps, &abs);
    }
    // What `pm2 start` from this shell would have given the apps: its environment and --env.
    let mut shell = crate::config::env::process_env();
    shell.extend(env.iter().cloned());
    let relied = import::relied_settings(&apps, &shell);
    write(
        &apps,
        &file.display().to_string(),
        &out,
        force,
        &relied,
        &notes,
    )
}

/// `tpctl import pm2-dump [PATH]`.
pub fn pm2_dump(
    path: Option<PathBuf>,
    output: Option<PathBuf>,
    force: bool,
) -> Result<Outcome, CommandError> {
    let path = path.unwrap_or_else(|| {
        let pm2_home = std::env::var_os("PM2_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_default()
                    .join(".pm2")
            });
        pm2_home.join("dump.pm2")
    });
    let text = std::fs::read_to_string(&path).map_err(|e| {
        usage(format!(
            "cannot read {}: {e} (give the dump's path, or set PM2_HOME)",
            path.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{} is not a PM2 dump: {e}", path.display())))?;
    let mut apps: Vec<Imported> = apps_of(&v)
        .into_iter()
        .map(|a| import::app(a, Origin::Dump))
        .collect();
    let shell = crate::config::env::process_env();
    let relied = import::drop_shell_env(&mut apps, &shell);
    let notes: Vec<String> = import::testplanit(&mut apps).into_iter().collect();
    write(
        &apps,
        &path.display().to_string(),
        &output.unwrap_or_else(|| PathBuf::from("ecosystem.toml")),
        force,
        &relied,
        &notes,
    )
}

/// The env file the import writes beside its output for the settings the PM2 apps took from
/// their environment.
const SETTINGS_FILE: &str = "tpctl.env";

fn write(
    apps: &[Imported],
    source: &str,
    out: &Path,
    force: bool,
    relied: &std::collections::BTreeMap<String, String>,
    notes: &[String],
) -> Result<Outcome, CommandError> {
    if apps.is_empty() {
        return Err(usage(format!("{source} defines no apps")));
    }
    if out.exists() && !force {
        return Err(usage(format!(
            "{} exists; use --output PATH, or --force to replace it",
            out.display()
        )));
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let settings = dir.join(SETTINGS_FILE);
    if !relied.is_empty() && settings.exists() && !force {
        return Err(usage(format!(
            "{} exists; use --force to replace it (the import writes the apps' settings there)",
            settings.display()
        )));
    }
    let env_file = |a: &Imported| format!("{}.env", a.name);
    for a in apps.iter().filter(|a| !a.secrets.is_empty()) {
        let path = dir.join(env_file(a));
        write_env_file(&path, &a.secrets)?;
        println!(
            "✓ {}: {} written to {} (0600), not to the ecosystem file",
            a.name,
            crate::render::count(a.secrets.len(), "secret-looking variable"),
            path.display()
        );
    }
    if !relied.is_empty() {
        write_env_file(&settings, relied)?;
        let names: Vec<&str> = relied.keys().map(String::as_str).collect();
        println!(
            "✓ {}: {} the PM2 apps took from their environment ({}) written (0600) and named by [defaults] env_file, so no start depends on the shell it is typed in",
            settings.display(),
            crate::render::count(relied.len(), "setting"),
            names.join(", ")
        );
    }
    let shared = (!relied.is_empty()).then_some(SETTINGS_FILE);
    let text = import::render(apps, source, env_file, shared, notes);
    crate::persist::write_atomic(out, text.as_bytes(), 0o644, true).map_err(|source| {
        CommandError::Io {
            what: format!("cannot write {}", out.display()),
            source,
        }
    })?;
    for a in apps {
        crate::say!("✓ {}", a.name);
        for d in &a.dropped {
            println!("  dropped {d}");
        }
        for n in &a.notes {
            println!("  note: {n}");
        }
    }
    for n in notes {
        println!("note: {n}");
    }
    crate::config::load(out)?;
    crate::say!(
        "wrote {} ({}); check it with `tpctl doctor {}`",
        out.display(),
        crate::render::count(apps.len(), "app"),
        out.display()
    );
    Ok(Outcome::Success)
}

/// Writes a .env file of `vars`, mode 0600, atomically.
fn write_env_file(
    path: &Path,
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<(), CommandError> {
    let body: String = vars
        .iter()
        .map(|(k, v)| format!("{k}={}\n", quote_env(v)))
        .collect();
    crate::persist::write_atomic(path, body.as_bytes(), 0o600, true).map_err(|source| {
        CommandError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        }
    })
}

/// Quotes a value for a .env file when it needs it.
fn quote_env(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@:/._-+=,%".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}
