//! [`MemoryTree`]: a whole tree's stored hashes held in memory, for a reader that
//! proves many records of it (the verifiable index answers every file of a project).
//!
//! The tree keeps its right edge folded ([`RightEdge`]), once per append, so a proof
//! reads only memory and hashes nothing. Two other layouts were tried on a
//! ten-million-record tree and showed no gain beyond the machine's noise, so the
//! plain layout stays: a copy of each level from 6 up in an array of its own (so that
//! the levels every proof reads would stay in cache), and reading a batch of proofs'
//! hashes in one loop (BENCHMARKS.md, "tlog: tree and tiles").

use super::{
    MAX_TREE_SIZE, RightEdge, TreeError, stored_hash_count, stored_hashes_for_record_hash,
};
use crate::hash::Hash;

/// A tree's stored hashes in memory, with its right edge folded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// Every stored hash, in the order of [`super::stored_hash_index`].
    stored: Vec<Hash>,
    /// The right edge at the tree's size (which it holds).
    edge: RightEdge,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// The number of records.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// Every stored hash, indexed by [`super::stored_hash_index`] (a [`super::HashReader`]).
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.stored
    }

    /// The RFC 6962 root of the tree.
    pub fn root(&self) -> Hash {
        self.edge.root()
    }

    /// Appends records by their leaf hashes, then folds the new right edge once.
    ///
    /// Returns [`TreeError::TreeSizeTooLarge`] when the tree would exceed
    /// [`MAX_TREE_SIZE`]; on any error nothing is appended.
    pub fn append(&mut self, leaf_hashes: &[Hash]) -> Result<(), TreeError> {
        let size = self.size();
        let count = u64::try_from(leaf_hashes.len()).unwrap_or(u64::MAX);
        let new_size = size.saturating_add(count);
        if new_size > MAX_TREE_SIZE {
            return Err(TreeError::TreeSizeTooLarge { size: new_size });
        }
        let appended = (size..)
            .zip(leaf_hashes)
            .try_for_each(|(n, &h)| {
                let new = stored_hashes_for_record_hash(n, h, &self.stored[..])?;
                self.stored.extend(new);
                Ok(())
            })
            .and_then(|()| RightEdge::new(new_size, &self.stored));
        match appended {
            Ok(edge) => {
                self.edge = edge;
                Ok(())
            }
            Err(e) => {
                // Unreachable for hashes this tree stored itself; undone all the same.
                self.stored
                    .truncate(usize::try_from(stored_hash_count(size)).unwrap_or(usize::MAX));
                Err(e)
            }
        }
    }

    /// Writes into `proof` (cleared first) the RFC 6962 inclusion proof of record `n`
    /// in the tree, equal to [`super::prove_record`]`(self.size(), n, self.stored_hashes())`.
    ///
    /// Returns [`TreeError::IndexOutOfRange`] unless `n < size`.
    pub fn prove_record_into(&self, n: u64, proof: &mut Vec<Hash>) -> Result<(), TreeError> {
        self.edge.prove_record_into(n, &self.stored, proof)
    }

    /// Writes into `proof` (cleared first) the multi-record proof of the records at
    /// `leaves` in the tree, equal to [`super::prove_records`]`(self.size(), leaves,
    /// self.stored_hashes())`. Errors as that function.
    pub fn prove_records_into(
        &self,
        leaves: &[u64],
        proof: &mut Vec<Hash>,
    ) -> Result<(), TreeError> {
        self.edge.prove_records_into(leaves, &self.stored, proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::{prove_record, stored_hashes, tree_hash};

    fn record(i: u64) -> Hash {
        leaf_hash(format!("record {i}").as_bytes())
    }

    #[test]
    fn equals_the_stored_hash_layout_and_its_proofs_at_every_size() {
        // Appended in uneven batches up to 2^9 + 3 records, so the edge is refolded at
        // many sizes.
        let mut tree = MemoryTree::new();
        let mut reference = Vec::new();
        let mut proof = Vec::new();
        let mut size = 0u64;
        let mut batch = 0u64;
        while size < 515 {
            batch = batch % 37 + 1;
            let leaves: Vec<Hash> = (size..size + batch).map(record).collect();
            tree.append(&leaves).unwrap();
            for (i, h) in leaves.iter().enumerate() {
                let new =
                    crate::tree::stored_hashes_for_record_hash(size + i as u64, *h, &reference)
                        .unwrap();
                reference.extend(new);
            }
            size += batch;
            assert_eq!(tree.size(), size);
            assert_eq!(tree.stored_hashes(), &reference[..]);
            assert_eq!(tree.root(), tree_hash(size, &reference).unwrap());
            for n in 0..size {
                tree.prove_record_into(n, &mut proof).unwrap();
                assert_eq!(
                    proof,
                    prove_record(size, n, &reference).unwrap(),
                    "{size} {n}"
                );
            }
            assert!(matches!(
                tree.prove_record_into(size, &mut proof),
                Err(TreeError::IndexOutOfRange { .. })
            ));
            assert!(proof.is_empty());
        }
    }

    #[test]
    fn the_empty_tree_and_the_size_bound() {
        let mut tree = MemoryTree::new();
        assert_eq!(tree.root(), tree_hash(0, &Vec::new()).unwrap());
        tree.append(&[]).unwrap();
        assert_eq!(tree.size(), 0);
        let mut proof = Vec::new();
        assert!(matches!(
            tree.prove_record_into(0, &mut proof),
            Err(TreeError::IndexOutOfRange { .. })
        ));
        tree.append(&[record(0)]).unwrap();
        tree.edge = RightEdge::claiming(MAX_TREE_SIZE);
        let before = tree.clone();
        assert!(matches!(
            tree.append(&[record(1)]),
            Err(TreeError::TreeSizeTooLarge { .. })
        ));
        assert_eq!(tree, before, "a refused append changes nothing");
        let one = stored_hashes(0, b"record 0", &Vec::new()).unwrap();
        assert_eq!(tree.stored_hashes(), &one[..]);
    }
}
