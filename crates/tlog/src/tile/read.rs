//! Reading hashes through tiles fetched from an untrusted source, authenticating
//! every tile against a trusted root hash before any hash is returned.

use std::collections::HashMap;

use super::{TILE_HEIGHT, Tile, TileLevel, hash_from_tile, subtree_hash, tile_for_index};
use crate::hash::{HASH_SIZE, Hash};
use crate::tree::{
    self, HashReader, TreeError, check_size, fold_subtrees, stored_hash_index, subtree_indexes,
};

/// Reads tiles by coordinates. Fetched tiles are untrusted until a
/// [`TileHashReader`] has authenticated them.
pub trait TileReader {
    /// Returns the data of each tile, in order: exactly `tiles[i].width * 32` bytes
    /// for tile `i` (an implementation that fetched the full tile in place of a
    /// partial one returns its prefix). Data fetched from a server must not be
    /// persisted before [`TileReader::save_tiles`] confirms it.
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError>;

    /// Called with tiles and data that a previous `read_tiles` returned once they are
    /// proven to belong to the trusted tree, so they may be cached persistently.
    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]);
}

/// A [`HashReader`] over the tiles of one trusted tree (size and root hash, e.g.
/// from a verified checkpoint).
///
/// Every `read_hashes` call fetches, in one `read_tiles` call, the tiles holding the
/// requested hashes plus the tiles needed to authenticate them: the rightmost
/// tiles whose subtree hashes must hash to the root, and the parent tiles above
/// each full tile. It authenticates every fetched tile (root-adjacent ones against
/// the root hash, every other one against its authenticated parent) before
/// returning anything or calling `save_tiles`, so every hash it returns is proven
/// to be in the tree.
pub struct TileHashReader<'a, R: TileReader + ?Sized> {
    tree_size: u64,
    root_hash: Hash,
    reader: &'a R,
}

impl<'a, R: TileReader + ?Sized> TileHashReader<'a, R> {
    /// Returns a reader for the tree of `tree_size` records with root `root_hash`.
    pub fn new(tree_size: u64, root_hash: Hash, reader: &'a R) -> Self {
        TileHashReader {
            tree_size,
            root_hash,
            reader,
        }
    }
}

impl<R: TileReader + ?Sized> HashReader for TileHashReader<'_, R> {
    /// Returns [`TreeError::HashNotInTree`] for an index outside the tree,
    /// [`TreeError::ShortRead`] or [`TreeError::BadTile`] when the tile reader
    /// returns the wrong number or size of tiles, [`TreeError::TileRootMismatch`]
    /// when the tiles do not hash to the root, and [`TreeError::InconsistentTile`]
    /// when a tile does not match its parent.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let plan = TilePlan::new(self.tree_size, indexes)?;
        let data = self.reader.read_tiles(&plan.tiles)?;
        plan.authenticate(&data, self.root_hash)?;
        self.reader.save_tiles(&plan.tiles, &data);
        indexes
            .iter()
            .zip(&plan.index_tiles)
            .map(|(&index, &i)| Ok(hash_from_tile(&plan.tiles[i], &data[i], index)?))
            .collect()
    }
}

/// Returns the tiles a [`TileHashReader`] for the tree of `tree_size` records
/// fetches to produce the inclusion proof of record `index` (authenticating tiles
/// included), in fetch order.
pub fn tiles_for_record_proof(tree_size: u64, index: u64) -> Result<Vec<Tile>, TreeError> {
    let indexes = tree::record_proof_indexes(tree_size, index)?;
    tiles_for_hashes(tree_size, &indexes)
}

/// Returns the tiles a [`TileHashReader`] for the tree of `tree_size` records
/// fetches to produce the consistency proof from `old_size` (empty when the proof
/// is empty).
pub fn tiles_for_tree_proof(tree_size: u64, old_size: u64) -> Result<Vec<Tile>, TreeError> {
    let indexes = tree::tree_proof_indexes(tree_size, old_size)?;
    tiles_for_hashes(tree_size, &indexes)
}

/// Returns the tiles a [`TileHashReader`] for the tree of `tree_size` records
/// fetches to read the stored hashes `indexes` (empty for no indexes).
pub fn tiles_for_hashes(tree_size: u64, indexes: &[u64]) -> Result<Vec<Tile>, TreeError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(TilePlan::new(tree_size, indexes)?.tiles)
}

/// The tiles one `read_hashes` call fetches, ordered so that every tile comes after
/// the tile that authenticates it.
struct TilePlan {
    tree_size: u64,
    tiles: Vec<Tile>,
    /// Stored hash indexes of the tree's complete subtrees (RFC 6962 decomposition
    /// of the root), and the tile holding each.
    root_hashes: Vec<(u64, usize)>,
    /// The number of leading tiles in `tiles` holding root subtree hashes.
    root_tiles: usize,
    /// For each requested index, the tile it is read from.
    index_tiles: Vec<usize>,
}

impl TilePlan {
    fn new(tree_size: u64, indexes: &[u64]) -> Result<TilePlan, TreeError> {
        check_size(tree_size)?;
        let mut plan = TilePlan {
            tree_size,
            tiles: Vec::new(),
            root_hashes: Vec::new(),
            root_tiles: 0,
            index_tiles: Vec::with_capacity(indexes.len()),
        };
        let mut order = HashMap::new();
        let mut root = Vec::new();
        subtree_indexes(0, tree_size, &mut root);
        for x in root {
            let tile = plan.tile_in_tree(x);
            let i = plan.add(&mut order, tile);
            plan.root_hashes.push((x, i));
        }
        plan.root_tiles = plan.tiles.len();
        let end = stored_hash_index(0, tree_size);
        for &x in indexes {
            if x >= end {
                return Err(TreeError::HashNotInTree {
                    index: x,
                    size: tree_size,
                });
            }
            let i = plan.add_with_ancestors(&mut order, plan.tile_in_tree(x));
            plan.index_tiles.push(i);
        }
        Ok(plan)
    }

    /// The tile holding stored hash `x` at its width in this tree. Invariant: `x`
    /// is a hash of the tree.
    #[allow(
        clippy::expect_used,
        reason = "bad math: a hash of the tree lies in one of its tiles"
    )]
    fn tile_in_tree(&self, x: u64) -> Tile {
        tile_for_index(x)
            .parent(0, self.tree_size)
            .expect("bad math: a hash of the tree lies in one of its tiles")
    }

    fn add(&mut self, order: &mut HashMap<Tile, usize>, tile: Tile) -> usize {
        *order.entry(tile).or_insert_with(|| {
            self.tiles.push(tile);
            self.tiles.len() - 1
        })
    }

    /// Adds `tile` after the ancestors that authenticate it, walking up until an
    /// ancestor already planned (at the latest a root tile). Returns its position.
    #[allow(
        clippy::expect_used,
        reason = "bad math: every tile of the tree has a root tile above it"
    )]
    fn add_with_ancestors(&mut self, order: &mut HashMap<Tile, usize>, tile: Tile) -> usize {
        let mut missing = Vec::new();
        let mut k = 0;
        loop {
            let ancestor = tile
                .parent(k, self.tree_size)
                .expect("bad math: every tile of the tree has a root tile above it");
            if let Some(&i) = order.get(&ancestor) {
                if k == 0 {
                    return i;
                }
                break;
            }
            // Only root tiles can be partial: a tile that is not a root tile has
            // a parent holding its hash, so it must be full.
            assert!(
                ancestor.is_full(),
                "bad math: partial non-root tile {ancestor}"
            );
            missing.push(ancestor);
            k += 1;
        }
        let mut position = 0;
        for ancestor in missing.into_iter().rev() {
            position = self.add(order, ancestor);
        }
        position
    }

    /// Checks the fetched `data` against the plan, then authenticates every tile:
    /// the root tiles by recomputing the root hash, each later tile against the hash
    /// its (earlier, already authenticated) parent tile holds for it.
    #[allow(clippy::expect_used, reason = "bad math: a full tile has a parent")]
    #[allow(
        clippy::expect_used,
        reason = "bad math: a tile's parent is planned before it"
    )]
    fn authenticate(&self, data: &[Vec<u8>], root_hash: Hash) -> Result<(), TreeError> {
        if data.len() != self.tiles.len() {
            return Err(TreeError::ShortRead {
                requested: self.tiles.len(),
                got: data.len(),
            });
        }
        for (tile, d) in self.tiles.iter().zip(data) {
            let expected = usize::try_from(tile.width).unwrap_or(usize::MAX) * HASH_SIZE;
            if d.len() != expected {
                return Err(TreeError::BadTile {
                    tile: *tile,
                    len: d.len(),
                    expected,
                });
            }
        }
        let subtrees = self
            .root_hashes
            .iter()
            .map(|&(x, i)| hash_from_tile(&self.tiles[i], &data[i], x))
            .collect::<Result<Vec<_>, _>>()?;
        if fold_subtrees(&subtrees) != root_hash {
            return Err(TreeError::TileRootMismatch {
                size: self.tree_size,
            });
        }
        // Root tiles are partial, and each of their hashes feeds some root subtree
        // hash, so the comparison above covered all of their bytes.
        // Every other tile is full and is checked below against its parent, which
        // comes earlier in the plan and is therefore already authenticated. This
        // loop covers all non-root tiles, whatever the number of root subtree hashes
        // (x/mod's tileHashReader once started it at that number, skipping tiles).
        let position: HashMap<Tile, usize> = self
            .tiles
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, i))
            .collect();
        for (i, tile) in self.tiles.iter().enumerate().skip(self.root_tiles) {
            let parent = tile
                .parent(1, self.tree_size)
                .expect("bad math: a full tile has a parent");
            let j = *position
                .get(&parent)
                .filter(|&&j| j < i)
                .expect("bad math: a tile's parent is planned before it");
            let TileLevel::Hash(level) = parent.level else {
                unreachable!("plans hold hash tiles only");
            };
            let x = stored_hash_index(level * TILE_HEIGHT, tile.index);
            if hash_from_tile(&parent, &data[j], x)? != subtree_hash(&data[i]) {
                return Err(TreeError::InconsistentTile { tile: *tile });
            }
        }
        Ok(())
    }
}
