//! Inclusion proofs from stored hashes held in memory, for a reader that proves many
//! records of one tree (the verifiable index answers a project's every file).
//!
//! Every sibling of an RFC 6962 audit path is either one stored hash (a complete,
//! aligned subtree) or the hash of a range that ends at the tree's size. The second
//! kind are the folds of the tree's right edge, the same few for every record; a
//! [`RightEdge`] folds them once, so a proof is a walk with no reads and no hashing.

use super::{TreeError, check_size, sibling_ranges_from_root, stored_hash_index};
use crate::hash::{Hash, empty_tree_hash, node_hash};

/// The folds of a tree's right edge: for each complete subtree `[start, ..)` of the
/// decomposition of `[0, size)`, `(start, MTH([start, size)))`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RightEdge {
    size: u64,
    folds: Vec<(u64, Hash)>,
}

impl RightEdge {
    /// Folds the right edge of the tree of `size` records from its stored hashes
    /// (the layout of [`super::stored_hashes`], indexed by [`stored_hash_index`]).
    ///
    /// Returns [`TreeError::TreeSizeTooLarge`] above [`super::MAX_TREE_SIZE`] and
    /// [`TreeError::HashNotInTree`] when `hashes` lacks a subtree's hash.
    pub fn new(size: u64, hashes: &[Hash]) -> Result<Self, TreeError> {
        check_size(size)?;
        let mut subtrees = Vec::new();
        let mut lo = 0u64;
        while lo < size {
            let level = 63 - (size - lo).leading_zeros();
            let index = stored_hash_index(level as u8, lo >> level);
            subtrees.push((lo, stored(hashes, index, size)?));
            lo += 1u64 << level;
        }
        let mut folds = Vec::with_capacity(subtrees.len());
        let mut right: Option<Hash> = None;
        for (start, h) in subtrees.into_iter().rev() {
            let fold = right.map_or(h, |r| node_hash(&h, &r));
            right = Some(fold);
            folds.push((start, fold));
        }
        folds.reverse();
        Ok(RightEdge { size, folds })
    }

    /// The tree size the edge was folded at.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root of the tree the edge was folded for.
    pub fn root(&self) -> Hash {
        self.folds.first().map_or_else(empty_tree_hash, |(_, h)| *h)
    }

    /// Writes into `proof` (cleared first) the inclusion proof of record `n`, equal to
    /// [`super::prove_record`]`(self.size(), n, hashes)`, with `hashes` the stored
    /// hashes this edge was folded from (or a longer prefix of the same log).
    ///
    /// Returns [`TreeError::IndexOutOfRange`] unless `n < size`, and
    /// [`TreeError::HashNotInTree`] when `hashes` lacks a sibling.
    pub fn prove_record_into(
        &self,
        n: u64,
        hashes: &[Hash],
        proof: &mut Vec<Hash>,
    ) -> Result<(), TreeError> {
        proof.clear();
        if n >= self.size {
            return Err(TreeError::IndexOutOfRange {
                index: n,
                size: self.size,
            });
        }
        let mut failed = None;
        sibling_ranges_from_root(self.size, n, |lo, hi| {
            if failed.is_none() {
                match self.range_hash(lo, hi, hashes) {
                    Ok(h) => proof.push(h),
                    Err(e) => failed = Some(e),
                }
            }
        });
        if let Some(e) = failed {
            proof.clear();
            return Err(e);
        }
        proof.reverse();
        Ok(())
    }

    /// `MTH([lo, hi))` of a sibling: a stored hash, or a fold of the right edge.
    fn range_hash(&self, lo: u64, hi: u64, hashes: &[Hash]) -> Result<Hash, TreeError> {
        match self.locate(lo, hi)? {
            Sibling::Stored(index) => stored(hashes, index, self.size),
            Sibling::Fold(h) => Ok(h),
        }
    }

    /// Where `MTH([lo, hi))` of a sibling is: the stored hash index of a complete
    /// subtree, or the fold of the right edge (held here, no read needed).
    pub(super) fn locate(&self, lo: u64, hi: u64) -> Result<Sibling, TreeError> {
        let width = hi - lo;
        if width.is_power_of_two() && lo.is_multiple_of(width) {
            let level = width.trailing_zeros();
            return Ok(Sibling::Stored(stored_hash_index(level as u8, lo >> level)));
        }
        // A range that is not one complete subtree always ends at the tree's size, and
        // starts where a subtree of its decomposition does.
        self.folds
            .binary_search_by_key(&lo, |(start, _)| *start)
            .map(|i| Sibling::Fold(self.folds[i].1))
            .map_err(|_| {
                // Only an edge folded for another size gets here: name the first
                // subtree's hash the fold would have started from.
                let level = 63 - width.leading_zeros();
                TreeError::HashNotInTree {
                    index: stored_hash_index(level as u8, lo >> level),
                    size: self.size,
                }
            })
    }

    /// The stored hash at `index`, or [`TreeError::HashNotInTree`].
    pub(super) fn read(&self, hashes: &[Hash], index: u64) -> Result<Hash, TreeError> {
        stored(hashes, index, self.size)
    }
}

/// Where a sibling's hash is ([`RightEdge::locate`]).
pub(super) enum Sibling {
    /// At this stored hash index.
    Stored(u64),
    /// This fold of the right edge.
    Fold(Hash),
}

#[cfg(test)]
impl RightEdge {
    /// An edge that claims `size` records and holds no folds: for tests of size bounds.
    pub(super) fn claiming(size: u64) -> RightEdge {
        RightEdge {
            size,
            folds: Vec::new(),
        }
    }
}

/// The stored hash at `index`, or [`TreeError::HashNotInTree`].
fn stored(hashes: &[Hash], index: u64, size: u64) -> Result<Hash, TreeError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| hashes.get(i))
        .copied()
        .ok_or(TreeError::HashNotInTree { index, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{MAX_TREE_SIZE, prove_record, stored_hashes};

    #[test]
    fn proofs_equal_prove_record_at_every_size_and_index() {
        let mut hashes = Vec::new();
        let mut proof = Vec::new();
        for size in 0..=130u64 {
            let edge = RightEdge::new(size, &hashes).unwrap();
            assert_eq!(edge.size(), size);
            for n in 0..size {
                edge.prove_record_into(n, &hashes, &mut proof).unwrap();
                assert_eq!(proof, prove_record(size, n, &hashes).unwrap(), "{size} {n}");
            }
            assert!(matches!(
                edge.prove_record_into(size, &hashes, &mut proof),
                Err(TreeError::IndexOutOfRange { .. })
            ));
            let new = stored_hashes(size, format!("record {size}").as_bytes(), &hashes).unwrap();
            hashes.extend(new);
        }
    }

    #[test]
    fn missing_hashes_are_errors_not_panics() {
        let mut hashes = Vec::new();
        for i in 0..9u64 {
            let new = stored_hashes(i, b"x", &hashes).unwrap();
            hashes.extend(new);
        }
        assert!(matches!(
            RightEdge::new(9, &hashes[..3]),
            Err(TreeError::HashNotInTree { .. })
        ));
        let edge = RightEdge::new(9, &hashes).unwrap();
        let mut proof = Vec::new();
        assert!(matches!(
            edge.prove_record_into(0, &hashes[..1], &mut proof),
            Err(TreeError::HashNotInTree { .. })
        ));
        assert!(proof.is_empty());
        assert!(matches!(
            RightEdge::new(MAX_TREE_SIZE + 1, &hashes),
            Err(TreeError::TreeSizeTooLarge { .. })
        ));
    }
}
