//! `bintrail backfill` and `bintrail index` end to end, in front of a real
//! `pypi-server` serving real distributions, with an independent verifier
//! (`tests/data/pep_verify.py`: Python's hashlib plus RFC 8032 and RFC 9162 written out).

mod common;

use std::process::{Command, Stdio};

use bintrail_pyindex::simple::{Format, JSON_V1, read_project_list, read_project_page};
use bintrail_tlog::pypi::Filename;
use common::index::{IndexProcess, Relay, backfill};
use common::pypi::{PypiServer, fixtures, output_text};
use common::raw::{assert_json_4xx, exchange, request};
use common::{LogServer, client};
use serde_json::{Value, json};

fn all_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.parse::<Filename>().is_ok())
        .collect();
    names.sort();
    names
}

fn token_file(log: &LogServer) -> String {
    log.data.join("publish-token").display().to_string()
}

/// `bintrail backfill --all` against `pypi` into `log`: (exit code, output).
fn backfill_all(pypi: &PypiServer, log: &LogServer) -> (i32, String) {
    let out = backfill(&[
        "--index",
        &pypi.simple(),
        "--log",
        &log.url,
        "--token-file",
        &token_file(log),
        "--all",
        "--concurrency",
        "4",
    ]);
    (out.status.code().unwrap_or(-1), output_text(&out))
}

async fn get(url: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut req = client().get(url);
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The proof URL the draft says a file's link must be.
fn proof_url(index: &IndexProcess, filename: &str) -> String {
    let f: Filename = filename.parse().unwrap();
    index.at(&format!(
        "/transparency/{}/{}/{filename}/proof",
        f.project_name(),
        f.version()
    ))
}

/// Runs the independent verifier over `items`; panics with its output on failure.
fn python_verify(items: &[Value]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pep_verify.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(items).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "independent verifier refused: {text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_then_index_serves_pages_and_proofs_an_independent_verifier_accepts() {
    let files = all_fixtures();
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let pypi = PypiServer::start(&names);
    let log = LogServer::start(&[]);

    let (code, text) = tokio::task::block_in_place(|| backfill_all(&pypi, &log));
    assert_eq!(code, 0, "{text}");
    let expected = format!(
        "{} logged, 0 already logged, 0 conflicts, 0 errors",
        files.len()
    );
    assert!(text.contains(&expected), "{text}");
    // A re-run logs nothing new.
    let (code, text) = tokio::task::block_in_place(|| backfill_all(&pypi, &log));
    assert_eq!(code, 0, "{text}");
    let again = format!("0 logged, {} already logged, 0 conflicts", files.len());
    assert!(text.contains(&again), "{text}");

    let state = tempfile::tempdir().unwrap();
    let index = IndexProcess::start(&pypi.simple(), &log.url, state.path());

    // tlog-info names the log and its key.
    let (status, _, info) = get(&index.at("/.well-known/bt/tlog-info"), None).await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    let vkey = log.vkey();
    assert!(
        vkey.ends_with(&format!("+{}", base64_of_key(&info["log_key"]))),
        "{info}"
    );
    assert_eq!(info["log_signature_algorithm"], "ed25519");

    // The project list is the upstream's, byte for byte.
    let (_, _, upstream_list) = get(&pypi.simple(), None).await;
    let (status, _, list) = get(&index.at("/simple/"), None).await;
    assert_eq!(status, 200);
    assert_eq!(list, upstream_list);
    let projects = read_project_list(list.as_bytes(), Format::Html)
        .unwrap()
        .projects;
    assert_eq!(projects.len(), 7);

    let mut items = Vec::new();
    let mut seen = 0;
    for project in &projects {
        let name = project.name.as_str();
        let (_, _, upstream) = get(&format!("{}{name}/", pypi.simple()), None).await;
        // HTML: every file carries its proof link, and without them the page is the
        // upstream's byte for byte.
        let (status, ct, html) = get(&index.at(&format!("/simple/{name}/")), None).await;
        assert_eq!(status, 200, "{html}");
        assert!(ct.starts_with("text/html"), "{ct}");
        let page = read_project_page(html.as_bytes(), Format::Html).unwrap();
        let mut stripped = html.clone();
        for file in &page.files {
            let link = proof_url(&index, &file.filename);
            assert_eq!(file.inclusion_proof.as_deref(), Some(link.as_str()));
            stripped = stripped.replace(&format!(" data-inclusion-proof=\"{link}\""), "");
        }
        assert_eq!(stripped, upstream);
        // JSON (pypiserver serves only HTML: the index translates): the same fields.
        let (status, ct, body) = get(&index.at(&format!("/simple/{name}/")), Some(JSON_V1)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ct, JSON_V1);
        let upstream_page = read_project_page(upstream.as_bytes(), Format::Html).unwrap();
        let json_page = read_project_page(body.as_bytes(), Format::Json).unwrap();
        assert_eq!(json_page.name.as_deref(), Some(name));
        assert_eq!(json_page.files.len(), upstream_page.files.len());
        for (j, u) in json_page.files.iter().zip(&upstream_page.files) {
            assert_eq!(
                (&j.filename, &j.url, &j.hashes),
                (&u.filename, &u.url, &u.hashes)
            );
            let link = proof_url(&index, &j.filename);
            assert_eq!(j.inclusion_proof.as_deref(), Some(link.as_str()));
            // The file URL works through the index.
            let (status, _, _) = get(&index.at(&j.url), None).await;
            assert_eq!(status, 200, "{}", j.url);
            // The proof link answers the draft's JSON.
            let (status, ct, answer) = get(&link, None).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(ct, "application/json");
            let answer: Value = serde_json::from_str(&answer).unwrap();
            items.push(json!({"info": info, "answer": answer, "file": pypi.file(&j.filename)}));
            seen += 1;
        }
    }
    assert_eq!(seen, files.len());
    let verdict = tokio::task::block_in_place(|| python_verify(&items));
    assert_eq!(
        verdict.lines().filter(|l| l.starts_with("ok ")).count(),
        files.len()
    );

    // A tampered answer is refused by the same verifier (it is not a rubber stamp).
    let mut bad = items[0].clone();
    bad["answer"]["entry_index"] = json!(bad["answer"]["entry_index"].as_u64().unwrap() + 1);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pep_verify.py");
    let out = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(serde_json::to_string(&vec![bad]).unwrap().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(!out.status.success());
}

/// The raw 32-byte key of tlog-info as it appears in a vkey (type byte + key, base64).
fn base64_of_key(key: &Value) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let raw = engine.decode(key.as_str().unwrap()).unwrap();
    let mut typed = vec![1u8];
    typed.extend_from_slice(&raw);
    engine.encode(typed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_swapped_after_logging_makes_backfill_fail_naming_it() {
    let pypi = PypiServer::start(&["six-1.16.0.tar.gz", "six-1.16.0-py2.py3-none-any.whl"]);
    let log = LogServer::start(&[]);
    let (code, text) = tokio::task::block_in_place(|| backfill_all(&pypi, &log));
    assert_eq!(code, 0, "{text}");
    // The registry now serves other bytes under a logged name.
    std::fs::write(pypi.file("six-1.16.0.tar.gz"), b"not the logged six").unwrap();
    let (code, text) = tokio::task::block_in_place(|| backfill_all(&pypi, &log));
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("CONFLICT six-1.16.0.tar.gz"), "{text}");
    assert!(!text.contains("CONFLICT six-1.16.0-py2"), "{text}");
    assert!(text.contains("1 already logged, 1 conflicts"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_that_forks_behind_the_index_is_refused() {
    let pypi = PypiServer::start(&[
        "six-1.16.0.tar.gz",
        "six-1.16.0-py2.py3-none-any.whl",
        "idna-3.10.tar.gz",
        "idna-3.10-py3-none-any.whl",
    ]);
    // Log A holds six; log B, under the same key and origin, holds idna then six.
    let log_a = LogServer::start(&[]);
    let dir_b = tempfile::tempdir().unwrap();
    let data_b = dir_b.path().join("data");
    std::fs::create_dir(&data_b).unwrap();
    std::fs::copy(log_a.data.join("log.key"), data_b.join("log.key")).unwrap();
    let log_b = LogServer::start_in(&data_b, &[]);
    assert_eq!(log_a.vkey(), log_b.vkey());
    let projects = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(projects.path(), "six\n").unwrap();
    let project_path = projects.path().display().to_string();
    let run = |log: &LogServer, args: &[&str]| {
        let simple = pypi.simple();
        let mut all = vec!["--index", simple.as_str(), "--log", &log.url];
        let token = token_file(log);
        all.extend(["--token-file", &token]);
        all.extend_from_slice(args);
        let out = backfill(&all);
        assert!(out.status.success(), "{}", output_text(&out));
    };
    tokio::task::block_in_place(|| {
        run(&log_a, &["--projects", &project_path]);
        run(&log_b, &["--all"]);
    });

    let relay = Relay::start(&log_a.url).await;
    let state = tempfile::tempdir().unwrap();
    let index = IndexProcess::start(&pypi.simple(), &relay.url, state.path());
    let six = proof_url(&index, "six-1.16.0-py2.py3-none-any.whl");
    assert_eq!(get(&six, None).await.0, 200);
    // The log's data is replaced by another tree under the same key.
    relay.switch(&log_b.url);
    let idna = proof_url(&index, "idna-3.10-py3-none-any.whl");
    let (status, _, body) = get(&idna, None).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("forked"), "{body}");
    // And it stays refused.
    let tar = proof_url(&index, "idna-3.10.tar.gz");
    assert_eq!(get(&tar, None).await.0, 502);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_to_every_endpoint_get_clear_4xx_json() {
    let pypi = PypiServer::start(&["six-1.16.0.tar.gz"]);
    let log = LogServer::start(&[]);
    let state = tempfile::tempdir().unwrap();
    let index = IndexProcess::start(&pypi.simple(), &log.url, state.path());
    let addr = index.addr();
    let long = format!("/transparency/six/1.16.0/{}/proof", "a".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "non-normalized project",
            request("GET", b"/simple/Six/"),
            400,
        ),
        (
            "odd project name",
            request("GET", b"/simple/six%2F..%2F/"),
            400,
        ),
        (
            "traversal in /simple/",
            request("GET", b"/simple/../etc/passwd"),
            400,
        ),
        (
            "nested project path",
            request("GET", b"/simple/six/x/"),
            400,
        ),
        ("unknown project", request("GET", b"/simple/nothere/"), 404),
        (
            "project mismatch",
            request("GET", b"/transparency/six/1.16.0/idna-3.10.tar.gz/proof"),
            400,
        ),
        (
            "version mismatch",
            request("GET", b"/transparency/six/1.17.0/six-1.16.0.tar.gz/proof"),
            400,
        ),
        (
            "non-normalized project",
            request("GET", b"/transparency/Six/1.16.0/six-1.16.0.tar.gz/proof"),
            400,
        ),
        (
            "encoded traversal",
            request(
                "GET",
                b"/transparency/six/1.16.0/..%2Fsix-1.16.0.tar.gz/proof",
            ),
            400,
        ),
        (
            "dot segment",
            request("GET", b"/transparency/six/../six-1.16.0.tar.gz/proof"),
            400,
        ),
        (
            "query string",
            request(
                "GET",
                b"/transparency/six/1.16.0/six-1.16.0.tar.gz/proof?x=1",
            ),
            400,
        ),
        (
            "no /proof",
            request("GET", b"/transparency/six/1.16.0/six-1.16.0.tar.gz"),
            400,
        ),
        (
            "not a distribution",
            request("GET", b"/transparency/six/1.16.0/six-1.16.0.exe/proof"),
            400,
        ),
        (
            "not logged",
            request("GET", b"/transparency/six/1.16.0/six-1.16.0.tar.gz/proof"),
            404,
        ),
        ("huge path", request("GET", long.as_bytes()), 414),
        ("POST", request("POST", b"/simple/"), 405),
        (
            "unknown file",
            request("GET", b"/packages/nothere-1.0.tar.gz"),
            404,
        ),
    ];
    for (case, raw, want) in cases {
        let answer = exchange(&addr, &raw).await;
        assert_json_4xx(case, &answer);
        assert_eq!(
            common::raw::status(&answer),
            want,
            "{case}: {}",
            common::raw::text(&answer)
        );
    }
}
