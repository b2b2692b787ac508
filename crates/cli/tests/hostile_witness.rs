//! Issue 8, hostile input to the witness: `bintrail witness serve` as a real
//! process on 127.0.0.1:0, sent raw bytes over TCP (so nothing in an HTTP
//! client tidies the request first). Every case must get its 4xx within a
//! bound, and afterwards the process must still be running and still cosign.
//!
//! The cases in `crates/cli/tests/witness.rs` (empty, garbage and 1 MiB bodies,
//! a too large `old`, GET on `/add-checkpoint`, slow bodies and headers) are
//! not repeated here. The raw-HTTP helpers are shared with `hostile_log.rs` in
//! `common/raw.rs`.

mod common;

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, Signer};
use bintrail_tlog::tree::{prove_tree, stored_hashes, tree_hash};
use bintrail_witness::request::AddCheckpointRequest;
use common::SmallFs;
use common::raw::{body_of, exchange, status, text};
use common::witnesses::{bintrail, p as path_str};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ORIGIN: &str = "example.com/hostile-witness";

/// A `bintrail witness serve` child, killed on drop.
struct Witness {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small in-memory log signing real checkpoints, as the witness sees them.
struct TestLog {
    signer: Signer,
    hashes: Vec<Hash>,
}

impl TestLog {
    fn new(size: u64) -> Self {
        let signer = Signer::generate(ORIGIN, KeyType::Ed25519, [7; 32]).expect("log key");
        let mut hashes = Vec::new();
        for i in 0..size {
            let new = stored_hashes(i, format!("entry {i}").as_bytes(), &hashes).expect("hashes");
            hashes.extend(new);
        }
        Self { signer, hashes }
    }

    fn signed_checkpoint(&self, size: u64) -> Vec<u8> {
        let root = tree_hash(size, &self.hashes).expect("root");
        let cp: Checkpoint = format!("{ORIGIN}\n{size}\n{root}\n")
            .parse()
            .expect("checkpoint");
        Note::sign(&cp.to_string(), &[&self.signer])
            .expect("sign")
            .to_bytes()
    }

    fn request(&self, old: u64, new: u64) -> Vec<u8> {
        AddCheckpointRequest {
            old_size: old,
            proof: prove_tree(new, old, &self.hashes).expect("proof"),
            checkpoint: self.signed_checkpoint(new),
        }
        .to_bytes()
    }
}

impl Witness {
    fn start(log: &TestLog) -> Witness {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().to_owned();
        Witness::start_with(log, &at, dir)
    }

    /// Starts a witness whose key and database live in `at`.
    fn start_in(log: &TestLog, at: &Path) -> Witness {
        Witness::start_with(log, at, tempfile::tempdir().expect("tempdir"))
    }

    fn start_with(log: &TestLog, at: &Path, dir: tempfile::TempDir) -> Witness {
        let key = at.join("witness.key");
        let vkey = at.join("witness.vkey");
        let db = at.join("witness.db");
        bintrail(&[
            "keygen",
            "--witness",
            "--origin",
            "witness.example/hostile",
            "--private-key",
            path_str(&key),
            "--public-key",
            path_str(&vkey),
        ]);
        let log_vkey = log.signer.verifier().to_string();
        bintrail(&[
            "witness",
            "add-log",
            "--db",
            path_str(&db),
            "--public-key",
            &log_vkey,
        ]);
        let (child, addr) = common::spawn_witness(&db, &key, "127.0.0.1:0");
        Witness {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Sends `request` as is on a fresh connection and reads until the server
    /// closes it, within [`common::raw::EXCHANGE_BOUND`].
    async fn raw(&self, request: &[u8]) -> Vec<u8> {
        exchange(&self.addr, request).await
    }

    /// Asserts that the witness cosigns `log`'s first checkpoint (size 2, from nothing).
    async fn assert_first_cosigned(&self, log: &TestLog) {
        let first = self.raw(&post("/add-checkpoint", &log.request(0, 2))).await;
        assert_eq!(status(&first), 200, "{}", text(&first));
    }

    /// Asserts the process is alive and still cosigns (the same checkpoint
    /// again: `old == new` with an empty proof is a valid request).
    async fn assert_healthy(&mut self, log: &TestLog, after: &str) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "witness exited after {after}"
        );
        let body = log.request(2, 2);
        let answer = self.raw(&post("/add-checkpoint", &body)).await;
        assert_eq!(status(&answer), 200, "after {after}: {}", text(&answer));
    }
}

/// A complete `POST` with `Connection: close`.
fn post(path: &str, body: &[u8]) -> Vec<u8> {
    common::raw::post_with(path, "", body)
}

fn request(method: &str, path: &str) -> Vec<u8> {
    common::raw::request(method, path.as_bytes())
}

/// Bodies the witness's parser must refuse with 400 (C2SP tlog-witness: the
/// request is malformed), each named.
fn malformed_bodies(log: &TestLog) -> Vec<(&'static str, Vec<u8>)> {
    let note = log.signed_checkpoint(2);
    let with_old = |old: &str| {
        let mut b = format!("old {old}\n\n").into_bytes();
        b.extend_from_slice(&note);
        b
    };
    let proof_line = |line: &str| {
        let mut b = format!("old 1\n{line}\n\n").into_bytes();
        b.extend_from_slice(&note);
        b
    };
    let mut no_final_newline = log.request(0, 2);
    no_final_newline.pop();
    let mut bad_utf8_origin = b"old 0\n\nexample.com/\xff\xfe\n2\n".to_vec();
    bad_utf8_origin.extend_from_slice(&note[note.iter().position(|&b| b == b'\n').unwrap_or(0)..]);
    vec![
        ("old u64::MAX", with_old("18446744073709551615")),
        ("old u64::MAX + 1", with_old("18446744073709551616")),
        ("old with leading zero", with_old("01")),
        ("old with plus sign", with_old("+1")),
        ("old in hex", with_old("0x1")),
        ("old with trailing space", with_old("1 ")),
        ("old empty", with_old("")),
        ("proof line not base64", proof_line("!!!!")),
        (
            "proof hash of 31 bytes",
            proof_line("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="),
        ),
        ("no blank line", b"old 0\nexample.com/x\n".to_vec()),
        ("note without final newline", no_final_newline),
        ("invalid utf-8 origin", bad_utf8_origin),
        ("only NULs", vec![0; 4096]),
        (
            "CRLF line endings",
            log.request(0, 2)
                .iter()
                .flat_map(|&b| {
                    if b == b'\n' {
                        vec![b'\r', b'\n']
                    } else {
                        vec![b]
                    }
                })
                .collect(),
        ),
    ]
}

#[tokio::test]
async fn malformed_bodies_get_400_and_the_witness_stays_healthy() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    witness.assert_first_cosigned(&log).await;
    let mut tried = 0;
    for (name, body) in malformed_bodies(&log) {
        let answer = witness.raw(&post("/add-checkpoint", &body)).await;
        assert_eq!(status(&answer), 400, "case {name}: {}", text(&answer));
        let json: serde_json::Value = serde_json::from_slice(body_of(&answer))
            .unwrap_or_else(|e| panic!("case {name}: JSON error body: {e}: {}", text(&answer)));
        assert!(json["error"].is_string(), "case {name}: {json}");
        witness.assert_healthy(&log, name).await;
        tried += 1;
    }
    eprintln!("hostile_witness: {tried} malformed bodies refused");
}

/// Raw requests that break HTTP framing or aim outside the routes, with the
/// statuses acceptable for each (the server, hyper or axum may answer).
fn framing_cases() -> Vec<(&'static str, Vec<u8>, &'static [u16])> {
    let long_path = format!("/{}/checkpoint", "a".repeat(200_000));
    vec![
        ("dot-dot segment", request("GET", "/../x"), &[400, 404]),
        ("encoded dot-dot", request("GET", "/%2e%2e/checkpoint"), &[400, 404]),
        ("encoded slash", request("GET", "/a%2fb/checkpoint"), &[400, 404]),
        ("empty segment", request("GET", "//checkpoint"), &[400, 404]),
        ("triple slash", request("GET", "///"), &[400, 404]),
        ("invalid utf-8 escape", request("GET", "/%ff%fe/checkpoint"), &[400, 404]),
        ("NUL escape", request("GET", "/%00/checkpoint"), &[400, 404]),
        ("uppercase hash", request("GET", &format!("/{}/checkpoint", "A".repeat(64))), &[400, 404]),
        ("huge number path", request("GET", "/99999999999999999999999999/checkpoint"), &[400, 404]),
        ("200 KB path", request("GET", &long_path), &[400, 404, 414, 431]),
        ("absolute-form", request("GET", "http://evil.example/add-checkpoint"), &[400, 404, 405]),
        ("asterisk-form", request("OPTIONS", "*"), &[400, 404, 405]),
        ("PUT add-checkpoint", request("PUT", "/add-checkpoint"), &[405]),
        ("DELETE add-checkpoint", request("DELETE", "/add-checkpoint"), &[405]),
        ("PATCH add-checkpoint", request("PATCH", "/add-checkpoint"), &[405]),
        ("POST checkpoint", request("POST", &format!("/{}/checkpoint", "0".repeat(64))), &[405]),
        ("unknown method", request("BREW", "/add-checkpoint"), &[400, 405]),
        ("garbage request line", b"\x00\x01\x02 \xff\r\n\r\n".to_vec(), &[400]),
        (
            "Content-Length of 10^12",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n".to_vec(),
            &[413],
        ),
        (
            "Content-Length beyond u64",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "negative Content-Length",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "two different Content-Lengths",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            &[400],
        ),
        (
            "chunked body over the limit",
            {
                let mut r = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for _ in 0..80 {
                    r.extend_from_slice(b"400\r\n");
                    r.extend_from_slice(&[b'a'; 0x400]);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
                r
            },
            &[413],
        ),
        (
            "bad chunk size",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            &[0, 400],
        ),
        (
            "invalid utf-8 header value",
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-A: \xff\xfe\r\nContent-Length: 0\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "10,000 headers",
            {
                let mut r = b"GET /x/checkpoint HTTP/1.1\r\nHost: x\r\n".to_vec();
                for i in 0..10_000 {
                    r.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
                }
                r.extend_from_slice(b"\r\n");
                r
            },
            &[0, 400, 431],
        ),
    ]
}

#[tokio::test]
async fn odd_paths_methods_and_framing_get_4xx_and_the_witness_stays_healthy() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    witness.assert_first_cosigned(&log).await;
    let mut tried = 0;
    for (name, raw, allowed) in framing_cases() {
        let answer = witness.raw(&raw).await;
        let got = status(&answer);
        assert!(
            allowed.contains(&got),
            "case {name}: status {got}, expected one of {allowed:?}: {}",
            text(&answer).chars().take(300).collect::<String>()
        );
        witness.assert_healthy(&log, name).await;
        tried += 1;
    }
    eprintln!("hostile_witness: {tried} framing and path cases refused");
}

/// A body trickled one byte a second is cut off by the request timeout
/// (10 s) rather than holding the connection open as long as the client likes.
#[tokio::test]
async fn trickled_body_is_cut_off_within_a_bound() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    let started = std::time::Instant::now();
    let mut stream = tokio::net::TcpStream::connect(&witness.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n")
        .await
        .expect("write headers");
    let mut answer = Vec::new();
    let trickle = async {
        loop {
            if stream.write_all(b"o").await.is_err() {
                break;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), trickle)
        .await
        .expect("trickling client cut off within 30 s");
    let elapsed = started.elapsed();
    assert_eq!(status(&answer), 408, "{}", text(&answer));
    assert!(
        elapsed >= Duration::from_secs(5),
        "cut off too early: {elapsed:?}"
    );
    witness.assert_first_cosigned(&log).await;
    witness.assert_healthy(&log, "a trickled body").await;
}

/// Many connections that open and stall (nothing sent, or only the HTTP/2
/// connection preface) do not stop the witness from answering others.
///
/// Others are served while they stay open (see also the W1 and W1b tests,
/// which check that the witness closes them).
#[tokio::test]
async fn stalled_connections_do_not_block_others() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    let mut stalled = Vec::new();
    for i in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&witness.addr)
            .await
            .expect("connect");
        if i % 2 == 0 {
            stream
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .expect("write preface");
        }
        stalled.push(stream);
    }
    witness.assert_first_cosigned(&log).await;
    witness
        .assert_healthy(&log, "200 stalled connections")
        .await;
    drop(stalled);
    witness
        .assert_healthy(&log, "closing 200 stalled connections")
        .await;
}

/// Finding W2 (RELIABILITY.md): unknown paths and wrong methods answered with
/// an empty body; every error answer must carry JSON `{"error": ...}`.
#[tokio::test]
async fn w2_unknown_paths_and_wrong_methods_answer_json() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    let cases = [
        ("unknown path", request("GET", "/nope"), 404),
        ("dot-dot", request("GET", "/../x"), 404),
        ("PUT add-checkpoint", request("PUT", "/add-checkpoint"), 405),
        ("GET add-checkpoint", request("GET", "/add-checkpoint"), 405),
        (
            "POST checkpoint",
            request("POST", &format!("/{}/checkpoint", "0".repeat(64))),
            405,
        ),
    ];
    for (name, raw, expected) in cases {
        let answer = witness.raw(&raw).await;
        assert_eq!(status(&answer), expected, "case {name}: {}", text(&answer));
        let json: serde_json::Value = serde_json::from_slice(body_of(&answer))
            .unwrap_or_else(|e| panic!("case {name}: JSON error body: {e}: {}", text(&answer)));
        assert!(json["error"].is_string(), "case {name}: {json}");
    }
    witness.assert_first_cosigned(&log).await;
    witness.assert_healthy(&log, "the W2 cases").await;
}

/// Finding W1 (RELIABILITY.md): a connection that never sends a byte was kept
/// open forever; it must be closed within the header read timeout (5 s) plus
/// slack, while the witness keeps serving others.
#[tokio::test]
async fn w1_silent_connections_are_closed() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    let started = std::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(
            tokio::net::TcpStream::connect(&witness.addr)
                .await
                .expect("connect"),
        );
    }
    witness.assert_first_cosigned(&log).await;
    for mut stream in silent {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest))
            .await
            .expect("silent connection closed within 30 s");
        // Closed by the server: end of stream (or a reset), and no answer.
        assert!(read.map_or(true, |n| n == 0), "{}", text(&rest));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4),
        "closed too early: {elapsed:?}"
    );
    witness.assert_healthy(&log, "50 silent connections").await;
}

/// Finding W1b (RELIABILITY.md): a connection that sent only the HTTP/2
/// preface and then stalled was kept open forever; it must be closed.
#[tokio::test]
async fn w1b_stalled_http2_connections_are_closed() {
    let log = TestLog::new(2);
    let mut witness = Witness::start(&log);
    let mut stream = tokio::net::TcpStream::connect(&witness.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("write preface");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest))
        .await
        .expect("stalled h2 connection closed within 30 s")
        .ok();
    witness.assert_first_cosigned(&log).await;
    witness
        .assert_healthy(&log, "a stalled h2 connection")
        .await;
}

/// Issue 8, disk full (finding W3): the witness database on a full filesystem
/// refuses to cosign with a JSON 507 (never a cosignature it did not store), stays up,
/// and cosigns again once space is freed, from the state it last stored.
#[tokio::test]
async fn witness_on_a_full_disk_refuses_then_recovers() {
    let fs = SmallFs::mount("4m");
    let log = TestLog::new(40);
    let mut witness = Witness::start_in(&log, fs.path());
    witness.assert_first_cosigned(&log).await;
    let filler = fs.fill("filler");
    let mut refused = 0;
    let mut size = 2;
    for new in 3..=40u64 {
        let answer = witness
            .raw(&post("/add-checkpoint", &log.request(size, new)))
            .await;
        match status(&answer) {
            200 => size = new,
            // Finding W3: this was a bare 500.
            507 => {
                let json: serde_json::Value = serde_json::from_slice(body_of(&answer))
                    .unwrap_or_else(|e| panic!("JSON error body: {e}: {}", text(&answer)));
                assert!(json["error"].is_string(), "{json}");
                refused += 1;
            }
            other => panic!("status {other} on a full disk: {}", text(&answer)),
        }
        assert!(
            witness.child.try_wait().expect("try_wait").is_none(),
            "witness exited on a full disk"
        );
    }
    assert!(
        refused > 0,
        "a full disk refused no update (size reached {size})"
    );
    std::fs::remove_file(&filler).expect("free space");
    // The stored size is where the last 200 left it: 409 names it, then it moves on.
    let probe = witness
        .raw(&post("/add-checkpoint", &log.request(0, 40)))
        .await;
    assert_eq!(status(&probe), 409, "{}", text(&probe));
    assert_eq!(body_of(&probe), format!("{size}\n").as_bytes());
    let answer = witness
        .raw(&post("/add-checkpoint", &log.request(size, 40)))
        .await;
    assert_eq!(
        status(&answer),
        200,
        "after freeing space: {}",
        text(&answer)
    );
    eprintln!("hostile_witness: full disk refused {refused} updates, then recovered");
    drop(witness);
}
