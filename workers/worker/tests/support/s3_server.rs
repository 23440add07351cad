//! A private S3-compatible server for a test: `s3s-fs` 0.14.1 (installed once by
//! `install-s3s-fs`), on a free port with SigV4 authentication on, serving a temporary
//! directory (a bucket is a directory, an object a file in it), killed and removed on drop.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "tpctl-test-access";
pub const SECRET_KEY: &str = "tpctl-test-secret-0123456789";

fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TP_S3S_FS") {
        return PathBuf::from(p);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/install-s3s-fs");
    let out = Command::new(script)
        .stderr(Stdio::inherit())
        .output()
        .expect("install-s3s-fs runs");
    assert!(out.status.success(), "install-s3s-fs failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

pub struct S3Server {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
}

impl S3Server {
    pub fn start() -> S3Server {
        let bin = binary();
        let root = std::env::temp_dir().join(format!(
            "tp-s3-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&root).expect("s3 root");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let s = S3Server { child, port, root };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (a directory).
    pub fn bucket(&self, name: &str) -> PathBuf {
        let p = self.root.join(name);
        std::fs::create_dir_all(&p).expect("bucket");
        p
    }

    /// Stores an object; returns its path on disk.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) -> PathBuf {
        let p = self.bucket(bucket).join(key);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("key directory");
        }
        std::fs::write(&p, body).expect("object");
        p
    }

    /// The environment the worker reads S3 from, as the web app's deployment sets it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
