//! [`Map`]: the map held in memory, with each node's hash cached until a write below it.

use super::proof::{MapProof, Terminal};
use super::{EMPTY, KEY_BITS, MapKey, leaf_hash, node_hash};
use crate::hash::Hash;

/// The map in memory: insert keys, read the root, prove a key present or absent.
///
/// Each node caches its hash; [`Map::insert`] clears the caches on its path and
/// [`Map::root`] recomputes only those, so a batch of k updates costs about
/// `k * log2(n)` hashes. Memory is about 200 bytes per key (BENCHMARKS.md).
#[derive(Debug, Default)]
pub struct Map {
    root: Node,
    len: usize,
}

#[derive(Debug, Default)]
enum Node {
    #[default]
    Empty,
    Leaf(Box<Leaf>),
    Internal(Box<Internal>),
}

#[derive(Debug)]
struct Leaf {
    key: MapKey,
    value: Hash,
}

#[derive(Debug)]
struct Internal {
    left: Node,
    right: Node,
    /// The node's hash, `None` after a write below it until [`Node::rehash`].
    hash: Option<Hash>,
}

impl Map {
    /// Returns the empty map (root [`EMPTY`]).
    pub fn new() -> Map {
        Map::default()
    }

    /// Returns the number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Reports whether the map holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets `key`'s value, adding the key when it is new. Returns the previous value.
    pub fn insert(&mut self, key: MapKey, value: Hash) -> Option<Hash> {
        let old = self.root.insert(key, value, 0);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Returns `key`'s value, `None` when the key is absent.
    pub fn get(&self, key: &MapKey) -> Option<Hash> {
        let mut node = &self.root;
        let mut depth = 0;
        loop {
            match node {
                Node::Empty => return None,
                Node::Leaf(leaf) => return (leaf.key == *key).then_some(leaf.value),
                Node::Internal(inner) => {
                    node = inner.child(key.bit(depth));
                    depth += 1;
                }
            }
        }
    }

    /// Returns the root hash, recomputing the hashes that writes cleared.
    pub fn root(&mut self) -> Hash {
        self.root.rehash()
    }

    /// Returns the proof for `key` against the current root: its value when present, the
    /// empty subtree or other key's leaf where its path ends when absent.
    ///
    /// Uses the cached hashes; after writes, call [`Map::root`] first or each proof
    /// recomputes the subtrees the writes touched.
    pub fn prove(&self, key: &MapKey) -> MapProof {
        let mut siblings = Vec::new();
        let mut node = &self.root;
        loop {
            let terminal = match node {
                Node::Empty => Terminal::Empty,
                Node::Leaf(leaf) if leaf.key == *key => Terminal::Present { value: leaf.value },
                Node::Leaf(leaf) => Terminal::OtherLeaf {
                    key: leaf.key,
                    value: leaf.value,
                },
                Node::Internal(inner) => {
                    let bit = key.bit(siblings.len());
                    siblings.push(inner.child(!bit).hash());
                    node = inner.child(bit);
                    continue;
                }
            };
            return MapProof { terminal, siblings };
        }
    }
}

impl Internal {
    fn child(&self, bit: bool) -> &Node {
        if bit { &self.right } else { &self.left }
    }

    fn child_mut(&mut self, bit: bool) -> &mut Node {
        if bit { &mut self.right } else { &mut self.left }
    }
}

impl Node {
    fn insert(&mut self, key: MapKey, value: Hash, depth: usize) -> Option<Hash> {
        match self {
            Node::Empty => {
                *self = Node::Leaf(Box::new(Leaf { key, value }));
                None
            }
            Node::Leaf(leaf) if leaf.key == key => Some(std::mem::replace(&mut leaf.value, value)),
            Node::Leaf(_) => {
                let Node::Leaf(old) = std::mem::take(self) else {
                    unreachable!("matched a leaf just above")
                };
                *self = split(old, Box::new(Leaf { key, value }), depth);
                None
            }
            Node::Internal(inner) => {
                inner.hash = None;
                inner
                    .child_mut(key.bit(depth))
                    .insert(key, value, depth + 1)
            }
        }
    }

    /// Returns the hash, computing (without caching) what writes left uncached.
    fn hash(&self) -> Hash {
        match self {
            Node::Empty => EMPTY,
            Node::Leaf(leaf) => leaf_hash(&leaf.key, &leaf.value),
            Node::Internal(inner) => match inner.hash {
                Some(h) => h,
                None => node_hash(&inner.left.hash(), &inner.right.hash()),
            },
        }
    }

    /// Returns the hash, computing and caching what writes left uncached.
    fn rehash(&mut self) -> Hash {
        match self {
            Node::Internal(inner) => match inner.hash {
                Some(h) => h,
                None => {
                    let h = node_hash(&inner.left.rehash(), &inner.right.rehash());
                    inner.hash = Some(h);
                    h
                }
            },
            _ => self.hash(),
        }
    }
}

/// Returns the subtree at `depth` holding two leaves with distinct keys that share the
/// path down to `depth`: nodes along their common prefix, then one node holding both.
fn split(a: Box<Leaf>, b: Box<Leaf>, depth: usize) -> Node {
    let shared = a.key.common_prefix(&b.key);
    // Invariant: the keys differ (equal keys update the leaf) and share the path so far.
    debug_assert!(
        depth <= shared && shared < KEY_BITS,
        "split of keys off the path"
    );
    let key = b.key;
    let b_bit = key.bit(shared);
    let (left, right) = if b_bit {
        (Node::Leaf(a), Node::Leaf(b))
    } else {
        (Node::Leaf(b), Node::Leaf(a))
    };
    let mut node = Node::Internal(Box::new(Internal {
        left,
        right,
        hash: None,
    }));
    // Wrap it in one node per shared bit below `depth`, built bottom up (no recursion:
    // an adversary who grinds names for a long shared prefix only adds iterations).
    for d in (depth..shared).rev() {
        let (left, right) = if key.bit(d) {
            (Node::Empty, node)
        } else {
            (node, Node::Empty)
        };
        node = Node::Internal(Box::new(Internal {
            left,
            right,
            hash: None,
        }));
    }
    node
}
