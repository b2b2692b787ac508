//! `bintrail migrate`: copies an existing tlog-tiles log into a bintrail log on any
//! storage backend, so its operator continues the same log (same origin, same key) with
//! bintrail.
//!
//! The source is a directory laid out like the tlog-tiles URLs (bintrail's own data
//! directory; Tessera's POSIX layout, which bt-log writes) or a tlog-tiles URL. Nothing
//! of it is trusted: its checkpoint must verify with the source's key, every hash tile and
//! entry bundle is authenticated against that checkpoint's root before it is written
//! ([`verify`]), and the uniqueness index is rebuilt from the entries themselves, refusing
//! a source that holds two entries under one identifier ([`copy`]). The target gets its
//! checkpoints last, so a target whose migration was interrupted has none and no `serve`
//! starts on it (recovery refuses index rows without a checkpoint); running the migration
//! again continues where the target's index stops.
//!
//! The order on the target is the sequencer's: tiles and bundles, then index rows, then
//! the sequenced checkpoint (the commit point), then the published one.

#![deny(missing_docs)]
// Outside input (a source log) must never panic a migration: unwrap and expect only in tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod copy;
mod error;
pub mod source;
mod verify;

use bintrail_log::storage::{CheckpointKind, Storage};
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel};

pub use error::{Conflict, MigrateError, SourceError, Tamper};
pub use source::Source;

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// The size of the source's sequenced checkpoint (the target's tree size now).
    pub size: u64,
    /// The size of the source's published checkpoint.
    pub published: u64,
    /// The number of entries the target's index already held when this run started.
    pub resumed_from: u64,
    /// The number of entries this run wrote.
    pub copied: u64,
    /// The target already held exactly this log: nothing was written.
    pub already_done: bool,
}

/// A signed checkpoint of the source.
struct Signed {
    note: Vec<u8>,
    checkpoint: Checkpoint,
}

/// Migrates `source` (verified with `key`) into `target`, whose entries are of kind `E`.
/// `progress(done, total)` is called after each chunk of entries. Call it from a blocking
/// thread: backends such as `CloudStorage` block on their runtime.
pub fn migrate<E: EntryKind>(
    source: &Source,
    key: &Verifier,
    target: &dyn Storage,
    progress: &dyn Fn(u64, u64),
) -> Result<Report, MigrateError> {
    // The published checkpoint first: a live bintrail source only ever moves its
    // sequenced checkpoint ahead of it.
    let published = read_checkpoint(source, "checkpoint", key)?;
    let sequenced = read_checkpoint(source, "sequenced-checkpoint", key)?;
    let (sequenced, published) = match (sequenced, published) {
        (Some(s), Some(p)) => (s, p),
        (Some(s), None) => (s.clone_signed(), s),
        (None, Some(p)) => (p.clone_signed(), p),
        (None, None) => {
            return Err(MigrateError::NoCheckpoint {
                path: source.describe("checkpoint"),
            });
        }
    };
    let (size, root) = (sequenced.checkpoint.size, sequenced.checkpoint.root_hash);
    let p = published.checkpoint.size;
    let mut report = Report {
        origin: sequenced.checkpoint.origin.clone(),
        size,
        published: p,
        resumed_from: 0,
        copied: 0,
        already_done: false,
    };

    // An earlier migration of this log that the source has since outgrown is caught up:
    // its checkpoint must be a prefix of the source's tree.
    let mut caught_up: Option<Checkpoint> = None;
    if let Some(note) = target.read_checkpoint(CheckpointKind::Sequenced)? {
        if note == sequenced.note {
            report.already_done = true;
            report.resumed_from = size;
            if target
                .read_checkpoint(CheckpointKind::Published)?
                .as_deref()
                != Some(published.note.as_slice())
            {
                target.write_checkpoint(CheckpointKind::Published, &published.note)?;
            }
            progress(size, size);
            return Ok(report);
        }
        match open_checkpoint(&note, key) {
            Ok((cp, _)) if cp.size < size => caught_up = Some(cp),
            _ => {
                return Err(MigrateError::TargetNotEmpty {
                    size: note_size(&note),
                });
            }
        }
    }
    let start = target.index_size()?;
    if start > size || caught_up.as_ref().is_some_and(|cp| cp.size != start) {
        return Err(MigrateError::TargetNotEmpty { size: start });
    }
    report.resumed_from = start;

    let extra: Vec<u64> = [Some(p), caught_up.as_ref().map(|cp| cp.size)]
        .into_iter()
        .flatten()
        .filter(|&s| s < size && !s.is_multiple_of(TILE_WIDTH))
        .map(|s| s / TILE_WIDTH)
        .collect();
    let upper = verify::Upper::load(source, size, root, &extra)?;
    if p > size
        || (p == size && published.checkpoint.root_hash != root)
        || (p < size && upper.tree_hash(p, root) != Some(published.checkpoint.root_hash))
    {
        return Err(MigrateError::Inconsistent {
            published: p,
            sequenced: size,
        });
    }
    if let Some(cp) = &caught_up
        && upper.tree_hash(cp.size, root) != Some(cp.root_hash)
    {
        return Err(MigrateError::TargetNotEmpty { size: cp.size });
    }
    progress(start, size);
    report.copied = copy::copy::<E>(source, target, &upper, size, start, &|done| {
        progress(done, size)
    })?;

    // The hash tiles above level 0, then the partial tiles the published checkpoint needs
    // if it is behind, then the checkpoints.
    let mut tiles: Vec<(Tile, Vec<u8>)> = upper.above_level0().cloned().collect();
    if p < size {
        tiles.extend(published_tiles(source, &upper, size, p)?);
    }
    for batch in tiles.chunks(256) {
        target.write_tiles(batch)?;
    }
    target.write_checkpoint(CheckpointKind::Sequenced, &sequenced.note)?;
    target.write_checkpoint(CheckpointKind::Published, &published.note)?;
    Ok(report)
}

/// The partial tiles of the tree of size `p` (a prefix of the verified tree of `size`):
/// at each level, the prefix of the tile at the same index.
fn published_tiles(
    source: &Source,
    upper: &verify::Upper,
    size: u64,
    p: u64,
) -> Result<Vec<(Tile, Vec<u8>)>, MigrateError> {
    let mut out = Vec::new();
    for level in 0..=bintrail_tlog::tile::MAX_TILE_LEVEL {
        let count = p.checked_shr(u32::from(level) * 8).unwrap_or(0);
        if count == 0 {
            break;
        }
        let Some(tile) = Tile::in_tree(TileLevel::Hash(level), count / TILE_WIDTH, p) else {
            continue;
        };
        if tile.is_full() {
            continue;
        }
        let Some((_, data)) = upper.tile(level, tile.index) else {
            return Err(MigrateError::Missing {
                path: source.describe(&tile.path()),
            });
        };
        out.push((tile, data[..tile.width as usize * 32].to_vec()));
        if level == 0 {
            // The bundle's first entries; authenticated by the level-0 prefix just taken.
            let bundle = Tile::entries_for(&tile);
            let full = Tile::in_tree(TileLevel::Entries, tile.index, size).unwrap_or(bundle);
            let read = verify::read_tiles(source, &[full])?;
            let data = read.into_iter().next().unwrap_or_default();
            let entries = bintrail_tlog::bundle::parse_entry_bundle_with_width(&data, full.width)
                .map_err(|e| MigrateError::Bundle {
                path: source.describe(&full.path()),
                source: e,
            })?;
            let first = &entries[..tile.width as usize];
            let hashes: Vec<u8> = first
                .iter()
                .flat_map(|e| bintrail_tlog::hash::leaf_hash(e).0)
                .collect();
            if hashes != data_prefix(&out, tile) {
                return Err(MigrateError::Tampered {
                    path: source.describe(&full.path()),
                    size,
                    detail: Tamper::Bundle,
                });
            }
            let encoded = bintrail_tlog::bundle::encode_entry_bundle(first.iter().copied())
                .map_err(|e| MigrateError::Bundle {
                    path: source.describe(&full.path()),
                    source: e,
                })?;
            out.push((bundle, encoded));
        }
    }
    Ok(out)
}

fn data_prefix(out: &[(Tile, Vec<u8>)], tile: Tile) -> Vec<u8> {
    out.iter()
        .find(|(t, _)| *t == tile)
        .map(|(_, d)| d.clone())
        .unwrap_or_default()
}

impl Signed {
    fn clone_signed(&self) -> Signed {
        Signed {
            note: self.note.clone(),
            checkpoint: self.checkpoint.clone(),
        }
    }
}

fn read_checkpoint(
    source: &Source,
    path: &str,
    key: &Verifier,
) -> Result<Option<Signed>, MigrateError> {
    let Some(note) = source.read(path)? else {
        return Ok(None);
    };
    let (checkpoint, _) = open_checkpoint(&note, key).map_err(|e| MigrateError::Checkpoint {
        path: source.describe(path),
        key: key.name().to_owned(),
        source: e,
    })?;
    Ok(Some(Signed { note, checkpoint }))
}

/// The size a checkpoint note states, or 0 if it does not parse.
fn note_size(note: &[u8]) -> u64 {
    bintrail_tlog::note::Note::parse(note)
        .ok()
        .and_then(|n| n.text.parse::<Checkpoint>().ok())
        .map_or(0, |c| c.size)
}
