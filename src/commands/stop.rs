//! `stop`, `delete` and `kill`: graceful stops sent to every keeper at once.

use std::time::Duration;

use super::{CommandError, Ctx, Outcome, inventory, targets};
use crate::cli::Targets;
use crate::client::ClientError;
use crate::home::Home;
use crate::proto::{AppStatus, Request, Response};

/// The ids the targets name, narrowed by `--only`.
fn selected(ctx: &Ctx, t: &Targets) -> Result<Vec<String>, CommandError> {
    let ids = targets::ids(&ctx.home, &targets::args_of(t))?;
    targets::keep_only_ids(&ctx.home, ids, &t.only)
}

/// `tpctl stop NAME...|all|FILE`.
pub fn stop(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    let ids = selected(ctx, t)?;
    let (outcome, mut statuses) = stop_ids(ctx, &ids);
    if !statuses.is_empty() {
        inventory::number(&ctx.home, &mut statuses);
        crate::say!("{}", crate::render::status_table(&statuses, ctx.color));
    }
    Ok(outcome)
}

/// `tpctl delete NAME...|all|FILE`: stop, then forget the app (its logs stay).
pub fn delete(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    let ids = selected(ctx, t)?;
    let (mut outcome, _) = stop_ids(ctx, &ids);
    for id in &ids {
        match forget(&ctx.home, id) {
            Ok(true) => println!(
                "✓ {id}: deleted (logs kept in {})",
                ctx.home.app(id).logs_dir().display()
            ),
            Ok(false) => {
                println!("✗ {id}: still has a live keeper; not deleted");
                outcome = Outcome::Failed;
            }
            Err(e) => {
                println!("✗ {id}: cannot delete: {e}");
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}

/// `tpctl kill`: stop every app; every keeper exits with its app.
pub fn kill(ctx: &Ctx) -> Result<Outcome, CommandError> {
    let ids = ctx.home.app_ids().map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", ctx.home.root().display()),
        source,
    })?;
    let (outcome, statuses) = stop_ids(ctx, &ids);
    let stopped = statuses.iter().filter(|s| s.status.is_settled()).count();
    crate::say!(
        "{stopped} of {} stopped; no keeper is left running",
        crate::render::count(ids.len(), "app")
    );
    Ok(outcome)
}

/// Stops the given apps in parallel and prints a line each.
fn stop_ids(ctx: &Ctx, ids: &[String]) -> (Outcome, Vec<AppStatus>) {
    let home = &ctx.home;
    let kill_timeouts: Vec<Duration> = ids
        .iter()
        .map(|id| targets::saved_spec(home, id).map_or(Duration::ZERO, |s| s.kill_timeout))
        .collect();
    let timeout = kill_timeouts.iter().max().copied().unwrap_or_default() + Duration::from_secs(10);
    let requests = ids.iter().map(|id| (home.app(id), Request::Stop)).collect();
    let answers = crate::progress::broadcast(
        ids,
        requests,
        timeout,
        "stopping",
        Some(&kill_timeouts),
        ctx.progress,
    );
    let mut outcome = Outcome::Success;
    let mut statuses = Vec::new();
    for (id, answer) in ids.iter().zip(answers) {
        match answer {
            Ok(Response::Status { status }) => {
                // Say so when the app ignored its stop signal and had to be killed.
                let killed = status
                    .cause
                    .as_deref()
                    .filter(|c| c.contains("SIGKILL"))
                    .map(|_| {
                        let spec = targets::saved_spec(home, id);
                        format!(
                            " (SIGKILL after kill_timeout {}: it did not exit on {})",
                            spec.as_ref()
                                .map_or("-".into(), |s| crate::render::duration_ms(
                                    s.kill_timeout.as_millis() as u64
                                )),
                            spec.as_ref().map_or("its kill_signal".into(), |s| {
                                crate::config::units::signal_name(s.kill_signal)
                            })
                        )
                    })
                    .unwrap_or_default();
                crate::say!("✓ {id}: {}{killed}", status.status.as_str());
                statuses.push(status);
            }
            Err(ClientError::NotRunning) => {
                let status = settled_status(home, id);
                crate::say!("✓ {id}: not running ({})", status.status.as_str());
                statuses.push(status);
            }
            Ok(Response::Error { message }) => {
                println!("✗ {id}: {message}");
                outcome = Outcome::Failed;
            }
            Ok(other) => {
                println!("✗ {id}: unexpected answer from keeper: {other:?}");
                outcome = Outcome::Failed;
            }
            Err(e) => {
                println!("✗ {id}: {e}");
                outcome = Outcome::Failed;
            }
        }
    }
    (outcome, statuses)
}

/// The status of an app whose keeper did not answer. A keeper that died during the request
/// (SIGKILL mid-stop) may still hold its lock for a moment while it exits; until then its
/// last record says "online". Wait briefly for the truth: stopped, or lost with its leftovers
/// cleaned up.
fn settled_status(home: &Home, id: &str) -> AppStatus {
    let id = id.to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let status = inventory::statuses(home, std::slice::from_ref(&id)).remove(0);
        if status.status.is_settled() || std::time::Instant::now() >= deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes an app's control files under its lock. `Ok(false)` if a keeper still holds it.
fn forget(home: &Home, id: &str) -> std::io::Result<bool> {
    let dir = home.app(id);
    // A keeper that just answered "stopped" is exiting; give it a moment to release the lock.
    let Some(_lock) = dir.lock_within(Duration::from_secs(2))? else {
        return Ok(false);
    };

    for path in [
        dir.spec_path(),
        dir.state_path(),
        dir.socket_path(),
        dir.number_path(),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
