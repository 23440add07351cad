//! A private redis-server for a test, shared by the tpctl and tp-bullmq test suites.

#![allow(dead_code)]

/// A private redis-server (our Valkey stand-in) on a free port, killed on drop.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let mut server = RedisServer {
            child: spawn(port),
            port,
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

    /// Starts the server again on the same port, empty (a Valkey restart).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.port);
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
    }
}

fn spawn(port: u16) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args([
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
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed")
}
