//! `bintrail serve` end to end: the real binary on 127.0.0.1, a fresh data dir per
//! test, HTTP through reqwest.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::tree::verify_record;
use common::{LogServer, checksum, client, wheel};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// POSTs `body` to `/add` with the server's token.
fn entry(filename: &str, content: &str) -> Value {
    json!({"filename": filename, "checksum": checksum(content)})
}

/// Fetches and verifies the current checkpoint.
async fn checkpoint(server: &LogServer) -> Checkpoint {
    let verifier: Verifier = server.vkey().parse().expect("vkey");
    let note = common::get_bytes(&server.at("/checkpoint")).await;
    open_checkpoint(&note, &verifier)
        .expect("checkpoint verifies")
        .0
}

/// Checks a 200 `/add` answer: the checkpoint verifies with the log's vkey, the
/// inclusion proof binds the entry to its root, and `proof` says the same.
fn verify_add_response(server: &LogServer, body: &Value, filename: &str, sum: &str) -> u64 {
    let verifier: Verifier = server.vkey().parse().expect("vkey");
    let index = body["index"].as_u64().expect("index");
    let note = BASE64
        .decode(body["checkpoint"].as_str().expect("checkpoint"))
        .unwrap();
    let (cp, _) = open_checkpoint(&note, &verifier).expect("checkpoint verifies");
    let proof = common::inclusion_proof(body);
    let entry = format!("pypi-transparency/v1\n{sum}\n{filename}");
    verify_record(
        &proof,
        cp.size,
        cp.root_hash,
        index,
        leaf_hash(entry.as_bytes()),
    )
    .expect("inclusion proof verifies");
    let text = body["proof"].as_str().expect("proof");
    let parsed = TlogProof::parse(text.as_bytes()).expect("tlog-proof parses");
    assert_eq!(parsed.index, index);
    assert_eq!(parsed.extra.as_deref(), Some(entry.as_bytes()));
    assert_eq!(parsed.inclusion_proof, proof);
    assert_eq!(parsed.checkpoint, note);
    index
}

#[tokio::test]
async fn add_returns_a_proof_that_verifies_and_readd_is_idempotent() {
    let server = LogServer::start(&[]);
    let filename = wheel("sampleproject", "4.0.0");
    let sum = checksum("sampleproject 4.0.0");
    let first = server
        .post_add(&json!({"filename": filename, "checksum": sum}))
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["content-type"], "application/json");
    let first: Value = first.json().await.unwrap();
    let index = verify_add_response(&server, &first, &filename, &sum);
    assert_eq!(first["existing"], false);

    let again = server
        .post_add(&json!({"filename": filename, "checksum": sum}))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(verify_add_response(&server, &again, &filename, &sum), index);
    assert_eq!(again["existing"], true);
    assert_eq!(
        checkpoint(&server).await.size,
        1,
        "a re-add appends nothing"
    );

    // The lookup endpoint serves the same proof for the file.
    let lookup = client()
        .get(server.at(&format!("/lookup/pypi/{filename}")))
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), StatusCode::OK);
    let proof = TlogProof::parse(&lookup.bytes().await.unwrap()).expect("lookup proof");
    assert_eq!(proof.index, index);
    let missing = client()
        .get(server.at(&format!("/lookup/pypi/{}", wheel("absent", "1.0"))))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn add_with_publisher_is_logged_with_its_publisher_line() {
    let server = LogServer::start(&[]);
    let filename = wheel("published", "1.0");
    let sum = checksum("published");
    let issuer = "https://token.actions.githubusercontent.com";
    let subject = "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1.0";
    let body = json!({"filename": filename, "checksum": sum, "publisher": {"issuer": issuer, "subject": subject}});
    let response = server.post_add(&body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let proof = TlogProof::parse(body["proof"].as_str().unwrap().as_bytes()).unwrap();
    let expected = format!("pypi-transparency/v1\n{sum}\n{filename}\npublisher {issuer} {subject}");
    assert_eq!(proof.extra.as_deref(), Some(expected.as_bytes()));

    // Same file and checksum but no publisher is a different entry: 409.
    let response = server
        .post_add(&json!({"filename": filename, "checksum": sum}))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn conflicting_add_is_409_and_appends_nothing() {
    let server = LogServer::start(&[]);
    let filename = wheel("conflicted", "1.0");
    let original = checksum("original");
    let response = server
        .post_add(&json!({"filename": filename, "checksum": original}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let before = checkpoint(&server).await.size;

    let response = server.post_add(&entry(&filename, "evil")).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["index"], 0);
    assert_eq!(body["checksum"], original);
    assert!(
        body["error"].as_str().unwrap().contains("already logged"),
        "{body}"
    );
    // Give the sequencer a few intervals to (wrongly) publish anything.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(checkpoint(&server).await.size, before);
}

#[tokio::test]
async fn writes_need_a_valid_bearer_token() {
    let server = LogServer::start(&[]);
    let body = entry(&wheel("auth", "1.0"), "auth");
    let cases: [(&str, Option<String>); 4] = [
        ("no header", None),
        ("wrong token", Some("Bearer bintrail_0000".into())),
        ("wrong scheme", Some(format!("Basic {}", server.token()))),
        ("empty bearer", Some("Bearer ".into())),
    ];
    for path in ["/add", "/admin/bulk/append"] {
        for (case, header) in &cases {
            let mut request = client().post(server.at(path)).json(&body);
            if let Some(h) = header {
                request = request.header("Authorization", h);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path} {case}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["error"], "missing or invalid bearer token",
                "{path} {case}"
            );
        }
    }
    let token = server.token();
    assert!(
        !server.stdout_text().contains(&token),
        "token printed on stdout"
    );
    assert!(
        !server.stderr.lock().unwrap().contains(&token),
        "token in the logs"
    );
}

/// One bad request and the status and message it must get.
struct BadCase {
    name: &'static str,
    method: reqwest::Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    message: &'static str,
}

fn bad_cases() -> Vec<BadCase> {
    use reqwest::Method;
    let json = Some("application/json");
    let sum = checksum("bad");
    let case = |name, method, path, content_type, body: String, status, message| BadCase {
        name,
        method,
        path,
        content_type,
        body: body.into_bytes(),
        status,
        message,
    };
    vec![
        case(
            "invalid JSON",
            Method::POST,
            "/add",
            json,
            "{".into(),
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        case(
            "unknown field",
            Method::POST,
            "/add",
            json,
            format!(r#"{{"filename":"a-1.0.tar.gz","checksum":"{sum}","extra":1}}"#),
            StatusCode::BAD_REQUEST,
            "unknown field `extra`",
        ),
        case(
            "missing checksum",
            Method::POST,
            "/add",
            json,
            r#"{"filename":"a-1.0.tar.gz"}"#.into(),
            StatusCode::BAD_REQUEST,
            "missing field `checksum`",
        ),
        case(
            "bad filename",
            Method::POST,
            "/add",
            json,
            format!(r#"{{"filename":"../../etc/passwd","checksum":"{sum}"}}"#),
            StatusCode::BAD_REQUEST,
            "invalid filename",
        ),
        case(
            "bad checksum",
            Method::POST,
            "/add",
            json,
            r#"{"filename":"a-1.0.tar.gz","checksum":"sha256:XYZ"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid checksum",
        ),
        case(
            "bad publisher",
            Method::POST,
            "/add",
            json,
            format!(
                r#"{{"filename":"a-1.0.tar.gz","checksum":"{sum}","publisher":{{"issuer":"http://x","subject":"s"}}}}"#
            ),
            StatusCode::BAD_REQUEST,
            "invalid publisher",
        ),
        case(
            "oversized body",
            Method::POST,
            "/add",
            json,
            format!(r#"{{"filename":"{}"}}"#, "a".repeat(100_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        case(
            "form content type",
            Method::POST,
            "/add",
            Some("application/x-www-form-urlencoded"),
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ),
        case(
            "bulk without ndjson",
            Method::POST,
            "/admin/bulk/append",
            json,
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/x-ndjson",
        ),
        case(
            "bulk over the line cap",
            Method::POST,
            "/admin/bulk/append",
            Some("application/x-ndjson"),
            "{}\n{}\n{}\n{}\n".into(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "bulk append is limited to 3 entries",
        ),
        case(
            "GET /add",
            Method::GET,
            "/add",
            None,
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        case(
            "POST /checkpoint",
            Method::POST,
            "/checkpoint",
            None,
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        case(
            "unknown path",
            Method::GET,
            "/nope",
            None,
            String::new(),
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
        case(
            "non-canonical tile",
            Method::GET,
            "/tile/0/0",
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid tile path",
        ),
        case(
            "tile traversal",
            Method::GET,
            "/tile/0/..%2f..%2fetc",
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid tile path",
        ),
        case(
            "tile width 256 as partial",
            Method::GET,
            "/tile/entries/000.p/256",
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid tile path",
        ),
        case(
            "lookup of a bad filename",
            Method::GET,
            "/lookup/pypi/not-a-dist",
            None,
            String::new(),
            StatusCode::BAD_REQUEST,
            "invalid filename",
        ),
    ]
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_message() {
    let server = LogServer::start(&["--max-bulk-entries", "3"]);
    let token = server.token();
    for case in bad_cases() {
        let mut request = client()
            .request(case.method.clone(), server.at(case.path))
            .bearer_auth(&token)
            .body(case.body.clone());
        if let Some(ct) = case.content_type {
            request = request.header("Content-Type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{}", case.name);
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{}",
            case.name
        );
        let body: Value = response.json().await.unwrap();
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(case.message), "{}: {body}", case.name);
    }
    // The server is still healthy and nothing was logged.
    let health = client().get(server.at("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(checkpoint(&server).await.size, 0);
}

#[tokio::test]
async fn concurrent_conflicting_adds_log_exactly_one_entry_per_filename() {
    let server = LogServer::start(&[]);
    const FILES: usize = 20;
    const RIVALS: usize = 8;
    // One client for all 160 requests (it opens a connection per request in flight). With
    // a client per task, each built its TLS roots in turn on this one-threaded runtime
    // (~0.1 s apiece on a loaded machine) while connections already opened waited to be
    // written: the log's debug output showed them closed as "sent nothing" by its 10 s
    // first-byte bound, and their requests failed with IncompleteMessage.
    let http = client();
    let mut tasks = Vec::new();
    for f in 0..FILES {
        for r in 0..RIVALS {
            let (url, token) = (server.at("/add"), server.token());
            let filename = wheel(&format!("race{f}"), "1.0");
            let sum = checksum(&format!("{f}/{r}"));
            let http = http.clone();
            tasks.push(tokio::spawn(async move {
                let response = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"filename": filename, "checksum": sum}))
                    .send()
                    .await
                    .unwrap();
                (filename, sum, response.status())
            }));
        }
    }
    let mut winners: HashMap<String, Vec<String>> = HashMap::new();
    for task in tasks {
        let (filename, sum, status) = task.await.unwrap();
        match status {
            StatusCode::OK => winners.entry(filename).or_default().push(sum),
            StatusCode::CONFLICT => {}
            other => panic!("{filename}: unexpected {other}"),
        }
    }
    assert_eq!(winners.len(), FILES);
    for (filename, sums) in &winners {
        assert_eq!(sums.len(), 1, "{filename} won more than once: {sums:?}");
    }
    assert_eq!(checkpoint(&server).await.size, FILES as u64);
}

#[tokio::test]
async fn checkpoint_and_tiles_have_the_right_headers() {
    let server = LogServer::start(&[]);
    // 300 entries: one full level-0 tile and a partial one of 44.
    let body: String = (0..300)
        .map(|i| {
            format!(
                "{}\n",
                entry(&wheel(&format!("tiles{i}"), "1.0"), &i.to_string())
            )
        })
        .collect();
    let response = server.post_bulk(body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let _ = response.bytes().await.unwrap();
    assert_eq!(checkpoint(&server).await.size, 300);

    let get = |path: &'static str| {
        let url = server.at(path);
        async move { client().get(url).send().await.unwrap() }
    };
    let cp = get("/checkpoint").await;
    assert_eq!(cp.status(), StatusCode::OK);
    assert_eq!(cp.headers()["cache-control"], "no-cache");
    assert!(
        cp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    let immutable = "public, max-age=31536000, immutable";
    for (path, len) in [
        ("/tile/0/000", 256 * 32),
        ("/tile/0/001.p/44", 44 * 32),
        ("/tile/1/000.p/1", 32),
    ] {
        let r = get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
        assert_eq!(cache == immutable, path == "/tile/0/000", "{path}: {cache}");
        assert_eq!(r.bytes().await.unwrap().len(), len, "{path}");
    }
    let bundle = get("/tile/entries/000").await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert_eq!(bundle.headers()["cache-control"], immutable);
    let partial = get("/tile/entries/001.p/44").await;
    assert_eq!(partial.status(), StatusCode::OK);
    assert_ne!(partial.headers()["cache-control"], immutable);
    for path in [
        "/tile/0/002",
        "/tile/0/001",
        "/tile/0/001.p/45",
        "/tile/entries/001",
    ] {
        let r = get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let cache = r
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_ne!(cache.as_deref(), Some(immutable), "{path}");
    }
}

#[tokio::test]
async fn h2c_prior_knowledge_works() {
    let server = LogServer::start(&[]);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let filename = wheel("h2c", "1.0");
    let sum = checksum("h2c");
    let response = h2
        .post(server.at("/add"))
        .bearer_auth(server.token())
        .json(&json!({"filename": filename, "checksum": sum}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    verify_add_response(&server, &body, &filename, &sum);
    let cp = h2.get(server.at("/checkpoint")).send().await.unwrap();
    assert_eq!(cp.version(), reqwest::Version::HTTP_2);
    assert_eq!(cp.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_adds_and_never_show_tokens() {
    let server = LogServer::start(&[]);
    let response = server.post_add(&entry(&wheel("metered", "1.0"), "m")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = common::get_text(&server.at("/metrics")).await;
    assert!(text.contains("\nbintrail_tree_size 1\n"), "{text}");
    assert!(
        text.contains("bintrail_adds_total{outcome=\"new\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("bintrail_add_duration_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains("bintrail_http_responses_total{route=\"add\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("bintrail_checkpoint_age_seconds"), "{text}");
    assert!(!text.contains(&server.token()));
    assert!(!text.contains("first-start"), "token names are not labels");
}

/// The README's flow: add a wheel's digest with the printed token, save the
/// proof beside the file, and check it with `bintrail verify` and a policy made
/// from the log's vkey file.
#[tokio::test]
async fn readme_flow_add_then_bintrail_verify() {
    let server = LogServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let filename = wheel("readme", "1.0");
    let wheel_path = dir.path().join(&filename);
    std::fs::write(
        &wheel_path,
        b"not really a zip, but any bytes have a digest",
    )
    .unwrap();
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&wheel_path).unwrap()))
    };
    let response = server
        .post_add(&json!({"filename": filename, "checksum": format!("sha256:{digest}")}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let proof_path = dir.path().join(format!("{filename}.tlog-proof"));
    std::fs::write(&proof_path, body["proof"].as_str().unwrap()).unwrap();
    let vkey = std::fs::read_to_string(server.data.join("log.vkey")).unwrap();
    let policy = dir.path().join("log.policy");
    std::fs::write(&policy, format!("log {}\nquorum none\n", vkey.trim())).unwrap();

    let verify = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bintrail"))
            .arg("verify")
            .arg("--policy")
            .arg(&policy)
            .arg("--state")
            .arg(dir.path().join("state"))
            .arg(path)
            .output()
            .unwrap()
    };
    let out = verify(&wheel_path);
    assert!(
        out.status.success(),
        "verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The same proof does not vouch for other bytes.
    std::fs::write(&wheel_path, b"tampered").unwrap();
    assert!(!verify(&wheel_path).status.success());
}

/// The draft PEP's `/.well-known/bt/tlog-key`: the log's own key, cacheable, and the
/// verifier rebuilt from it checks the log's checkpoints.
#[tokio::test]
async fn well_known_tlog_key_is_the_logs_key() {
    let server = LogServer::start(&[]);
    let response = client()
        .get(server.at("/.well-known/bt/tlog-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
    let body = response.bytes().await.unwrap();
    let doc = bintrail_pyindex::wellknown::TlogKey::from_json(&body).unwrap();
    let verifier: Verifier = server.vkey().parse().unwrap();
    assert_eq!(doc.verifier(verifier.name()).unwrap(), verifier);
    // Only GET.
    let post = client()
        .post(server.at("/.well-known/bt/tlog-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    // And the checkpoint verifies with it.
    checkpoint(&server).await;
}
