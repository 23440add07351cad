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
    #[error("VALKEY_URL {url} needs TLS, which cannot be set up: {reason}")]
    Tls { url: String, reason: String },
    #[error("the TLS handshake with Valkey at {url} failed ({reason}); {advice}")]
    Certificate {
        url: String,
        reason: String,
        advice: &'static str,
    },
}

impl ConnectError {
    /// A mistake in the configuration (URL, TLS files, certificate, credentials) that retrying
    /// cannot fix, as opposed to a server that is not reachable (or not ready) yet.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ConnectError::BadUrl { .. }
                | ConnectError::Auth { .. }
                | ConnectError::Tls { .. }
                | ConnectError::Certificate { .. }
        )
    }
}

/// The URL as the redis crate reads it: `valkey://` is `redis://`, `valkeys://` is `rediss://`.
pub fn normalized(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("valkeys://") {
        format!("rediss://{rest}")
    } else if let Some(rest) = url.strip_prefix("valkey://") {
        format!("redis://{rest}")
    } else {
        url.to_string()
    }
}

/// What a connection needs besides its URL: TLS files and Sentinel, from the environment
/// (tp-worker) or wherever tpctl finds VALKEY_URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub tls: Result<crate::tls::TlsFiles, crate::tls::TlsError>,
    pub sentinel: Result<Option<crate::sentinel::Sentinels>, crate::sentinel::SentinelError>,
}

impl Settings {
    pub fn from_env() -> Settings {
        Settings::from_lookup(|n| std::env::var(n).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        Settings {
            tls: crate::tls::TlsFiles::from_lookup(&lookup),
            sentinel: crate::sentinel::Sentinels::from_lookup(&lookup),
        }
    }

    /// The URL of the server to connect to now: VALKEY_URL, or under Sentinel the master the
    /// sentinels name, with VALKEY_URL's scheme, credentials and database.
    pub async fn current(&self, url: &str) -> Result<String, ConnectError> {
        let sentinels = self.sentinel.as_ref().map_err(|e| ConnectError::BadUrl {
            url: redacted(url),
            reason: e.to_string(),
        })?;
        match sentinels {
            None => Ok(url.to_string()),
            Some(s) => {
                let (host, port) = s.master().await.map_err(|e| ConnectError::Unreachable {
                    url: redacted(url),
                    reason: e.to_string(),
                })?;
                Ok(crate::sentinel::repoint(&normalized(url), &host, port))
            }
        }
    }
}

/// A client for the URL (`valkey://` and `valkeys://` too); TLS ones trust the roots the
/// settings say, with the client certificate if one is given. Sentinel is not asked: give
/// `Settings::current`'s URL.
pub fn client_for(url: &str, settings: &Settings) -> Result<redis::Client, ConnectError> {
    client(&normalized(url), &redacted(url), &settings.tls)
}

fn client(
    url: &str,
    shown: &str,
    tls_files: &Result<crate::tls::TlsFiles, crate::tls::TlsError>,
) -> Result<redis::Client, ConnectError> {
    let bad = |reason: String| ConnectError::BadUrl {
        url: shown.to_string(),
        reason,
    };
    let info =
        redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| bad(e.to_string()))?;
    match &info.addr {
        redis::ConnectionAddr::TcpTls { insecure: true, .. } => Err(bad(
            "#insecure turns the certificate check off, which tpctl does not do; give the server's CA in VALKEY_TLS_CA".into(),
        )),
        redis::ConnectionAddr::TcpTls { .. } => {
            let tls = |reason: String| ConnectError::Tls {
                url: shown.to_string(),
                reason,
            };
            let files = tls_files.as_ref().map_err(|e| tls(e.to_string()))?;
            let certs = files.for_redis().map_err(|e| tls(e.to_string()))?;
            redis::Client::build_with_tls(info, certs).map_err(|e| tls(e.to_string()))
        }
        _ => redis::Client::open(info).map_err(|e| bad(e.to_string())),
    }
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

/// Opens a connection, checks it answers, and returns warnings about its configuration. TLS
/// files come from the process's environment.
pub async fn connect(
    url: &str,
    timeout: Duration,
) -> Result<(MultiplexedConnection, Vec<String>), ConnectError> {
    connect_with(url, timeout, &Settings::from_env()).await
}

/// `connect`, with the settings given. Under Sentinel it connects to the master the
/// sentinels name now, and refuses a server that is not a master.
pub async fn connect_with(
    url: &str,
    timeout: Duration,
    settings: &Settings,
) -> Result<(MultiplexedConnection, Vec<String>), ConnectError> {
    let shown = redacted(url);
    let target = settings.current(url).await?;
    let client = client(&normalized(&target), &shown, &settings.tls)?;
    let classify = |e: redis::RedisError| {
        let reason = e.to_string();
        let lower = reason.to_ascii_lowercase();
        if let Some(advice) = crate::tls::advice(&reason) {
            ConnectError::Certificate {
                url: shown.clone(),
                reason,
                advice,
            }
        } else if lower.contains("auth")
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
    if matches!(settings.sentinel, Ok(Some(_))) {
        let role: redis::Value = redis::cmd("ROLE")
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let master = matches!(&role, redis::Value::Array(a)
            if matches!(a.first(), Some(redis::Value::BulkString(b)) if b == b"master"));
        if !master {
            return Err(ConnectError::Unreachable {
                url: shown.clone(),
                reason: "the server the sentinels named is not a master (a failover is under way)"
                    .into(),
            });
        }
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
