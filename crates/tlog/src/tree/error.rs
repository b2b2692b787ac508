//! Errors from tree math, proofs and hash or tile reads.

use std::error::Error as StdError;

use super::MAX_TREE_SIZE;
use crate::tile::coords::{Tile, TileError};

/// Errors from tree math, proofs and hash or tile reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// Returned when a record index is not below the tree size (including any index
    /// into an empty tree).
    #[error("record index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The record index asked for.
        index: u64,
        /// The tree size it was asked of.
        size: u64,
    },
    /// Returned when a stored hash index does not name a hash of the tree.
    #[error("stored hash index {index} is not in a tree of size {size}")]
    HashNotInTree {
        /// The stored hash index asked for.
        index: u64,
        /// The tree size (records) it was asked of.
        size: u64,
    },
    /// Returned when the record indexes of a multi-record proof are not strictly
    /// increasing.
    #[error("record index {index} follows {previous}: indexes must be strictly increasing")]
    IndexesNotIncreasing {
        /// The index before.
        previous: u64,
        /// The index that is not above it.
        index: u64,
    },
    /// Returned when a consistency proof is asked between an old size larger than
    /// the new size.
    #[error("old tree size {old} is larger than new tree size {new}")]
    InvalidTreeSizes {
        /// The old (smaller) tree size.
        old: u64,
        /// The new (larger) tree size.
        new: u64,
    },
    /// Returned when a tree size exceeds [`MAX_TREE_SIZE`].
    #[error("tree size {size} exceeds the maximum {MAX_TREE_SIZE}")]
    TreeSizeTooLarge {
        /// The offending size.
        size: u64,
    },
    /// Returned when a proof has the wrong number of hashes for its sizes and index.
    #[error("proof has {got} hashes, want {expected}")]
    ProofLength {
        /// The number of hashes the sizes require.
        expected: usize,
        /// The number of hashes given.
        got: usize,
    },
    /// Returned when a proof of the right length does not lead to the claimed
    /// root hash(es): the proof, the record hash or a root hash is wrong.
    #[error("proof does not verify against the root hash")]
    InvalidProof,
    /// Returned when a [`HashReader`] or [`crate::tile::TileReader`] returns a
    /// different number of items than requested.
    #[error("reader returned {got} items, want {requested}")]
    ShortRead {
        /// How many were requested.
        requested: usize,
        /// How many came back.
        got: usize,
    },
    /// Returned when a [`crate::tile::TileReader`] returns tile data of the wrong
    /// length for the tile's width.
    #[error("tile {} has {len} bytes, want {expected}", tile.path())]
    BadTile {
        /// The tile requested.
        tile: Tile,
        /// The length returned.
        len: usize,
        /// The length its width requires.
        expected: usize,
    },
    /// Returned when the tiles holding the tree's complete subtrees do not hash to
    /// the trusted root hash. One of them is wrong; which one cannot be told.
    #[error("tiles do not hash to the root hash of the tree of size {size}")]
    TileRootMismatch {
        /// The size of the trusted tree.
        size: u64,
    },
    /// Returned when a full tile's hash does not match the hash stored in its
    /// already authenticated parent tile: this tile's data is forged or corrupt.
    #[error("tile {} does not match its authenticated parent tile", tile.path())]
    InconsistentTile {
        /// The tile that failed authentication.
        tile: Tile,
    },
    /// Returned when a tile operation fails, e.g. reading hash data for an entry
    /// bundle.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// Returned when the storage behind a [`HashReader`] or
    /// [`crate::tile::TileReader`] fails; the source says how.
    #[error("reading hashes failed: {0}")]
    Reader(#[source] Box<dyn StdError + Send + Sync + 'static>),
}
