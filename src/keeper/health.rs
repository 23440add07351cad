//! Health checks, run by the keeper without blocking it: `tcp` and `http` on a nonblocking
//! socket in the keeper's poll loop (no process per check), `exec` as a child process the
//! keeper reaps like any other. One check at a time; its verdict goes to the policy.

use std::os::fd::RawFd;
use std::time::Instant;

use nix::unistd::Pid;

use super::Keeper;
use super::exchange::{Exchange, Progress};
use super::http_answer::{self, Answer};
use crate::policy::{Event, Exit};
use crate::spec::{HealthCheck, HealthSpec};

/// The health checks' state: the check in flight, and an http check's connection kept for the
/// next one (HTTP keep-alive).
#[derive(Default)]
pub(super) struct Checks {
    probe: Option<Probe>,
    kept: Option<Exchange>,
}

/// A check in flight.
struct Probe {
    deadline: Instant,
    kind: Kind,
}

enum Kind {
    /// Connecting, then (http) sending the request and reading the answer. `reused`: on a
    /// connection kept from the last check, which the server may have closed meanwhile.
    Net {
        x: Exchange,
        reused: bool,
    },
    Exec {
        pid: Pid,
    },
}

/// What poll should wait for on the probe's socket, if it has one.
pub(super) fn poll_interest(c: &Checks) -> (RawFd, i16) {
    match c.probe.as_ref().map(|p| &p.kind) {
        Some(Kind::Net { x, .. }) => x.interest(),
        _ => (-1, 0),
    }
}

/// An exec check runs as the app's user, with its umask and no_new_privileges, as the app.
fn as_app_user(cmd: &mut std::process::Command, p: &crate::spec::Privileges) {
    use std::os::unix::process::CommandExt;
    let identity = super::child::Identity::of(p);
    // SAFETY: pre_exec runs between fork and exec, where `assume` belongs.
    unsafe {
        cmd.pre_exec(move || {
            identity
                .assume()
                .map_err(|_| std::io::Error::last_os_error())
        });
    }
}

/// A status code's verdict: 2xx and 3xx are healthy.
fn judge(code: u16) -> (bool, String) {
    ((200..400).contains(&code), format!("HTTP {code}"))
}

fn request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tpctl-health\r\n\r\n").into_bytes()
}

impl Keeper {
    /// Starts the app's health check (the policy asked for it).
    pub(super) fn start_health_check(&mut self) {
        let Some(h) = self.spec.health.clone() else {
            return;
        };
        if self.health.probe.is_some() {
            return; // the previous one is still running: its verdict comes first
        }
        let deadline = Instant::now() + h.timeout;
        let kind = match &h.check {
            HealthCheck::Http { host, port, path } => match self.health.kept.take() {
                Some(mut x) => {
                    x.again(request(host, path));
                    Kind::Net { x, reused: true }
                }
                None => match Exchange::start(host, *port, request(host, path)) {
                    Ok(x) => Kind::Net { x, reused: false },
                    Err(e) => return self.health_verdict(false, e),
                },
            },
            // A fresh connection each time: accepting one is what a tcp check checks.
            HealthCheck::Tcp { host, port } => match Exchange::start(host, *port, Vec::new()) {
                Ok(x) => Kind::Net { x, reused: false },
                Err(e) => return self.health_verdict(false, e),
            },
            HealthCheck::Exec { argv } => {
                let mut cmd = std::process::Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .current_dir(&self.spec.cwd)
                    .env_clear()
                    .envs(&self.spec.env)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                as_app_user(&mut cmd, &self.spec.privileges);
                match cmd.spawn() {
                    // The keeper's reaper collects it (`on_probe_reaped`).
                    Ok(child) => Kind::Exec {
                        pid: Pid::from_raw(child.id() as i32),
                    },
                    Err(e) => {
                        return self.health_verdict(
                            false,
                            format!("the check cannot start: {}: {e}", argv[0]),
                        );
                    }
                }
            }
        };
        let at_once = matches!(&kind, Kind::Net { x, .. } if x.connected_at_once());
        self.health.probe = Some(Probe { deadline, kind });
        // Connected at once (a local listener): go on now rather than after a poll turn.
        if at_once {
            self.on_probe_ready();
        }
    }

    fn health_verdict(&mut self, ok: bool, detail: String) {
        self.health.probe = None;
        if !ok {
            tracing::warn!(%detail, "health check failed");
        }
        self.feed(Event::Health { ok, detail });
    }

    /// The probe's socket is ready: connect done, request written, answer read.
    pub(super) fn on_probe_ready(&mut self) {
        let Some(Probe {
            kind: Kind::Net { x, reused },
            ..
        }) = self.health.probe.as_mut()
        else {
            return;
        };
        let step = x.step();
        let answer = match &step {
            Ok(Progress::Read { eof }) => Some(http_answer::read(x.answer(), *eof)),
            _ => None,
        };
        // A kept connection the server closed while idle (an error, or an end before any
        // answer) is no failure of the app: the check goes again on a new connection.
        let stale = *reused
            && match (&step, &answer) {
                (Err(_), _) => true,
                (_, Some(Answer::Malformed(_))) => x.answer().is_empty(),
                _ => false,
            };
        if stale {
            let Some(HealthCheck::Http { host, port, path }) =
                self.spec.health.as_ref().map(|h| h.check.clone())
            else {
                return;
            };
            let deadline = self.health.probe.as_ref().map(|p| p.deadline);
            self.health.probe = None;
            return match Exchange::start(&host, port, request(&host, &path)) {
                Ok(x) => {
                    let at_once = x.connected_at_once();
                    self.health.probe = Some(Probe {
                        deadline: deadline.unwrap_or_else(Instant::now),
                        kind: Kind::Net { x, reused: false },
                    });
                    if at_once {
                        self.on_probe_ready();
                    }
                }
                Err(e) => self.health_verdict(false, e),
            };
        }
        match (step, answer) {
            (Err(e), _) => self.health_verdict(false, e),
            // A tcp check is done once connected.
            (Ok(Progress::Connected), _) => self.health_verdict(true, "accepts connections".into()),
            (_, None | Some(Answer::Partial)) => {}
            (_, Some(Answer::Complete { code, reuse })) => {
                if reuse
                    && let Some(Probe {
                        kind: Kind::Net { x, .. },
                        ..
                    }) = self.health.probe.take()
                {
                    self.health.kept = Some(x);
                }
                let (ok, detail) = judge(code);
                self.health_verdict(ok, detail);
            }
            (_, Some(Answer::Status { code })) => {
                let (ok, detail) = judge(code);
                self.health_verdict(ok, detail);
            }
            (_, Some(Answer::Malformed(m))) => self.health_verdict(false, m),
        }
    }

    /// The check took longer than its timeout: it failed (an exec check is killed).
    pub(super) fn probe_deadline(&mut self) {
        let Some(p) = &self.health.probe else { return };
        if Instant::now() < p.deadline {
            return;
        }
        if let Kind::Exec { pid } = p.kind {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        let timeout = self
            .spec
            .health
            .as_ref()
            .map_or_else(Default::default, |h: &HealthSpec| h.timeout);
        self.health_verdict(
            false,
            format!(
                "no answer within {}",
                crate::config::units::format_duration(timeout)
            ),
        );
    }

    pub(super) fn probe_deadline_at(&self) -> Option<Instant> {
        self.health.probe.as_ref().map(|p| p.deadline)
    }

    /// An exited child that was the exec check: its verdict. False for any other child.
    pub(super) fn on_probe_reaped(&mut self, pid: Pid, exit: Exit) -> bool {
        if !matches!(&self.health.probe, Some(Probe { kind: Kind::Exec { pid: p }, .. }) if *p == pid)
        {
            return false;
        }
        match exit {
            Exit::Code(0) => self.health_verdict(true, "exit 0".into()),
            other => self.health_verdict(false, format!("the check ended with {other}")),
        }
        true
    }
}
