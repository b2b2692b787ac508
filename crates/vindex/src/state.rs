//! The index in memory: the map, each project's entries, and the input tree's stored
//! hashes (so entry inclusion proofs are answered without asking the input log).

use std::collections::HashMap;

use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::map::{EMPTY, Map, MapKey, MapProof, extend_value};
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tree::{self, RightEdge, TreeError};

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
    /// The input tree's right edge at `size`, folded once per applied batch so that
    /// entry proofs read only memory.
    edge: RightEdge,
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
        self.edge = RightEdge::new(self.size, &self.hashes)?;
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

    /// Writes into `proof` (cleared first) the inclusion proof of input leaf `index` in
    /// the tree of the applied leaves, without allocating when it has room.
    pub fn prove_entry_into(&self, index: u64, proof: &mut Vec<Hash>) -> Result<(), TreeError> {
        self.edge.prove_record_into(index, &self.hashes, proof)
    }
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
        let mut proof = Vec::new();
        s.prove_entry_into(3, &mut proof).unwrap();
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
