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
    /// `user`, `umask`, `no_new_privileges`, `limit_*`.
    pub privileges: crate::spec::Privileges,
    /// `notify = true`: readiness and watchdog (sd_notify).
    pub notify: Option<crate::spec::NotifySpec>,
    /// `health`: the check and its timing.
    pub health: Option<crate::spec::HealthSpec>,
    pub after: Vec<String>,
    pub queues: Vec<String>,
    /// `restart_when_not_consuming`, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_when_not_consuming_ms: Option<u64>,
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

/// Groups of the ledger `describe` shows without `--all`.
const LEDGER_SHOWN: usize = 5;

pub fn describe(ctx: &Ctx, name: &str, json: bool, all: bool) -> Result<Outcome, CommandError> {
    let out = descriptions(&ctx.home, name)?;
    if json {
        let text = serde_json::to_string_pretty(&out).map_err(|e| CommandError::Io {
            what: "cannot encode JSON".into(),
            source: std::io::Error::other(e),
        })?;
        println!("{text}");
    } else {
        for d in &out {
            print!("{}", text(d, all));
        }
    }
    Ok(Outcome::Success)
}

/// What `describe --json` shows of every instance of `name` (also `tpctl web`'s app page).
pub fn descriptions(
    home: &crate::home::Home,
    name: &str,
) -> Result<Vec<Description>, CommandError> {
    let ids = targets::ids(home, &[name.to_string()])?;
    let mut out = Vec::new();
    for id in &ids {
        let dir = home.app(id);
        let (status, spec, ledger) =
            match client::request(&dir, Request::Describe, inventory::STATUS_TIMEOUT) {
                Ok(Response::Describe {
                    status,
                    spec,
                    ledger,
                }) => (status, Some(*spec), ledger),
                Ok(Response::Error { message }) => {
                    return Err(CommandError::Refused {
                        id: id.clone(),
                        message,
                    });
                }
                _ => {
                    let status = inventory::statuses(home, std::slice::from_ref(id)).remove(0);
                    let ledger = state::load(&dir.state_path())
                        .map(|s| s.ledger.into_iter().collect())
                        .unwrap_or_default();
                    (status, targets::saved_spec(home, id), ledger)
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
    Ok(out)
}

/// Consecutive ledger entries with the same cause and the same last stderr lines, as one.
struct Group<'a> {
    /// The newest of them.
    entry: &'a LedgerEntry,
    first_at_ms: u64,
    count: usize,
}

fn fold(ledger: &[LedgerEntry]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for e in ledger {
        match groups.last_mut() {
            Some(g) if g.entry.cause == e.cause && g.entry.stderr_tail == e.stderr_tail => {
                g.entry = e;
                g.count += 1;
            }
            _ => groups.push(Group {
                entry: e,
                first_at_ms: e.at_ms,
                count: 1,
            }),
        }
    }
    groups
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
        privileges: spec.privileges.clone(),
        notify: spec.notify,
        health: spec.health.clone(),
        after: spec.after,
        queues: spec.queues,
        restart_when_not_consuming_ms: spec
            .restart_when_not_consuming
            .map(|w| w.as_millis() as u64),
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

fn text(d: &Description, all: bool) -> String {
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
    if let Some(said) = &s.notify_status {
        line("app says", said.clone());
    }
    if let Some(h) = &s.health {
        line("health", h.clone());
    }
    let now_ms = crate::keeper::now_ms();
    for c in &s.consumption {
        line(&format!("queue {}", c.queue), c.describe(now_ms));
    }
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
    let p = &d.privileges;
    line(
        "user",
        p.account.as_ref().map_or("tpctl's own".into(), |a| {
            format!(
                "{} (uid {}), group {} (gid {}), groups {:?}",
                a.user, a.uid, a.group, a.gid, a.groups
            )
        }),
    );
    line(
        "umask",
        p.umask.map_or("tpctl's own".into(), |m| format!("{m:04o}")),
    );
    line("no_new_privileges", p.no_new_privileges.to_string());
    line(
        "limits",
        if p.limits.is_empty() {
            "tpctl's own".into()
        } else {
            p.limits
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    line(
        "health check",
        d.health.as_ref().map_or("-".into(), |h| {
            format!(
                "{} every {} (timeout {}, {} failures restart{}, grace {})",
                h.check,
                format_duration(h.every),
                format_duration(h.timeout),
                h.retries,
                if h.restart { "" } else { " off: report only" },
                format_duration(h.grace)
            )
        }),
    );
    line(
        "notify",
        d.notify.map_or("-".into(), |n| {
            format!(
                "ready within {}, watchdog {}",
                format_duration(n.ready_timeout),
                n.watchdog.map_or("none".into(), format_duration)
            )
        }),
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
    if !d.queues.is_empty() {
        line(
            "consumption",
            match d.restart_when_not_consuming_ms {
                Some(ms) => format!(
                    "watched; restart_when_not_consuming {}",
                    format_duration(std::time::Duration::from_millis(ms))
                ),
                None => "watched (report only: no restart_when_not_consuming)".into(),
            },
        );
    }
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
        let groups = fold(&d.ledger);
        let shown = if all {
            groups.len()
        } else {
            groups.len().min(LEDGER_SHOWN)
        };
        head.push_str(&format!(
            "  restarts ledger ({} restarts; newest last{})\n",
            d.ledger.len(),
            if shown < groups.len() {
                format!(
                    "; {} older groups not shown, `--all` shows them",
                    groups.len() - shown
                )
            } else {
                String::new()
            }
        ));
        for g in &groups[groups.len() - shown..] {
            let e = g.entry;
            let times = if g.count > 1 {
                format!(
                    "{} × {}, first at {}",
                    render::timestamp(e.at_ms),
                    g.count,
                    render::timestamp(g.first_at_ms)
                )
            } else {
                render::timestamp(e.at_ms)
            };
            head.push_str(&format!(
                "    {times}  {}  after {}\n",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Cause, Exit};

    fn entry(at_ms: u64, code: i32, said: &str) -> LedgerEntry {
        LedgerEntry {
            at_ms,
            cause: Cause::Exit {
                exit: Exit::Code(code),
            },
            uptime_ms: 5,
            stderr_tail: vec![said.to_string()],
        }
    }

    #[test]
    fn repeated_restarts_fold_into_one_line_with_their_count() {
        let mut ledger: Vec<LedgerEntry> =
            (0..16).map(|i| entry(1000 + i, 1, "no Valkey")).collect();
        ledger.push(entry(2000, 1, "no database"));
        ledger.push(entry(3000, 2, "no database"));
        let groups = fold(&ledger);
        let shape: Vec<(u64, u64, usize)> = groups
            .iter()
            .map(|g| (g.first_at_ms, g.entry.at_ms, g.count))
            .collect();
        assert_eq!(shape, [(1000, 1015, 16), (2000, 2000, 1), (3000, 3000, 1)]);
    }
}
