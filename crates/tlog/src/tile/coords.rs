//! Tile coordinates and their C2SP tlog-tiles paths: what a tile is, independent of
//! the tree math that fills it. [`crate::tree`] names tiles in its errors, so this file
//! depends on nothing but the hash size; the rest of [`crate::tile`] builds on both.

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
    #[allow(clippy::expect_used, reason = "write to String")]
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
        let shift = level_shift(self.level);
        let scale = |x: u64| {
            x.checked_shl(shift)
                .filter(|&y| y >> shift == x)
                .unwrap_or(u64::MAX)
        };
        let first = self.index.saturating_mul(TILE_WIDTH);
        (scale(first), scale(first.saturating_add(self.width)))
    }

    /// Returns the tile at `level` and `index` with the width it has in the tree of
    /// `tree_size` records, or `None` if that tree has no such tile (it would be
    /// empty). This is the one place the tile geometry lives: hash level `L` of a tree
    /// of size `s` holds `s >> 8L` hashes, entry bundles hold `s` entries, and tile `N`
    /// covers positions `256N..256N+255` of its level.
    pub fn in_tree(level: TileLevel, index: u64, tree_size: u64) -> Option<Tile> {
        let count = tree_size.checked_shr(level_shift(level)).unwrap_or(0);
        let start = index.checked_mul(TILE_WIDTH)?;
        let width = count.checked_sub(start)?.min(TILE_WIDTH);
        (width > 0).then_some(Tile {
            level,
            index,
            width,
        })
    }

    /// Returns the tile at `level` whose hashes (or entries) cover record `record`,
    /// with the width it has in the tree of `tree_size` records; `None` unless
    /// `record < tree_size` and that level has a hash covering it.
    pub fn for_record(level: TileLevel, record: u64, tree_size: u64) -> Option<Tile> {
        if record >= tree_size {
            return None;
        }
        let position = record.checked_shr(level_shift(level)).unwrap_or(0);
        Tile::in_tree(level, position / TILE_WIDTH, tree_size)
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
        Tile::in_tree(TileLevel::Hash(level), index, tree_size)
    }

    pub(crate) fn check(&self) -> Result<(), TileError> {
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

/// How far a record number shifts right to become a position at `level`: `8L` bits
/// for hash level `L`, none for entry bundles.
fn level_shift(level: TileLevel) -> u32 {
    match level {
        TileLevel::Hash(l) => u32::from(l) * u32::from(TILE_HEIGHT),
        TileLevel::Entries => 0,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_tree_widths_follow_the_spec_example() {
        // tlog-tiles: a tree of 70,000 has 273 full level-0 tiles, a level-0 tile of width
        // 112, a full level-1 tile, a level-1 tile of width 17 and a level-2 tile of width 1.
        let t = |l, i| Tile::in_tree(TileLevel::Hash(l), i, 70_000).map(|t| t.width);
        assert_eq!(t(0, 272), Some(256));
        assert_eq!(t(0, 273), Some(112));
        assert_eq!(t(0, 274), None);
        assert_eq!(t(1, 0), Some(256));
        assert_eq!(t(1, 1), Some(17));
        assert_eq!(t(2, 0), Some(1));
        assert_eq!(t(3, 0), None);
        assert_eq!(
            Tile::in_tree(TileLevel::Entries, 273, 70_000).map(|t| t.width),
            Some(112)
        );
        assert_eq!(Tile::in_tree(TileLevel::Hash(0), 0, 0), None);
    }
}
