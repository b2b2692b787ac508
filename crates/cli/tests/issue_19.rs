//! Issue 19, hostile peers: one regression test per defect, each through the real
//! `bintrail` binary on 127.0.0.1 (see RELIABILITY.md, findings H1 to H9).

mod common;

use common::{LogServer, checksum};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `POST /add` of `body` with the server's token: the status and the JSON answer.
async fn add(server: &LogServer, body: &Value) -> (StatusCode, Value) {
    let response = server.post_add(body).await;
    let status = response.status();
    (status, response.json().await.expect("JSON answer"))
}

/// `POST /admin/bulk/append` of `lines`: the result records, in order.
async fn bulk(server: &LogServer, lines: &[Value]) -> Vec<Value> {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let response = server.post_bulk(body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("bulk answer");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|r| r["type"] == "result")
        .map(|r| r["result"].clone())
        .collect()
}

/// H9: filenames with stacked extensions or an empty version segment, and publisher
/// subjects with bidirectional overrides or zero-width characters, were logged
/// forever; bulk error lines claimed `"index": 0`. Each must now be a 400 naming the
/// problem, nothing logged, and error lines carry no index.
#[tokio::test]
async fn h9_looser_than_the_formats_is_refused() {
    let server = LogServer::start(&[]);
    let sum = checksum("h9");
    for filename in [
        "x-1.0.tar.gz.zip",
        "x-1.0-py3-none-any.whl.whl",
        "x-1..0.tar.gz",
    ] {
        let (status, answer) = add(&server, &json!({"filename": filename, "checksum": sum})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filename}: {answer}");
        let error = answer["error"].as_str().expect("error message");
        assert!(error.contains("filename"), "{filename}: {error}");
    }
    for subject in [
        "repo:org/x\u{202e}gnp.exe",
        "repo:org/re\u{200b}po",
        "repo:\u{2066}org/repo",
    ] {
        let body = json!({
            "filename": "x-1.0.tar.gz",
            "checksum": sum,
            "publisher": {"issuer": "https://token.actions.githubusercontent.com", "subject": subject},
        });
        let (status, answer) = add(&server, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{subject:?}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("subject"),
            "{answer}"
        );
    }
    let results = bulk(
        &server,
        &[
            json!({"filename": "x-1.0.tar.gz.zip", "checksum": sum}),
            json!({"filename": "ok-1.0.tar.gz", "checksum": sum}),
            json!({"filename": "ok-1.0.tar.gz", "checksum": sum}),
        ],
    )
    .await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], "error", "{}", results[0]);
    assert_eq!(results[0].get("index"), None, "{}", results[0]);
    assert_eq!(results[1]["status"], "logged");
    assert_eq!(results[1]["index"], 0);
    assert_eq!(results[2]["status"], "error");
    assert_eq!(results[2].get("index"), None, "{}", results[2]);
    let (status, _) = get(&server, "/lookup/pypi/x-1.0.tar.gz").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing else logged");
}

/// A `POST /add` of a fresh wheel `name` with `token`: the status.
async fn add_with(server: &LogServer, token: &str, name: &str) -> StatusCode {
    common::post_add(
        &server.at("/add"),
        token,
        &json!({"filename": common::wheel(name, "1.0"), "checksum": checksum(name)}),
    )
    .await
    .status()
}

/// H4: with `--tokens FILE`, deleting the file or rewriting it with a byte-order mark
/// or a tab kept the old tokens accepted ("keeping the previously loaded tokens"),
/// although a restart refuses the same file. Revocation must fail closed: every
/// write refused (503, saying why) until the file is fixed, then accepted again.
#[tokio::test]
async fn h4_an_unusable_tokens_file_refuses_every_write() {
    let server = LogServer::start(&[]);
    let token = server.token();
    let tokens = server.data.join("tokens");
    let good = std::fs::read(&tokens).expect("tokens file");
    assert_eq!(add_with(&server, &token, "h4_start").await, StatusCode::OK);
    let bom = [b"\xef\xbb\xbf".as_slice(), &good].concat();
    // A tab where the name and digest are separated by a space.
    let tab: Vec<u8> = good
        .iter()
        .map(|&b| if b == b' ' { b'\t' } else { b })
        .collect();
    for (i, (case, broken)) in [
        ("byte-order mark", Some(bom)),
        ("tab", Some(tab)),
        ("deleted", None),
    ]
    .into_iter()
    .enumerate()
    {
        match broken {
            Some(bytes) => std::fs::write(&tokens, bytes).expect("rewrite tokens"),
            None => std::fs::remove_file(&tokens).expect("delete tokens"),
        }
        // An accepted token rechecks the file at most once a second (auth.rs RECHECK).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let name = common::wheel(&format!("h4_{i}"), "1.0");
        let body = json!({"filename": name, "checksum": checksum(case)});
        let response = common::post_add(&server.at("/add"), &token, &body).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{case}");
        let answer: Value = response.json().await.expect("JSON");
        assert!(
            answer["error"].as_str().unwrap().contains("tokens file"),
            "{case}: {answer}"
        );
        std::fs::write(&tokens, &good).expect("restore tokens");
        assert_eq!(
            add_with(&server, &token, &format!("h4_fixed_{i}")).await,
            StatusCode::OK,
            "{case}: the fixed file is picked up again"
        );
    }
    let stderr = server.stderr.lock().expect("stderr").clone();
    assert!(!stderr.contains(&token), "the token was logged");
    assert!(
        !stderr.contains("keeping the previously loaded tokens"),
        "{stderr}"
    );
}

/// H7: on a full disk, every failed bulk line logged its own WARN (90,003 lines,
/// 19 MB for three bulk requests), onto a disk that may be the full one. Now one
/// line opens the failure episode and one line with the count closes it.
#[tokio::test]
async fn h7_a_full_disk_logs_one_line_per_failure_episode() {
    let fs = common::SmallFs::mount("16m");
    let data = fs.path().join("data");
    let server = LogServer::start_in(&data, &["--add-timeout", "5s"]);
    assert_eq!(
        add_with(&server, &server.token(), "h7_before").await,
        StatusCode::OK
    );
    let ballast = fs.fill("ballast");
    let mut failed = 0;
    for request in 0..3 {
        let lines: Vec<Value> = (0..2000)
            .map(|i| json!({"filename": common::wheel(&format!("h7_{request}_{i}"), "1.0"), "checksum": checksum("h7")}))
            .collect();
        let results = bulk(&server, &lines).await;
        failed += results.iter().filter(|r| r["status"] == "error").count();
    }
    assert!(failed > 100, "the full disk failed only {failed} lines");
    std::fs::remove_file(&ballast).expect("free the disk");
    let mut ok = false;
    for i in 0..50 {
        if add_with(&server, &server.token(), &format!("h7_after_{i}")).await == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ok, "no add succeeded after the disk was freed");
    let stderr = server.stderr.lock().expect("stderr").clone();
    let storage_lines = stderr
        .lines()
        .filter(|l| l.contains("failed on storage") || l.contains("failing on storage"))
        .count();
    assert!(
        (1..=2).contains(&storage_lines),
        "{storage_lines} storage lines for {failed} failed adds:\n{}",
        stderr.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    let end = stderr
        .lines()
        .find(|l| l.contains("storage works again"))
        .unwrap_or_else(|| panic!("no end-of-episode line: {stderr}"));
    assert!(
        end.contains(&failed.to_string()),
        "the count of {failed}: {end}"
    );
}

/// H6: filename aliases dodged the one-digest rule: each of these got another digest
/// logged. Now the first is logged and every alias is a 409 naming the logged file,
/// in single adds and within one bulk request, and nothing else is appended.
#[tokio::test]
async fn h6_aliases_of_a_logged_file_are_refused_naming_it() {
    let server = LogServer::start(&[]);
    for (first, aliases) in [
        (
            "alias-1.0.tar.gz",
            &[
                "Alias-1.0.tar.gz",
                "ALIAS-1.0.tar.gz",
                "alias-1.0.zip",
                "alias-1.00.tar.gz",
            ][..],
        ),
        (
            "alias-1.0-py3-none-any.whl",
            &["Alias-1.0-py3-none-any.whl"][..],
        ),
    ] {
        let (status, answer) = add(
            &server,
            &json!({"filename": first, "checksum": checksum(first)}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let logged = answer["index"].clone();
        for alias in aliases {
            // Another digest, and the same digest under another spelling: both refused.
            for content in [*alias, first] {
                let (status, answer) = add(
                    &server,
                    &json!({"filename": alias, "checksum": checksum(content)}),
                )
                .await;
                assert_eq!(status, StatusCode::CONFLICT, "{alias}: {answer}");
                assert_eq!(answer["filename"], first, "{answer}");
                assert_eq!(answer["index"], logged, "{answer}");
                assert!(
                    answer["error"].as_str().unwrap().contains(first),
                    "{answer}"
                );
            }
        }
        // The same file again is still the logged entry.
        let (status, answer) = add(
            &server,
            &json!({"filename": first, "checksum": checksum(first)}),
        )
        .await;
        assert_eq!(
            (status, answer["existing"].clone()),
            (StatusCode::OK, json!(true))
        );
    }
    // Two aliases in one bulk request: the first is logged, the second refused.
    let results = bulk(
        &server,
        &[
            json!({"filename": "pair-2.0.tar.gz", "checksum": checksum("a")}),
            json!({"filename": "Pair-2.0.zip", "checksum": checksum("b")}),
        ],
    )
    .await;
    assert_eq!(results[0]["status"], "logged", "{}", results[0]);
    assert_eq!(results[1]["status"], "error", "{}", results[1]);
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("pair-2.0.tar.gz"),
        "{}",
        results[1]
    );
    let checkpoint = common::get_text(&server.at("/checkpoint")).await;
    assert_eq!(
        checkpoint.lines().nth(1),
        Some("3"),
        "three files logged: {checkpoint}"
    );
    let (status, _) = get(&server, "/lookup/pypi/Alias-1.0.tar.gz").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an alias has no proof of its own"
    );
}

/// H5: under a 1024-descriptor limit, a few hundred idle connections made adds fail
/// with a 507 "disk full or I/O error", recovery fail, and accept errors repeat. The
/// log now raises its soft limit to the hard one, serves connections only up to the
/// limit less what storage needs (the rest wait in the backlog), and answers
/// descriptor exhaustion with 503, never 507. Run under `prlimit --nofile=512:512`
/// with 600 idle connections open, an add must still be logged.
#[tokio::test]
async fn h5_idle_connections_cannot_starve_storage_of_descriptors() {
    let server = LogServer::start_wrapped(&["prlimit", "--nofile=512:512"], &[]);
    let addr = server.url.strip_prefix("http://").expect("http").to_owned();
    let mut idle = Vec::new();
    for _ in 0..600 {
        idle.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let status = add_with(&server, &server.token(), &format!("h5_{i}")).await;
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "adds beside 600 idle connections: {statuses:?}"
    );
    drop(idle);
    let stderr = server.stderr.lock().expect("stderr").clone();
    assert!(
        !stderr.contains("accept failed"),
        "{}",
        &stderr[..stderr.len().min(3000)]
    );
}

/// H8: a flipped byte in an entry bundle on disk was served with `Cache-Control:
/// immutable` for a year. Each bundle is now checked against the tree's level-0
/// hashes the first time it is served: a corrupt one is refused (JSON 500), an intact
/// one served as before, after a restart too.
#[tokio::test]
async fn h8_a_corrupted_entry_bundle_is_not_served() {
    let server = LogServer::start(&[]);
    let lines: Vec<Value> = (0..300)
        .map(|i| json!({"filename": common::wheel(&format!("h8_{i}"), "1.0"), "checksum": checksum(&i.to_string())}))
        .collect();
    let results = bulk(&server, &lines).await;
    assert!(
        results.iter().all(|r| r["status"] == "logged"),
        "{:?}",
        results.first()
    );
    let (status, stored) = {
        let r = common::client()
            .get(server.at("/tile/entries/000"))
            .send()
            .await
            .unwrap();
        (r.status(), r.bytes().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    let data = server.data.clone();
    let (exit, dir) = server.stop_keep_data();
    assert!(exit.success());
    // Flip one byte inside an entry of the full bundle, then serve it again.
    let path = data.join("tile/entries/000");
    let mut bytes = std::fs::read(&path).expect("bundle file");
    assert_eq!(bytes, stored);
    bytes[100] ^= 0x01;
    std::fs::write(&path, &bytes).expect("corrupt the bundle");
    let server = LogServer::start_in(&data, &[]);
    let response = common::client()
        .get(server.at("/tile/entries/000"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cache = response.headers().get("cache-control").cloned();
    let body = response.bytes().await.unwrap();
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "cache-control {cache:?}"
    );
    assert_ne!(body, bytes, "the corrupted bytes were served");
    assert!(
        serde_json::from_slice::<Value>(&body).is_ok(),
        "a JSON error"
    );
    // The partial bundle next to it is intact and served.
    let partial = common::client()
        .get(server.at("/tile/entries/001.p/44"))
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::OK);
    let stderr = stderr_with(&server, "tile/entries/000").await;
    assert!(
        stderr.contains("tile/entries/000"),
        "the operator is told which file: {stderr}"
    );
    drop(dir);
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// H3: cleartext HTTP/2 clients with a zero initial window asking for an entry bundle
/// on 1000 streams each made the log hold every response: +263 MB for 8 connections,
/// as long as they answered PINGs. The log now allows 64 streams per connection, hands
/// bodies over in 16 KiB chunks, charges every body waiting for a client against one
/// 64 MiB budget (a 503 beyond it), and closes a connection whose response waited
/// longer than `--send-timeout` for its client. 96 such connections (6,144 streams,
/// ~350 MB of bundles unbounded) stay within a ceiling, the budget refuses some, every
/// connection is closed, and the log then serves the bundle again.
#[tokio::test]
async fn h3_stalled_http2_readers_cannot_multiply_memory() {
    const CONNECTIONS: usize = 96;
    // Long enough that on a slow machine most connections are still open (and their
    // bodies held) when the last is made, so the budget is what bounds them.
    let server = LogServer::start(&["--send-timeout", "20s"]);
    let lines: Vec<Value> = (0..256)
        .map(|i| json!({"filename": common::wheel(&format!("h3_{i}_{}", "x".repeat(100)), "1.0"), "checksum": checksum(&i.to_string())}))
        .collect();
    let results = bulk(&server, &lines).await;
    assert!(results.iter().all(|r| r["status"] == "logged"));
    let (status, bundle) = get(&server, "/tile/entries/000").await;
    assert_eq!(status, StatusCode::OK);
    let addr = server.url.strip_prefix("http://").expect("http").to_owned();
    let before = status_kib(server.pid(), "VmRSS");
    let mut held = Held::default();
    let mut closed = Vec::new();
    let mut streams = 0;
    let started = std::time::Instant::now();
    for _ in 0..CONNECTIONS {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let (mut client, connection) = h2::client::Builder::new()
            .initial_window_size(0)
            .handshake::<_, &'static [u8]>(tcp)
            .await
            .expect("h2 handshake");
        // Driving the connection answers the server's PINGs, as a stalled reader would;
        // it ends when the server closes the connection.
        closed.push(tokio::spawn(async move {
            let _ = connection.await;
            std::time::Instant::now()
        }));
        for _ in 0..1000 {
            let Ok(Ok(ready)) = tokio::time::timeout(
                std::time::Duration::from_millis(300),
                client.clone().ready(),
            )
            .await
            else {
                break;
            };
            client = ready;
            let request = axum::http::Request::get(format!("http://{addr}/tile/entries/000"))
                .body(())
                .expect("request");
            match client.send_request(request, true) {
                Ok((response, _)) => held.push(response),
                Err(_) => break,
            }
            streams += 1;
        }
        held.push_client(client);
    }
    let opened = started.elapsed();
    // Headers are not flow-controlled: every stream learns its status.
    let (mut ok, mut busy) = (0, 0);
    let mut bodies = Vec::new();
    for response in held.responses.drain(..) {
        match tokio::time::timeout(std::time::Duration::from_secs(10), response).await {
            Ok(Ok(r)) if r.status() == StatusCode::OK => {
                ok += 1;
                bodies.push(r);
            }
            Ok(Ok(r)) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                bodies.push(r);
            }
            _ => {}
        }
    }
    let peak = status_kib(server.pid(), "VmHWM");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "h3: {streams} requests sent on {CONNECTIONS} zero-window connections in {opened:?}, {} streams opened: {ok} x 200, {busy} x 503; peak resident +{growth} KiB ({before} -> {peak}); bundle {} bytes",
        ok + busy,
        bundle.len()
    );
    assert!(
        busy > 0,
        "the budget never refused a stream ({ok} served of {streams})"
    );
    assert!(
        ok as u64 * bundle.len() as u64 >= 32 * 1024 * 1024,
        "too few bodies held to test the ceiling: {ok}"
    );
    assert!(
        growth < 112 * 1024,
        "+{growth} KiB for {} stalled streams",
        ok + busy
    );
    // Every stalled connection is closed (send timeout 20 s), which frees the budget.
    for handle in closed {
        let when = tokio::time::timeout(std::time::Duration::from_secs(120), handle)
            .await
            .expect("a stalled connection was never closed")
            .expect("connection task");
        assert!(when.duration_since(started) >= std::time::Duration::from_secs(15));
    }
    drop(bodies);
    drop(held);
    let (status, again) = get(&server, "/tile/entries/000").await;
    assert_eq!(status, StatusCode::OK, "the budget was not returned");
    assert_eq!(again, bundle);
    // /metrics shows what the bounds did, so an operator sees slow clients being refused
    // (deploy/alerts.yml's BintrailSlowClientsRefused) and cut off.
    let (status, text) = get(&server, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8_lossy(&text);
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert!(
        value("bintrail_send_budget_refusals_total") >= busy as u64,
        "{text}"
    );
    assert!(
        value("bintrail_stalled_connections_closed_total") >= CONNECTIONS as u64,
        "{text}"
    );
    assert_eq!(value("bintrail_send_budget_bytes"), 64 * 1024 * 1024);
    assert!(
        value("bintrail_send_budget_used_bytes") < 1024 * 1024,
        "{text}"
    );
    let stderr = server.stderr.lock().expect("stderr").clone();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// What a stalled client keeps: its open streams' response futures and its handles.
#[derive(Default)]
struct Held {
    responses: Vec<h2::client::ResponseFuture>,
    clients: Vec<h2::client::SendRequest<&'static [u8]>>,
}

impl Held {
    fn push(&mut self, response: h2::client::ResponseFuture) {
        self.responses.push(response);
    }

    fn push_client(&mut self, client: h2::client::SendRequest<&'static [u8]>) {
        self.clients.push(client);
    }
}

/// Writes, into the stopped log's data directory `data`, a tree holding `entries` (its
/// entry bundles and every hash tile) and both checkpoints for it, signed with the log's
/// own key: a data directory as an older bintrail could have left it. The index is left
/// as it is, so entries beyond its rows form the unindexed tail recovery rebuilds.
fn craft_tree(data: &std::path::Path, entries: &[Vec<u8>]) {
    use bintrail_tlog::bundle::encode_entry_bundle;
    use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
    use bintrail_tlog::note::Signer;
    use bintrail_tlog::tile::{TILE_WIDTH, entry_bundle_tiles, new_tiles, read_tile_data};
    use bintrail_tlog::tree::{stored_hashes, tree_hash};
    let size = entries.len() as u64;
    let mut hashes = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let new = stored_hashes(i as u64, entry, &hashes).expect("stored hashes");
        hashes.extend(new);
    }
    let write = |path: String, bytes: &[u8]| {
        let path = data.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write tile");
    };
    for tile in new_tiles(0, size) {
        write(
            tile.path(),
            &read_tile_data(&tile, &hashes).expect("tile data"),
        );
    }
    for tile in entry_bundle_tiles(0, size) {
        let first = (tile.index * TILE_WIDTH) as usize;
        let bundle = &entries[first..first + tile.width as usize];
        write(tile.path(), &encode_entry_bundle(bundle).expect("bundle"));
    }
    let key = std::fs::read_to_string(data.join("log.key")).expect("log.key");
    let signer = Signer::from_private_key(key.trim()).expect("the log's key");
    let checkpoint = Checkpoint {
        origin: signer.name().to_string(),
        size,
        root_hash: tree_hash(size, &hashes).expect("root"),
        extensions: vec![],
    };
    let note = sign_checkpoint(&checkpoint, &signer)
        .expect("sign")
        .to_bytes();
    write("sequenced-checkpoint".into(), &note);
    write("checkpoint".into(), &note);
}

/// H6's known limit: crash recovery rebuilt lost index rows from the entry bundles with
/// today's validator, so an entry logged under older, looser rules (a stacked extension,
/// a version that is not PEP 440, an alias of an earlier entry, a publisher subject with
/// a bidirectional override) in the unindexed tail stopped the log from starting. Such
/// entries are committed: recovery now indexes them as logged and the log serves on.
#[tokio::test]
async fn h6_recovery_indexes_entries_logged_under_older_rules() {
    let server = LogServer::start(&[]);
    let honest: Vec<Value> = (0..3)
        .map(|i| json!({"filename": common::wheel(&format!("hist_{i}"), "1.0"), "checksum": checksum(&format!("h{i}"))}))
        .collect();
    let results = bulk(&server, &honest).await;
    assert!(results.iter().all(|r| r["status"] == "logged"));
    let data = server.data.clone();
    let (exit, dir) = server.stop_keep_data();
    assert!(exit.success());
    let entry = |name: &str, sum: &str, publisher: Option<&str>| {
        let mut text = format!("pypi-transparency/v1\n{sum}\n{name}");
        if let Some(p) = publisher {
            text.push_str(&format!("\npublisher {p}"));
        }
        text.into_bytes()
    };
    let mut entries: Vec<Vec<u8>> = honest
        .iter()
        .map(|l| {
            entry(
                l["filename"].as_str().unwrap(),
                l["checksum"].as_str().unwrap(),
                None,
            )
        })
        .collect();
    let old = [
        ("legacy-1.0.tar.gz.zip", "a", None),
        ("legacy-1.0-py3-none-any.whl.whl", "b", None),
        ("legacy-1..0.tar.gz", "c", None),
        ("alias-1.0.tar.gz", "d", None),
        ("Alias-1.00.tar.gz", "e", None),
        (
            "spoof-1.0.tar.gz",
            "f",
            Some("https://token.actions.githubusercontent.com repo:a/b\u{202e}gnp.exe"),
        ),
    ];
    for (name, content, publisher) in old {
        entries.push(entry(name, &checksum(content), publisher));
    }
    craft_tree(&data, &entries);
    let server = match LogServer::try_start_in(&data, &[]) {
        Ok(server) => server,
        Err((status, stderr)) => {
            panic!("the log refused to start over its own history ({status}): {stderr}")
        }
    };
    // The rows were rebuilt: the logged alias is found under its own name, an alias of it
    // with another digest is refused naming it, and the log grows past its history.
    let found = common::client()
        .get(server.at("/lookup/pypi/alias-1.0.tar.gz"))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), StatusCode::OK);
    let (status, answer) = add(
        &server,
        &json!({"filename": "ALIAS-1.0.zip", "checksum": checksum("z")}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["filename"], "alias-1.0.tar.gz", "{answer}");
    let (status, answer) = add(
        &server,
        &json!({"filename": "after-1.0.tar.gz", "checksum": checksum("after")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["index"], entries.len() as u64, "{answer}");
    let stderr = server.stderr.lock().expect("stderr").clone();
    assert!(
        stderr.contains("legacy-1.0.tar.gz.zip") && stderr.contains("Alias-1.00.tar.gz"),
        "the operator is told which entries no longer pass today's rules: {stderr}"
    );
    drop(dir);
}

/// `GET path` on `server`: the status and the body.
async fn get(server: &LogServer, path: &str) -> (StatusCode, bytes::Bytes) {
    let response = common::client()
        .get(server.at(path))
        .send()
        .await
        .expect("GET");
    (response.status(), response.bytes().await.expect("body"))
}

/// The server's stderr once it holds `text` (its lines arrive through a reader thread),
/// or after 10 s.
async fn stderr_with(server: &LogServer, text: &str) -> String {
    for _ in 0..100 {
        let stderr = server.stderr.lock().expect("stderr").clone();
        if stderr.contains(text) {
            return stderr;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    server.stderr.lock().expect("stderr").clone()
}

/// Flips one bit of the file at `path`; returns its original bytes.
fn flip(path: &std::path::Path, at: usize) -> Vec<u8> {
    let original = std::fs::read(path).expect("tile on disk");
    let mut bytes = original.clone();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("corrupt the tile");
    original
}

/// H8, hash tiles: only entry bundles were checked before being served as immutable, and
/// nothing checked the newest tiles at start. A full hash tile is now checked against the
/// level above the first time it is served (an old corrupt one is refused, naming the file;
/// the bundle above it too, as its leaf hashes cannot be trusted), and the log refuses to
/// start on a corrupt newest full tile or right-edge tile, naming the file.
#[tokio::test]
async fn h8_corrupted_hash_tiles_are_not_served_and_stop_the_start() {
    let server = LogServer::start(&[]);
    let lines: Vec<Value> = (0..600)
        .map(|i| json!({"filename": common::wheel(&format!("h8t_{i}"), "1.0"), "checksum": checksum(&i.to_string())}))
        .collect();
    for chunk in lines.chunks(300) {
        let results = bulk(&server, chunk).await;
        assert!(results.iter().all(|r| r["status"] == "logged"));
    }
    // Wait for the 600 to be published.
    for _ in 0..100 {
        let (_, checkpoint) = get(&server, "/checkpoint").await;
        if String::from_utf8_lossy(&checkpoint).lines().nth(1) == Some("600") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let data = server.data.clone();
    let (exit, dir) = server.stop_keep_data();
    assert!(exit.success());

    // An old full tile (not the newest of its level): the log starts, and refuses to serve
    // it and the bundle whose leaf hashes it holds; the tile and bundle beside are served.
    let old = data.join("tile/0/000");
    let original = flip(&old, 1000);
    let server = LogServer::start_in(&data, &[]);
    let (status, body) = get(&server, "/tile/0/000").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        serde_json::from_slice::<Value>(&body).is_ok(),
        "a JSON error"
    );
    let (status, _) = get(&server, "/tile/entries/000").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    for path in ["/tile/0/001", "/tile/entries/001", "/tile/1/000.p/2"] {
        let (status, _) = get(&server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let stderr = stderr_with(&server, "tile/0/000").await;
    assert!(
        stderr.contains("tile/0/000"),
        "the operator is told which file: {stderr}"
    );
    let (exit, _) = server.stop_keep_data();
    assert!(exit.success());
    std::fs::write(&old, original).expect("restore");

    // The newest full tile, and a right-edge tile: the log does not start, and names it.
    for (file, at) in [
        ("tile/0/001", 4000),
        ("tile/1/000.p/2", 40),
        ("tile/0/002.p/88", 70),
    ] {
        let path = data.join(file);
        let original = flip(&path, at);
        match LogServer::try_start_in(&data, &[]) {
            Ok(_) => panic!("the log started over a corrupt {file}"),
            Err((status, stderr)) => {
                assert!(!status.success());
                assert!(stderr.contains(file), "{file} is not named: {stderr}");
            }
        }
        std::fs::write(&path, original).expect("restore");
    }
    // Restored, the log starts and serves every tile.
    let server = LogServer::start_in(&data, &[]);
    for path in ["/tile/0/000", "/tile/0/001", "/tile/entries/000"] {
        let (status, _) = get(&server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    drop(server);
    drop(dir);
}
