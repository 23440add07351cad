//! The fleet: every `tpctl web` publishes its host's app table to Valkey (the server every
//! host already shares) under its own namespace, with a short expiry, and reads the others'.
//! A host whose entry expired is shown as gone, with when it was last seen.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

use super::data::AppView;

/// Keys of the fleet: never under a BullMQ prefix (a queue is `<prefix>:<name>:...`).
pub const NAMESPACE: &str = "tpctl-fleet";
/// How often a host publishes its table.
pub const EVERY: Duration = Duration::from_secs(2);
/// How long an entry outlives its last publication: a host silent this long is gone.
pub const EXPIRY: Duration = Duration::from_secs(10);
/// Gone hosts are forgotten after a week.
const FORGET_MS: u64 = 7 * 24 * 3600 * 1000;

/// What one host publishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub host: String,
    pub at_ms: u64,
    /// The address Valkey sees this host's connections come from (its workers' too).
    pub client_ip: Option<String>,
    pub apps: Vec<AppView>,
}

/// A host as the fleet view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub host: String,
    /// Its last publication (ms since the epoch).
    pub last_seen_ms: u64,
    /// Its entry expired: its tpctl web (or the host) is gone.
    pub gone: bool,
    pub client_ip: Option<String>,
    pub apps: Vec<AppView>,
}

fn entry_key(host: &str) -> String {
    format!("{NAMESPACE}:host:{host}")
}

fn seen_key() -> String {
    format!("{NAMESPACE}:seen")
}

/// The IP Valkey sees this connection come from (`CLIENT INFO`'s addr).
pub async fn own_ip(conn: &mut MultiplexedConnection) -> Option<String> {
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(conn)
        .await
        .ok()?;
    info.split(' ')
        .find_map(|kv| kv.strip_prefix("addr="))
        .and_then(|a| a.rsplit_once(':'))
        .map(|(ip, _)| ip.to_string())
}

/// Publishes this host's entry, expiring after `EXPIRY`, and notes it was seen.
pub async fn publish(conn: &mut MultiplexedConnection, entry: &Entry) -> redis::RedisResult<()> {
    let json = serde_json::to_string(entry).map_err(|e| {
        redis::RedisError::from(std::io::Error::other(format!(
            "encoding the fleet entry: {e}"
        )))
    })?;
    redis::pipe()
        .cmd("SET")
        .arg(entry_key(&entry.host))
        .arg(json)
        .arg("PX")
        .arg(EXPIRY.as_millis() as u64)
        .ignore()
        .cmd("HSET")
        .arg(seen_key())
        .arg(&entry.host)
        .arg(entry.at_ms)
        .ignore()
        .query_async::<()>(conn)
        .await
}

/// Every host ever seen (within a week), live or gone, sorted by name.
pub async fn read(conn: &mut MultiplexedConnection, now_ms: u64) -> redis::RedisResult<Vec<Host>> {
    let seen: BTreeMap<String, u64> = conn.hgetall(seen_key()).await?;
    let forget: Vec<&String> = seen
        .iter()
        .filter(|(_, at)| now_ms.saturating_sub(**at) > FORGET_MS)
        .map(|(h, _)| h)
        .collect();
    if !forget.is_empty() {
        let _: () = conn.hdel(seen_key(), forget).await?;
    }
    let hosts: Vec<(&String, &u64)> = seen
        .iter()
        .filter(|(_, at)| now_ms.saturating_sub(**at) <= FORGET_MS)
        .collect();
    if hosts.is_empty() {
        return Ok(vec![]);
    }
    let keys: Vec<String> = hosts.iter().map(|(h, _)| entry_key(h)).collect();
    let entries: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(conn).await?;
    Ok(hosts
        .into_iter()
        .zip(entries)
        .map(|((host, at), entry)| {
            match entry.and_then(|e| serde_json::from_str::<Entry>(&e).ok()) {
                Some(e) => Host {
                    host: host.clone(),
                    last_seen_ms: e.at_ms,
                    gone: false,
                    client_ip: e.client_ip,
                    apps: e.apps,
                },
                None => Host {
                    host: host.clone(),
                    last_seen_ms: *at,
                    gone: true,
                    client_ip: None,
                    apps: vec![],
                },
            }
        })
        .collect())
}

/// Workers of a queue per host: each worker's IP matched to the host that publishes it
/// (an IP no live host claims is shown as itself; hosts behind one address share it).
pub fn workers_by_host(ips: &[String], hosts: &[Host]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for ip in ips {
        let claimed: Vec<&str> = hosts
            .iter()
            .filter(|h| !h.gone && h.client_ip.as_deref() == Some(ip.as_str()))
            .map(|h| h.host.as_str())
            .collect();
        let who = if claimed.is_empty() {
            ip.clone()
        } else {
            claimed.join("/")
        };
        *out.entry(who).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, ip: &str, gone: bool) -> Host {
        Host {
            host: name.into(),
            last_seen_ms: 0,
            gone,
            client_ip: Some(ip.into()),
            apps: vec![],
        }
    }

    #[test]
    fn workers_are_counted_per_host_by_address() {
        let hosts = [
            host("alpha", "10.0.0.1", false),
            host("beta", "10.0.0.2", false),
            host("gamma", "10.0.0.3", true),
        ];
        let ips: Vec<String> = ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let by = workers_by_host(&ips, &hosts);
        assert_eq!(by.get("alpha"), Some(&2));
        assert_eq!(by.get("beta"), Some(&1));
        // A gone host does not claim its address.
        assert_eq!(by.get("10.0.0.3"), Some(&1));
    }
}
