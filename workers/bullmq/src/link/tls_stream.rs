//! A TLS connection read and written without blocking, for the link's own socket handling:
//! rustls does the records, the link sees plaintext. A read drains the socket before it
//! returns short (the link waits for a new readiness edge after a short read: nothing may be
//! left staged or on the socket then), and encrypted bytes the socket cannot take yet stay
//! pending until `flush_pending`.

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};

pub(crate) struct TlsStream {
    sock: TcpStream,
    /// Only the link's socket task touches it, under the link's lock.
    tls: RefCell<rustls::ClientConnection>,
    /// Bytes read from the socket that rustls has not taken yet: the socket is read in large
    /// pieces (rustls alone reads 4 KiB at a time, a system call each), rustls fed from here.
    staged: RefCell<Staged>,
}

/// `buf[start..end]` waits for rustls; `buf` is allocated once, at the first read.
#[derive(Default)]
struct Staged {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Staged {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// How much one read of the socket takes.
const STAGE: usize = 64 * 1024;

fn would_block() -> std::io::Error {
    ErrorKind::WouldBlock.into()
}

impl TlsStream {
    pub(crate) fn new(sock: TcpStream, tls: rustls::ClientConnection) -> TlsStream {
        TlsStream {
            sock,
            tls: RefCell::new(tls),
            staged: RefCell::new(Staged::default()),
        }
    }

    /// Plaintext into `buf`; `Ok(0)` when the server closed; `WouldBlock` when nothing came.
    pub(crate) fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        let mut staged = self.staged.borrow_mut();
        let mut filled = 0;
        let mut drained = false;
        let mut eof = false;
        while filled < buf.len() {
            match tls.reader().read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true; // the server's close_notify
                    break;
                }
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // Closed without close_notify.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    eof = true;
                    break;
                }
                Err(e) => return Err(e),
            }
            if staged.is_empty() {
                if drained {
                    break;
                }
                if staged.buf.is_empty() {
                    staged.buf = vec![0; STAGE];
                }
                (staged.start, staged.end) = (0, 0);
                let got = (&self.sock).read(&mut staged.buf[..]);
                match got {
                    Ok(0) => {
                        // The peer closed: rustls is told by an empty read.
                        drained = true;
                        tls.read_tls(&mut &[][..])?;
                    }
                    Ok(n) => staged.end = n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        drained = true;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !staged.is_empty() {
                let used = tls.read_tls(&mut &staged.buf[staged.start..staged.end])?;
                if used == 0 {
                    // Never expected; bytes left staged would wait for a readiness edge that
                    // may not come: the connection is given up instead.
                    return Err(std::io::Error::new(
                        ErrorKind::InvalidData,
                        "TLS: the connection takes no more of what the server sent",
                    ));
                }
                staged.start += used;
            }
            tls.process_new_packets()
                .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
        }
        // Alerts or key updates rustls wants to answer with.
        let _ = flush(&mut tls, &self.sock);
        match filled {
            0 if eof => Ok(0),
            0 => Err(would_block()),
            n => Ok(n),
        }
    }

    /// Takes plaintext once earlier records are out; sends as much as the socket takes.
    pub(crate) fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        flush(&mut tls, &self.sock)?;
        let n = tls.writer().write(buf)?;
        match flush(&mut tls, &self.sock) {
            Err(e) if e.kind() != ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    pub(crate) fn pending_output(&self) -> bool {
        self.tls.borrow().wants_write()
    }

    pub(crate) fn flush_pending(&self) -> std::io::Result<()> {
        flush(&mut self.tls.borrow_mut(), &self.sock)
    }
}

/// Writes pending records; `WouldBlock` when the socket is full.
fn flush(tls: &mut rustls::ClientConnection, sock: &TcpStream) -> std::io::Result<()> {
    while tls.wants_write() {
        let mut s = sock;
        if tls.write_tls(&mut s)? == 0 {
            return Err(ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
