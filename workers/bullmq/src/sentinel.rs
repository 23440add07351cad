//! Valkey under Sentinel, as TestPlanIt's newer releases configure it: `VALKEY_SENTINELS`
//! (`host:port,…`, split on the last `:`, port 26379 when absent) takes precedence over
//! VALKEY_URL's address, `VALKEY_SENTINEL_MASTER` names the master (`mymaster`),
//! `VALKEY_SENTINEL_PASSWORD` logs in to the sentinels; the master's own user and password
//! stay VALKEY_URL's. Every connection asks the sentinels where the master is when it
//! connects (so one made after a failover goes to the new master) and then checks the server
//! says it is a master (ROLE): a demoted one is never trusted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::link::Reply;
use crate::link::oneshot::replies;

pub const DEFAULT_PORT: u16 = 26379;

/// `+switch-master` notices this process has heard (for any of its connections).
static SWITCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many new masters this process has heard the sentinels announce: a connection made
/// before the count changed may be on a master that is no longer one, and is made again.
pub fn switches_heard() -> u64 {
    SWITCHES.load(std::sync::atomic::Ordering::SeqCst)
}

/// Counts a new master announced (a link heard `+switch-master`; a caller that learns of a
/// failover another way may say so too).
pub fn heard_switch() {
    SWITCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}
pub const DEFAULT_MASTER: &str = "mymaster";
/// How long one sentinel may take to answer.
const PER_SENTINEL: Duration = Duration::from_secs(1);

/// Where the sentinels are and which master to ask them for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentinels {
    pub addrs: Vec<(String, u16)>,
    pub master: String,
    pub password: Option<String>,
}

/// Why no master could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentinelError {
    #[error("VALKEY_SENTINELS {0}")]
    Config(String),
    #[error("no sentinel named the master {master}: {tried}")]
    NoMaster { master: String, tried: String },
}

impl Sentinels {
    /// The sentinel settings `lookup` finds; none without VALKEY_SENTINELS.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Sentinels>, SentinelError> {
        let Some(list) = lookup("VALKEY_SENTINELS").filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let mut addrs = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (host, port) = match item.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') => {
                    let port = p.parse::<u16>().map_err(|_| {
                        SentinelError::Config(format!(
                            "{list:?}: {p:?} in {item:?} is not a port; write host:port,host:port"
                        ))
                    })?;
                    (h, port)
                }
                _ => (item, DEFAULT_PORT),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(SentinelError::Config(format!(
                    "{list:?}: {item:?} has no host"
                )));
            }
            addrs.push((host.to_string(), port));
        }
        if addrs.is_empty() {
            return Err(SentinelError::Config(format!("{list:?} names no sentinel")));
        }
        Ok(Some(Sentinels {
            addrs,
            master: lookup("VALKEY_SENTINEL_MASTER")
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| DEFAULT_MASTER.into()),
            password: lookup("VALKEY_SENTINEL_PASSWORD").filter(|p| !p.is_empty()),
        }))
    }

    pub fn from_env() -> Result<Option<Sentinels>, SentinelError> {
        Sentinels::from_lookup(&|n| std::env::var(n).ok())
    }

    /// The master's address, from the first sentinel that knows it.
    pub async fn master(&self) -> Result<(String, u16), SentinelError> {
        let mut tried = Vec::new();
        for (host, port) in &self.addrs {
            match tokio::time::timeout(PER_SENTINEL, self.ask(host, *port)).await {
                Ok(Ok(addr)) => return Ok(addr),
                Ok(Err(e)) => tried.push(format!("{host}:{port}: {e}")),
                Err(_) => tried.push(format!("{host}:{port}: no answer within 1s")),
            }
        }
        Err(SentinelError::NoMaster {
            master: self.master.clone(),
            tried: tried.join("; "),
        })
    }

    async fn ask(&self, host: &str, port: u16) -> Result<(String, u16), String> {
        let mut s = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let mut expected = 1;
        if let Some(p) = &self.password {
            out.extend(crate::link::command(&[b"AUTH", p.as_bytes()]));
            expected += 1;
        }
        out.extend(crate::link::command(&[
            b"SENTINEL",
            b"get-master-addr-by-name",
            self.master.as_bytes(),
        ]));
        s.write_all(&out).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let mut answers = loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed the connection".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(r) = replies(&buf, expected).map_err(|e| e.to_string())? {
                break r;
            }
        };
        if let Some(Reply::Error(e)) = answers.first().filter(|_| expected == 2) {
            return Err(format!("refused VALKEY_SENTINEL_PASSWORD: {e}"));
        }
        match answers.pop() {
            Some(Reply::Array(a)) if a.len() == 2 => {
                let mut a = a.into_iter();
                let host = a.next().and_then(Reply::into_text).ok_or("no host")?;
                let port = a
                    .next()
                    .and_then(|p| p.int())
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or("no port")?;
                Ok((host, port))
            }
            Some(Reply::Nil) | Some(Reply::Array(_)) => {
                Err(format!("does not know a master named {}", self.master))
            }
            Some(Reply::Error(e)) => Err(e),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }
}

impl Sentinels {
    /// Waits for a sentinel to announce a new master for ours (`+switch-master`). `Err` when
    /// no sentinel can be heard (the caller tries again).
    pub async fn next_switch(&self) -> Result<(), String> {
        let mut last = String::new();
        for (host, port) in &self.addrs {
            match self.listen(host, *port).await {
                Ok(()) => return Ok(()),
                Err(e) => last = format!("{host}:{port}: {e}"),
            }
        }
        Err(last)
    }

    async fn listen(&self, host: &str, port: u16) -> Result<(), String> {
        let mut s =
            tokio::time::timeout(PER_SENTINEL, tokio::net::TcpStream::connect((host, port)))
                .await
                .map_err(|_| "no answer within 1s".to_string())?
                .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        if let Some(p) = &self.password {
            out.extend(crate::link::command(&[b"AUTH", p.as_bytes()]));
        }
        out.extend(crate::link::command(&[b"SUBSCRIBE", b"+switch-master"]));
        s.write_all(&out).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the sentinel closed the connection".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            // Every complete reply: AUTH's, SUBSCRIBE's, then the notices.
            while let crate::link::resp::Parsed::Reply(reply, used) =
                crate::link::resp::parse(&buf).map_err(|e| e.to_string())?
            {
                buf.drain(..used);
                if let Reply::Error(e) = &reply {
                    return Err(format!("refused: {e}"));
                }
                if let Reply::Array(parts) = reply
                    && let [Reply::Bulk(kind), _, Reply::Bulk(payload)] = parts.as_slice()
                    && kind == b"message"
                    && payload
                        .split(|b| *b == b' ')
                        .next()
                        .is_some_and(|m| m == self.master.as_bytes())
                {
                    return Ok(());
                }
            }
        }
    }
}

/// `url` pointed at `host:port`, its scheme, user, password and database kept.
pub fn repoint(url: &str, host: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
    let (auth, after) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let path = after.find(['/', '?', '#']).map_or("", |i| &after[i..]);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{scheme}://{auth}{host}:{port}{path}")
}

/// Whether a ROLE reply says master.
pub fn is_master(role: &Reply) -> bool {
    match role {
        Reply::Array(a) => matches!(a.first(), Some(Reply::Bulk(b)) if b == b"master"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn sentinels_are_read_as_testplanit_reads_them() {
        assert_eq!(Sentinels::from_lookup(&lookup(&[])), Ok(None));
        let s = Sentinels::from_lookup(&lookup(&[
            ("VALKEY_SENTINELS", "s1:26380, s2 ,[::1]:26381"),
            ("VALKEY_SENTINEL_PASSWORD", "pw"),
        ]))
        .expect("valid")
        .expect("set");
        assert_eq!(
            s.addrs,
            vec![
                ("s1".to_string(), 26380),
                ("s2".to_string(), DEFAULT_PORT),
                ("::1".to_string(), 26381)
            ]
        );
        assert_eq!(s.master, "mymaster");
        assert_eq!(s.password.as_deref(), Some("pw"));
        assert!(Sentinels::from_lookup(&lookup(&[("VALKEY_SENTINELS", "s1:port")])).is_err());
        assert!(Sentinels::from_lookup(&lookup(&[("VALKEY_SENTINELS", " , ")])).is_err());
    }

    #[test]
    fn a_url_is_repointed_with_its_credentials_and_database() {
        assert_eq!(
            repoint("redis://u:p@old:6379/2", "10.0.0.2", 6380),
            "redis://u:p@10.0.0.2:6380/2"
        );
        assert_eq!(repoint("rediss://old", "new", 6390), "rediss://new:6390");
        assert_eq!(repoint("redis://old:1", "::1", 7000), "redis://[::1]:7000");
    }
}
