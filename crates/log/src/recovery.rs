//! Crash recovery: bring storage back to exactly the state the sequenced checkpoint commits.
//!
//! The sequenced checkpoint is the truth (see "Life of an entry" in the crate README). On
//! open, and after any failed write while sequencing, this module:
//! 1. creates and commits the empty tree if the log is new (refusing if data exists without
//!    a checkpoint: guessing there could fork the log);
//! 2. verifies the checkpoint's signature, that the tiles hash to its root, and the newest
//!    tiles and the partial entry bundle against the tree (`integrity.rs`);
//! 3. drops index rows at or beyond its size (left by a batch that never committed) and
//!    rebuilds rows missing below it from the entry bundles (lost with SQLite's WAL tail);
//! 4. loads the right edge (the partial entry bundle) for the sequencer;
//! 5. checks the published checkpoint against it, and publishes the empty tree directly.
//!
//! Tiles beyond the size are left alone: nothing reads them, and the next batch overwrites
//! those it needs.

use bintrail_tlog::bundle::parse_entry_bundle;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use bintrail_tlog::hash::{empty_tree_hash, leaf_hash};
use bintrail_tlog::note::{Signer, Verifier};
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel};
use bintrail_tlog::tree::{HashReader, stored_hash_index};
use bytes::Bytes;

use crate::error::LogError;
use crate::integrity::{CheckedTiles, Tree};
use crate::state::{Committed, ParseEntry};
use crate::storage::{CheckpointKind, IndexRecord, Storage};
use crate::tiles::{TileCache, TreeReader};

/// How many index rows recovery rebuilds per transaction.
const REBUILD_CHUNK: usize = 4096;

/// What recovery found: the committed tree and the latest published checkpoint.
pub(crate) struct Recovered {
    pub(crate) committed: Committed,
    /// The published checkpoint and its note.
    pub(crate) published: (Checkpoint, Bytes),
}

/// Runs recovery (see the module docs). Blocking: call it from a blocking thread.
pub(crate) fn recover(
    storage: &dyn Storage,
    cache: &TileCache,
    signer: &Signer,
    parse: ParseEntry,
) -> Result<Recovered, LogError> {
    let verifier = signer.verifier();
    let Some(note) = storage.read_checkpoint(CheckpointKind::Sequenced)? else {
        return create_empty_log(storage, signer);
    };
    let (checkpoint, _) =
        open_checkpoint(&note, &verifier).map_err(|source| LogError::BadCheckpoint {
            which: "sequenced",
            source,
        })?;
    let size = checkpoint.size;
    // The newest tiles against the signed root (issue 19, H8): a corrupt one is named and
    // the log does not start on it; older tiles are checked when first served.
    Tree {
        storage,
        cache,
        checked: &CheckedTiles::default(),
        size,
        root: checkpoint.root_hash,
    }
    .check_newest()?;
    let reader = TreeReader::new(storage, cache, size);
    repair_index(storage, &reader, size, parse)?;
    let edge = read_edge(storage, size)?;
    let published = read_published(storage, &verifier, &checkpoint, &note)?;
    Ok(Recovered {
        committed: Committed {
            checkpoint,
            note: Bytes::from(note),
            edge,
        },
        published,
    })
}

/// Commits and publishes the empty tree for a new log.
fn create_empty_log(storage: &dyn Storage, signer: &Signer) -> Result<Recovered, LogError> {
    let rows = storage.index_size()?;
    let published = storage.read_checkpoint(CheckpointKind::Published)?;
    if rows > 0 || published.is_some() {
        return Err(LogError::Corrupt {
            what: "data directory".into(),
            detail: format!(
                "no sequenced checkpoint, yet {rows} index rows{}; refusing to start a new tree over it",
                if published.is_some() {
                    " and a published checkpoint"
                } else {
                    ""
                }
            ),
        });
    }
    let checkpoint = Checkpoint {
        origin: signer.name().to_string(),
        size: 0,
        root_hash: empty_tree_hash(),
        extensions: vec![],
    };
    let note = sign_checkpoint(&checkpoint, signer)
        .map_err(LogError::Sign)?
        .to_bytes();
    storage.write_checkpoint(CheckpointKind::Sequenced, &note)?;
    // The empty tree can show no split view, so it is published without cosigning: a new
    // log must start even when no witness is reachable.
    storage.write_checkpoint(CheckpointKind::Published, &note)?;
    let note = Bytes::from(note);
    Ok(Recovered {
        committed: Committed {
            checkpoint: checkpoint.clone(),
            note: note.clone(),
            edge: vec![],
        },
        published: (checkpoint, note),
    })
}

/// Makes the index hold exactly the entries `0..size`.
fn repair_index(
    storage: &dyn Storage,
    reader: &TreeReader<'_>,
    size: u64,
    parse: ParseEntry,
) -> Result<(), LogError> {
    let rows = storage.index_size()?;
    if rows > size {
        tracing::warn!(
            rows,
            size,
            "dropping index rows beyond the sequenced checkpoint"
        );
        storage.truncate_index(size)?;
        return Ok(());
    }
    if rows < size {
        tracing::warn!(
            rows,
            size,
            "rebuilding index rows lost in a crash from the entry bundles"
        );
    }
    let mut next = rows;
    while next < size {
        let records = read_entries(storage, reader, next, size, REBUILD_CHUNK, parse)?;
        next += records.len() as u64;
        storage.restore_index(&records)?;
    }
    Ok(())
}

/// Reads up to `max` entries starting at `start` from the entry bundles of the tree of
/// `size`, checking each against its leaf hash in the tiles. Entries are read leniently
/// (`parse`, the kind's [`EntryKind::read_logged`](bintrail_tlog::entry::EntryKind::read_logged)): the checkpoint commits them whatever rules were in force when
/// they were added, so one that today's validator refuses must not stop recovery (issue 19,
/// the known limit of H6).
fn read_entries(
    storage: &dyn Storage,
    reader: &TreeReader<'_>,
    start: u64,
    size: u64,
    max: usize,
    parse: ParseEntry,
) -> Result<Vec<IndexRecord>, LogError> {
    let mut records = Vec::new();
    let mut index = start;
    while index < size && records.len() < max {
        let bundle = index / TILE_WIDTH;
        let entries = read_bundle(storage, bundle, size)?;
        for (offset, bytes) in entries
            .iter()
            .enumerate()
            .skip((index % TILE_WIDTH) as usize)
        {
            let at = bundle * TILE_WIDTH + offset as u64;
            let stored = reader
                .read_hashes(&[stored_hash_index(0, at)])
                .map_err(|e| corrupt("tiles", e))?;
            if stored.first() != Some(&leaf_hash(bytes)) {
                return Err(LogError::Corrupt {
                    what: format!("entry {at}"),
                    detail: "entry bundle does not match the leaf hash in the tiles".into(),
                });
            }
            let entry = parse(bytes).map_err(|e| corrupt(&format!("entry {at}"), e))?;
            records.push(IndexRecord { index: at, entry });
            index = at + 1;
        }
    }
    Ok(records)
}

/// Reads and parses entry bundle `bundle` of the tree of `size`.
pub(crate) fn read_bundle(
    storage: &dyn Storage,
    bundle: u64,
    size: u64,
) -> Result<Vec<Vec<u8>>, LogError> {
    let Some(tile) = Tile::in_tree(TileLevel::Entries, bundle, size) else {
        return Ok(vec![]);
    };
    let data = storage.read_tile(&tile)?.ok_or_else(|| LogError::Corrupt {
        what: tile.path(),
        detail: "entry bundle is missing although the checkpoint covers it".into(),
    })?;
    let entries = parse_entry_bundle(&data).map_err(|e| corrupt(&tile.path(), e))?;
    if entries.len() as u64 != tile.width {
        return Err(LogError::Corrupt {
            what: tile.path(),
            detail: format!(
                "bundle holds {} entries, want {}",
                entries.len(),
                tile.width
            ),
        });
    }
    Ok(entries.into_iter().map(|e| e.to_vec()).collect())
}

/// The entries of the partial bundle at the right edge of the tree of `size`.
fn read_edge(storage: &dyn Storage, size: u64) -> Result<Vec<Vec<u8>>, LogError> {
    if size.is_multiple_of(TILE_WIDTH) {
        return Ok(vec![]);
    }
    read_bundle(storage, size / TILE_WIDTH, size)
}

/// Reads the published checkpoint and checks it against the sequenced one.
fn read_published(
    storage: &dyn Storage,
    verifier: &Verifier,
    sequenced: &Checkpoint,
    sequenced_note: &[u8],
) -> Result<(Checkpoint, Bytes), LogError> {
    let Some(note) = storage.read_checkpoint(CheckpointKind::Published)? else {
        // Only a crash while creating the log leaves no published checkpoint behind a
        // sequenced one, and then the sequenced one is the empty tree. Anything else means
        // files were removed by hand: refuse to guess what readers saw.
        if sequenced.size == 0 {
            storage.write_checkpoint(CheckpointKind::Published, sequenced_note)?;
            return Ok((sequenced.clone(), Bytes::copy_from_slice(sequenced_note)));
        }
        return Err(LogError::Corrupt {
            what: "data directory".into(),
            detail: format!(
                "sequenced checkpoint of size {} but no published checkpoint",
                sequenced.size
            ),
        });
    };
    let (checkpoint, _) =
        open_checkpoint(&note, verifier).map_err(|source| LogError::BadCheckpoint {
            which: "published",
            source,
        })?;
    let forked = checkpoint.size == sequenced.size && checkpoint.root_hash != sequenced.root_hash;
    if checkpoint.size > sequenced.size || forked {
        return Err(LogError::Corrupt {
            what: "published checkpoint".into(),
            detail: format!(
                "published size {} root {} does not fit sequenced size {} root {}",
                checkpoint.size, checkpoint.root_hash, sequenced.size, sequenced.root_hash
            ),
        });
    }
    Ok((checkpoint, Bytes::from(note)))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> LogError {
    LogError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    }
}
