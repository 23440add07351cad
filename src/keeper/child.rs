//! Starting the app and acting on its process group.
//!
//! The app becomes the leader of a new session and process group (so the group can be signalled
//! as a whole), gets stdin from /dev/null and pipes for stdout and stderr, and is bound to the
//! keeper's life with a parent-death signal: a keeper killed with SIGKILL takes its app along.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::spec::AppSpec;

/// A running app: its main pid (also its process group id) and its output pipes.
pub struct Running {
    pub pid: Pid,
    pub stdout: File,
    pub stderr: File,
}

/// Starts the app. The error is the reason shown in `status` when the app goes to `errored`.
pub fn spawn(spec: &AppSpec) -> Result<Running, String> {
    check_runnable(spec)?;
    let keeper = nix::unistd::getpid();
    let mut cmd = Command::new(&spec.script);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: runs in the forked child before exec and only makes async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) < 0
            {
                return Err(io::Error::last_os_error());
            }
            // The keeper may have died between fork and prctl; then nobody would kill us.
            if libc::getppid() != keeper.as_raw() {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot execute {}: {e}", spec.script.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("internal error: the app's output pipes were not created".into());
    };
    let pid = Pid::from_raw(child.id() as i32);
    // The keeper reaps with waitpid(-1); std's handle must not be used again.
    drop(child);
    Ok(Running {
        pid,
        stdout: File::from(std::os::fd::OwnedFd::from(stdout)),
        stderr: File::from(std::os::fd::OwnedFd::from(stderr)),
    })
}

/// Turns the usual reasons a program cannot start into sentences an operator can act on.
fn check_runnable(spec: &AppSpec) -> Result<(), String> {
    match std::fs::metadata(&spec.cwd) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("cwd {} is not a directory", spec.cwd.display())),
        Err(e) => return Err(format!("cwd {} is not usable: {e}", spec.cwd.display())),
    }
    match std::fs::metadata(&spec.script) {
        Ok(m) if !m.is_file() => Err(format!("script {} is not a file", spec.script.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(format!(
            "script {} is not executable (chmod +x it, or run it through its interpreter)",
            spec.script.display()
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("script {} not found", spec.script.display()))
        }
        Err(e) => Err(format!(
            "script {} is not usable: {e}",
            spec.script.display()
        )),
    }
}

/// Sends `signal` to the whole process group; a group that is already gone is not an error.
pub fn signal_group(pgid: Pid, signal: i32) -> io::Result<()> {
    let sig = Signal::try_from(signal).map_err(io::Error::from)?;
    match killpg(pgid, sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// True while any process (zombies included) is left in the group.
pub fn group_alive(pgid: Pid) -> bool {
    !matches!(killpg(pgid, None), Err(Errno::ESRCH))
}
