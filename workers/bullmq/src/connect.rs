//! Connecting to Valkey with errors that say what to fix: a malformed VALKEY_URL, nobody
//! listening, a wrong password, a server that does not speak the Redis protocol, and the
//! `maxmemory-policy` BullMQ needs (`noeviction`: an evicted lock or job hash corrupts queues).

use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// Why Valkey could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "VALKEY_URL {url} is not valid ({reason}); expected redis://[user:password@]host:port[/db] or valkey://..."
    )]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to Valkey at {url}: {reason}; is it running, and is VALKEY_URL right?")]
    Unreachable { url: String, reason: String },
    #[error(
        "Valkey at {url} refused the credentials ({reason}); fix the password (or user) in VALKEY_URL"
    )]
    Auth { url: String, reason: String },
    #[error(
        "the server at {url} does not speak the Redis protocol ({reason}); point VALKEY_URL at Valkey or Redis"
    )]
    NotRedis { url: String, reason: String },
}

/// `scheme://user:pw@host` with the password hidden.
pub fn redacted(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at))
            if rest.contains(':') && url[..at].matches(':').count() >= 2 =>
        {
            let auth = &url[scheme.len() + 3..at];
            let user = auth.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:<redacted>@{}", &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Opens a connection, checks it answers, and returns warnings about its configuration.
pub async fn connect(
    url: &str,
    timeout: Duration,
) -> Result<(MultiplexedConnection, Vec<String>), ConnectError> {
    let shown = redacted(url);
    let normalized =
        url.replacen("valkey://", "redis://", 1)
            .replacen("valkeys://", "rediss://", 1);
    let client = redis::Client::open(normalized.as_str()).map_err(|e| ConnectError::BadUrl {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    let classify = |e: redis::RedisError| {
        let reason = e.to_string();
        let lower = reason.to_ascii_lowercase();
        if lower.contains("auth")
            || lower.contains("password")
            || lower.contains("noperm")
            || lower.contains("wrongpass")
        {
            ConnectError::Auth {
                url: shown.clone(),
                reason,
            }
        } else if e.is_connection_refusal()
            || e.is_timeout()
            || e.is_io_error() && !lower.contains("parse") && !lower.contains("protocol")
        {
            ConnectError::Unreachable {
                url: shown.clone(),
                reason,
            }
        } else {
            ConnectError::NotRedis {
                url: shown.clone(),
                reason,
            }
        }
    };
    let connecting = client.get_multiplexed_tokio_connection();
    let mut conn = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| ConnectError::Unreachable {
            url: shown.clone(),
            reason: format!("no answer within {}s", timeout.as_secs()),
        })?
        .map_err(classify)?;
    let pong: Result<String, _> =
        tokio::time::timeout(timeout, redis::cmd("PING").query_async(&mut conn))
            .await
            .map_err(|_| ConnectError::NotRedis {
                url: shown.clone(),
                reason: "no answer to PING".into(),
            })?;
    match pong {
        Ok(p) if p == "PONG" => {}
        Ok(other) => {
            return Err(ConnectError::NotRedis {
                url: shown.clone(),
                reason: format!("PING answered {other:?}"),
            });
        }
        Err(e) => return Err(classify(e)),
    }
    let mut warnings = Vec::new();
    match redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async::<Vec<String>>(&mut conn).await {
        Ok(v) if v.get(1).is_some_and(|p| p != "noeviction") => warnings.push(format!(
            "Valkey at {shown} has maxmemory-policy {}; BullMQ needs noeviction (set it in valkey.conf, or CONFIG SET maxmemory-policy noeviction): evicted keys lose jobs",
            v[1]
        )),
        _ => {}
    }
    Ok((conn, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redacted("redis://default:s3cret@cache:6379/0"),
            "redis://default:<redacted>@cache:6379/0"
        );
        assert_eq!(redacted("redis://localhost:6379"), "redis://localhost:6379");
    }
}
