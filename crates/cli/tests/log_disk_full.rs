//! Issue 8, disk full, for the log: `bintrail serve` with its data directory on a
//! small tmpfs that a ballast file fills to the last byte.
//!
//! While the disk is full, adds must be refused with a JSON 507 or 503 (never a
//! 500, a panic or an exit), nothing acknowledged may be lost or changed, and the
//! published checkpoint must never go backwards. Once the ballast is deleted the
//! same process must take adds again, and after a restart every acknowledged entry
//! must be where it was answered, every checkpoint seen consistent with the newest
//! and every full tile unchanged.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::tree::{verify_record, verify_tree};
use common::{LogServer, SmallFs, checksum, client, wheel};
use serde_json::{Value, json};

/// Entries logged before the disk fills: more than 256, so full tiles exist.
const BEFORE: usize = 600;
/// Adds tried while the disk is full.
const WHILE_FULL: usize = 30;

/// What the test saw the log acknowledge: filename -> (index, content), and every
/// checkpoint it saw published, in order.
#[derive(Default)]
struct Seen {
    acknowledged: BTreeMap<String, (u64, String)>,
    checkpoints: Vec<Checkpoint>,
}

impl Seen {
    /// Records a published checkpoint; it must not be older than the last one.
    fn checkpoint(&mut self, cp: Checkpoint) {
        if let Some(last) = self.checkpoints.last() {
            assert!(
                cp.size >= last.size,
                "the published checkpoint went backwards: {} after {}",
                cp.size,
                last.size
            );
            if cp.size == last.size {
                assert_eq!(
                    cp.root_hash, last.root_hash,
                    "two roots for size {}",
                    cp.size
                );
                return;
            }
        }
        self.checkpoints.push(cp);
    }
}

fn entry_bytes(filename: &str, content: &str) -> String {
    format!("pypi-transparency/v1\n{}\n{filename}", checksum(content))
}

async fn published(log: &LogServer, verifier: &Verifier) -> Checkpoint {
    let answer = client()
        .get(log.at("/checkpoint"))
        .send()
        .await
        .expect("GET /checkpoint");
    assert_eq!(answer.status().as_u16(), 200, "GET /checkpoint");
    let note = answer.bytes().await.expect("body");
    open_checkpoint(&note, verifier)
        .expect("the published checkpoint verifies")
        .0
}

/// One `POST /add`; returns the status and the JSON body.
async fn add(log: &LogServer, filename: &str, content: &str) -> (u16, Value) {
    let answer = log
        .post_add(&json!({"filename": filename, "checksum": checksum(content)}))
        .await;
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{filename}: {status} body is not JSON ({e}): {text:?}"));
    (status, body)
}

/// Checks a 200 answer's proof and records the entry as acknowledged.
fn acknowledge(seen: &mut Seen, verifier: &Verifier, filename: &str, content: &str, body: &Value) {
    let index = body["index"].as_u64().expect("index");
    let note = BASE64
        .decode(body["checkpoint"].as_str().expect("checkpoint"))
        .expect("base64");
    let (cp, _) = open_checkpoint(&note, verifier).expect("the answer's checkpoint verifies");
    let leaf = leaf_hash(entry_bytes(filename, content).as_bytes());
    verify_record(
        &common::inclusion_proof(body),
        cp.size,
        cp.root_hash,
        index,
        leaf,
    )
    .unwrap_or_else(|e| panic!("{filename}: the inclusion proof fails: {e}"));
    seen.acknowledged
        .insert(filename.to_owned(), (index, content.to_owned()));
    // Sequential requests: the answer's checkpoint is the newest published one.
    seen.checkpoint(cp);
}

/// Every full tile (a path without `.p/`) under `data/tile`, with its bytes.
fn full_tiles(data: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for item in std::fs::read_dir(dir).expect("read tile dir") {
            let path = item.expect("dir entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                if !rel.ends_with(".p") {
                    walk(&path, root, out);
                }
            } else {
                out.insert(rel, std::fs::read(&path).expect("read tile"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&data.join("tile"), data, &mut out);
    out
}

async fn bulk_before(log: &LogServer, seen: &mut Seen, verifier: &Verifier) {
    let body: String = (0..BEFORE)
        .map(|i| {
            let line = json!({"filename": wheel(&format!("early{i}"), "1.0"), "checksum": checksum(&format!("early{i}"))});
            format!("{line}\n")
        })
        .collect();
    let answer = log.post_bulk(body).await;
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.expect("body");
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("JSON line");
        if record["type"] == "result" {
            let result = &record["result"];
            assert_eq!(result["status"], "logged", "{result}");
            let filename = result["filename"].as_str().expect("filename");
            let content = filename.trim_end_matches("-1.0-py3-none-any.whl");
            let index = result["index"].as_u64().expect("index");
            seen.acknowledged
                .insert(filename.to_owned(), (index, content.to_owned()));
        }
    }
    assert_eq!(seen.acknowledged.len(), BEFORE);
    seen.checkpoint(published(log, verifier).await);
}

/// Adds while the disk is full: each is a 200 (recorded) or a JSON 507/503; the
/// process stays up, the published checkpoint never goes backwards and full tiles
/// are still served. Returns the filenames refused and the statuses seen.
async fn add_while_full(
    log: &mut LogServer,
    seen: &mut Seen,
    verifier: &Verifier,
    tiles: &BTreeMap<String, Vec<u8>>,
) -> (Vec<String>, BTreeMap<u16, usize>) {
    let mut refused = Vec::new();
    let mut statuses = BTreeMap::new();
    for i in 0..WHILE_FULL {
        let filename = wheel(&format!("full{i}"), "1.0");
        let (status, body) = add(log, &filename, &filename).await;
        *statuses.entry(status).or_insert(0) += 1;
        match status {
            200 => acknowledge(seen, verifier, &filename, &filename, &body),
            507 | 503 => {
                let message = body["error"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "{status} without a message: {body}");
                // Finding L3: the message named files under the data directory.
                let data = log.data.display().to_string();
                assert!(
                    !message.contains(&data),
                    "{status} leaks the data path: {body}"
                );
                if refused.is_empty() {
                    eprintln!("log_disk_full: first refusal: {status} {body}");
                }
                refused.push(filename);
            }
            other => panic!("{filename}: status {other} on a full disk: {body}"),
        }
        assert!(log.is_running(), "the log exited on a full disk");
        seen.checkpoint(published(log, verifier).await);
    }
    // Reads keep being served from what is committed.
    for (path, bytes) in tiles {
        let answer = client()
            .get(log.at(&format!("/{path}")))
            .send()
            .await
            .expect("GET tile");
        assert_eq!(answer.status().as_u16(), 200, "GET /{path} on a full disk");
        assert_eq!(
            &answer.bytes().await.expect("tile")[..],
            &bytes[..],
            "{path}"
        );
    }
    (refused, statuses)
}

/// Retries `filename` until a 200 (at most 60 s): the same process recovers once
/// space is freed.
async fn add_until_logged(log: &LogServer, seen: &mut Seen, verifier: &Verifier, filename: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = add(log, filename, filename).await;
        if status == 200 {
            acknowledge(seen, verifier, filename, filename, &body);
            return;
        }
        assert!(
            matches!(status, 503 | 507),
            "{filename}: {status} after freeing space: {body}"
        );
        assert!(
            Instant::now() < deadline,
            "{filename}: the log did not recover within 60 s of freeing space: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// After the restart: every acknowledged entry at its index with a proof that
/// verifies, every checkpoint seen consistent with the newest.
async fn check_everything_kept(log: &LogServer, seen: &Seen, verifier: &Verifier) {
    let policy: Policy = format!("log {}\nquorum none\n", log.vkey())
        .parse()
        .expect("policy");
    let reader = LogReader::new(&log.url, Timeouts::default()).expect("reader");
    for (filename, (index, content)) in &seen.acknowledged {
        let proof: TlogProof = reader
            .lookup(filename)
            .await
            .unwrap_or_else(|e| panic!("{filename} lost after the restart: {e}"));
        assert_eq!(proof.index, *index, "{filename} moved");
        proof
            .verify(
                &policy,
                leaf_hash(entry_bytes(filename, content).as_bytes()),
            )
            .unwrap_or_else(|e| panic!("{filename}: {e}"));
    }
    let newest = published(log, verifier).await;
    for old in &seen.checkpoints {
        let proof = reader
            .prove_tree(newest.size, newest.root_hash, old.size, None)
            .await
            .expect("consistency proof from tiles");
        verify_tree(
            &proof,
            newest.size,
            newest.root_hash,
            old.size,
            old.root_hash,
        )
        .unwrap_or_else(|e| {
            panic!(
                "checkpoint of size {} is not consistent with {}: {e}",
                old.size, newest.size
            )
        });
    }
}

/// A restart while the disk is still full. Either outcome is safe: the log
/// starts (reads served, adds refused with a JSON 507 or 503) or it exits 2
/// naming the full disk (finding L4). Which one depends on whether SQLite must
/// grow its shared-memory file; returns "started" or "refused".
async fn restart_on_a_full_disk(data: &Path, seen: &mut Seen, verifier: &Verifier) -> &'static str {
    match LogServer::try_start_in(data, &["--add-timeout", "5s"]) {
        Ok(log) => {
            seen.checkpoint(published(&log, verifier).await);
            let filename = wheel("full_again", "1.0");
            let (status, body) = add(&log, &filename, &filename).await;
            assert!(
                matches!(status, 503 | 507) && body["error"].is_string(),
                "restarted on a full disk: {status} {body}"
            );
            let status = log.terminate();
            assert!(status.success(), "{status:?}");
            "started"
        }
        Err((status, stderr)) => {
            check_start_refused(status, &stderr);
            "refused"
        }
    }
}

/// Finding L4: `bintrail serve` that could not open its index on a full disk
/// exited with "disk I/O error" printed three times and no word of the full
/// disk. It must exit 2 with one error line that names the cause, each cause once.
fn check_start_refused(status: std::process::ExitStatus, stderr: &str) {
    eprintln!(
        "log_disk_full: start on a full disk: {status}: {}",
        stderr.trim()
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("bintrail: error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    // The OS error says so, or SQLite does, or (for SQLite's "disk I/O error")
    // serve does.
    assert!(
        [
            "has no free space",
            "No space left on device",
            "disk is full"
        ]
        .iter()
        .any(|cause| error.contains(cause)),
        "{error}"
    );
    assert!(error.matches("disk I/O error").count() <= 1, "{error}");
}

/// Findings L4 and L6: a first start on a disk with 0 to 7 free pages. Each
/// start either works or exits 2 naming the full disk (L4); whatever it wrote
/// before failing must not stop the next start once space is freed (L6: an
/// empty `log.key` was left behind and refused as malformed for ever after).
#[tokio::test]
async fn l4_l6_a_first_start_on_a_full_disk_names_the_cause_and_harms_nothing() {
    let mut outcomes = Vec::new();
    for free_pages in 0..=7u64 {
        let fs = SmallFs::mount("1m");
        let data = fs.path().join("data");
        let ballast = fs.fill("ballast");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&ballast)
            .expect("open the ballast");
        let len = file.metadata().expect("ballast size").len();
        file.set_len(len.saturating_sub(free_pages * 4096))
            .expect("free pages");
        drop(file);
        match LogServer::try_start_in(&data, &[]) {
            Ok(log) => {
                outcomes.push((free_pages, "started"));
                drop(log);
            }
            Err((status, stderr)) => {
                check_start_refused(status, &stderr);
                outcomes.push((free_pages, "refused"));
            }
        }
        std::fs::remove_file(&ballast).expect("delete the ballast");
        let log = LogServer::try_start_in(&data, &[]).unwrap_or_else(|(status, stderr)| {
            panic!("{free_pages} free pages: after freeing space the log does not start ({status}): {stderr}")
        });
        let (status, body) = add(&log, &wheel("after", "1.0"), "after").await;
        assert_eq!(status, 200, "{free_pages} free pages: {body}");
    }
    eprintln!("log_disk_full: first starts with N free pages: {outcomes:?}");
    assert!(
        outcomes.iter().any(|(_, o)| *o == "refused"),
        "no start was refused: {outcomes:?}"
    );
}

#[tokio::test]
async fn log_on_a_full_disk_refuses_then_recovers() {
    let fs = SmallFs::mount("16m");
    let data = fs.path().join("data");
    let mut log = LogServer::start_in(&data, &["--add-timeout", "5s"]);
    let verifier: Verifier = log.vkey().parse().expect("vkey");
    let mut seen = Seen::default();
    bulk_before(&log, &mut seen, &verifier).await;
    let tiles = full_tiles(&data);
    assert!(
        tiles.len() >= 4,
        "full tiles exist before the disk fills: {:?}",
        tiles.keys().collect::<Vec<_>>()
    );

    let ballast = fs.fill("ballast");
    let (refused, statuses) = add_while_full(&mut log, &mut seen, &verifier, &tiles).await;
    eprintln!(
        "log_disk_full: {WHILE_FULL} adds on a full disk ({} bytes free): statuses {statuses:?}",
        fs.available()
    );
    assert!(
        !refused.is_empty(),
        "a full disk refused no add: {statuses:?}"
    );

    std::fs::remove_file(&ballast).expect("delete the ballast");
    let started = Instant::now();
    for filename in &refused {
        add_until_logged(&log, &mut seen, &verifier, filename).await;
    }
    add_until_logged(&log, &mut seen, &verifier, &wheel("after", "1.0")).await;
    eprintln!(
        "log_disk_full: {} refused adds logged {:?} after freeing space",
        refused.len(),
        started.elapsed()
    );
    seen.checkpoint(published(&log, &verifier).await);
    assert!(
        !log.stderr.lock().expect("stderr").contains("panicked"),
        "the log panicked"
    );

    // Full again, then a restart: the log cannot open its index, so it must
    // exit at once naming the full disk (finding L4), and harm nothing.
    let ballast = fs.fill("ballast");
    let status = log.terminate();
    assert!(
        status.success(),
        "clean shutdown on a full disk: {status:?}"
    );
    let restart = restart_on_a_full_disk(&data, &mut seen, &verifier).await;
    eprintln!("log_disk_full: a restart on the full disk {restart}");
    std::fs::remove_file(&ballast).expect("delete the ballast");
    let log = LogServer::start_in(&data, &["--add-timeout", "5s"]);
    check_everything_kept(&log, &seen, &verifier).await;
    eprintln!(
        "log_disk_full: after the restart {} acknowledged entries and {} checkpoints checked",
        seen.acknowledged.len(),
        seen.checkpoints.len()
    );
    let after = full_tiles(&data);
    for (path, bytes) in &tiles {
        assert_eq!(after.get(path), Some(bytes), "full tile {path} changed");
    }
}
