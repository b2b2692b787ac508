//! Fuzz target body for `bintrail migrate`'s reading of a source log: a small log laid out
//! like Tessera's POSIX driver (a `checkpoint` and tiles) with one of its files replaced
//! by arbitrary bytes.
//!
//! Included with `#[path]` by `fuzz_targets/migrate_source.rs` (libFuzzer) and
//! `crates/migrate/tests/arbitrary_source.rs` (stable, every test run).

use std::path::Path;

use bintrail_log::storage::{CheckpointKind, LocalStorage, Storage};
use bintrail_migrate::{Source, migrate};
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel, read_tile_data};
use bintrail_tlog::tree::{stored_hashes, tree_hash};

/// Entries of the source log: a full tile and a partial one.
const ENTRIES: u64 = 300;

/// Writes the log and returns its signer and its files (path, bytes).
pub fn write_log(dir: &Path) -> (Signer, Vec<(String, Vec<u8>)>) {
    let signer = Signer::generate("fuzz.example/log", KeyType::Ed25519, [9; 32]).expect("key");
    let entries: Vec<Vec<u8>> = (0..ENTRIES)
        .map(|i| {
            Entry {
                checksum: format!("sha256:{i:064x}").parse().expect("checksum"),
                filename: format!("p{i}-1.0-py3-none-any.whl")
                    .parse()
                    .expect("filename"),
                publisher: None,
            }
            .to_bytes()
        })
        .collect();
    let mut hashes = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let more = stored_hashes(i as u64, e, &hashes).expect("hashes");
        hashes.extend(more);
    }
    let mut files = Vec::new();
    for level in 0..3u8 {
        for index in 0..ENTRIES.div_ceil(TILE_WIDTH) {
            if let Some(tile) = Tile::in_tree(TileLevel::Hash(level), index, ENTRIES) {
                files.push((tile.path(), read_tile_data(&tile, &hashes).expect("tile")));
            }
        }
    }
    for index in 0..ENTRIES.div_ceil(TILE_WIDTH) {
        let tile = Tile::in_tree(TileLevel::Entries, index, ENTRIES).expect("bundle");
        let (a, b) = tile.record_range();
        let bundle = bintrail_tlog::bundle::encode_entry_bundle(&entries[a as usize..b as usize])
            .expect("bundle");
        files.push((tile.path(), bundle));
    }
    let checkpoint = Checkpoint {
        origin: signer.name().to_owned(),
        size: ENTRIES,
        root_hash: tree_hash(ENTRIES, &hashes).expect("root"),
        extensions: vec![],
    };
    let note = sign_checkpoint(&checkpoint, &signer).expect("sign");
    files.push(("checkpoint".to_owned(), note.to_bytes()));
    for (path, data) in &files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, data).expect("write");
    }
    (signer, files)
}

/// The first byte picks a file of the log, the rest replaces it. No panic; a migration
/// that succeeds wrote exactly the original log (so the replacement was the original).
pub fn migrate_source(data: &[u8]) {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let source_dir = dir.path().join("source");
    let (signer, files) = write_log(&source_dir);
    let (path, original) = &files[usize::from(pick) % files.len()];
    std::fs::write(source_dir.join(path), content).expect("replace");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let source =
        Source::open(source_dir.to_str().expect("utf-8"), rt.handle().clone()).expect("source");
    let target = LocalStorage::open(&dir.path().join("target")).expect("target");
    let result = migrate::<Entry>(&source, &signer.verifier(), &target, &|_, _| {});
    if result.is_ok() {
        assert_eq!(
            content,
            original.as_slice(),
            "{path} was replaced, yet migrated"
        );
        for (path, data) in &files {
            let got = if path == "checkpoint" {
                target
                    .read_checkpoint(CheckpointKind::Published)
                    .expect("read")
            } else {
                let tile = Tile::from_path(path).expect("path");
                target.read_tile(&tile).expect("read")
            };
            assert_eq!(got.as_deref(), Some(data.as_slice()), "{path}");
        }
    } else {
        assert!(
            target
                .read_checkpoint(CheckpointKind::Sequenced)
                .expect("read")
                .is_none(),
            "a refused migration wrote a checkpoint"
        );
    }
}
