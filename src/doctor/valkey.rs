//! doctor's Valkey checks: reachable, its version and role, the eviction policy BullMQ
//! needs, and for TLS the protocol and the certificate's expiry; under Sentinel the master
//! the sentinels name.

use super::{Line, TIMEOUT, Verdict};

pub(super) fn valkey(
    url: &str,
    prefix: &str,
    settings: &tp_bullmq::connect::Settings,
) -> Vec<Line> {
    let fail = |detail: String| {
        vec![Line {
            check: "valkey",
            verdict: Verdict::Fail,
            detail,
        }]
    };
    let shown = crate::config::env::redact("VALKEY_URL", url);
    let mut out = Vec::new();
    // Under Sentinel: the master the sentinels name now, and its role.
    let target = match sentinel_line(url, settings) {
        Ok((target, line)) => {
            out.extend(line);
            target
        }
        Err(detail) => return fail(detail),
    };
    let client = match tp_bullmq::connect::client_for(&target, settings) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let mut conn = match client.get_connection_with_timeout(TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            let reason = e.to_string();
            return fail(match tp_bullmq::tls::advice(&reason) {
                Some(advice) => format!("TLS with Valkey at {shown} failed ({reason}); {advice}"),
                None => format!("cannot reach Valkey at {shown}: {e}; start it or fix VALKEY_URL"),
            });
        }
    };
    let _ = conn.set_read_timeout(Some(TIMEOUT));
    let info: String = match redis::cmd("INFO").arg("server").query(&mut conn) {
        Ok(i) => i,
        Err(e) => return fail(format!("Valkey at {shown} does not answer INFO: {e}")),
    };
    let field = |k: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::trim)
            .map(str::to_string)
    };
    let version = field("valkey_version:")
        .map(|v| format!("Valkey {v}"))
        .or_else(|| field("redis_version:").map(|v| format!("Redis {v}")))
        .unwrap_or_else(|| "unknown version".into());
    let role = match redis::cmd("ROLE").query::<redis::Value>(&mut conn) {
        Ok(redis::Value::Array(a)) => match a.first() {
            Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => "unknown".into(),
        },
        _ => "unknown".into(),
    };
    out.push(Line {
        check: "valkey",
        // BullMQ writes: a replica (one the sentinels still name during a failover) will not do.
        verdict: if role == "slave" {
            Verdict::Fail
        } else {
            Verdict::Ok
        },
        detail: format!(
            "reachable at {shown} ({version}, role {role}), queues under prefix \"{prefix}\""
        ),
    });
    match redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query::<Vec<String>>(&mut conn) {
        Ok(v) if v.get(1).is_some_and(|p| p == "noeviction") => out.push(Line { check: "valkey", verdict: Verdict::Ok, detail: "maxmemory-policy is noeviction".into() }),
        Ok(v) => out.push(Line {
            check: "valkey",
            verdict: Verdict::Fail,
            detail: format!("maxmemory-policy is {}; BullMQ needs noeviction (CONFIG SET maxmemory-policy noeviction, and in the config file)", v.get(1).map_or("unknown", String::as_str)),
        }),
        Err(e) => out.push(Line { check: "valkey", verdict: Verdict::Warn, detail: format!("cannot read maxmemory-policy ({e}); make sure it is noeviction") }),
    }
    out.extend(tls_line(&client, &settings.tls));
    out
}

/// Under Sentinel, the master the sentinels name (and the URL to reach it), said in a line.
fn sentinel_line(
    url: &str,
    settings: &tp_bullmq::connect::Settings,
) -> Result<(String, Option<Line>), String> {
    let sentinels = match &settings.sentinel {
        Ok(None) => return Ok((url.to_string(), None)),
        Ok(Some(s)) => s,
        Err(e) => return Err(e.to_string()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start an async runtime: {e}"))?;
    let (host, port) = rt.block_on(sentinels.master()).map_err(|e| e.to_string())?;
    let shown: Vec<String> = sentinels
        .addrs
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    Ok((
        tp_bullmq::sentinel::repoint(url, &host, port),
        Some(Line {
            check: "valkey",
            verdict: Verdict::Ok,
            detail: format!(
                "Sentinel ({}) names {host}:{port} master {}",
                shown.join(", "),
                sentinels.master
            ),
        }),
    ))
}

/// For a TLS Valkey: the protocol agreed and when the server's certificate expires.
fn tls_line(
    client: &redis::Client,
    tls: &Result<tp_bullmq::tls::TlsFiles, tp_bullmq::tls::TlsError>,
) -> Option<Line> {
    let redis::ConnectionAddr::TcpTls { host, port, .. } = &client.get_connection_info().addr
    else {
        return None;
    };
    let files = tls.as_ref().ok()?;
    let (verdict, detail) = match tp_bullmq::tls::inspect(host, *port, files, TIMEOUT) {
        Ok(i) => expiry(&i, crate::keeper::now_ms() as i64 / 1000),
        Err(e) => (Verdict::Fail, e.to_string()),
    };
    Some(Line {
        check: "valkey",
        verdict,
        detail,
    })
}

/// `TLSv1.3, certificate valid until 2027-03-01 (84 days)`: a warning under 14 days.
fn expiry(i: &tp_bullmq::tls::Inspection, now_s: i64) -> (Verdict, String) {
    let Some(until) = i.not_after else {
        return (
            Verdict::Warn,
            format!("{}; the certificate's expiry cannot be read", i.protocol),
        );
    };
    let days = (until - now_s).div_euclid(86_400);
    let date = crate::render::timestamp(until.max(0) as u64 * 1000);
    let date = date.split(' ').next().unwrap_or(&date).to_string();
    let verdict = if days < 14 {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    let renew = if days < 14 { "; renew it" } else { "" };
    (
        verdict,
        format!(
            "{}, certificate valid until {date} ({days} days){renew}",
            i.protocol
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_near_its_end_is_a_warning() {
        let now = 1_796_601_600; // 2026-12-07
        let i = |days: i64| tp_bullmq::tls::Inspection {
            protocol: "TLSv1.3".into(),
            not_after: Some(now + days * 86_400),
        };
        assert_eq!(
            expiry(&i(84), now),
            (
                Verdict::Ok,
                "TLSv1.3, certificate valid until 2027-03-01 (84 days)".into()
            )
        );
        let (v, said) = expiry(&i(13), now);
        assert_eq!(v, Verdict::Warn);
        assert!(said.ends_with("(13 days); renew it"), "{said}");
        let unknown = tp_bullmq::tls::Inspection {
            protocol: "TLSv1.2".into(),
            not_after: None,
        };
        assert_eq!(expiry(&unknown, now).0, Verdict::Warn);
    }
}
