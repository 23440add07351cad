//! TLS for `rediss://` and `valkeys://`: rustls with ring (the project's one TLS stack), the
//! hostname checked against the server's certificate. Trusted roots are the system's (as
//! OpenSSL-based clients find them: `SSL_CERT_FILE`, `SSL_CERT_DIR`, else the platform's
//! store), plus `NODE_EXTRA_CA_CERTS` (what TestPlanIt's Node workers are given for a private
//! CA) and `VALKEY_TLS_CA`; a client certificate comes from `VALKEY_TLS_CERT` and
//! `VALKEY_TLS_KEY`. Files that cannot be read or hold no certificate are errors at start.

mod inspect;

pub use inspect::{Inspection, inspect, not_after};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS files a process is given, read from its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Extra CA certificates (PEM), trusted beside the system's.
    pub ca: Vec<PathBuf>,
    /// A client certificate chain and its key (PEM), for servers that ask for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// What is wrong with the TLS setup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{0}")]
    Setup(String),
}

impl TlsFiles {
    /// `NODE_EXTRA_CA_CERTS`, `VALKEY_TLS_CA`, `VALKEY_TLS_CERT` and `VALKEY_TLS_KEY` of the
    /// process's environment.
    pub fn from_env() -> Result<TlsFiles, TlsError> {
        TlsFiles::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The same variables, found by `lookup` (tpctl reads them from the apps' environment
    /// too, as it does VALKEY_URL).
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<TlsFiles, TlsError> {
        let var = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| PathBuf::from(v.trim()))
        };
        let ca = ["NODE_EXTRA_CA_CERTS", "VALKEY_TLS_CA"]
            .iter()
            .filter_map(|n| var(n))
            .collect();
        let client = match (var("VALKEY_TLS_CERT"), var("VALKEY_TLS_KEY")) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(TlsError::Setup(
                    "VALKEY_TLS_CERT is set without VALKEY_TLS_KEY: give the client certificate's key too".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(TlsError::Setup(
                    "VALKEY_TLS_KEY is set without VALKEY_TLS_CERT: give the client certificate too".into(),
                ));
            }
        };
        Ok(TlsFiles { ca, client })
    }

    /// The rustls configuration these files make, every file read and checked now.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.config_trusting(self.trusted()?)
    }

    /// The certificates trusted: the system's, and each extra CA file's; none is an error.
    fn trusted(&self) -> Result<Trusted, TlsError> {
        let native = rustls_native_certs::load_native_certs();
        let system = native.certs.len();
        let mut extra = Vec::new();
        for path in &self.ca {
            extra.push((path.clone(), certs(path, "the CA certificate file")?));
        }
        if system == 0 && extra.is_empty() {
            let why = native
                .errors
                .first()
                .map_or_else(|| "none found".to_string(), |e| e.to_string());
            return Err(TlsError::Setup(format!(
                "no trusted root certificates ({why}; {system} system ones): install ca-certificates, or set SSL_CERT_FILE or VALKEY_TLS_CA"
            )));
        }
        Ok(Trusted {
            system: native.certs,
            extra,
        })
    }

    /// The rustls configuration trusting `trusted`, with the client pair if one is given
    /// (read and checked to go together here).
    fn config_trusting(&self, trusted: Trusted) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let system = trusted.system.len();
        roots.add_parsable_certificates(trusted.system);
        // A CA the operator named must be usable: a bad one is an error, not skipped.
        for (path, certs) in trusted.extra {
            for cert in certs {
                roots.add(cert).map_err(|e| TlsError::File {
                    what: "the CA certificate file",
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        if roots.is_empty() {
            return Err(TlsError::Setup(format!(
                "none of the {system} system certificates can be used: install ca-certificates, or set SSL_CERT_FILE or VALKEY_TLS_CA"
            )));
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certs(cert, "the client certificate (VALKEY_TLS_CERT)")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                    what: "the client key (VALKEY_TLS_KEY)",
                    path: key.display().to_string(),
                    reason: e.to_string(),
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    TlsError::Setup(format!(
                        "the client certificate and key do not go together: {e}"
                    ))
                })?
            }
        };
        Ok(Arc::new(config))
    }

    /// The same trust for the redis crate's connections: the system's roots and the extra
    /// CAs as one PEM bundle (given a bundle, it trusts nothing else), and the client pair;
    /// every file read and checked here, as for `client_config`.
    pub fn for_redis(&self) -> Result<redis::TlsCertificates, TlsError> {
        let trusted = self.trusted()?;
        let bundle: String = trusted
            .system
            .iter()
            .chain(trusted.extra.iter().flat_map(|(_, c)| c))
            .map(|c| pem("CERTIFICATE", c.as_ref()))
            .collect();
        self.config_trusting(trusted)?;
        let read = |p: &Path, what: &'static str| {
            std::fs::read(p).map_err(|e| TlsError::File {
                what,
                path: p.display().to_string(),
                reason: e.to_string(),
            })
        };
        let client_tls = match &self.client {
            Some((c, k)) => Some(redis::ClientTlsConfig {
                client_cert: read(c, "the client certificate (VALKEY_TLS_CERT)")?,
                client_key: read(k, "the client key (VALKEY_TLS_KEY)")?,
            }),
            None => None,
        };
        Ok(redis::TlsCertificates {
            client_tls,
            root_cert: Some(bundle.into_bytes()),
        })
    }
}

/// The system's certificates and each extra CA file's.
struct Trusted {
    system: Vec<CertificateDer<'static>>,
    extra: Vec<(PathBuf, Vec<CertificateDer<'static>>)>,
}

/// A DER object as PEM.
fn pem(label: &str, der: &[u8]) -> String {
    let body = crate::worker::base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The certificates of a PEM file; none is an error.
fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let failed = |reason: String| TlsError::File {
        what,
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| failed(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    if certs.is_empty() {
        return Err(failed("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// What to do about a TLS handshake failure, when its reason says: a certificate the server
/// asks for, an issuer this host does not trust, a certificate for another name.
pub fn advice(reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    if r.contains("certificaterequired") || r.contains("certificate required") {
        Some("the server requires a client certificate: set VALKEY_TLS_CERT and VALKEY_TLS_KEY")
    } else if r.contains("notvalidforname") || r.contains("not valid for name") {
        Some(
            "the server's certificate is for another name: use the host name it is for in VALKEY_URL",
        )
    } else if r.contains("unknownissuer")
        || r.contains("badsignature")
        || r.contains("invalid peer certificate")
    {
        Some(
            "this host does not trust the server's certificate: give its CA in VALKEY_TLS_CA (PEM)",
        )
    } else {
        None
    }
}

/// The name the server's certificate must carry: the URL's host.
pub fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, TlsError> {
    rustls::pki_types::ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| {
        TlsError::Setup(format!(
            "{host} cannot be checked against a certificate: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_empty_files_are_named() {
        let missing = TlsFiles {
            ca: vec!["/no/such/ca.pem".into()],
            client: None,
        };
        let e = missing.client_config().expect_err("a missing file");
        assert!(e.to_string().contains("/no/such/ca.pem"), "{e}");
        let dir = std::env::temp_dir().join(format!("tp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = TlsFiles {
            ca: vec![empty.clone()],
            client: None,
        }
        .client_config()
        .expect_err("no certificate");
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(server_name("10.0.0.1").is_ok());
        assert!(server_name("valkey.example.com").is_ok());
        assert!(server_name("[::1]").is_ok());
    }
}
