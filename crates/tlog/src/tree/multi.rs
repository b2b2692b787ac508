//! Inclusion proofs of several records of one tree at once.
//!
//! RFC 6962 proves one record at a time. When a reader wants many records of one tree
//! (the verifiable index answers every file of a project), their audit paths share
//! hashes near the root, and a sibling on one record's path is often the subtree of
//! another record, which the reader hashes itself. A *multi-record proof* carries
//! each needed hash once and none the reader can compute.
//!
//! No RFC or C2SP document defines one, so this crate fixes its shape here, the only
//! place that knows it. The proof of the records at strictly increasing indexes
//! `leaves` in the tree of `t` records is `MPATH(leaves, D[0:t])`, following RFC 6962's
//! splits (`k` is the largest power of two below `n`):
//!
//! ```text
//! MPATH(L, D[n])      = {}                                  when n = 1 (the record itself)
//! MPATH(L, D[n])      = MPATH(L, D[0:k]) : MPATH(L', D[k:n]) when L has records on both sides
//! MPATH(L, D[n])      = MPATH(L, D[0:k]) : MTH(D[k:n])       when all of L is left of k
//! MPATH(L, D[n])      = MPATH(L', D[k:n]) : MTH(D[0:k])      when all of L is from k on
//! ```
//!
//! where `L'` is the records from `k` on, renumbered from `k`. The walk is depth first,
//! a subtree holding records before the sibling that holds none, so each hash comes
//! in the order the reader needs it climbing back up, and the proof of a single record
//! is exactly its RFC 6962 audit path ([`super::prove_record`]). The empty set of
//! records has the empty proof, which proves nothing.

use super::edge::Sibling;
use super::{
    HashReader, RightEdge, TreeError, check_length, check_size, prove_ranges, split_point,
};
use crate::hash::{Hash, node_hash};

/// Returns the multi-record proof (see the module docs) of the records at `leaves`, in
/// the tree of size `t`, read from `r` in one call.
///
/// Returns [`TreeError::TreeSizeTooLarge`] above [`super::MAX_TREE_SIZE`],
/// [`TreeError::IndexOutOfRange`] for an index not below `t`,
/// [`TreeError::IndexesNotIncreasing`] unless `leaves` is strictly increasing, or the
/// reader's error.
pub fn prove_records<R: HashReader + ?Sized>(
    t: u64,
    leaves: &[u64],
    r: &R,
) -> Result<Vec<Hash>, TreeError> {
    check_records(t, leaves.iter().copied())?;
    let mut ranges = Vec::new();
    multi_ranges(t, leaves, &mut |lo, hi| ranges.push((lo, hi)));
    prove_ranges(&ranges, r)
}

/// Checks that `proof` proves every record of `records` (index and leaf hash, by
/// strictly increasing index) is in the tree of size `t` with root hash `th`.
///
/// Returns [`TreeError::TreeSizeTooLarge`] above [`super::MAX_TREE_SIZE`],
/// [`TreeError::IndexOutOfRange`] for an index not below `t`,
/// [`TreeError::IndexesNotIncreasing`] unless the indexes are strictly increasing,
/// [`TreeError::ProofLength`] when the proof has the wrong number of hashes for them,
/// and [`TreeError::InvalidProof`] when it does not lead to `th`. No records and an
/// empty proof verify against any tree: they prove nothing.
pub fn verify_records(
    proof: &[Hash],
    t: u64,
    th: Hash,
    records: &[(u64, Hash)],
) -> Result<(), TreeError> {
    check_records(t, records.iter().map(|&(n, _)| n))?;
    if records.is_empty() {
        return check_length(proof, 0);
    }
    let mut expected = 0usize;
    let leaves: Vec<u64> = records.iter().map(|&(n, _)| n).collect();
    multi_ranges(t, &leaves, &mut |_, _| expected += 1);
    check_length(proof, expected)?;
    let mut rest = proof.iter();
    let root = climb(0, t, records, &mut rest).ok_or(TreeError::InvalidProof)?;
    if root == th {
        Ok(())
    } else {
        Err(TreeError::InvalidProof)
    }
}

impl RightEdge {
    /// Writes into `proof` (cleared first) the multi-record proof of the records at
    /// `leaves`, equal to [`prove_records`]`(self.size(), leaves, hashes)`, with
    /// `hashes` the stored hashes this edge was folded from (or a longer prefix of the
    /// same log). Errors as [`prove_records`]; on error `proof` is left empty.
    pub fn prove_records_into(
        &self,
        leaves: &[u64],
        hashes: &[Hash],
        proof: &mut Vec<Hash>,
    ) -> Result<(), TreeError> {
        proof.clear();
        check_records(self.size(), leaves.iter().copied())?;
        // Every hash is located first and the stored ones read after, in a loop that
        // does nothing else: the reads miss the cache, scattered over the whole tree,
        // and a short loop keeps many of them in flight at once.
        let mut reads: Vec<(usize, u64)> = Vec::new();
        let mut failed = None;
        multi_ranges(
            self.size(),
            leaves,
            &mut |lo, hi| match self.locate(lo, hi) {
                Ok(Sibling::Stored(index)) => {
                    reads.push((proof.len(), index));
                    proof.push(Hash::default());
                }
                Ok(Sibling::Fold(h)) => proof.push(h),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            },
        );
        let read = match failed {
            Some(e) => Err(e),
            None => reads.iter().try_for_each(|&(at, index)| {
                let h = self.read(hashes, index)?;
                if let Some(slot) = proof.get_mut(at) {
                    *slot = h;
                }
                Ok(())
            }),
        };
        if read.is_err() {
            proof.clear();
        }
        read
    }
}

/// Checks a tree size and record indexes: each below `t`, strictly increasing.
fn check_records(t: u64, leaves: impl Iterator<Item = u64>) -> Result<(), TreeError> {
    check_size(t)?;
    let mut previous = None;
    for index in leaves {
        if index >= t {
            return Err(TreeError::IndexOutOfRange { index, size: t });
        }
        if let Some(previous) = previous.filter(|&p| p >= index) {
            return Err(TreeError::IndexesNotIncreasing { previous, index });
        }
        previous = Some(index);
    }
    Ok(())
}

/// Calls `f(lo, hi)` for the range of each hash of `MPATH(leaves, D[0:t])`, in proof
/// order. Requires `leaves` checked by [`check_records`]; does nothing when empty.
pub(crate) fn multi_ranges(t: u64, leaves: &[u64], f: &mut impl FnMut(u64, u64)) {
    if !leaves.is_empty() {
        walk(0, t, leaves, f);
    }
}

/// [`multi_ranges`] within `[lo, hi)`, which holds every one of `leaves` (not empty).
/// Recursion depth is the tree's height, at most 63.
fn walk(lo: u64, hi: u64, leaves: &[u64], f: &mut impl FnMut(u64, u64)) {
    if hi - lo == 1 {
        return;
    }
    let mid = lo + split_point(hi - lo);
    let (left, right) = leaves.split_at(leaves.partition_point(|&n| n < mid));
    match (left.is_empty(), right.is_empty()) {
        (false, false) => {
            walk(lo, mid, left, f);
            walk(mid, hi, right, f);
        }
        (false, true) => {
            walk(lo, mid, left, f);
            f(mid, hi);
        }
        (true, _) => {
            walk(mid, hi, right, f);
            f(lo, mid);
        }
    }
}

/// `MTH(D[lo:hi])` from `records` (all within the range, not empty) and the proof's
/// hashes taken in [`walk`]'s order; `None` when the proof runs out.
fn climb(
    lo: u64,
    hi: u64,
    records: &[(u64, Hash)],
    proof: &mut std::slice::Iter<'_, Hash>,
) -> Option<Hash> {
    if hi - lo == 1 {
        return records.first().map(|&(_, h)| h);
    }
    let mid = lo + split_point(hi - lo);
    let (left, right) = records.split_at(records.partition_point(|&(n, _)| n < mid));
    match (left.is_empty(), right.is_empty()) {
        (false, false) => {
            let l = climb(lo, mid, left, proof)?;
            let r = climb(mid, hi, right, proof)?;
            Some(node_hash(&l, &r))
        }
        (false, true) => {
            let l = climb(lo, mid, left, proof)?;
            Some(node_hash(&l, proof.next()?))
        }
        (true, _) => {
            let r = climb(mid, hi, right, proof)?;
            Some(node_hash(proof.next()?, &r))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::{MemoryTree, prove_record, tree_hash};

    fn record(i: u64) -> Hash {
        leaf_hash(format!("record {i}").as_bytes())
    }

    fn tree(size: u64) -> MemoryTree {
        let mut tree = MemoryTree::new();
        tree.append(&(0..size).map(record).collect::<Vec<_>>())
            .unwrap();
        tree
    }

    fn records(leaves: &[u64]) -> Vec<(u64, Hash)> {
        leaves.iter().map(|&n| (n, record(n))).collect()
    }

    /// Every non-empty subset of the records of every tree up to 11 records: the proof
    /// from a reader equals the one from memory, verifies, is the audit path for one
    /// record, carries no more hashes than the separate audit paths do together, and
    /// fails with any hash changed, any hash missing or extra, or any record changed.
    #[test]
    fn every_subset_of_small_trees_proves_and_verifies() {
        let mut proof = Vec::new();
        for size in 1..=11u64 {
            let tree = tree(size);
            let root = tree_hash(size, tree.stored_hashes()).unwrap();
            for mask in 1u64..(1 << size) {
                let leaves: Vec<u64> = (0..size).filter(|i| mask >> i & 1 == 1).collect();
                let expected = prove_records(size, &leaves, tree.stored_hashes()).unwrap();
                tree.prove_records_into(&leaves, &mut proof).unwrap();
                assert_eq!(proof, expected, "size {size} leaves {leaves:?}");
                let recs = records(&leaves);
                verify_records(&proof, size, root, &recs).unwrap();
                let separate: usize = leaves
                    .iter()
                    .map(|&n| prove_record(size, n, tree.stored_hashes()).unwrap().len())
                    .sum();
                assert!(proof.len() <= separate);
                if let [n] = leaves[..] {
                    assert_eq!(proof, prove_record(size, n, tree.stored_hashes()).unwrap());
                }
                if leaves.len() as u64 == size {
                    assert!(proof.is_empty(), "every record given: nothing to prove");
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i].0[i % 32] ^= 1;
                    assert!(matches!(
                        verify_records(&bad, size, root, &recs),
                        Err(TreeError::InvalidProof)
                    ));
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(matches!(
                    verify_records(&longer, size, root, &recs),
                    Err(TreeError::ProofLength { .. })
                ));
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(matches!(
                        verify_records(shorter, size, root, &recs),
                        Err(TreeError::ProofLength { .. })
                    ));
                }
                for i in 0..recs.len() {
                    let mut bad = recs.clone();
                    bad[i].1 = record(size + 1);
                    assert!(verify_records(&proof, size, root, &bad).is_err());
                }
            }
        }
    }

    /// A record moved to another index, with the same proof, does not verify (unless
    /// the move keeps the proof's shape and hash, which it cannot for distinct leaves).
    #[test]
    fn a_record_claimed_at_another_index_fails() {
        let size = 13;
        let tree = tree(size);
        let root = tree.root();
        let proof = prove_records(size, &[2, 7], tree.stored_hashes()).unwrap();
        for other in 0..size {
            if other == 7 || other == 2 {
                continue;
            }
            let mut recs = vec![(2, record(2)), (other, record(7))];
            recs.sort_by_key(|&(n, _)| n);
            assert!(
                verify_records(&proof, size, root, &recs).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn refuses_bad_index_lists() {
        let tree = tree(9);
        let hashes = tree.stored_hashes();
        let root = tree.root();
        let mut proof = Vec::new();
        for (leaves, want_order) in [
            (&[3u64, 3][..], true),
            (&[4, 2][..], true),
            (&[0, 9][..], false),
            (&[12][..], false),
        ] {
            for result in [
                prove_records(9, leaves, hashes).map(drop),
                tree.prove_records_into(leaves, &mut proof),
                verify_records(&[], 9, root, &records(leaves)),
            ] {
                match result {
                    Err(TreeError::IndexesNotIncreasing { .. }) if want_order => {}
                    Err(TreeError::IndexOutOfRange { .. }) if !want_order => {}
                    other => panic!("{leaves:?}: {other:?}"),
                }
            }
            assert!(proof.is_empty());
        }
        assert!(matches!(
            prove_records(MAX_PLUS_ONE, &[0], hashes),
            Err(TreeError::TreeSizeTooLarge { .. })
        ));
        // No records: the empty proof, and nothing else, verifies.
        assert!(prove_records(9, &[], hashes).unwrap().is_empty());
        verify_records(&[], 9, root, &[]).unwrap();
        assert!(matches!(
            verify_records(&[root], 9, root, &[]),
            Err(TreeError::ProofLength { .. })
        ));
    }

    const MAX_PLUS_ONE: u64 = crate::tree::MAX_TREE_SIZE + 1;

    /// Random subsets of a larger tree, from one record to all of them.
    #[test]
    fn random_subsets_of_a_larger_tree() {
        let size = 1_000u64;
        let tree = tree(size);
        let root = tree.root();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut proof = Vec::new();
        for round in 0..200u64 {
            // xorshift: any fixed spread of densities will do.
            let mut leaves = Vec::new();
            let density = round % 50 + 1;
            for n in 0..size {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state % 100 < density {
                    leaves.push(n);
                }
            }
            tree.prove_records_into(&leaves, &mut proof).unwrap();
            assert_eq!(
                proof,
                prove_records(size, &leaves, tree.stored_hashes()).unwrap()
            );
            verify_records(&proof, size, root, &records(&leaves)).unwrap();
        }
    }
}
