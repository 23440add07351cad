//! The keeper's control socket: non-blocking connections, one request and one response each.
//!
//! A request that must wait (stop, restart, wait-settled) parks its connection until the app
//! reaches the state it waits for; the event loop answers it then.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::{UnixListener, UnixStream};

use crate::home::AppDir;
use crate::proto::{self, FrameError, Request, RequestFrame, Response, ResponseFrame};

/// What a parked request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Online, or settled (a failed start is an answer too).
    Running,
    /// Settled: stopped, errored, completed, failed.
    Settled,
    /// Settled, or a one-shot's failure that will be retried.
    Outcome,
}

/// One client connection.
pub struct Conn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The request read from this connection, until the event loop takes it.
    pub request: Option<Request>,
    /// A request was read: later input only matters as end-of-file.
    received: bool,
    /// Set while the request waits for a state.
    pub parked: Option<Until>,
    /// The response is fully written, or the peer went away: drop the connection.
    pub done: bool,
    /// Another user's connection: its request gets this refusal, whatever it asks.
    pub refusal: Option<String>,
}

impl Conn {
    /// Wraps an accepted, already non-blocking stream.
    pub fn new(stream: UnixStream) -> Conn {
        Conn {
            stream,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            request: None,
            received: false,
            parked: None,
            done: false,
            refusal: None,
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// True while the response has bytes left to write.
    pub fn wants_write(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Reads what is available; returns a request once a whole frame is in.
    pub fn on_readable(&mut self) -> Option<Request> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    // The client gave up (Ctrl-C while waiting): nothing to answer.
                    self.done = true;
                    return None;
                }
                Ok(n) if self.received => {
                    let _ = n; // one request per connection; anything after it is ignored
                }
                Ok(n) => {
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    if !matches!(proto::decode::<RequestFrame>(&self.rbuf), Ok(None)) {
                        break; // a whole frame (or garbage): no need to read on
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.done = true;
                    return None;
                }
            }
        }
        if self.received {
            return None;
        }
        match proto::decode::<RequestFrame>(&self.rbuf) {
            Ok(Some((frame, _))) if frame.v == proto::VERSION => {
                self.received = true;
                self.rbuf = Vec::new();
                Some(frame.request)
            }
            Ok(Some((frame, _))) => {
                self.respond(&Response::Error {
                    message: format!(
                        "this keeper speaks control protocol v{} but the client sent v{}; restart the app with the tpctl that started it (`tpctl restart`), or `tpctl kill` and start again",
                        proto::VERSION,
                        frame.v
                    ),
                });
                None
            }
            Ok(None) => None,
            Err(FrameError::Json(e)) => {
                // Maybe a newer client with a request this keeper does not know.
                self.respond(&Response::Error { message: format!("unknown or malformed request ({e}); this keeper speaks control protocol v{}", proto::VERSION) });
                None
            }
            Err(e) => {
                self.respond(&Response::Error {
                    message: e.to_string(),
                });
                None
            }
        }
    }

    /// Queues the response and tries to write it.
    pub fn respond(&mut self, response: &Response) {
        self.parked = None;
        match proto::encode(&ResponseFrame {
            v: proto::VERSION,
            response: response.clone(),
        }) {
            Ok(bytes) => self.wbuf = bytes,
            Err(_) => self.done = true,
        }
        self.on_writable();
    }

    /// Writes what the socket takes.
    pub fn on_writable(&mut self) {
        while !self.wbuf.is_empty() {
            match self.stream.write(&self.wbuf) {
                Ok(n) => {
                    self.wbuf.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.wbuf.clear();
                    break;
                }
            }
        }
        self.done = true;
    }
}

/// Accepts one pending connection; if there are more, the listener stays readable and the
/// next poll returns at once (this saves the extra accept that would only say "no more").
///
/// Only the keeper's own user and root are answered (SO_PEERCRED): the directory's modes keep
/// others out already, and this holds when someone loosened them. Anyone else is told whose
/// apps these are, whatever they asked.
pub fn accept_one(listener: &UnixListener, conns: &mut Vec<Conn>, dir: &AppDir) {
    use nix::sys::socket::{SockFlag, accept4, getsockopt, sockopt::PeerCredentials};
    let Ok(fd) = accept4(
        listener.as_raw_fd(),
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    ) else {
        return;
    };
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let mut conn = Conn::new(unsafe { UnixStream::from_raw_fd(fd) });
    let me = nix::unistd::geteuid().as_raw();
    match getsockopt(&conn.stream, PeerCredentials) {
        Ok(c) if c.uid() == me || c.uid() == 0 => {}
        peer => {
            let peer = peer.map_or_else(|_| "unknown".into(), |c| c.uid().to_string());
            tracing::warn!(%peer, "refused a control connection from another user");
            // Answered once its request is read: closing first would fail the client's send.
            conn.refusal = Some(refusal(dir, me));
        }
    }
    conns.push(conn);
}

/// "the apps under TPCTL_HOME … belong to user …", for a client of another user.
pub fn refusal(dir: &AppDir, owner: u32) -> String {
    let home = dir
        .path()
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap_or(dir.path());
    format!(
        "the apps under TPCTL_HOME {} belong to user {}: run tpctl as that user (or root), or use a TPCTL_HOME of your own",
        home.display(),
        crate::home::user_name(owner)
    )
}
