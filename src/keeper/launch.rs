//! The `tpctl keeper` process entry: take the lock, set up the run directory and socket, start
//! the app, tell the launching client how it went (one handshake line), then supervise.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

use nix::fcntl::Flock;

use super::{Keeper, Mode, RunDir, Terminal, state, write_spec};
use crate::home::AppDir;
use crate::policy::Status;
use crate::proto::Handshake;
use crate::spec::AppSpec;

/// How long a new keeper waits for a previous keeper of the same app that is on its way out.
const LOCK_WAIT: Duration = Duration::from_millis(300);

/// Entry point of `tpctl keeper --dir DIR` and
/// `tpctl keeper --foreground PREFIX [--run-dir DIR] [--json]`.
pub fn from_args(args: &[std::ffi::OsString]) -> i32 {
    match args {
        [flag, dir] if flag == "--dir" => background(PathBuf::from(dir)),
        [flag, prefix, rest @ ..] if flag == "--foreground" => {
            let mut run_dir = None;
            let mut json = false;
            let mut rest = rest.iter();
            while let Some(arg) = rest.next() {
                match arg.to_str() {
                    Some("--run-dir") => run_dir = rest.next().map(PathBuf::from),
                    Some("--json") => json = true,
                    _ => return usage(),
                }
            }
            foreground(
                Terminal {
                    prefix: prefix.to_string_lossy().into_owned().into_bytes(),
                    json,
                },
                run_dir,
            )
        }
        _ => usage(),
    }
}

fn usage() -> i32 {
    eprintln!(
        "tpctl keeper is started by tpctl itself (tpctl keeper --dir DIR | --foreground PREFIX [--run-dir DIR] [--json])"
    );
    2
}

/// What a keeper takes over from its run directory.
struct Claimed {
    lock: Flock<std::fs::File>,
    ledger: VecDeque<crate::proto::LedgerEntry>,
    /// The app ended errored, failed or lost under the keeper before.
    after_problem: bool,
    listener: UnixListener,
}

/// Takes the app's run directory for a keeper: the lock, diagnostics (when `log_file`), the
/// spec, what a dead predecessor left, the ledger, and the bound socket.
fn claim(dir: &AppDir, spec: &AppSpec, log_file: bool) -> Result<Claimed, Claim> {
    dir.ensure()
        .map_err(|e| Claim::Failed(format!("cannot create {}: {e}", dir.path().display())))?;
    let lock = match dir.lock_within(LOCK_WAIT) {
        Ok(Some(lock)) => lock,
        Ok(None) => return Err(Claim::Locked),
        Err(e) => {
            return Err(Claim::Failed(format!(
                "cannot lock {}: {e}",
                dir.lock_path().display()
            )));
        }
    };
    if log_file {
        log_to_file(dir).map_err(Claim::Failed)?;
    }
    write_spec(dir, spec)
        .map_err(|e| Claim::Failed(format!("cannot write {}: {e}", dir.spec_path().display())))?;
    let previous = state::load(&dir.state_path());
    // A previous keeper that died (SIGKILL mid-restart, say) may have left processes of its
    // app's session that ignore signals; nobody else will find them once we run the app again.
    if let Some(sid) = previous.as_ref().and_then(|s| s.session) {
        let killed = crate::leftovers::kill_session(sid, &spec.id);
        if killed > 0 {
            tracing::warn!(app = %spec.id, killed, "killed what was left of the app's previous run, whose keeper died");
        }
    }
    let after_problem = previous.as_ref().is_some_and(|s| {
        matches!(
            s.status.status,
            Status::Errored | Status::Failed | Status::Lost
        )
    });
    let ledger = previous.map(|s| s.ledger).unwrap_or_default();
    let listener = bind(dir).map_err(Claim::Failed)?;
    Ok(Claimed {
        lock,
        ledger,
        after_problem,
        listener,
    })
}

/// Why a keeper could not take an app's run directory.
enum Claim {
    /// Another keeper runs the app.
    Locked,
    Failed(String),
}

/// Runs a detached keeper for the app directory `dir`, reading the spec from stdin. Returns the
/// process exit code.
pub fn background(dir: PathBuf) -> i32 {
    let spec = match read_spec() {
        Ok(spec) => spec,
        Err(message) => return handshake(&Handshake::Failed { message }, 2),
    };
    let dir = AppDir::at(dir);
    let Claimed {
        lock: _lock,
        ledger,
        after_problem,
        listener,
    } = match claim(&dir, &spec, true) {
        Ok(claimed) => claimed,
        Err(Claim::Locked) => return handshake(&Handshake::Locked, 3),
        Err(Claim::Failed(message)) => return handshake(&Handshake::Failed { message }, 1),
    };
    tracing::info!(app = %spec.id, keeper = std::process::id(), "keeper started");
    let mut keeper = match Keeper::new(spec, Mode::background(dir, listener), ledger) {
        Ok(k) => k,
        Err(e) => {
            return handshake(
                &Handshake::Failed {
                    message: format!("cannot set up signal handling: {e}"),
                },
                1,
            );
        }
    };
    if after_problem {
        keeper.after_problem();
    }
    let status = keeper.start();
    handshake(
        &Handshake::Started {
            status: Box::new(status),
        },
        0,
    );
    detach_stdio();
    // Setup garbage (the spec's JSON text, lookups) stays resident unless handed back.
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    let last = keeper.run();
    tracing::info!(status = last.status.as_str(), "keeper exiting");
    0
}

/// Runs the app in the foreground for `tpctl run`: output to the terminal, prefixed (or as
/// JSON lines); Ctrl-C or SIGTERM stops it. With a run directory the app is known to
/// `status`, `describe`, `restart` and to the apps that run after it, as a detached keeper's.
pub fn foreground(terminal: Terminal, run_dir: Option<PathBuf>) -> i32 {
    let spec = match read_spec() {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("tpctl keeper: {message}");
            return 2;
        }
    };
    let mut held = None;
    let mut ledger = VecDeque::new();
    let mut run = None;
    let mut problem = false;
    if let Some(dir) = run_dir {
        let dir = AppDir::at(dir);
        match claim(&dir, &spec, false) {
            Ok(claimed) => {
                held = Some(claimed.lock);
                ledger = claimed.ledger;
                problem = claimed.after_problem;
                run = Some(RunDir {
                    dir,
                    listener: claimed.listener,
                });
            }
            Err(Claim::Locked) => {
                eprintln!(
                    "tpctl run: {} is already running under tpctl (`tpctl status`); stop it first (`tpctl stop {}`)",
                    spec.id, spec.id
                );
                return 3;
            }
            Err(Claim::Failed(message)) => {
                eprintln!("tpctl run: {}: {message}", spec.id);
                return 1;
            }
        }
    }
    let mode = Mode {
        run_dir: run,
        terminal: Some(terminal),
    };
    let mut keeper = match Keeper::new(spec, mode, ledger) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("tpctl keeper: cannot set up signal handling: {e}");
            return 1;
        }
    };
    if problem {
        keeper.after_problem();
    }
    keeper.start();
    let last = keeper.run();
    drop(held);
    match last.status {
        Status::Stopped | Status::Completed => 0,
        _ => {
            if let Some(reason) = &last.reason {
                eprintln!("{}: {} ({reason})", last.id, last.status.as_str());
            }
            1
        }
    }
}

fn read_spec() -> Result<AppSpec, String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read the app spec from stdin: {e}"))?;
    serde_json::from_slice(&input).map_err(|e| format!("malformed app spec on stdin: {e}"))
}

fn handshake(h: &Handshake, code: i32) -> i32 {
    let mut line = serde_json::to_vec(h)
        .unwrap_or_else(|_| b"{\"result\":\"failed\",\"message\":\"handshake\"}".to_vec());
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
    code
}

/// The keeper's own diagnostics go to keeper.log, never into the app's logs.
pub(crate) fn log_to_file(dir: &AppDir) -> Result<(), String> {
    let path = dir.keeper_log_path();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: dup2 onto stderr, a descriptor we own for the process's life.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        return Err(format!("cannot redirect diagnostics to {}", path.display()));
    }
    super::diag::KeeperLog::install(Some(path));
    Ok(())
}

fn bind(dir: &AppDir) -> Result<UnixListener, String> {
    let path = dir.socket_path();
    // We hold the lock, so any socket file left here belongs to a dead keeper.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .map_err(|e| format!("cannot bind control socket {}: {e}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot configure {}: {e}", path.display()))?;
    Ok(listener)
}

/// After the handshake nothing reads our stdout: point stdin and stdout at /dev/null.
fn detach_stdio() {
    if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO);
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        }
    }
}
