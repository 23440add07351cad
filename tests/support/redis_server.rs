//! A private redis-server for a test, shared by the tpctl and tp-bullmq test suites.

#![allow(dead_code)]

/// A private redis-server (our Valkey stand-in) on a free port, killed on drop.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
    /// Set for a server that keeps its data across restarts (an append-only file there).
    data_dir: Option<std::path::PathBuf>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_in(None)
    }

    /// A server that writes every change to an append-only file in a directory of its own
    /// (removed on drop), so `restart` brings the same data back: an outage, not a wipe.
    pub fn start_persistent() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "tp-redis-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("a data directory");
        RedisServer::start_in(Some(dir))
    }

    fn start_in(data_dir: Option<std::path::PathBuf>) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let mut server = RedisServer {
            child: spawn(port, data_dir.as_deref()),
            port,
            data_dir,
        };
        server.wait_up();
        server
    }

    fn wait_up(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !self.ping() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server on port {} did not come up",
                self.port
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The server's process id (to stop it with SIGSTOP: a hung server).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Makes the server require `password` from now on (it starts without one so that the
    /// readiness check needs none; `restart` then no longer works).
    pub fn require_password(&self, password: &str) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let cmd = format!(
            "*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n${}\r\n{password}\r\n",
            password.len()
        );
        let mut reply = [0u8; 5];
        s.write_all(cmd.as_bytes()).expect("CONFIG SET");
        s.read_exact(&mut reply).expect("CONFIG SET reply");
        assert_eq!(&reply, b"+OK\r\n", "CONFIG SET requirepass");
    }

    /// Starts the server again on the same port: empty (a Valkey restart), or with its data
    /// for a persistent one.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.port, self.data_dir.as_deref());
        self.wait_up();
    }

    /// Starts a stopped server again on the same port (the end of an outage); a persistent
    /// one comes back with its data.
    pub fn start_again(&mut self) {
        self.child = spawn(self.port, self.data_dir.as_deref());
        self.wait_up();
    }

    /// Stops the server now (a dead Valkey).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn spawn(port: u16, data_dir: Option<&std::path::Path>) -> std::process::Child {
    let mut c = std::process::Command::new("redis-server");
    c.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
    ]);
    if let Some(dir) = data_dir {
        // Later arguments override the ones above.
        c.arg("--dir")
            .arg(dir)
            .args(["--appendonly", "yes", "--appendfsync", "always"]);
    }
    c.stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed")
}
