//! Issue 8, hostile input to the log: `bintrail serve` as a real process on
//! 127.0.0.1:0, sent raw bytes over TCP (so nothing in an HTTP client tidies
//! the request first). Every case must get its 4xx with a JSON `{"error"}`
//! body within a bound, and afterwards the process must still be running and
//! `/healthz` must still answer. The raw-HTTP helpers are shared with
//! `hostile_witness.rs` in `common/raw.rs`.

mod common;

use std::time::{Duration, Instant};

use common::LogServer;
use common::raw::{exchange, status, text};
use tokio::io::AsyncReadExt;

/// `host:port` of a running server.
fn addr(server: &LogServer) -> String {
    server
        .url
        .strip_prefix("http://")
        .expect("plain HTTP url")
        .to_owned()
}

/// Asserts the process is alive and `/healthz` answers 200.
async fn assert_healthy(server: &mut LogServer, after: &str) {
    assert!(server.is_running(), "bintrail serve exited after {after}");
    let answer = exchange(&addr(server), &common::raw::request("GET", b"/healthz")).await;
    assert_eq!(status(&answer), 200, "after {after}: {}", text(&answer));
}

/// Finding L1 (RELIABILITY.md), the log's twin of the witness's W1: a
/// connection that never sends a byte was kept open forever, holding a
/// descriptor and one of `max_connections` slots. It must be closed within the
/// header read timeout (10 s by default) plus slack, while others are served.
#[tokio::test]
async fn l1_silent_connections_are_closed() {
    let mut server = LogServer::start(&[]);
    let addr = addr(&server);
    let started = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    assert_healthy(&mut server, "opening 50 silent connections").await;
    for mut stream in silent {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut rest))
            .await
            .expect("silent connection closed within 40 s");
        // Closed by the server: end of stream (or a reset), and no answer.
        assert!(read.map_or(true, |n| n == 0), "{}", text(&rest));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(8),
        "closed too early: {elapsed:?}"
    );
    assert_healthy(&mut server, "50 silent connections").await;
}
