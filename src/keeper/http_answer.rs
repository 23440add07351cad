//! An HTTP/1.1 answer to a health check, read far enough to judge it and to know whether the
//! connection can carry the next check (keep-alive saves a TCP handshake and teardown per
//! check: most of a check's cost on loopback).

/// Bodies longer than this are not read to the end: the connection is closed instead.
const MAX_BODY: usize = 64 * 1024;
/// Headers longer than this are no answer.
const MAX_HEAD: usize = 16 * 1024;

/// What the bytes so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Not enough yet.
    Partial,
    /// The whole answer: its status, and whether the connection may be used again.
    Complete {
        code: u16,
        reuse: bool,
    },
    /// The status is known but the rest will not be read (no length, a huge body, or the
    /// peer closed): judge by the code, close the connection.
    Status {
        code: u16,
    },
    Malformed(String),
}

/// Reads an answer from its first bytes; `eof`: the peer closed its side.
pub fn read(buf: &[u8], eof: bool) -> Answer {
    let Some(head_end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return match status_code(buf) {
            _ if !eof && buf.len() <= MAX_HEAD => Answer::Partial,
            Some(Ok(code)) => Answer::Status { code },
            Some(Err(e)) => Answer::Malformed(e),
            None if buf.is_empty() => Answer::Malformed("closed without an answer".into()),
            None => Answer::Malformed("no status line in the answer".into()),
        };
    };
    let code = match status_code(buf) {
        Some(Ok(code)) => code,
        Some(Err(e)) => return Answer::Malformed(e),
        None => return Answer::Malformed("no status line in the answer".into()),
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .skip(1)
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
    };
    let http11 = head.starts_with("http/1.1");
    let keep = match header("connection") {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => http11,
    };
    let body = &buf[head_end..];
    let done = |complete: bool| match (complete, keep) {
        (true, reuse) => Answer::Complete { code, reuse },
        (false, _) if eof => Answer::Status { code },
        (false, _) => Answer::Partial,
    };
    if code == 204 || code == 304 || (100..200).contains(&code) {
        return done(true);
    }
    if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        return match chunked_end(body) {
            Some(Ok(())) => done(true),
            Some(Err(())) => Answer::Status { code },
            None if body.len() > MAX_BODY => Answer::Status { code },
            None => done(false),
        };
    }
    match header("content-length").map(str::parse::<usize>) {
        Some(Ok(n)) if n > MAX_BODY => Answer::Status { code },
        Some(Ok(n)) => done(body.len() >= n),
        // No length: the body runs to the end of the connection.
        _ => Answer::Status { code },
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The code of the status line, once the line is there.
fn status_code(buf: &[u8]) -> Option<Result<u16, String>> {
    let end = buf.iter().position(|b| *b == b'\n')?;
    let line = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    Some(
        line.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|_| line.starts_with("HTTP/"))
            .ok_or_else(|| format!("not an HTTP answer: {line:?}")),
    )
}

/// Whether a chunked body is all there: `Some(Ok)` at its end, `Some(Err)` malformed.
fn chunked_end(body: &[u8]) -> Option<Result<(), ()>> {
    let mut pos = 0;
    loop {
        let line_end = pos + find(&body[pos..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[pos..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return Some(Err(()));
        };
        pos = line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            return find(&body[pos..], b"\r\n").map(|i| {
                if i == 0 || find(&body[pos..], b"\r\n\r\n").is_some() {
                    Ok(())
                } else {
                    Err(())
                }
            });
        }
        if body.len() < pos + size + 2 {
            return None;
        }
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_keep_alive_answer_lets_the_connection_be_used_again() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(read(&ok[..20], false), Answer::Partial);
        assert_eq!(read(&ok[..ok.len() - 1], false), Answer::Partial);
        assert_eq!(
            read(ok, false),
            Answer::Complete {
                code: 200,
                reuse: true
            }
        );
        let closing = b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            read(closing, false),
            Answer::Complete {
                code: 503,
                reuse: false
            }
        );
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            read(old, false),
            Answer::Complete {
                code: 200,
                reuse: false
            }
        );
        let old_kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            read(old_kept, false),
            Answer::Complete {
                code: 200,
                reuse: true
            }
        );
        assert_eq!(
            read(b"HTTP/1.1 204 No Content\r\n\r\n", false),
            Answer::Complete {
                code: 204,
                reuse: true
            }
        );
    }

    #[test]
    fn chunked_bodies_are_read_to_their_end() {
        let full = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(
            read(full, false),
            Answer::Complete {
                code: 200,
                reuse: true
            }
        );
        assert_eq!(read(&full[..full.len() - 2], false), Answer::Partial);
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(read(bad, false), Answer::Status { code: 200 });
    }

    #[test]
    fn answers_without_length_or_cut_short_are_judged_by_their_status() {
        let no_length = b"HTTP/1.0 500 Internal Server Error\r\nServer: x\r\n\r\nboom";
        assert_eq!(read(no_length, false), Answer::Status { code: 500 });
        assert_eq!(
            read(b"HTTP/1.1 200 OK\r\n", true),
            Answer::Status { code: 200 }
        );
        assert_eq!(
            read(b"", true),
            Answer::Malformed("closed without an answer".into())
        );
        assert!(
            matches!(read(b"SSH-2.0-OpenSSH\r\n", true), Answer::Malformed(m) if m.contains("not an HTTP answer"))
        );
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n";
        assert_eq!(read(huge, false), Answer::Status { code: 200 });
    }
}
