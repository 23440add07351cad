//! `tpctl run`: the apps in the foreground, each line prefixed `name | ` in a stable colour (or
//! one JSON object per line), for development and as a container's entry point (PID 1).
//!
//! Each app runs under its own keeper, as under `tpctl start`, with its run directory in
//! TPCTL_HOME: `tpctl status` (and `status --check`, the probe), `describe` and `restart` work
//! on it, and an app waits in its keeper for what it runs `after`. `run` itself:
//! - forwards SIGTERM and SIGINT to every keeper, which stops its app gracefully;
//! - reaps every child: its keepers, and whatever is re-parented to it as PID 1;
//! - when an app ends errored or failed, stops the others and exits 1, so an orchestrator
//!   sees it; exits 0 when every app stopped on a signal or completed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::{CommandError, Ctx, Outcome, targets};
use crate::client::{self, ClientError};
use crate::config::order;
use crate::home::Home;
use crate::proto::Request;
use crate::spec::AppSpec;

/// How long a new keeper may take to answer on its socket before the next wave starts anyway.
const CLAIM_WAIT: Duration = Duration::from_secs(5);

pub fn run(ctx: &Ctx, args: &crate::cli::RunArgs) -> Result<Outcome, CommandError> {
    let t = &args.targets;
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
    ctx.home.ensure()?;
    let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    let _ = ctx.home.numbers(&ids);
    // Registered before any keeper exists, so that no exit and no signal is missed.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGCHLD]).map_err(|source| CommandError::Io {
            what: "cannot handle signals".into(),
            source,
        })?;
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && ctx.color
        && !args.json;
    let width = specs.iter().map(|s| s.id.len()).max().unwrap_or(0);

    let mut fleet = Fleet::default();
    'waves: for wave in order::waves(&specs) {
        for spec in &wave {
            if fleet.on_signals(&mut signals) {
                break 'waves;
            }
            match spawn_keeper(&ctx.home, spec, &prefix(&spec.id, width, color), args.json) {
                Ok(pid) => {
                    fleet.keepers.insert(pid, spec.id.clone());
                }
                Err(e) => {
                    eprintln!("tpctl run: cannot start {}: {e}", spec.id);
                    fleet.fail();
                }
            }
        }
        // The next wave's keepers ask these about themselves: let them take their run
        // directories first, so nobody reads a state file left by an earlier run.
        let deadline = Instant::now() + CLAIM_WAIT;
        for spec in &wave {
            while Instant::now() < deadline
                && fleet.keepers.values().any(|id| id == &spec.id)
                && matches!(
                    client::request(
                        &ctx.home.app(&spec.id),
                        Request::Status,
                        Duration::from_millis(200)
                    ),
                    Err(ClientError::NotRunning)
                )
            {
                if fleet.on_signals(&mut signals) {
                    break 'waves;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    while !fleet.keepers.is_empty() {
        let arrived: Vec<i32> = signals.wait().collect();
        fleet.on(&arrived);
    }
    let _ = std::io::stdout().flush();
    Ok(fleet.outcome)
}

/// The keepers `run` started, by pid, and how the run goes.
struct Fleet {
    keepers: BTreeMap<Pid, String>,
    /// A signal or a failed app: every keeper has been told to stop.
    stopping: bool,
    outcome: Outcome,
}

impl Default for Fleet {
    fn default() -> Fleet {
        Fleet {
            keepers: BTreeMap::new(),
            stopping: false,
            outcome: Outcome::Success,
        }
    }
}

impl Fleet {
    /// Handles the signals that came in (without waiting); true once the fleet is stopping.
    fn on_signals(&mut self, signals: &mut Signals) -> bool {
        let arrived: Vec<i32> = signals.pending().collect();
        self.on(&arrived);
        self.stopping
    }

    /// SIGINT or SIGTERM stops every app; any signal (SIGCHLD) may mean children to reap.
    fn on(&mut self, arrived: &[i32]) {
        if arrived.iter().any(|s| *s == SIGINT || *s == SIGTERM) && !self.stopping {
            tracing::info!("signal received; stopping every app gracefully");
            self.stop_all();
        }
        self.reap();
    }

    /// Reaps every child that has ended: a keeper, or an orphan re-parented to us (PID 1).
    fn reap(&mut self) {
        loop {
            let (pid, failed) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, code != 0),
                Ok(WaitStatus::Signaled(pid, _, _)) => (pid, true),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            match self.keepers.remove(&pid) {
                Some(id) if failed && !self.stopping => {
                    eprintln!(
                        "tpctl run: {id} ended errored or failed (`tpctl describe {id}` says why); stopping the other apps"
                    );
                    self.fail();
                }
                Some(id) if failed => tracing::debug!(app = %id, "keeper ended unsuccessfully"),
                Some(_) => {}
                None => tracing::debug!(pid = pid.as_raw(), "reaped an adopted process"),
            }
        }
    }

    fn fail(&mut self) {
        self.outcome = Outcome::Failed;
        self.stop_all();
    }

    /// SIGTERM to every keeper: each stops its app gracefully (kill_signal, kill_timeout).
    fn stop_all(&mut self) {
        self.stopping = true;
        for pid in self.keepers.keys() {
            let _ = nix::sys::signal::kill(*pid, nix::sys::signal::Signal::SIGTERM);
        }
    }
}

fn spawn_keeper(home: &Home, spec: &AppSpec, prefix: &str, json: bool) -> std::io::Result<Pid> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("keeper")
        .arg("--foreground")
        .arg(prefix)
        .arg("--run-dir")
        .arg(home.app(&spec.id).path());
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd.stdin(Stdio::piped()).spawn()?;
    let body = serde_json::to_vec(spec).map_err(std::io::Error::other)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body)?;
    }
    // Reaped by `Fleet::reap` through waitpid, not through `Child`.
    Ok(Pid::from_raw(child.id() as i32))
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
