//! Authenticated tile reads: every hash read through tiles is checked against the
//! signed root, so one forged tile anywhere makes the read fail (issue 5).

mod support;

use bintrail_client::fetch::Timeouts;
use bintrail_client::log::{LogReader, ReadError};
use bintrail_client::state::TileCache;
use bintrail_tlog::tile::{Tile, TileLevel};
use bintrail_tlog::tree::{stored_hash_index, verify_tree};
use support::{TestLog, TestServer};

/// A log of 70,000 entries, built once per test binary.
fn big_log() -> TestLog {
    static LOG: std::sync::OnceLock<TestLog> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let mut log = TestLog::new(1, 0);
        log.append_filler(70_000, "");
        log
    })
    .clone()
}

fn reader(server: &TestServer) -> LogReader {
    LogReader::new(&server.url, Timeouts::default()).unwrap()
}

fn flip(mut data: Vec<u8>, at: usize) -> Vec<u8> {
    data[at] ^= 1;
    data
}

/// The first hash of tile `level/index` at tree level 8*level.
fn first_hash_of(level: u8, index: u64) -> u64 {
    stored_hash_index(8 * level, index * 256)
}

/// Reads the first hash of `target` honestly, then again with `forged` tampered
/// with (one flipped byte), and expects a refusal.
async fn expect_refusal(log: &TestLog, size: u64, target: (u8, u64), forged: &str) {
    let server = TestServer::start(log.clone(), size, &[]).await;
    let r = reader(&server);
    let root = log.root(size);
    let index = first_hash_of(target.0, target.1);
    let honest = r.read_hashes(size, root, &[index], None).await.unwrap();
    assert_eq!(honest, vec![log.hashes[index as usize]]);

    let tile = Tile::from_path(forged).unwrap();
    server.forge(forged, flip(log.tile(&tile, size).unwrap(), 7));
    let err = r.read_hashes(size, root, &[index], None).await.unwrap_err();
    assert!(
        matches!(err, ReadError::Unauthenticated(_)),
        "size {size}, forged {forged}: {err}"
    );
    assert!(
        server.requests().iter().any(|p| p == forged),
        "the forged tile {forged} was never fetched"
    );
}

#[tokio::test]
async fn forged_full_level0_tile_at_size_300() {
    let mut log = TestLog::new(1, 0);
    log.append_filler(300, "");
    expect_refusal(&log, 300, (0, 0), "tile/0/000").await;
}

#[tokio::test]
async fn forged_rightmost_partial_tile_at_size_300() {
    let mut log = TestLog::new(1, 0);
    log.append_filler(300, "");
    expect_refusal(&log, 300, (0, 1), "tile/0/001.p/44").await;
    // The level-1 tile holds the hash of tile 0/000 beside nothing else.
    expect_refusal(&log, 300, (0, 0), "tile/1/000.p/1").await;
}

#[tokio::test]
async fn forged_non_rightmost_tiles_at_size_70000() {
    let log = big_log();
    // Full level-0 tiles in the middle and just before the partial one.
    expect_refusal(&log, 70_000, (0, 100), "tile/0/100").await;
    expect_refusal(&log, 70_000, (0, 272), "tile/0/272").await;
    // The full level-1 tile under the 65,536-leaf subtree.
    expect_refusal(&log, 70_000, (1, 0), "tile/1/000").await;
    expect_refusal(&log, 70_000, (0, 5), "tile/1/000").await;
    // Tiles holding several of the root's subtree hashes at once.
    expect_refusal(&log, 70_000, (0, 256), "tile/1/001.p/17").await;
    expect_refusal(&log, 70_000, (0, 273), "tile/0/273.p/112").await;
    expect_refusal(&log, 70_000, (1, 0), "tile/2/000.p/1").await;
}

#[tokio::test]
async fn consistency_proof_from_tiles_verifies_and_refuses_forgeries() {
    let log = big_log();
    let server = TestServer::start(log.clone(), 70_000, &[]).await;
    let r = reader(&server);
    let root = log.root(70_000);
    for old in [1, 255, 256, 300, 65_536, 69_999] {
        let proof = r.prove_tree(70_000, root, old, None).await.unwrap();
        verify_tree(&proof, 70_000, root, old, log.root(old)).unwrap();
    }
    let tile = Tile::from_path("tile/0/001").unwrap();
    server.forge("tile/0/001", flip(log.tile(&tile, 70_000).unwrap(), 0));
    let err = r.prove_tree(70_000, root, 300, None).await.unwrap_err();
    assert!(matches!(err, ReadError::Unauthenticated(_)), "{err}");
}

#[tokio::test]
async fn only_authenticated_full_tiles_are_cached() {
    let mut log = TestLog::new(1, 0);
    log.append_filler(300, "");
    let server = TestServer::start(log.clone(), 300, &[]).await;
    let r = reader(&server);
    let dir = tempfile::tempdir().unwrap();
    let cache = TileCache::new(dir.path());

    // A forged full tile is refused and not cached.
    let full = Tile {
        level: TileLevel::Hash(0),
        index: 0,
        width: 256,
    };
    server.forge("tile/0/000", flip(log.tile(&full, 300).unwrap(), 3));
    let index = first_hash_of(0, 0);
    assert!(
        r.read_hashes(300, log.root(300), &[index], Some(&cache))
            .await
            .is_err()
    );
    assert_eq!(cache.read("tile/0/000").unwrap(), None);

    // The honest one is cached (full) and the partial ones are not.
    server.switch(log.clone(), 300);
    r.read_hashes(300, log.root(300), &[index], Some(&cache))
        .await
        .unwrap();
    assert_eq!(cache.read("tile/0/000").unwrap(), log.tile(&full, 300));
    assert_eq!(cache.read("tile/1/000.p/1").unwrap(), None);

    // Next time the full tile comes from the cache, even if the log now lies.
    server.forge("tile/0/000", vec![0; 8192]);
    let before = server.requests().len();
    let again = r
        .read_hashes(300, log.root(300), &[index], Some(&cache))
        .await
        .unwrap();
    assert_eq!(again, vec![log.hashes[index as usize]]);
    assert!(
        !server.requests()[before..]
            .iter()
            .any(|p| p == "tile/0/000")
    );
}

#[tokio::test]
async fn wrong_sized_tile_is_refused() {
    let mut log = TestLog::new(1, 0);
    log.append_filler(300, "");
    let server = TestServer::start(log.clone(), 300, &[]).await;
    server.forge("tile/0/000", vec![0; 100]);
    let err = reader(&server)
        .read_hashes(300, log.root(300), &[first_hash_of(0, 0)], None)
        .await
        .unwrap_err();
    assert!(matches!(err, ReadError::Unauthenticated(_)), "{err}");
}

#[tokio::test]
async fn deleted_partial_tile_falls_back_to_the_full_tile() {
    // The log has grown to 600 but the client checks the tree of size 300, whose
    // partial tile 0/001.p/44 the log has deleted now that 0/001 is full.
    let mut log = TestLog::new(1, 0);
    log.append_filler(600, "");
    let server = TestServer::start(log.clone(), 600, &[]).await;
    server
        .served
        .lock()
        .unwrap()
        .gone
        .push("tile/0/001.p/44".to_owned());
    let index = first_hash_of(0, 1);
    let hashes = reader(&server)
        .read_hashes(300, log.root(300), &[index], None)
        .await
        .unwrap();
    assert_eq!(hashes, vec![log.hashes[index as usize]]);
    let requests = server.requests();
    assert!(
        requests.iter().any(|p| p == "tile/0/001.p/44"),
        "{requests:?}"
    );
    assert!(requests.iter().any(|p| p == "tile/0/001"), "{requests:?}");
}
