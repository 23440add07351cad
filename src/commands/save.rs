//! `tpctl save` and `tpctl resurrect`: the process list across reboots (see `dump.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{CommandError, Ctx, Outcome, inventory, start, targets};
use crate::client::{self, ClientError};
use crate::config::required;
use crate::dump::{self, Desired, Dump};
use crate::keeper::{now_ms, state, write_spec};
use crate::policy::Status;
use crate::proto::{AppStatus, Request};
use crate::render;
use crate::spec::AppSpec;

/// `tpctl save [--force]`.
pub fn save(ctx: &Ctx, force: bool) -> Result<Outcome, CommandError> {
    ctx.home.ensure()?;
    let statuses = inventory::all(&ctx.home).map_err(|source| CommandError::Io {
        what: format!("cannot list apps in {}", ctx.home.root().display()),
        source,
    })?;
    if statuses.is_empty() && !force {
        eprintln!(
            "error: no apps are known, so resurrect would bring back nothing; start your apps first, or `tpctl save --force` to save an empty list"
        );
        return Ok(Outcome::Failed);
    }
    let mut apps = Vec::new();
    let mut envs = dump::EnvDump {
        format: dump::FORMAT,
        apps: BTreeMap::new(),
    };
    let mut unbootable = Vec::new();
    for st in &statuses {
        let Some(spec) = targets::saved_spec(&ctx.home, &st.id) else {
            continue;
        };
        let state = if st.status == Status::Stopped {
            Desired::Stopped
        } else {
            Desired::Running
        };
        match required::missing_at_boot(&spec, &spec.captured_env) {
            Ok(missing) if !missing.is_empty() => {
                unbootable.push(required::boot_fix(&spec.id, &missing))
            }
            Ok(_) => {}
            Err(e) => unbootable.push(format!("{}: {e}", spec.id)),
        }
        envs.apps.insert(spec.id.clone(), spec.captured_env.clone());
        apps.push(dump::saved(&spec, state)?);
    }
    if !unbootable.is_empty() {
        for u in &unbootable {
            eprintln!("error: {u}");
        }
        if !force {
            eprintln!(
                "nothing saved: a reboot would bring these apps back without what they need; fix that, or `tpctl save --force` to save anyway"
            );
            return Ok(Outcome::Failed);
        }
    }
    let dump = Dump {
        format: dump::FORMAT,
        saved_at: render::rfc3339_millis(now_ms()),
        apps,
    };
    // The environments first: a dump.toml never names an app whose environment is not saved.
    dump::write_env(ctx.home.root(), &envs)?;
    let had_previous = dump::write(ctx.home.root(), &dump)?;
    let (path, bak) = dump::paths(ctx.home.root());
    for (st, app) in statuses.iter().zip(&dump.apps) {
        let state = match app.state {
            Desired::Running => "start",
            Desired::Stopped => "keep stopped",
        };
        crate::say!("✓ {}: {state} ({} now)", st.id, st.status.as_str());
        if let Some(warning) = warn(st) {
            println!("  ! {warning}");
        }
    }
    let previous = if had_previous {
        format!(" (the previous save is {})", bak.display())
    } else {
        " (the first save here)".to_string()
    };
    crate::say!(
        "saved {} to {}{previous}",
        render::count(dump.apps.len(), "app"),
        path.display(),
    );
    Ok(Outcome::Success)
}

/// Errored and crash-looping apps are saved too; say so, since resurrect will start them.
fn warn(st: &AppStatus) -> Option<String> {
    match st.status {
        Status::Errored | Status::Failed | Status::Lost => Some(format!(
            "{} is {}{}: resurrect will start it again",
            st.id,
            st.status.as_str(),
            st.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
        Status::WaitingRestart => Some(format!(
            "{} is crash-looping ({} restarts): resurrect will start it again",
            st.id, st.restarts
        )),
        _ => None,
    }
}

/// `tpctl resurrect`: brings back exactly the saved set, in `after` order; running apps are
/// left alone, so running it twice starts nothing twice.
pub fn resurrect(ctx: &Ctx, update_env: bool) -> Result<Outcome, CommandError> {
    ctx.home.ensure()?;
    let (dump, warning) = dump::load(ctx.home.root())?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let saved_envs = match dump::load_env(ctx.home.root()) {
        Ok(e) => e.unwrap_or_default().apps,
        Err(e) => {
            eprintln!(
                "warning: {e}; the apps' recorded environments are read from their run directories instead"
            );
            BTreeMap::new()
        }
    };
    let current = crate::config::env::process_env();
    let mut outcome = Outcome::Success;
    let mut to_start = Vec::new();
    for app in dump.apps {
        let id = app.spec.id.clone();
        let recorded = saved_envs
            .get(&id)
            .cloned()
            .or_else(|| targets::saved_spec(&ctx.home, &id).map(|s| s.captured_env))
            .filter(|e| !e.is_empty());
        let caller = match (update_env, recorded) {
            (false, Some(env)) => env,
            (true, _) => current.clone(),
            (false, None) => {
                println!(
                    "! {id}: no environment was saved with it (saved by an older tpctl); it gets this shell's: run `tpctl save` again to record it"
                );
                current.clone()
            }
        };
        let spec = match targets::with_inherited(app.spec, caller) {
            Ok(spec) => spec,
            Err(e) => {
                println!("✗ {e}; not started");
                outcome = Outcome::Failed;
                continue;
            }
        };
        if update_env && let Some(old) = targets::saved_spec(&ctx.home, &id) {
            let diff = crate::config::env::EnvDiff::between(&old.env, &spec.env);
            crate::say!("↻ {id}: environment updated from this shell: {diff}");
        }
        match app.state {
            Desired::Running if completed_since_boot(ctx, &spec.id) => {
                crate::say!("✓ {}: completed since boot; not run again", spec.id);
            }
            Desired::Running => to_start.push(spec),
            Desired::Stopped => match register_stopped(ctx, &spec) {
                Ok(()) => crate::say!("✓ {}: stopped (as saved)", spec.id),
                Err(e) => {
                    println!("✗ {}: {e}", spec.id);
                    outcome = Outcome::Failed;
                }
            },
        }
    }
    if start::start_specs(ctx, &to_start) == Outcome::Failed {
        outcome = Outcome::Failed;
    }
    Ok(outcome)
}

/// A one-shot that already ran to completion since the machine booted (a second `resurrect`
/// must not run the scheduler again; the first after a reboot must).
fn completed_since_boot(ctx: &Ctx, id: &str) -> bool {
    let Some(st) = state::load(&ctx.home.app(id).state_path()) else {
        return false;
    };
    st.status.status == Status::Completed
        && boot_time_ms().is_some_and(|boot| st.status.since_ms >= boot)
}

/// When the machine booted, from /proc/stat's `btime`.
fn boot_time_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(secs * 1000)
}

/// Lists a saved-but-stopped app without starting it (unless a keeper already runs it).
fn register_stopped(ctx: &Ctx, spec: &AppSpec) -> Result<(), String> {
    let dir = ctx.home.app(&spec.id);
    match client::request(&dir, Request::Status, Duration::from_secs(2)) {
        Ok(_) => return Ok(()),
        Err(ClientError::NotRunning) => {}
        Err(e) => return Err(e.to_string()),
    }
    dir.ensure().map_err(|e| e.to_string())?;
    let Some(_lock) = dir
        .lock_within(Duration::from_secs(2))
        .map_err(|e| e.to_string())?
    else {
        return Ok(()); // a keeper just started it
    };
    write_spec(&dir, spec)
        .map_err(|e| format!("cannot write {}: {e}", dir.spec_path().display()))?;
    if state::load(&dir.state_path()).is_none() {
        let st = state::PersistedState {
            format: state::FORMAT,
            status: AppStatus::stopped(&spec.id, &spec.name, spec.instance, now_ms()),
            session: None,
            ledger: Default::default(),
        };
        state::save(&dir.state_path(), &st)
            .map_err(|e| format!("cannot write {}: {e}", dir.state_path().display()))?;
    }
    Ok(())
}
