//! `start` and `restart`: bring apps up wave by wave in `after` order, launching a keeper where
//! none runs and asking the live ones otherwise. One-shots run to completion before their
//! dependents; a failed one keeps its dependents from starting.

use std::collections::BTreeSet;
use std::time::Duration;

use super::outcome::{
    Report, describe_outcome, report, report_of, wait_one_shots, wait_ready, waits,
};
use super::{CommandError, Ctx, Outcome, inventory, targets};
use crate::cli::Targets;
use crate::client::{self, ClientError};
use crate::config::order;
use crate::policy::Status;
use crate::proto::{AppStatus, Handshake, Request, Response};
use crate::spec::AppSpec;

/// Starts the given specs in `after` order (for `resurrect`); running apps stay as they are.
pub fn start_specs(ctx: &Ctx, specs: &[AppSpec]) -> Outcome {
    bring_up(ctx, specs, Verb::Start)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Start,
    Restart,
}

/// `tpctl start [FILE|NAME...]`: what the apps run `after` is started first when it is neither
/// running nor completed; one that cannot be found keeps its dependent from starting.
pub fn start(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    ctx.home.ensure()?;
    let choice = targets::EnvChoice::of(t.update_env);
    let (specs, unreadable) = targets::specs(&ctx.home, &targets::args_of(t), true, choice)?;
    let mut specs = targets::keep_only(specs, &t.only, |s| s.name.clone())?;
    let mut outcome = Outcome::Success;
    if targets::report_unreadable(&unreadable, "started") {
        outcome = Outcome::Failed;
    }
    // An app belongs to the file it was started from: another file naming it does not take
    // it over behind the operator's back.
    specs.retain(|s| match owner_elsewhere(ctx, s) {
        Some(owner) => {
            let file = s.source.as_ref().map_or_else(String::new, |p| {
                crate::render::short_path(&p.display().to_string())
            });
            println!(
                "✗ {}: not started: it belongs to {}, not {file}; `tpctl restart {file}` moves it to {file} (restarting it with that file's settings), or `tpctl delete {}` first",
                s.id,
                crate::render::short_path(&owner),
                s.name
            );
            outcome = Outcome::Failed;
            false
        }
        None => true,
    });
    report_env_updates(ctx, &specs, t.update_env);
    // autostart = false: started only when named (by name, number, id or --only).
    let named = |s: &AppSpec| {
        t.only.contains(&s.name)
            || t.targets.iter().any(|a| {
                matches!(targets::Target::parse(a), targets::Target::Name(_))
                    && (*a == s.name || targets::matches_app(&ctx.home, &s.id, a))
            })
    };
    specs.retain(|s| {
        let wanted = s.autostart || named(s);
        if !wanted {
            println!(
                "- {}: not started (autostart = false; `tpctl start {}` starts it)",
                s.id, s.name
            );
        }
        wanted
    });
    let mut missing: BTreeSet<String> = BTreeSet::new();
    let mut added = Vec::new();
    for dep in targets::dependencies(&ctx.home, &specs, choice)? {
        match dep {
            targets::Dependency::Added { spec, wanted_by } => {
                crate::say!("↳ {}: started first ({wanted_by} runs after it)", spec.id);
                added.push(*spec);
            }
            targets::Dependency::Missing { name, wanted_by } => {
                println!(
                    "✗ {wanted_by}: not started: it runs after {name:?}, which is neither a known app nor in its ecosystem file (remove it from `after`, or add the app)"
                );
                missing.insert(wanted_by);
                outcome = Outcome::Failed;
            }
        }
    }
    specs.retain(|s| !missing.contains(&s.id));
    added.extend(specs);
    if bring_up(ctx, &added, Verb::Start) == Outcome::Failed {
        outcome = Outcome::Failed;
    }
    Ok(outcome)
}

/// `tpctl restart FILE|NAME...|all`.
pub fn restart(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    ctx.home.ensure()?;
    let choice = targets::EnvChoice::of(t.update_env);
    let (specs, unreadable) = targets::specs(&ctx.home, &targets::args_of(t), false, choice)?;
    let specs = targets::keep_only(specs, &t.only, |s| s.name.clone())?;
    let skipped = targets::report_unreadable(&unreadable, "restarted");
    report_env_updates(ctx, &specs, t.update_env);
    report_moves(ctx, &specs);
    let outcome = bring_up(ctx, &specs, Verb::Restart);
    Ok(if skipped { Outcome::Failed } else { outcome })
}

/// `tpctl reload FILE|NAME...|all`: a restart of one instance at a time, each waiting for the
/// previous to be online again; the first that is not stops the reload there.
pub fn reload(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    ctx.home.ensure()?;
    let choice = targets::EnvChoice::of(t.update_env);
    let (specs, unreadable) = targets::specs(&ctx.home, &targets::args_of(t), false, choice)?;
    let specs = targets::keep_only(specs, &t.only, |s| s.name.clone())?;
    if targets::report_unreadable(&unreadable, "reloaded") {
        return Ok(Outcome::Failed);
    }
    report_env_updates(ctx, &specs, t.update_env);
    report_moves(ctx, &specs);
    Ok(reload_specs(ctx, &specs))
}

/// `tpctl start-or-restart FILE` (PM2's startOrRestart, for deploy scripts): the apps of the
/// file that run are restarted with it (re-read, moved to it if they belonged to another), the
/// others are started, in `after` order.
pub fn start_or_restart(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    let Some((specs, _)) = deploy_set(ctx, t)? else {
        return Ok(Outcome::Failed);
    };
    // A restart of an app without a keeper starts it.
    Ok(bring_up(ctx, &specs, Verb::Restart))
}

/// `tpctl start-or-reload FILE` (PM2's startOrReload): the apps of the file that do not run
/// are started, then those that run are reloaded one instance at a time.
pub fn start_or_reload(ctx: &Ctx, t: &Targets) -> Result<Outcome, CommandError> {
    let Some((specs, running)) = deploy_set(ctx, t)? else {
        return Ok(Outcome::Failed);
    };
    let (up, new): (Vec<AppSpec>, Vec<AppSpec>) =
        specs.into_iter().partition(|s| running.contains(&s.id));
    let mut outcome = Outcome::Success;
    if !new.is_empty() && bring_up(ctx, &new, Verb::Start) == Outcome::Failed {
        outcome = Outcome::Failed;
    }
    if !up.is_empty() && reload_specs(ctx, &up) == Outcome::Failed {
        outcome = Outcome::Failed;
    }
    Ok(outcome)
}

/// The apps a deploy verb acts on (those with `autostart = false` only when they run) and
/// the ids of those running; `None` when some could not be read (said already).
#[allow(clippy::type_complexity)]
fn deploy_set(
    ctx: &Ctx,
    t: &Targets,
) -> Result<Option<(Vec<AppSpec>, BTreeSet<String>)>, CommandError> {
    ctx.home.ensure()?;
    let choice = targets::EnvChoice::of(t.update_env);
    let (specs, unreadable) = targets::specs(&ctx.home, &targets::args_of(t), true, choice)?;
    let mut specs = targets::keep_only(specs, &t.only, |s| s.name.clone())?;
    if targets::report_unreadable(&unreadable, "deployed") {
        return Ok(None);
    }
    let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    let running: BTreeSet<String> = inventory::statuses(&ctx.home, &ids)
        .into_iter()
        .filter(|st| !st.status.is_settled())
        .map(|st| st.id)
        .collect();
    specs.retain(|s| s.autostart || running.contains(&s.id));
    report_env_updates(ctx, &specs, t.update_env);
    report_moves(ctx, &specs);
    Ok(Some((specs, running)))
}

/// Restarts `specs` one instance at a time, each once the previous is online again.
fn reload_specs(ctx: &Ctx, specs: &[AppSpec]) -> Outcome {
    let mut shown = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let mut report = act(ctx, &[spec], Verb::Restart).remove(0);
        if let Some(st) = report.status.as_ref()
            && st.status == Status::Launching
        {
            // Launched but not yet running its program: wait for it to be online.
            let id = spec.id.clone();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut now = st.clone();
            while now.status == Status::Launching && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                now = inventory::statuses(&ctx.home, std::slice::from_ref(&id)).remove(0);
            }
            report = report_of(now);
        }
        let online = report
            .status
            .as_ref()
            .is_some_and(|s| s.status == Status::Online || (spec.is_one_shot() && report.ok));
        let mark = if online { "✓" } else { "✗" };
        if online {
            crate::say!("{mark} {}: {}", spec.id, report.note);
        } else {
            println!("{mark} {}: {}", spec.id, report.note);
        }
        if let Some(st) = report.status {
            shown.push(st);
        }
        if !online {
            let left: Vec<&str> = specs[i + 1..].iter().map(|s| s.id.as_str()).collect();
            if !left.is_empty() {
                println!(
                    "reload stopped: {} did not come back online; {} keep running as they were",
                    spec.id,
                    left.join(", ")
                );
            }
            print_table(ctx, shown);
            return Outcome::Failed;
        }
    }
    if !shown.is_empty() {
        print_table(ctx, shown);
    }
    Outcome::Success
}

/// How long the table after a start waits for the CPU and memory of the apps just started:
/// two samples of their process trees, this far apart.
const SAMPLE_WAIT: Duration = Duration::from_millis(250);

/// The status table after a start or restart, with the figures of one sample rather than
/// rows of `-`.
fn print_table(ctx: &Ctx, mut shown: Vec<AppStatus>) {
    let online: Vec<String> = shown
        .iter()
        .filter(|s| s.status == Status::Online)
        .map(|s| s.id.clone())
        .collect();
    if !online.is_empty() {
        // The first asks each keeper to sample; the second, later, has the CPU over the gap.
        let _ = inventory::statuses(&ctx.home, &online);
        std::thread::sleep(SAMPLE_WAIT);
        for fresh in inventory::statuses(&ctx.home, &online) {
            if let Some(row) = shown.iter_mut().find(|s| s.id == fresh.id) {
                *row = fresh;
            }
        }
    }
    inventory::number(&ctx.home, &mut shown);
    crate::say!("{}", crate::render::status_table(&shown, ctx.color));
}

/// The file a known app belongs to, when it is not the one `spec` was read from (and still
/// exists: an app whose file is gone may be taken over).
fn owner_elsewhere(ctx: &Ctx, spec: &AppSpec) -> Option<String> {
    let saved = targets::saved_spec(&ctx.home, &spec.id)?;
    let owner = saved.source.filter(|p| p.exists())?;
    let here = spec.source.as_ref()?;
    let same = match (std::fs::canonicalize(&owner), std::fs::canonicalize(here)) {
        (Ok(a), Ok(b)) => a == b,
        _ => owner == *here,
    };
    (!same).then(|| owner.display().to_string())
}

/// A restart from another file than an app's moves it there: say so.
fn report_moves(ctx: &Ctx, specs: &[AppSpec]) {
    for spec in specs {
        if let Some(owner) = owner_elsewhere(ctx, spec) {
            println!(
                "↪ {}: moves from {} to {}",
                spec.id,
                crate::render::short_path(&owner),
                spec.source
                    .as_ref()
                    .map_or_else(String::new, |p| crate::render::short_path(
                        &p.display().to_string()
                    ))
            );
        }
    }
}

/// With `--update-env`, what each known app's environment gains and loses (names only).
fn report_env_updates(ctx: &Ctx, specs: &[AppSpec], update_env: bool) {
    if !update_env {
        return;
    }
    for spec in specs {
        if let Some(old) = targets::saved_spec(&ctx.home, &spec.id) {
            let diff = crate::config::env::EnvDiff::between(&old.env, &spec.env);
            crate::say!("↻ {}: environment updated from this shell: {diff}", spec.id);
        }
    }
}

fn bring_up(ctx: &Ctx, specs: &[AppSpec], verb: Verb) -> Outcome {
    let mut outcome = Outcome::Success;
    let mut shown: Vec<AppStatus> = Vec::new();
    let mut already: Vec<String> = Vec::new();
    // Wave by wave, so that each app's keeper finds what it runs `after` already decided: an
    // app whose dependency failed is launched all the same and waits for it (its keeper
    // starts it once the dependency is up), listed as waiting with the dependency's error.
    for runnable in order::waves(specs) {
        let mut reports = act(ctx, &runnable, verb);
        wait_ready(&ctx.home, &runnable, &mut reports);
        print_reports(&runnable, &reports, |r| !waits(r), &mut already);
        wait_one_shots(&ctx.home, &runnable, &mut reports);
        print_reports(&runnable, &reports, |_| false, &mut already);
        for report in reports {
            if !report.ok {
                outcome = Outcome::Failed;
            }
            if let Some(status) = report.status {
                shown.push(status);
            }
        }
    }
    match already.as_slice() {
        [] => {}
        [one] => crate::say!("✓ {one}: already running; `tpctl restart {one}` applies changes"),
        many => crate::say!(
            "✓ {} already running: {}; `tpctl restart NAME` (or the file) applies changes",
            crate::render::count(many.len(), "app"),
            many.join(", ")
        ),
    }
    if !shown.is_empty() {
        print_table(ctx, shown);
    }
    outcome
}

/// Starts or restarts one wave in parallel, then waits for its one-shots.
fn act(ctx: &Ctx, wave: &[&AppSpec], verb: Verb) -> Vec<Report> {
    let home = &ctx.home;
    let requests = wave
        .iter()
        .map(|s| {
            let req = match verb {
                Verb::Start => Request::Start,
                Verb::Restart => Request::Restart {
                    spec: Some(Box::new((*s).clone())),
                },
            };
            (home.app(&s.id), req)
        })
        .collect();
    let timeout = wave
        .iter()
        .map(|s| s.kill_timeout)
        .max()
        .unwrap_or_default()
        + Duration::from_secs(10);
    let ids: Vec<String> = wave.iter().map(|s| s.id.clone()).collect();
    let (label, countdown) = match verb {
        Verb::Start => ("starting", None),
        Verb::Restart => (
            "restarting",
            Some(wave.iter().map(|s| s.kill_timeout).collect::<Vec<_>>()),
        ),
    };
    let answers = crate::progress::broadcast(
        &ids,
        requests,
        timeout,
        label,
        countdown.as_deref(),
        ctx.progress,
    );

    // Apps about to get a keeper get their numbers first, in one go, so that each keeper
    // reads its own once and `status` never has to.
    let new: Vec<String> = wave
        .iter()
        .zip(&answers)
        .filter(|(_, a)| matches!(a, Err(ClientError::NotRunning)))
        .filter(|(s, _)| home.app(&s.id).ensure().is_ok())
        .map(|(s, _)| s.id.clone())
        .collect();
    if !new.is_empty() {
        let _ = home.numbers(&new);
    }
    // Launch keepers for every app that has none, all at once, then read their handshakes.
    let mut reports: Vec<Option<Report>> = Vec::with_capacity(wave.len());
    let mut launching = Vec::new();
    for (i, (spec, answer)) in wave.iter().zip(answers).enumerate() {
        match answer {
            Ok(Response::Status { status }) => {
                let note = match verb {
                    Verb::Start => format!(
                        "already running ({}); `tpctl restart {}` applies changes",
                        status.status.as_str(),
                        spec.id
                    ),
                    Verb::Restart => describe_outcome(&status),
                };
                reports.push(Some(report(status, note)));
            }
            Ok(Response::Error { message }) => reports.push(Some(Report::failed(message))),
            Ok(other) => reports.push(Some(Report::failed(format!(
                "unexpected answer from keeper: {other:?}"
            )))),
            Err(ClientError::NotRunning) => {
                let dir = home.app(&spec.id);
                match dir
                    .ensure()
                    .map_err(|e| e.to_string())
                    .and_then(|()| client::launch(&dir, spec).map_err(|e| e.to_string()))
                {
                    Ok(l) => launching.push((i, l)),
                    Err(e) => reports.push(Some(Report::failed(format!("cannot start: {e}")))),
                }
                if reports.len() == i {
                    reports.push(None);
                }
            }
            Err(e) => reports.push(Some(Report::failed(format!(
                "its keeper did not answer: {e}"
            )))),
        }
    }
    for (i, l) in launching {
        reports[i] = Some(match l.finish() {
            Ok(Handshake::Started { status }) => {
                let note = describe_outcome(&status);
                report(*status, note)
            }
            // Another `tpctl start` launched a keeper for this app a moment before us.
            Ok(Handshake::Locked) => {
                match client::request(&home.app(&wave[i].id), Request::Start, timeout) {
                    Ok(Response::Status { status }) => {
                        report(status, "already running (started concurrently)".into())
                    }
                    other => Report::failed(format!(
                        "another keeper holds this app but does not answer: {other:?}"
                    )),
                }
            }
            Ok(Handshake::Failed { message }) => {
                Report::failed(format!("keeper failed: {message}"))
            }
            Err(e) => Report::failed(e.to_string()),
        });
    }
    let mut reports: Vec<Report> = reports
        .into_iter()
        .map(|r| r.unwrap_or(Report::failed("no answer".into())))
        .collect();
    for (spec, r) in wave.iter().zip(reports.iter_mut()) {
        r.one_shot = spec.is_one_shot();
    }
    reports
}

/// Prints a line per report that `now` selects and that was not printed yet.
fn print_reports(
    wave: &[&AppSpec],
    reports: &[Report],
    now: impl Fn(&Report) -> bool,
    already: &mut Vec<String>,
) {
    for (spec, r) in wave.iter().zip(reports) {
        // Apps that were running already are said together, once, at the end.
        if !r.printed.get() && r.ok && r.note.starts_with("already running (") {
            already.push(spec.id.clone());
            r.printed.set(true);
            continue;
        }
        if !r.printed.get() && (now(r) || !waits(r)) {
            let mark = match r.status.as_ref().map(|s| s.status) {
                _ if r.ok => "✓",
                Some(Status::Waiting) => "…",
                _ => "✗",
            };
            if r.ok {
                crate::say!("{mark} {}: {}", spec.id, r.note);
            } else {
                println!("{mark} {}: {}", spec.id, r.note);
            }
            r.printed.set(true);
        }
    }
}
