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

/// A complete authorized `POST` of `body` with `content_type`.
fn authorized_post(server: &LogServer, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let headers = format!(
        "Authorization: Bearer {}\r\nContent-Type: {content_type}\r\n",
        server.token()
    );
    common::raw::post_with(path, &headers, body)
}

/// Malformed and oversized bodies on both write paths: each is a 4xx with a
/// JSON error, never a 500, and the log keeps serving.
#[tokio::test]
async fn malformed_and_oversized_bodies_get_json_4xx() {
    let mut server = LogServer::start(&[]);
    let addr = addr(&server);
    let big = vec![b'a'; 17 * 1024];
    let json = "application/json";
    let ndjson = "application/x-ndjson";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("add: empty body", authorized_post(&server, "/add", json, b"")),
        ("add: not JSON", authorized_post(&server, "/add", json, b"\x00\xff{")),
        ("add: JSON array", authorized_post(&server, "/add", json, b"[]")),
        (
            "add: unknown field",
            authorized_post(&server, "/add", json, br#"{"filename":"a-1.tar.gz","checksum":"sha256:00","x":1}"#),
        ),
        (
            "add: bad checksum",
            authorized_post(&server, "/add", json, br#"{"filename":"a-1.tar.gz","checksum":"sha256:zz"}"#),
        ),
        (
            "add: bad filename",
            authorized_post(&server, "/add", json, br#"{"filename":"../../etc/passwd","checksum":"sha256:00"}"#),
        ),
        ("add: over 16 KiB", authorized_post(&server, "/add", json, &big)),
        ("add: wrong media type", authorized_post(&server, "/add", "text/plain", b"{}")),
        (
            "add: declared huge length",
            format!(
                "POST /add HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Length: 99999999999\r\n\r\n",
                server.token()
            )
            .into_bytes(),
        ),
        ("bulk: no media type", common::raw::post_with("/admin/bulk/append", &format!("Authorization: Bearer {}\r\n", server.token()), b"{}\n")),
        (
            "bulk: declared over 256 MiB",
            format!(
                "POST /admin/bulk/append HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: {ndjson}\r\nContent-Length: 300000000\r\n\r\n",
                server.token()
            )
            .into_bytes(),
        ),
    ];
    for (case, raw) in cases {
        let answer = exchange(&addr, &raw).await;
        common::raw::assert_json_4xx(case, &answer);
        assert_healthy(&mut server, case).await;
    }
    // Bulk lines that do not parse are reported per line, in a 200 stream;
    // what matters here is that nothing is a 500 and nothing was logged.
    let answer = exchange(
        &addr,
        &authorized_post(
            &server,
            "/admin/bulk/append",
            ndjson,
            b"not json\n\xff\xfe\n{\"filename\":1}\n",
        ),
    )
    .await;
    let code = status(&answer);
    assert!(code < 500, "bulk garbage lines: {}", text(&answer));
    assert_healthy(&mut server, "bulk garbage lines").await;
}

/// Sends `head` (request line and headers), then one body byte every `every`
/// until the server answers and closes; returns the answer and how long it took.
/// Bounded by `bound`: a server that holds the connection fails the test.
async fn trickle(addr: &str, head: &str, every: Duration, bound: Duration) -> (Vec<u8>, Duration) {
    use tokio::io::AsyncWriteExt;
    let started = Instant::now();
    let trickle = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        let mut answer = Vec::new();
        loop {
            if stream.write_all(b" ").await.is_err() {
                break;
            }
            let mut buf = [0u8; 4096];
            match tokio::time::timeout(every, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let _ = stream.read_to_end(&mut answer).await;
        answer
    };
    let answer = tokio::time::timeout(bound, trickle)
        .await
        .unwrap_or_else(|_| panic!("trickled body not cut off within {bound:?}"));
    (answer, started.elapsed())
}

/// A body trickled one byte a second on `/add` is cut off by the body timeout
/// (10 s by default) with a JSON 408, not held open.
#[tokio::test]
async fn trickled_add_body_is_cut_off() {
    let mut server = LogServer::start(&[]);
    let head = format!(
        "POST /add HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        server.token()
    );
    let (answer, _) = trickle(
        &addr(&server),
        &head,
        Duration::from_secs(1),
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(status(&answer), 408, "{}", text(&answer));
    common::raw::assert_json_4xx("trickled body", &answer);
    assert_healthy(&mut server, "a trickled body").await;
}

/// A bulk body trickled four bytes a second is cut off with a JSON 408 by
/// `--bulk-body-timeout` (here 3 s; 5 min by default, too long for CI), and the
/// log still takes bulk appends afterwards.
#[tokio::test]
async fn trickled_bulk_body_is_cut_off() {
    let mut server = LogServer::start(&["--bulk-body-timeout", "3s"]);
    let head = format!(
        "POST /admin/bulk/append HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n",
        server.token()
    );
    let (answer, took) = trickle(
        &addr(&server),
        &head,
        Duration::from_millis(250),
        Duration::from_secs(40),
    )
    .await;
    eprintln!("hostile_log: trickled bulk body cut off after {took:?}");
    assert_eq!(status(&answer), 408, "{}", text(&answer));
    common::raw::assert_json_4xx("trickled bulk body", &answer);
    assert!(
        took >= Duration::from_millis(2500),
        "cut off before the 3 s bulk body timeout: {took:?}"
    );
    // Far below the 300 s default: the flag, not the default, applied.
    assert!(
        took < Duration::from_secs(20),
        "not cut off near the 3 s bulk body timeout: {took:?}"
    );
    assert_healthy(&mut server, "a trickled bulk body").await;
    let line = format!(
        "{}\n",
        serde_json::json!({"filename": common::wheel("after", "1.0"), "checksum": common::checksum("after")})
    );
    let answer = exchange(
        &addr(&server),
        &common::raw::post_with(
            "/admin/bulk/append",
            &format!(
                "Authorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\n",
                server.token()
            ),
            line.as_bytes(),
        ),
    )
    .await;
    assert_eq!(status(&answer), 200, "{}", text(&answer));
    assert!(
        text(&answer).contains("\"status\":\"logged\""),
        "{}",
        text(&answer)
    );
}

/// Odd tile paths, lookups of filenames that are not UTF-8 or not filenames,
/// and wrong methods: each a 4xx with a JSON error, never a 500.
#[tokio::test]
async fn odd_paths_and_methods_get_json_4xx() {
    let mut server = LogServer::start(&[]);
    let addr = addr(&server);
    let get = |path: &str| common::raw::request("GET", path.as_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("tile dot-dot", get("/tile/../x")),
        (
            "tile encoded dot-dot",
            get("/tile/%2e%2e/%2e%2e/checkpoint"),
        ),
        ("tile encoded slash", get("/tile/0%2f000")),
        ("tile double slash", get("/tile//0/000")),
        ("tile huge level", get("/tile/99999999999999999999999/000")),
        ("tile level 64", get("/tile/64/000")),
        (
            "tile huge index",
            get("/tile/0/x999/x999/x999/x999/x999/x999/x999"),
        ),
        ("tile partial 0", get("/tile/0/000.p/0")),
        ("tile partial 256", get("/tile/0/000.p/256")),
        ("tile partial leading zero", get("/tile/0/000.p/01")),
        ("tile index leading zeros", get("/tile/0/0000")),
        ("tile short index", get("/tile/0/0")),
        ("tile entries x001", get("/tile/entries/x001")),
        ("tile beyond the tree", get("/tile/0/x001/000")),
        ("tile empty", get("/tile/")),
        (
            "tile very long",
            get(&format!("/tile/0/{}", "x000/".repeat(500))),
        ),
        ("lookup not UTF-8", get("/lookup/pypi/%ff%fe.tar.gz")),
        ("lookup NUL", get("/lookup/pypi/a%00-1.tar.gz")),
        (
            "lookup traversal",
            get("/lookup/pypi/..%2f..%2fetc%2fpasswd"),
        ),
        ("lookup not logged", get("/lookup/pypi/absent-1.0.tar.gz")),
        ("lookup empty", get("/lookup/pypi/")),
        ("unknown path", get("/nope")),
        ("GET /add", get("/add")),
        ("GET /admin/bulk/append", get("/admin/bulk/append")),
        ("PUT /add", common::raw::request("PUT", b"/add")),
        (
            "DELETE /tile",
            common::raw::request("DELETE", b"/tile/0/000"),
        ),
        (
            "POST /checkpoint",
            common::raw::request("POST", b"/checkpoint"),
        ),
        ("POST /healthz", common::raw::request("POST", b"/healthz")),
        (
            "PATCH /lookup",
            common::raw::request("PATCH", b"/lookup/pypi/a-1.tar.gz"),
        ),
    ];
    for (case, raw) in cases {
        let answer = exchange(&addr, &raw).await;
        common::raw::assert_json_4xx(case, &answer);
        assert_healthy(&mut server, case).await;
    }
    // Raw bytes that are not a valid request target are refused by hyper
    // before the router (400, no body to speak of): still no 500, still alive.
    for (case, raw) in [
        (
            "raw 0xff in path",
            common::raw::request("GET", b"/lookup/pypi/\xff.tar.gz"),
        ),
        (
            "space in path",
            common::raw::request("GET", b"/tile/0 /000"),
        ),
    ] {
        let answer = exchange(&addr, &raw).await;
        let code = status(&answer);
        assert!((400..500).contains(&code), "{case}: {}", text(&answer));
        assert_healthy(&mut server, case).await;
    }
}

/// Every write path refuses without a valid token (missing, wrong, wrong
/// scheme, empty, the token of another log) with a JSON 401 and logs nothing;
/// the token never shows in the server's stdout, stderr or `/metrics`.
#[tokio::test]
async fn write_paths_refuse_without_a_valid_token_and_never_leak_it() {
    let mut server = LogServer::start(&[]);
    let other = LogServer::start(&[]);
    let addr = addr(&server);
    let token = server.token();
    let other_token = other.token();
    assert_ne!(token, other_token, "two logs made the same token");
    drop(other);
    let add_body = format!(
        r#"{{"filename":"refused-1.0.tar.gz","checksum":"{}"}}"#,
        common::checksum("refused")
    );
    let writes = [
        ("/add", "application/json", add_body.clone()),
        (
            "/admin/bulk/append",
            "application/x-ndjson",
            format!("{add_body}\n"),
        ),
    ];
    let mut upper = token.clone();
    upper.make_ascii_uppercase();
    let authorizations: Vec<(&str, String)> = vec![
        ("missing", String::new()),
        (
            "wrong token",
            "Authorization: Bearer not-the-token\r\n".into(),
        ),
        ("empty bearer", "Authorization: Bearer \r\n".into()),
        ("empty header", "Authorization: \r\n".into()),
        ("basic scheme", format!("Authorization: Basic {token}\r\n")),
        ("no scheme", format!("Authorization: {token}\r\n")),
        (
            "token in upper case",
            format!("Authorization: Bearer {upper}\r\n"),
        ),
        (
            "token with a suffix",
            format!("Authorization: Bearer {token}x\r\n"),
        ),
        (
            "token prefix",
            format!("Authorization: Bearer {}\r\n", &token[..token.len() - 1]),
        ),
        (
            "another log's token",
            format!("Authorization: Bearer {other_token}\r\n"),
        ),
        ("token in a second header", format!("X-Token: {token}\r\n")),
    ];
    for (path, content_type, body) in &writes {
        for (case, auth) in &authorizations {
            let headers = format!("{auth}Content-Type: {content_type}\r\n");
            let answer = exchange(
                &addr,
                &common::raw::post_with(path, &headers, body.as_bytes()),
            )
            .await;
            let case = format!("{path}, {case}");
            assert_eq!(status(&answer), 401, "{case}: {}", text(&answer));
            common::raw::assert_json_4xx(&case, &answer);
        }
    }
    assert_healthy(&mut server, "refused writes").await;
    // Nothing refused was logged.
    let lookup = exchange(
        &addr,
        &common::raw::request("GET", b"/lookup/pypi/refused-1.0.tar.gz"),
    )
    .await;
    assert_eq!(status(&lookup), 404, "{}", text(&lookup));
    // The valid token works (so the refusals above were about the token).
    let answer = exchange(
        &addr,
        &authorized_post(&server, "/add", "application/json", add_body.as_bytes()),
    )
    .await;
    assert_eq!(status(&answer), 200, "{}", text(&answer));
    let metrics = exchange(&addr, &common::raw::request("GET", b"/metrics")).await;
    assert_eq!(status(&metrics), 200, "{}", text(&metrics));
    let server_output = format!(
        "{}\n{}",
        server.stdout_text(),
        server.stderr.lock().expect("stderr lock")
    );
    for (what, haystack) in [
        ("stdout/stderr", server_output),
        ("/metrics", text(&metrics)),
    ] {
        assert!(!haystack.contains(&token), "the token appears in {what}");
        assert!(
            !haystack.contains(&other_token),
            "the other log's token appears in {what}"
        );
    }
}
