//! Per-line timestamps (`time = true`, `log_date_format`): a moment.js-style pattern, as PM2
//! takes it, compiled once and rendered once per read (every line of a read gets its time).

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Millis,
    /// `+00:00`
    Offset,
    /// `+0000`
    OffsetCompact,
}

/// A compiled date format. Times are UTC (no time-zone database is consulted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pieces: Vec<Piece>,
}

impl DateFormat {
    /// RFC 3339 with milliseconds: `2026-11-28T12:34:56.789Z`, the default with `time = true`.
    pub fn rfc3339() -> DateFormat {
        DateFormat::parse("YYYY-MM-DD[T]HH:mm:ss.SSS[Z]")
    }

    /// Compiles a pattern: `YYYY MM DD HH mm ss SSS Z ZZ`; text in `[...]` is literal, as in moment.js.
    pub fn parse(pattern: &str) -> DateFormat {
        const TOKENS: [(&str, Piece); 9] = [
            ("YYYY", Piece::Year),
            ("SSS", Piece::Millis),
            ("ZZ", Piece::OffsetCompact),
            ("MM", Piece::Month),
            ("DD", Piece::Day),
            ("HH", Piece::Hour),
            ("mm", Piece::Minute),
            ("ss", Piece::Second),
            ("Z", Piece::Offset),
        ];
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = pattern;
        'outer: while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('[')
                && let Some(end) = inner.find(']')
            {
                literal.push_str(&inner[..end]);
                rest = &inner[end + 1..];
                continue;
            }
            for (tok, piece) in &TOKENS {
                if let Some(after) = rest.strip_prefix(tok) {
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece.clone());
                    rest = after;
                    continue 'outer;
                }
            }
            let ch = rest.chars().next().unwrap_or(' ');
            literal.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        DateFormat { pieces }
    }

    /// Renders a time (ms since the Unix epoch) followed by a space, ready to prefix a line.
    pub fn render(&self, ms: u64) -> Vec<u8> {
        let c = crate::render::Civil::from_ms(ms);
        let mut out = String::with_capacity(32);
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                Piece::Year => out.push_str(&format!("{:04}", c.year)),
                Piece::Month => out.push_str(&format!("{:02}", c.month)),
                Piece::Day => out.push_str(&format!("{:02}", c.day)),
                Piece::Hour => out.push_str(&format!("{:02}", c.hour)),
                Piece::Minute => out.push_str(&format!("{:02}", c.minute)),
                Piece::Second => out.push_str(&format!("{:02}", c.second)),
                Piece::Millis => out.push_str(&format!("{:03}", c.millis)),
                Piece::Offset => out.push_str("+00:00"),
                Piece::OffsetCompact => out.push_str("+0000"),
            }
        }
        out.push(' ');
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_795_869_296_789; // 2026-11-28 12:34:56.789 UTC

    #[test]
    fn default_is_rfc3339_with_millis() {
        assert_eq!(
            DateFormat::rfc3339().render(T),
            b"2026-11-28T12:34:56.789Z "
        );
    }

    #[test]
    fn pm2_style_patterns_render() {
        assert_eq!(
            DateFormat::parse("YYYY-MM-DD HH:mm:ss Z").render(T),
            b"2026-11-28 12:34:56 +00:00 "
        );
        assert_eq!(
            DateFormat::parse("DD/MM/YYYY HH:mm:ss.SSS ZZ").render(T),
            b"28/11/2026 12:34:56.789 +0000 "
        );
        assert_eq!(DateFormat::parse("[at] HH:mm").render(T), b"at 12:34 ");
    }
}
