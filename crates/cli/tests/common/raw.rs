//! Raw HTTP/1.1 over TCP for hostile-input tests: the bytes go out exactly as
//! written (no client tidies the path or the framing), and every exchange is
//! bounded so a hang fails the test instead of stalling it.

#![allow(dead_code)] // Each test binary uses a different part of this helper.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every raw exchange must end within this; a hang fails the test.
pub const EXCHANGE_BOUND: Duration = Duration::from_secs(20);

/// Sends `request` as is on a fresh connection to `addr` (`host:port`) and
/// reads until the server closes it, within [`EXCHANGE_BOUND`].
pub async fn exchange(addr: &str, request: &[u8]) -> Vec<u8> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        // The server may answer and close before reading everything (413):
        // a failed write is then expected, the answer is what counts.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    tokio::time::timeout(EXCHANGE_BOUND, exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer within {EXCHANGE_BOUND:?}"))
}

/// A complete `POST` with `Connection: close` and the given extra header
/// lines (each ending in `\r\n`).
pub fn post_with(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A bodiless request with `Connection: close`; `path` goes out byte for byte.
pub fn request(method: &str, path: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} ").into_bytes();
    out.extend_from_slice(path);
    out.extend_from_slice(
        b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    out
}

/// The status code of a raw HTTP/1.1 answer, or 0 if there is none.
pub fn status(answer: &[u8]) -> u16 {
    answer
        .strip_prefix(b"HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The answer as text, for failure messages.
pub fn text(answer: &[u8]) -> String {
    String::from_utf8_lossy(answer).into_owned()
}

/// The body of a raw answer (after the blank line).
pub fn body_of(answer: &[u8]) -> &[u8] {
    answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |at| &answer[at + 4..])
}

/// Asserts `answer` is a 4xx with a JSON object body holding a string
/// `"error"`; `case` names the request in the failure message.
pub fn assert_json_4xx(case: &str, answer: &[u8]) {
    let code = status(answer);
    assert!(
        (400..500).contains(&code),
        "{case}: want a 4xx, got {code}: {}",
        text(answer)
    );
    let body: serde_json::Value = serde_json::from_slice(body_of(answer))
        .unwrap_or_else(|e| panic!("{case}: body is not JSON ({e}): {}", text(answer)));
    assert!(
        body.get("error").is_some_and(|e| e.is_string()),
        "{case}: no \"error\" string: {}",
        text(answer)
    );
}
