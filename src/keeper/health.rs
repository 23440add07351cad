//! Health checks, run by the keeper without blocking it: `tcp` and `http` on a nonblocking
//! socket in the keeper's poll loop (no process per check), `exec` as a child process the
//! keeper reaps like any other. One check at a time; its verdict goes to the policy.

use std::os::fd::RawFd;
use std::time::Instant;

use nix::unistd::Pid;

use super::Keeper;
use super::exchange::{Exchange, Progress};
use crate::policy::{Event, Exit};
use crate::spec::{HealthCheck, HealthSpec};

/// A check in flight.
pub(super) struct Probe {
    deadline: Instant,
    kind: Kind,
}

enum Kind {
    /// Connecting, then (http) sending the request and reading the status line.
    Net(Exchange),
    Exec {
        pid: Pid,
    },
}

/// What poll should wait for on the probe's socket, if it has one.
pub(super) fn poll_interest(p: Option<&Probe>) -> (RawFd, i16) {
    match p.map(|p| &p.kind) {
        Some(Kind::Net(x)) => x.interest(),
        _ => (-1, 0),
    }
}

/// The status line's verdict, once the answer holds it (or ended without one).
fn http_verdict(answer: &[u8], eof: bool) -> Option<Result<String, String>> {
    let end = answer
        .iter()
        .position(|b| *b == b'\n')
        .or(eof.then_some(answer.len()));
    let Some(end) = end else {
        return (answer.len() > 4096).then(|| Err("no status line in the answer".into()));
    };
    if end == 0 && eof {
        return Some(Err("closed without an answer".into()));
    }
    let line = String::from_utf8_lossy(&answer[..end]).trim().to_string();
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok());
    Some(match code {
        Some(c) if (200..400).contains(&c) => Ok(format!("HTTP {c}")),
        Some(c) => Err(format!("HTTP {c}")),
        None => Err(format!("not an HTTP answer: {line:?}")),
    })
}

impl Keeper {
    /// Starts the app's health check (the policy asked for it).
    pub(super) fn start_health_check(&mut self) {
        let Some(h) = self.spec.health.clone() else {
            return;
        };
        if self.probe.is_some() {
            return; // the previous one is still running: its verdict comes first
        }
        let deadline = Instant::now() + h.timeout;
        let kind = match &h.check {
            HealthCheck::Tcp { host, port } | HealthCheck::Http { host, port, .. } => {
                let request = match &h.check {
                    HealthCheck::Http { host, path, .. } => format!(
                        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: tpctl-health\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    _ => Vec::new(),
                };
                match Exchange::start(host, *port, request) {
                    Ok(x) => Kind::Net(x),
                    Err(e) => return self.health_verdict(false, e),
                }
            }
            HealthCheck::Exec { argv } => {
                let mut cmd = std::process::Command::new(&argv[0]);
                cmd.args(&argv[1..])
                    .current_dir(&self.spec.cwd)
                    .env_clear()
                    .envs(&self.spec.env)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
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
        let at_once = matches!(&kind, Kind::Net(x) if x.connected_at_once());
        self.probe = Some(Probe { deadline, kind });
        // Connected at once (a local listener): go on now rather than after a poll turn.
        if at_once {
            self.on_probe_ready();
        }
    }

    fn health_verdict(&mut self, ok: bool, detail: String) {
        self.probe = None;
        if !ok {
            tracing::warn!(%detail, "health check failed");
        }
        self.feed(Event::Health { ok, detail });
    }

    /// The probe's socket is ready: connect done, request written, answer read.
    pub(super) fn on_probe_ready(&mut self) {
        let Some(Probe {
            kind: Kind::Net(x), ..
        }) = self.probe.as_mut()
        else {
            return;
        };
        let verdict = match x.step() {
            Err(e) => Some(Err(e)),
            // A tcp check is done once connected.
            Ok(Progress::Connected) => Some(Ok("accepts connections".to_string())),
            Ok(Progress::Waiting) => None,
            Ok(Progress::Read { eof }) => http_verdict(x.answer(), eof),
        };
        match verdict {
            Some(Ok(detail)) => self.health_verdict(true, detail),
            Some(Err(detail)) => self.health_verdict(false, detail),
            None => {}
        }
    }

    /// The check took longer than its timeout: it failed (an exec check is killed).
    pub(super) fn probe_deadline(&mut self) {
        let Some(p) = &self.probe else { return };
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
        self.probe.as_ref().map(|p| p.deadline)
    }

    /// An exited child that was the exec check: its verdict. False for any other child.
    pub(super) fn on_probe_reaped(&mut self, pid: Pid, exit: Exit) -> bool {
        if !matches!(&self.probe, Some(Probe { kind: Kind::Exec { pid: p }, .. }) if *p == pid) {
            return false;
        }
        match exit {
            Exit::Code(0) => self.health_verdict(true, "exit 0".into()),
            other => self.health_verdict(false, format!("the check ended with {other}")),
        }
        true
    }
}
