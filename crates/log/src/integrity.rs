//! Stored tiles are checked against the tree before they are served as immutable, and the
//! newest ones at every start (issue 19, finding H8): a flipped byte on disk was served with
//! `Cache-Control: immutable` for a year, and a monitor past that point never looked again.
//!
//! What is checked, and against what:
//! - The right edge: the partial hash tiles of the tree (one per level) are what the root
//!   is computed from, so recomputing the root from the stored tiles and comparing it with
//!   the signed checkpoint's checks every hash in them ([`check_edge`]). When they do not
//!   match, each partial tile is recomputed from the level below (the level-0 one from the
//!   leaf hashes of the partial entry bundle) to name the file that differs.
//! - A full hash tile: its 256 hashes hash to one node of the level above, which the tile
//!   above holds; that tile is checked the same way in turn, up to a partial tile of the
//!   right edge ([`check_full_hash_tile`]). 255 SHA-256 and one tile read per level, once
//!   per tile per process.
//! - An entry bundle: each entry's leaf hash against the level-0 hashes of the tree, whose
//!   tile is checked first ([`check_bundle`]).
//!
//! At start, recovery checks the right edge, the newest full tile of every level and the
//! partial entry bundle the sequencer appends to ([`check_newest`]); older tiles are
//! checked the first time they are served. Partial tiles cut from a wider one are served
//! with `no-cache`, and are not checked when served.

use std::collections::HashSet;
use std::sync::Mutex;

use bintrail_tlog::bundle::{parse_entry_bundle, parse_entry_bundle_with_width};
use bintrail_tlog::hash::{HASH_SIZE, Hash, leaf_hash, node_hash};
use bintrail_tlog::tile::{MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, Tile, TileLevel};
use bintrail_tlog::tree::tree_hash;

use crate::error::LogError;
use crate::storage::Storage;
use crate::tiles::{TileCache, TreeReader, hash_tile_data};

/// The tiles already checked by this process: entry bundles (index, width), full hash
/// tiles (level, index), and the tree size whose right edge was checked last. Bounded by
/// the number of tiles in the tree.
#[derive(Default)]
pub(crate) struct CheckedTiles(Mutex<Checked>);

#[derive(Default)]
struct Checked {
    bundles: HashSet<(u64, u64)>,
    hash_tiles: HashSet<(u8, u64)>,
    edge: Option<u64>,
}

impl CheckedTiles {
    /// Whether `tile` must be checked before it is served: an entry bundle or a full hash
    /// tile this process has not checked yet.
    pub(crate) fn needs_check(&self, tile: &Tile) -> bool {
        let checked = self.lock();
        match tile.level {
            TileLevel::Entries => !checked.bundles.contains(&(tile.index, tile.width)),
            TileLevel::Hash(level) => {
                tile.is_full() && !checked.hash_tiles.contains(&(level, tile.index))
            }
        }
    }

    fn insert(&self, tile: &Tile) {
        let mut checked = self.lock();
        match tile.level {
            TileLevel::Entries => checked.bundles.insert((tile.index, tile.width)),
            TileLevel::Hash(level) => checked.hash_tiles.insert((level, tile.index)),
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Checked> {
        // Sets of numbers: a panic while holding them cannot leave them inconsistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The tree a check is made against: a size and the root its signed checkpoint states.
pub(crate) struct Tree<'a> {
    pub(crate) storage: &'a dyn Storage,
    pub(crate) cache: &'a TileCache,
    pub(crate) checked: &'a CheckedTiles,
    pub(crate) size: u64,
    pub(crate) root: Hash,
}

/// What to tell the operator besides what is wrong.
const ADVICE: &str =
    "the file was changed on disk; restore it from a backup or a mirror of the log";

fn corrupt(tile: &Tile, detail: String) -> LogError {
    LogError::Corrupt {
        what: tile.path(),
        detail: format!("{detail} ({ADVICE})"),
    }
}

impl Tree<'_> {
    /// Checks `data`, the bytes about to be served for `tile` (an entry bundle or a full
    /// hash tile), and remembers it as checked.
    pub(crate) fn check_served(&self, tile: &Tile, data: &[u8]) -> Result<(), LogError> {
        match tile.level {
            TileLevel::Entries => self.check_bundle(tile, data)?,
            TileLevel::Hash(_) => self.check_full_hash_tile(tile, data)?,
        }
        self.checked.insert(tile);
        Ok(())
    }

    /// Recomputes the root from the stored tiles and compares it with the checkpoint's;
    /// on a mismatch, names the tile that differs (see the module docs).
    pub(crate) fn check_edge(&self) -> Result<(), LogError> {
        if self.checked.lock().edge == Some(self.size) {
            return Ok(());
        }
        let reader = TreeReader::new(self.storage, self.cache, self.size);
        let root = tree_hash(self.size, &reader).map_err(|e| LogError::Corrupt {
            what: "tiles".into(),
            detail: format!("the right edge of the tree cannot be read: {e}"),
        })?;
        if root != self.root {
            return Err(self
                .find_bad_edge_tile()
                .unwrap_or_else(|| LogError::Corrupt {
                    what: "tiles".into(),
                    detail: format!(
                        "tiles hash to {root} but the checkpoint of size {} says {}",
                        self.size, self.root
                    ),
                }));
        }
        self.checked.lock().edge = Some(self.size);
        Ok(())
    }

    /// Checks a full hash tile's `data` against the node the level above holds for it, and
    /// that level in turn (see the module docs).
    fn check_full_hash_tile(&self, tile: &Tile, data: &[u8]) -> Result<(), LogError> {
        let TileLevel::Hash(level) = tile.level else {
            return Err(corrupt(tile, "not a hash tile".into()));
        };
        if data.len() != TILE_WIDTH as usize * HASH_SIZE {
            return Err(corrupt(
                tile,
                format!("a full tile has {} bytes", data.len()),
            ));
        }
        let node = subtree_hash(data);
        let slot = tile.index % TILE_WIDTH;
        let parent = Tile::in_tree(
            TileLevel::Hash(level + 1),
            tile.index / TILE_WIDTH,
            self.size,
        )
        .filter(|p| p.width > slot)
        .ok_or_else(|| {
            corrupt(
                tile,
                format!("the tree of size {} has no node above it", self.size),
            )
        })?;
        let above = hash_tile_data(self.storage, self.cache, &parent)?;
        let start = slot as usize * HASH_SIZE;
        if above.get(start..start + HASH_SIZE) != Some(node.0.as_slice()) {
            return Err(corrupt(
                tile,
                format!(
                    "its hashes do not hash to hash {slot} of {}, the tile above it",
                    parent.path()
                ),
            ));
        }
        if parent.is_full() {
            if self.checked.needs_check(&parent) {
                self.check_full_hash_tile(&parent, &above)?;
                self.checked.insert(&parent);
            }
            Ok(())
        } else {
            self.check_edge()
        }
    }

    /// Checks entry bundle `tile` holding `data` against the tree's level-0 hashes, after
    /// checking the level-0 tile they come from.
    fn check_bundle(&self, tile: &Tile, data: &[u8]) -> Result<(), LogError> {
        let entries = parse_entry_bundle_with_width(data, tile.width)
            .map_err(|e| corrupt(tile, format!("the stored bundle does not parse: {e}")))?;
        let hashes = Tile::in_tree(TileLevel::Hash(0), tile.index, self.size)
            .filter(|t| t.width >= tile.width)
            .ok_or_else(|| {
                corrupt(
                    tile,
                    format!("the tree of size {} does not cover it", self.size),
                )
            })?;
        let level0 = hash_tile_data(self.storage, self.cache, &hashes)?;
        if hashes.is_full() {
            if self.checked.needs_check(&hashes) {
                self.check_full_hash_tile(&hashes, &level0)?;
                self.checked.insert(&hashes);
            }
        } else {
            self.check_edge()?;
        }
        let first = tile.index * TILE_WIDTH;
        for (offset, entry) in entries.iter().enumerate() {
            let at = offset * HASH_SIZE;
            if level0.get(at..at + HASH_SIZE) != Some(leaf_hash(entry).0.as_slice()) {
                return Err(corrupt(
                    tile,
                    format!(
                        "entry {} does not match its leaf hash in {}",
                        first + offset as u64,
                        hashes.path()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Recomputes each partial tile of the right edge from the level below, bottom up, and
    /// names the first that differs; `None` if they all agree with what is below them.
    fn find_bad_edge_tile(&self) -> Option<LogError> {
        for level in 0..=MAX_TILE_LEVEL {
            let below = self
                .size
                .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))?;
            if below == 0 {
                return None;
            }
            let Some(edge) = Tile::in_tree(TileLevel::Hash(level), below / TILE_WIDTH, self.size)
                .filter(|t| !t.is_full() && t.width > 0)
            else {
                continue;
            };
            let stored = match hash_tile_data(self.storage, self.cache, &edge) {
                Ok(data) => data,
                Err(e) => return Some(corrupt(&edge, e.to_string())),
            };
            let first = edge.index * TILE_WIDTH;
            for i in 0..edge.width {
                let (want, source) = match self.recompute(level, first + i) {
                    Ok(found) => found,
                    Err(e) => return Some(e),
                };
                let at = i as usize * HASH_SIZE;
                if stored.get(at..at + HASH_SIZE) != Some(want.0.as_slice()) {
                    return Some(corrupt(
                        &edge,
                        format!(
                            "hash {i} does not match what {source} hashes to (one of the two files is corrupt)",
                        ),
                    ));
                }
            }
        }
        None
    }

    /// Hash `n` of tile level `level` recomputed from the level below: a leaf hash of an
    /// entry for level 0, else the hash of the full tile below. Also names that source.
    fn recompute(&self, level: u8, n: u64) -> Result<(Hash, String), LogError> {
        if level == 0 {
            let bundle =
                Tile::in_tree(TileLevel::Entries, n / TILE_WIDTH, self.size).ok_or_else(|| {
                    LogError::Corrupt {
                        what: format!("entry {n}"),
                        detail: "not in the tree".into(),
                    }
                })?;
            let data = self
                .storage
                .read_tile(&bundle)?
                .ok_or_else(|| corrupt(&bundle, "the entry bundle is missing".into()))?;
            let entries = parse_entry_bundle(&data)
                .map_err(|e| corrupt(&bundle, format!("the stored bundle does not parse: {e}")))?;
            let entry = entries
                .get((n % TILE_WIDTH) as usize)
                .ok_or_else(|| corrupt(&bundle, format!("entry {n} is missing")))?;
            return Ok((leaf_hash(entry), bundle.path()));
        }
        let tile = Tile {
            level: TileLevel::Hash(level - 1),
            index: n,
            width: TILE_WIDTH,
        };
        let data = hash_tile_data(self.storage, self.cache, &tile)?;
        Ok((subtree_hash(&data), tile.path()))
    }

    /// The start check (see the module docs): the right edge against the root, the newest
    /// full hash tile of each level against the level above, and the partial entry bundle,
    /// whose entries the sequencer rewrites with each batch, against its leaf hashes.
    pub(crate) fn check_newest(&self) -> Result<(), LogError> {
        self.check_edge()?;
        for level in (0..=MAX_TILE_LEVEL).rev() {
            let hashes = self
                .size
                .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
                .unwrap_or(0);
            if hashes < TILE_WIDTH {
                continue;
            }
            let tile = Tile {
                level: TileLevel::Hash(level),
                index: hashes / TILE_WIDTH - 1,
                width: TILE_WIDTH,
            };
            if self.checked.needs_check(&tile) {
                let data = hash_tile_data(self.storage, self.cache, &tile)?;
                self.check_served(&tile, &data)?;
            }
        }
        if let Some(edge) = Tile::in_tree(TileLevel::Entries, self.size / TILE_WIDTH, self.size)
            .filter(|t| !t.is_full())
        {
            let data = self
                .storage
                .read_tile(&edge)?
                .ok_or_else(|| corrupt(&edge, "the partial entry bundle is missing".into()))?;
            self.check_served(&edge, &data)?;
        }
        Ok(())
    }
}

/// The hash of the complete subtree whose 256 hashes a full tile holds.
fn subtree_hash(data: &[u8]) -> Hash {
    let mut level: Vec<Hash> = data
        .chunks_exact(HASH_SIZE)
        .map(|c| {
            let mut h = [0u8; HASH_SIZE];
            h.copy_from_slice(c);
            Hash(h)
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    level.first().copied().unwrap_or(Hash([0; HASH_SIZE]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::tree::{HashReader, stored_hash_index, stored_hashes};

    /// The hash of a full tile's 256 hashes is the stored hash one level above.
    #[test]
    fn subtree_hash_is_the_node_above() {
        let mut all: Vec<Hash> = Vec::new();
        for i in 0..TILE_WIDTH {
            let new = stored_hashes(i, format!("leaf {i}").as_bytes(), &all).unwrap();
            all.extend(new);
        }
        let data: Vec<u8> = all
            .read_hashes(
                &(0..TILE_WIDTH)
                    .map(|n| stored_hash_index(0, n))
                    .collect::<Vec<_>>(),
            )
            .unwrap()
            .iter()
            .flat_map(|h| h.0)
            .collect();
        let above = all.read_hashes(&[stored_hash_index(8, 0)]).unwrap()[0];
        assert_eq!(subtree_hash(&data), above);
    }
}
