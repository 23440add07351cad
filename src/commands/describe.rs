//! `tpctl describe NAME`: the resolved spec (secret-looking env values redacted), the status and
//! the restart ledger of each instance of an app.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{CommandError, Ctx, Outcome, inventory, targets};
use crate::client;
use crate::config::env::redact;
use crate::config::units::{format_duration, format_size, signal_name};
use crate::keeper::state;
use crate::proto::{AppStatus, LedgerEntry, Request, Response};
use crate::render;
use crate::spec::{AppSpec, RestartSpec};

/// What `describe --json` prints per instance (documented in README).
#[derive(Debug, Serialize)]
pub struct Description {
    pub status: AppStatus,
    pub script: String,
    pub args: Vec<String>,
    pub cwd: String,
    pub source: Option<String>,
    /// Variables set by the ecosystem file or its env files; secret-looking values redacted.
    pub env: BTreeMap<String, String>,
    /// How many variables the app inherits from the environment tpctl was started in.
    pub inherited_env: usize,
    pub restart: RestartSpec,
    pub max_memory_restart: Option<u64>,
    pub kill_signal: String,
    pub kill_timeout_ms: u64,
    pub after: Vec<String>,
    pub queues: Vec<String>,
    pub concurrency: Option<u32>,
    pub ledger: Vec<LedgerEntry>,
    pub logs_dir: String,
    /// The app's alerts: events, limits and destinations (webhook URLs without their path).
    pub alerts: Option<AlertsView>,
}

/// `describe`'s view of an app's alerts.
#[derive(Debug, Serialize)]
pub struct AlertsView {
    pub events: Vec<&'static str>,
    pub max_per_hour: u32,
    pub destinations: Vec<String>,
}

pub fn describe(ctx: &Ctx, name: &str, json: bool) -> Result<Outcome, CommandError> {
    let ids = targets::ids(&ctx.home, &[name.to_string()])?;
    let mut out = Vec::new();
    for id in &ids {
        let dir = ctx.home.app(id);
        let (status, spec, ledger) =
            match client::request(&dir, Request::Describe, inventory::STATUS_TIMEOUT) {
                Ok(Response::Describe {
                    status,
                    spec,
                    ledger,
                }) => (status, Some(*spec), ledger),
                _ => {
                    let status = inventory::statuses(&ctx.home, std::slice::from_ref(id)).remove(0);
                    let ledger = state::load(&dir.state_path())
                        .map(|s| s.ledger.into_iter().collect())
                        .unwrap_or_default();
                    (status, targets::saved_spec(&ctx.home, id), ledger)
                }
            };
        let Some(spec) = spec else { continue };
        out.push(view(
            status,
            spec,
            ledger,
            dir.logs_dir().display().to_string(),
        ));
    }
    if json {
        let text = serde_json::to_string_pretty(&out).map_err(|e| CommandError::Io {
            what: "cannot encode JSON".into(),
            source: std::io::Error::other(e),
        })?;
        println!("{text}");
    } else {
        for d in &out {
            print!("{}", text(d));
        }
    }
    Ok(Outcome::Success)
}

fn view(
    status: AppStatus,
    spec: AppSpec,
    ledger: Vec<LedgerEntry>,
    logs_dir: String,
) -> Description {
    let env: BTreeMap<String, String> = spec
        .env
        .iter()
        .filter(|(k, _)| spec.env_from_config.contains(*k))
        .map(|(k, v)| (k.clone(), redact(k, v)))
        .collect();
    Description {
        inherited_env: spec.env.len() - env.len(),
        env,
        status,
        script: spec.script.display().to_string(),
        args: spec.args,
        cwd: spec.cwd.display().to_string(),
        source: spec.source.map(|p| p.display().to_string()),
        restart: spec.restart,
        max_memory_restart: spec.max_memory_restart,
        kill_signal: signal_name(spec.kill_signal),
        kill_timeout_ms: spec.kill_timeout.as_millis() as u64,
        after: spec.after,
        queues: spec.queues,
        concurrency: spec.concurrency,
        ledger,
        logs_dir,
        alerts: spec.alerts.as_ref().map(|a| AlertsView {
            events: a.events.iter().map(|e| e.as_str()).collect(),
            max_per_hour: a.max_per_hour,
            destinations: crate::alerts::send::Destination::all(a)
                .into_iter()
                .map(|(_, d)| d.describe())
                .collect(),
        }),
    }
}

fn text(d: &Description) -> String {
    let s = &d.status;
    let r = &d.restart;
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<20} {v}\n"));
    line(
        "status",
        format!(
            "{} since {}",
            s.status.as_str(),
            render::timestamp(s.since_ms)
        ),
    );
    if let Some(said) = &s.last_error {
        line("last error", said.clone());
    }
    if let Some(reason) = &s.reason {
        line("reason", reason.clone());
    }
    line("pid", s.pid.map_or("-".into(), |p| p.to_string()));
    line(
        "keeper pid",
        s.keeper_pid.map_or("-".into(), |p| p.to_string()),
    );
    line(
        "uptime",
        s.uptime_ms.map_or("-".into(), render::duration_ms),
    );
    line("restarts", s.restarts.to_string());
    line("memory", s.memory_bytes.map_or("-".into(), render::bytes));
    line(
        "cpu",
        s.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
    );
    line("last exit", render::exit(s.last_exit));
    if s.dropped_log_bytes > 0 {
        line("dropped log bytes", s.dropped_log_bytes.to_string());
    }
    line("script", d.script.clone());
    line(
        "args",
        if d.args.is_empty() {
            "-".into()
        } else {
            d.args.join(" ")
        },
    );
    line("cwd", d.cwd.clone());
    line(
        "ecosystem file",
        d.source.clone().unwrap_or_else(|| "-".into()),
    );
    line("logs", d.logs_dir.clone());
    line("autorestart", r.autorestart.to_string());
    line("max_restarts", r.max_restarts.to_string());
    line("min_uptime", format_duration(r.min_uptime));
    line("restart_delay", format_duration(r.restart_delay));
    line(
        "exp_backoff",
        r.exp_backoff_restart_delay
            .map_or("-".into(), format_duration),
    );
    line("stop_exit_codes", format!("{:?}", r.stop_exit_codes));
    line(
        "max_memory_restart",
        d.max_memory_restart.map_or("-".into(), format_size),
    );
    line("kill_signal", d.kill_signal.clone());
    line(
        "kill_timeout",
        format_duration(std::time::Duration::from_millis(d.kill_timeout_ms)),
    );
    line(
        "alerts",
        d.alerts.as_ref().map_or("-".into(), |a| {
            format!(
                "{} (at most {}/h) to {}",
                a.events.join(", "),
                a.max_per_hour,
                a.destinations.join("; ")
            )
        }),
    );
    line(
        "after",
        if d.after.is_empty() {
            "-".into()
        } else {
            d.after.join(", ")
        },
    );
    line(
        "queue",
        if d.queues.is_empty() {
            "-".into()
        } else {
            d.queues.join(", ")
        },
    );
    line(
        "concurrency",
        d.concurrency.map_or("-".into(), |c| c.to_string()),
    );
    let mut head = format!("{}\n", d.status.id);
    head.push_str(&out);
    head.push_str(&format!(
        "  env ({} set here, {} inherited)\n",
        d.env.len(),
        d.inherited_env
    ));
    for (k, v) in &d.env {
        head.push_str(&format!("    {k}={v}\n"));
    }
    if d.ledger.is_empty() {
        head.push_str("  restarts ledger: empty\n");
    } else {
        head.push_str("  restarts ledger (newest last)\n");
        for e in d.ledger.iter().rev().take(20).rev() {
            head.push_str(&format!(
                "    {}  {}  after {}\n",
                render::timestamp(e.at_ms),
                e.cause,
                render::duration_ms(e.uptime_ms)
            ));
            for l in &e.stderr_tail {
                head.push_str(&format!("      | {l}\n"));
            }
        }
    }
    head.push('\n');
    head
}
