//! Benchmarks for hashing, proofs, tile reads and entry bundles.
//!
//! Large trees (2^30 records) use a synthetic tree in which every record is the
//! same, so every complete subtree at a level has the same hash: stored hashes
//! come from a 64-entry table, yet proofs verify exactly as in a real tree and
//! cost the same to compute. Results are in BENCHMARKS.md.

use std::hint::black_box;

use bintrail_tlog::bundle::{encode_entry_bundle, parse_entry_bundle};
use bintrail_tlog::hash::{Hash, leaf_hash, node_hash};
use bintrail_tlog::tile::{
    TILE_HEIGHT, Tile, TileHashReader, TileLevel, TileReader, tiles_for_record_proof,
};
use bintrail_tlog::tree::{
    HashReader, MemoryTree, TreeError, prove_record, prove_tree, split_stored_hash_index,
    stored_hashes_for_record_hash, tree_hash, verify_record, verify_tree,
};
use criterion::{Criterion, criterion_group, criterion_main};

const SIZE: u64 = 1 << 30;

/// A tree whose records are all equal: the hash of a complete subtree depends
/// only on its level.
struct Uniform {
    levels: [Hash; 64],
}

impl Uniform {
    fn new() -> Self {
        let mut levels = [leaf_hash(b"bintrail benchmark record"); 64];
        for l in 1..64 {
            levels[l] = node_hash(&levels[l - 1], &levels[l - 1]);
        }
        Uniform { levels }
    }
}

impl HashReader for Uniform {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        Ok(indexes
            .iter()
            .map(|&i| self.levels[usize::from(split_stored_hash_index(i).0)])
            .collect())
    }
}

/// Serves the uniform tree's tiles (a tile is `width` copies of its level's hash).
impl TileReader for Uniform {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
        Ok(tiles
            .iter()
            .map(|t| {
                let TileLevel::Hash(l) = t.level else {
                    return Vec::new();
                };
                let h = self.levels[usize::from(l * TILE_HEIGHT)];
                h.0.repeat(t.width as usize)
            })
            .collect())
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

fn hashing(c: &mut Criterion) {
    let entry = vec![0x5au8; 128];
    c.bench_function("leaf_hash 128 B", |b| {
        b.iter(|| leaf_hash(black_box(&entry)))
    });
    let (l, r) = (leaf_hash(b"l"), leaf_hash(b"r"));
    c.bench_function("node_hash", |b| {
        b.iter(|| node_hash(black_box(&l), black_box(&r)))
    });
    // What a lookup answer of the verifiable index does for each proof hash.
    let hashes: Vec<Hash> = (0..250u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut out = Vec::with_capacity(250 * 44);
    c.bench_function("write_base64 x250", |b| {
        b.iter(|| {
            out.clear();
            for h in black_box(&hashes) {
                h.write_base64(&mut out);
            }
            black_box(&out);
        })
    });
}

fn proofs(c: &mut Criterion) {
    let tree = Uniform::new();
    let n = SIZE / 3;
    let old = (SIZE / 2) + 12_345;
    let root = tree_hash(SIZE, &tree).expect("tree_hash");
    let old_root = tree_hash(old, &tree).expect("tree_hash");
    let leaf = tree.levels[0];
    let record_proof = prove_record(SIZE, n, &tree).expect("prove_record");
    let tree_proof = prove_tree(SIZE, old, &tree).expect("prove_tree");
    verify_record(&record_proof, SIZE, root, n, leaf).expect("record proof verifies");
    verify_tree(&tree_proof, SIZE, root, old, old_root).expect("tree proof verifies");

    c.bench_function("tree_hash 2^30-1", |b| {
        b.iter(|| tree_hash(black_box(SIZE - 1), &tree))
    });
    c.bench_function("stored_hashes append at 2^30-1", |b| {
        b.iter(|| stored_hashes_for_record_hash(black_box(SIZE - 1), leaf, &tree))
    });
    c.bench_function("prove_record 2^30", |b| {
        b.iter(|| prove_record(SIZE, black_box(n), &tree))
    });
    c.bench_function("verify_record 2^30", |b| {
        b.iter(|| verify_record(black_box(&record_proof), SIZE, root, n, leaf))
    });
    c.bench_function("prove_tree 2^29+12345 -> 2^30", |b| {
        b.iter(|| prove_tree(SIZE, black_box(old), &tree))
    });
    c.bench_function("verify_tree 2^29+12345 -> 2^30", |b| {
        b.iter(|| verify_tree(black_box(&tree_proof), SIZE, root, old, old_root))
    });
}

fn tiles(c: &mut Criterion) {
    let tree = Uniform::new();
    // A size that is not a power of two, so partial tiles exist on every level.
    let size = SIZE + 1_000_003;
    let root = tree_hash(size, &tree).expect("tree_hash");
    let n = size / 3;
    let reader = TileHashReader::new(size, root, &tree);
    let proof = prove_record(size, n, &reader).expect("prove through tiles");
    verify_record(&proof, size, root, n, tree.levels[0]).expect("verifies");
    c.bench_function("tiles_for_record_proof 2^30+1000003", |b| {
        b.iter(|| tiles_for_record_proof(size, black_box(n)))
    });
    c.bench_function("prove_record via TileHashReader 2^30+1000003", |b| {
        b.iter(|| prove_record(size, black_box(n), &reader))
    });
    c.bench_function("tree_hash via TileHashReader 2^30+1000003", |b| {
        b.iter(|| tree_hash(size, &reader))
    });
    let tile = Tile {
        level: TileLevel::Hash(0),
        index: 1_234_067,
        width: 5,
    };
    let path = tile.path();
    c.bench_function("Tile::path", |b| b.iter(|| black_box(&tile).path()));
    c.bench_function("Tile::from_path", |b| {
        b.iter(|| Tile::from_path(black_box(&path)))
    });
}

fn bundles(c: &mut Criterion) {
    let entries: Vec<Vec<u8>> = (0..256u32).map(|i| vec![i as u8; 120]).collect();
    let data = encode_entry_bundle(&entries).expect("encode");
    c.bench_function("encode_entry_bundle 256 x 120 B", |b| {
        b.iter(|| encode_entry_bundle(black_box(&entries)))
    });
    c.bench_function("parse_entry_bundle 256 x 120 B", |b| {
        b.iter(|| parse_entry_bundle(black_box(&data)))
    });
}

/// Proving records of a ten-million-record tree held in memory (the verifiable index's
/// entry proofs): 20 records drawn uniformly (a lookup's mean).
fn memory_tree(c: &mut Criterion) {
    const RECORDS: u64 = 10_000_000;
    let leaves: Vec<Hash> = (0..RECORDS).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves).unwrap();
    drop(leaves);
    // A fresh pseudo-random draw every iteration, so no proof is cached from the last.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut draw = move || {
        let mut picks = [0u64; 20];
        for p in &mut picks {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            *p = (state >> 11) % RECORDS;
        }
        picks
    };
    let mut group = c.benchmark_group("memory_tree_10M");
    let mut proof = Vec::new();
    group.bench_function("20 proofs, MemoryTree", |b| {
        b.iter(|| {
            for n in draw() {
                tree.prove_record_into(n, &mut proof).unwrap();
                black_box(&proof);
            }
        })
    });
    // The same 20 records proven at once (the verifiable index's v2 answer).
    group.bench_function("one proof of 20 records, MemoryTree", |b| {
        b.iter(|| {
            let mut picks = draw();
            picks.sort_unstable();
            let mut n = 1;
            for i in 1..picks.len() {
                if picks[i] != picks[n - 1] {
                    picks[n] = picks[i];
                    n += 1;
                }
            }
            tree.prove_records_into(&picks[..n], &mut proof).unwrap();
            black_box(&proof);
        })
    });
    group.finish();
}

criterion_group!(benches, hashing, proofs, tiles, bundles, memory_tree);
criterion_main!(benches);
