//! Authenticating the source against its signed checkpoint before anything is written.
//!
//! [`Upper`] holds every hash tile above level 0 of the source's tree (1/255 of the tree's
//! hashes: about 1.3 MB for ten million entries) and the tree's partial level-0 tile. They
//! are authenticated together up front with [`TileHashReader`]: the tiles holding the
//! tree's complete subtrees must hash to the checkpoint's root, every other tile to its
//! authenticated parent. From then on the root of each full level-0 tile is known, so each
//! entry bundle is checked (its leaf hashes must hash to that root) as it is streamed, and
//! only then written.

use std::collections::HashMap;

use bintrail_tlog::hash::{HASH_SIZE, Hash, node_hash};
use bintrail_tlog::tile::{
    TILE_HEIGHT, TILE_WIDTH, Tile, TileHashReader, TileLevel, TileReader, hash_from_tile,
};
use bintrail_tlog::tree::{HashReader, TreeError, stored_hash_index};

use crate::error::{MigrateError, Tamper};
use crate::source::Source;

/// The authenticated upper tiles of one tree.
pub(crate) struct Upper {
    size: u64,
    /// Hash tiles at their width in the tree, keyed by level and index.
    tiles: HashMap<(u8, u64), (Tile, Vec<u8>)>,
}

impl TileReader for Upper {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
        tiles
            .iter()
            .map(|t| {
                let TileLevel::Hash(level) = t.level else {
                    return Err(TreeError::HashNotInTree {
                        index: 0,
                        size: self.size,
                    });
                };
                match self.tiles.get(&(level, t.index)) {
                    Some((have, data)) if have.width >= t.width => {
                        Ok(data[..t.width as usize * HASH_SIZE].to_vec())
                    }
                    _ => Err(TreeError::BadTile {
                        tile: *t,
                        len: 0,
                        expected: t.width as usize * HASH_SIZE,
                    }),
                }
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

impl Upper {
    /// Reads every hash tile above level 0 of the tree of `size` with root `root`, its
    /// partial level-0 tile and the level-0 tiles `extra` (by index), and authenticates
    /// each of them against the root.
    pub(crate) fn load(
        source: &Source,
        size: u64,
        root: Hash,
        extra: &[u64],
    ) -> Result<Upper, MigrateError> {
        let mut wanted = Vec::new();
        for level in 1..=bintrail_tlog::tile::MAX_TILE_LEVEL {
            let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
            if count == 0 {
                break;
            }
            for index in 0..count.div_ceil(TILE_WIDTH) {
                wanted.extend(Tile::in_tree(TileLevel::Hash(level), index, size));
            }
        }
        if !size.is_multiple_of(TILE_WIDTH) {
            wanted.extend(Tile::in_tree(TileLevel::Hash(0), size / TILE_WIDTH, size));
        }
        for &index in extra {
            wanted.extend(Tile::in_tree(TileLevel::Hash(0), index, size));
        }
        wanted.sort();
        wanted.dedup();
        let data = read_tiles(source, &wanted)?;
        let mut upper = Upper {
            size,
            tiles: HashMap::new(),
        };
        for (tile, data) in wanted.iter().zip(data) {
            if let TileLevel::Hash(level) = tile.level {
                upper.tiles.insert((level, tile.index), (*tile, data));
            }
        }
        let reader = TileHashReader::new(size, root, &upper);
        for tile in &wanted {
            let TileLevel::Hash(level) = tile.level else {
                continue;
            };
            let first = stored_hash_index(level * TILE_HEIGHT, tile.index * TILE_WIDTH);
            if let Err(e) = reader.read_hashes(&[first]) {
                let path = match &e {
                    TreeError::InconsistentTile { tile } => source.describe(&tile.path()),
                    _ => format!(
                        "the right edge of the tree ({})",
                        right_edge(size)
                            .iter()
                            .map(|t| source.describe(&t.path()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                return Err(MigrateError::Tampered {
                    path,
                    size,
                    detail: Tamper::Tile,
                });
            }
        }
        Ok(upper)
    }

    /// The authenticated stored hash `index` (it must lie in a loaded tile).
    pub(crate) fn hash(&self, index: u64) -> Option<Hash> {
        let tile = bintrail_tlog::tile::tile_for_index(index).parent(0, self.size)?;
        let TileLevel::Hash(level) = tile.level else {
            return None;
        };
        let (have, data) = self.tiles.get(&(level, tile.index))?;
        hash_from_tile(have, data, index).ok()
    }

    /// The root of full level-0 tile `index` (its hash in level 1).
    pub(crate) fn level0_root(&self, index: u64) -> Option<Hash> {
        self.hash(stored_hash_index(TILE_HEIGHT, index))
    }

    /// The authenticated data of hash tile `(level, index)` at its width in the tree.
    pub(crate) fn tile(&self, level: u8, index: u64) -> Option<&(Tile, Vec<u8>)> {
        self.tiles.get(&(level, index))
    }

    /// Every loaded hash tile above level 0, with its data.
    pub(crate) fn above_level0(&self) -> impl Iterator<Item = &(Tile, Vec<u8>)> {
        self.tiles
            .iter()
            .filter(|((level, _), _)| *level > 0)
            .map(|(_, v)| v)
    }

    /// The root hash of the tree's first `n` entries (`n <= size`), from authenticated
    /// tiles; `None` if a tile it needs was not loaded.
    pub(crate) fn tree_hash(&self, n: u64, root: Hash) -> Option<Hash> {
        let reader = TileHashReader::new(self.size, root, self);
        bintrail_tlog::tree::tree_hash(n, &reader).ok()
    }
}

/// The RFC 6962 root of a full tile's 256 hashes.
pub(crate) fn tile_root(hashes: &[Hash]) -> Hash {
    let mut level = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node_hash(l, r),
                [one] => *one,
                _ => unreachable_empty(),
            })
            .collect();
    }
    level.first().copied().unwrap_or_else(unreachable_empty)
}

fn unreachable_empty() -> Hash {
    Hash([0; HASH_SIZE])
}

/// The last (partial) tile of each level: where a bad root hash must lie.
fn right_edge(size: u64) -> Vec<Tile> {
    (0..=bintrail_tlog::tile::MAX_TILE_LEVEL)
        .filter_map(|level| {
            let count = size.checked_shr(u32::from(level) * 8).unwrap_or(0);
            Tile::in_tree(TileLevel::Hash(level), count / TILE_WIDTH, size)
        })
        .collect()
}

/// Reads hash tiles or entry bundles at their width in the tree. A missing partial tile
/// is read from the full tile at the same index when that exists (a log may delete
/// partial tiles once the full one is written): a hash tile's prefix, or a bundle's first
/// entries. The caller authenticates what comes back.
pub(crate) fn read_tiles(source: &Source, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, MigrateError> {
    let paths: Vec<String> = tiles.iter().map(Tile::path).collect();
    let mut data = source.read_many(&paths)?;
    let missing: Vec<usize> = data
        .iter()
        .enumerate()
        .filter(|(i, d)| d.is_none() && !tiles[*i].is_full())
        .map(|(i, _)| i)
        .collect();
    if !missing.is_empty() {
        let full: Vec<String> = missing
            .iter()
            .map(|&i| {
                Tile {
                    width: TILE_WIDTH,
                    ..tiles[i]
                }
                .path()
            })
            .collect();
        for (&i, found) in missing.iter().zip(source.read_many(&full)?) {
            data[i] = found.and_then(|full| prefix(&tiles[i], &full));
        }
    }
    tiles
        .iter()
        .zip(data)
        .map(|(tile, d)| {
            let d = d.ok_or_else(|| MigrateError::Missing {
                path: source.describe(&tile.path()),
            })?;
            if tile.level != TileLevel::Entries && d.len() != tile.width as usize * HASH_SIZE {
                return Err(MigrateError::Tampered {
                    path: source.describe(&tile.path()),
                    size: 0,
                    detail: Tamper::Tile,
                });
            }
            Ok(d)
        })
        .collect()
}

/// The first `tile.width` hashes or entries of the full tile `full`.
fn prefix(tile: &Tile, full: &[u8]) -> Option<Vec<u8>> {
    match tile.level {
        TileLevel::Hash(_) => full
            .get(..tile.width as usize * HASH_SIZE)
            .map(<[u8]>::to_vec),
        TileLevel::Entries => {
            let entries = bintrail_tlog::bundle::parse_entry_bundle(full).ok()?;
            let first = entries.get(..tile.width as usize)?;
            bintrail_tlog::bundle::encode_entry_bundle(first.iter().copied()).ok()
        }
    }
}
