//! A one-shot exchange with Valkey for callers without a runtime (tpctl's keepers poll their
//! own few sockets): where a URL points, the bytes to send after its handshake, and the
//! replies once they have all arrived. The same URL rules and handshake as a `Link`.

use std::path::PathBuf;

use super::LinkError;
use super::resp::{self, Parsed, ProtocolError, Reply};
use super::stream::{Addr, Target};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp {
        host: String,
        port: u16,
    },
    Unix(PathBuf),
    /// `rediss://`: TLS to this host.
    Tls {
        host: String,
        port: u16,
    },
}

/// An exchange to carry out: connect to `endpoint`, write `bytes`, read `replies` replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub endpoint: Endpoint,
    pub bytes: Vec<u8>,
    /// Replies expected: the handshake's (AUTH, SELECT) and then one per command.
    pub replies: usize,
    /// How many of them belong to the handshake (`commands`' replies follow).
    pub handshake: usize,
}

/// The exchange that runs `commands` on a fresh connection to the server of `url`.
pub fn exchange(url: &str, commands: &[&[&[u8]]]) -> Result<Exchange, LinkError> {
    let target = Target::from_url(url)?;
    let handshake = target.handshake();
    let mut bytes: Vec<u8> = handshake.concat();
    for c in commands {
        bytes.extend_from_slice(&resp::command(c));
    }
    let endpoint = match target.addr {
        Addr::Tcp(host, port) => Endpoint::Tcp { host, port },
        Addr::Unix(path) => Endpoint::Unix(path),
        Addr::Tls(host, port, _) => Endpoint::Tls { host, port },
    };
    Ok(Exchange {
        endpoint,
        bytes,
        replies: handshake.len() + commands.len(),
        handshake: handshake.len(),
    })
}

/// The first `n` replies in `buf`, or `None` while some have not arrived.
pub fn replies(buf: &[u8], n: usize) -> Result<Option<Vec<Reply>>, ProtocolError> {
    let mut out = Vec::with_capacity(n);
    let mut pos = 0;
    while out.len() < n {
        match resp::parse(&buf[pos..])? {
            Parsed::Reply(r, used) => {
                out.push(r);
                pos += used;
            }
            Parsed::Incomplete(_) => return Ok(None),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exchange_authenticates_as_the_url_says_then_runs_the_commands() {
        let x = exchange(
            "redis://worker:s3cret@10.0.0.5:6380/2",
            &[&[b"CLIENT", b"ID"]],
        )
        .expect("a valid URL");
        assert_eq!(
            x.endpoint,
            Endpoint::Tcp {
                host: "10.0.0.5".into(),
                port: 6380
            }
        );
        assert_eq!((x.replies, x.handshake), (3, 2));
        let text = String::from_utf8(x.bytes).expect("ascii");
        assert!(text.starts_with("*3\r\n$4\r\nAUTH\r\n$6\r\nworker\r\n$6\r\ns3cret\r\n"));
        assert!(text.contains("$6\r\nSELECT\r\n$1\r\n2\r\n"));
        assert!(text.ends_with("*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n"));

        let plain = exchange("valkey://localhost", &[&[b"PING"]]).expect("valid");
        assert_eq!((plain.replies, plain.handshake), (1, 0));
        assert!(exchange("http://localhost", &[]).is_err());
    }

    #[test]
    fn replies_wait_for_all_of_them() {
        let two = b"+OK\r\n$5\r\nhello\r\n";
        assert_eq!(replies(&two[..8], 2), Ok(None));
        assert_eq!(
            replies(two, 2),
            Ok(Some(vec![
                Reply::Status("OK".into()),
                Reply::Bulk(b"hello".to_vec())
            ]))
        );
        assert!(replies(b"?what\r\n", 1).is_err());
    }
}
