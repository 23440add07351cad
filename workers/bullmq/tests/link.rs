//! The worker's own connection (`tp_bullmq::link`) against a real redis-server: replies reach
//! the right callers when many tasks share it, a caller that gives up does not shift anyone's
//! reply, large replies arrive whole, a restarted server is reconnected to, a hung one is
//! given up on, the URL's password and database are used, and a unix socket URL works.

#[path = "../../../tests/support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use redis_server::RedisServer;
use tp_bullmq::link::{Link, LinkError, Reply, command};

async fn call(link: &Link, words: &[&str]) -> Result<Reply, LinkError> {
    let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    link.call(&[&command(&words)]).await
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// Eight tasks each count their own key up 300 times and see 1..=300 in order, while a ninth
/// moves a 1 MiB value through the same connection.
async fn replies_reach_their_callers(url: String) {
    let link = Link::new(&url).expect("link");
    let big = "x".repeat(1 << 20);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8 {
        let link = link.clone();
        tasks.spawn(async move {
            for n in 1..=300 {
                let key = format!("counter:{t}");
                let r = call(&link, &["INCR", &key]).await.expect("INCR");
                assert_eq!(r, Reply::Int(n), "task {t}");
            }
        });
    }
    let (l, b) = (link.clone(), big.clone());
    tasks.spawn(async move {
        for i in 0..5 {
            assert_eq!(
                call(&l, &["SET", "big", &b]).await.expect("SET"),
                Reply::Status("OK".into())
            );
            assert_eq!(
                call(&l, &["GET", "big"]).await.expect("GET"),
                bulk(&b),
                "round {i}"
            );
        }
    });
    while let Some(r) = tasks.join_next().await {
        r.expect("a task failed");
    }
    assert_eq!(
        call(&link, &["MGET", "counter:0", "counter:7", "none"])
            .await
            .expect("MGET"),
        Reply::Array(vec![bulk("300"), bulk("300"), Reply::Nil])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn many_tasks_share_one_link_on_one_thread() {
    let server = RedisServer::start();
    replies_reach_their_callers(server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_link_across_threads() {
    let server = RedisServer::start();
    replies_reach_their_callers(server.url()).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_caller_that_gives_up_does_not_take_anyone_elses_reply() {
    let server = RedisServer::start();
    let link = Link::new(&server.url()).expect("link");
    call(&link, &["SET", "k", "v"]).await.expect("SET");
    // BLPOP holds the connection's replies until the list gets an element; its caller leaves.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        call(&link, &["BLPOP", "list", "0"]),
    )
    .await;
    assert!(gave_up.is_err(), "BLPOP should still be waiting");
    let waiting = tokio::spawn({
        let link = link.clone();
        async move { call(&link, &["GET", "k"]).await }
    });
    // Another connection feeds the list: BLPOP's reply comes, is thrown away, then GET's.
    let other = Link::new(&server.url()).expect("link");
    call(&other, &["RPUSH", "list", "item"])
        .await
        .expect("RPUSH");
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("GET answered")
        .expect("task");
    assert_eq!(got, Ok(bulk("v")));
    assert_eq!(
        call(&link, &["LLEN", "list"]).await.expect("LLEN"),
        Reply::Int(0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_restarted_server_is_connected_to_again() {
    let mut server = RedisServer::start();
    let link = Link::new(&server.url()).expect("link");
    call(&link, &["SET", "k", "1"]).await.expect("SET");
    server.stop();
    let err = call(&link, &["GET", "k"]).await.expect_err("server down");
    assert!(
        matches!(err, LinkError::Broken { .. } | LinkError::Connect { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&server.port.to_string()), "{err}");
    // While it is down, each call says so (a fresh connection attempt each time).
    let err = call(&link, &["GET", "k"]).await.expect_err("still down");
    assert!(matches!(err, LinkError::Connect { .. }), "{err}");
    server.restart();
    assert_eq!(call(&link, &["GET", "k"]).await, Ok(Reply::Nil));
    assert_eq!(
        call(&link, &["SET", "k", "2"]).await,
        Ok(Reply::Status("OK".into()))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_that_stops_answering_breaks_the_connection_after_the_reply_timeout() {
    let server = RedisServer::start();
    let link = Link::with_reply_timeout(&server.url(), Duration::from_secs(1)).expect("link");
    call(&link, &["SET", "k", "1"]).await.expect("SET");
    let signal = |sig| {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(server.pid() as i32, sig) }, 0);
    };
    // A hung server: the connection stays open, nothing answers.
    signal(libc::SIGSTOP);
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(20), call(&link, &["GET", "k"])).await;
    signal(libc::SIGCONT);
    let err = answer
        .expect("the link gave up by itself")
        .expect_err("no reply");
    assert!(err.to_string().contains("no reply within 1 s"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    // Once the server answers again, a new connection is made.
    assert_eq!(call(&link, &["GET", "k"]).await, Ok(bulk("1")));
}

#[tokio::test(flavor = "current_thread")]
async fn the_urls_password_and_database_are_used() {
    let server = RedisServer::start();
    server.require_password("s3cret");
    let port = server.port;
    let link = Link::new(&format!("redis://:s3cret@127.0.0.1:{port}/3")).expect("link");
    call(&link, &["SET", "where", "db3"]).await.expect("SET");
    let info = call(&link, &["CLIENT", "INFO"])
        .await
        .expect("CLIENT INFO")
        .into_text()
        .unwrap_or_default();
    assert!(info.contains(" db=3 "), "{info}");
    let wrong = Link::new(&format!("redis://:nope@127.0.0.1:{port}/3")).expect("link");
    let err = wrong.connect().await.expect_err("wrong password");
    assert!(matches!(err, LinkError::Connect { .. }), "{err}");
    assert!(err.to_string().to_lowercase().contains("pass"), "{err}");
    assert!(!err.to_string().contains("nope"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_unix_socket_url_works() {
    let dir = std::env::temp_dir().join(format!("tp-link-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket = dir.join("valkey.sock");
    // No TCP listener at all: port 0.
    let mut server = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--unixsocket",
        ])
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let link = Link::new(&format!("redis+unix://{}", socket.display())).expect("link");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match call(&link, &["PING"]).await {
            Err(LinkError::Connect { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => break other,
        }
    };
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(answer, Ok(Reply::Status("PONG".into())));
}

#[test]
fn a_url_that_is_not_redis_is_refused_up_front() {
    let err = Link::new("http://localhost:6379").err().expect("refused");
    assert!(matches!(err, LinkError::Url(_)), "{err}");
}

/// A named link's connections carry the name from the handshake on, a reconnected one too
/// (Node's getWorkers() finds a worker by its marker connection's name).
#[tokio::test(flavor = "current_thread")]
async fn a_named_link_names_every_connection_it_makes() {
    let mut server = RedisServer::start();
    let link = Link::named(&server.url(), "bull:dGVzdA==").expect("link");
    let names = async |link: &Link| match call(link, &["CLIENT", "GETNAME"]).await {
        Ok(r) => r,
        Err(e) => panic!("CLIENT GETNAME: {e}"),
    };
    assert_eq!(names(&link).await, bulk("bull:dGVzdA=="));
    server.restart();
    let _ = call(&link, &["PING"]).await; // the broken connection reports itself
    assert_eq!(names(&link).await, bulk("bull:dGVzdA=="));
    // A blocking command on it wakes when another connection feeds the key.
    let waiting = tokio::spawn({
        let link = link.clone();
        async move { call(&link, &["BZPOPMIN", "marker", "10"]).await }
    });
    let other = Link::new(&server.url()).expect("link");
    while call(&other, &["CLIENT", "LIST"])
        .await
        .is_ok_and(|r| match r {
            Reply::Bulk(b) => !String::from_utf8_lossy(&b).contains("cmd=bzpopmin"),
            _ => true,
        })
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    call(&other, &["ZADD", "marker", "0", "0"])
        .await
        .expect("ZADD");
    let got = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("BZPOPMIN woke")
        .expect("task")
        .expect("reply");
    assert!(matches!(got, Reply::Array(_)), "{got:?}");
}
