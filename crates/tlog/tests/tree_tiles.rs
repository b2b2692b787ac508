//! Reading hashes through tiles: TileHashReader gives the same proofs as direct
//! storage, and rejects every forged tile, including non-rightmost tiles fetched
//! next to tiles that hold several of the root's subtree hashes (the x/mod
//! tileHashReader bug class: sizes like 300 and 70,000).

mod tree_common;

use bintrail_tlog::tile::{
    Tile, TileHashReader, TileLevel, tiles_for_hashes, tiles_for_record_proof, tiles_for_tree_proof,
};
use bintrail_tlog::tree::{
    HashReader, TreeError, prove_record, prove_tree, stored_hash_index, tree_hash, verify_record,
    verify_tree,
};
use tree_common::{TestLog, TestTiles};

fn hash_tile(level: u8, index: u64, width: u64) -> Tile {
    Tile {
        level: TileLevel::Hash(level),
        index,
        width,
    }
}

/// Proves through tiles and checks the result equals the direct proof.
fn check_proofs_through_tiles(log: &TestLog, t: u64, records: &[u64], olds: &[u64]) {
    let th = log.roots[t as usize];
    let tiles = TestTiles::new(&log.hashes);
    let reader = TileHashReader::new(t, th, &tiles);
    assert_eq!(tree_hash(t, &reader).expect("tree_hash via tiles"), th);
    for &n in records {
        let via_tiles = prove_record(t, n, &reader).expect("prove_record via tiles");
        assert_eq!(via_tiles, prove_record(t, n, &log.hashes).expect("direct"));
        verify_record(&via_tiles, t, th, n, log.leaves[n as usize]).expect("verify");
    }
    for &n in olds {
        let via_tiles = prove_tree(t, n, &reader).expect("prove_tree via tiles");
        assert_eq!(via_tiles, prove_tree(t, n, &log.hashes).expect("direct"));
        verify_tree(&via_tiles, t, th, n, log.roots[n as usize]).expect("verify");
    }
    // Everything fetched was authenticated and then saved.
    assert_eq!(*tiles.fetched.borrow(), *tiles.saved.borrow());
}

#[test]
fn every_read_through_tiles_for_small_and_boundary_sizes() {
    // In the manner of x/mod's TestTree: for each size, read leaf hashes, prove
    // records and older trees through tiles, and compare with storage.
    let log = TestLog::with_size(514);
    let sizes = (1..=100).chain(255..=260).chain(511..=513);
    for t in sizes {
        let tiles = TestTiles::new(&log.hashes);
        let reader = TileHashReader::new(t, log.roots[t as usize], &tiles);
        // Every record of small trees; a spread (and the tile edges) of larger ones.
        let records = (0..t).filter(|&j| t <= 100 || j % 16 == 0 || (j + 2) % 256 < 4 || j + 3 > t);
        for j in records {
            let leaf = reader
                .read_hashes(&[stored_hash_index(0, j)])
                .expect("leaf through tiles");
            assert_eq!(leaf, vec![log.leaves[j as usize]], "size {t} leaf {j}");
            let proof = prove_record(t, j, &reader).expect("prove_record via tiles");
            assert_eq!(proof, prove_record(t, j, &log.hashes).expect("direct"));
            assert_eq!(
                tree_hash(j + 1, &reader).expect("older tree hash via tiles"),
                log.roots[j as usize + 1],
                "size {t} old {}",
                j + 1
            );
            let proof = prove_tree(t, j + 1, &reader).expect("prove_tree via tiles");
            assert_eq!(proof, prove_tree(t, j + 1, &log.hashes).expect("direct"));
        }
        assert!(matches!(
            reader.read_hashes(&[stored_hash_index(0, t)]),
            Err(TreeError::HashNotInTree { .. })
        ));
        assert_eq!(*tiles.fetched.borrow(), *tiles.saved.borrow());
    }
}

#[test]
fn proofs_through_tiles_match_direct_proofs() {
    let log = TestLog::with_size(70_001);
    for t in [
        1, 2, 255, 256, 257, 300, 511, 512, 513, 65535, 65536, 65537, 70_000,
    ] {
        let records: Vec<u64> = [0, 1, 100, 255, 256, 257, 299, 65535, 65536, t - 1]
            .into_iter()
            .filter(|&n| n < t)
            .collect();
        let olds: Vec<u64> = [1, 2, 255, 256, 257, 300, 65536, t]
            .into_iter()
            .filter(|&n| n <= t)
            .collect();
        check_proofs_through_tiles(&log, t, &records, &olds);
    }
}

/// Forges `tile` and expects reading `index` through tiles of tree size `t` to fail
/// with an authentication error, without saving anything.
fn expect_forgery_caught(log: &TestLog, t: u64, tile: Tile, record: u64) {
    let mut tiles = TestTiles::new(&log.hashes);
    tiles.forge(tile);
    let reader = TileHashReader::new(t, log.roots[t as usize], &tiles);
    let result = prove_record(t, record, &reader);
    assert!(
        matches!(
            result,
            Err(TreeError::InconsistentTile { .. } | TreeError::TileRootMismatch { .. })
        ),
        "size {t}: forged {tile} reading record {record}: {result:?}"
    );
    assert!(
        tiles.fetched.borrow().contains(&tile),
        "size {t}: forged {tile} was never fetched"
    );
    assert!(
        tiles.saved.borrow().is_empty(),
        "size {t}: saved unauthenticated tiles"
    );
}

#[test]
fn forged_non_rightmost_tile_at_size_300() {
    // Size 300: root subtrees 256 (in tile 1/000.p/1) and 32+8+4 (all in the
    // partial tile 0/001.p/44). The full tile 0/000 is not a root tile.
    let log = TestLog::with_size(300);
    let forged = hash_tile(0, 0, 256);
    assert_eq!(forged.path(), "tile/0/000");
    expect_forgery_caught(&log, 300, forged, 5);
    expect_forgery_caught(&log, 300, forged, 255);
    let result = TileHashReader::new(300, log.roots[300], &{
        let mut t = TestTiles::new(&log.hashes);
        t.forge(forged);
        t
    })
    .read_hashes(&[stored_hash_index(0, 7)]);
    assert!(matches!(
        result,
        Err(TreeError::InconsistentTile { tile }) if tile == forged
    ));
}

#[test]
fn forged_non_rightmost_tile_at_size_70000() {
    // Size 70,000: 273 full level-0 tiles, 0/x001/017.p/112 partial; 1/000 full,
    // 1/001.p/17 partial; 2/000.p/1.
    let log = TestLog::with_size(70_000);
    expect_forgery_caught(&log, 70_000, hash_tile(0, 0, 256), 0);
    expect_forgery_caught(&log, 70_000, hash_tile(0, 200, 256), 200 * 256 + 3);
    expect_forgery_caught(&log, 70_000, hash_tile(0, 272, 256), 272 * 256);
    expect_forgery_caught(&log, 70_000, hash_tile(1, 0, 256), 10);
    expect_forgery_caught(&log, 70_000, hash_tile(1, 1, 17), 66_000);
    expect_forgery_caught(&log, 70_000, hash_tile(2, 0, 1), 69_999);
    expect_forgery_caught(&log, 70_000, hash_tile(0, 273, 112), 69_999);
}

#[test]
fn every_fetched_tile_is_authenticated() {
    // For many sizes and records, forge each tile the proof fetches in turn.
    let log = TestLog::with_size(70_001);
    for t in [257, 300, 513, 4000, 65536, 65537, 66_000, 70_000] {
        for record in [0, 1, 256, 299, t / 2, t - 1] {
            if record >= t {
                continue;
            }
            let needed = tiles_for_record_proof(t, record).expect("tiles_for_record_proof");
            for tile in needed {
                expect_forgery_caught(&log, t, tile, record);
            }
        }
    }
}

#[test]
fn tiles_for_proofs_are_what_the_reader_fetches() {
    let log = TestLog::with_size(70_001);
    for (t, n) in [(300, 5), (70_000, 0), (70_000, 69_999), (65536, 65535)] {
        let tiles = TestTiles::new(&log.hashes);
        let reader = TileHashReader::new(t, log.roots[t as usize], &tiles);
        prove_record(t, n, &reader).expect("prove_record");
        assert_eq!(
            *tiles.fetched.borrow(),
            tiles_for_record_proof(t, n).expect("plan")
        );
    }
    for (t, n) in [(300, 256), (70_000, 3), (70_000, 65536)] {
        let tiles = TestTiles::new(&log.hashes);
        let reader = TileHashReader::new(t, log.roots[t as usize], &tiles);
        prove_tree(t, n, &reader).expect("prove_tree");
        assert_eq!(
            *tiles.fetched.borrow(),
            tiles_for_tree_proof(t, n).expect("plan")
        );
    }
    assert_eq!(tiles_for_tree_proof(10, 10).expect("plan"), vec![]);
    assert_eq!(tiles_for_hashes(10, &[]).expect("plan"), vec![]);
}

#[test]
fn hash_outside_the_tree_is_rejected_before_fetching() {
    let log = TestLog::with_size(300);
    let tiles = TestTiles::new(&log.hashes);
    let reader = TileHashReader::new(300, log.roots[300], &tiles);
    let outside = stored_hash_index(0, 300);
    assert!(matches!(
        reader.read_hashes(&[outside]),
        Err(TreeError::HashNotInTree { size: 300, .. })
    ));
    assert!(tiles.fetched.borrow().is_empty());
    let empty = TileHashReader::new(0, log.roots[0], &tiles);
    assert!(matches!(
        empty.read_hashes(&[0]),
        Err(TreeError::HashNotInTree { size: 0, .. })
    ));
}

#[test]
fn wrong_root_is_rejected() {
    let log = TestLog::with_size(300);
    let tiles = TestTiles::new(&log.hashes);
    let reader = TileHashReader::new(300, log.roots[299], &tiles);
    assert!(matches!(
        prove_record(300, 5, &reader),
        Err(TreeError::TileRootMismatch { size: 300 })
    ));
    assert!(tiles.saved.borrow().is_empty());
}

#[test]
fn misbehaving_tile_reader_is_an_error() {
    use bintrail_tlog::tile::TileReader;
    struct Bad(usize, usize);
    impl TileReader for Bad {
        fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
            Ok(vec![vec![0; self.1]; tiles.len().saturating_sub(self.0)])
        }
        fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {
            panic!("saved bad tiles");
        }
    }
    let root = TestLog::with_size(300).roots[300];
    assert!(matches!(
        prove_record(300, 5, &TileHashReader::new(300, root, &Bad(1, 32))),
        Err(TreeError::ShortRead { .. })
    ));
    assert!(matches!(
        prove_record(300, 5, &TileHashReader::new(300, root, &Bad(0, 31))),
        Err(TreeError::BadTile { len: 31, .. })
    ));
}
