//! `tpctl doctor`: the operator's checklist, each line a verdict. Every check has a short
//! timeout, so an unreachable service is a failed line, never a hang.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config;
use crate::config::required::required_vars;
use crate::home::Home;
use crate::spec::AppSpec;

mod secrets;
mod valkey;

/// How long a service check may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A line's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    /// Worth knowing; does not fail the run.
    Warn,
    Fail,
    /// Not needed by this ecosystem (no app uses the service).
    Skip,
}

/// One line of the checklist (`doctor --json` prints these).
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// What doctor is told.
pub struct Options<'a> {
    pub ecosystem: &'a Path,
    /// Connections the web app needs besides the workers.
    pub web_connections: u32,
}

/// How long a stop must wait for a running job of the queue to end: its lock duration
/// (TestPlanIt's lib/queues.ts; BullMQ's 30 s otherwise), since a job cut off stays locked that
/// long. The sync and reindex workers hand a long job back between two issues or pages, so
/// their bound is one step's worst case (four 30 s requests and their back-off), not their
/// 6 h and 1 h locks.
pub fn stop_bound(queue: &str) -> Duration {
    match queue {
        "issue-sync" | "elasticsearch-reindex" => Duration::from_secs(3 * 60),
        // TestPlanIt 1.x locks a crawl for 60 s and extends it while it runs.
        "generate-from-url" => Duration::from_secs(60),
        _ => Duration::from_secs(30),
    }
}

/// Runs every check.
pub fn run(home: &Home, opts: &Options<'_>) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut push = |check, verdict, detail: String| {
        lines.push(Line {
            check,
            verdict,
            detail,
        })
    };
    let specs = match config::load(opts.ecosystem) {
        Ok(s) => {
            push(
                "ecosystem",
                Verdict::Ok,
                format!(
                    "{} is valid ({} app instances)",
                    opts.ecosystem.display(),
                    s.len()
                ),
            );
            s
        }
        Err(e) => {
            push("ecosystem", Verdict::Fail, e.to_string());
            vec![]
        }
    };
    for s in &specs {
        if let Some(file) = crate::program::script_file(s)
            && !file.is_file()
        {
            push(
                "script",
                Verdict::Fail,
                format!(
                    "{}: {} would run {}, which {} (a TestPlanIt build puts its workers under dist/: `npm run build`)",
                    s.id,
                    s.script.display(),
                    file.display(),
                    if file.exists() {
                        "is not a file"
                    } else {
                        "does not exist"
                    }
                ),
            );
        }
        match std::fs::metadata(&s.script) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {}
            Ok(_) => push(
                "script",
                Verdict::Fail,
                format!("{}: {} is not an executable file", s.id, s.script.display()),
            ),
            Err(e) => push(
                "script",
                Verdict::Fail,
                format!(
                    "{}: {} {}",
                    s.id,
                    s.script.display(),
                    if e.kind() == std::io::ErrorKind::NotFound {
                        "not found".to_string()
                    } else {
                        e.to_string()
                    }
                ),
            ),
        }
    }
    if !specs.is_empty() && !lines.iter().any(|l| l.check == "script") {
        lines.push(Line {
            check: "script",
            verdict: Verdict::Ok,
            detail: "every app's program exists and is executable".into(),
        });
    }
    env_checks(&specs, &mut lines);
    boot_env_checks(home, &specs, &mut lines);
    if lines
        .iter()
        .any(|l| l.check == "env" && l.verdict == Verdict::Fail)
    {
        lines.retain(|l| l.check != "env" || l.verdict != Verdict::Ok);
    }
    timeout_checks(&specs, &mut lines);
    lines.extend(secrets::env_files(&specs));
    lines.extend(secrets::inline(opts.ecosystem, &specs));
    let env_of = |var: &str| {
        specs
            .iter()
            .find_map(|s| s.env.get(var).cloned())
            .or_else(|| std::env::var(var).ok())
            .filter(|v| !v.trim().is_empty())
    };
    // Valkey and PostgreSQL matter to the apps that work queues (and the scheduler); an
    // ecosystem of other programs skips them rather than failing on them.
    let uses_queues = specs.iter().any(|s| !required_vars(s).is_empty());
    for (check, var, service) in [
        ("valkey", "VALKEY_URL", "Valkey"),
        ("postgres", "DATABASE_URL", "PostgreSQL"),
    ] {
        let Some(url) = env_of(var) else {
            lines.push(if uses_queues {
                Line {
                    check,
                    verdict: Verdict::Fail,
                    detail: format!("{var} is not set (in the environment or the ecosystem file)"),
                }
            } else {
                Line {
                    check,
                    verdict: Verdict::Skip,
                    detail: format!("skipped: no app works a queue, so {service} is not needed"),
                }
            });
            continue;
        };
        if check == "valkey" {
            let settings = tp_bullmq::connect::Settings::from_lookup(env_of);
            match env_of("BULLMQ_PREFIX") {
                Some(p) => match tp_bullmq::keys::check_prefix(p.trim()) {
                    Ok(p) => lines.extend(valkey::valkey(&url, p, &settings)),
                    Err(e) => lines.push(Line {
                        check,
                        verdict: Verdict::Fail,
                        detail: e.to_string(),
                    }),
                },
                None => lines.extend(valkey::valkey(
                    &url,
                    tp_bullmq::keys::DEFAULT_PREFIX,
                    &settings,
                )),
            }
        } else {
            lines.extend(postgres(&url, &specs, opts.web_connections));
        }
    }
    lines.push(disk(home, &specs));
    lines.push(boot(home));
    lines
}

fn env_checks(specs: &[AppSpec], lines: &mut Vec<Line>) {
    let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in specs {
        for var in required_vars(s) {
            if s.env.get(var).is_none_or(|v| v.is_empty()) {
                missing.entry(&s.id).or_default().push(var);
            }
        }
    }
    if missing.is_empty() {
        lines.push(Line {
            check: "env",
            verdict: Verdict::Ok,
            detail: "every app has the variables it needs".into(),
        });
    }
    // The sync worker runs without ENCRYPTION_KEY, as the web app does, on TestPlanIt's
    // development key: right only if the web app has no key either.
    for s in specs {
        if s.queues.iter().any(|q| q == "issue-sync")
            && s.env.get("ENCRYPTION_KEY").is_none_or(|v| v.is_empty())
        {
            lines.push(Line {
                check: "env",
                verdict: Verdict::Warn,
                detail: format!(
                    "{}: ENCRYPTION_KEY is not set: stored credentials are read with TestPlanIt's development key; set the web app's ENCRYPTION_KEY if it has one",
                    s.id
                ),
            });
        }
    }
    // The Testmo import worker idles fine without S3 settings, but every import it takes
    // would fail to read its upload: a warning, since many installs never import.
    for s in specs {
        let unset: Vec<&str> = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            .into_iter()
            .filter(|v| s.env.get(*v).is_none_or(|x| x.is_empty()))
            .collect();
        if s.queues.iter().any(|q| q == "testmo-imports") && !unset.is_empty() {
            lines.push(Line {
                check: "env",
                verdict: Verdict::Warn,
                detail: format!(
                    "{}: {} not set: Testmo imports cannot read their uploads from S3; set the web app's AWS_* settings (or remove the app if you do not import from Testmo)",
                    s.id,
                    unset.join(", ")
                ),
            });
        }
    }
    for (app, vars) in missing {
        lines.push(Line {
            check: "env",
            verdict: Verdict::Fail,
            detail: format!(
                "{app}: missing {} (set them in its env_file or env)",
                vars.join(", ")
            ),
        });
    }
}

/// The environment a boot's resurrect would give each app: the one saved with it (or recorded
/// in its run directory), else none of this shell's.
fn recorded_env(
    home: &Home,
    saved: &BTreeMap<String, BTreeMap<String, String>>,
    id: &str,
) -> BTreeMap<String, String> {
    saved
        .get(id)
        .cloned()
        .or_else(|| {
            crate::commands::targets::saved_spec(home, id)
                .map(|s| s.captured_env)
                .filter(|e| !e.is_empty())
        })
        .unwrap_or_default()
}

/// A variable this shell has but a boot would not give the app fails: the app works when
/// started by hand and comes back without it after a reboot.
fn boot_env_checks(home: &Home, specs: &[AppSpec], lines: &mut Vec<Line>) {
    let saved = crate::dump::load_env(home.root())
        .ok()
        .flatten()
        .map(|d| d.apps)
        .unwrap_or_default();
    for s in specs {
        let here = config::required::missing_in(s, &s.env);
        let recorded = recorded_env(home, &saved, &s.id);
        match config::required::missing_at_boot(s, &recorded) {
            Ok(at_boot) => {
                let only_here: Vec<&str> =
                    at_boot.into_iter().filter(|v| !here.contains(v)).collect();
                if !only_here.is_empty() {
                    lines.push(Line {
                        check: "env",
                        verdict: Verdict::Fail,
                        detail: config::required::boot_fix(&s.id, &only_here),
                    });
                }
            }
            Err(e) => lines.push(Line {
                check: "env",
                verdict: Verdict::Fail,
                detail: format!("{}: {e}", s.id),
            }),
        }
    }
}

fn timeout_checks(specs: &[AppSpec], lines: &mut Vec<Line>) {
    for s in specs {
        for q in &s.queues {
            let lock = stop_bound(q);
            if s.kill_timeout < lock {
                lines.push(Line {
                    check: "kill_timeout",
                    verdict: Verdict::Warn,
                    detail: format!(
                        "{}: kill_timeout {} is shorter than the {} a running {q} job may need to end; a job cut off at stop stays locked until its lock expires",
                        s.id,
                        config::units::format_duration(s.kill_timeout),
                        config::units::format_duration(lock)
                    ),
                });
            }
        }
    }
}

fn postgres(url: &str, specs: &[AppSpec], web: u32) -> Vec<Line> {
    let shown = crate::config::env::redact("DATABASE_URL", url);
    let fail = |detail: String| {
        vec![Line {
            check: "postgres",
            verdict: Verdict::Fail,
            detail,
        }]
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start an async runtime: {e}")),
    };
    let result: Result<i64, String> = rt.block_on(async {
        use sqlx::{ConnectOptions, Connection};
        let opts: sqlx::postgres::PgConnectOptions = url
            .parse()
            .map_err(|e| format!("DATABASE_URL {shown} is not valid: {e}"))?;
        let opts = opts.disable_statement_logging();
        let mut conn = tokio::time::timeout(TIMEOUT, opts.connect())
            .await
            .map_err(|_| {
                format!(
                    "PostgreSQL at {shown} did not answer within {}s",
                    TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| {
                format!(
                    "cannot connect to PostgreSQL at {shown}: {e}; start it or fix DATABASE_URL"
                )
            })?;
        let (max,): (String,) = sqlx::query_as("SHOW max_connections")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("cannot read max_connections: {e}"))?;
        let _ = conn.close().await;
        max.trim()
            .parse::<i64>()
            .map_err(|e| format!("odd max_connections {max:?}: {e}"))
    });
    let max = match result {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let workers: u64 = specs
        .iter()
        .map(|s| u64::from(s.concurrency.unwrap_or(1)))
        .sum();
    let need = workers + u64::from(web);
    let mut out = vec![Line {
        check: "postgres",
        verdict: Verdict::Ok,
        detail: format!("reachable at {shown}"),
    }];
    if (max as u64) < need {
        out.push(Line {
            check: "postgres",
            verdict: Verdict::Fail,
            detail: format!("max_connections is {max}, but the workers' concurrency adds up to {workers} and the web app needs {web}: raise max_connections to at least {need}, or lower concurrency"),
        });
    } else {
        out.push(Line {
            check: "postgres",
            verdict: Verdict::Ok,
            detail: format!("max_connections {max} ≥ workers {workers} + web app {web}"),
        });
    }
    out
}

fn disk(home: &Home, specs: &[AppSpec]) -> Line {
    let dir = if home.root().exists() {
        home.root().to_path_buf()
    } else {
        home.root()
            .parent()
            .map_or_else(|| "/".into(), Path::to_path_buf)
    };
    let need: u64 = specs
        .iter()
        .map(|s| {
            s.logs
                .max_size
                .saturating_mul(u64::from(s.logs.keep) + 1)
                .saturating_mul(2)
        })
        .sum::<u64>()
        .max(100 << 20);
    match nix::sys::statvfs::statvfs(&dir) {
        Ok(st) => {
            let free = st.blocks_available() * st.fragment_size();
            let verdict = if free >= need {
                Verdict::Ok
            } else {
                Verdict::Fail
            };
            Line {
                check: "disk",
                verdict,
                detail: format!(
                    "{} free under {} (logs can take up to {})",
                    crate::render::bytes(free),
                    dir.display(),
                    crate::render::bytes(need)
                ),
            }
        }
        Err(e) => Line {
            check: "disk",
            verdict: Verdict::Warn,
            detail: format!("cannot read free space of {}: {e}", dir.display()),
        },
    }
}

fn boot(home: &Home) -> Line {
    let (dump, _) = crate::dump::paths(home.root());
    let system = crate::startup::System::detect();
    let candidates = [
        "/etc/systemd/system/tpctl.service",
        "/etc/init.d/tpctl",
        "/Library/LaunchDaemons/dev.tpctl.plist",
    ];
    let user_unit =
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".config/systemd/user/tpctl.service"));
    let installed =
        candidates.iter().map(Path::new).any(Path::exists) || user_unit.is_some_and(|p| p.exists());
    match (installed, dump.exists()) {
        (true, true) => Line { check: "boot", verdict: Verdict::Ok, detail: "boot integration installed and a saved list exists (`tpctl startup --check` for details)".into() },
        (true, false) => Line { check: "boot", verdict: Verdict::Fail, detail: "boot integration installed but nothing saved: run `tpctl save`".into() },
        (false, _) => Line { check: "boot", verdict: Verdict::Warn, detail: format!("no boot integration: `tpctl save && tpctl startup {}` to bring the apps back after a reboot", system.name()) },
    }
}
