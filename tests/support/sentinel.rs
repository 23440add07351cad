//! A private Sentinel setup on loopback ports: one master, one replica and three sentinels
//! (`redis-server --sentinel`, quorum 2, a master counted down after 1 s), for failover
//! tests. Everything is killed and its files removed on drop.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MASTER: &str = "mymaster";

pub struct SentinelSetup {
    pub master_port: u16,
    pub replica_port: u16,
    pub sentinel_ports: Vec<u16>,
    /// The two data servers by port (`None` once killed).
    servers: Vec<(u16, Option<Child>)>,
    sentinels: Vec<Child>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A data server working in `dir` (a full resync writes an RDB file there: it must not be
/// the current directory, where the next test's server would load it).
fn server(port: u16, dir: &std::path::Path, extra: &[String]) -> Child {
    let dir = dir.join(port.to_string());
    std::fs::create_dir_all(&dir).expect("a server directory");
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(&dir)
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed")
}

/// One command's reply as text, from `redis-cli` (none when the server is down).
pub fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl SentinelSetup {
    pub fn start() -> SentinelSetup {
        let dir = std::env::temp_dir().join(format!(
            "tp-sentinel-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the sentinels");
        let (master_port, replica_port) = (free_port(), free_port());
        let master = server(master_port, &dir, &[]);
        let replica = server(
            replica_port,
            &dir,
            &[
                "--replicaof".into(),
                "127.0.0.1".into(),
                master_port.to_string(),
            ],
        );
        let sentinel_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let sentinels = sentinel_ports
            .iter()
            .map(|port| {
                let conf = dir.join(format!("sentinel-{port}.conf"));
                std::fs::write(
                    &conf,
                    format!(
                        "port {port}\nbind 127.0.0.1\nsentinel monitor {MASTER} 127.0.0.1 {master_port} 2\nsentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 5000\nsentinel parallel-syncs {MASTER} 1\n"
                    ),
                )
                .expect("a sentinel config");
                Command::new("redis-server")
                    .arg(&conf)
                    .arg("--sentinel")
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("redis-server --sentinel")
            })
            .collect();
        let setup = SentinelSetup {
            master_port,
            replica_port,
            sentinel_ports,
            servers: vec![(master_port, Some(master)), (replica_port, Some(replica))],
            sentinels,
            dir,
        };
        // Ready once the replica is in sync and every sentinel knows the replica and the
        // other two sentinels (a failover needs them).
        wait_for("the replica in sync", Duration::from_secs(30), || {
            cli(replica_port, &["INFO", "replication"])
                .is_some_and(|i| i.contains("master_link_status:up"))
        });
        for port in &setup.sentinel_ports {
            wait_for(
                "the sentinels to know each other",
                Duration::from_secs(60),
                || {
                    let replicas =
                        cli(*port, &["SENTINEL", "replicas", MASTER]).unwrap_or_default();
                    let others = cli(*port, &["SENTINEL", "sentinels", MASTER]).unwrap_or_default();
                    replicas.contains(&replica_port.to_string())
                        && others.matches("runid").count() >= 2
                },
            );
        }
        setup
    }

    /// Waits until the server that is not the master replicates it, in sync, and every
    /// sentinel counts it as a good replica: ready for another failover.
    pub fn wait_healthy(&self) {
        wait_for("a replica in sync again", Duration::from_secs(60), || {
            let Some(master) = self.current_master() else {
                return false;
            };
            let replica = self
                .servers
                .iter()
                .map(|(p, _)| *p)
                .find(|p| *p != master)
                .unwrap_or(0);
            cli(replica, &["INFO", "replication"]).is_some_and(|i| {
                i.contains("role:slave")
                    && i.contains(&format!("master_port:{master}"))
                    && i.contains("master_link_status:up")
            }) && self.sentinel_ports.iter().all(|p| {
                cli(*p, &["SENTINEL", "replicas", MASTER]).is_some_and(|r| {
                    r.contains(&replica.to_string())
                        && !r.contains("s_down")
                        && !r.contains("disconnected")
                })
            })
        });
    }

    /// `host:port,…` of the sentinels, as VALKEY_SENTINELS takes them.
    pub fn sentinels_var(&self) -> String {
        self.sentinel_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The master the first sentinel that answers names.
    pub fn current_master(&self) -> Option<u16> {
        self.sentinel_ports.iter().find_map(|p| {
            cli(*p, &["SENTINEL", "get-master-addr-by-name", MASTER])?
                .lines()
                .nth(1)?
                .trim()
                .parse()
                .ok()
        })
    }

    /// Kills the server the sentinels name master now (SIGKILL: no goodbye to anyone).
    pub fn kill_master(&mut self) {
        let master = self.current_master();
        for (port, child) in &mut self.servers {
            if Some(*port) == master
                && let Some(mut c) = child.take()
            {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        let servers = self.servers.iter_mut().filter_map(|(_, c)| c.as_mut());
        for c in self.sentinels.iter_mut().chain(servers) {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
