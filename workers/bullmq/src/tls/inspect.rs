//! What `tpctl doctor` tells of a TLS Valkey: the protocol a handshake agrees on and when the
//! server's certificate expires (read from its DER: the validity of the TBSCertificate).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{TlsError, TlsFiles, server_name};

/// A handshake's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `TLSv1.3`, `TLSv1.2`.
    pub protocol: String,
    /// The server certificate's notAfter, in seconds since the Unix epoch.
    pub not_after: Option<i64>,
}

/// Shakes hands with `host:port` as a client of `files` would, and reports.
pub fn inspect(
    host: &str,
    port: u16,
    files: &TlsFiles,
    timeout: Duration,
) -> Result<Inspection, TlsError> {
    let config = files.client_config()?;
    let failed = |e: String| TlsError::Setup(format!("TLS with {host}:{port}: {e}"));
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| failed(e.to_string()))?
        .next()
        .ok_or_else(|| failed("no address".into()))?;
    let sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| failed(e.to_string()))?;
    sock.set_read_timeout(Some(timeout))
        .and_then(|()| sock.set_write_timeout(Some(timeout)))
        .map_err(|e| failed(e.to_string()))?;
    let conn = rustls::ClientConnection::new(config, server_name(host)?)
        .map_err(|e| failed(e.to_string()))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // A PING drives the handshake through; its answer is not needed.
    tls.write_all(b"PING\r\n")
        .map_err(|e| failed(e.to_string()))?;
    tls.flush().map_err(|e| failed(e.to_string()))?;
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| failed(e.to_string()))?;
    }
    let protocol = match tls.conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_string(),
    };
    let not_after = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| not_after(c.as_ref()));
    Ok(Inspection {
        protocol,
        not_after,
    })
}

/// One DER element at the start of `der`: its tag, its contents and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in der.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let body = der.get(header..header + len)?;
    Some((tag, body, &der[header + len..]))
}

/// The notAfter of a certificate, in seconds since the Unix epoch.
pub fn not_after(cert: &[u8]) -> Option<i64> {
    let (_, certificate, _) = element(cert)?;
    let (_, tbs, _) = element(certificate)?;
    let mut rest = tbs;
    // [0] version, if present.
    if rest.first() == Some(&0xa0) {
        rest = element(rest)?.2;
    }
    let rest = element(rest)?.2; // serialNumber
    let rest = element(rest)?.2; // signature
    let rest = element(rest)?.2; // issuer
    let (_, validity, _) = element(rest)?;
    let after = element(validity)?.2;
    let (tag, time, _) = element(after)?;
    let text = std::str::from_utf8(time).ok()?;
    // UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ.
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<i64>().ok();
    let (month, day, hour, min, sec) =
        (num(0..2)?, num(2..4)?, num(4..6)?, num(6..8)?, num(8..10)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 7) * 86_400, 1_796_601_600);
    }
}
