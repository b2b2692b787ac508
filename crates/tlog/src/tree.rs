//! Tree math: stored-hash indexing, tree hashes, inclusion and consistency proofs.
//!
//! The model is Go's `golang.org/x/mod/sumdb/tlog`: a log stores, for every record,
//! its RFC 6962 leaf hash followed by the hash of every complete subtree that record
//! completes. Numbering those hashes in the order they are written gives each hash a
//! *stored hash index*; [`stored_hash_index`] maps a `(level, n)` coordinate (the
//! `n`-th complete subtree of `2^level` records) to that index and
//! [`split_stored_hash_index`] maps it back. Proofs read the hashes they need through
//! a [`HashReader`], so the same code proves from local storage and, through
//! [`crate::tile::TileHashReader`], from tiles fetched from a remote log.
//!
//! Proof shapes and orders are exactly RFC 6962 Section 2.1.1 (`PATH`, the "Merkle
//! audit path") and Section 2.1.2 (`PROOF`/`SUBPROOF`, the "Merkle consistency
//! proof"): hashes ordered from the leaf (or the old tree) up to the root.
//!
//! Sizes are `u64` but limited to [`MAX_TREE_SIZE`] (2^63 - 1, the range of x/mod's
//! `int64` sizes), so that every stored hash index fits in a `u64`.
//!
//! ```
//! use bintrail_tlog::hash::leaf_hash;
//! use bintrail_tlog::tree::{prove_record, prove_tree, stored_hashes, tree_hash, verify_record, verify_tree};
//!
//! // A log appends each record's stored hashes; a Vec<Hash> is a HashReader.
//! let mut stored = Vec::new();
//! for i in 0..10u64 {
//!     let new = stored_hashes(i, format!("entry {i}").as_bytes(), &stored)?;
//!     stored.extend(new);
//! }
//! let root7 = tree_hash(7, &stored)?;
//! let root10 = tree_hash(10, &stored)?;
//!
//! // Record 3 is in the tree of size 10.
//! let proof = prove_record(10, 3, &stored)?;
//! verify_record(&proof, 10, root10, 3, leaf_hash(b"entry 3"))?;
//!
//! // The tree of size 7 is a prefix of the tree of size 10.
//! let proof = prove_tree(10, 7, &stored)?;
//! verify_tree(&proof, 10, root10, 7, root7)?;
//! # Ok::<(), bintrail_tlog::tree::TreeError>(())
//! ```

use crate::hash::{Hash, empty_tree_hash, leaf_hash, node_hash};

mod edge;
mod error;
mod memory;
mod multi;
#[cfg(test)]
mod tests;

pub use edge::RightEdge;
pub use error::TreeError;
pub use memory::MemoryTree;
pub use multi::{prove_records, verify_records};

/// The largest tree size (number of records) this crate handles: 2^63 - 1.
///
/// Stored hash indexes of larger trees would not fit in a `u64`. Functions taking a
/// tree size from outside return [`TreeError::TreeSizeTooLarge`] above this bound.
pub const MAX_TREE_SIZE: u64 = (1 << 63) - 1;

/// Reads stored hashes by stored hash index.
///
/// Contract: on success, returns exactly one hash per requested index, in the order
/// requested; otherwise returns an error. Callers here check the count and return
/// [`TreeError::ShortRead`] when an implementation breaks it. Indexes are not
/// necessarily sorted and may repeat.
pub trait HashReader {
    /// Returns the hashes at `indexes`, in the same order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError>;
}

/// An in-memory store: element `i` is the hash with stored hash index `i`.
///
/// Returns [`TreeError::HashNotInTree`] for indexes past the end.
impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(TreeError::HashNotInTree {
                        index: i,
                        size: records_for_stored_count(self.len() as u64),
                    })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        self.as_slice().read_hashes(indexes)
    }
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        (**self).read_hashes(indexes)
    }
}

/// Returns the stored hash index of the `n`-th hash at `level` (level 0 holds leaf
/// hashes; level `l` holds hashes of complete subtrees of `2^l` records).
///
/// The hash must belong to a tree of at most [`MAX_TREE_SIZE`] records, that is
/// `(n + 1) << level <= 2^63`; beyond that the index does not fit a `u64` and this
/// function panics. Sizes from outside are checked before they get here.
#[allow(
    clippy::expect_used,
    reason = "documented precondition: callers check sizes against MAX_TREE_SIZE"
)]
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    // The hash is written right after the leaf of record r, the last record it
    // covers, which is preceded by stored_hash_count(r) hashes and followed by its
    // parents at levels 1, 2, ...
    let last_record = n
        .checked_add(1)
        .and_then(|m| m.checked_shl(u32::from(level)))
        .filter(|&m| (m >> level) == n + 1 && m <= 1 << 63)
        .map(|m| m - 1)
        .expect("stored_hash_index: hash lies beyond a tree of MAX_TREE_SIZE records");
    stored_hash_count(last_record) + u64::from(level)
}

/// Inverts [`stored_hash_index`]: returns the `(level, n)` of a stored hash index.
///
/// Defined for every `u64`.
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // Find the record r whose hashes include this index: the largest r with
    // count(r) <= index. count(r) = 2r - popcount(r) lies in [2r - 64, 2r], so r is
    // within 33 steps above index / 2.
    let index = u128::from(index);
    let count = |r: u128| 2 * r - u128::from(r.count_ones());
    let mut r = index / 2;
    while count(r + 1) <= index {
        r += 1;
    }
    let level = index - count(r);
    // Record r completes subtrees at levels 1..=trailing_ones(r), so level < 64.
    let n = ((r + 1) >> level) - 1;
    (level as u8, n as u64)
}

/// Returns the number of stored hashes of a tree of `n` records: `2n - popcount(n)`.
///
/// `n` must be below 2^63, i.e. at most [`MAX_TREE_SIZE`] (the count of a larger
/// tree does not fit a `u64`); this function panics beyond that.
#[allow(
    clippy::expect_used,
    reason = "documented precondition: callers check sizes against MAX_TREE_SIZE"
)]
pub fn stored_hash_count(n: u64) -> u64 {
    n.checked_mul(2)
        .expect("stored_hash_count: more than 2^63 records")
        - u64::from(n.count_ones())
}

/// Returns the hashes to store when appending record `n` with content `data`: its
/// leaf hash followed by the hash of each complete subtree it completes, lowest
/// first. They take stored hash indexes `stored_hash_index(0, n)` onwards.
///
/// Reads the earlier hashes it needs (at most 63) from `r` in one call. Returns
/// [`TreeError::TreeSizeTooLarge`] when `n + 1` exceeds [`MAX_TREE_SIZE`].
pub fn stored_hashes<R: HashReader + ?Sized>(
    n: u64,
    data: &[u8],
    r: &R,
) -> Result<Vec<Hash>, TreeError> {
    stored_hashes_for_record_hash(n, leaf_hash(data), r)
}

/// Like [`stored_hashes`], given the record's leaf hash `h` instead of its content.
pub fn stored_hashes_for_record_hash<R: HashReader + ?Sized>(
    n: u64,
    h: Hash,
    r: &R,
) -> Result<Vec<Hash>, TreeError> {
    if n >= MAX_TREE_SIZE {
        return Err(TreeError::TreeSizeTooLarge {
            size: n.saturating_add(1),
        });
    }
    // Record n completes one subtree per trailing one bit; the left sibling at
    // level j is the complete subtree just before the one containing n.
    let levels = n.trailing_ones() as u8;
    let siblings: Vec<u64> = (0..levels)
        .map(|j| stored_hash_index(j, (n >> j) - 1))
        .collect();
    let sibling_hashes = read_exact(r, &siblings)?;
    let mut out = Vec::with_capacity(usize::from(levels) + 1);
    out.push(h);
    let mut current = h;
    for sibling in &sibling_hashes {
        current = node_hash(sibling, &current);
        out.push(current);
    }
    Ok(out)
}

/// Returns the RFC 6962 Merkle Tree Hash of the first `n` records, read from `r` in
/// one call of at most 63 hashes. `n = 0` gives [`empty_tree_hash`] without reading.
///
/// Returns [`TreeError::TreeSizeTooLarge`] above [`MAX_TREE_SIZE`], or the reader's
/// error.
pub fn tree_hash<R: HashReader + ?Sized>(n: u64, r: &R) -> Result<Hash, TreeError> {
    check_size(n)?;
    if n == 0 {
        return Ok(empty_tree_hash());
    }
    let mut indexes = Vec::new();
    subtree_indexes(0, n, &mut indexes);
    let hashes = read_exact(r, &indexes)?;
    Ok(fold_subtrees(&hashes))
}

/// Returns the RFC 6962 inclusion proof ("Merkle audit path") of record `n` in the
/// tree of size `t`: sibling hashes from the leaf up, read from `r` in one call.
///
/// Returns [`TreeError::IndexOutOfRange`] unless `n < t`,
/// [`TreeError::TreeSizeTooLarge`] above [`MAX_TREE_SIZE`], or the reader's error.
pub fn prove_record<R: HashReader + ?Sized>(t: u64, n: u64, r: &R) -> Result<Vec<Hash>, TreeError> {
    check_size(t)?;
    if n >= t {
        return Err(TreeError::IndexOutOfRange { index: n, size: t });
    }
    prove_ranges(&inclusion_ranges(t, n), r)
}

/// Checks that `proof` proves record `n` with leaf hash `h` is in the tree of size
/// `t` with root hash `th`.
///
/// Returns [`TreeError::IndexOutOfRange`] unless `n < t`, [`TreeError::ProofLength`]
/// when the proof has the wrong number of hashes, and [`TreeError::InvalidProof`]
/// when it does not lead to `th`.
pub fn verify_record(proof: &[Hash], t: u64, th: Hash, n: u64, h: Hash) -> Result<(), TreeError> {
    if n >= t {
        return Err(TreeError::IndexOutOfRange { index: n, size: t });
    }
    let ranges = inclusion_ranges(t, n);
    check_length(proof, ranges.len())?;
    let mut current = h;
    for (sibling, &(lo, _)) in proof.iter().zip(&ranges) {
        current = if lo > n {
            node_hash(&current, sibling)
        } else {
            node_hash(sibling, &current)
        };
    }
    if current == th {
        Ok(())
    } else {
        Err(TreeError::InvalidProof)
    }
}

/// Returns the RFC 6962 consistency proof that the tree of size `n` is a prefix of
/// the tree of size `t`, read from `r` in one call.
///
/// The proof is empty when `n == t` and, following C2SP tlog-witness, when `n == 0`
/// (every tree extends the empty tree). Returns [`TreeError::InvalidTreeSizes`] when
/// `n > t`, [`TreeError::TreeSizeTooLarge`] above [`MAX_TREE_SIZE`], or the
/// reader's error.
pub fn prove_tree<R: HashReader + ?Sized>(t: u64, n: u64, r: &R) -> Result<Vec<Hash>, TreeError> {
    check_size(t)?;
    if n > t {
        return Err(TreeError::InvalidTreeSizes { old: n, new: t });
    }
    if n == 0 || n == t {
        return Ok(Vec::new());
    }
    let (ranges, _) = consistency_ranges(t, n);
    prove_ranges(&ranges, r)
}

/// Checks that `proof` proves the tree of size `n` with root hash `h` is a prefix of
/// the tree of size `t` with root hash `th`.
///
/// When `n == 0` the proof must be empty and `h` must be [`empty_tree_hash`] (C2SP
/// tlog-witness); when `n == t` it must be empty and `h == th`. Returns
/// [`TreeError::InvalidTreeSizes`] when `n > t`, [`TreeError::ProofLength`] when the
/// proof has the wrong number of hashes, and [`TreeError::InvalidProof`] when the
/// hashes do not lead to both `h` and `th`.
pub fn verify_tree(proof: &[Hash], t: u64, th: Hash, n: u64, h: Hash) -> Result<(), TreeError> {
    if n > t {
        return Err(TreeError::InvalidTreeSizes { old: n, new: t });
    }
    if n == 0 {
        check_length(proof, 0)?;
        let empty = empty_tree_hash();
        return if h == empty && (t > 0 || th == empty) {
            Ok(())
        } else {
            Err(TreeError::InvalidProof)
        };
    }
    let (ranges, starts_with_old_subtree) = consistency_ranges(t, n);
    check_length(proof, ranges.len())?;
    let (mut old, mut new, rest) = match proof.split_first() {
        Some((first, rest)) if starts_with_old_subtree => (*first, *first, rest),
        _ => (h, h, proof),
    };
    let skip = usize::from(starts_with_old_subtree);
    for (p, &(lo, _)) in rest.iter().zip(&ranges[skip..]) {
        if lo >= n {
            // A subtree entirely after the old tree: only the new root grows.
            new = node_hash(&new, p);
        } else {
            // A complete subtree inside the old tree, left of the boundary.
            old = node_hash(p, &old);
            new = node_hash(p, &new);
        }
    }
    if old == h && new == th {
        Ok(())
    } else {
        Err(TreeError::InvalidProof)
    }
}

/// The stored hash indexes a record proof reads, in proof order. Used to plan
/// tile reads.
pub(crate) fn record_proof_indexes(t: u64, n: u64) -> Result<Vec<u64>, TreeError> {
    check_size(t)?;
    if n >= t {
        return Err(TreeError::IndexOutOfRange { index: n, size: t });
    }
    Ok(ranges_indexes(&inclusion_ranges(t, n)).0)
}

/// The stored hash indexes a consistency proof from `n` to `t` reads.
pub(crate) fn tree_proof_indexes(t: u64, n: u64) -> Result<Vec<u64>, TreeError> {
    check_size(t)?;
    if n > t {
        return Err(TreeError::InvalidTreeSizes { old: n, new: t });
    }
    if n == 0 || n == t {
        return Ok(Vec::new());
    }
    Ok(ranges_indexes(&consistency_ranges(t, n).0).0)
}

/// Appends to `out` the stored hash indexes of the complete subtrees that make up
/// records `[lo, hi)`, left to right, largest first: RFC 6962's `MTH(D[lo:hi])` is
/// the right fold of their hashes.
///
/// Invariant: `lo` is a multiple of the largest power of two not above `hi - lo`;
/// every range this module builds from RFC 6962's splits has that shape.
pub(crate) fn subtree_indexes(mut lo: u64, hi: u64, out: &mut Vec<u64>) {
    while lo < hi {
        let level = 63 - (hi - lo).leading_zeros();
        let width = 1u64 << level;
        assert!(
            lo.is_multiple_of(width),
            "bad math: subtree [{lo}, {hi}) is not aligned"
        );
        out.push(stored_hash_index(level as u8, lo >> level));
        lo += width;
    }
}

/// Returns `MTH` of a range from the hashes of its complete subtrees, left to
/// right. Invariant: `hashes` is not empty.
#[allow(
    clippy::expect_used,
    reason = "bad math: a non-empty range has at least one subtree"
)]
pub(crate) fn fold_subtrees(hashes: &[Hash]) -> Hash {
    let (last, rest) = hashes
        .split_last()
        .expect("bad math: a non-empty range has at least one subtree");
    rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc))
}

/// Reads `indexes` from `r`, checking the reader returned one hash per index.
pub(crate) fn read_exact<R: HashReader + ?Sized>(
    r: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, TreeError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TreeError::ShortRead {
            requested: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Returns [`TreeError::TreeSizeTooLarge`] above [`MAX_TREE_SIZE`].
pub(crate) fn check_size(size: u64) -> Result<(), TreeError> {
    if size > MAX_TREE_SIZE {
        return Err(TreeError::TreeSizeTooLarge { size });
    }
    Ok(())
}

/// The largest power of two strictly below `n` (RFC 6962's `k`). Requires `n >= 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The record ranges `[lo, hi)` whose `MTH`s form RFC 6962's `PATH(n, D[0:t])`, in
/// proof order (leaf first). Requires `n < t`.
fn inclusion_ranges(t: u64, n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(64);
    sibling_ranges_from_root(t, n, |lo, hi| out.push((lo, hi)));
    out.reverse();
    out
}

/// Calls `f` with each range of [`inclusion_ranges`], from the root down (the reverse
/// of proof order), without allocating. Requires `n < t`.
pub(crate) fn sibling_ranges_from_root(t: u64, n: u64, mut f: impl FnMut(u64, u64)) {
    let (mut lo, mut hi) = (0, t);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if n < lo + k {
            f(lo + k, hi);
            hi = lo + k;
        } else {
            f(lo, lo + k);
            lo += k;
        }
    }
}

/// The record ranges whose `MTH`s form RFC 6962's `PROOF(n, D[0:t])`, in proof
/// order, and whether the first is the old tree's own rightmost subtree (RFC
/// `SUBPROOF` with `b = false` reaching `m = n`). Requires `0 < n < t`.
fn consistency_ranges(t: u64, n: u64) -> (Vec<(u64, u64)>, bool) {
    let (mut lo, mut hi) = (0, t);
    let mut on_left_edge = true;
    let mut out = Vec::with_capacity(64);
    while n != hi {
        let k = split_point(hi - lo);
        if n - lo <= k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
            on_left_edge = false;
        }
    }
    if !on_left_edge {
        out.push((lo, hi));
    }
    out.reverse();
    (out, !on_left_edge)
}

/// The stored hash indexes of each range's subtrees, concatenated, and how many
/// belong to each range.
fn ranges_indexes(ranges: &[(u64, u64)]) -> (Vec<u64>, Vec<usize>) {
    let mut indexes = Vec::new();
    let mut counts = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let before = indexes.len();
        subtree_indexes(lo, hi, &mut indexes);
        counts.push(indexes.len() - before);
    }
    (indexes, counts)
}

/// Reads every hash the ranges need in one call and returns each range's `MTH`.
pub(crate) fn prove_ranges<R: HashReader + ?Sized>(
    ranges: &[(u64, u64)],
    r: &R,
) -> Result<Vec<Hash>, TreeError> {
    let (indexes, counts) = ranges_indexes(ranges);
    let hashes = read_exact(r, &indexes)?;
    let mut rest = hashes.as_slice();
    let mut proof = Vec::with_capacity(ranges.len());
    for count in counts {
        let (group, tail) = rest.split_at(count);
        proof.push(fold_subtrees(group));
        rest = tail;
    }
    Ok(proof)
}

pub(crate) fn check_length(proof: &[Hash], expected: usize) -> Result<(), TreeError> {
    if proof.len() == expected {
        Ok(())
    } else {
        Err(TreeError::ProofLength {
            expected,
            got: proof.len(),
        })
    }
}

/// The number of whole records whose hashes fit in `count` stored hashes (for
/// error messages from the in-memory reader).
fn records_for_stored_count(count: u64) -> u64 {
    let mut n = count / 2;
    while n < MAX_TREE_SIZE && stored_hash_count(n + 1) <= count {
        n += 1;
    }
    n
}
