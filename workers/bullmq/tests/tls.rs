//! Valkey over TLS (`rediss://`), against Debian's redis-server with a `--tls-port` and
//! certificates the test makes: a worker takes and completes a job through both its link and
//! the redis crate's connection, with a private CA (VALKEY_TLS_CA) and with a client
//! certificate the server requires; an untrusted server, a wrong CA, a missing client
//! certificate, an unreadable file and `#insecure` are errors that say what to fix, and the
//! ones retrying cannot fix say so.
//!
//! TLS files come from the environment, so everything runs in one test, in order, before any
//! other thread reads the environment.

#[path = "support/queue.rs"]
mod queue_support;
#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;
#[path = "../../../tests/support/tls_server.rs"]
mod tls_server;

use std::time::Duration;

use serde_json::json;
use tls_server::TlsServer;
use tp_bullmq::connect::{ConnectError, connect};
use tp_bullmq::{JobOptions, Queue, Worker};

/// Sets (or, for `None`, removes) the TLS variables.
fn tls_env(ca: Option<&std::path::Path>, client: Option<(&std::path::Path, &std::path::Path)>) {
    // SAFETY: the only test of this binary; nothing else reads the environment meanwhile
    // (the runtime below is started after, and each scenario awaits its connections).
    unsafe {
        std::env::remove_var("NODE_EXTRA_CA_CERTS");
        match ca {
            Some(p) => std::env::set_var("VALKEY_TLS_CA", p),
            None => std::env::remove_var("VALKEY_TLS_CA"),
        }
        match client {
            Some((c, k)) => {
                std::env::set_var("VALKEY_TLS_CERT", c);
                std::env::set_var("VALKEY_TLS_KEY", k);
            }
            None => {
                std::env::remove_var("VALKEY_TLS_CERT");
                std::env::remove_var("VALKEY_TLS_KEY");
            }
        }
    }
}

/// One job added and completed over TLS: the queue through the redis crate, the worker
/// through its own link.
async fn a_job_goes_through(url: &str, queue: &str) {
    let (conn, _) = connect(url, Duration::from_secs(10))
        .await
        .expect("a TLS connection");
    let q = Queue::new(conn, "bull", queue);
    q.add("hello", &json!({"over": "tls"}), &JobOptions::default())
        .await
        .expect("add");
    // A job far larger than a TLS record (16 KiB) and a socket read: its data arrives whole.
    let big = "x".repeat(300_000);
    q.add("big", &json!({ "over": big }), &JobOptions::default())
        .await
        .expect("add a big job");
    let worker = Worker::connect(url, "bull", queue, queue_support::fast())
        .await
        .expect("a worker over TLS");
    let running = queue_support::spawn_worker(worker, |job| async move {
        let len = job.data["over"].as_str().map_or(0, str::len);
        assert!(len == 3 || len == 300_000, "data cut: {len} bytes");
        Ok(json!({ "got": len }))
    });
    queue_support::eventually("the jobs completed over TLS", async || {
        q.counts().await.is_ok_and(|c| c.completed == 2)
    })
    .await;
    running.stop().await;
}

fn expect_err(
    r: Result<(redis::aio::MultiplexedConnection, Vec<String>), ConnectError>,
) -> ConnectError {
    match r {
        Ok(_) => panic!("connected where it should not"),
        Err(e) => e,
    }
}

#[test]
fn valkey_over_tls_with_a_private_ca_and_client_certificates() {
    let server = TlsServer::start(false);
    let mutual = TlsServer::start(true);
    let ca = server.file("ca.pem");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // The system's roots do not know the test's CA: the certificate is named as the problem.
    tls_env(None, None);
    let e = rt.block_on(async { expect_err(connect(&server.url(), Duration::from_secs(5)).await) });
    assert!(matches!(e, ConnectError::Certificate { .. }), "{e}");
    assert!(
        e.is_configuration() && e.to_string().contains("VALKEY_TLS_CA"),
        "{e}"
    );

    // With its CA: a job goes through; valkeys:// is the same.
    tls_env(Some(&ca), None);
    rt.block_on(a_job_goes_through(&server.url(), "tls-jobs"));
    rt.block_on(a_job_goes_through(
        &server.url().replace("rediss://", "valkeys://"),
        "tls-jobs-2",
    ));

    // Another CA: refused.
    tls_env(Some(&server.file("other-ca.pem")), None);
    let e = rt.block_on(async { expect_err(connect(&server.url(), Duration::from_secs(5)).await) });
    assert!(matches!(e, ConnectError::Certificate { .. }), "{e}");
    let link = tp_bullmq::link::Link::new(&server.url()).expect("a link");
    let e = rt
        .block_on(link.connect())
        .expect_err("an untrusted server");
    assert!(e.to_string().contains("TLS"), "{e}");

    // A server that asks for a client certificate: refused without one, served with one.
    tls_env(Some(&mutual.file("ca.pem")), None);
    let e = rt.block_on(async { expect_err(connect(&mutual.url(), Duration::from_secs(5)).await) });
    assert!(e.to_string().contains("VALKEY_TLS_CERT"), "{e}");
    tls_env(
        Some(&mutual.file("ca.pem")),
        Some((&mutual.file("client.pem"), &mutual.file("client.key"))),
    );
    rt.block_on(a_job_goes_through(&mutual.url(), "mtls-jobs"));

    // Files that cannot be used, and #insecure: configuration errors, said at once.
    tls_env(Some(std::path::Path::new("/no/such/ca.pem")), None);
    let e = rt.block_on(async { expect_err(connect(&server.url(), Duration::from_secs(5)).await) });
    assert!(
        matches!(e, ConnectError::Tls { .. }) && e.is_configuration(),
        "{e}"
    );
    assert!(e.to_string().contains("/no/such/ca.pem"), "{e}");
    let e = tp_bullmq::link::Link::new(&server.url())
        .err()
        .expect("a bad CA file");
    assert!(e.to_string().contains("/no/such/ca.pem"), "{e}");
    tls_env(Some(&ca), None);
    let insecure = format!("{}/#insecure", server.url());
    let e = rt.block_on(async { expect_err(connect(&insecure, Duration::from_secs(5)).await) });
    assert!(matches!(e, ConnectError::BadUrl { .. }), "{e}");
    assert!(tp_bullmq::link::Link::new(&insecure).is_err());
}
