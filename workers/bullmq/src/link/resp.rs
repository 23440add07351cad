//! RESP2, the part a worker needs: commands out as arrays of bulk strings, replies in as the
//! five RESP2 types. Written for the hot path: a reply is parsed once it is complete, into
//! owned buffers that callers move out of (a job's fields become `String`s without copies).

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Status(String),
    Error(String),
    Array(Vec<Reply>),
}

impl Reply {
    /// An integer reply, or a bulk/status string holding one (Lua numbers come back as
    /// integers, but a script may return a number as a string).
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            Reply::Status(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A string reply as text, moved out of the reply.
    pub fn into_text(self) -> Option<String> {
        match self {
            Reply::Bulk(b) => String::from_utf8(b).ok(),
            Reply::Status(s) => Some(s),
            Reply::Int(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// What is wrong with bytes that should have been a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply from the server: {0}")]
pub struct ProtocolError(pub String);

/// The outcome of looking for one reply at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A reply and how many bytes it took.
    Reply(Reply, usize),
    /// Not all there yet: at least this many bytes are needed before trying again (so a large
    /// reply arriving in pieces is not re-parsed for every piece).
    Incomplete(usize),
}

/// Replies nest this deep at most (ours are two levels; this bounds a hostile server).
const MAX_DEPTH: usize = 16;

/// Parses the reply at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProtocolError> {
    let mut pos = 0;
    match value(buf, &mut pos, 0)? {
        Some(r) => Ok(Parsed::Reply(r, pos)),
        None => Ok(Parsed::Incomplete(pos.max(buf.len() + 1))),
    }
}

/// The line starting at `*pos` (without CRLF), moving `*pos` past it; `None` when the CRLF
/// has not arrived.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let mut from = 0;
    loop {
        let cr = from + rest[from..].iter().position(|&b| b == b'\r')?;
        match rest.get(cr + 1) {
            Some(b'\n') => {
                *pos += cr + 2;
                return Some(&rest[..cr]);
            }
            Some(_) => from = cr + 1,
            None => return None,
        }
    }
}

fn number(text: &[u8]) -> Result<i64, ProtocolError> {
    let bad = || {
        ProtocolError(format!(
            "{:?} is not a number",
            String::from_utf8_lossy(text)
        ))
    };
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 {
        // Longer ones are rare enough to go through the general parser.
        return std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad);
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(bad());
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Ok(if negative { -n } else { n })
}

/// One value at `*pos`. On `None`, `*pos` is the least buffer length worth trying again with.
fn value(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Reply>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError("replies nested too deep".into()));
    }
    let start = *pos;
    let Some(&kind) = buf.get(start) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(head) = line(buf, pos) else {
        *pos = buf.len() + 1;
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(head).into_owned();
    Ok(Some(match kind {
        b'+' => Reply::Status(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Int(number(head)?),
        b'$' => {
            let len = number(head)?;
            if len < 0 {
                return Ok(Some(Reply::Nil));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError("bulk too long".into()))?;
            let end = *pos + len;
            if buf.len() < end + 2 {
                *pos = end + 2;
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not followed by CRLF".into()));
            }
            let bytes = buf[*pos..end].to_vec();
            *pos = end + 2;
            Reply::Bulk(bytes)
        }
        b'*' => {
            let n = number(head)?;
            if n < 0 {
                return Ok(Some(Reply::Nil));
            }
            // Not trusted for a capacity: a hostile length would allocate before any element.
            let mut items = Vec::with_capacity((n as usize).min(64));
            for _ in 0..n {
                match value(buf, pos, depth + 1)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            Reply::Array(items)
        }
        other => {
            return Err(ProtocolError(format!(
                "unexpected type byte {:?} at offset {start}",
                other as char
            )));
        }
    }))
}

/// Appends `*n\r\n`.
pub fn array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string made of `parts` joined.
pub fn bulk_parts(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.extend_from_slice(p);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string.
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    bulk_parts(out, &[bytes]);
}

/// A whole command from its words.
pub fn command(words: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    array_header(&mut out, words.len());
    for w in words {
        bulk(&mut out, w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Reply {
        match parse(bytes) {
            Ok(Parsed::Reply(r, n)) => {
                assert_eq!(n, bytes.len());
                r
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_type() {
        assert_eq!(whole(b"+OK\r\n"), Reply::Status("OK".into()));
        assert_eq!(
            whole(b"-NOSCRIPT No matching script\r\n"),
            Reply::Error("NOSCRIPT No matching script".into())
        );
        assert_eq!(whole(b":-42\r\n"), Reply::Int(-42));
        assert_eq!(whole(b"$-1\r\n"), Reply::Nil);
        assert_eq!(whole(b"*-1\r\n"), Reply::Nil);
        assert_eq!(whole(b"$0\r\n\r\n"), Reply::Bulk(vec![]));
        // Binary-safe: CRLF inside a bulk string is data.
        assert_eq!(whole(b"$4\r\na\r\nb\r\n"), Reply::Bulk(b"a\r\nb".to_vec()));
        assert_eq!(
            whole(b"*4\r\n*2\r\n$2\r\nid\r\n$1\r\n7\r\n$1\r\n7\r\n:0\r\n:0\r\n"),
            Reply::Array(vec![
                Reply::Array(vec![
                    Reply::Bulk(b"id".to_vec()),
                    Reply::Bulk(b"7".to_vec())
                ]),
                Reply::Bulk(b"7".to_vec()),
                Reply::Int(0),
                Reply::Int(0),
            ])
        );
    }

    #[test]
    fn every_prefix_of_a_reply_is_incomplete_and_asks_for_more() {
        let full = b"*3\r\n$5\r\nhello\r\n:12\r\n*1\r\n+x\r\n";
        for cut in 0..full.len() {
            match parse(&full[..cut]) {
                Ok(Parsed::Incomplete(need)) => {
                    assert!(need > cut && need <= full.len(), "cut {cut}: need {need}")
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        // Two replies back to back: the first is taken alone.
        let two = b":1\r\n:2\r\n";
        assert_eq!(parse(two), Ok(Parsed::Reply(Reply::Int(1), 4)));
    }

    #[test]
    fn a_large_bulk_in_pieces_waits_for_its_whole_length() {
        let mut big = b"$100000\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 1000));
        assert_eq!(parse(&big), Ok(Parsed::Incomplete(9 + 100_000 + 2)));
    }

    #[test]
    fn garbage_is_an_error_not_a_wait() {
        assert!(parse(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"$3\r\nabcde\r\n").is_err());
        let deep = "*1\r\n".repeat(40) + ":1\r\n";
        assert!(parse(deep.as_bytes()).is_err());
        // A lone CR inside an error line is part of the line.
        assert_eq!(
            parse(b"-ERR a\rb\r\n"),
            Ok(Parsed::Reply(Reply::Error("ERR a\rb".into()), 10))
        );
        assert_eq!(whole(b":-9223372036854775808\r\n"), Reply::Int(i64::MIN));
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            command(&[b"GET", b"bull:q:1"]),
            b"*2\r\n$3\r\nGET\r\n$8\r\nbull:q:1\r\n".to_vec()
        );
        let mut out = Vec::new();
        bulk_parts(&mut out, &[b"bull:q:", b"wait"]);
        assert_eq!(out, b"$11\r\nbull:q:wait\r\n".to_vec());
    }

    #[test]
    fn numbers_from_replies() {
        assert_eq!(Reply::Bulk(b"17".to_vec()).int(), Some(17));
        assert_eq!(Reply::Nil.int(), None);
        assert_eq!(
            Reply::Bulk(b"id".to_vec()).into_text().as_deref(),
            Some("id")
        );
    }
}
