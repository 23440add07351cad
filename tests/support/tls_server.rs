//! A private redis-server that speaks only TLS, with a CA, a server certificate (for
//! `localhost` and 127.0.0.1) and a client certificate made for the test by rcgen; and a
//! second CA that signed none of them (the wrong-CA case). Shared by the tpctl and tp-bullmq
//! suites; the server is killed and the files removed on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

pub struct TlsServer {
    child: std::process::Child,
    pub port: u16,
    dir: PathBuf,
}

/// A CA: its certificate (PEM) and an issuer to sign with.
fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// A leaf certificate and its key (PEM), signed by `issuer`.
fn leaf(
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

impl TlsServer {
    /// Starts the server; `client_certs`: it asks every client for a certificate signed by
    /// its CA (`tls-auth-clients yes`), else none.
    pub fn start(client_certs: bool) -> TlsServer {
        let dir = std::env::temp_dir().join(format!(
            "tp-tls-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the certificates");
        let (ca_pem, issuer) = ca("tpctl test CA");
        let (server_pem, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        );
        let (client_pem, client_key) =
            leaf(&["worker"], ExtendedKeyUsagePurpose::ClientAuth, &issuer);
        let (other_pem, _) = ca("someone else's CA");
        for (name, text) in [
            ("ca.pem", &ca_pem),
            ("server.pem", &server_pem),
            ("server.key", &server_key),
            ("client.pem", &client_pem),
            ("client.key", &client_key),
            ("other-ca.pem", &other_pem),
        ] {
            std::fs::write(dir.join(name), text).expect("write a certificate file");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "noeviction",
            ])
            .arg("--tls-cert-file")
            .arg(dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args([
                "--tls-auth-clients",
                if client_certs { "yes" } else { "no" },
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let server = TlsServer { child, port, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server with TLS on port {port} did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        server
    }

    /// `rediss://localhost:PORT`: the name the server's certificate is for.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
