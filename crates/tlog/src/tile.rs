//! C2SP tlog-tiles: tile coordinates and paths, tile contents, and reading hashes
//! through tiles with every hash authenticated against a trusted root.
//!
//! A tile at level `L` and index `N` holds up to 256 consecutive hashes of tree level
//! `8 * L` (the spec fixes the tile height at 8): hash `i` is
//! `MTH(D[(N * 256 + i) * 256^L : (N * 256 + i + 1) * 256^L])`. The rightmost tile of
//! each level may be partial (width 1 to 255). Entry bundles (`tile/entries/...`)
//! share the coordinates of level-0 tiles and hold the entries themselves.
//!
//! A verifier that holds a trusted checkpoint reads proofs through a
//! [`TileHashReader`]; every hash it hands out has been authenticated:
//!
//! ```
//! use bintrail_tlog::hash::{Hash, leaf_hash};
//! use bintrail_tlog::tile::{Tile, TileHashReader, TileReader, read_tile_data};
//! use bintrail_tlog::tree::{TreeError, prove_record, stored_hashes, tree_hash, verify_record};
//!
//! // A stand-in for a tile server: serves tiles computed from a log's stored hashes.
//! struct Server(Vec<Hash>);
//! impl TileReader for Server {
//!     fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
//!         tiles.iter().map(|t| read_tile_data(t, &self.0)).collect()
//!     }
//!     fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
//! }
//!
//! let mut stored = Vec::new();
//! for i in 0..300u64 {
//!     let new = stored_hashes(i, &i.to_be_bytes(), &stored)?;
//!     stored.extend(new);
//! }
//! let root = tree_hash(300, &stored)?; // from a verified checkpoint, in real use
//! let server = Server(stored);
//! let reader = TileHashReader::new(300, root, &server);
//! let proof = prove_record(300, 42, &reader)?;
//! verify_record(&proof, 300, root, 42, leaf_hash(&42u64.to_be_bytes()))?;
//! # Ok::<(), TreeError>(())
//! ```

use crate::hash::{HASH_SIZE, Hash, node_hash};
use crate::tree::{HashReader, TreeError, read_exact, split_stored_hash_index, stored_hash_index};

pub(crate) mod coords;
mod read;

pub use coords::{MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH, Tile, TileError, TileLevel};

pub use read::{
    TileHashReader, TileReader, tiles_for_hashes, tiles_for_record_proof, tiles_for_tree_proof,
};

/// Returns the smallest tile holding the stored hash `stored_hash_index`: its
/// level and index, with the width that just includes the hash.
///
/// The hash need not sit on a tile level: a hash at tree level `8L + k` is
/// computed from `2^k` consecutive hashes of tile level `L`, and the returned tile
/// is the one holding them.
pub fn tile_for_index(stored_hash_index: u64) -> Tile {
    let (level, n) = split_stored_hash_index(stored_hash_index);
    let tile_level = level / TILE_HEIGHT;
    let within = level % TILE_HEIGHT;
    // First tile-level hash under this one; cannot overflow because
    // n << level is at most 2^63 for every stored hash index.
    let first = n << within;
    Tile {
        level: TileLevel::Hash(tile_level),
        index: first / TILE_WIDTH,
        width: first % TILE_WIDTH + (1 << within),
    }
}

/// Returns the stored hash `stored_hash_index` computed from tile `t`'s `data`.
///
/// `t` must be a hash tile containing that hash ([`TileError::NotHashTile`],
/// [`TileError::IndexNotInTile`] otherwise) and `data` exactly `t.width * 32`
/// bytes ([`TileError::DataSize`]). The result is only as trustworthy as `data`.
pub fn hash_from_tile(t: &Tile, data: &[u8], stored_hash_index: u64) -> Result<Hash, TileError> {
    if t.level == TileLevel::Entries {
        return Err(TileError::NotHashTile { path: t.path() });
    }
    t.check()?;
    check_data_size(t, data)?;
    let want = tile_for_index(stored_hash_index);
    if want.level != t.level || want.index != t.index || want.width > t.width {
        return Err(TileError::IndexNotInTile {
            index: stored_hash_index,
            path: t.path(),
        });
    }
    let (level, _) = split_stored_hash_index(stored_hash_index);
    let span = 1usize << (level % TILE_HEIGHT);
    let end = usize::try_from(want.width).unwrap_or(usize::MAX) * HASH_SIZE;
    Ok(subtree_hash(&data[end - span * HASH_SIZE..end]))
}

/// Returns the hash tiles that change when the tree grows from `old_size` to
/// `new_size`: every tile with a hash that is new, at the width it has at
/// `new_size`, ordered by level then index. Empty when `new_size <= old_size`.
///
/// Unlike x/mod's `NewTiles`, which lists a partial tile at every width between
/// the two sizes for Go sumdb clients, this lists each tile once: C2SP tlog-tiles
/// logs serve the partial tiles of checkpointed sizes only.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let new_hashes = new_size.checked_shr(shift).unwrap_or(0);
        if new_hashes == 0 {
            break;
        }
        let old_hashes = old_size.checked_shr(shift).unwrap_or(0);
        tiles.extend(
            changed_tiles(old_hashes, new_hashes).map(|(index, width)| Tile {
                level: TileLevel::Hash(level),
                index,
                width,
            }),
        );
    }
    tiles
}

/// Returns the entry bundles that gain entries when the tree grows from
/// `old_size` to `new_size`, i.e. those covering records `[old_size, new_size)`,
/// each at its width at `new_size`, in index order. Empty when
/// `new_size <= old_size`.
pub fn entry_bundle_tiles(old_size: u64, new_size: u64) -> Vec<Tile> {
    changed_tiles(old_size, new_size)
        .map(|(index, width)| Tile {
            level: TileLevel::Entries,
            index,
            width,
        })
        .collect()
}

/// Returns the contents of hash tile `t`: its `t.width` hashes, concatenated, read
/// from `r` in one call.
///
/// Returns [`TreeError::Tile`] for an entry bundle or invalid coordinates, or the
/// reader's error (e.g. when the tree does not yet hold the tile's hashes).
pub fn read_tile_data<R: HashReader + ?Sized>(t: &Tile, r: &R) -> Result<Vec<u8>, TreeError> {
    let TileLevel::Hash(level) = t.level else {
        return Err(TileError::NotHashTile { path: t.path() }.into());
    };
    t.check()?;
    let tree_level = level * TILE_HEIGHT;
    let first = t
        .index
        .checked_mul(TILE_WIDTH)
        .ok_or(TileError::InvalidTile {
            reason: "index too large",
        })?;
    // Tile hash i exists only if the tree it belongs to fits in MAX_TREE_SIZE.
    let last = first + t.width - 1;
    if last
        .checked_add(1)
        .and_then(|m| m.checked_shl(u32::from(tree_level)))
        .is_none_or(|m| (m >> tree_level) != last + 1 || m > 1 << 63)
    {
        return Err(TreeError::TreeSizeTooLarge { size: u64::MAX });
    }
    let indexes: Vec<u64> = (first..=last)
        .map(|n| stored_hash_index(tree_level, n))
        .collect();
    let hashes = read_exact(r, &indexes)?;
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// The Merkle Tree Hash of a power-of-two run of concatenated hashes. Invariant:
/// `data` holds a power-of-two number of whole hashes.
#[allow(clippy::expect_used, reason = "chunks_exact yields HASH_SIZE bytes")]
fn subtree_hash(data: &[u8]) -> Hash {
    let mut level: Vec<Hash> = data
        .chunks_exact(HASH_SIZE)
        .map(|c| Hash(c.try_into().expect("chunks_exact yields HASH_SIZE bytes")))
        .collect();
    assert!(
        level.len().is_power_of_two(),
        "bad math: subtree of {} hashes",
        level.len()
    );
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level[0]
}

/// The `(index, width)` of each tile of one level gaining hashes when that level
/// grows from `old` to `new` hashes.
fn changed_tiles(old: u64, new: u64) -> impl Iterator<Item = (u64, u64)> {
    let (first, full_end) = if new > old {
        (old / TILE_WIDTH, new / TILE_WIDTH)
    } else {
        (0, 0)
    };
    let partial =
        (new > old && !new.is_multiple_of(TILE_WIDTH)).then_some((full_end, new % TILE_WIDTH));
    (first..full_end).map(|i| (i, TILE_WIDTH)).chain(partial)
}

fn check_data_size(t: &Tile, data: &[u8]) -> Result<(), TileError> {
    let expected = usize::try_from(t.width).unwrap_or(usize::MAX) * HASH_SIZE;
    if data.len() != expected {
        return Err(TileError::DataSize {
            path: t.path(),
            len: data.len(),
            expected,
        });
    }
    Ok(())
}
