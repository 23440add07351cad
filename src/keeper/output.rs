//! The app's stdout and stderr: read from the pipes as fast as they fill, handed on as whole
//! lines.
//!
//! A partial line waits for its newline, so lines of a crash-restarted app never interleave
//! mid-line; a line longer than `MAX_LINE` is cut into pieces, each but the last ending in
//! `CUT_MARK`, rather than held forever. Bytes are passed on as they are (invalid UTF-8
//! included). With `time = true` every line gets the time it was read. The last stderr lines
//! are kept for the restart ledger.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;

use super::readbuf::ReadBuffer;
use super::timestamp::DateFormat;

/// A line longer than this is written in pieces of this size.
pub const MAX_LINE: usize = 64 * 1024;
/// Ends every piece of a cut line but the last.
pub const CUT_MARK: &[u8] = " [tpctl: line continues]".as_bytes();
/// Stderr lines kept for the ledger, and the length each is cut to.
const TAIL_LINES: usize = 20;
const TAIL_LINE_BYTES: usize = 512;

/// Where a stream's whole lines go.
pub trait LineSink {
    /// Takes one or more whole lines, each ending in `\n`.
    fn write_lines(&mut self, lines: &[u8]);
}

/// What a read pass found.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// The pipe is empty for now.
    WouldBlock,
    /// Every writer closed the pipe.
    Eof,
}

/// One output pipe of the app.
pub struct Stream {
    pipe: File,
    pending: Vec<u8>,
    tail: Option<VecDeque<String>>,
    stamp: Option<DateFormat>,
    /// Scratch for lines with timestamps or cut marks.
    scratch: Vec<u8>,
}

impl Stream {
    /// Wraps a pipe, making it non-blocking. `keep_tail` keeps the last lines (for stderr).
    pub fn new(pipe: File, keep_tail: bool, stamp: Option<DateFormat>) -> io::Result<Stream> {
        set_nonblocking(&pipe)?;
        Ok(Stream {
            pipe,
            pending: Vec::new(),
            tail: keep_tail.then(VecDeque::new),
            stamp,
            scratch: Vec::new(),
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
    pub fn drain(
        &mut self,
        buf: &mut ReadBuffer,
        sink: &mut dyn LineSink,
        max_reads: usize,
    ) -> Drained {
        let mut total = 0;
        for _ in 0..max_reads {
            let b = buf.get();
            let len = b.len();
            match self.pipe.read(b) {
                Ok(0) => {
                    self.flush_partial(sink);
                    buf.idle_after(total);
                    return Drained::Eof;
                }
                Ok(n) => {
                    self.accept(&b[..n], sink);
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
                    self.flush_partial(sink);
                    return Drained::Eof;
                }
            }
        }
        Drained::WouldBlock
    }

    /// Splits a chunk into whole lines for the sink and a remainder that waits for its newline.
    fn accept(&mut self, mut chunk: &[u8], sink: &mut dyn LineSink) {
        if !self.pending.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(nl) => {
                    self.pending.extend_from_slice(&chunk[..=nl]);
                    let line = std::mem::take(&mut self.pending);
                    self.emit(&line, sink);
                    self.pending = line;
                    self.pending.clear();
                    chunk = &chunk[nl + 1..];
                }
                None => {
                    self.pending.extend_from_slice(chunk);
                    self.cut_long_pending(sink);
                    return;
                }
            }
        }
        match memchr::memrchr(b'\n', chunk) {
            Some(last) => {
                self.emit(&chunk[..=last], sink);
                self.pending.extend_from_slice(&chunk[last + 1..]);
            }
            None => self.pending.extend_from_slice(chunk),
        }
        self.cut_long_pending(sink);
    }

    /// A partial line that reached the limit goes out as a marked piece.
    fn cut_long_pending(&mut self, sink: &mut dyn LineSink) {
        while self.pending.len() > MAX_LINE {
            let mut piece: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
            piece.extend_from_slice(CUT_MARK);
            piece.push(b'\n');
            self.remember_tail(&piece);
            self.write_out(&piece, sink, false);
        }
    }

    fn flush_partial(&mut self, sink: &mut dyn LineSink) {
        if !self.pending.is_empty() {
            let mut line = std::mem::take(&mut self.pending);
            line.push(b'\n');
            self.emit(&line, sink);
        }
    }

    /// Hands whole lines on: as they are in the common case (one write, no scan), or rebuilt
    /// when a line is too long or lines need their timestamp.
    fn emit(&mut self, lines: &[u8], sink: &mut dyn LineSink) {
        self.remember_tail(lines);
        self.write_out(lines, sink, true);
    }

    /// Writes lines with their timestamps; with `cut`, lines over the limit are cut first.
    fn write_out(&mut self, lines: &[u8], sink: &mut dyn LineSink, cut: bool) {
        if self.stamp.is_none() && (!cut || lines.len() <= MAX_LINE + 1) {
            return sink.write_lines(lines);
        }
        let prefix = self
            .stamp
            .as_ref()
            .map(|f| f.render(super::now_ms()))
            .unwrap_or_default();
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        for line in lines.split_inclusive(|b| *b == b'\n') {
            let mut rest = line;
            // A line of exactly MAX_LINE bytes plus its newline is not cut.
            while cut && rest.len() > MAX_LINE + usize::from(rest.ends_with(b"\n")) {
                out.extend_from_slice(&prefix);
                out.extend_from_slice(&rest[..MAX_LINE]);
                out.extend_from_slice(CUT_MARK);
                out.push(b'\n');
                rest = &rest[MAX_LINE..];
            }
            out.extend_from_slice(&prefix);
            out.extend_from_slice(rest);
        }
        sink.write_lines(&out);
        // Keep a modest scratch buffer; a burst's worth is given back.
        if out.capacity() <= 256 * 1024 {
            self.scratch = out;
        }
    }

    fn remember_tail(&mut self, lines: &[u8]) {
        let Some(tail) = &mut self.tail else { return };
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
    use std::io::Write as _;

    /// Collects what a stream writes, one `write_lines` call per entry.
    #[derive(Default)]
    struct Collect(Vec<Vec<u8>>);

    impl LineSink for Collect {
        fn write_lines(&mut self, lines: &[u8]) {
            self.0.push(lines.to_vec());
        }
    }

    impl Collect {
        fn all(&self) -> Vec<u8> {
            self.0.concat()
        }
    }

    fn stream(stamp: Option<DateFormat>) -> (Stream, File) {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        (
            Stream::new(File::from(r), true, stamp).expect("stream"),
            File::from(w),
        )
    }

    fn drain_to_eof(s: &mut Stream, sink: &mut Collect) {
        let mut buf = ReadBuffer::default();
        while s.drain(&mut buf, sink, 8) != Drained::Eof {
            std::thread::yield_now();
        }
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let (mut s, mut w) = stream(None);
        let mut sink = Collect::default();
        let mut buf = ReadBuffer::default();
        w.write_all(b"one\ntw").expect("write");
        assert_eq!(s.drain(&mut buf, &mut sink, 8), Drained::WouldBlock);
        assert_eq!(sink.all(), b"one\n");
        w.write_all(b"o\nthree").expect("write");
        s.drain(&mut buf, &mut sink, 8);
        assert_eq!(sink.all(), b"one\ntwo\n");
        drop(w);
        assert_eq!(s.drain(&mut buf, &mut sink, 8), Drained::Eof);
        assert_eq!(sink.all(), b"one\ntwo\nthree\n");
        assert_eq!(s.tail(), vec!["one", "two", "three"]);
    }

    #[test]
    fn long_lines_are_cut_into_marked_pieces_and_bytes_kept_as_they_are() {
        let (mut s, w) = stream(None);
        let mut data = vec![b'x'; 2 * MAX_LINE + 10];
        data.extend_from_slice(b"\n\xff\xfe\n");
        let writer = std::thread::spawn(move || {
            let mut w = w;
            w.write_all(&data).expect("write");
        });
        let mut sink = Collect::default();
        drain_to_eof(&mut s, &mut sink);
        writer.join().expect("writer");
        let got = sink.all();
        let lines: Vec<&[u8]> = got.split(|b| *b == b'\n').collect();
        assert_eq!(
            lines.len(),
            5,
            "three pieces, the invalid UTF-8 line, and the empty rest"
        );
        for piece in &lines[..2] {
            assert_eq!(piece.len(), MAX_LINE + CUT_MARK.len());
            assert!(piece.ends_with(CUT_MARK));
        }
        assert_eq!(lines[2], vec![b'x'; 10].as_slice());
        assert_eq!(lines[3], b"\xff\xfe");
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_not_cut() {
        let (mut s, w) = stream(None);
        let mut data = vec![b'y'; MAX_LINE];
        data.push(b'\n');
        let writer = std::thread::spawn(move || {
            let mut w = w;
            w.write_all(&data).expect("write");
        });
        let mut sink = Collect::default();
        drain_to_eof(&mut s, &mut sink);
        writer.join().expect("writer");
        assert_eq!(sink.all().len(), MAX_LINE + 1);
    }

    #[test]
    fn every_line_gets_a_timestamp_prefix() {
        let (mut s, mut w) = stream(Some(DateFormat::parse("[T]")));
        w.write_all(b"a\nb\nc").expect("write");
        drop(w);
        let mut sink = Collect::default();
        drain_to_eof(&mut s, &mut sink);
        assert_eq!(sink.all(), b"T a\nT b\nT c\n");
    }
}
