//! Benchmarks for the verifiable index's map (`bintrail_tlog::map`), at PyPI's shape:
//! 10,000,000 entries over 500,000 projects (`BINTRAIL_BENCH_MAP_ENTRIES` and
//! `BINTRAIL_BENCH_MAP_PROJECTS` scale it down). A timed binary rather than criterion
//! for the build (one sample is minutes), criterion for proofs. Results in BENCHMARKS.md.
//!
//! Projects get entries with a Zipf-like skew: project `p` gets weight `1 / (p + 1)`,
//! so a few projects hold thousands of files and most hold a handful.

use std::hint::black_box;
use std::time::Instant;

use bintrail_tlog::map::{EMPTY, Map, MapKey, MapProof, extend_value};
use criterion::Criterion;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic project for entry `i`: Zipf-like over `projects` (xorshift draws).
fn project_of(state: &mut u64, projects: u64, harmonic: f64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let u = (*state >> 11) as f64 / (1u64 << 53) as f64 * harmonic;
    // Inverse of the harmonic CDF, approximately: H(p) ~ ln(p) + 0.5772.
    let p = (u - 0.5772).exp() as u64;
    p.min(projects - 1)
}

fn main() {
    let entries = env("BINTRAIL_BENCH_MAP_ENTRIES", 10_000_000);
    let projects = env("BINTRAIL_BENCH_MAP_PROJECTS", 500_000);
    let harmonic = (projects as f64).ln() + 0.5772;
    let keys: Vec<MapKey> = (0..projects)
        .map(|p| MapKey::for_project(&format!("project-{p}")))
        .collect();

    // Build from scratch: every entry extends its project's value, then one insert per
    // project and one root, as the index does when it catches up in one batch.
    let start = Instant::now();
    let mut values = vec![EMPTY; projects as usize];
    let mut counts = vec![0u32; projects as usize];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..entries {
        let p = project_of(&mut state, projects, harmonic) as usize;
        values[p] = extend_value(&values[p], i);
        counts[p] += 1;
    }
    let hashed = start.elapsed();
    let mut map = Map::new();
    for (k, v) in keys.iter().zip(&values) {
        if *v != EMPTY {
            map.insert(*k, *v);
        }
    }
    black_box(map.root());
    let built = start.elapsed();
    println!(
        "map/build: {entries} entries, {} projects present: values {:.1?}, total {:.1?} ({:.0} entries/s)",
        map.len(),
        hashed,
        built,
        entries as f64 / built.as_secs_f64()
    );

    // Steady updates: batches of 1,000 new entries, each followed by a root.
    let batches = 200u64;
    let start = Instant::now();
    for b in 0..batches {
        for j in 0..1000 {
            let p = project_of(&mut state, projects, harmonic) as usize;
            values[p] = extend_value(&values[p], entries + b * 1000 + j);
            map.insert(keys[p], values[p]);
        }
        black_box(map.root());
    }
    let took = start.elapsed();
    println!(
        "map/update: {} entries in batches of 1000 with a root each: {:.1?} ({:.0} entries/s)",
        batches * 1000,
        took,
        (batches * 1000) as f64 / took.as_secs_f64()
    );
    let root = map.root();

    // Proof sizes: typical (median over present keys sampled) and worst (deepest seen),
    // as text; and an absent key.
    let mut sizes: Vec<usize> = keys
        .iter()
        .step_by(97)
        .map(|k| map.prove(k).to_text().len())
        .collect();
    sizes.sort_unstable();
    let absent = map
        .prove(&MapKey::for_project("never-logged"))
        .to_text()
        .len();
    println!(
        "map/proof size: median {} bytes, max {} bytes over {} keys; absent {} bytes",
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1],
        sizes.len(),
        absent
    );
    let biggest = counts.iter().max().copied().unwrap_or(0);
    let single = counts.iter().filter(|&&c| c == 1).count();
    println!("map/projects: largest {biggest} entries, {single} with one entry");

    let mut c = Criterion::default().configure_from_args();
    let mut i = 0usize;
    c.bench_function("map/prove", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            black_box(map.prove(&keys[i]))
        })
    });
    let key = keys[0];
    let text = map.prove(&key).to_text();
    c.bench_function("map/parse_and_verify", |b| {
        b.iter(|| {
            let proof = MapProof::parse(black_box(&text)).expect("own proof parses");
            black_box(proof.verify(&root, &key).is_ok())
        })
    });
    c.final_summary();
}
