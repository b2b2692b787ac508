//! Issue 15, item 4: `bintrail migrate` through the real binary.
//!
//! - a log from the first README command (`bintrail serve` on a local data directory, with
//!   entries added) moves onto a real Garage and PostgreSQL; `serve` on them with the same
//!   key serves the same checkpoint, finds the migrated entries in the rebuilt uniqueness
//!   index and takes adds, and Go's golang.org/x/mod verifies that the checkpoint from
//!   before the move is consistent with one after it, from the tiles the new log serves;
//! - a log written by another implementation (Tessera's POSIX layout: a `checkpoint` and
//!   tiles, no bintrail files) moves to a local data directory and is served, and once it
//!   has grown a second run catches the target up;
//! - a source holding two digests for one filename is refused with both named;
//! - a source with a tampered hash tile, level-0 tile or entry bundle is refused, naming it,
//!   and the target gets no checkpoint;
//! - a migration interrupted (a bundle missing half way) resumes where it stopped, the
//!   second run reading the source over HTTP.

mod common;
#[path = "../../tlog/tests/go_common/mod.rs"]
mod go_common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel, read_tile_data};
use bintrail_tlog::tree::{stored_hashes, tree_hash};
use common::servers::{Garage, Postgres, frontend_args, start_frontend};
use common::{LogServer, checksum, client, wheel};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long one `bintrail migrate` may run in these tests.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `bintrail migrate ARGS` with `env`, bounded in time.
fn migrate(args: &[&str], env: &[(String, String)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .arg("migrate")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bintrail migrate");
    let deadline = Instant::now() + MIGRATE_TIMEOUT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bintrail migrate ran longer than {MIGRATE_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("migrate output")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Logs `names` (each with the checksum of its name) in one bulk request.
async fn bulk(server: &LogServer, names: &[String]) {
    let body: String = names
        .iter()
        .map(|n| format!("{}\n", json!({"filename": n, "checksum": checksum(n)})))
        .collect();
    let response = server.post_bulk(body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.ends_with(&format!(
            "{{\"count\":{},\"type\":\"complete\"}}\n",
            names.len()
        )) || text.contains(&format!("\"count\":{}", names.len())),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    assert!(!text.contains("\"status\":\"error\""), "an add failed");
}

async fn add(server: &LogServer, token: &str, name: &str, sum: &str) -> (StatusCode, Value) {
    let body = json!({"filename": name, "checksum": sum});
    let response = common::post_add(&server.at("/add"), token, &body).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(url: &str) -> (StatusCode, Vec<u8>) {
    let r = client().get(url).send().await.unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

/// The first README command's log, `n` entries named `demo<i>`, stopped (SIGTERM).
async fn readme_log(data: &Path, n: usize) -> (String, Vec<u8>) {
    let server = LogServer::start_in(data, &[]);
    let names: Vec<String> = (0..n).map(|i| wheel(&format!("demo{i}"), "1.0")).collect();
    for part in names.chunks(20_000) {
        bulk(&server, part).await;
    }
    let vkey = server.vkey();
    let (_, checkpoint) = get(&server.at("/checkpoint")).await;
    let status = server.terminate();
    assert!(status.success(), "serve stopped: {status}");
    (vkey, checkpoint)
}

/// `bintrail migrate --from FROM [--from-key KEY] --to TO`, onto a local target.
fn migrate_local(from: &str, from_key: Option<&Path>, to: &Path) -> Output {
    let (key, to) = (
        from_key.map(|k| k.display().to_string()),
        to.display().to_string(),
    );
    let mut args = vec!["--from", from];
    if let Some(key) = &key {
        args.extend(["--from-key", key.as_str()]);
    }
    args.extend(["--to", to.as_str()]);
    migrate(&args, &[])
}

/// golang.org/x/mod's verdict (`tests/go/consistency.go`) on `old` and `new`, checkpoint
/// notes of the log at `url`: both verify with `vkey`, the tiles hash to `new`'s root and
/// `old` is a prefix of `new`. One line a query: "ok" for the URL and the key, then
/// "ok SIZE" for `new` and for `old`.
fn go_consistency(dir: &Path, vkey: &str, old: &[u8], new: &[u8], url: &str) -> String {
    let bin = go_common::build(
        dir,
        "bintrailconsistency",
        include_str!("go/consistency.go"),
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let input = format!(
        "log {url}\nvkey {vkey}\nlatest-note {}\nold-note {}\n",
        b64.encode(new),
        b64.encode(old)
    );
    go_common::run(&bin, &input).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_log_moves_to_s3_and_postgres_and_continues() {
    let pg = Postgres::start();
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("bintrail-data");
    // Two full tiles and a partial one.
    let (vkey, before) = readme_log(&src, 700).await;

    let src_arg = src.display().to_string();
    let target = format!("s3://{}/log", garage.bucket);
    let (endpoint, database) = (garage.endpoint(), pg.url());
    let args = [
        "--from",
        src_arg.as_str(),
        "--to",
        target.as_str(),
        "--s3-endpoint",
        endpoint.as_str(),
        "--database",
        database.as_str(),
    ];
    let out = migrate(&args, &garage.env());
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("700 entries copied"), "{stdout}");
    assert_eq!(pg.psql("SELECT count(*) FROM bintrail_entries"), "700");

    // `serve` on the target with the source's key and tokens: the same log.
    let fe_args = frontend_args(&garage, &pg, Some(&src));
    let fe = start_frontend(&dir.path().join("fe"), &fe_args, &garage);
    assert_eq!(fe.vkey(), vkey);
    let (status, served) = get(&fe.at("/checkpoint")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, before, "the same checkpoint, byte for byte");
    let (status, _) = get(&fe.at(&format!("/lookup/pypi/{}", wheel("demo5", "1.0")))).await;
    assert_eq!(status, StatusCode::OK, "a migrated entry is found");

    // The uniqueness index was rebuilt: another digest for a migrated file is refused.
    let token = std::fs::read_to_string(src.join("publish-token")).unwrap();
    let token = token.trim();
    let old = wheel("demo5", "1.0");
    let (status, body) = add(&fe, token, &old, &checksum("other bytes")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["index"].as_u64(), Some(5));

    // Adds continue after the last migrated index. (Within about a second of taking the
    // lease over from `migrate` a frontend answers 503, "retry the same add later": its
    // lease was dated from before the takeover grace until the first renewal.)
    for i in 0..10 {
        let name = wheel(&format!("after{i}"), "1.0");
        let deadline = Instant::now() + Duration::from_secs(15);
        let (status, body) = loop {
            let (status, body) = add(&fe, token, &name, &checksum(&name)).await;
            if status != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
                break (status, body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            status,
            StatusCode::OK,
            "{body}\n{}",
            fe.stderr.lock().unwrap()
        );
        assert_eq!(body["index"].as_u64(), Some(700 + i));
    }
    let (_, after) = get(&fe.at("/checkpoint")).await;
    let verdict = go_consistency(dir.path(), &vkey, &before, &after, &fe.url);
    assert_eq!(verdict, "ok\nok\nok 710\nok 700", "Go's verdict");

    // Migrating into a log a frontend serves is refused (it holds the lease), and so is
    // migrating into the continued log once it stopped: it is no longer empty.
    let out = migrate(&args, &garage.env());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("holds the target's sequencing lease"),
        "{stderr}"
    );
    assert!(fe.terminate().success());
    let out = migrate(&args, &garage.env());
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("already holds a log of size 710"),
        "{stderr}"
    );
}

/// A log written the way another tlog-tiles implementation (Tessera's POSIX driver,
/// under bt-log) lays it out: `checkpoint` and the tiles, nothing else. Returns the
/// signer.
fn foreign_log(dir: &Path, entries: &[Vec<u8>]) -> Signer {
    let signer = Signer::generate("example.org/pypi-log", KeyType::Ed25519, [7; 32]).unwrap();
    let mut hashes = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let more = stored_hashes(i as u64, e, &hashes).unwrap();
        hashes.extend(more);
    }
    let n = entries.len() as u64;
    let write = |tile: &Tile, data: &[u8]| {
        let path = dir.join(tile.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    for level in 0..4u8 {
        for index in 0..n.div_ceil(TILE_WIDTH) {
            if let Some(tile) = Tile::in_tree(TileLevel::Hash(level), index, n) {
                write(&tile, &read_tile_data(&tile, &hashes).unwrap());
            }
        }
    }
    for index in 0..n.div_ceil(TILE_WIDTH) {
        let tile = Tile::in_tree(TileLevel::Entries, index, n).unwrap();
        let (a, b) = tile.record_range();
        let bundle =
            bintrail_tlog::bundle::encode_entry_bundle(&entries[a as usize..b as usize]).unwrap();
        write(&tile, &bundle);
    }
    let checkpoint = Checkpoint {
        origin: signer.name().to_owned(),
        size: n,
        root_hash: tree_hash(n, &hashes).unwrap(),
        extensions: vec![],
    };
    let note = sign_checkpoint(&checkpoint, &signer).unwrap();
    std::fs::write(dir.join("checkpoint"), note.to_bytes()).unwrap();
    std::fs::create_dir_all(dir.join(".state")).unwrap();
    signer
}

fn pypi_entry(filename: &str, digest_of: &str) -> Vec<u8> {
    Entry {
        checksum: checksum(digest_of).parse().unwrap(),
        filename: filename.parse().unwrap(),
        publisher: None,
    }
    .to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_log_moves_to_a_local_directory_and_two_digests_are_refused() {
    let dir = tempfile::tempdir().unwrap();

    // A clean log of another implementation: migrated, then served by bintrail.
    let names: Vec<String> = (0..300).map(|i| wheel(&format!("bt{i}"), "2.0")).collect();
    let entries: Vec<Vec<u8>> = names.iter().map(|n| pypi_entry(n, n)).collect();
    let foreign = dir.path().join("bt-log");
    let signer = foreign_log(&foreign, &entries);
    let key = dir.path().join("bt.vkey");
    std::fs::write(&key, format!("{}\n", signer.verifier())).unwrap();
    let target = dir.path().join("target");
    let out = migrate_local(foreign.to_str().unwrap(), Some(&key), &target);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let private = dir.path().join("bt.key");
    std::fs::write(&private, signer.to_private_key()).unwrap();
    let server = LogServer::start_in(&target, &["--private-key", &private.display().to_string()]);
    let (_, served) = get(&server.at("/checkpoint")).await;
    assert_eq!(served, std::fs::read(foreign.join("checkpoint")).unwrap());
    let (status, _) = get(&server.at(&format!("/lookup/pypi/{}", names[299]))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = add(&server, &server.token(), &names[0], &checksum("x")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    drop(server);

    // The source log goes on (100 more entries); migrating again catches the target up.
    let more: Vec<String> = (300..400)
        .map(|i| wheel(&format!("bt{i}"), "2.0"))
        .collect();
    let grown: Vec<Vec<u8>> = names
        .iter()
        .chain(&more)
        .map(|n| pypi_entry(n, n))
        .collect();
    foreign_log(&foreign, &grown);
    let out = migrate_local(foreign.to_str().unwrap(), Some(&key), &target);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("100 entries copied, resumed at 300"),
        "{stdout}"
    );
    let server = LogServer::start_in(&target, &["--private-key", &private.display().to_string()]);
    let (_, served) = get(&server.at("/checkpoint")).await;
    assert_eq!(served, std::fs::read(foreign.join("checkpoint")).unwrap());
    let (status, _) = get(&server.at(&format!("/lookup/pypi/{}", more[99]))).await;
    assert_eq!(status, StatusCode::OK);
    drop(server);

    // Two digests for one filename (indexes 3 and 290): refused, both named.
    let mut entries = entries;
    entries[290] = pypi_entry(&names[3], "another build");
    let conflicting = dir.path().join("bt-log-conflict");
    foreign_log(&conflicting, &entries);
    let target = dir.path().join("target-conflict");
    let out = migrate_local(conflicting.to_str().unwrap(), Some(&key), &target);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("two digests for"), "{stderr}");
    assert!(
        stderr.contains(&format!("index 3 {}", names[3])),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("index 290 {}", names[3])),
        "{stderr}"
    );
    assert!(
        !target.join("sequenced-checkpoint").exists() && !target.join("checkpoint").exists(),
        "a refused migration leaves the target without a checkpoint"
    );

    // Bad input: an unreadable key, a missing source, a database with a local target.
    for (args, want) in [
        (
            vec![
                "--from",
                "/nonexistent",
                "--from-key",
                "/nonexistent.vkey",
                "--to",
                "t",
            ],
            "reading the source's key",
        ),
        (
            vec!["--from", "http://127.0.0.1:1/", "--to", "t"],
            "--from-key is required",
        ),
        (
            vec![
                "--from",
                "/nonexistent",
                "--from-key",
                key.to_str().unwrap(),
                "--to",
                "t",
            ],
            "/nonexistent is not a directory",
        ),
        (
            vec![
                "--from",
                foreign.to_str().unwrap(),
                "--from-key",
                key.to_str().unwrap(),
                "--to",
                "t",
                "--database",
                "postgres://x@127.0.0.1/x",
            ],
            "--database and --s3-endpoint need an s3:// target",
        ),
    ] {
        let out = migrate(&args, &[]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// Flips one byte of `path`, returning the original bytes.
fn tamper(path: &Path) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut bad = original.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::write(path, bad).unwrap();
    original
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_source_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    readme_log(&src, 600).await;
    for (i, file) in [
        "tile/0/001",
        "tile/entries/000",
        "tile/1/000.p/2",
        "tile/0/002.p/88",
    ]
    .into_iter()
    .enumerate()
    {
        let path = src.join(file);
        let original = tamper(&path);
        let target = dir.path().join(format!("target{i}"));
        let out = migrate_local(src.to_str().unwrap(), None, &target);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{file}: {stdout}{stderr}");
        assert!(
            stderr.contains("does not match the source's signed checkpoint"),
            "{stderr}"
        );
        assert!(stderr.contains(file), "{file}: {stderr}");
        assert!(!target.join("sequenced-checkpoint").exists(), "{file}");
        assert!(
            !target.join(file).exists() || std::fs::read(target.join(file)).unwrap() == original,
            "{file}: a tampered tile was written"
        );
        std::fs::write(&path, original).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_migration_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let (vkey, before) = readme_log(&src, 10_000).await;
    let target = dir.path().join("target");

    // Bundle 25 is unreadable: the first chunk (bundles 0 to 15) is copied, then it stops.
    let bundle = src.join("tile/entries/025");
    let hidden = dir.path().join("025");
    std::fs::rename(&bundle, &hidden).unwrap();
    let out = migrate_local(src.to_str().unwrap(), None, &target);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("tile/entries/025"), "{stderr}");
    assert!(!target.join("sequenced-checkpoint").exists());
    // A log on the half-copied target does not start: index rows but no checkpoint.
    let key = src.join("log.key").display().to_string();
    let refused = LogServer::try_start_in(&target, &["--private-key", &key]);
    assert!(refused.is_err(), "serve started on a half-migrated target");
    std::fs::rename(&hidden, &bundle).unwrap();

    // Resumed, reading the source over HTTP this time (its own serve).
    let source = LogServer::start_in(&src, &[]);
    let vkey_file = dir.path().join("src.vkey");
    std::fs::write(&vkey_file, &vkey).unwrap();
    let out = migrate_local(&source.url, Some(&vkey_file), &target);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("5904 entries copied, resumed at 4096"),
        "{stdout}"
    );
    drop(source);

    let server = LogServer::start_in(
        &target,
        &[
            "--private-key",
            &key,
            "--tokens",
            src.join("tokens").to_str().unwrap(),
        ],
    );
    let (_, served) = get(&server.at("/checkpoint")).await;
    assert_eq!(served, before);
    for i in [0, 4095, 4096, 9999] {
        let name = wheel(&format!("demo{i}"), "1.0");
        let (status, _) = get(&server.at(&format!("/lookup/pypi/{name}"))).await;
        assert_eq!(status, StatusCode::OK, "{name}");
    }
    let name = wheel("next", "1.0");
    let token = std::fs::read_to_string(src.join("publish-token")).unwrap();
    let (status, body) = add(&server, token.trim(), &name, &checksum(&name)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["index"].as_u64(), Some(10_000));
}
