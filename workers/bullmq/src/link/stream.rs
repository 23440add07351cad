//! Where a link connects (from VALKEY_URL) and the socket it reads and writes without
//! blocking.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};

use redis::{ConnectionAddr, IntoConnectionInfo};

use super::LinkError;
use super::resp;

/// A connected, non-blocking socket.
pub(super) enum Stream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
    Tls(Box<super::tls_stream::TlsStream>),
}

impl Stream {
    pub(super) fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    pub(super) fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write(buf),
            Stream::Unix(s) => (&*s).write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// Encrypted bytes accepted by `write` but not yet on the socket (TLS only).
    pub(super) fn pending_output(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.pending_output())
    }

    /// Sends what `pending_output` holds, as far as the socket takes it.
    pub(super) fn flush_pending(&self) -> std::io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush_pending(),
            _ => Ok(()),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            Stream::Tls(s) => s.as_raw_fd(),
        }
    }
}

/// The server and the handshake a URL asks for.
pub(super) struct Target {
    pub(super) addr: Addr,
    db: i64,
    username: Option<String>,
    password: Option<String>,
    /// `CLIENT SETNAME` on every connection (a worker's marker connection is how Node's
    /// `getWorkers()` finds it, so a reconnect must never leave it unnamed).
    pub(super) client_name: Option<String>,
    /// Under Sentinel: the master is asked for at every connect (VALKEY_URL's address is not
    /// used), and must say it is a master.
    pub(super) sentinel: Option<crate::sentinel::Sentinels>,
}

pub(super) enum Addr {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
    /// `rediss://`: TLS with this configuration, the host's name checked.
    Tls(String, u16, std::sync::Arc<rustls::ClientConfig>),
}

impl Target {
    pub(super) fn from_url(url: &str) -> Result<Target, LinkError> {
        let normalized = crate::connect::normalized(url);
        let shown = crate::connect::redacted(url);
        let info = normalized
            .as_str()
            .into_connection_info()
            .map_err(|e| LinkError::Url(format!("{shown} ({e})")))?;
        let addr = match info.addr {
            ConnectionAddr::Tcp(host, port) => Addr::Tcp(host, port),
            ConnectionAddr::Unix(path) => Addr::Unix(path),
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(LinkError::Url(format!(
                    "{shown}: #insecure turns the server's certificate check off, which tp-bullmq does not do; give the server's CA in VALKEY_TLS_CA instead"
                )));
            }
            ConnectionAddr::TcpTls { host, port, .. } => {
                let config = crate::tls::TlsFiles::from_env()
                    .and_then(|f| f.client_config())
                    .map_err(|e| LinkError::Url(format!("{shown}: {e}")))?;
                crate::tls::server_name(&host)
                    .map_err(|e| LinkError::Url(format!("{shown}: {e}")))?;
                Addr::Tls(host, port, config)
            }
        };
        Ok(Target {
            addr,
            db: info.redis.db,
            username: info.redis.username,
            password: info.redis.password,
            client_name: None,
            sentinel: None,
        })
    }

    /// The target of a long-lived link: the URL's, found through the sentinels of the
    /// process's environment when VALKEY_SENTINELS is set.
    pub(super) fn from_env(url: &str) -> Result<Target, LinkError> {
        let mut target = Target::from_url(url)?;
        target.sentinel =
            crate::sentinel::Sentinels::from_env().map_err(|e| LinkError::Url(e.to_string()))?;
        Ok(target)
    }

    /// host:port or the socket path, for messages.
    pub(super) fn shown(&self) -> String {
        if let Some(s) = &self.sentinel {
            return format!("master {} (VALKEY_SENTINELS)", s.master);
        }
        match &self.addr {
            Addr::Tcp(h, p) | Addr::Tls(h, p, _) => format!("{h}:{p}"),
            Addr::Unix(p) => p.display().to_string(),
        }
    }

    pub(super) async fn open(&self) -> Result<Stream, LinkError> {
        let failed = |e: std::io::Error| LinkError::Connect {
            addr: self.shown(),
            reason: e.to_string(),
        };
        // Under Sentinel, where the master is now.
        let master = match &self.sentinel {
            Some(s) => Some(s.master().await.map_err(|e| LinkError::Connect {
                addr: self.shown(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let at = |host: &String, port: &u16| master.clone().unwrap_or((host.clone(), *port));
        match &self.addr {
            Addr::Tcp(host, port) => {
                let (host, port) = at(host, port);
                let s = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(failed)?;
                s.set_nodelay(true).map_err(failed)?;
                // Keeps tokio's non-blocking mode; AsyncFd registers it again.
                Ok(Stream::Tcp(s.into_std().map_err(failed)?))
            }
            Addr::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(failed)?;
                Ok(Stream::Unix(s.into_std().map_err(failed)?))
            }
            Addr::Tls(host, port, config) => {
                let (host, port) = at(host, port);
                let s = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(failed)?;
                s.set_nodelay(true).map_err(failed)?;
                let name =
                    crate::tls::server_name(&host).map_err(|e| LinkError::Url(e.to_string()))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, s)
                    .await
                    .map_err(|e| {
                        let reason = e.to_string();
                        let advice = crate::tls::advice(&reason)
                            .map(|a| format!("; {a}"))
                            .unwrap_or_default();
                        LinkError::Connect {
                            addr: self.shown(),
                            reason: format!("TLS: {reason}{advice}"),
                        }
                    })?;
                let (s, conn) = tls.into_inner();
                Ok(Stream::Tls(Box::new(super::tls_stream::TlsStream::new(
                    s.into_std().map_err(failed)?,
                    conn,
                ))))
            }
        }
    }

    /// AUTH and SELECT, as the URL asks, and CLIENT SETNAME when the link has a name.
    pub(super) fn handshake(&self) -> Vec<Vec<u8>> {
        let mut cmds = Vec::new();
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => cmds.push(resp::command(&[b"AUTH", u.as_bytes(), p.as_bytes()])),
            (None, Some(p)) => cmds.push(resp::command(&[b"AUTH", p.as_bytes()])),
            _ => {}
        }
        if self.db != 0 {
            let db = self.db.to_string();
            cmds.push(resp::command(&[b"SELECT", db.as_bytes()]));
        }
        if let Some(name) = &self.client_name {
            cmds.push(resp::command(&[b"CLIENT", b"SETNAME", name.as_bytes()]));
        }
        // Last, so its reply is the handshake's last (see `Link::ensure_connected`).
        if self.sentinel.is_some() {
            cmds.push(resp::command(&[b"ROLE"]));
        }
        cmds
    }
}
