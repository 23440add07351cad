//! A Rust queue handle on a test's private redis-server.

use tp_bullmq::Queue;

use crate::redis_server::RedisServer;

pub async fn queue(server: &RedisServer, name: &str) -> Queue {
    let client = redis::Client::open(server.url()).expect("url");
    let conn = client
        .get_multiplexed_tokio_connection()
        .await
        .expect("connect");
    Queue::new(conn, "bull", name)
}
