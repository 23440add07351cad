//! Connection problems give errors that say what to fix.

#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::io::{Read, Write};
use std::time::Duration;

use redis_server::RedisServer;
use tp_bullmq::connect::{ConnectError, connect};

const T: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_malformed_url_is_named_with_the_expected_form() {
    let err = connect("http://not-redis", T).await.expect_err("bad url");
    assert!(matches!(err, ConnectError::BadUrl { .. }), "{err}");
    assert!(err.to_string().contains("expected redis://"), "{err}");
}

#[tokio::test]
async fn nobody_listening_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let err = connect(&format!("redis://127.0.0.1:{port}"), T)
        .await
        .expect_err("refused");
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_without_the_password() {
    let server = RedisServer::start();
    server.require_password("right");
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port);
    let result = connect(&url, T).await;
    let err = result.expect_err("wrong password");
    assert!(matches!(err, ConnectError::Auth { .. }), "{err}");
    assert!(!err.to_string().contains("wrong@"), "{err}");
}

#[tokio::test]
async fn a_server_that_is_not_redis_is_named_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let err = connect(&format!("redis://127.0.0.1:{port}"), T)
        .await
        .expect_err("not redis");
    assert!(matches!(err, ConnectError::NotRedis { .. }), "{err}");
}

#[tokio::test]
async fn an_evicting_server_gets_a_warning() {
    let server = RedisServer::start();
    let (mut conn, warnings) = connect(&server.url(), T).await.expect("connect");
    assert!(warnings.is_empty(), "{warnings:?}");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query_async(&mut conn)
        .await
        .expect("config");
    let (_, warnings) = connect(&server.url(), T).await.expect("connect");
    assert!(
        warnings.len() == 1
            && warnings[0].contains("allkeys-lru")
            && warnings[0].contains("noeviction"),
        "{warnings:?}"
    );
}
