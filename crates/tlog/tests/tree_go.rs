//! Cross-check against Go's reference, golang.org/x/mod/sumdb/tlog: tree hashes,
//! inclusion and consistency proofs, tile paths and tile data agree.
//!
//! The Go program (tests/go/tree.go) is built in GOPATH mode against the x/mod
//! sources Debian installs; `scripts/setup.sh` installs Go and them. Without Go this
//! test fails, naming that script.
//!
//! Two known differences are mapped, not hidden: x/mod writes Go sumdb tile paths
//! with a height element (`tile/8/0/...`) where C2SP tlog-tiles has none, and
//! x/mod's `NewTiles` lists a partial tile at every width from its width at the old
//! size to its width at the new size (sumdb serves them all), where `new_tiles`
//! lists only tiles that change, at their width at the new size (C2SP: partial
//! tiles for the checkpointed sizes).

mod go_common;
mod tree_common;

use std::collections::BTreeMap;
use std::path::Path;

use bintrail_tlog::hash::Hash;
use bintrail_tlog::tile::{Tile, TileLevel, new_tiles, read_tile_data};
use bintrail_tlog::tree::{prove_record, prove_tree, tree_hash};
use tree_common::TestLog;

const SIZE: u64 = 70_001;

/// Sends every query in one run and returns one answer per query.
fn ask_go(bin: &Path, queries: &[String]) -> Vec<String> {
    let mut input = format!("size {SIZE}\n");
    for q in queries {
        input.push_str(q);
        input.push('\n');
    }
    let text = go_common::run(bin, &input);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.first().map(String::as_str), Some("ok"));
    lines.remove(0);
    assert_eq!(lines.len(), queries.len(), "one answer per query");
    lines
}

fn base64_list(hashes: &[Hash]) -> String {
    hashes
        .iter()
        .map(Hash::to_base64)
        .collect::<Vec<_>>()
        .join(",")
}

/// Go sumdb path to C2SP path.
fn c2sp_path(go_path: &str) -> String {
    go_path.replacen("tile/8/", "tile/", 1)
}

/// Go sumdb path of a C2SP hash tile.
fn go_path(tile: &Tile) -> String {
    tile.path().replacen("tile/", "tile/8/", 1)
}

#[test]
fn trees_proofs_and_tiles_agree_with_x_mod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = go_common::build(dir.path(), "bintrailtree", include_str!("go/tree.go"));
    let log = TestLog::with_size(SIZE);

    let sizes: Vec<u64> = (1..=300)
        .chain([
            511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, 70_000, 70_001,
        ])
        .collect();
    let mut queries = Vec::new();
    let mut expected = Vec::new();
    for &t in &sizes {
        queries.push(format!("root {t}"));
        expected.push(log.roots[t as usize].to_base64());
        for n in [0, 1, t / 3, t / 2, t - 1] {
            if n < t {
                queries.push(format!("incl {t} {n}"));
                let proof = prove_record(t, n, &log.hashes).expect("prove_record");
                expected.push(base64_list(&proof));
            }
            let old = n + 1;
            if old <= t {
                queries.push(format!("cons {t} {old}"));
                let proof = prove_tree(t, old, &log.hashes).expect("prove_tree");
                expected.push(base64_list(&proof));
            }
        }
    }
    // Every tile of the final tree, with its data.
    let tiles = new_tiles(0, SIZE);
    for tile in &tiles {
        queries.push(format!("tile {}", go_path(tile)));
        let data = read_tile_data(tile, &log.hashes).expect("read_tile_data");
        expected.push(base64_encode(&data));
    }
    let tile_steps = [
        (0, 1),
        (0, 300),
        (1, 2),
        (255, 256),
        (300, 310),
        (300, 1000),
        (65535, 65536),
        (70_000, SIZE),
        (1000, SIZE),
    ];
    for (old, new) in tile_steps {
        queries.push(format!("tiles {old} {new}"));
        expected.push(String::new()); // compared below, after mapping
    }

    let answers = ask_go(&bin, &queries);
    let steps_start = queries.len() - tile_steps.len();
    for (i, (q, (want, got))) in queries
        .iter()
        .zip(expected.iter().zip(&answers))
        .enumerate()
    {
        if i < steps_start {
            assert_eq!(got, want, "query {q:?}");
        }
    }
    for ((old, new), go_answer) in tile_steps.iter().zip(&answers[steps_start..]) {
        // x/mod also relists each partial tile at its width at `old` (unchanged) and
        // at every width in between; keep, per tile, the widest: the tile at `new`.
        let mut widest: BTreeMap<(TileLevel, u64), u64> = BTreeMap::new();
        for path in go_answer.split(',').filter(|p| !p.is_empty()) {
            let tile = Tile::from_path(&c2sp_path(path))
                .unwrap_or_else(|e| panic!("x/mod path {path} does not parse: {e}"));
            if Some(tile) == tile.parent(0, *old) {
                continue;
            }
            let w = widest.entry((tile.level, tile.index)).or_insert(0);
            *w = (*w).max(tile.width);
        }
        let ours: BTreeMap<(TileLevel, u64), u64> = new_tiles(*old, *new)
            .into_iter()
            .map(|t| ((t.level, t.index), t.width))
            .collect();
        assert_eq!(ours, widest, "new tiles {old} -> {new}");
    }
    // Sanity: the tree hash through the in-memory reader is what was compared.
    assert_eq!(
        tree_hash(SIZE, &log.hashes).expect("tree_hash"),
        log.roots[SIZE as usize]
    );
}

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
