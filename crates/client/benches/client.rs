//! Benchmarks for the client: offline verifications per second and hashing
//! throughput against coreutils' `sha256sum`. Results and the command that produced
//! them are in BENCHMARKS.md.
//!
//! Run: `cargo bench -p bintrail-client --bench client`

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use bintrail_client::digest::sha256_file;
use bintrail_client::verify::{parse_policy, verify_artifact_reader};
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::cosign;
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Checksum, Entry};
use bintrail_tlog::tree::{prove_record, stored_hashes, tree_hash};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::Digest;

const NAME: &str = "demo-1.0-py3-none-any.whl";

/// A proof for a 4 KiB file at index 700,000 of a 1,000,000-entry tree (a 20-hash
/// inclusion proof), its checkpoint signed by the log and cosigned by one witness:
/// two Ed25519 verifications per check, as a real quorum of one needs.
fn fixture() -> (Vec<u8>, TlogProof, String) {
    let file = vec![0x5a; 4096];
    let log = Signer::generate("bench.example/log", KeyType::Ed25519, [1; 32]).unwrap();
    let witness = Signer::generate("witness.example", KeyType::CosignatureV1, [2; 32]).unwrap();
    let size = 1_000_000u64;
    let index = 700_000u64;
    let entry = Entry {
        checksum: Checksum::from_digest(sha2::Sha256::digest(&file).into()),
        filename: NAME.parse().unwrap(),
        publisher: None,
    };
    let mut hashes = Vec::new();
    for n in 0..size {
        let data = if n == index {
            entry.to_bytes()
        } else {
            n.to_be_bytes().to_vec()
        };
        let new = stored_hashes(n, &data, &hashes).unwrap();
        hashes.extend(new);
    }
    let checkpoint = Checkpoint {
        origin: "bench.example/log".into(),
        size,
        root_hash: tree_hash(size, &hashes).unwrap(),
        extensions: Vec::new(),
    };
    let mut note = sign_checkpoint(&checkpoint, &log).unwrap();
    note.add_signature(cosign(&witness, &checkpoint, 1_700_000_000).unwrap());
    let proof = TlogProof {
        extra: Some(entry.to_bytes()),
        index,
        inclusion_proof: prove_record(size, index, &hashes).unwrap(),
        checkpoint: note.to_bytes(),
    };
    let policy = format!(
        "log {}\nwitness w {}\nquorum w\n",
        log.verifier(),
        witness.verifier()
    );
    (file, proof, policy)
}

fn offline_verification(c: &mut Criterion) {
    let (file, proof, policy) = fixture();
    let policy = parse_policy(policy.as_bytes(), "bench").unwrap();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("offline_4KiB_file_20_hash_proof_1_witness", |b| {
        b.iter(|| verify_artifact_reader(&file[..], NAME, &proof, &policy).unwrap())
    });
    group.finish();
}

/// Hashes one 1 GiB file with `sha256_file` and with `sha256sum`, both reading it
/// from the page cache (it is written just before). The file lives in a temporary
/// directory removed at the end.
fn hashing_throughput(c: &mut Criterion) {
    const SIZE: usize = 1 << 30;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("one-gib.bin");
    {
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for _ in 0..SIZE / chunk.len() {
            f.write_all(&chunk).unwrap();
        }
    }
    let mut group = c.benchmark_group("hash_1GiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("sha256_file", |b| b.iter(|| sha256_file(&path).unwrap()));
    group.bench_function("coreutils_sha256sum", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let out = Command::new("sha256sum")
                    .arg(&path)
                    .output()
                    .expect("sha256sum (coreutils) must be installed; see scripts/setup.sh");
                assert!(out.status.success(), "sha256sum failed");
            }
            start.elapsed()
        })
    });
    group.finish();
    drop(dir);
}

criterion_group!(benches, offline_verification, hashing_throughput);
criterion_main!(benches);
