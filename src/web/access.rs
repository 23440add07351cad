//! Who may do what on `tpctl web`: the token, the Host header (DNS rebinding), loopback reads.
//! `decide` is pure; the token file is read or created by `Token::load`.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the token file {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the token file {0} is empty; put a long random string in it")]
    Empty(PathBuf),
    #[error("the token file {path} can be read by other users (mode {mode:o}); `chmod 600 {path}`")]
    Exposed { path: PathBuf, mode: u32 },
}

/// The secret every action (and every read from another host) must present.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Reads `path`; when `create` and it does not exist, makes one (0600, 32 random bytes
    /// in hex). Returns the token and whether it was created.
    pub fn load(path: &Path, create: bool) -> Result<(Token, bool), TokenError> {
        match std::fs::File::open(path) {
            Ok(mut f) => {
                use std::os::unix::fs::MetadataExt;
                let mode = f.metadata().map(|m| m.mode() & 0o777).unwrap_or(0o600);
                if mode & 0o077 != 0 {
                    return Err(TokenError::Exposed {
                        path: path.to_path_buf(),
                        mode,
                    });
                }
                let mut text = String::new();
                f.read_to_string(&mut text)
                    .map_err(|source| TokenError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(TokenError::Empty(path.to_path_buf()));
                }
                Ok((Token(text.to_string()), false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let token = random_hex().map_err(|source| TokenError::Create {
                    path: path.to_path_buf(),
                    source,
                })?;
                let created = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .and_then(|mut f| {
                        f.write_all(format!("{token}\n").as_bytes())?;
                        f.sync_all()
                    });
                created.map_err(|source| TokenError::Create {
                    path: path.to_path_buf(),
                    source,
                })?;
                Ok((Token(token), true))
            }
            Err(source) => Err(TokenError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Compares in time independent of where the strings differ.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn random_hex() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What a request is refused for, or that it may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// 401: no credentials where some are needed.
    Unauthorized(String),
    /// 403: wrong credentials, or a Host this server does not answer to.
    Forbidden(String),
}

/// How the server is reached and protected.
pub struct Policy {
    pub token: Token,
    /// Host names (besides IP literals and localhost) the Host header may carry.
    pub hosts: Vec<String>,
}

/// The host part of a Host header: `[::1]:9615` → `::1`, `example:80` → `example`.
fn host_part(header: &str) -> &str {
    let h = header.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match h.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => h,
    }
}

/// Decides on one request: `write` for an action (POST), `peer` its address, and its Host and
/// Authorization headers.
pub fn decide(
    policy: &Policy,
    write: bool,
    peer: IpAddr,
    host: Option<&str>,
    authorization: Option<&str>,
) -> Verdict {
    // DNS rebinding needs a name: an IP literal or localhost cannot be rebound to us.
    let host_ok = host.map(host_part).is_some_and(|h| {
        h.parse::<IpAddr>().is_ok()
            || h.eq_ignore_ascii_case("localhost")
            || policy.hosts.iter().any(|a| a.eq_ignore_ascii_case(h))
    });
    if !host_ok {
        return Verdict::Forbidden(format!(
            "Host {:?} is not one this server answers to: use its address, or start it with --allow-host NAME",
            host.unwrap_or("")
        ));
    }
    match authorization.map(str::trim) {
        Some(a) => match a.strip_prefix("Bearer ") {
            Some(t) if policy.token.matches(t.trim()) => Verdict::Allow,
            _ => Verdict::Forbidden("wrong token".into()),
        },
        None if write => Verdict::Unauthorized(
            "actions need the token: `Authorization: Bearer <token>` (the file `tpctl web` printed when it started)".into(),
        ),
        None if peer.is_loopback() => Verdict::Allow,
        None => Verdict::Unauthorized(
            "reading from another host needs the token: `Authorization: Bearer <token>`".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            token: Token("s3cret".into()),
            hosts: vec!["tp.example".into()],
        }
    }

    const LOOP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const FAR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 2, 3));

    #[test]
    fn reads_from_loopback_need_no_token_actions_always_do() {
        let p = policy();
        let host = Some("127.0.0.1:9615");
        assert_eq!(decide(&p, false, LOOP, host, None), Verdict::Allow);
        assert!(matches!(
            decide(&p, true, LOOP, host, None),
            Verdict::Unauthorized(_)
        ));
        assert!(matches!(
            decide(&p, false, FAR, host, None),
            Verdict::Unauthorized(_)
        ));
        assert_eq!(
            decide(&p, true, FAR, host, Some("Bearer s3cret")),
            Verdict::Allow
        );
        assert!(matches!(
            decide(&p, true, LOOP, host, Some("Bearer s3cre")),
            Verdict::Forbidden(_)
        ));
        assert!(matches!(
            decide(&p, false, LOOP, host, Some("Basic s3cret")),
            Verdict::Forbidden(_)
        ));
    }

    #[test]
    fn a_host_header_naming_another_site_is_refused() {
        let p = policy();
        for ok in ["localhost:9615", "[::1]:9615", "10.0.0.5", "TP.example:443"] {
            assert_eq!(
                decide(&p, false, LOOP, Some(ok), None),
                Verdict::Allow,
                "{ok}"
            );
        }
        for bad in [Some("evil.example:9615"), Some(""), None] {
            assert!(
                matches!(decide(&p, false, LOOP, bad, None), Verdict::Forbidden(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_token_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("web.token");
        let (a, created) = Token::load(&path, true).expect("created");
        assert!(created);
        let (b, created) = Token::load(&path, true).expect("read");
        assert!(!created && a.0 == b.0 && a.0.len() == 64);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            Token::load(&path, true),
            Err(TokenError::Exposed { .. })
        ));
        assert!(matches!(
            Token::load(&dir.path().join("missing"), false),
            Err(TokenError::Read { .. })
        ));
    }
}
