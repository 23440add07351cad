//! `tpctl queues` and `tpctl queue NAME ACTION`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use tp_bullmq::JobOptions;
use tp_bullmq::admin::{Refused, State};

use super::{CommandError, Ctx, Outcome};
use crate::cli::QueueAction;
use crate::proto::ConsumptionState;
use crate::queues::{self, QueueRow, Valkey};
use crate::spec::AppSpec;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> CommandError + '_ {
    move |source| CommandError::Io {
        what: what.to_string(),
        source,
    }
}

fn valkey(apps: &[AppSpec]) -> Result<Valkey, CommandError> {
    queues::valkey(apps)
        .map_err(|e| CommandError::Usage(e.to_string()))?
        .ok_or_else(|| {
            CommandError::Usage(
                "VALKEY_URL is not set: export it, or set it in the env or env_file of the apps in ./ecosystem.toml".into(),
            )
        })
}

/// `tpctl queues [--json] [--watch]`.
pub fn list(ctx: &Ctx, json_out: bool, watch: bool) -> Result<Outcome, CommandError> {
    let apps = queues::ecosystem()?;
    let valkey = valkey(&apps)?;
    let configured = queues::configured(&apps);
    let rt = queues::runtime().map_err(io("cannot start an async runtime"))?;
    loop {
        let rows = rt.block_on(queues::rows(&valkey, &configured));
        let mut rows = match rows {
            Ok(r) => r,
            Err(e) if watch => {
                println!("{e} (retrying)");
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Outcome::Failed);
            }
        };
        // Whether the apps tpctl runs consume their queues, from their keepers.
        if let Ok(apps) = super::inventory::all(&ctx.home) {
            queues::add_consumers(&mut rows, &apps);
        }
        if watch && std::io::stdout().is_terminal() {
            print!("\x1b[2J\x1b[H");
        }
        if json_out {
            let text = serde_json::to_string_pretty(&rows).map_err(|e| CommandError::Io {
                what: "cannot encode JSON".into(),
                source: std::io::Error::other(e),
            })?;
            println!("{text}");
        } else {
            println!("{}", table(&rows, ctx.color));
        }
        if !watch {
            return Ok(Outcome::Success);
        }
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `email-worker, email-worker-1 (not consuming)`: the apps on the queue, marked when they
/// do not consume it.
fn consumers(r: &QueueRow, now_ms: u64) -> String {
    if r.consumers.is_empty() {
        return "-".into();
    }
    r.consumers
        .iter()
        .map(|c| match c.consumption.state {
            ConsumptionState::Consuming => c.app.clone(),
            ConsumptionState::NotConsuming => format!(
                "{} (not consuming for {})",
                c.app,
                crate::render::duration_ms(
                    now_ms.saturating_sub(c.consumption.since_ms.unwrap_or(now_ms))
                )
            ),
            ConsumptionState::Unknown => format!("{} (unknown)", c.app),
            ConsumptionState::Checking => format!("{} (checking)", c.app),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status an operator acts on: "waiting, no worker" when jobs wait and nobody takes them.
fn shown_status(r: &QueueRow) -> &'static str {
    if r.no_worker {
        "waiting, no worker"
    } else {
        r.status
    }
}

fn table(rows: &[QueueRow], color: bool) -> String {
    use crate::fit::Column;
    if rows.is_empty() {
        return "no queues found".into();
    }
    let col = |f: &dyn Fn(&QueueRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let colors = rows
        .iter()
        .map(|r| match shown_status(r) {
            "error" | "waiting, no worker" => Some("31"),
            "paused" => Some("33"),
            "active" => Some("32"),
            _ => Some("90"),
        })
        .collect();
    let columns = vec![
        Column::new("queue", col(&|r| r.queue.clone())),
        Column::new("status", col(&|r| shown_status(r).to_string())).colors(colors),
        Column::new("workers", col(&|r| r.workers.to_string())),
        Column::new(
            "concurrency",
            col(&|r| r.concurrency.map_or("-".into(), |c| c.to_string())),
        )
        .drop_rank(0),
        Column::new(
            "waiting",
            col(&|r| (r.counts.waiting + r.counts.paused).to_string()),
        ),
        Column::new("active", col(&|r| r.counts.active.to_string())),
        Column::new("completed", col(&|r| r.counts.completed.to_string())).drop_rank(2),
        Column::new("failed", col(&|r| r.counts.failed.to_string())),
        Column::new("delayed", col(&|r| r.counts.delayed.to_string())).drop_rank(3),
        Column::new("prioritized", col(&|r| r.counts.prioritized.to_string())).drop_rank(1),
    ];
    let now_ms = crate::keeper::now_ms();
    let mut columns = columns;
    if rows.iter().any(|r| !r.consumers.is_empty()) {
        columns.push(
            Column::new("consumed by", col(&|r| consumers(r, now_ms)))
                .shrink_to(12)
                .drop_rank(4),
        );
    }
    let mut out = crate::fit::render(columns, crate::fit::width(), color);
    for r in rows {
        if let Some(e) = &r.error {
            out.push_str(&format!("\n{}: {e}", r.queue));
        }
        for c in &r.consumers {
            if c.consumption.state != ConsumptionState::Consuming {
                let said = c.consumption.describe(now_ms);
                out.push_str(&format!("\n{}: {}: {said}", r.queue, c.app));
            }
        }
    }
    out
}

/// Asks before a destructive action; without a terminal, `--yes` is required.
fn confirm(what: &str, yes: bool) -> Result<bool, CommandError> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::Usage(format!(
            "{what}: confirm with --yes (no terminal to ask on)"
        )));
    }
    print!("{what}? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(io("cannot read the answer"))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn state(s: &str) -> Result<State, CommandError> {
    State::parse(s).ok_or_else(|| CommandError::Usage(format!("unknown state {s:?}: use waiting, paused, active, delayed, prioritized, completed or failed")))
}

/// Why an action on a job was refused, with the state it is in and the one the action needs.
async fn refused(q: &tp_bullmq::Queue, id: &str, r: Refused, needs: &str) -> String {
    match r {
        Refused::NoSuchJob => format!("no job {id}"),
        Refused::Locked => {
            format!("job {id} is running; wait for it, or use --force to retry while it finishes")
        }
        Refused::WrongState => {
            let is = match q.state_of(id).await {
                Ok(Some(s)) => s.as_str().to_string(),
                Ok(None) => "waiting for its children".to_string(),
                Err(_) => "in another state".to_string(),
            };
            format!("job {id} is {is}; this action needs a {needs} job")
        }
    }
}

/// Actions that make sense on a queue nobody has used yet: pausing it before its workers
/// start, or adding its first job.
fn creates_queue(action: &QueueAction) -> bool {
    matches!(
        action,
        QueueAction::Pause | QueueAction::Resume | QueueAction::Add { .. }
    )
}

pub(crate) fn unknown_queue(name: &str, known: &[String]) -> CommandError {
    let hint = crate::suggest::closest(name, known.iter().map(String::as_str))
        .map(|k| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    CommandError::Usage(format!(
        "no queue {name:?} in Valkey or ./ecosystem.toml{hint}; known queues: {known}"
    ))
}

/// `tpctl queue NAME ACTION`.
pub fn act(
    _ctx: &Ctx,
    name: &str,
    action: &QueueAction,
    yes: bool,
) -> Result<Outcome, CommandError> {
    let apps = queues::ecosystem()?;
    let valkey = valkey(&apps)?;
    let configured = queues::configured(&apps);
    let rt = queues::runtime().map_err(io("cannot start an async runtime"))?;
    rt.block_on(async {
        let q = match queues::open(&valkey, name, &configured).await {
            Ok(queues::Opened {
                unknown: Some(known),
                ..
            }) if !creates_queue(action) => {
                return Err(unknown_queue(name, &known));
            }
            Ok(opened) => opened.queue,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Outcome::Failed);
            }
        };
        let fail = |m: String| {
            eprintln!("error: {m}");
            Ok(Outcome::Failed)
        };
        let bullmq = |e: tp_bullmq::Error| CommandError::Io {
            what: format!("queue {name}"),
            source: std::io::Error::other(e),
        };
        match action {
            QueueAction::Pause => {
                q.pause().await.map_err(bullmq)?;
                println!("✓ {name}: paused");
            }
            QueueAction::Resume => {
                q.resume().await.map_err(bullmq)?;
                println!("✓ {name}: resumed");
            }
            QueueAction::Jobs {
                state: s,
                limit,
                json,
            } => {
                let states = s.iter().map(|x| state(x)).collect::<Result<Vec<_>, _>>()?;
                let now = tp_bullmq::queue::now_ms();
                let text = super::queue_jobs::list(&q, &states, *limit, *json, now)
                    .await
                    .map_err(bullmq)?;
                if text.is_empty() {
                    let which = if s.is_empty() {
                        String::new()
                    } else {
                        format!("{} ", s.join("/"))
                    };
                    eprintln!("no {which}jobs in {name}");
                } else {
                    println!("{text}");
                }
            }
            QueueAction::Job { id, json } => {
                let Some(j) = q.job(id).await.map_err(bullmq)? else {
                    return fail(format!("no job {id} in queue {name}"));
                };
                let logs = q.job_logs(id).await.map_err(bullmq)?;
                let st = q.state_of(id).await.map_err(bullmq)?;
                println!(
                    "{}",
                    super::queue_jobs::show(&j, st, &logs, *json, tp_bullmq::queue::now_ms())
                );
            }
            QueueAction::Retry { id: Some(id), .. } => {
                match q.retry(id, State::Failed).await.map_err(bullmq)? {
                    Ok(()) => println!("✓ {name}: job {id} will run again"),
                    Err(r) => return fail(refused(&q, id, r, "failed").await),
                }
            }
            QueueAction::Retry { id: None, .. } => {
                let n = q.retry_all_failed().await.map_err(bullmq)?;
                println!(
                    "✓ {name}: {} will run again",
                    crate::render::count(n as usize, "failed job")
                );
            }
            QueueAction::Promote { id } => match q.promote(id).await.map_err(bullmq)? {
                Ok(()) => println!("✓ {name}: job {id} promoted"),
                Err(r) => return fail(refused(&q, id, r, "delayed").await),
            },
            QueueAction::Remove { id, force } => {
                if !confirm(&format!("remove job {id} from {name}"), yes)? {
                    return Ok(Outcome::Failed);
                }
                let mut result = q.remove(id).await.map_err(bullmq)?;
                // --force: a running job is retried a few times while it finishes, as TestPlanIt's admin does.
                for n in 1..=3 {
                    if !(*force && result == Err(Refused::Locked)) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200 * n)).await;
                    result = q.remove(id).await.map_err(bullmq)?;
                }
                match result {
                    Ok(()) => println!("✓ {name}: job {id} removed"),
                    Err(r) => return fail(refused(&q, id, r, "non-running").await),
                }
            }
            QueueAction::Clean {
                grace,
                limit,
                state: s,
            } => {
                let st = state(s)?;
                if !confirm(
                    &format!(
                        "remove up to {} from {name}",
                        crate::render::count(*limit as usize, &format!("{s} job"))
                    ),
                    yes,
                )? {
                    return Ok(Outcome::Failed);
                }
                let removed = q.clean(*grace, *limit, st).await.map_err(bullmq)?;
                println!(
                    "✓ {name}: {} removed",
                    crate::render::count(removed.len(), &format!("{s} job"))
                );
            }
            QueueAction::Drain { delayed } => {
                if !confirm(&format!("remove every waiting job from {name}"), yes)? {
                    return Ok(Outcome::Failed);
                }
                let n = q.drain(*delayed).await.map_err(bullmq)?;
                println!(
                    "✓ {name}: {} removed",
                    crate::render::count(n as usize, "job")
                );
            }
            QueueAction::Add { job_name, data } => {
                let data: serde_json::Value = serde_json::from_str(data)
                    .map_err(|e| CommandError::Usage(format!("--data is not JSON: {e}")))?;
                let id = q
                    .add(job_name, &data, &JobOptions::default())
                    .await
                    .map_err(bullmq)?;
                println!("✓ {name}: added job {id} ({job_name})");
            }
        }
        Ok(Outcome::Success)
    })
}
