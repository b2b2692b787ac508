//! The index in memory: the map, each project's entries, and the input tree's stored
//! hashes (so entry inclusion proofs are answered without asking the input log).

use std::collections::HashMap;

use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::map::{EMPTY, Map, MapKey, MapProof, extend_value};
use bintrail_tlog::pypi::{Entry, MAX_ENTRY_LEN};
use bintrail_tlog::tree::{MemoryTree, TreeError};

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

/// Every project entry's text, rendered once as the JSON string an answer carries
/// ([`crate::answer::AnswerEntry::entry`]) and appended in log order into chunks that
/// never grow or move: ten million texts cost their bytes and little more. (A vector
/// per project, doubling as it grew, left a third more memory behind in the
/// allocator.)
#[derive(Debug, Default)]
struct Texts {
    chunks: Vec<Vec<u8>>,
    scratch: Vec<u8>,
}

/// The size of a [`Texts`] chunk.
const TEXT_CHUNK: usize = 1 << 20;

// A text is a parsed entry, at most MAX_ENTRY_LEN bytes, each escaped to at most six,
// and quoted: it fits in a chunk, and so in TextAt's fields.
const _: () = assert!(6 * MAX_ENTRY_LEN + 2 <= TEXT_CHUNK);

/// Where one text lies in [`Texts`].
#[derive(Clone, Copy, Debug)]
struct TextAt {
    chunk: u32,
    start: u32,
    len: u32,
}

impl Texts {
    /// Renders `bytes`, a parsed entry, and appends it.
    fn push(&mut self, bytes: &[u8]) -> TextAt {
        self.scratch.clear();
        crate::answer::json_str(&mut self.scratch, bytes);
        let len = self.scratch.len();
        if self
            .chunks
            .last()
            .is_none_or(|c| c.capacity() - c.len() < len)
        {
            self.chunks.push(Vec::with_capacity(TEXT_CHUNK));
        }
        let chunk = self.chunks.len() - 1;
        let text = &mut self.chunks[chunk];
        let start = text.len();
        text.extend_from_slice(&self.scratch);
        TextAt {
            chunk: chunk as u32,
            start: start as u32,
            len: len as u32,
        }
    }

    fn get(&self, at: TextAt) -> &[u8] {
        let start = at.start as usize;
        &self.chunks[at.chunk as usize][start..start + at.len as usize]
    }
}

/// One project's logged entries in log order ([`IndexState::entries`]).
#[derive(Clone, Copy, Debug)]
pub struct ProjectEntries<'a> {
    list: &'a [(u64, TextAt)],
    texts: &'a Texts,
}

impl<'a> ProjectEntries<'a> {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none (an absent project).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The bytes of all the entries' JSON strings together.
    pub fn json_len(&self) -> usize {
        self.list.iter().map(|(_, at)| at.len as usize).sum()
    }

    /// Each entry's input index and text as a JSON string (quoted and escaped, as
    /// `serde_json` writes the `String` that `String::from_utf8_lossy` makes of it).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &'a [u8])> + 'a {
        let texts = self.texts;
        self.list.iter().map(move |&(i, at)| (i, texts.get(at)))
    }
}

/// The map of the input log's first `size` entries, and what lookups need to answer.
#[derive(Debug, Default)]
pub struct IndexState {
    map: Map,
    /// Each project's entries: input index and where its text is.
    projects: HashMap<MapKey, Vec<(u64, TextAt)>>,
    texts: Texts,
    /// The input tree of the applied leaves, held so that entry proofs read only memory.
    tree: MemoryTree,
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
        self.tree.size()
    }

    /// Keys in the map (projects with at least one entry).
    pub fn projects(&self) -> usize {
        self.map.len()
    }

    /// Appends input leaves `(index, bytes)`, which must continue at [`IndexState::size`]:
    /// each one extends the input tree, and a PyPI entry extends its project's value.
    /// Leaves out of order are refused before anything is applied.
    pub fn apply(&mut self, leaves: &[(u64, Vec<u8>)]) -> Result<(), ApplyError> {
        let size = self.size();
        for (want, (got, _)) in (size..).zip(leaves) {
            if *got != want {
                return Err(ApplyError::OutOfOrder { want, got: *got });
            }
        }
        let hashes: Vec<Hash> = leaves.iter().map(|(_, bytes)| leaf_hash(bytes)).collect();
        self.tree.append(&hashes)?;
        for (index, bytes) in leaves {
            match Entry::parse(bytes) {
                Ok(entry) => {
                    let key = MapKey::for_project(&entry.project());
                    let value = self.map.get(&key).unwrap_or(EMPTY);
                    self.map.insert(key, extend_value(&value, *index));
                    let at = self.texts.push(bytes);
                    self.projects.entry(key).or_default().push((*index, at));
                }
                Err(_) => self.unparsable += 1,
            }
        }
        Ok(())
    }

    /// The RFC 6962 root of the input tree of the applied leaves.
    pub fn tree_hash(&self) -> Hash {
        self.tree.root()
    }

    /// The map root, computing what writes left uncached (call before proving).
    pub fn map_root(&mut self) -> Hash {
        self.map.root()
    }

    /// The map proof for `key`.
    pub fn prove(&self, key: &MapKey) -> MapProof {
        self.map.prove(key)
    }

    /// The entries of the project with `key` (none when it is absent).
    pub fn entries(&self, key: &MapKey) -> ProjectEntries<'_> {
        ProjectEntries {
            list: self.projects.get(key).map_or(&[], |list| list.as_slice()),
            texts: &self.texts,
        }
    }

    /// Writes into `proof` (cleared first) the inclusion proof of input leaf `index` in
    /// the tree of the applied leaves, without allocating when it has room.
    pub fn prove_entry_into(&self, index: u64, proof: &mut Vec<Hash>) -> Result<(), TreeError> {
        self.tree.prove_record_into(index, proof)
    }

    /// Writes into `proof` (cleared first) the multi-record proof of input leaves
    /// `indices` (strictly increasing) in the tree of the applied leaves.
    pub fn prove_entries_into(
        &self,
        indices: &[u64],
        proof: &mut Vec<Hash>,
    ) -> Result<(), TreeError> {
        self.tree.prove_records_into(indices, proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::map::{MapLookup, value_for_indices};
    use bintrail_tlog::tree;

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
        assert_eq!(s.tree_hash(), tree::tree_hash(4, &reference[..]).unwrap());
        let root = s.map_root();
        let key = MapKey::for_project("alpha");
        assert_eq!(
            s.prove(&key).verify(&root, &key).unwrap(),
            MapLookup::Present(value_for_indices(&[0, 3]))
        );
        let beta = MapKey::for_project("beta-pkg");
        assert_eq!(s.entries(&beta).len(), 1);
        // Entries are kept as the answer's JSON strings, in log order.
        let alpha: Vec<(u64, String)> = s
            .entries(&key)
            .iter()
            .map(|(i, json)| (i, serde_json::from_slice(json).unwrap()))
            .collect();
        let text = |i: usize| String::from_utf8(leaves[i].1.clone()).unwrap();
        assert_eq!(alpha, vec![(0, text(0)), (3, text(3))]);
        let absent = s.entries(&MapKey::for_project("absent"));
        assert!(absent.is_empty() && absent.iter().next().is_none());
        let mut proof = Vec::new();
        s.prove_entry_into(3, &mut proof).unwrap();
        tree::verify_record(&proof, 4, s.tree_hash(), 3, leaf_hash(bytes[3])).unwrap();
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
                let want = tree::prove_record(next, i, s.tree.stored_hashes()).unwrap();
                s.prove_entry_into(i, &mut proof).unwrap();
                assert_eq!(proof, want, "size {next} index {i}");
            }
            assert!(matches!(
                s.prove_entry_into(next, &mut proof),
                Err(TreeError::IndexOutOfRange { .. })
            ));
        }
    }

    #[test]
    fn texts_span_chunks() {
        // 3 MiB of entry text: several chunks, every text whole and in its place.
        let mut s = IndexState::default();
        let long = "x".repeat(300);
        let leaves: Vec<(u64, Vec<u8>)> = (0..10_000u64)
            .map(|i| {
                let name = if i % 2 == 0 { "even" } else { "odd" };
                let text = format!(
                    "pypi-transparency/v1\nsha256:{i:064x}\n{name}-{i}.0-py3-none-any.whl\npublisher https://issuer.example {long}"
                );
                (i, text.into_bytes())
            })
            .collect();
        s.apply(&leaves).unwrap();
        assert!(s.texts.chunks.len() >= 3);
        for (name, parity) in [("even", 0), ("odd", 1)] {
            let entries = s.entries(&MapKey::for_project(name));
            assert_eq!(entries.len(), 5_000);
            for (n, (i, json)) in entries.iter().enumerate() {
                assert_eq!(i, 2 * n as u64 + parity);
                let text: String = serde_json::from_slice(json).unwrap();
                assert_eq!(text.as_bytes(), leaves[i as usize].1);
            }
        }
    }
}
