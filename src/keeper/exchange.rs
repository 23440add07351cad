//! One request and its answer on a nonblocking TCP socket, stepped by the keeper's poll loop:
//! what health checks and the look at Valkey's client list have in common.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage};

/// An answer longer than this is refused (a client list of some 40 000 connections).
const MAX_ANSWER: usize = 16 << 20;

pub(super) struct Exchange {
    stream: TcpStream,
    connected: bool,
    request: Vec<u8>,
    sent: usize,
    answer: Vec<u8>,
}

/// How far an exchange got in one step.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Waiting for the socket.
    Waiting,
    /// Connected, with nothing to send (a bare connect was all that was asked).
    Connected,
    /// More of the answer arrived; `eof`: the peer closed its side.
    Read { eof: bool },
}

impl Exchange {
    /// A nonblocking connect to the first address `host:port` resolves to; `request` is sent
    /// once connected.
    pub(super) fn start(host: &str, port: u16, request: Vec<u8>) -> Result<Exchange, String> {
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
        // SAFETY: `fd` is a stream socket we own; ownership moves into the TcpStream.
        let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
        Ok(Exchange {
            stream,
            connected,
            request,
            sent: 0,
            answer: Vec::new(),
        })
    }

    /// Another request on the same connection (HTTP keep-alive, a kept Valkey connection).
    pub(super) fn again(&mut self, request: Vec<u8>) {
        self.request = request;
        self.sent = 0;
        // Not `clear`: a large answer's buffer (a client list) must not stay with a kept
        // connection; keepers are many.
        self.answer = Vec::new();
    }

    /// What poll should wait for.
    pub(super) fn interest(&self) -> (RawFd, i16) {
        let writing = !self.connected || self.sent < self.request.len();
        let ev = if writing { libc::POLLOUT } else { libc::POLLIN };
        (self.stream.as_raw_fd(), ev)
    }

    pub(super) fn connected_at_once(&self) -> bool {
        self.connected
    }

    /// The answer so far.
    pub(super) fn answer(&self) -> &[u8] {
        &self.answer
    }

    /// This end's address (as the server sees it, unless something translates addresses).
    pub(super) fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.local_addr().ok()
    }

    /// Goes as far as the socket allows without blocking.
    pub(super) fn step(&mut self) -> Result<Progress, String> {
        if !self.connected {
            match self.stream.take_error() {
                Ok(None) => self.connected = true,
                Ok(Some(e)) | Err(e) => return Err(format!("cannot connect: {e}")),
            }
        }
        if self.request.is_empty() {
            return Ok(Progress::Connected);
        }
        let sending = self.sent < self.request.len();
        while self.sent < self.request.len() {
            match self.stream.write(&self.request[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(Progress::Waiting);
                }
                Err(e) => return Err(format!("cannot send: {e}")),
            }
        }
        if sending {
            // The answer is hardly ever there yet: poll says when it is, rather than a read
            // that fails with EAGAIN on every check (system calls are what checks cost).
            return Ok(Progress::Waiting);
        }
        let before = self.answer.len();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(Progress::Read { eof: true }),
                Ok(n) => {
                    self.answer.extend_from_slice(&buf[..n]);
                    if self.answer.len() > MAX_ANSWER {
                        return Err(format!("an answer over {} MiB", MAX_ANSWER >> 20));
                    }
                    // A short read emptied the socket: the caller sees whether the answer is
                    // whole, and poll says when more comes, without a read that would block.
                    if n < buf.len() {
                        return Ok(Progress::Read { eof: false });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(if self.answer.len() > before {
                        Progress::Read { eof: false }
                    } else {
                        Progress::Waiting
                    });
                }
                Err(e) => return Err(format!("cannot read the answer: {e}")),
            }
        }
    }
}
