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

mod read;

pub use read::{
    TileHashReader, TileReader, tiles_for_hashes, tiles_for_record_proof, tiles_for_tree_proof,
};

/// The tile height: each tile spans 8 tree levels.
pub const TILE_HEIGHT: u8 = 8;
/// The width of a full tile, in hashes (or entries, for entry bundles).
pub const TILE_WIDTH: u64 = 256;
/// The largest valid hash tile level (C2SP tlog-tiles: 0 to 63).
pub const MAX_TILE_LEVEL: u8 = 63;

/// Which kind of tile: a hash tile at a tile level, or an entry bundle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum TileLevel {
    /// A Merkle tree tile at this tile level (tree level `8 * level`), 0 to 63.
    Hash(u8),
    /// An entry bundle, with the coordinates of the level-0 tile it hashes to.
    Entries,
}

/// A tile's coordinates: level, index within the level and width.
///
/// Fields are public for convenience; a `Tile` from [`Tile::from_path`] or
/// [`Tile::new`] has `width` in `1..=256` and a hash level of at most 63. Functions
/// here treat other values as bad input and return errors for them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Tile {
    /// The tile level, or [`TileLevel::Entries`] for an entry bundle.
    pub level: TileLevel,
    /// The tile's index within its level, `N` in the spec.
    pub index: u64,
    /// The number of hashes or entries, 1 to 256; 256 is a full tile.
    pub width: u64,
}

/// Errors from tile coordinates and tile data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// Returned when a path is not the canonical C2SP tlog-tiles path of a tile.
    #[error("invalid tile path {path:?}: {reason}")]
    InvalidPath {
        /// The path (cut to 80 characters).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Returned when tile coordinates are out of range (width not in `1..=256`,
    /// level above 63).
    #[error("invalid tile coordinates: {reason}")]
    InvalidTile {
        /// What is wrong.
        reason: &'static str,
    },
    /// Returned when a hash operation is asked of an entry bundle.
    #[error("{path} is an entry bundle, not a hash tile")]
    NotHashTile {
        /// The bundle's path.
        path: String,
    },
    /// Returned when a stored hash is not in the given tile.
    #[error("stored hash index {index} is not in tile {path}")]
    IndexNotInTile {
        /// The stored hash index.
        index: u64,
        /// The tile's path.
        path: String,
    },
    /// Returned when tile data is not exactly `width * 32` bytes.
    #[error("tile {path} has {len} bytes, want {expected}")]
    DataSize {
        /// The tile's path.
        path: String,
        /// The data length.
        len: usize,
        /// The length the width requires.
        expected: usize,
    },
}

impl Tile {
    /// Returns a tile, checking `width` is in `1..=256` and a hash level is at most 63
    /// ([`TileError::InvalidTile`] otherwise).
    pub fn new(level: TileLevel, index: u64, width: u64) -> Result<Tile, TileError> {
        let tile = Tile {
            level,
            index,
            width,
        };
        tile.check()?;
        Ok(tile)
    }

    /// Returns the tile's path relative to the log prefix, e.g.
    /// `tile/0/x001/x234/067.p/5` or `tile/entries/000`.
    ///
    /// The index is written as zero-padded 3-digit elements, all but the last
    /// prefixed with `x`, so that a directory never holds more than 1000 entries and
    /// no name is both a file and a directory. A full tile has no `.p/<W>` suffix.
    pub fn path(&self) -> String {
        use std::fmt::Write as _;
        let mut path = String::with_capacity(48);
        path.push_str("tile/");
        match self.level {
            // Writing to a String cannot fail.
            TileLevel::Hash(l) => write!(path, "{l}/").expect("write to String"),
            TileLevel::Entries => path.push_str("entries/"),
        }
        push_index_path(&mut path, self.index);
        if self.width != TILE_WIDTH {
            write!(path, ".p/{}", self.width).expect("write to String");
        }
        path
    }

    /// Parses a tile path as written by [`Tile::path`], strictly: it returns
    /// [`TileError::InvalidPath`] for anything that is not the canonical path of a
    /// valid tile (leading zeros, missing or extra `x`, `.p/256`, level 64, an index
    /// beyond `u64`, empty elements, ...).
    pub fn from_path(path: &str) -> Result<Tile, TileError> {
        let bad = |reason| TileError::InvalidPath {
            path: path.chars().take(80).collect(),
            reason,
        };
        // The longest valid path has a 20-digit index in 7 elements.
        if path.len() > 64 {
            return Err(bad("too long"));
        }
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("missing tile/ prefix"))?;
        let (level, rest) = rest.split_once('/').ok_or_else(|| bad("missing index"))?;
        let level = match level {
            "entries" => TileLevel::Entries,
            _ => TileLevel::Hash(
                parse_decimal(level, u64::from(MAX_TILE_LEVEL))
                    .ok_or_else(|| bad("level is not a decimal from 0 to 63"))?
                    as u8,
            ),
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let width = parse_decimal(width, TILE_WIDTH - 1)
                    .filter(|&w| w > 0)
                    .ok_or_else(|| bad("partial width is not a decimal from 1 to 255"))?;
                (index, width)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(index).ok_or_else(|| bad("malformed index"))?;
        let tile = Tile {
            level,
            index,
            width,
        };
        // Re-encode and compare, so each tile has exactly one accepted path.
        if tile.path() != path {
            return Err(bad("not in canonical form"));
        }
        Ok(tile)
    }

    /// Reports whether the tile is full (256 wide).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Returns the entry bundle with the same index and width as `level0`: the
    /// bundle whose entries hash to `level0`'s leaf hashes. (Given an entry bundle,
    /// returns it unchanged; for tiles above level 0 the result is meaningless.)
    pub fn entries_for(level0: &Tile) -> Tile {
        Tile {
            level: TileLevel::Entries,
            ..*level0
        }
    }

    /// Returns the level-0 hash tile whose leaf hashes authenticate this entry
    /// bundle (same index and width). Given a hash tile, returns it unchanged.
    pub fn level0_for(bundle: &Tile) -> Tile {
        match bundle.level {
            TileLevel::Entries => Tile {
                level: TileLevel::Hash(0),
                ..*bundle
            },
            TileLevel::Hash(_) => *bundle,
        }
    }

    /// Returns the range of records `[start, end)` this tile's hashes (or entries)
    /// cover, saturating at `u64::MAX`.
    pub fn record_range(&self) -> (u64, u64) {
        let shift = match self.level {
            TileLevel::Hash(l) => u32::from(l) * u32::from(TILE_HEIGHT),
            TileLevel::Entries => 0,
        };
        let scale = |x: u64| {
            x.checked_shl(shift)
                .filter(|&y| y >> shift == x)
                .unwrap_or(u64::MAX)
        };
        let first = self.index.saturating_mul(TILE_WIDTH);
        (scale(first), scale(first.saturating_add(self.width)))
    }

    /// Returns the tile `k` levels above this hash tile in the tree of `tree_size`
    /// records, with the width it has in that tree, or `None` if that tree has no
    /// such tile (`k = 0` gives this tile's coordinates at its width in that tree).
    pub fn parent(&self, k: u8, tree_size: u64) -> Option<Tile> {
        let TileLevel::Hash(level) = self.level else {
            return None;
        };
        let level = level.checked_add(k).filter(|&l| l <= MAX_TILE_LEVEL)?;
        let index = self
            .index
            .checked_shr(u32::from(k) * u32::from(TILE_HEIGHT))
            .unwrap_or(0);
        // Hashes at tree level 8 * level in a tree of this size.
        let hashes = tree_size
            .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
            .unwrap_or(0);
        let start = index.checked_mul(TILE_WIDTH)?;
        if start >= hashes {
            return None;
        }
        Some(Tile {
            level: TileLevel::Hash(level),
            index,
            width: (hashes - start).min(TILE_WIDTH),
        })
    }

    fn check(&self) -> Result<(), TileError> {
        if !(1..=TILE_WIDTH).contains(&self.width) {
            return Err(TileError::InvalidTile {
                reason: "width is not in 1..=256",
            });
        }
        if matches!(self.level, TileLevel::Hash(l) if l > MAX_TILE_LEVEL) {
            return Err(TileError::InvalidTile {
                reason: "level is above 63",
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}

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

/// Appends `N` as zero-padded 3-digit path elements, all but the last prefixed
/// with `x`.
fn push_index_path(out: &mut String, n: u64) {
    // u64::MAX has 20 digits: at most 7 elements, most significant first.
    let mut groups = [0u16; 7];
    let mut count = 0;
    let mut rest = n;
    loop {
        groups[count] = (rest % 1000) as u16;
        count += 1;
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    for (i, group) in groups[..count].iter().rev().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if i + 1 < count {
            out.push('x');
        }
        for divisor in [100, 10, 1] {
            out.push(char::from(b'0' + (group / divisor % 10) as u8));
        }
    }
}

/// Parses the index elements of a path; canonical form is checked by the caller.
fn parse_index(s: &str) -> Option<u64> {
    let elements: Vec<&str> = s.split('/').collect();
    let (last, init) = elements.split_last()?;
    let mut n: u64 = 0;
    for element in init
        .iter()
        .map(|e| e.strip_prefix('x'))
        .chain([Some(*last)])
    {
        let element = element?;
        if element.len() != 3 || !element.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: u64 = element.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(digits)?;
    }
    Some(n)
}

/// Parses a decimal with no sign and no leading zeros, at most `max`.
fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok().filter(|&v| v <= max)
}
