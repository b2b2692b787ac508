//! Shared helpers for the tree, tile and bundle integration tests.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::cell::RefCell;
use std::collections::HashMap;

use bintrail_tlog::hash::{Hash, leaf_hash, node_hash};
use bintrail_tlog::tile::{Tile, TileReader, read_tile_data};
use bintrail_tlog::tree::{HashReader, TreeError, stored_hashes, tree_hash};

/// The content of record `i` in test trees.
pub fn record(i: u64) -> Vec<u8> {
    format!("record {i}").into_bytes()
}

/// RFC 6962 Section 2.1 MTH, written plainly and recursively as the reference.
pub fn reference_mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => bintrail_tlog::hash::empty_tree_hash(),
        1 => leaves[0],
        n => {
            let k = largest_power_below(n);
            node_hash(&reference_mth(&leaves[..k]), &reference_mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 Section 2.1.1 PATH(m, D[n]), plainly.
pub fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = largest_power_below(n);
    if m < k {
        let mut p = reference_path(m, &leaves[..k]);
        p.push(reference_mth(&leaves[k..]));
        p
    } else {
        let mut p = reference_path(m - k, &leaves[k..]);
        p.push(reference_mth(&leaves[..k]));
        p
    }
}

/// RFC 6962 Section 2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), plainly.
pub fn reference_consistency(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![reference_mth(d)] };
        }
        let k = largest_power_below(n);
        if m <= k {
            let mut p = sub(m, &d[..k], b);
            p.push(reference_mth(&d[k..]));
            p
        } else {
            let mut p = sub(m - k, &d[k..], false);
            p.push(reference_mth(&d[..k]));
            p
        }
    }
    sub(m, leaves, true)
}

fn largest_power_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// A log built with `stored_hashes`, as a server would: all stored hashes in order
/// plus the leaf hashes for the reference.
pub struct TestLog {
    pub hashes: Vec<Hash>,
    pub leaves: Vec<Hash>,
    /// roots[n] is tree_hash(n), computed as each record is appended.
    pub roots: Vec<Hash>,
}

impl TestLog {
    pub fn new() -> Self {
        TestLog {
            hashes: Vec::new(),
            leaves: Vec::new(),
            roots: vec![bintrail_tlog::hash::empty_tree_hash()],
        }
    }

    pub fn with_size(n: u64) -> Self {
        let mut log = TestLog::new();
        for _ in 0..n {
            log.append();
        }
        log
    }

    pub fn append(&mut self) {
        let i = self.leaves.len() as u64;
        let data = record(i);
        let new = stored_hashes(i, &data, &self.hashes).expect("stored_hashes");
        self.leaves.push(leaf_hash(&data));
        self.hashes.extend(new);
        let root = tree_hash(i + 1, &self.hashes).expect("tree_hash");
        self.roots.push(root);
    }
}

/// A tile server backed by a test log's hashes, with optional forged tiles and a
/// record of what was fetched and saved.
pub struct TestTiles<'a> {
    pub log: &'a [Hash],
    pub forged: HashMap<Tile, Vec<u8>>,
    pub fetched: RefCell<Vec<Tile>>,
    pub saved: RefCell<Vec<Tile>>,
}

impl<'a> TestTiles<'a> {
    pub fn new(log: &'a [Hash]) -> Self {
        TestTiles {
            log,
            forged: HashMap::new(),
            fetched: RefCell::new(Vec::new()),
            saved: RefCell::new(Vec::new()),
        }
    }

    /// Serves `tile` with its first byte flipped.
    pub fn forge(&mut self, tile: Tile) {
        let mut data = read_tile_data(&tile, self.log).expect("tile of the test log");
        data[0] ^= 1;
        self.forged.insert(tile, data);
    }
}

impl TileReader for TestTiles<'_> {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
        self.fetched.borrow_mut().extend_from_slice(tiles);
        tiles
            .iter()
            .map(|t| match self.forged.get(t) {
                Some(d) => Ok(d.clone()),
                None => read_tile_data(t, self.log),
            })
            .collect()
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        assert_eq!(tiles.len(), data.len(), "save_tiles got mismatched slices");
        self.saved.borrow_mut().extend_from_slice(tiles);
    }
}

/// A HashReader that derives the hash of every stored index without storing it,
/// for huge synthetic trees: leaves are leaf_hash(i) and interior hashes are
/// computed... lazily would be too slow, so interior hashes are arbitrary but
/// deterministic. Proofs from it verify against roots computed from it.
pub struct SyntheticReader;

impl HashReader for SyntheticReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        Ok(indexes
            .iter()
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect())
    }
}
