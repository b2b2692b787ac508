//! The index in memory: the map, each project's entries, and the input tree's stored
//! hashes (so entry inclusion proofs are answered without asking the input log).

use std::collections::HashMap;

use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::map::{EMPTY, Map, MapKey, MapProof, extend_value};
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tree::{self, TreeError};

/// The leaf of the output log that commits to the map as it stands, with its proof.
#[derive(Debug, Clone)]
pub struct Published {
    /// The leaf's index in the output log.
    pub leaf_index: u64,
    /// The leaf's bytes (a `bintrail-vindex-root/v1` entry).
    pub leaf: Vec<u8>,
    /// The input tree size the leaf's map was computed at.
    pub input_size: u64,
    /// The output checkpoint note the proof is against.
    pub checkpoint: Vec<u8>,
    /// The RFC 6962 inclusion proof of the leaf in that checkpoint.
    pub proof: Vec<Hash>,
}

/// One project's logged entries: `(input index, entry bytes)`, in log order.
pub type ProjectEntries = Vec<(u64, Box<[u8]>)>;

/// The map of the input log's first `size` entries, and what lookups need to answer.
#[derive(Debug, Default)]
pub struct IndexState {
    map: Map,
    projects: HashMap<MapKey, ProjectEntries>,
    /// The input tree's stored hashes (tlog's layout), for inclusion proofs.
    hashes: Vec<Hash>,
    size: u64,
    /// The input tree's right edge at `size`: for each complete subtree `[start, ..)` of
    /// the tree's decomposition, `(start, MTH([start, size)))`. The only inclusion-proof
    /// siblings that are not stored hashes are these, so proofs read them from here.
    edge: Vec<(u64, Hash)>,
    /// Leaves that did not parse as PyPI entries (in the tree, in no project).
    pub unparsable: u64,
    /// The output leaf committing to the map at `size`, once published.
    pub published: Option<Published>,
}

/// Why leaves could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The leaves do not continue the tree where it stands (a bug in the caller).
    #[error("leaf {got} applied where leaf {want} was expected")]
    OutOfOrder {
        /// The leaf expected next.
        want: u64,
        /// The leaf given.
        got: u64,
    },
    /// Tree math failed (a tree beyond tlog's maximum size).
    #[error(transparent)]
    Tree(#[from] TreeError),
}

impl IndexState {
    /// Input leaves applied so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Keys in the map (projects with at least one entry).
    pub fn projects(&self) -> usize {
        self.map.len()
    }

    /// Appends input leaves `(index, bytes)`, which must continue at [`IndexState::size`]:
    /// each one extends the input tree, and a PyPI entry extends its project's value.
    pub fn apply(&mut self, leaves: &[(u64, Vec<u8>)]) -> Result<(), ApplyError> {
        for (index, bytes) in leaves {
            if *index != self.size {
                return Err(ApplyError::OutOfOrder {
                    want: self.size,
                    got: *index,
                });
            }
            let stored =
                tree::stored_hashes_for_record_hash(*index, leaf_hash(bytes), &self.hashes[..])?;
            self.hashes.extend(stored);
            self.size += 1;
            match Entry::parse(bytes) {
                Ok(entry) => {
                    let key = MapKey::for_project(&entry.project());
                    let value = self.map.get(&key).unwrap_or(EMPTY);
                    self.map.insert(key, extend_value(&value, *index));
                    self.projects
                        .entry(key)
                        .or_default()
                        .push((*index, bytes.clone().into_boxed_slice()));
                }
                Err(_) => self.unparsable += 1,
            }
        }
        self.edge = right_edge(self.size, &self.hashes)?;
        Ok(())
    }

    /// The RFC 6962 root of the input tree of the applied leaves.
    pub fn tree_hash(&self) -> Result<Hash, TreeError> {
        tree::tree_hash(self.size, &self.hashes[..])
    }

    /// The map root, computing what writes left uncached (call before proving).
    pub fn map_root(&mut self) -> Hash {
        self.map.root()
    }

    /// The map proof for `key`.
    pub fn prove(&self, key: &MapKey) -> MapProof {
        self.map.prove(key)
    }

    /// The entries of the project with `key`.
    pub fn entries(&self, key: &MapKey) -> &[(u64, Box<[u8]>)] {
        self.projects.get(key).map_or(&[], |v| v.as_slice())
    }

    /// The inclusion proof of input leaf `index` in the tree of the applied leaves.
    pub fn prove_entry(&self, index: u64) -> Result<Vec<Hash>, TreeError> {
        let mut proof = Vec::with_capacity(64);
        self.prove_entry_into(index, &mut proof)?;
        Ok(proof)
    }

    /// [`IndexState::prove_entry`] into `proof` (cleared first), without allocating when it
    /// has room: each sibling is one stored hash, or for the sibling that ends at the tree's
    /// right edge one kept fold (RFC 6962 order, leaf to root; equal to
    /// `tree::prove_record`'s).
    pub fn prove_entry_into(&self, index: u64, proof: &mut Vec<Hash>) -> Result<(), TreeError> {
        proof.clear();
        let t = self.size;
        if index >= t {
            return Err(TreeError::IndexOutOfRange { index, size: t });
        }
        let (mut lo, mut hi) = (0u64, t);
        while hi - lo > 1 {
            // The largest power of two below the range's width (RFC 6962's split).
            let k = 1u64 << (63 - (hi - lo - 1).leading_zeros());
            let (a, b) = if index < lo + k {
                let r = (lo + k, hi);
                hi = lo + k;
                r
            } else {
                let r = (lo, lo + k);
                lo += k;
                r
            };
            match self.range_hash(a, b) {
                Some(h) => proof.push(h),
                // Not reached (every sibling is stored or on the edge); tlog's general
                // proof answers it if the bookkeeping were ever wrong.
                None => {
                    *proof = tree::prove_record(t, index, &self.hashes[..])?;
                    return Ok(());
                }
            }
        }
        proof.reverse();
        Ok(())
    }

    /// `MTH([a, b))` for a range a proof needs: a complete, aligned subtree (stored) or a
    /// range that ends at the tree's size (kept in `edge`).
    fn range_hash(&self, a: u64, b: u64) -> Option<Hash> {
        let width = b - a;
        if width.is_power_of_two() && a.is_multiple_of(width) {
            let level = width.trailing_zeros() as u8;
            let i = usize::try_from(tree::stored_hash_index(level, a >> level)).ok()?;
            return self.hashes.get(i).copied();
        }
        if b != self.size {
            return None;
        }
        self.edge
            .iter()
            .find(|(start, _)| *start == a)
            .map(|(_, h)| *h)
    }
}

/// The right edge of the tree of `size` records (see `IndexState::edge`).
fn right_edge(size: u64, hashes: &[Hash]) -> Result<Vec<(u64, Hash)>, TreeError> {
    let mut subtrees = Vec::new();
    let mut lo = 0u64;
    while lo < size {
        let level = 63 - (size - lo).leading_zeros();
        let i = tree::stored_hash_index(level as u8, lo >> level);
        let h = usize::try_from(i)
            .ok()
            .and_then(|i| hashes.get(i))
            .copied()
            .ok_or(TreeError::HashNotInTree { index: i, size })?;
        subtrees.push((lo, h));
        lo += 1u64 << level;
    }
    let mut edge = Vec::with_capacity(subtrees.len());
    let mut acc: Option<Hash> = None;
    for (start, h) in subtrees.into_iter().rev() {
        let folded = match acc {
            Some(right) => bintrail_tlog::hash::node_hash(&h, &right),
            None => h,
        };
        acc = Some(folded);
        edge.push((start, folded));
    }
    edge.reverse();
    Ok(edge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::map::{MapLookup, value_for_indices};

    fn entry(name: &str, i: u64) -> Vec<u8> {
        format!("pypi-transparency/v1\nsha256:{i:064x}\n{name}-{i}.0-py3-none-any.whl").into_bytes()
    }

    #[test]
    fn apply_builds_map_tree_and_proofs() {
        let mut s = IndexState::default();
        let leaves: Vec<(u64, Vec<u8>)> = vec![
            (0, entry("alpha", 1)),
            (1, b"not an entry".to_vec()),
            (2, entry("Beta_Pkg", 2)),
            (3, entry("alpha", 3)),
        ];
        s.apply(&leaves).unwrap();
        assert_eq!((s.size(), s.projects(), s.unparsable), (4, 2, 1));
        let bytes: Vec<&[u8]> = leaves.iter().map(|(_, b)| b.as_slice()).collect();
        let mut reference = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            let stored = tree::stored_hashes(i as u64, b, &reference[..]).unwrap();
            reference.extend(stored);
        }
        assert_eq!(
            s.tree_hash().unwrap(),
            tree::tree_hash(4, &reference[..]).unwrap()
        );
        let root = s.map_root();
        let key = MapKey::for_project("alpha");
        assert_eq!(
            s.prove(&key).verify(&root, &key).unwrap(),
            MapLookup::Present(value_for_indices(&[0, 3]))
        );
        let beta = MapKey::for_project("beta-pkg");
        assert_eq!(s.entries(&beta).len(), 1);
        let proof = s.prove_entry(3).unwrap();
        tree::verify_record(&proof, 4, s.tree_hash().unwrap(), 3, leaf_hash(bytes[3])).unwrap();
        assert!(matches!(
            s.apply(&[(7, entry("x", 7))]),
            Err(ApplyError::OutOfOrder { want: 4, got: 7 })
        ));
    }

    #[test]
    fn entry_proofs_equal_tlogs_at_every_size() {
        // Applied in uneven batches, so the kept edge is recomputed at many sizes; at each
        // size every index's proof must be tlog's (stored hashes and edge folds alike).
        let mut s = IndexState::default();
        let mut proof = Vec::new();
        let mut next = 0u64;
        for batch in [1u64, 1, 1, 2, 3, 5, 8, 13, 21, 34, 1, 40, 1] {
            let leaves: Vec<(u64, Vec<u8>)> =
                (next..next + batch).map(|i| (i, entry("p", i))).collect();
            s.apply(&leaves).unwrap();
            next += batch;
            for i in 0..next {
                let want = tree::prove_record(next, i, &s.hashes[..]).unwrap();
                s.prove_entry_into(i, &mut proof).unwrap();
                assert_eq!(proof, want, "size {next} index {i}");
            }
            assert!(matches!(
                s.prove_entry_into(next, &mut proof),
                Err(TreeError::IndexOutOfRange { .. })
            ));
        }
    }
}
