//! Reading the tree's hashes through tiles: a bounded cache of recent tiles, and a
//! [`HashReader`] over the committed tiles (plus, while a batch is being sequenced, the
//! batch's own new hashes).
//!
//! Which width of a tile to read follows from a tree size: the committed files are the full
//! tiles and, per tile, the partial tile of exactly the width that size gives. Any tile at
//! least that wide holds the same hashes in its prefix (stored hashes never change once
//! computed), so the cache may answer with a wider tile than asked for.
//!
//! A stored hash at tree level `8L + k` (k in 1..8) is not in any tile: it is computed from
//! `2^k` hashes of a tile at level L (what `tlog::tile::hash_from_tile` does). Proofs read
//! mostly such hashes, so computing them per read costs up to 128 SHA-256 calls per hash;
//! the cache instead computes all of a tile's inner hashes once, when the tile is loaded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bintrail_tlog::hash::{HASH_SIZE, Hash, node_hash};
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel};
use bintrail_tlog::tree::{HashReader, TreeError, split_stored_hash_index};
use bytes::Bytes;

use crate::storage::{Storage, StorageError};

/// How many hash tiles the cache keeps. A full tile costs 8 KiB of data plus 8 KiB of inner
/// hashes, so this is at most 32 MiB: the right edge at every level plus the tiles that
/// recent proofs touched (for 10M entries, all tiles above level 0 fit in 160 slots).
const CACHE_TILES: usize = 2048;

/// A hash tile's data and its inner hashes: `inner[k - 1][j]` is the j-th hash of the tile
/// at tree level `8L + k`, for the complete subtrees the tile's width covers.
pub(crate) struct CachedTile {
    data: Bytes,
    inner: Vec<Vec<Hash>>,
}

impl CachedTile {
    fn new(data: Bytes) -> CachedTile {
        let mut inner: Vec<Vec<Hash>> = Vec::with_capacity(8);
        let mut below: Vec<Hash> = data.chunks_exact(HASH_SIZE).map(to_hash).collect();
        while below.len() >= 2 {
            let above: Vec<Hash> = below
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            inner.push(above.clone());
            below = above;
        }
        CachedTile { data, inner }
    }

    fn width(&self) -> u64 {
        (self.data.len() / HASH_SIZE) as u64
    }

    /// The j-th hash at inner level k (0 = the tile's own hashes), if the tile covers it.
    fn hash(&self, k: u8, j: u64) -> Option<Hash> {
        let j = usize::try_from(j).ok()?;
        if k == 0 {
            return self
                .data
                .get(j * HASH_SIZE..(j + 1) * HASH_SIZE)
                .map(to_hash);
        }
        self.inner.get(usize::from(k) - 1)?.get(j).copied()
    }
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut h = [0u8; HASH_SIZE];
    h.copy_from_slice(bytes);
    Hash(h)
}

/// A bounded, first-in-first-out cache of hash tiles keyed by level and index, each kept at
/// the widest width seen. FIFO rather than LRU: the right edge is re-inserted on every batch,
/// which keeps the tiles that matter fresh without bookkeeping on every read.
pub(crate) struct TileCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// Each tile with the insertion stamp of its latest copy.
    tiles: HashMap<(u8, u64), (Arc<CachedTile>, u64)>,
    /// Insertions, oldest first; an entry whose stamp is no longer its tile's is stale.
    order: VecDeque<((u8, u64), u64)>,
    next_stamp: u64,
}

impl TileCache {
    pub(crate) fn new() -> TileCache {
        TileCache {
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn get(&self, level: u8, index: u64) -> Option<Arc<CachedTile>> {
        self.lock()
            .tiles
            .get(&(level, index))
            .map(|(t, _)| t.clone())
    }

    /// The cached hash tile `tile`, if one at least as wide is cached.
    fn get_at_least(&self, tile: &Tile) -> Option<Arc<CachedTile>> {
        let TileLevel::Hash(level) = tile.level else {
            return None;
        };
        self.get(level, tile.index)
            .filter(|c| c.width() >= tile.width)
    }

    /// The data of hash tile `tile` at its width, if a tile at least as wide is cached.
    pub(crate) fn tile_data(&self, tile: &Tile) -> Option<Bytes> {
        self.get_at_least(tile)
            .map(|c| c.data.slice(..(tile.width as usize) * HASH_SIZE))
    }

    /// Caches a hash tile (entry bundles are ignored: only readers of the whole log fetch
    /// them). Keeps the wider copy if one is cached already.
    pub(crate) fn insert(&self, tile: &Tile, data: Bytes) -> Option<Arc<CachedTile>> {
        let TileLevel::Hash(level) = tile.level else {
            return None;
        };
        let key = (level, tile.index);
        if let Some(old) = self
            .get(level, tile.index)
            .filter(|old| old.data.len() >= data.len())
        {
            return Some(old);
        }
        let cached = Arc::new(CachedTile::new(data));
        let mut inner = self.lock();
        // A wider copy of a tile counts as a new insertion: the right edge of every level is
        // replaced as the tree grows and so stays cached (first-in-first-out by first
        // insertion evicted the upper levels' edge tiles of a large tree, and every proof
        // then fell back to reading storage).
        let stamp = inner.next_stamp;
        inner.next_stamp += 1;
        inner.tiles.insert(key, (cached.clone(), stamp));
        inner.order.push_back((key, stamp));
        while inner.tiles.len() > CACHE_TILES || inner.order.len() > 2 * CACHE_TILES {
            let Some((old, old_stamp)) = inner.order.pop_front() else {
                break;
            };
            if inner.tiles.get(&old).is_some_and(|(_, s)| *s == old_stamp) {
                inner.tiles.remove(&old);
            }
        }
        Some(cached)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // The cache holds copies only; a panic elsewhere cannot make it lie.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn load(
    storage: &dyn Storage,
    cache: &TileCache,
    tile: &Tile,
) -> Result<Arc<CachedTile>, StorageError> {
    if !matches!(tile.level, TileLevel::Hash(_)) {
        return Err(StorageError::Corrupt {
            what: tile.path(),
            detail: "not a hash tile".into(),
        });
    }
    if let Some(cached) = cache.get_at_least(tile) {
        return Ok(cached);
    }
    let data = storage
        .read_tile(tile)?
        .ok_or_else(|| StorageError::Corrupt {
            what: tile.path(),
            detail: "tile is missing although a checkpoint covers it".into(),
        })?;
    if data.len() as u64 != tile.width * HASH_SIZE as u64 {
        return Err(StorageError::Corrupt {
            what: tile.path(),
            detail: format!("tile has {} bytes", data.len()),
        });
    }
    let data = Bytes::from(data);
    Ok(cache
        .insert(tile, data.clone())
        .unwrap_or_else(|| Arc::new(CachedTile::new(data))))
}

/// The bytes of hash tile `tile` at its width, through the cache (loaded and cached on a
/// miss, as [`TreeReader`] reads it), so a check reads the same bytes proofs are built from.
pub(crate) fn hash_tile_data(
    storage: &dyn Storage,
    cache: &TileCache,
    tile: &Tile,
) -> Result<Bytes, StorageError> {
    let cached = load(storage, cache, tile)?;
    Ok(cached.data.slice(..(tile.width as usize) * HASH_SIZE))
}

/// A cache-only [`TreeReader`] missed: the caller falls back to reading storage.
#[derive(Debug, thiserror::Error)]
#[error("tile not cached")]
struct NotCached;

/// A [`HashReader`] over the committed tree of `size` entries, optionally extended by the
/// stored hashes a batch is adding (`overlay[i]` is stored hash `overlay_start + i`).
pub(crate) struct TreeReader<'a> {
    /// Where tiles missing from the cache are read; `None` reads the cache only (a miss is
    /// an error), which lets async code prove without a blocking hop when tiles are hot.
    pub(crate) storage: Option<&'a dyn Storage>,
    pub(crate) cache: &'a TileCache,
    pub(crate) size: u64,
    pub(crate) overlay_start: u64,
    pub(crate) overlay: &'a [Hash],
}

impl<'a> TreeReader<'a> {
    /// A reader over the committed tree of `size` entries.
    pub(crate) fn new(storage: &'a dyn Storage, cache: &'a TileCache, size: u64) -> TreeReader<'a> {
        TreeReader {
            storage: Some(storage),
            cache,
            size,
            overlay_start: u64::MAX,
            overlay: &[],
        }
    }

    /// A reader over the committed tree of `size` entries that never touches storage: a
    /// hash whose tile is not cached is a [`TreeError::Reader`] error.
    pub(crate) fn cached(cache: &'a TileCache, size: u64) -> TreeReader<'a> {
        TreeReader {
            storage: None,
            cache,
            size,
            overlay_start: u64::MAX,
            overlay: &[],
        }
    }

    fn read_one(
        &self,
        index: u64,
        last: &mut Option<(Tile, Arc<CachedTile>)>,
    ) -> Result<Hash, TreeError> {
        let not_in_tree = TreeError::HashNotInTree {
            index,
            size: self.size,
        };
        if index >= self.overlay_start {
            let offset = usize::try_from(index - self.overlay_start).ok();
            return offset
                .and_then(|o| self.overlay.get(o))
                .copied()
                .ok_or(not_in_tree);
        }
        let (level, n) = split_stored_hash_index(index);
        let (tile_level, k) = (level / 8, level % 8);
        // The hash covers tile-level hashes [n << k, (n + 1) << k); cannot overflow for a
        // stored hash of a tree below 2^63 entries.
        let first = n << k;
        let tile_index = first / TILE_WIDTH;
        let j = n - (tile_index << (8 - k));
        let needed_width = first % TILE_WIDTH + (1 << k);
        let tile = Tile::in_tree(TileLevel::Hash(tile_level), tile_index, self.size)
            .filter(|t| t.width >= needed_width)
            .ok_or(not_in_tree)?;
        let cached = match last {
            Some((t, c)) if *t == tile => c.clone(),
            _ => {
                let c = match self.storage {
                    Some(storage) => load(storage, self.cache, &tile)
                        .map_err(|e| TreeError::Reader(Box::new(e)))?,
                    None => self
                        .cache
                        .get_at_least(&tile)
                        .ok_or_else(|| TreeError::Reader(Box::new(NotCached)))?,
                };
                *last = Some((tile, c.clone()));
                c
            }
        };
        cached.hash(k, j).ok_or(TreeError::HashNotInTree {
            index,
            size: self.size,
        })
    }
}

impl HashReader for TreeReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        // Consecutive hashes of a proof mostly come from the same few tiles: remember the
        // last tile so that the cache's lock and map are not paid per hash.
        let mut last: Option<(Tile, Arc<CachedTile>)> = None;
        indexes
            .iter()
            .map(|&i| self.read_one(i, &mut last))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::hash::leaf_hash;
    use bintrail_tlog::tile::{hash_from_tile, tile_for_index};
    use bintrail_tlog::tree::{stored_hash_count, stored_hashes};

    /// The precomputed inner hashes agree with tlog's `hash_from_tile` for every stored hash
    /// of a tree spanning several tiles and two tile levels.
    #[test]
    fn inner_hashes_match_hash_from_tile() {
        let n = 256 * 3 + 77;
        let mut all: Vec<Hash> = Vec::new();
        for i in 0..n {
            let new = stored_hashes(i, format!("leaf {i}").as_bytes(), &all).unwrap();
            all.extend(new);
        }
        let cache = TileCache::new();
        for index in 0..stored_hash_count(n) {
            let want = tile_for_index(index);
            let TileLevel::Hash(level) = want.level else {
                unreachable!("hash tiles only")
            };
            let Some(tile) =
                Tile::in_tree(want.level, want.index, n).filter(|t| t.width >= want.width)
            else {
                continue;
            };
            let data = bintrail_tlog::tile::read_tile_data(&tile, &all).unwrap();
            let expected = hash_from_tile(&tile, &data, index).unwrap();
            cache.insert(&tile, Bytes::from(data));
            let (l, k) = (
                split_stored_hash_index(index).0 / 8,
                split_stored_hash_index(index).0 % 8,
            );
            assert_eq!(l, level);
            let n_at = split_stored_hash_index(index).1;
            let j = n_at - (((n_at << k) / TILE_WIDTH) << (8 - k));
            assert_eq!(
                cache.get(level, tile.index).unwrap().hash(k, j),
                Some(expected),
                "stored hash {index}"
            );
        }
        assert_eq!(all[0], leaf_hash(b"leaf 0"));
    }

    /// A tile replaced by a wider copy (the right edge of an upper level, as the tree grows)
    /// counts as freshly inserted, so thousands of newer level-0 tiles do not evict it.
    #[test]
    fn a_growing_edge_tile_stays_cached() {
        let cache = TileCache::new();
        let tile = |level: u8, index: u64, width: u64| Tile {
            level: TileLevel::Hash(level),
            index,
            width,
        };
        let data = |width: u64| Bytes::from(vec![7u8; width as usize * HASH_SIZE]);
        cache.insert(&tile(2, 0, 1), data(1));
        for i in 0..(CACHE_TILES as u64 - 1) {
            cache.insert(&tile(0, i, 256), data(256));
        }
        cache.insert(&tile(2, 0, 2), data(2));
        for i in CACHE_TILES as u64..(3 * CACHE_TILES as u64 / 2) {
            cache.insert(&tile(0, i, 256), data(256));
        }
        assert!(
            cache.tile_data(&tile(2, 0, 2)).is_some(),
            "edge tile evicted"
        );
        assert!(
            cache.tile_data(&tile(0, 0, 256)).is_none(),
            "oldest tile kept"
        );
        assert!(cache.lock().tiles.len() <= CACHE_TILES);
    }
}
