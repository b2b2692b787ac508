//! Issue 19, finding H1 for the frontends added later: `bintrail index` and `bintrail
//! proxy` receive checkpoints and proofs from a log, so a log (or its key's thief) that
//! signs a checkpoint for a huge tree size (2^63 - 1, 2^40) with an inclusion proof that
//! holds, or serves odd proofs (an index beyond the tree, 64 hashes), must not make
//! them allocate without bound or panic: each such proof is refused (the index's 502,
//! the proxy's 403), the process keeps serving, and its peak resident memory stays
//! small. The log is a fake one written with crates/tlog (shared with the monitor's
//! tests), serving crafted `lookup/pypi/<file>` answers.

mod common;
#[path = "../../monitor/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;

use bintrail_tlog::hash::{Hash, leaf_hash, node_hash};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::tree::{prove_record, stored_hashes, verify_record};
use common::index::IndexProcess;
use common::pypi::{self, Daemon, PypiServer, REQUESTS_SET, http_get};
use sha2::{Digest, Sha256};

const SIX: &str = "six-1.16.0-py2.py3-none-any.whl";
/// Peak resident memory allowed to a frontend after every hostile proof.
const PEAK_KIB: u64 = 256 * 1024;

/// `VmHWM` (peak resident memory) of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `sha256:<hex>` of a fixture file.
fn fixture_checksum(name: &str) -> String {
    let bytes = std::fs::read(pypi::fixtures().join(name)).expect("fixture");
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An inclusion proof for leaf `index` with hash `leaf` in a tree of `size` leaves, made
/// of arbitrary sibling hashes, and the root it leads to (RFC 9162, 2.1.3.2, run forward):
/// a checkpoint claiming that root makes the proof hold whatever the size.
fn proof_and_root(index: u64, size: u64, leaf: Hash) -> (Vec<Hash>, Hash) {
    let (mut f, mut s) = (index, size - 1);
    let (mut root, mut proof) = (leaf, Vec::new());
    while s != 0 {
        let sibling = Hash([proof.len() as u8 + 1; 32]);
        if f & 1 == 1 || f == s {
            root = node_hash(&sibling, &root);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            root = node_hash(&root, &sibling);
        }
        f >>= 1;
        s >>= 1;
        proof.push(sibling);
    }
    (proof, root)
}

/// A fake log holding `names` (with their fixtures' digests) and the honest proof for
/// each, plus the hostile proofs for `target` (one of them): name and tlog-proof bytes.
struct Scene {
    log: support::FakeLog,
    honest: HashMap<String, Vec<u8>>,
    hostile: Vec<(String, Vec<u8>)>,
}

fn scene(names: &[&str], target: &str) -> Scene {
    let mut log = support::FakeLog::new("example.test/frontends", 7);
    let mut hashes = Vec::new();
    let mut entries = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let entry = support::entry_with_checksum(name, &fixture_checksum(name));
        hashes.extend(stored_hashes(i as u64, &entry, &hashes).expect("hashes"));
        log.append(entry.clone());
        entries.push(entry);
    }
    let size = names.len() as u64;
    let honest = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let proof = TlogProof {
                extra: Some(entries[i].clone()),
                index: i as u64,
                inclusion_proof: prove_record(size, i as u64, &hashes).expect("proof"),
                checkpoint: log.checkpoint(),
            };
            (name.to_string(), proof.to_bytes())
        })
        .collect();
    let at = names.iter().position(|n| *n == target).expect("target") as u64;
    let entry = entries[at as usize].clone();
    let mut hostile = Vec::new();
    for size in [(1u64 << 63) - 1, 1 << 40] {
        let (inclusion_proof, root) = proof_and_root(at, size, leaf_hash(&entry));
        assert!(verify_record(&inclusion_proof, size, root, at, leaf_hash(&entry)).is_ok());
        let proof = TlogProof {
            extra: Some(entry.clone()),
            index: at,
            inclusion_proof,
            checkpoint: log.checkpoint_claiming(size, root.0),
        };
        hostile.push((
            format!("a valid proof in a tree of {size}"),
            proof.to_bytes(),
        ));
    }
    let odd = |index: u64, hashes: usize, checkpoint: Vec<u8>| TlogProof {
        extra: Some(entry.clone()),
        index,
        inclusion_proof: (0..hashes).map(|k| Hash([k as u8; 32])).collect(),
        checkpoint,
    };
    let huge = log.checkpoint_claiming((1 << 63) - 1, [9; 32]);
    hostile.push((
        "an index beyond the tree".into(),
        odd(u64::MAX, 2, log.checkpoint()).to_bytes(),
    ));
    hostile.push(("64 hashes".into(), odd(at, 64, log.checkpoint()).to_bytes()));
    hostile.push((
        "index 2^63 in a tree of 2^63 - 1".into(),
        odd(1 << 63, 63, huge.clone()).to_bytes(),
    ));
    hostile.push((
        "no hashes in a tree of 2^63 - 1".into(),
        odd(at, 0, huge).to_bytes(),
    ));
    Scene {
        log,
        honest,
        hostile,
    }
}

fn served(scene: &Scene, lookups: &[(&str, &[u8])]) -> HashMap<String, Vec<u8>> {
    let mut files = scene.log.files();
    for (name, proof) in lookups {
        files.insert(format!("lookup/pypi/{name}"), proof.to_vec());
    }
    files
}

/// A policy pinning the fake log's key at `url`, no witnesses.
fn policy(scene: &Scene, url: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let text = scene.log.policy_text();
    let key = text.lines().next().expect("log line");
    let path = dir.join("policy");
    std::fs::write(&path, format!("{key} {url}\nquorum none\n")).expect("policy");
    path
}

/// `bintrail index` in front of the fake log: after an honest proof for one file, every
/// hostile proof for another is a JSON 502, the index still serves, and its peak memory
/// stays small.
#[test]
fn h1_the_index_refuses_hostile_sizes_and_proofs_in_bounded_memory() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let honest = REQUESTS_SET[3];
    let scene = scene(&[SIX, honest], SIX);
    let server = rt.block_on(support::FileServer::start(served(
        &scene,
        &[(honest, &scene.honest[honest])],
    )));
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = policy(&scene, &server.url, dir.path());
    let index = IndexProcess::start_with(
        &server.url,
        &server.url,
        &dir.path().join("state"),
        &["--policy", policy.to_str().expect("utf-8 path")],
    );
    let (status, body) =
        http_get(&index.at(&format!("/transparency/requests/2.32.3/{honest}/proof")))
            .expect("index answers");
    assert_eq!(status, 200, "the honest proof: {body}");
    let path = format!("/transparency/six/1.16.0/{SIX}/proof");
    for (case, proof) in &scene.hostile {
        server.replace(served(&scene, &[(SIX, proof.as_slice())]));
        let (status, body) = http_get(&index.at(&path)).expect("index answers");
        assert_eq!(status, 502, "{case}: {body}");
        assert!(body.contains("\"error\""), "{case}: {body}");
        eprintln!("h1 index: {case}: {body}");
    }
    let (status, _) = http_get(&index.at("/.well-known/bt/tlog-info")).expect("still serving");
    assert_eq!(status, 200);
    let peak = peak_kib(index.pid());
    eprintln!("h1 index: peak {peak} KiB");
    assert!(peak > 0 && peak < PEAK_KIB, "peak {peak} KiB");
}

/// `bintrail proxy` in front of pypiserver, with the fake log pinned: after an honest
/// download (which stores the log's checkpoint), every hostile proof for another file
/// is a 403 before any byte, the proxy still serves, and its peak memory stays small.
#[test]
fn h1_the_proxy_refuses_hostile_sizes_and_proofs_in_bounded_memory() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let target = REQUESTS_SET[3];
    let scene = scene(&[SIX, target], target);
    let server = rt.block_on(support::FileServer::start(served(
        &scene,
        &[(SIX, &scene.honest[SIX])],
    )));
    let pypi = PypiServer::start(&[SIX, target]);
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = policy(&scene, &server.url, dir.path());
    let (cache, state) = (dir.path().join("cache"), dir.path().join("state"));
    let simple = pypi.simple();
    let proxy = Daemon::start(&[
        "proxy",
        "--index",
        &simple,
        "--policy",
        policy.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--cache",
        cache.to_str().expect("utf-8 path"),
        "--state",
        state.to_str().expect("utf-8 path"),
    ]);
    let root = proxy.url.trim_end_matches("simple/").to_owned();
    let (status, body) = http_get(&format!("{root}files/six/{SIX}")).expect("proxy answers");
    assert_eq!(status, 200, "the honest download: {body}");
    for (case, proof) in &scene.hostile {
        server.replace(served(&scene, &[(target, proof.as_slice())]));
        let (status, body) =
            http_get(&format!("{root}files/requests/{target}")).expect("proxy answers");
        assert_eq!(status, 403, "{case}: {body}");
        eprintln!("h1 proxy: {case}: {body}");
    }
    let (status, _) = http_get(&format!("{root}metrics")).expect("still serving");
    assert_eq!(status, 200);
    let stderr = proxy.stderr_text();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let peak = peak_kib(proxy.pid());
    eprintln!("h1 proxy: peak {peak} KiB");
    assert!(peak > 0 && peak < PEAK_KIB, "peak {peak} KiB");
}
