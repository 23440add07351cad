//! Starting the app and acting on its process group.
//!
//! The app becomes the leader of a new session and process group (so the group can be signalled
//! as a whole), gets stdin from /dev/null and pipes for stdout and stderr, and is bound to the
//! keeper's life with a parent-death signal: a keeper killed with SIGKILL takes its app along.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;

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

/// Everything the child needs between clone and exec, prepared in advance: after a `vfork`
/// style clone the child may only make raw system calls (no allocation, no locks).
struct Prepared {
    path: CString,
    cwd: CString,
    _argv: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    envp: Vec<*const libc::c_char>,
    identity: Identity,
    limits: Vec<(nix::sys::resource::Resource, libc::rlim_t, libc::rlim_t)>,
}

/// Who a process of the app becomes before exec: its user, umask and no_new_privileges.
/// The app itself and its exec health check take it alike.
pub(super) struct Identity {
    /// uid, gid, supplementary groups.
    account: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    umask: Option<libc::mode_t>,
    no_new_privs: bool,
}

impl Identity {
    pub(super) fn of(p: &crate::spec::Privileges) -> Identity {
        Identity {
            account: p.account.as_ref().map(|a| (a.uid, a.gid, a.groups.clone())),
            umask: p.umask,
            no_new_privs: p.no_new_privileges,
        }
    }

    /// Takes it on, between fork and exec: only system calls on data prepared before, nothing
    /// allocated. Groups, then the group, then the user (each needs the privilege the next
    /// drops), then no_new_privileges. `Err`: the step that failed, errno set.
    ///
    /// # Safety
    /// Only between fork (or a vfork-style clone) and exec, in the child.
    pub(super) unsafe fn assume(&self) -> Result<(), Step> {
        // SAFETY: plain system calls on memory this struct owns.
        unsafe {
            if let Some(mask) = self.umask {
                libc::umask(mask);
            }
            if let Some((uid, gid, groups)) = &self.account {
                if libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
                    return Err(Step::Groups);
                }
                if libc::setgid(*gid) < 0 {
                    return Err(Step::Gid);
                }
                if libc::setuid(*uid) < 0 {
                    return Err(Step::Uid);
                }
            }
            if self.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
                return Err(Step::NoNewPrivs);
            }
        }
        Ok(())
    }
}

/// The child's steps, reported with errno when one fails (the step first, then errno).
#[derive(Clone, Copy)]
#[repr(i32)]
pub(super) enum Step {
    Exec = 0,
    Session,
    Limit,
    Groups,
    Gid,
    Uid,
    DeathSignal,
    NoNewPrivs,
    Stdio,
    Cwd,
}

impl Step {
    fn from_raw(n: i32) -> Step {
        [
            Step::Exec,
            Step::Session,
            Step::Limit,
            Step::Groups,
            Step::Gid,
            Step::Uid,
            Step::DeathSignal,
            Step::NoNewPrivs,
            Step::Stdio,
            Step::Cwd,
        ]
        .get(n as usize)
        .copied()
        .unwrap_or(Step::Exec)
    }
}

/// The app's command line, environment and process setup, built once per spec, and a stack for
/// the child: a crash restart is one clone and one exec.
///
/// The clone shares the keeper's memory and suspends the keeper until the child has executed
/// the app (`CLONE_VM | CLONE_VFORK`, as posix_spawn does), so no page tables are copied: on a
/// small VM that halves the time from a crash to the new process. posix_spawn itself cannot
/// be used because the child must set its parent-death signal.
pub struct Launcher {
    prepared: Result<Prepared, String>,
    stack: Option<Stack>,
    devnull: Option<File>,
}

/// An anonymous mapping used as the child's stack.
struct Stack {
    ptr: *mut libc::c_void,
    len: usize,
}

const STACK_LEN: usize = 64 * 1024;

impl Stack {
    fn new() -> Option<Stack> {
        // SAFETY: an anonymous private mapping with no address hint has no preconditions.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Stack {
            ptr,
            len: STACK_LEN,
        })
    }

    /// The initial stack pointer: the top of the mapping, 16-byte aligned.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping is a valid pointer to form.
        unsafe { self.ptr.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we made.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn cstring(what: &str, s: &std::ffi::OsStr) -> Result<CString, String> {
    CString::new(s.as_bytes()).map_err(|_| format!("{what} contains a NUL byte"))
}

fn prepare(spec: &AppSpec) -> Result<Prepared, String> {
    let path = cstring("script", spec.script.as_os_str())?;
    let cwd = cstring("cwd", spec.cwd.as_os_str())?;
    let mut argv_owned = vec![path.clone()];
    for a in &spec.args {
        argv_owned.push(cstring("an argument", a.as_ref())?);
    }
    let mut envp_owned = Vec::with_capacity(spec.env.len());
    for (k, v) in &spec.env {
        envp_owned.push(
            CString::new(format!("{k}={v}"))
                .map_err(|_| format!("env var {k} contains a NUL byte"))?,
        );
    }
    let argv = argv_owned
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp = envp_owned
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let p = &spec.privileges;
    let unlimited = |v: Option<u64>| v.unwrap_or(libc::RLIM_INFINITY);
    Ok(Prepared {
        path,
        cwd,
        _argv: argv_owned,
        argv,
        _envp: envp_owned,
        envp,
        identity: Identity::of(p),
        limits: p
            .limits
            .iter()
            .map(|l| (l.resource.rlimit(), unlimited(l.soft), unlimited(l.hard)))
            .collect(),
    })
}

/// What the child reads; lives on the keeper's stack for the duration of the clone.
struct ChildArgs {
    prepared: *const Prepared,
    keeper: libc::pid_t,
    devnull: libc::c_int,
    out_w: libc::c_int,
    err_w: libc::c_int,
    report_w: libc::c_int,
}

/// The child between clone and exec. Only raw system calls: it shares the keeper's memory.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the ChildArgs the suspended parent keeps alive until we exec or
    // exit; every call below is async-signal-safe and allocates nothing.
    unsafe {
        let a = &*(arg as *const ChildArgs);
        let p = &*a.prepared;
        let fail = |step: Step| -> ! {
            let report = [step as libc::c_int, *libc::__errno_location()];
            libc::write(
                a.report_w,
                report.as_ptr().cast(),
                std::mem::size_of_val(&report),
            );
            libc::_exit(127)
        };
        if libc::setsid() < 0 {
            fail(Step::Session);
        }
        for (resource, soft, hard) in &p.limits {
            // One setrlimit call, nothing allocated.
            if nix::sys::resource::setrlimit(*resource, *soft, *hard).is_err() {
                fail(Step::Limit);
            }
        }
        if let Err(step) = p.identity.assume() {
            fail(step);
        }
        // After the switch: a change of credentials clears the parent-death signal.
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) < 0
        {
            fail(Step::DeathSignal);
        }
        // The keeper may have died before prctl; then nobody would kill us.
        if libc::getppid() != a.keeper {
            libc::_exit(1);
        }
        if libc::dup2(a.devnull, 0) < 0 || libc::dup2(a.out_w, 1) < 0 || libc::dup2(a.err_w, 2) < 0
        {
            fail(Step::Stdio);
        }
        // As the app's user: a directory it may not enter is its error, not hidden by root's.
        if libc::chdir(p.cwd.as_ptr()) < 0 {
            fail(Step::Cwd);
        }
        // Rust ignores SIGPIPE and ignored signals survive exec: give the app the default.
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGPIPE, &dfl, std::ptr::null_mut());
        libc::sigaction(libc::SIGXFSZ, &dfl, std::ptr::null_mut());
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(p.path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        fail(Step::Exec)
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("cannot create a pipe: {e}"))
}

impl Launcher {
    pub fn new(spec: &AppSpec) -> Launcher {
        Launcher {
            prepared: prepare(spec),
            stack: None,
            devnull: None,
        }
    }

    /// Starts the app. The error is the reason shown in `status` when the app goes to `errored`.
    pub fn spawn(&mut self, spec: &AppSpec) -> Result<Running, String> {
        let prepared = self.prepared.as_ref().map_err(Clone::clone)?;
        if self.stack.is_none() {
            self.stack = Stack::new();
        }
        let stack_top = self
            .stack
            .as_ref()
            .ok_or("cannot map a stack for the child")?
            .top();
        if self.devnull.is_none() {
            self.devnull =
                Some(File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?);
        }
        let devnull = self.devnull.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (report_r, report_w) = pipe()?;
        let args = ChildArgs {
            prepared,
            keeper: std::process::id() as libc::pid_t,
            devnull,
            out_w: out_w.as_raw_fd(),
            err_w: err_w.as_raw_fd(),
            report_w: report_w.as_raw_fd(),
        };
        // SAFETY: CLONE_VFORK suspends us until the child has exec'd or exited, so `args`, the
        // prepared strings and the stack outlive every use the child makes of them.
        let pid = unsafe {
            libc::clone(
                child_main,
                stack_top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&args as *const ChildArgs).cast_mut().cast(),
            )
        };
        drop((out_w, err_w, report_w));
        if pid < 0 {
            return Err(format!(
                "cannot start a process: {}",
                io::Error::last_os_error()
            ));
        }
        // The child has exec'd (the report pipe closed on exec: EOF) or failed (its step and
        // errno).
        let mut report = [0u8; 8];
        let n = File::from(report_r).read(&mut report).unwrap_or(0);
        if n == report.len() {
            let [s0, s1, s2, s3, e0, e1, e2, e3] = report;
            let step = Step::from_raw(i32::from_ne_bytes([s0, s1, s2, s3]));
            let err = io::Error::from_raw_os_error(i32::from_ne_bytes([e0, e1, e2, e3]));
            // It exited with 127; the keeper's reaper collects it.
            return Err(failed_step(spec, step, &err));
        }
        Ok(Running {
            pid: Pid::from_raw(pid),
            stdout: File::from(out_r),
            stderr: File::from(err_r),
        })
    }
}

/// What the child could not do, as the reason the start failed.
fn failed_step(spec: &AppSpec, step: Step, err: &io::Error) -> String {
    let p = &spec.privileges;
    let as_user = p
        .account
        .as_ref()
        .map(|a| format!(" as user {} (uid {})", a.user, a.uid))
        .unwrap_or_default();
    match step {
        Step::Exec | Step::Cwd if p.account.is_none() => check_runnable(spec)
            .err()
            .unwrap_or_else(|| format!("cannot execute {}: {err}", spec.script.display())),
        Step::Exec => format!("cannot execute {}{as_user}: {err}", spec.script.display()),
        Step::Cwd => format!("cannot enter cwd {}{as_user}: {err}", spec.cwd.display()),
        Step::Session => format!("cannot start a new session: {err}"),
        Step::Limit => {
            let all: Vec<String> = p.limits.iter().map(ToString::to_string).collect();
            format!("cannot set the resource limits ({}): {err}", all.join(", "))
        }
        Step::Groups | Step::Gid | Step::Uid => {
            let what = match step {
                Step::Groups => "set the supplementary groups",
                Step::Gid => "switch group",
                _ => "switch user",
            };
            format!(
                "cannot {what}{as_user}: {err} (the keeper must run as root to run an app as another user)"
            )
        }
        Step::DeathSignal => format!("cannot bind the app to its keeper's life: {err}"),
        Step::NoNewPrivs => format!("cannot set no_new_privileges: {err}"),
        Step::Stdio => format!("cannot connect the app's output: {err}"),
    }
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
