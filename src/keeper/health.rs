//! Health checks, run by the keeper without blocking it: `tcp` and `http` on a nonblocking
//! socket in the keeper's poll loop (no process per check), `exec` as a child process the
//! keeper reaps like any other. One check at a time; its verdict goes to the policy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage};
use nix::unistd::Pid;

use super::Keeper;
use crate::policy::{Event, Exit};
use crate::spec::{HealthCheck, HealthSpec};

/// A check in flight.
pub(super) struct Probe {
    deadline: Instant,
    kind: Kind,
}

enum Kind {
    /// Connecting, then (http) sending the request and reading the status line.
    Net {
        stream: TcpStream,
        connected: bool,
        request: Option<Vec<u8>>,
        sent: usize,
        answer: Vec<u8>,
    },
    Exec {
        pid: Pid,
    },
}

/// What poll should wait for on the probe's socket, if it has one.
pub(super) fn poll_interest(p: Option<&Probe>) -> (RawFd, i16) {
    match p.map(|p| &p.kind) {
        Some(Kind::Net {
            stream,
            connected,
            request,
            sent,
            ..
        }) => {
            let writing = !*connected || request.as_ref().is_some_and(|r| *sent < r.len());
            let ev = if writing { libc::POLLOUT } else { libc::POLLIN };
            (stream.as_raw_fd(), ev)
        }
        _ => (-1, 0),
    }
}

/// A nonblocking connect to the first address `host:port` resolves to, and whether it is
/// already connected (a local listener usually accepts at once).
fn connect(host: &str, port: u16) -> Result<(TcpStream, bool), String> {
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd: OwnedFd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("cannot open a socket: {e}"))?;
    let connected = match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) => true,
        Err(nix::errno::Errno::EINPROGRESS) => false,
        Err(e) => return Err(format!("cannot connect to {addr}: {e}")),
    };
    // SAFETY: `fd` is a connected (or connecting) stream socket we own; ownership moves.
    let stream = unsafe { TcpStream::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
    Ok((stream, connected))
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
                match connect(host, *port) {
                    Ok((stream, connected)) => Kind::Net {
                        stream,
                        connected,
                        request: match &h.check {
                            HealthCheck::Http { host, path, .. } => Some(
                                format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: tpctl-health\r\nConnection: close\r\n\r\n")
                                    .into_bytes(),
                            ),
                            _ => None,
                        },
                        sent: 0,
                        answer: Vec::new(),
                    },
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
        self.probe = Some(Probe { deadline, kind });
        // Connected at once (a local listener): go on now rather than after a poll turn.
        if matches!(
            &self.probe,
            Some(Probe {
                kind: Kind::Net {
                    connected: true,
                    ..
                },
                ..
            })
        ) {
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
            kind:
                Kind::Net {
                    stream,
                    connected,
                    request,
                    sent,
                    answer,
                },
            ..
        }) = self.probe.as_mut()
        else {
            return;
        };
        if !*connected {
            match stream.take_error() {
                Ok(None) => *connected = true,
                Ok(Some(e)) | Err(e) => {
                    return self.health_verdict(false, format!("cannot connect: {e}"));
                }
            }
        }
        // A tcp check is done once connected.
        if request.is_none() {
            return self.health_verdict(true, "accepts connections".into());
        }
        if let Some(r) = request.as_ref().filter(|r| *sent < r.len()) {
            match stream.write(&r[*sent..]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return self.health_verdict(false, format!("cannot send: {e}")),
            }
            return;
        }
        let mut buf = [0u8; 512];
        match stream.read(&mut buf) {
            Ok(0) if answer.is_empty() => {
                self.health_verdict(false, "closed without an answer".into())
            }
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if let Some(end) = answer
                    .iter()
                    .position(|b| *b == b'\n')
                    .or((n == 0).then_some(answer.len()))
                {
                    let line = String::from_utf8_lossy(&answer[..end]).trim().to_string();
                    let code = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|c| c.parse::<u16>().ok());
                    match code {
                        Some(c) if (200..400).contains(&c) => {
                            self.health_verdict(true, format!("HTTP {c}"))
                        }
                        Some(c) => self.health_verdict(false, format!("HTTP {c}")),
                        None => self.health_verdict(false, format!("not an HTTP answer: {line:?}")),
                    }
                } else if answer.len() > 4096 {
                    self.health_verdict(false, "no status line in the answer".into());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => self.health_verdict(false, format!("cannot read the answer: {e}")),
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
