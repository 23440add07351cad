//! `tpctl run`: the apps in the foreground for development, each line prefixed `name | ` in a
//! stable colour. Each app still runs under its own keeper (a foreground one: no files, no
//! socket), so restarts and limits behave as in production. Ctrl-C reaches every keeper, which
//! stops its app gracefully; `run` returns when all are done.

use std::io::{IsTerminal, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::{CommandError, Ctx, Outcome, targets};
use crate::config::order;
use crate::spec::AppSpec;

pub fn run(ctx: &Ctx, t: &crate::cli::Targets) -> Result<Outcome, CommandError> {
    let (specs, unreadable) = targets::specs(
        &ctx.home,
        &targets::args_of(t),
        true,
        targets::EnvChoice::Current,
    )?;
    if targets::report_unreadable(&unreadable, "run") {
        return Ok(Outcome::Failed);
    }
    let specs = targets::keep_only(specs, &t.only, |s| s.name.clone())?;
    // Ctrl-C is for the keepers; we wait for them. A handler (not SIG_IGN) so keepers don't inherit it.
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGINT, libc::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&interrupted)).map_err(|source| {
            CommandError::Io {
                what: "cannot handle Ctrl-C".into(),
                source,
            }
        })?;
    }
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && ctx.color;
    let width = specs.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let mut running: Vec<(String, Child)> = Vec::new();
    let mut outcome = Outcome::Success;
    'waves: for wave in order::waves(&specs) {
        let mut one_shots = Vec::new();
        for spec in wave {
            if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                break 'waves;
            }
            match spawn_keeper(spec, &prefix(&spec.id, width, color)) {
                Ok(child) if spec.is_one_shot() => one_shots.push((spec.id.clone(), child)),
                Ok(child) => running.push((spec.id.clone(), child)),
                Err(e) => {
                    eprintln!("tpctl run: cannot start {}: {e}", spec.id);
                    outcome = Outcome::Failed;
                }
            }
        }
        for (id, mut child) in one_shots {
            let ok = child.wait().is_ok_and(|s| s.success());
            if !ok {
                eprintln!(
                    "tpctl run: one-shot {id} did not complete; not starting the apps after it"
                );
                outcome = Outcome::Failed;
                break 'waves;
            }
        }
    }
    if outcome == Outcome::Failed {
        // Stop what did start, gracefully, as Ctrl-C would.
        for (_, child) in &running {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
    }
    for (id, mut child) in running {
        if !child.wait().is_ok_and(|s| s.success()) {
            tracing::debug!(app = %id, "keeper ended unsuccessfully");
            outcome = Outcome::Failed;
        }
    }
    let _ = std::io::stdout().flush();
    Ok(outcome)
}

fn spawn_keeper(spec: &AppSpec, prefix: &str) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("keeper")
        .arg("--foreground")
        .arg(prefix)
        .stdin(Stdio::piped())
        .spawn()?;
    let body = serde_json::to_vec(spec).map_err(std::io::Error::other)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body)?;
    }
    Ok(child)
}

/// `name | ` padded to the longest name, in a colour picked from the name so it is stable.
pub fn prefix(id: &str, width: usize, color: bool) -> String {
    const COLORS: [u8; 6] = [36, 33, 32, 35, 34, 31];
    let padded = format!("{id:<width$}");
    if !color {
        return format!("{padded} | ");
    }
    let hash = id
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    let c = COLORS[hash as usize % COLORS.len()];
    format!("\x1b[{c}m{padded} |\x1b[0m ")
}
