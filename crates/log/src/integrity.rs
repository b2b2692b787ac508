//! Served entry bundles are checked against the tree before they are served the first
//! time (issue 19, finding H8): a flipped byte on disk was served with `Cache-Control:
//! immutable` for a year, and a monitor past that point never looked again.
//!
//! A bundle is checked by hashing each entry (RFC 6962 leaf hash) and comparing with the
//! level-0 hashes the tree stores for those leaves: one SHA-256 per entry and one hash
//! tile read, once per bundle and width per process. Hash tiles themselves are not
//! checked here (the proof cache recomputes what it holds); a corrupt level-0 tile makes
//! its bundle fail the check too, so neither is served.

use std::collections::HashSet;
use std::sync::Mutex;

use bintrail_tlog::bundle::parse_entry_bundle_with_width;
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::tile::{TILE_WIDTH, Tile};
use bintrail_tlog::tree::{HashReader, stored_hash_index};

use crate::error::LogError;
use crate::storage::Storage;
use crate::tiles::{TileCache, TreeReader};

/// The entry bundles (index, width) already checked by this process. Bounded by the
/// number of bundles in the tree (two per 256 entries at most: partial and full).
#[derive(Default)]
pub(crate) struct CheckedBundles(Mutex<HashSet<(u64, u64)>>);

impl CheckedBundles {
    pub(crate) fn contains(&self, tile: &Tile) -> bool {
        self.lock().contains(&(tile.index, tile.width))
    }

    pub(crate) fn insert(&self, tile: &Tile) {
        self.lock().insert((tile.index, tile.width));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(u64, u64)>> {
        // A set of numbers: a panic while holding it cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks entry bundle `tile` (of the tree of `size` leaves) holding `data` against the
/// level-0 hashes. Returns [`LogError::Corrupt`] naming the bundle and the first entry
/// that does not match, or a bundle that does not split into `tile.width` entries.
pub(crate) fn check_bundle(
    storage: &dyn Storage,
    cache: &TileCache,
    size: u64,
    tile: &Tile,
    data: &[u8],
) -> Result<(), LogError> {
    let corrupt = |detail: String| LogError::Corrupt {
        what: tile.path(),
        detail,
    };
    let entries = parse_entry_bundle_with_width(data, tile.width)
        .map_err(|e| corrupt(format!("the stored bundle does not parse: {e}")))?;
    let first = tile.index * TILE_WIDTH;
    let indexes: Vec<u64> = (first..first + tile.width)
        .map(|n| stored_hash_index(0, n))
        .collect();
    let reader = TreeReader::new(storage, cache, size);
    let hashes = reader
        .read_hashes(&indexes)
        .map_err(|e| corrupt(format!("its level-0 hashes cannot be read: {e}")))?;
    for (offset, (entry, hash)) in entries.iter().zip(&hashes).enumerate() {
        if leaf_hash(entry) != *hash {
            return Err(corrupt(format!(
                "entry {} does not match its leaf hash in the tree",
                first + offset as u64
            )));
        }
    }
    Ok(())
}
