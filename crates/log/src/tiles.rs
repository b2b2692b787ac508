//! Reading the tree's hashes through tiles: a bounded cache of recent tiles, and a
//! [`HashReader`] over the committed tiles (plus, while a batch is being sequenced, the
//! batch's own new hashes).
//!
//! Which width of a tile to read follows from a tree size: the committed files are the full
//! tiles and, per tile, the partial tile of exactly the width that size gives. Any tile at
//! least that wide holds the same hashes in its prefix (stored hashes never change once
//! computed), so the cache may answer with a wider tile than asked for.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bintrail_tlog::hash::Hash;
use bintrail_tlog::tile::{Tile, TileLevel, hash_from_tile, tile_for_index};
use bintrail_tlog::tree::{HashReader, TreeError};
use bytes::Bytes;

use crate::storage::{Storage, StorageError};

/// Hashes per full tile (tlog-tiles fixes the tile height at 8).
pub(crate) const FULL_WIDTH: u64 = 256;

/// How many tiles the cache keeps: 4096 tiles of at most 8 KiB is at most 32 MiB, enough for
/// the right edge at every level plus the tiles recent proofs touched.
const CACHE_TILES: usize = 4096;

/// The tile at `level`/`index` as it is in a tree of `size` entries, or `None` if that
/// tree has no such tile (it would be empty).
pub(crate) fn tile_in_tree(level: TileLevel, index: u64, size: u64) -> Option<Tile> {
    let shift = match level {
        TileLevel::Hash(l) => 8 * u32::from(l),
        TileLevel::Entries => 0,
    };
    let count = size.checked_shr(shift).unwrap_or(0);
    let start = index.checked_mul(FULL_WIDTH)?;
    let width = count.checked_sub(start)?.min(FULL_WIDTH);
    (width > 0).then_some(Tile { level, index, width })
}

/// A bounded, first-in-first-out cache of tiles keyed by level and index, each kept at the
/// widest width seen. FIFO rather than LRU: the right edge is re-inserted on every batch,
/// which keeps the tiles that matter fresh without bookkeeping on every read.
pub(crate) struct TileCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    tiles: HashMap<(TileLevel, u64), Bytes>,
    order: VecDeque<(TileLevel, u64)>,
}

impl TileCache {
    pub(crate) fn new() -> TileCache {
        TileCache { inner: Mutex::new(CacheInner::default()) }
    }

    /// Returns the cached data of `tile` if the cached copy is at least as wide, truncated to
    /// the requested width.
    pub(crate) fn get(&self, tile: &Tile) -> Option<Bytes> {
        let inner = self.lock();
        let data = inner.tiles.get(&(tile.level, tile.index))?;
        let want = tile_len(tile)?;
        (data.len() >= want && tile.level != TileLevel::Entries).then(|| data.slice(..want))
    }

    /// Caches a hash tile's data (entry bundles are not cached: only readers of the whole
    /// log fetch them, and they can be truncated only by parsing).
    pub(crate) fn insert(&self, tile: &Tile, data: Bytes) {
        if tile.level == TileLevel::Entries {
            return;
        }
        let mut inner = self.lock();
        let key = (tile.level, tile.index);
        match inner.tiles.get(&key) {
            Some(old) if old.len() >= data.len() => return,
            Some(_) => {}
            None => inner.order.push_back(key),
        }
        inner.tiles.insert(key, data);
        while inner.order.len() > CACHE_TILES {
            if let Some(old) = inner.order.pop_front() {
                inner.tiles.remove(&old);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // The cache holds copies only; a panic elsewhere cannot make it lie.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The byte length of a hash tile's data.
fn tile_len(tile: &Tile) -> Option<usize> {
    usize::try_from(tile.width).ok()?.checked_mul(32)
}

/// Reads the data of a hash tile of a committed tree, through the cache.
pub(crate) fn read_hash_tile(storage: &dyn Storage, cache: &TileCache, tile: &Tile) -> Result<Bytes, StorageError> {
    if let Some(data) = cache.get(tile) {
        return Ok(data);
    }
    let data = storage.read_tile(tile)?.ok_or_else(|| StorageError::Corrupt {
        what: tile.path(),
        detail: "tile is missing although a checkpoint covers it".into(),
    })?;
    if Some(data.len()) != tile_len(tile) {
        return Err(StorageError::Corrupt { what: tile.path(), detail: format!("tile has {} bytes", data.len()) });
    }
    let data = Bytes::from(data);
    cache.insert(tile, data.clone());
    Ok(data)
}

/// A [`HashReader`] over the committed tree of `size` entries, optionally extended by the
/// stored hashes a batch is adding (`overlay[i]` is stored hash `overlay_start + i`).
pub(crate) struct TreeReader<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) cache: &'a TileCache,
    pub(crate) size: u64,
    pub(crate) overlay_start: u64,
    pub(crate) overlay: &'a [Hash],
}

impl<'a> TreeReader<'a> {
    /// A reader over the committed tree of `size` entries.
    pub(crate) fn new(storage: &'a dyn Storage, cache: &'a TileCache, size: u64) -> TreeReader<'a> {
        TreeReader { storage, cache, size, overlay_start: u64::MAX, overlay: &[] }
    }

    fn read_one(&self, index: u64) -> Result<Hash, TreeError> {
        if index >= self.overlay_start {
            let offset = usize::try_from(index - self.overlay_start).ok();
            return offset.and_then(|o| self.overlay.get(o)).copied().ok_or(TreeError::HashNotInTree { index, size: self.size });
        }
        let needed = tile_for_index(index);
        
        let tile = tile_in_tree(needed.level, needed.index, self.size)
            .filter(|t| t.width >= needed.width)
            .ok_or(TreeError::HashNotInTree { index, size: self.size })?;
        let data = read_hash_tile(self.storage, self.cache, &tile).map_err(storage_to_tree)?;
        hash_from_tile(&tile, &data, index).map_err(|e| storage_to_tree(StorageError::Corrupt {
            what: tile.path(),
            detail: e.to_string(),
        }))
    }
}

impl HashReader for TreeReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes.iter().map(|&i| self.read_one(i)).collect()
    }
}

fn storage_to_tree(e: StorageError) -> TreeError {
    TreeError::Reader(Box::new(e))
}
