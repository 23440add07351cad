//! Valkey as production runs it, for tp-worker and tpctl. Over TLS: a worker under tpctl,
//! given its CA and client certificate in its env, is online only once connected over TLS,
//! and `tpctl queues` and `doctor` find the same files in the apps' environment; a worker
//! whose TLS setup cannot work (a missing CA file, another CA, a scheme it does not know)
//! exits 2 at once with what to fix, instead of retrying for ever. With an ACL user that
//! lacks a right BullMQ needs: the same, naming the command and the grant. Under Sentinel:
//! doctor and queues find the master through the sentinels, and tp-worker follows a killed
//! master to the new one.

mod common;

#[path = "support/sentinel.rs"]
mod sentinel;
#[path = "support/tls_server.rs"]
mod tls_server;

use std::time::Duration;

use common::*;
use tls_server::TlsServer;

#[test]
fn a_worker_under_tpctl_consumes_over_tls_with_a_client_certificate() {
    let server = TlsServer::start(true);
    let t = TempHome::new();
    let db = AuditDb::new();
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"audit-log-worker\"\nscript = \"{}\"\nargs = [\"audit-log\"]\nnotify = true\nqueue = \"audit-logs\"\n\n[apps.env]\nVALKEY_URL = \"{}\"\nVALKEY_TLS_CA = \"{}\"\nVALKEY_TLS_CERT = \"{}\"\nVALKEY_TLS_KEY = \"{}\"\nDATABASE_URL = \"{}\"\n",
            tp_worker().display(),
            server.url(),
            server.file("ca.pem").display(),
            server.file("client.pem").display(),
            server.file("client.key").display(),
            db.url(),
        ),
    );
    // `start` waits for READY=1, which comes once the TLS connections are up.
    t.ok(&["start"]);
    assert_eq!(t.app("audit-log-worker")["status"], "online");
    // tpctl's own connection finds the TLS files where it finds VALKEY_URL: in the apps' env.
    let mut rows = serde_json::Value::Null;
    wait_for(
        "the queue read over TLS with its worker",
        Duration::from_secs(30),
        || {
            rows = serde_json::from_str(&t.ok(&["queues", "--json"])).expect("json");
            rows.as_array().is_some_and(|r| {
                r.iter()
                    .any(|q| q["queue"] == "audit-logs" && q["workers"] == 1)
            })
        },
    );
    // doctor too.
    let doctor = text(&t.run(&["doctor"]).stdout);
    assert!(
        doctor
            .lines()
            .any(|l| l.contains("valkey") && l.contains("reachable at rediss://localhost")),
        "{doctor}"
    );
    // The protocol, and the expiry rcgen gives a certificate by default.
    assert!(
        doctor
            .lines()
            .any(|l| l.contains("valkey")
                && l.contains("TLSv1.3, certificate valid until 4096-01-01")),
        "{doctor}"
    );
    t.finish();
}

#[test]
fn tls_setups_that_cannot_work_end_the_worker_with_exit_2_and_the_fix() {
    let server = TlsServer::start(false);
    let run = |env: &[(&str, String)]| {
        let mut out = std::process::Command::new(tp_worker());
        out.arg("audit-log")
            .env_remove("VALKEY_TLS_CA")
            .env_remove("NODE_EXTRA_CA_CERTS")
            .env(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/postgres",
            )
            .envs(env.iter().map(|(k, v)| (k, v)));
        let out = output_within(&mut out, Duration::from_secs(60));
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = run(&[
        ("VALKEY_URL", server.url()),
        ("VALKEY_TLS_CA", "/no/such/ca.pem".into()),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/no/such/ca.pem"), "{err}");

    let (code, err) = run(&[
        ("VALKEY_URL", server.url()),
        (
            "VALKEY_TLS_CA",
            server.file("other-ca.pem").display().to_string(),
        ),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("VALKEY_TLS_CA"), "{err}");

    let (code, err) = run(&[("VALKEY_URL", "http://127.0.0.1:6379".into())]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("VALKEY_URL"), "{err}");

    // With the right CA it connects (and is stopped by SIGINT like any worker).
    let db = AuditDb::new();
    let mut child = std::process::Command::new(tp_worker())
        .arg("audit-log")
        .env("VALKEY_URL", server.url())
        .env("VALKEY_TLS_CA", server.file("ca.pem"))
        .env("DATABASE_URL", db.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tp-worker runs");
    let stdout = child.stdout.take().expect("stdout");
    let started = std::sync::mpsc::channel();
    let tx = started.0;
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("worker started for queue") {
                let _ = tx.send(());
            }
        }
    });
    let ok = started.1.recv_timeout(Duration::from_secs(30)).is_ok();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("tp-worker ends");
    assert!(ok, "tp-worker never said it started over TLS");
    assert!(status.success(), "{status}");
}

#[test]
fn a_worker_whose_acl_user_lacks_a_right_exits_2_with_the_grant() {
    let server = RedisServer::start();
    let status = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &server.port.to_string(),
            "ACL",
            "SETUSER",
            "worker",
            "on",
            ">pw",
            "~bull:*",
            "+@all",
            "-@scripting",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("redis-cli");
    assert!(status.success());
    let mut cmd = std::process::Command::new(tp_worker());
    cmd.arg("audit-log")
        .env(
            "VALKEY_URL",
            format!("redis://worker:pw@127.0.0.1:{}", server.port),
        )
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        );
    let out = output_within(&mut cmd, Duration::from_secs(60));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("EVALSHA") && err.contains("ACL SETUSER worker +evalsha"),
        "{err}"
    );
}

#[test]
fn doctor_and_queues_find_the_master_through_the_sentinels() {
    let setup = sentinel::SentinelSetup::start();
    let t = TempHome::new();
    // VALKEY_URL's address is not used under Sentinel (nothing listens on port 1).
    t.write(
        "ecosystem.toml",
        &format!(
            "[[apps]]\nname = \"mailer\"\nscript = \"/bin/sleep\"\nargs = [\"600\"]\nqueue = \"emails\"\nautostart = false\n\n[apps.env]\nVALKEY_URL = \"redis://127.0.0.1:1\"\nVALKEY_SENTINELS = \"{}\"\nDATABASE_URL = \"postgres://postgres@127.0.0.1:5432/postgres\"\n",
            setup.sentinels_var()
        ),
    );
    let doctor = text(&t.run(&["doctor"]).stdout);
    let master = format!("127.0.0.1:{} master mymaster", setup.master_port);
    assert!(doctor.contains(&master), "{doctor}");
    assert!(doctor.contains("role master"), "{doctor}");
    let rows: serde_json::Value = serde_json::from_str(&t.ok(&["queues", "--json"])).expect("json");
    assert!(
        rows.as_array().is_some_and(|r| r
            .iter()
            .any(|q| q["queue"] == "emails" && q["error"].is_null())),
        "{rows}"
    );
    t.finish();
}

#[test]
fn tp_worker_follows_a_failover_to_the_new_master() {
    let mut setup = sentinel::SentinelSetup::start();
    let db = AuditDb::new();
    let mut cmd = std::process::Command::new(tp_worker());
    cmd.arg("audit-log")
        .env("VALKEY_URL", "redis://127.0.0.1:1")
        .env("VALKEY_SENTINELS", setup.sentinels_var())
        .env("DATABASE_URL", db.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    /// Kills the worker if the test ends early: a failing test must not leak it.
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut worker = Reaped(cmd.spawn().expect("tp-worker runs"));
    // base64("audit-logs")
    let named = "name=bull:YXVkaXQtbG9ncw==";
    let on =
        |port: u16| sentinel::cli(port, &["CLIENT", "LIST"]).is_some_and(|l| l.contains(named));
    sentinel::wait_for("tp-worker on the master", Duration::from_secs(30), || {
        on(setup.master_port)
    });
    setup.kill_master();
    sentinel::wait_for(
        "tp-worker on the new master",
        Duration::from_secs(60),
        || setup.current_master() == Some(setup.replica_port) && on(setup.replica_port),
    );
    unsafe { libc::kill(worker.0.id() as i32, libc::SIGINT) };
    let status = worker.0.wait().expect("tp-worker ends");
    assert!(status.success(), "{status}");
}
