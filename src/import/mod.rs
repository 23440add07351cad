//! PM2 → tpctl: maps PM2 app descriptions (from an ecosystem.config.js/.json/.yaml or a
//! dump.pm2) to ecosystem.toml text, listing every key it dropped and why. Pure: the command
//! reads the files and writes the results.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::env::redact;
use crate::config::units::{format_duration, format_size};

/// Where the PM2 apps came from: their keys differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An ecosystem file: the keys users write.
    Config,
    /// dump.pm2: PM2's internal `pm2_env`, with the whole environment flattened in.
    Dump,
}

/// One app, ready to be written.
#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    pub name: String,
    /// `key = value` lines, in order, values already TOML-encoded.
    pub keys: Vec<(String, String)>,
    /// Variables for the app's `env` table.
    pub env: BTreeMap<String, String>,
    /// Secret-looking variables: written to an env file, not into ecosystem.toml.
    pub secrets: BTreeMap<String, String>,
    /// What was not carried over, and why.
    pub dropped: Vec<String>,
    /// What the operator should know about what was carried over.
    pub notes: Vec<String>,
    /// Keys whose value the PM2 file computed from environment variables (a `memoryLimits()`
    /// function): key → the variables that change it.
    pub computed: BTreeMap<String, Vec<String>>,
}

mod adjust;
mod paths;
mod render;

pub use adjust::{drop_shell_env, relied_settings, testplanit};
pub use paths::rebase;
pub use render::render;

/// PM2 keys with no tpctl equivalent, and why.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "watch",
        "file watching is not supported; restart with `tpctl restart` after a deploy",
    ),
    ("ignore_watch", "file watching is not supported"),
    ("watch_delay", "file watching is not supported"),
    (
        "exec_mode",
        "tpctl runs every instance as its own process (fork mode); cluster mode is not supported",
    ),
    ("listen_timeout", "readiness signals are not supported"),
    ("wait_ready", "readiness signals are not supported"),
    ("shutdown_with_message", "tpctl stops with kill_signal"),
    ("namespace", "not supported"),
    (
        "log_file",
        "tpctl writes out.log and err.log (or one file with merge_logs)",
    ),
    ("pid_file", "tpctl keeps pids in its run directory"),
    ("source_map_support", "not supported"),
    ("vizion", "not supported"),
    ("increment_var", "not supported"),
    (
        "instance_var",
        "tpctl sets NODE_APP_INSTANCE and TPCTL_INSTANCE",
    ),
    (
        "merge_logs",
        "in PM2 it only drops the `-ID` suffix from the log files of several instances (with one it changes nothing); tpctl's merge_logs is another thing (stdout and stderr in one file), so it is not carried over",
    ),
    (
        "combine_logs",
        "PM2's other name for merge_logs: in PM2 it only drops the `-ID` suffix from the log files of several instances (with one it changes nothing); tpctl's merge_logs is another thing (stdout and stderr in one file), so it is not carried over",
    ),
    ("force", "not needed: tpctl start is idempotent"),
    (
        "kill_retry_time",
        "tpctl sends kill_signal once, then SIGKILL to the group after kill_timeout",
    ),
    (
        "filter_env",
        "apps inherit tpctl's environment; set what they need in env or env_file",
    ),
    (
        "append_env_to_name",
        "app names are used as written; start one ecosystem file per environment",
    ),
    (
        "post_update",
        "tpctl runs no deploy hooks: run these commands in your deploy script",
    ),
    ("min_uptime_pmx", "not supported"),
];

/// Keys of a PM2 ecosystem file that the mapping below reads (or the table above reports);
/// any other key is reported as unknown rather than left out silently.
const READ: &[&str] = &[
    "name",
    "script",
    "args",
    "cwd",
    "instances",
    "autorestart",
    "autostart",
    "max_restarts",
    "min_uptime",
    "restart_delay",
    "exp_backoff_restart_delay",
    "kill_timeout",
    "kill_signal",
    "max_memory_restart",
    "stop_exit_codes",
    "log_date_format",
    "time",
    "out_file",
    "error_file",
    "output",
    "error",
    "env",
    "interpreter",
    "exec_interpreter",
    "node_args",
    "interpreter_args",
    "cron_restart",
    "treekill",
    "uid",
    "gid",
];

/// Environment variables a dump carries from PM2's own environment, not the app's.
const SYSTEM_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "TERM",
    "LANG",
    "LANGUAGE",
    "HOSTNAME",
    "_",
    "MAIL",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "XDG_RUNTIME_DIR",
    "XDG_SESSION_ID",
    "DBUS_SESSION_BUS_ADDRESS",
    "NODE_APP_INSTANCE",
    "unique_id",
    "pm_id",
];

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn toml_str(x: &str) -> String {
    toml::Value::String(x.to_string()).to_string()
}

fn toml_list(xs: &[String]) -> String {
    toml::Value::Array(xs.iter().map(|x| toml::Value::String(x.clone())).collect()).to_string()
}

/// A PM2 args value (string or array) as a list of words.
fn words(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(s).collect(),
        Value::String(x) => shell_words::split(x)
            .unwrap_or_else(|_| x.split_whitespace().map(str::to_string).collect()),
        _ => vec![],
    }
}

/// A PM2 duration (milliseconds, or a string like "10s") in tpctl's syntax.
/// Maps one PM2 app.
pub fn app(v: &Value, origin: Origin) -> Imported {
    let get = |k: &str| v.get(k).filter(|x| !x.is_null());
    let mut out = Imported {
        name: get("name").and_then(s).unwrap_or_else(|| "app".into()),
        ..Imported::default()
    };
    let script = match origin {
        Origin::Config => get("script").and_then(s),
        Origin::Dump => get("pm_exec_path").and_then(s),
    }
    .unwrap_or_default();
    let interpreter = get("interpreter")
        .or_else(|| get("exec_interpreter"))
        .and_then(s);
    let node_args = get("node_args").map(words).unwrap_or_default();
    let interp_args = get("interpreter_args").map(words).unwrap_or_default();
    let mut args = get("args").map(words).unwrap_or_default();
    let is_js = [".js", ".cjs", ".mjs"].iter().any(|e| script.ends_with(e));
    let interpreter = match interpreter.as_deref() {
        Some("none") => None,
        Some(i) => Some(i.to_string()),
        None if is_js => Some("node".to_string()),
        None => None,
    };
    // `script: "node", args: "dist/workers/x.js"` with node_args (TestPlanIt 1.x's form): the
    // program is node, so its options go before the file, as they would on node's command line.
    let runs_node = std::path::Path::new(&script)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| matches!(n, "node" | "nodejs" | "tsx"));
    if interpreter.is_none() && runs_node && !(node_args.is_empty() && interp_args.is_empty()) {
        let mut full: Vec<String> = interp_args.iter().chain(&node_args).cloned().collect();
        full.append(&mut args);
        args = full;
    } else if interpreter.is_none() && !(node_args.is_empty() && interp_args.is_empty()) {
        let given: Vec<String> = interp_args.iter().chain(&node_args).cloned().collect();
        out.dropped.push(format!(
            "node_args/interpreter_args: PM2 ignores them for a program run directly ({script}); if they were meant for it, add them: args = {}",
            toml_list(&given)
        ));
    }
    let script = match interpreter {
        Some(i) => {
            let mut full = interp_args;
            if i.ends_with("node") {
                full.extend(node_args);
            }
            full.push(paths::normalize(&script));
            full.append(&mut args);
            args = full;
            i
        }
        None => paths::normalize_program(&script),
    };
    out.keys.push(("script".into(), toml_str(&script)));
    if !args.is_empty() {
        out.keys.push(("args".into(), toml_list(&args)));
    }
    let cwd = match origin {
        Origin::Config => get("cwd").and_then(s),
        Origin::Dump => get("pm_cwd").and_then(s),
    };
    // The PM2 file's directory is tpctl's default too (a dump's cwd is absolute).
    if let Some(cwd) = cwd.map(|c| paths::normalize(&c)).filter(|c| c != ".") {
        out.keys.push(("cwd".into(), toml_str(&cwd)));
    }
    if let Some(n) = get("instances").and_then(|i| i.as_u64()).filter(|n| *n > 1) {
        out.keys.push(("instances".into(), n.to_string()));
    } else if get("instances")
        .and_then(s)
        .is_some_and(|i| i == "max" || i == "-1" || i == "0")
    {
        out.dropped.push(
            "instances = max: set a number of instances (tpctl does not size to the CPU count)"
                .into(),
        );
    }
    // Values equal to tpctl's defaults are left out: the file says what differs.
    if let Some(b) = get("autorestart").and_then(Value::as_bool).filter(|b| !b) {
        out.keys.push(("autorestart".into(), b.to_string()));
    }
    if let Some(b) = get("autostart").and_then(Value::as_bool).filter(|b| !b) {
        out.keys.push(("autostart".into(), b.to_string()));
    }
    if let Some(sig) = get("kill_signal").and_then(s) {
        match crate::config::units::parse_signal(&sig) {
            Ok(n) if n == crate::config::defaults::KILL_SIGNAL => {}
            Ok(n) => out.keys.push((
                "kill_signal".into(),
                toml_str(&crate::config::units::signal_name(n)),
            )),
            Err(e) => out.dropped.push(format!("kill_signal: {e}")),
        }
    }
    // PM2's uid/gid are tpctl's user/group (a name or a number, as PM2 takes them).
    for (pm2, ours) in [("uid", "user"), ("gid", "group")] {
        if pm2 == "gid" && get("uid").is_none() && get("gid").is_some() {
            out.dropped.push(
                "gid without uid: tpctl sets a group only with `user`; add user = \"NAME\" and group".into(),
            );
            continue;
        }
        match get(pm2) {
            Some(Value::String(n)) if !n.is_empty() => out.keys.push((ours.into(), toml_str(n))),
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                out.keys.push((ours.into(), n.to_string()))
            }
            Some(other) => out.dropped.push(format!(
                "{pm2}: {other} is neither a user name nor a number"
            )),
            None => {}
        }
    }
    if let Some(pattern) = get("cron_restart").and_then(s) {
        match crate::spec::parse_cron(&pattern) {
            Ok(_) => out.keys.push(("cron_restart".into(), toml_str(&pattern))),
            Err(e) => out.dropped.push(format!("cron_restart: {e}")),
        }
    }
    if get("treekill").and_then(Value::as_bool) == Some(false) {
        out.dropped
            .push("treekill = false: tpctl always signals the app's whole process group".into());
    }
    if let Some(n) = get("max_restarts")
        .and_then(Value::as_u64)
        .filter(|n| *n != u64::from(crate::config::defaults::MAX_RESTARTS))
    {
        out.keys.push(("max_restarts".into(), n.to_string()));
    }
    let default_of = |key: &str| match key {
        "min_uptime" => Some(crate::config::defaults::MIN_UPTIME),
        "restart_delay" => Some(std::time::Duration::ZERO),
        "kill_timeout" => Some(crate::config::defaults::KILL_TIMEOUT),
        _ => None,
    };
    for key in [
        "min_uptime",
        "restart_delay",
        "exp_backoff_restart_delay",
        "kill_timeout",
    ] {
        let given = get(key).and_then(s).and_then(|t| {
            crate::config::units::parse_duration(&t)
                .ok()
                .filter(|d| Some(*d) != default_of(key))
        });
        if let Some(d) = given {
            out.keys.push((key.into(), toml_str(&format_duration(d))));
        }
    }
    if let Some(m) = get("max_memory_restart") {
        let size = match m {
            Value::Number(n) => n.as_u64().map(format_size),
            other => s(other)
                .and_then(|t| crate::config::units::parse_size(&t).ok())
                .map(format_size),
        };
        if let Some(size) = size {
            out.keys
                .push(("max_memory_restart".into(), toml_str(&size)));
        }
    }
    if let Some(codes) = get("stop_exit_codes") {
        let list: Vec<String> = match codes {
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_i64)
                .map(|c| c.to_string())
                .collect(),
            other => other
                .as_i64()
                .map(|c| vec![c.to_string()])
                .unwrap_or_default(),
        };
        if !list.is_empty() {
            out.keys
                .push(("stop_exit_codes".into(), format!("[{}]", list.join(", "))));
        }
    }
    if let Some(fmt) = get("log_date_format").and_then(s) {
        out.keys.push(("time".into(), "true".into()));
        out.keys.push(("log_date_format".into(), toml_str(&fmt)));
    } else if get("time").and_then(Value::as_bool) == Some(true) {
        out.keys.push(("time".into(), "true".into()));
    }
    if origin == Origin::Config {
        for (key, ours) in [
            ("out_file", "out_file"),
            ("error_file", "error_file"),
            ("output", "out_file"),
            ("error", "error_file"),
        ] {
            if let Some(p) = get(key).and_then(s) {
                out.keys
                    .push((ours.into(), toml_str(&paths::normalize(&p))));
            }
        }
    }
    // Environment: the app's own variables; a dump also carries PM2's environment.
    if let Some(Value::Object(env)) = get("env") {
        for (k, val) in env {
            let Some(val) = s(val) else { continue };
            // A dump keeps PM2's own environment, and each app's env record under its name.
            if origin == Origin::Dump
                && (SYSTEM_VARS.contains(&k.as_str())
                    || k.starts_with("PM2_")
                    || k.starts_with("pm_")
                    || *k == out.name
                    || val.starts_with('{'))
            {
                continue;
            }
            if redact(k, &val) != val {
                out.secrets.insert(k.clone(), val);
            } else {
                out.env.insert(k.clone(), val);
            }
        }
    }
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if val.is_null() || val == &Value::Bool(false) {
                continue;
            }
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(u, _)| *u == k) {
                // PM2 writes its defaults into every dump entry: only a changed one means something.
                let default = match k.as_str() {
                    "exec_mode" => s(val).is_some_and(|m| m.starts_with("fork")),
                    "instance_var" => s(val).as_deref() == Some("NODE_APP_INSTANCE"),
                    "namespace" => s(val).as_deref() == Some("default"),
                    "vizion" | "merge_logs" => origin == Origin::Dump,
                    "kill_retry_time" => val.as_u64() == Some(100),
                    _ => false,
                };
                if default {
                    continue;
                }
                out.dropped.push(format!("{k}: {why}"));
            } else if origin == Origin::Config && k.starts_with("env_") {
                out.dropped.push(format!(
                    "{k}: PM2 applies it with `--env {}`; tpctl has one env per app: put these in an env_file per deployment",
                    &k[4..]
                ));
            } else if origin == Origin::Config && !READ.contains(&k.as_str()) {
                out.dropped
                    .push(format!("{k}: not a PM2 key tpctl knows; left out"));
            }
        }
        if origin == Origin::Dump
            && obj.get("status").and_then(Value::as_str) == Some("stopped")
            && obj.get("autorestart").and_then(Value::as_bool) != Some(false)
        {
            out.dropped
                .push("status: it was stopped in PM2; `tpctl start` will start it".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_worker_becomes_node_with_its_args() {
        let v: Value = serde_json::json!({
            "name": "forecast-worker", "script": "dist/workers/forecastWorker.js", "node_args": "--max-old-space-size=384",
            "max_memory_restart": "512M", "kill_timeout": 10000, "exec_mode": "fork", "env": { "NODE_ENV": "production" }
        });
        let a = app(&v, Origin::Config);
        assert_eq!(a.keys[0], ("script".into(), "\"node\"".into()));
        assert_eq!(
            a.keys[1],
            (
                "args".into(),
                "[\"--max-old-space-size=384\", \"dist/workers/forecastWorker.js\"]".into()
            )
        );
        assert!(
            a.keys
                .contains(&("max_memory_restart".into(), "\"512M\"".into()))
        );
        assert!(a.keys.contains(&("kill_timeout".into(), "\"10s\"".into())));
        assert_eq!(a.env["NODE_ENV"], "production");
        assert!(a.dropped.is_empty(), "{:?}", a.dropped);
    }

    #[test]
    fn unsupported_keys_are_listed_with_reasons_and_secrets_kept_apart() {
        let v: Value = serde_json::json!({
            "name": "sync", "script": "./sync", "watch": true, "cron_restart": "0 4 * * *", "exec_mode": "cluster",
            "env": { "API_TOKEN": "t0k", "LOG_LEVEL": "info" }, "env_production": { "X": "1" }
        });
        let a = app(&v, Origin::Config);
        let dropped = a.dropped.join("\n");
        for k in ["watch:", "exec_mode:", "env_production:"] {
            assert!(dropped.contains(k), "{dropped}");
        }
        assert_eq!(a.secrets["API_TOKEN"], "t0k");
        assert!(!a.env.contains_key("API_TOKEN"));
        let text = render(&[a], "x", |_| "sync.env".into(), None, &[]);
        assert!(
            !text.contains("t0k") && text.contains("env_file = \"sync.env\""),
            "{text}"
        );
    }

    #[test]
    fn pm2_uid_and_gid_become_user_and_group() {
        let v: Value =
            serde_json::json!({ "name": "w", "script": "./w", "uid": "testplanit", "gid": 33 });
        let a = app(&v, Origin::Config);
        assert!(a.keys.contains(&("user".into(), "\"testplanit\"".into())));
        assert!(a.keys.contains(&("group".into(), "33".into())));
        let v: Value = serde_json::json!({ "name": "w", "script": "./w", "gid": "www-data" });
        let a = app(&v, Origin::Config);
        assert!(!a.keys.iter().any(|(k, _)| k == "group"));
        assert!(a.dropped.join("\n").contains("gid without uid"));
    }
}
