//! Benchmarks for signed notes, checkpoints and cosignatures.
//!
//! Run: `cargo bench -p bintrail-tlog --bench note -- --warm-up-time 1 --measurement-time 3`
//! Results and the machine they came from are in BENCHMARKS.md.

use std::hint::black_box;

use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::{cosign, verified_cosigners, verify_cosignature};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, Signer, Verifier};
use criterion::{Criterion, criterion_group, criterion_main};

// The signed example note and key from golang.org/x/mod/sumdb/note's package docs.
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
    then you don't know what your problem is.\n\
    \n\
    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// The checkpoint body from c2sp.org/tlog-checkpoint.
const CHECKPOINT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

fn bench_notes(c: &mut Criterion) {
    let peter: Verifier = PETER_VKEY.parse().unwrap();
    let known = [peter];
    c.bench_function("note/parse", |b| {
        b.iter(|| Note::parse(black_box(PETER_NOTE.as_bytes())).unwrap())
    });
    c.bench_function("note/parse+verify 1 signature", |b| {
        b.iter(|| {
            let note = Note::parse(black_box(PETER_NOTE.as_bytes())).unwrap();
            note.verify(&known).unwrap().len()
        })
    });
    c.bench_function("vkey/parse", |b| {
        b.iter(|| black_box(PETER_VKEY).parse::<Verifier>().unwrap())
    });
    let signer = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
    c.bench_function("note/sign", |b| {
        b.iter(|| Note::sign(black_box(CHECKPOINT), &[&signer]).unwrap())
    });
}

fn bench_checkpoints(c: &mut Criterion) {
    c.bench_function("checkpoint/parse", |b| {
        b.iter(|| black_box(CHECKPOINT).parse::<Checkpoint>().unwrap())
    });
    let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
    let cp = Checkpoint {
        origin: "example.com/log".into(),
        size: 20852163,
        root_hash: Hash([7; 32]),
        extensions: vec![],
    };
    let mut note = sign_checkpoint(&cp, &log).unwrap();
    let witnesses: Vec<Signer> = (0..3u8)
        .map(|i| {
            Signer::generate(
                &format!("w{i}.example"),
                KeyType::CosignatureV1,
                [i + 2; 32],
            )
            .unwrap()
        })
        .collect();
    for w in &witnesses {
        note.add_signature(cosign(w, &cp, 1_700_000_000).unwrap());
    }
    let bytes = note.to_bytes();
    let log_key = log.verifier();
    let witness_keys: Vec<Verifier> = witnesses.iter().map(Signer::verifier).collect();
    c.bench_function("checkpoint/open (log signature)", |b| {
        b.iter(|| open_checkpoint(black_box(&bytes), &log_key).unwrap())
    });
    c.bench_function("checkpoint/open + 3 cosignatures", |b| {
        b.iter(|| {
            let (cp, note) = open_checkpoint(black_box(&bytes), &log_key).unwrap();
            verified_cosigners(&note, &cp, &witness_keys).len()
        })
    });
    let sig = note.signatures[1].clone();
    c.bench_function("cosignature/verify", |b| {
        b.iter(|| verify_cosignature(&witness_keys[0], black_box(&cp), &sig).unwrap())
    });
    c.bench_function("cosignature/cosign", |b| {
        b.iter(|| cosign(&witnesses[0], black_box(&cp), 1_700_000_000).unwrap())
    });
}

criterion_group!(benches, bench_notes, bench_checkpoints);
criterion_main!(benches);
