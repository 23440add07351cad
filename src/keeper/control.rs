//! The keeper's control socket: non-blocking connections, one request and one response each.
//!
//! A request that must wait (stop, restart, wait-settled) parks its connection until the app
//! reaches the state it waits for; the event loop answers it then.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};

use crate::proto::{self, FrameError, Request, RequestFrame, Response, ResponseFrame};

/// What a parked request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Online, or settled (a failed start is an answer too).
    Running,
    /// Settled: stopped, errored, completed, failed.
    Settled,
}

/// One client connection.
pub struct Conn {
    stream: UnixStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// Set once a request has been read from this connection.
    pub request: Option<Request>,
    /// Set while the request waits for a state.
    pub parked: Option<Until>,
    /// The response is fully written, or the peer went away: drop the connection.
    pub done: bool,
}

impl Conn {
    pub fn new(stream: UnixStream) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            request: None,
            parked: None,
            done: false,
        })
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
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.done = true;
                    return None;
                }
            }
        }
        if self.request.is_some() {
            return None;
        }
        match proto::decode::<RequestFrame>(&self.rbuf) {
            Ok(Some((frame, _))) if frame.v == proto::VERSION => Some(frame.request),
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

/// Accepts every pending connection.
pub fn accept_all(listener: &UnixListener, conns: &mut Vec<Conn>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Ok(conn) = Conn::new(stream) {
                    conns.push(conn);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
