//! Benchmark of a verifiable-index lookup's proof work (issue 16), at PyPI's shape scaled
//! by `BINTRAIL_BENCH_VINDEX_ENTRIES` (default 2,000,000) over
//! `BINTRAIL_BENCH_VINDEX_PROJECTS` (default 100,000) projects, Zipf-like as in
//! `benches/map.rs`. What `bintrail vindex` does per lookup (the map proof and one RFC 6962
//! inclusion proof per entry, from the input tree's stored hashes in memory) and what
//! `bintrail lookup` does (two checkpoint signatures, the leaf's inclusion, the map proof,
//! the value chain, each entry's inclusion), for a one-file project, a median one and one
//! with 5,000 files. JSON encoding and HTTP are not included. Prints the answer's size. Results in
//! BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::map::{EMPTY, Map, MapKey, MapLookup, MapProof, extend_value};
use bintrail_tlog::note::{KeyType, Note, Signer};
use bintrail_tlog::tree::{prove_record, stored_hashes, tree_hash, verify_record};
use criterion::Criterion;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn project_of(state: &mut u64, projects: u64, harmonic: f64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let u = (*state >> 11) as f64 / (1u64 << 53) as f64 * harmonic;
    let p = (u - 0.5772).exp() as u64;
    p.min(projects - 1)
}

fn entry(p: u64, i: u64) -> Vec<u8> {
    format!("pypi-transparency/v1\nsha256:{i:064x}\nproject_{p}-{i}.0-py3-none-any.whl")
        .into_bytes()
}

/// What a lookup answer carries, as the server builds it.
struct Answer {
    map_proof: MapProof,
    entries: Vec<(u64, Vec<u8>, Vec<Hash>)>,
}

fn main() {
    let n = env("BINTRAIL_BENCH_VINDEX_ENTRIES", 2_000_000);
    let projects = env("BINTRAIL_BENCH_VINDEX_PROJECTS", 100_000);
    let harmonic = (projects as f64).ln() + 0.5772;
    let start = Instant::now();
    let mut hashes: Vec<Hash> = Vec::with_capacity(2 * n as usize);
    let mut lists: Vec<Vec<u64>> = vec![Vec::new(); projects as usize];
    let mut values = vec![EMPTY; projects as usize];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..n {
        let p = project_of(&mut state, projects, harmonic);
        let stored = stored_hashes(i, &entry(p, i), &hashes[..]).expect("stored hashes");
        hashes.extend(stored);
        values[p as usize] = extend_value(&values[p as usize], i);
        lists[p as usize].push(i);
    }
    let mut map = Map::new();
    for (p, v) in values.iter().enumerate() {
        if *v != EMPTY {
            map.insert(MapKey::for_project(&format!("project-{p}")), *v);
        }
    }
    let map_root = map.root();
    let input_root = tree_hash(n, &hashes[..]).expect("tree hash");
    eprintln!(
        "built {n} entries over {} projects (input tree and map) in {:.1} s",
        map.len(),
        start.elapsed().as_secs_f64()
    );

    // Checkpoints as the client sees them: the input log's and the index's (one leaf).
    let input_key = Signer::generate("bench.example/log", KeyType::Ed25519, [1; 32]).expect("key");
    let index_key = Signer::generate("bench.example/idx", KeyType::Ed25519, [2; 32]).expect("key");
    let input_cp = Checkpoint {
        origin: "bench.example/log".into(),
        size: n,
        root_hash: input_root,
        extensions: vec![],
    };
    let input_note = sign_checkpoint(&input_cp, &input_key)
        .expect("sign")
        .to_bytes();
    let mut leaf = format!("bintrail-vindex-root/v1\n{map_root}\n").into_bytes();
    leaf.extend_from_slice(&input_note);
    let output_cp = Checkpoint {
        origin: "bench.example/idx".into(),
        size: 1,
        root_hash: leaf_hash(&leaf),
        extensions: vec![],
    };
    let output_note = sign_checkpoint(&output_cp, &index_key)
        .expect("sign")
        .to_bytes();

    let mut sizes: Vec<(usize, usize)> = lists
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(p, l)| (l.len(), p))
        .collect();
    sizes.sort();
    let cases = [
        ("one_file", sizes.iter().find(|(c, _)| *c == 1).copied()),
        ("median", Some(sizes[sizes.len() / 2])),
        // "Thousands of files" (issue 16): the first project with at least 5,000. The
        // skew's top projects hold far more than PyPI's largest; see BENCHMARKS.md.
        (
            "5000_files",
            sizes.iter().find(|(c, _)| *c >= 5_000).copied(),
        ),
    ];

    let answer = |p: usize| -> Answer {
        let key = MapKey::for_project(&format!("project-{p}"));
        Answer {
            map_proof: map.prove(&key),
            entries: lists[p]
                .iter()
                .map(|&i| {
                    let proof = prove_record(n, i, &hashes[..]).expect("proof");
                    (i, entry(p as u64, i), proof)
                })
                .collect(),
        }
    };
    let verify = |p: usize, a: &Answer| {
        let input_v = input_key.verifier();
        let index_v = index_key.verifier();
        Note::parse(&output_note)
            .expect("note")
            .verify(&[index_v])
            .expect("output sig");
        verify_record(&[], 1, output_cp.root_hash, 0, leaf_hash(&leaf)).expect("leaf");
        Note::parse(&input_note)
            .expect("note")
            .verify(&[input_v])
            .expect("input sig");
        let key = MapKey::for_project(&format!("project-{p}"));
        let text = a.map_proof.to_text();
        let proof = MapProof::parse(&text).expect("parse");
        let MapLookup::Present(value) = proof.verify(&map_root, &key).expect("map proof") else {
            panic!("absent")
        };
        let mut chain = EMPTY;
        for (i, e, proof) in &a.entries {
            verify_record(proof, n, input_root, *i, leaf_hash(e)).expect("inclusion");
            chain = extend_value(&chain, *i);
        }
        assert_eq!(chain, value);
    };

    let mut c = Criterion::default().configure_from_args();
    for (name, case) in cases {
        let Some((count, p)) = case else { continue };
        let a = answer(p);
        // The answer's text as `bintrail-vindex-lookup/v1` carries it, before JSON quoting:
        // both notes, the leaf, the map proof, and per entry its text and base64 proof.
        let bytes = output_note.len()
            + leaf.len()
            + a.map_proof.to_text().len()
            + a.entries
                .iter()
                .map(|(_, e, proof)| e.len() + 20 + proof.len() * 47)
                .sum::<usize>();
        eprintln!(
            "{name}: {count} files, map proof {} bytes, answer about {bytes} bytes",
            a.map_proof.to_text().len()
        );
        c.bench_function(&format!("vindex/answer_{name}"), |b| {
            b.iter(|| black_box(answer(black_box(p))))
        });
        c.bench_function(&format!("vindex/verify_{name}"), |b| {
            b.iter(|| verify(black_box(p), black_box(&a)))
        });
    }
    c.final_summary();
}
