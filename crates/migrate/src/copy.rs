//! Streaming the entries: each chunk of entry bundles is read, authenticated against
//! [`Upper`], checked for uniqueness against the target's index, and only then written
//! (tiles and bundles first, index rows second, as the sequencer does).
//!
//! Resuming needs no state of its own: the target's index size says how far the last run
//! got (rows are appended one chunk at a time, after the chunk's tiles), and the rows just
//! below it are compared with the source, so a target filled from another source is refused.

use std::collections::HashMap;

use bintrail_log::storage::{IndexRecord, Storage, StoredEntry};
use bintrail_tlog::bundle::parse_entry_bundle_with_width;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel};

use crate::error::{Conflict, MigrateError, Tamper};
use crate::source::Source;
use crate::verify::{Upper, read_tiles, tile_root};

/// Entry bundles per chunk: 16 × 256 = 4,096 entries per index transaction.
const CHUNK_BUNDLES: u64 = 16;
/// Conflicts reported before the scan stops.
const MAX_CONFLICTS: usize = 100;

/// The first entry seen under an identifier: index, name, digest.
type Seen = (u64, String, Vec<u8>);

/// Copies entries `start..size` (re-checking the ones just below `start` against the
/// target) and returns how many were written. `progress` gets the number of entries done.
pub(crate) fn copy<E: EntryKind>(
    source: &Source,
    target: &dyn Storage,
    upper: &Upper,
    size: u64,
    start: u64,
    progress: &dyn Fn(u64),
) -> Result<u64, MigrateError> {
    let bundles = size.div_ceil(TILE_WIDTH);
    let mut bundle = start.saturating_sub(1) / TILE_WIDTH;
    let mut written = 0;
    let mut conflicts: Vec<Conflict> = Vec::new();
    let mut stopped_at: Option<u64> = None;
    // Entries after the first conflict, which are not written to the target's index.
    let mut unwritten: HashMap<String, Seen> = HashMap::new();
    while bundle < bundles && conflicts.len() < MAX_CONFLICTS {
        let end = (bundle + CHUNK_BUNDLES).min(bundles);
        let chunk = Chunk::read::<E>(source, upper, size, bundle..end)?;
        let (old, new): (Vec<_>, Vec<_>) = chunk.records.iter().partition(|r| r.index < start);
        check_written(target, &old)?;
        let found = uniqueness(target, &new, &unwritten)?;
        let mut restore = false;
        for (record, earlier) in new.iter().zip(found) {
            let Some(earlier) = earlier else { continue };
            if earlier.2 != record.entry.digest || earlier.1 == record.entry.name {
                conflicts.push(Conflict {
                    identifier: record.entry.identifier.clone().unwrap_or_default(),
                    first: (earlier.0, earlier.1, hex(&earlier.2)),
                    second: (
                        record.index,
                        record.entry.name.clone(),
                        hex(&record.entry.digest),
                    ),
                });
            } else {
                // An alias with the same digest, logged before aliases were refused.
                restore = true;
            }
        }
        restore |= new.iter().any(|r| r.entry.identifier.is_none());
        if !conflicts.is_empty() {
            stopped_at.get_or_insert(new.first().map_or(start, |r| r.index));
            for r in &new {
                if let Some(id) = &r.entry.identifier {
                    unwritten
                        .entry(id.clone())
                        .or_insert_with(|| (r.index, r.entry.name.clone(), r.entry.digest.clone()));
                }
            }
        } else {
            target.write_tiles(&chunk.tiles)?;
            let rows: Vec<IndexRecord> = new.into_iter().cloned().collect();
            if restore {
                target.restore_index(&rows)?;
            } else if !rows.is_empty() {
                target.append_index(&rows)?;
            }
            written += rows.len() as u64;
        }
        progress((end * TILE_WIDTH).min(size));
        bundle = end;
    }
    if !conflicts.is_empty() {
        return Err(MigrateError::Conflicts {
            conflicts,
            stopped_at: stopped_at.unwrap_or(start),
        });
    }
    Ok(written)
}

/// The authenticated bundles and level-0 tiles of a run of bundles, and their entries.
struct Chunk {
    tiles: Vec<(Tile, Vec<u8>)>,
    records: Vec<IndexRecord>,
}

impl Chunk {
    fn read<E: EntryKind>(
        source: &Source,
        upper: &Upper,
        size: u64,
        bundles: std::ops::Range<u64>,
    ) -> Result<Chunk, MigrateError> {
        let level0: Vec<Tile> = bundles
            .clone()
            .filter_map(|i| Tile::in_tree(TileLevel::Hash(0), i, size))
            .collect();
        let entries: Vec<Tile> = level0.iter().map(Tile::entries_for).collect();
        // Full level-0 tiles are read to be checked; the partial one is in `upper`.
        let full: Vec<Tile> = level0.iter().filter(|t| t.is_full()).copied().collect();
        let mut read = read_tiles(source, &[entries.clone(), full].concat())?;
        let full_data = read.split_off(entries.len());
        let mut full_data = full_data.into_iter();
        let mut chunk = Chunk {
            tiles: Vec::new(),
            records: Vec::new(),
        };
        for ((bundle, tile), data) in entries.iter().zip(&level0).zip(read) {
            let path = source.describe(&bundle.path());
            let logged = parse_entry_bundle_with_width(&data, bundle.width).map_err(|source| {
                MigrateError::Bundle {
                    path: path.clone(),
                    source,
                }
            })?;
            let hashes: Vec<Hash> = logged.iter().map(|e| leaf_hash(e)).collect();
            let ours: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
            let tampered = |path: String, detail| MigrateError::Tampered { path, size, detail };
            if tile.is_full() {
                if upper.level0_root(tile.index) != Some(tile_root(&hashes)) {
                    return Err(tampered(path, Tamper::Bundle));
                }
                if full_data.next().as_deref() != Some(ours.as_slice()) {
                    return Err(tampered(source.describe(&tile.path()), Tamper::Level0));
                }
            } else if upper.tile(0, tile.index).map(|(_, d)| d.as_slice()) != Some(ours.as_slice())
            {
                return Err(tampered(path, Tamper::Bundle));
            }
            let first = tile.index * TILE_WIDTH;
            for (i, bytes) in logged.iter().enumerate() {
                let index = first + i as u64;
                let entry =
                    StoredEntry::read_logged::<E>(bytes).map_err(|e| MigrateError::Entry {
                        index,
                        source: Box::new(e),
                    })?;
                chunk.records.push(IndexRecord { index, entry });
            }
            chunk.tiles.push((*bundle, data.clone()));
            chunk.tiles.push((*tile, ours));
        }
        Ok(chunk)
    }
}

/// Rows below the resume point must be in the target exactly as in the source.
fn check_written(target: &dyn Storage, old: &[&IndexRecord]) -> Result<(), MigrateError> {
    if old.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = old.iter().map(|r| r.entry.name.as_str()).collect();
    for (record, found) in old.iter().zip(target.lookup(&names)?) {
        let same = found
            .as_ref()
            .is_some_and(|f| f.index == record.index && f.entry.bytes == record.entry.bytes);
        if !same {
            return Err(MigrateError::TargetDiverged {
                index: record.index,
                name: record.entry.name.clone(),
            });
        }
    }
    Ok(())
}

/// For each new record, the earlier entry under its identifier, if any: in this chunk, in
/// the target's index, or among the entries scanned but not written after a conflict.
fn uniqueness(
    target: &dyn Storage,
    new: &[&IndexRecord],
    unwritten: &HashMap<String, Seen>,
) -> Result<Vec<Option<Seen>>, MigrateError> {
    let ids: Vec<&str> = new
        .iter()
        .filter_map(|r| r.entry.identifier.as_deref())
        .collect();
    let mut indexed = target.lookup_for_append(&ids)?.into_iter();
    let mut in_chunk: HashMap<&str, Seen> = HashMap::new();
    let mut out = Vec::with_capacity(new.len());
    for r in new {
        let Some(id) = r.entry.identifier.as_deref() else {
            out.push(None);
            continue;
        };
        let from_target = indexed
            .next()
            .flatten()
            .map(|f| (f.index, f.entry.name, f.entry.digest));
        let earlier = from_target
            .or_else(|| unwritten.get(id).cloned())
            .or_else(|| in_chunk.get(id).cloned());
        if earlier.is_none() {
            in_chunk.insert(id, (r.index, r.entry.name.clone(), r.entry.digest.clone()));
        }
        out.push(earlier);
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
