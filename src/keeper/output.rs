//! The app's stdout and stderr: read from the pipes as fast as they fill, written whole-line.
//!
//! A partial line waits for its newline, so lines from a crash-restarted app never interleave
//! mid-line; a line longer than `MAX_LINE` is cut into pieces rather than held forever. The last
//! stderr lines are kept for the restart ledger.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::readbuf::ReadBuffer;

/// A line longer than this is written in pieces of this size.
pub const MAX_LINE: usize = 64 * 1024;
/// Stderr lines kept for the ledger, and the length each is cut to.
const TAIL_LINES: usize = 20;
const TAIL_LINE_BYTES: usize = 512;

/// Where a stream's lines go.
pub enum Sink {
    /// A log file opened for appending.
    File(File),
    /// The terminal of `tpctl run`, each line prefixed (`name | `).
    Prefixed { prefix: Vec<u8> },
    /// The log file could not be opened: everything counts as dropped.
    Discard,
}

impl Sink {
    /// Opens (creating, 0640) a log file for appending.
    pub fn file(path: &Path) -> io::Result<Sink> {
        Ok(Sink::File(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(path)?,
        ))
    }

    fn write_lines(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::File(f) => f.write_all(bytes),
            Sink::Prefixed { prefix } => {
                let mut out = Vec::with_capacity(bytes.len() + 16);
                for line in bytes.split_inclusive(|b| *b == b'\n') {
                    out.extend_from_slice(prefix);
                    out.extend_from_slice(line);
                }
                io::stdout().lock().write_all(&out)
            }
            Sink::Discard => Err(io::Error::other("no log file")),
        }
    }
}

/// What a read pass found.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// The pipe is empty for now.
    WouldBlock,
    /// Every writer closed the pipe.
    Eof,
}

/// One output pipe of the app and where its lines go.
pub struct Stream {
    pipe: File,
    pending: Vec<u8>,
    sink: Sink,
    tail: Option<VecDeque<String>>,
    /// Bytes that could not be written to the sink (disk full, file too large...).
    pub dropped_bytes: u64,
}

impl Stream {
    /// Wraps a pipe, making it non-blocking. `keep_tail` keeps the last lines (for stderr).
    pub fn new(pipe: File, sink: Sink, keep_tail: bool) -> io::Result<Stream> {
        set_nonblocking(&pipe)?;
        Ok(Stream {
            pipe,
            pending: Vec::new(),
            sink,
            tail: keep_tail.then(VecDeque::new),
            dropped_bytes: 0,
        })
    }

    pub fn raw_fd(&self) -> i32 {
        self.pipe.as_raw_fd()
    }

    /// The last stderr lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail
            .as_ref()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Reads until the pipe would block or closes, at most `max_reads` chunks (fairness between
    /// streams and the control socket). On EOF any partial last line is written with a newline.
    pub fn drain(&mut self, buf: &mut ReadBuffer, max_reads: usize) -> Drained {
        let mut total = 0;
        for _ in 0..max_reads {
            let b = buf.get();
            let len = b.len();
            match self.pipe.read(b) {
                Ok(0) => {
                    self.flush_partial();
                    buf.idle_after(total);
                    return Drained::Eof;
                }
                Ok(n) => {
                    self.accept(&b[..n]);
                    total += n;
                    if n == len {
                        buf.filled();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    buf.idle_after(total);
                    return Drained::WouldBlock;
                }
                Err(_) => {
                    self.flush_partial();
                    return Drained::Eof;
                }
            }
        }
        Drained::WouldBlock
    }

    /// Splits a chunk into whole lines for the sink and a remainder that waits for its newline.
    fn accept(&mut self, mut chunk: &[u8]) {
        if !self.pending.is_empty() {
            match memchr(b'\n', chunk) {
                Some(nl) => {
                    self.pending.extend_from_slice(&chunk[..=nl]);
                    let line = std::mem::take(&mut self.pending);
                    self.emit_bounded(&line);
                    chunk = &chunk[nl + 1..];
                }
                None => {
                    self.pending.extend_from_slice(chunk);
                    self.cut_long_pending();
                    return;
                }
            }
        }
        match chunk.iter().rposition(|b| *b == b'\n') {
            Some(last) => {
                self.emit_bounded(&chunk[..=last]);
                self.pending.extend_from_slice(&chunk[last + 1..]);
            }
            None => self.pending.extend_from_slice(chunk),
        }
        self.cut_long_pending();
    }

    /// Emits whole lines, cutting any longer than `MAX_LINE`. Only a run longer than the limit
    /// can hold such a line, so the common case is one write with no scan.
    fn emit_bounded(&mut self, lines: &[u8]) {
        if lines.len() <= MAX_LINE {
            return self.emit(lines);
        }
        let mut out = Vec::with_capacity(lines.len() + lines.len() / MAX_LINE + 1);
        for line in lines.split_inclusive(|b| *b == b'\n') {
            let mut rest = line;
            // A line of exactly MAX_LINE bytes plus its newline is not cut.
            while rest.len() > MAX_LINE + usize::from(rest.ends_with(b"\n")) {
                out.extend_from_slice(&rest[..MAX_LINE]);
                out.push(b'\n');
                rest = &rest[MAX_LINE..];
            }
            out.extend_from_slice(rest);
        }
        self.emit(&out);
    }

    fn cut_long_pending(&mut self) {
        while self.pending.len() > MAX_LINE {
            let mut piece: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
            piece.push(b'\n');
            self.emit(&piece);
        }
    }

    fn flush_partial(&mut self) {
        if !self.pending.is_empty() {
            let mut line = std::mem::take(&mut self.pending);
            line.push(b'\n');
            self.emit(&line);
        }
    }

    fn emit(&mut self, lines: &[u8]) {
        if let Some(tail) = &mut self.tail {
            // Only the last few lines of a chunk can survive in the tail: look at no more.
            let mut newest: Vec<&[u8]> = lines
                .strip_suffix(b"\n")
                .unwrap_or(lines)
                .rsplit(|b| *b == b'\n')
                .take(TAIL_LINES)
                .collect();
            newest.reverse();
            for line in newest {
                let cut = &line[..line.len().min(TAIL_LINE_BYTES)];
                tail.push_back(String::from_utf8_lossy(cut).into_owned());
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
        }
        if self.sink.write_lines(lines).is_err() {
            self.dropped_bytes += lines.len() as u64;
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|b| *b == needle)
}

fn set_nonblocking(f: &File) -> io::Result<()> {
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on a file descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_to(path: &Path) -> (Stream, File) {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let s = Stream::new(File::from(r), Sink::file(path).expect("sink"), true).expect("stream");
        (s, File::from(w))
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("out.log");
        let (mut s, mut w) = stream_to(&log);
        w.write_all(b"one\ntw").expect("write");
        assert_eq!(s.drain(&mut ReadBuffer::default(), 8), Drained::WouldBlock);
        assert_eq!(std::fs::read(&log).expect("read"), b"one\n");
        w.write_all(b"o\nthree").expect("write");
        s.drain(&mut ReadBuffer::default(), 8);
        assert_eq!(std::fs::read(&log).expect("read"), b"one\ntwo\n");
        drop(w);
        assert_eq!(s.drain(&mut ReadBuffer::default(), 8), Drained::Eof);
        assert_eq!(std::fs::read(&log).expect("read"), b"one\ntwo\nthree\n");
        assert_eq!(s.tail(), vec!["one", "two", "three"]);
    }

    #[test]
    fn long_lines_are_cut_not_dropped_and_bytes_kept_as_they_are() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("out.log");
        let (mut s, w) = stream_to(&log);
        let mut data = vec![b'x'; MAX_LINE + 10];
        data.extend_from_slice(b"\n\xff\xfe\n");
        let writer = std::thread::spawn(move || {
            let mut w = w;
            w.write_all(&data).expect("write");
        });
        while s.drain(&mut ReadBuffer::default(), 8) != Drained::Eof {
            std::thread::yield_now();
        }
        writer.join().expect("writer");
        let got = std::fs::read(&log).expect("read");
        assert_eq!(got.len(), MAX_LINE + 10 + 2 + 3);
        assert_eq!(&got[got.len() - 3..], b"\xff\xfe\n");
    }
}
