//! Verifiable lookups end to end (issue 16), through the real binary: a real
//! `bintrail serve` log with several projects (one with hundreds of files across entry
//! bundles), `bintrail vindex serve` following it, `bintrail lookup` for present and
//! absent projects, the index catching up with new adds, a restart after `kill -9` that
//! rebuilds the map and publishes no second root for any input size, and a tampering
//! server in front of the index whose forged or truncated answers `lookup` refuses with
//! the documented exit codes; `monitor --verify-vindex` against an honest index, a lying one and
//! `serve --vindex`; an input log that forks (the index stops, and refuses it again on restart);
//! a project with thousands of files, and names whose map keys share a long prefix (found by
//! brute force), present and absent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bintrail_tlog::bundle::parse_entry_bundle_with_width;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel};
use bintrail_tlog::vindex::MapRoot;
use common::pypi::{Daemon, output_text, run_bounded};
use common::{LogServer, checksum, wheel};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bintrail");

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

/// Appends `files` (name, version) through the bulk endpoint, expecting each logged.
fn add_files(rt: &tokio::runtime::Runtime, log: &LogServer, files: &[(String, String)]) {
    let body: String = files
        .iter()
        .map(|(n, v)| {
            let f = wheel(n, v);
            format!(
                "{}\n",
                serde_json::json!({"filename": f, "checksum": checksum(&f)})
            )
        })
        .collect();
    let text = rt.block_on(async { log.post_bulk(body).await.text().await.expect("bulk body") });
    let logged = text
        .lines()
        .filter(|l| l.contains("\"status\":\"logged\""))
        .count();
    assert_eq!(logged, files.len(), "{text}");
}

fn keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("vindex.key");
    let vkey = dir.join("vindex.vkey");
    let out = run_bounded(
        Path::new(BIN),
        &[
            "keygen",
            "--origin",
            "vindex.example/test",
            "--private-key",
            key.to_str().unwrap(),
            "--public-key",
            vkey.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let vkey = std::fs::read_to_string(vkey).unwrap().trim().to_owned();
    (key, vkey)
}

/// Writes a policy trusting each of `vkeys` and no witness to `path`, and returns it.
fn write_policy(path: PathBuf, vkeys: &[&str]) -> PathBuf {
    let logs: String = vkeys.iter().map(|k| format!("log {k}\n")).collect();
    std::fs::write(&path, format!("{logs}quorum none\n")).unwrap();
    path
}

/// An index's private key (`keygen` in `dir`) and two policies in `dir`: `input.policy`,
/// the input log of `log_vkey` alone (what the index follows), and `both.policy`, the input
/// log and the index (what a lookup needs).
fn index_setup(dir: &Path, log_vkey: &str) -> (PathBuf, PathBuf, PathBuf) {
    let input = write_policy(dir.join("input.policy"), &[log_vkey]);
    let (key, vkey) = keygen(dir);
    let both = write_policy(dir.join("both.policy"), &[log_vkey, &vkey]);
    (key, input, both)
}

/// `vindex serve` following `log` (a URL) with `policy`, on `data` with `key`, on a free
/// port, polling every 200 ms; then `extra`.
fn start_vindex_with(log: &str, policy: &Path, data: &Path, key: &Path, extra: &[&str]) -> Daemon {
    let mut args = vec![
        "vindex",
        "serve",
        "--log",
        log,
        "--policy",
        policy.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--private-key",
        key.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "200ms",
    ];
    args.extend(extra);
    Daemon::start(&args)
}

fn start_vindex(log: &LogServer, policy: &Path, data: &Path, key: &Path) -> Daemon {
    start_vindex_with(
        &log.url,
        policy,
        data,
        key,
        &["--checkpoint-interval", "100ms"],
    )
}

/// The index at `url`'s JSON answer (v1) for a lookup of `project`.
fn fetch_lookup(rt: &tokio::runtime::Runtime, url: &str, project: &str) -> Value {
    fetch_lookup_version(rt, url, "v1", project)
}

/// The index at `url`'s JSON answer for a lookup of `project`, in `version` (`v1`, `v2`).
fn fetch_lookup_version(
    rt: &tokio::runtime::Runtime,
    url: &str,
    version: &str,
    project: &str,
) -> Value {
    rt.block_on(async {
        common::client()
            .get(format!("{url}/vindex/{version}/lookup/{project}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Waits (bounded) until process `pid` has exited; `what` says what kept running.
fn wait_exited(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !exited(pid) {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lookup(vindex: &str, policy: &Path, project: &str, json: bool) -> Output {
    let mut args = vec![
        "lookup",
        "--vindex",
        vindex,
        "--policy",
        policy.to_str().unwrap(),
        project,
    ];
    if json {
        args.push("--json");
    }
    run_bounded(Path::new(BIN), &args, &[], Duration::from_secs(60))
}

/// Runs `lookup --json` until the verified input size is `size` (bounded), and returns
/// the last document.
fn lookup_at(vindex: &str, policy: &Path, project: &str, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = lookup(vindex, policy, project, true);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if doc["input"]["size"] == size {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "the index did not reach input size {size}: {}",
            output_text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn filenames(doc: &Value) -> Vec<String> {
    doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect()
}

fn versions(name: &str, range: std::ops::Range<u32>) -> Vec<(String, String)> {
    range.map(|v| (name.to_owned(), format!("{v}.0"))).collect()
}

/// Every map-root leaf of the output log at `url`, read through its tiles.
fn output_leaves(rt: &tokio::runtime::Runtime, url: &str) -> Vec<MapRoot> {
    rt.block_on(async {
        let c = common::client();
        let note = c.get(format!("{url}/checkpoint")).send().await.unwrap();
        let note = note.text().await.unwrap();
        let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
        let mut out = Vec::new();
        for n in 0..size.div_ceil(TILE_WIDTH) {
            let width = (size - n * TILE_WIDTH).min(TILE_WIDTH);
            let tile = Tile::new(TileLevel::Entries, n, width).unwrap();
            let data = c
                .get(format!("{url}/{}", tile.path()))
                .send()
                .await
                .unwrap();
            assert_eq!(data.status(), 200);
            let data = data.bytes().await.unwrap();
            for e in parse_entry_bundle_with_width(&data, width).unwrap() {
                out.push(MapRoot::parse(e).unwrap());
            }
        }
        out
    })
}

#[test]
fn lookups_prove_every_file_and_survive_a_restart() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = LogServer::start(&[]);
    let mut files = versions("many", 0..300);
    files.extend(versions("Alpha_Pkg", 0..2));
    files.extend(versions("beta", 0..1));
    // Interleave, so a project's indices are not contiguous.
    files.swap(5, 300);
    add_files(&rt, &log, &files);
    let (key, input_policy, both) = index_setup(dir.path(), &log.vkey());
    let data = dir.path().join("vindex");
    let vindex = start_vindex(&log, &input_policy, &data, &key);

    // A project with 300 files across two entry bundles: every one, in log order.
    let doc = lookup_at(&vindex.url, &both, "many", 303);
    assert_eq!(doc["present"], true);
    let names = filenames(&doc);
    assert_eq!(names.len(), 300);
    for v in 0..300 {
        assert!(names.contains(&wheel("many", &format!("{v}.0"))), "{v}");
    }
    let first = &doc["files"][0];
    assert_eq!(first["digest"], checksum(&wheel("many", "0.0")));
    assert_eq!(first["index"], 0);

    // Both answer formats list the same entries; v2's one proof for all of them is far
    // smaller than v1's 300 audit paths.
    let v1 = fetch_lookup_version(&rt, &vindex.url, "v1", "many");
    let v2 = fetch_lookup_version(&rt, &vindex.url, "v2", "many");
    assert_eq!(v1["version"], "bintrail-vindex-lookup/v1");
    assert_eq!(v2["version"], "bintrail-vindex-lookup/v2");
    let listed = |a: &Value| -> Vec<(u64, String)> {
        a["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["index"].as_u64().unwrap(),
                    e["entry"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(listed(&v1), listed(&v2));
    assert_eq!(listed(&v2).len(), 300);
    let v1_hashes: usize = v1["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["proof"].as_array().unwrap().len())
        .sum();
    let v2_hashes = v2["entries_proof"].as_array().unwrap().len();
    assert!(
        v2_hashes > 0 && v2_hashes * 10 < v1_hashes,
        "{v2_hashes} vs {v1_hashes}"
    );

    // Another spelling of a name; the text output lists filename, digest, publisher, index.
    let out = lookup(&vindex.url, &both, "alpha.pkg", false);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{}\t{}\t-\t",
            wheel("Alpha_Pkg", "0.0"),
            checksum(&wheel("Alpha_Pkg", "0.0"))
        )),
        "{text}"
    );
    assert!(text.contains("alpha-pkg: 2 files, complete"), "{text}");

    // Absent: verified non-inclusion, exit 3.
    let out = lookup(&vindex.url, &both, "never-logged", false);
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    assert!(output_text(&out).contains("never-logged: not logged (verified absent"));

    // The index's own key alone cannot vouch for the input log, nor can an unknown one.
    let only_input = lookup(&vindex.url, &input_policy, "many", false);
    assert_eq!(
        only_input.status.code(),
        Some(6),
        "{}",
        output_text(&only_input)
    );

    // Adds continue; the index catches up.
    add_files(&rt, &log, &versions("Alpha_Pkg", 2..3));
    let doc = lookup_at(&vindex.url, &both, "alpha-pkg", 304);
    assert_eq!(filenames(&doc).len(), 3);

    // kill -9, more adds, restart: the map is rebuilt and matches what was published.
    drop(vindex);
    add_files(&rt, &log, &versions("beta", 1..3));
    let vindex = start_vindex(&log, &input_policy, &data, &key);
    let doc = lookup_at(&vindex.url, &both, "beta", 306);
    assert_eq!(filenames(&doc).len(), 3);
    assert!(
        vindex
            .stderr_text()
            .contains("map rebuilt; it matches the published root"),
        "{}",
        vindex.stderr_text()
    );
    // No input size ever got two roots: the output log's leaves strictly increase.
    let leaves = output_leaves(&rt, &vindex.url);
    let sizes: Vec<u64> = leaves.iter().map(|l| l.checkpoint.size).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert_eq!(sizes.last(), Some(&306));
    assert!(
        leaves
            .iter()
            .all(|l| l.identifier() == l.checkpoint.size.to_string())
    );

    // Bad input to the index: 4xx JSON, never a crash.
    rt.block_on(async {
        let c = common::client();
        for version in ["v1", "v2"] {
            for path in ["-bad", "a%20b", &"a".repeat(300), "..", "a/b"] {
                let r = c
                    .get(format!("{}/vindex/{version}/lookup/{path}", vindex.url))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                assert!((400..500).contains(&status), "{version} {path}: {status}");
            }
        }
        let r = c
            .get(format!("{}/tile/0/x001", vindex.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = c
            .get(format!("{}/vindex/v1/lookup/-bad", vindex.url))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string());
    });
}

/// A server answering every lookup with `body`, at the paths of `versions` (`v1`,
/// `v2`); the other paths are 404.
async fn tampering_server(body: Arc<Mutex<Vec<u8>>>, versions: &[&str]) -> String {
    use axum::routing::get;
    let mut app = axum::Router::new();
    for version in versions {
        let body = body.clone();
        app = app.route(
            &format!("/vindex/{version}/lookup/{{p}}"),
            get(move || {
                let body = body.clone();
                async move { body.lock().unwrap().clone() }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[test]
fn forged_and_truncated_answers_are_refused() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = LogServer::start(&[]);
    let mut files = versions("target", 0..4);
    files.extend(versions("other", 0..3));
    add_files(&rt, &log, &files);
    let (key, input_policy, both) = index_setup(dir.path(), &log.vkey());
    let vindex = start_vindex(&log, &input_policy, &dir.path().join("v"), &key);
    lookup_at(&vindex.url, &both, "target", 7);
    let fetch = |p: &str| fetch_lookup(&rt, &vindex.url, p);
    let genuine = fetch("target");
    let absent = fetch("nothing-here");
    let genuine_v2 = fetch_lookup_version(&rt, &vindex.url, "v2", "target");
    let body = Arc::new(Mutex::new(Vec::new()));
    let url = rt.block_on(tampering_server(body.clone(), &["v1", "v2"]));
    let flip = |note: &str| -> String {
        // Change the first base64 character of the root hash line (still a valid hash).
        let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
        let first = if lines[2].starts_with('A') { "B" } else { "A" };
        lines[2].replace_range(0..1, first);
        lines.join("\n")
    };
    let mut cases: Vec<(&str, Value, &str, i32)> = Vec::new();
    let mut omitted = genuine.clone();
    omitted["entries"].as_array_mut().unwrap().remove(1);
    cases.push(("one entry omitted", omitted, "target", 16));
    let mut reordered = genuine.clone();
    reordered["entries"].as_array_mut().unwrap().swap(0, 1);
    cases.push(("entries reordered", reordered, "target", 16));
    let mut added = genuine.clone();
    let extra = fetch("other")["entries"][0].clone();
    added["entries"].as_array_mut().unwrap().push(extra);
    cases.push(("an entry of another project added", added, "target", 16));
    let mut hidden = absent.clone();
    hidden["project"] = "target".into();
    cases.push(("present project claimed absent", hidden, "target", 15));
    let mut truncated = genuine.clone();
    let proof = truncated["map_proof"].as_str().unwrap().to_owned();
    let cut = proof.trim_end_matches('\n').rsplit_once('\n').unwrap().0;
    truncated["map_proof"] = format!("{cut}\n").into();
    cases.push(("map proof truncated", truncated, "target", 15));
    let mut forged = genuine.clone();
    forged["map_proof"] = proof.replacen("present ", "present X", 1).into();
    cases.push(("map proof unparsable", forged, "target", 2));
    let mut leaf = genuine.clone();
    leaf["leaf_index"] = 5.into();
    cases.push(("map root not in the output log", leaf, "target", 9));
    let mut entry_proof = genuine.clone();
    let first = entry_proof["entries"][0]["entry"]
        .as_str()
        .unwrap()
        .to_owned();
    entry_proof["entries"][0]["entry"] = first.replace("target-0.0", "target-9.0").into();
    cases.push(("entry altered", entry_proof, "target", 9));
    let mut sig = genuine.clone();
    sig["checkpoint"] = flip(genuine["checkpoint"].as_str().unwrap()).into();
    cases.push(("output checkpoint altered", sig, "target", 7));
    // v2: the same lies, and lies in the one proof of all entries.
    cases.push(("v2 genuine", genuine_v2.clone(), "target", 0));
    let mut omitted = genuine_v2.clone();
    omitted["entries"].as_array_mut().unwrap().remove(1);
    cases.push(("v2 one entry omitted", omitted, "target", 16));
    let mut reordered = genuine_v2.clone();
    reordered["entries"].as_array_mut().unwrap().swap(0, 1);
    cases.push(("v2 entries reordered", reordered, "target", 16));
    let mut added = genuine_v2.clone();
    let mut extra = fetch("other")["entries"][0].clone();
    extra.as_object_mut().unwrap().remove("proof");
    added["entries"].as_array_mut().unwrap().push(extra);
    cases.push(("v2 an entry of another project added", added, "target", 16));
    let mut altered = genuine_v2.clone();
    let first = altered["entries"][0]["entry"].as_str().unwrap().to_owned();
    altered["entries"][0]["entry"] = first.replace("target-0.0", "target-9.0").into();
    cases.push(("v2 entry altered", altered, "target", 9));
    let mut short = genuine_v2.clone();
    short["entries_proof"].as_array_mut().unwrap().pop();
    cases.push(("v2 entries proof truncated", short, "target", 9));
    let mut changed = genuine_v2.clone();
    changed["entries_proof"][0] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    assert_ne!(changed, genuine_v2);
    cases.push(("v2 entries proof hash changed", changed, "target", 9));
    let mut mixed = genuine_v2.clone();
    mixed["entries"][0]["proof"] = genuine["entries"][0]["proof"].clone();
    cases.push(("v2 answer with a v1 entry proof", mixed, "target", 2));
    for (what, answer, project, code) in cases {
        *body.lock().unwrap() = serde_json::to_vec(&answer).unwrap();
        let out = lookup(&url, &both, project, false);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{what}: {}",
            output_text(&out)
        );
    }
    // A truncated answer and garbage: unusable input, never a crash.
    let text = serde_json::to_vec(&genuine).unwrap();
    for bad in [text[..text.len() / 2].to_vec(), b"\xff\x00".to_vec()] {
        *body.lock().unwrap() = bad;
        let out = lookup(&url, &both, "target", false);
        assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    }
    // An index from before v2 (404 there) is asked for v1.
    let old = rt.block_on(tampering_server(body.clone(), &["v1"]));
    *body.lock().unwrap() = text;
    let out = lookup(&old, &both, "target", false);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("target: 4 files, complete"),
        "{}",
        output_text(&out)
    );
}

/// Runs `bintrail monitor --once --verify-vindex` and returns its exit code, the kinds of
/// its findings and its stderr.
fn audit(log: &LogServer, vindex: &str, policy: &Path, state: &Path) -> (i32, Vec<String>, String) {
    let out = run_bounded(
        Path::new(BIN),
        &[
            "monitor",
            "--once",
            "--log",
            &log.url,
            "--policy",
            policy.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--verify-vindex",
            vindex,
        ],
        &[],
        Duration::from_secs(120),
    );
    let kinds = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|f| f["kind"].as_str().unwrap_or("?").to_owned())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        kinds,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The input log's entries, read through its entry bundles: `(index, project)`.
fn input_projects(rt: &tokio::runtime::Runtime, log: &LogServer, size: u64) -> Vec<(u64, String)> {
    use bintrail_tlog::pypi::Entry;
    rt.block_on(async {
        let tile = Tile::new(TileLevel::Entries, 0, size).unwrap();
        let data = common::get_bytes(&log.at(&format!("/{}", tile.path()))).await;
        parse_entry_bundle_with_width(&data, size)
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64, Entry::parse(e).unwrap().project()))
            .collect()
    })
}

/// An index that lies: a real output log (`bintrail_log::Log<MapRoot>`) holding one leaf
/// whose map is computed from `lists` (project -> indices) rather than from the log,
/// served as tlog-tiles. Returns its URL and vkey.
fn lying_index(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    input_note: &[u8],
    lists: &[(String, Vec<u64>)],
    seed: u8,
) -> (String, String) {
    use axum::extract::{Path as UrlPath, State};
    use axum::routing::get;
    use bintrail_log::storage::LocalStorage;
    use bintrail_log::{Log, LogOptions, NoWitness};
    use bintrail_tlog::map::{Map, MapKey, value_for_indices};
    use bintrail_tlog::note::{KeyType, Signer};
    let mut map = Map::new();
    for (project, indices) in lists {
        map.insert(MapKey::for_project(project), value_for_indices(indices));
    }
    let leaf = MapRoot::new(map.root(), input_note).unwrap();
    let signer = Signer::generate("liar.example/idx", KeyType::Ed25519, [seed; 32]).unwrap();
    let vkey = signer.verifier().to_string();
    let data = dir.join(format!("liar-{seed}"));
    let log: Log<MapRoot> = rt.block_on(async {
        let storage = LocalStorage::open(&data).unwrap();
        let opts = LogOptions {
            data_dir: data.clone(),
            signer,
            checkpoint_interval: Duration::from_millis(50),
            max_batch_entries: 16,
            max_pending_entries: 16,
            add_timeout: Duration::from_secs(10),
        };
        let log = Log::<MapRoot>::open_with(opts, Arc::new(storage), NoWitness)
            .await
            .unwrap();
        log.add(leaf).await.unwrap();
        log
    });
    let app = axum::Router::new()
        .route(
            "/checkpoint",
            get(|State(log): State<Log<MapRoot>>| async move { log.checkpoint() }),
        )
        .route(
            "/tile/{*path}",
            get(
                |State(log): State<Log<MapRoot>>, UrlPath(path): UrlPath<String>| async move {
                    let tile = Tile::from_path(&format!("tile/{path}")).unwrap();
                    match log.read_tile(&tile).await.unwrap() {
                        Some(d) => Ok(d),
                        None => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                },
            ),
        )
        .with_state(log);
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    (url, vkey)
}

#[test]
fn monitor_recomputes_the_map_and_catches_a_lying_index() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = LogServer::start(&[]);
    let mut files = versions("alpha", 0..3);
    files.extend(versions("beta", 0..2));
    files.extend(versions("gamma", 0..1));
    files.swap(1, 3);
    add_files(&rt, &log, &files);

    // The honest index passes the audit.
    let (key, input_policy, both) = index_setup(dir.path(), &log.vkey());
    let honest = start_vindex(&log, &input_policy, &dir.path().join("v"), &key);
    lookup_at(&honest.url, &both, "alpha", 6);
    let (code, kinds, stderr) = audit(&log, &honest.url, &both, &dir.path().join("s0"));
    assert_eq!(code, 0, "{kinds:?} {stderr}");
    assert!(
        stderr.contains("index audit: map roots 0..1 checked, input replayed to 6"),
        "{stderr}"
    );

    // Indices per project, as the log holds them.
    let mut lists: Vec<(String, Vec<u64>)> = Vec::new();
    for (i, project) in input_projects(&rt, &log, 6) {
        match lists.iter_mut().find(|(p, _)| *p == project) {
            Some((_, v)) => v.push(i),
            None => lists.push((project, vec![i])),
        }
    }
    let note = rt.block_on(async { common::get_bytes(&log.at("/checkpoint")).await });
    let alpha = lists.iter().position(|(p, _)| p == "alpha").unwrap();
    let beta = lists.iter().position(|(p, _)| p == "beta").unwrap();
    let mut omitted = lists.clone();
    omitted[alpha].1.pop();
    let mut reordered = lists.clone();
    reordered[alpha].1.swap(0, 1);
    let mut invented = lists.clone();
    let extra = invented[beta].1[0];
    invented[alpha].1.push(extra);
    invented[alpha].1.sort();
    let mut hidden = lists.clone();
    hidden.remove(beta);
    let cases = [
        ("the truth, served by a second index", lists.clone(), 0),
        ("an entry omitted", omitted, 1),
        ("entries reordered", reordered, 1),
        ("an entry invented", invented, 1),
        ("a project hidden", hidden, 1),
    ];
    for (seed, (what, lists, want)) in cases.into_iter().enumerate() {
        let (url, liar) = lying_index(&rt, dir.path(), &note, &lists, seed as u8 + 1);
        let policy = write_policy(
            dir.path().join(format!("liar-{seed}.policy")),
            &[&log.vkey(), &liar],
        );
        let state = dir.path().join(format!("state-{seed}"));
        let (code, kinds, stderr) = audit(&log, &url, &policy, &state);
        assert_eq!(code, want, "{what}: {kinds:?} {stderr}");
        if want == 1 {
            assert_eq!(kinds, vec!["vindex_mismatch"], "{what}: {stderr}");
        }
    }
}

#[test]
fn serve_with_vindex_offers_lookups_of_its_own_log() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = LogServer::start(&["--vindex"]);
    let line = log
        .stdout_line("bintrail: vindex at ")
        .expect("vindex line");
    let (url, vkey) = line.split_once(", vkey ").unwrap();
    assert_eq!(url, format!("{}/vindex", log.url));
    add_files(&rt, &log, &versions("mine", 0..3));
    let both = write_policy(dir.path().join("both.policy"), &[&log.vkey(), vkey]);
    let doc = lookup_at(url, &both, "mine", 3);
    assert_eq!(filenames(&doc).len(), 3);
    // `bintrail loadgen --scenario vindex-lookup` against it (under the /vindex path):
    // every lookup answered, present and absent names alike.
    let names = dir.path().join("names");
    std::fs::write(&names, "mine\nMine\nnever-logged\n").unwrap();
    let out = run_bounded(
        Path::new(BIN),
        &[
            "loadgen",
            "--url",
            url,
            "--scenario",
            "vindex-lookup",
            "--projects",
            names.to_str().unwrap(),
            "--concurrency",
            "4",
            "--max-requests",
            "40",
            "--json",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["successes"], 40, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    // The in-process index passes the monitor's audit, and its key lives in the data dir.
    let (code, kinds, stderr) = audit(&log, url, &both, &dir.path().join("s"));
    assert_eq!(code, 0, "{kinds:?} {stderr}");
    let stored = std::fs::read_to_string(log.data.join("vindex/vindex.vkey")).unwrap();
    assert_eq!(stored.trim(), vkey);
}

/// Whether process `pid` has exited (gone or a zombie not yet reaped).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |s| {
        s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

#[test]
fn an_input_log_fork_stops_the_index() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let first = LogServer::start(&[]);
    add_files(&rt, &first, &versions("a", 0..2));
    let relay = rt.block_on(common::index::Relay::start(&first.url));
    let (key, input_policy, both) = index_setup(dir.path(), &first.vkey());
    let data = dir.path().join("v");
    let start = || start_vindex_with(&relay.url, &input_policy, &data, &key, &[]);
    let vindex = start();
    lookup_at(&vindex.url, &both, "a", 2);

    // The same key signs another history: the index refuses it and stops.
    let second = LogServer::start_in(
        &dir.path().join("second"),
        &[
            "--private-key",
            first.data.join("log.key").to_str().unwrap(),
        ],
    );
    add_files(&rt, &second, &versions("b", 0..3));
    relay.switch(&second.url);
    wait_exited(vindex.pid(), "the index kept running on a fork");
    assert!(
        vindex.stderr_text().contains("forked"),
        "{}",
        vindex.stderr_text()
    );
    // Started again on the same data, it refuses the fork again and publishes nothing for it.
    let again = start();
    wait_exited(again.pid(), "the restarted index accepted a fork");
    assert!(
        again.stderr_text().contains("forked"),
        "{}",
        again.stderr_text()
    );
}

#[test]
fn kill_9_while_following_steady_adds_never_publishes_two_roots_for_one_size() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = LogServer::start(&["--checkpoint-interval", "50ms"]);
    let (key, input_policy, both) = index_setup(dir.path(), &log.vkey());
    let data = dir.path().join("v");
    let mut added = 0u32;
    for round in 0..4 {
        let vindex = start_vindex(&log, &input_policy, &data, &key);
        // Adds land while the index follows; it is killed at a different point each round.
        for _ in 0..3 {
            add_files(&rt, &log, &versions("steady", added..added + 40));
            added += 40;
            std::thread::sleep(Duration::from_millis(70 * (round + 1)));
        }
        drop(vindex); // SIGKILL
    }
    let vindex = start_vindex(&log, &input_policy, &data, &key);
    let doc = lookup_at(&vindex.url, &both, "steady", u64::from(added));
    assert_eq!(filenames(&doc).len(), added as usize);
    let leaves = output_leaves(&rt, &vindex.url);
    let sizes: Vec<u64> = leaves.iter().map(|l| l.checkpoint.size).collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(sizes.len() >= 2, "{sizes:?}");
}

/// Two project names whose map keys share at least their first `bits` bits (`bits` ≤ 32),
/// found by a birthday search over `collide<i>`: about 2^(bits/2) names.
fn names_sharing_a_prefix(bits: u32) -> (String, String) {
    use bintrail_tlog::map::MapKey;
    let mut seen = std::collections::HashMap::new();
    for i in 0u64.. {
        let name = format!("collide{i}");
        let key = MapKey::for_project(&name);
        let top = u32::from_be_bytes([key.0[0], key.0[1], key.0[2], key.0[3]]) >> (32 - bits);
        if let Some(other) = seen.insert(top, name.clone()) {
            return (other, name);
        }
    }
    unreachable!("the search ends long before u64 runs out")
}

/// The number of sibling lines in a `bintrail-map-proof/v1` text (after the header and
/// the terminal line).
fn map_proof_depth(answer: &Value) -> usize {
    answer["map_proof"].as_str().unwrap().lines().count() - 2
}

#[test]
fn thousands_of_files_and_keys_sharing_a_long_prefix() {
    use bintrail_tlog::map::MapKey;
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = LogServer::start(&[]);
    // Two names whose keys share 24 bits (a random pair shares about 1), and a third,
    // never logged, sharing at least 16 bits with them.
    let (a, b) = names_sharing_a_prefix(24);
    let ka = MapKey::for_project(&a);
    assert!(ka.common_prefix(&MapKey::for_project(&b)) >= 24);
    let c = (0u64..)
        .map(|i| format!("nearby{i}"))
        .find(|n| MapKey::for_project(n).common_prefix(&ka) >= 16)
        .unwrap();
    // A project with 3,000 files (12 entry bundles), the two neighbours interleaved in it.
    let huge = versions("huge", 0..3000);
    add_files(&rt, &log, &huge[..1500]);
    add_files(&rt, &log, &versions(&a, 0..2));
    add_files(&rt, &log, &huge[1500..]);
    add_files(&rt, &log, &versions(&b, 0..3));
    let size = 3005;
    let (key, input_policy, both) = index_setup(dir.path(), &log.vkey());
    let vindex = start_vindex(&log, &input_policy, &dir.path().join("v"), &key);

    // Every one of the 3,000 files, in log order, verified.
    let doc = lookup_at(&vindex.url, &both, "huge", size);
    assert_eq!(doc["present"], true);
    let names = filenames(&doc);
    let want: Vec<String> = huge.iter().map(|(n, v)| wheel(n, v)).collect();
    assert_eq!(names, want);
    let indices: Vec<u64> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices[1499..1501], [1499, 1502]);

    // The neighbours: each gets its own files only, through a proof at least 24 deep.
    let fetch = |p: &str| fetch_lookup(&rt, &vindex.url, p);
    for (name, files) in [(&a, 2), (&b, 3)] {
        let doc = lookup_at(&vindex.url, &both, name, size);
        let want: Vec<String> = versions(name, 0..files)
            .iter()
            .map(|(n, v)| wheel(n, v))
            .collect();
        assert_eq!(filenames(&doc), want, "{name}");
        let answer = fetch(name);
        assert!(map_proof_depth(&answer) >= 24, "{name}: {answer}");
    }
    // The third name's path runs down the shared prefix and ends beside them: absent,
    // verified, exit 3.
    let out = lookup(&vindex.url, &both, &c, false);
    assert_eq!(out.status.code(), Some(3), "{c}: {}", output_text(&out));
    assert!(output_text(&out).contains("not logged (verified absent"));
    let answer = fetch(&c);
    assert!(map_proof_depth(&answer) >= 16, "{c}: {answer}");
    assert!(answer["entries"].as_array().unwrap().is_empty());
}

/// Whether the signed note `note` carries a signature line by key name `name`.
fn signed_by(note: &str, name: &str) -> bool {
    note.lines()
        .any(|l| l.starts_with(&format!("\u{2014} {name} ")))
}

#[test]
fn the_index_log_is_witnessed_standalone_and_in_process() {
    use common::witnesses::WitnessNode;
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = |url: &str| -> String {
        rt.block_on(async { common::get_text(&format!("{url}/checkpoint")).await })
    };

    // `vindex serve --witness-policy`: each checkpoint of the index's log is cosigned.
    let log = LogServer::start(&[]);
    add_files(&rt, &log, &versions("seen", 0..2));
    let (key, input_policy, both) = index_setup(dir.path(), &log.vkey());
    let wdir = dir.path().join("w-standalone");
    std::fs::create_dir_all(&wdir).unwrap();
    let witness = WitnessNode::new(&wdir, 1, &dir.path().join("vindex.vkey"));
    let wpolicy = dir.path().join("witness.policy");
    std::fs::write(&wpolicy, witness.policy()).unwrap();
    let vindex = start_vindex_with(
        &log.url,
        &input_policy,
        &dir.path().join("v"),
        &key,
        &["--witness-policy", wpolicy.to_str().unwrap()],
    );
    let doc = lookup_at(&vindex.url, &both, "seen", 2);
    assert_eq!(filenames(&doc).len(), 2);
    let note = checkpoint(&vindex.url);
    assert!(signed_by(&note, "witness.example/w1"), "{note}");

    // `serve --vindex --vindex-witness-policy`: the same for the in-process index, whose
    // key is the one found in <data>/vindex (made beforehand so the witness knows it).
    let data = dir.path().join("inproc");
    let vdir = data.join("vindex");
    std::fs::create_dir_all(&vdir).unwrap();
    // keygen writes <dir>/vindex.key and vindex.vkey, where serve --vindex looks.
    let (_, own_vkey) = keygen(&vdir);
    let wdir = dir.path().join("w-inproc");
    std::fs::create_dir_all(&wdir).unwrap();
    let witness2 = WitnessNode::new(&wdir, 2, &vdir.join("vindex.vkey"));
    let wpolicy2 = dir.path().join("witness2.policy");
    std::fs::write(&wpolicy2, witness2.policy()).unwrap();
    let served = LogServer::start_in(
        &data,
        &[
            "--vindex",
            "--vindex-witness-policy",
            wpolicy2.to_str().unwrap(),
        ],
    );
    let line = served
        .stdout_line("bintrail: vindex at ")
        .expect("vindex line");
    let (url, printed) = line.split_once(", vkey ").unwrap();
    assert_eq!(printed, own_vkey);
    add_files(&rt, &served, &versions("mine", 0..3));
    let both2 = write_policy(
        dir.path().join("both2.policy"),
        &[&served.vkey(), &own_vkey],
    );
    let doc = lookup_at(url, &both2, "mine", 3);
    assert_eq!(filenames(&doc).len(), 3);
    let note = checkpoint(url);
    assert!(signed_by(&note, "witness.example/w2"), "{note}");
    drop(witness);
    drop(witness2);
}

#[test]
fn serve_with_vindex_refuses_tls_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_bounded(
        Path::new(BIN),
        &[
            "serve",
            "--vindex",
            "--data",
            dir.path().join("d").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            dir.path().join("cert.pem").to_str().unwrap(),
            "--tls-key",
            dir.path().join("key.pem").to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("--vindex cannot run with --tls-cert"),
        "{}",
        output_text(&out)
    );
    // --vindex-witness-policy means nothing without --vindex.
    let out = run_bounded(
        Path::new(BIN),
        &["serve", "--vindex-witness-policy", "p"],
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
}
