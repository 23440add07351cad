//! What can go wrong talking to a queue.

/// Errors of queue operations; each says what was being done on which queue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("queue {queue}: {source}")]
    Connect {
        queue: String,
        #[source]
        source: crate::connect::ConnectError,
    },
    #[error("{op} on queue {queue}: {source}")]
    Redis {
        op: &'static str,
        queue: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("{op} on queue {queue}: {source}")]
    Link {
        op: &'static str,
        queue: String,
        #[source]
        source: crate::link::LinkError,
    },
    #[error(
        "invalid job id {0:?}: ids must not be 0, start with \"0:\", look like an integer, or contain ':'"
    )]
    InvalidJobId(String),
    #[error("invalid priority {0}: it must be between 0 and 2097151")]
    InvalidPriority(u32),
    #[error("cannot encode job {what}: {reason}")]
    Encode { what: &'static str, reason: String },
    #[error("queue {queue}: script {script} answered {code}")]
    Script {
        queue: String,
        script: &'static str,
        code: i64,
    },
    #[error("queue {queue}: Valkey refused {command} to VALKEY_URL's user ({reply}); {advice}")]
    Permission {
        queue: String,
        command: &'static str,
        reply: String,
        advice: String,
    },
}

impl Error {
    /// A configuration mistake (VALKEY_URL, TLS files, credentials) that retrying cannot fix.
    pub fn is_configuration(&self) -> bool {
        match self {
            Error::Connect { source, .. } => source.is_configuration(),
            Error::Link {
                source: crate::link::LinkError::Url(_),
                ..
            }
            | Error::Permission { .. } => true,
            // Refused at login or at the handshake's CLIENT SETNAME.
            Error::Link {
                source: crate::link::LinkError::Connect { reason, .. },
                ..
            } => ["NOPERM", "WRONGPASS", "NOAUTH"]
                .iter()
                .any(|p| reason.starts_with(p) || reason.contains(&format!("({p}"))),
            _ => false,
        }
    }
}

impl Error {
    /// Whether the connection went away (Valkey stopped, restarted, or the network broke), as
    /// opposed to the server refusing the command: a caller holding a connection across an
    /// outage connects again rather than failing its work.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Error::Connect { .. } => true,
            Error::Redis { source, .. } => {
                source.is_connection_dropped()
                    || source.is_io_error()
                    || source.is_connection_refusal()
                    || source.is_timeout()
            }
            Error::Link { source, .. } => matches!(
                source,
                crate::link::LinkError::Connect { .. } | crate::link::LinkError::Broken { .. }
            ),
            _ => false,
        }
    }
}
