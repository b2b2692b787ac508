//! The verifiable index's map: an authenticated key–value structure with inclusion and
//! non-inclusion proofs, keyed by the SHA-256 of a PEP 503 normalized project name.
//!
//! The map is a compact sparse Merkle tree over 256-bit keys (a binary Merkle prefix
//! trie). Conceptually every key has a leaf position, found by reading the key's bits
//! from the most significant bit of its first byte down (`0` goes left, `1` right). A
//! subtree is hashed as follows, so that a tree of n keys costs about 2n hashes however
//! the keys are spread:
//!
//! ```text
//! empty subtree                      32 zero bytes
//! subtree holding exactly one key k  SHA-256(0x10 || k || value)        (a leaf)
//! any other subtree                  SHA-256(0x11 || left || right)     (a node)
//! ```
//!
//! The leaf and node prefixes differ from each other and from RFC 6962's `0x00` and
//! `0x01`, so no map hash can be passed off as a log hash, and a leaf never as a node.
//! A single key therefore sits as high in the tree as the keys around it allow, and two
//! keys that share their first `d` bits meet in a node at depth `d`. The root of the empty
//! map is the empty hash.
//!
//! A value is a [`Hash`] committing to the list of input-log indices of the project's
//! entries, in log order, with [`extend_value`]: `v_0` is 32 zero bytes and
//! `v_i = SHA-256(0x12 || v_{i-1} || index_i as 8 bytes big-endian)`. A list is only ever
//! extended (logs are append-only), so a new entry costs one hash, and a verifier that
//! holds the whole list recomputes it with [`value_for_indices`].
//!
//! [`Map`] holds the tree in memory and answers [`Map::prove`]; [`MapProof`] is the
//! proof, its text encoding ([`MapProof::parse`], [`MapProof::to_text`]) and its check
//! ([`MapProof::verify`]). Keys are never removed: an index only grows with its log.
//!
//! ```
//! use bintrail_tlog::map::{Map, MapKey, MapLookup, MapProof, value_for_indices};
//!
//! let mut map = Map::new();
//! let key = MapKey::for_project("Sample_Project");
//! map.insert(key, value_for_indices(&[3, 17]));
//! let root = map.root();
//!
//! // Present: the proof gives the value, which the verifier compares with the indices.
//! let text = map.prove(&key).to_text();
//! let proof = MapProof::parse(&text).unwrap();
//! assert_eq!(proof.verify(&root, &key).unwrap(), MapLookup::Present(value_for_indices(&[3, 17])));
//!
//! // Absent: a proof that no key `other` is in the map.
//! let other = MapKey::for_project("never-logged");
//! assert_eq!(map.prove(&other).verify(&root, &other).unwrap(), MapLookup::Absent);
//! ```

mod proof;
mod trie;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::hash::{HASH_SIZE, Hash};
use crate::pypi::normalize_project_name;

pub use proof::{
    MAP_PROOF_HEADER, MAX_MAP_PROOF_LEN, MapLookup, MapProof, MapProofError, Terminal,
};
pub use trie::Map;

/// The number of bits in a [`MapKey`], hence the deepest a proof can go.
pub const KEY_BITS: usize = HASH_SIZE * 8;

/// The hash of an empty subtree (and the root of the empty map): 32 zero bytes.
pub const EMPTY: Hash = Hash([0; HASH_SIZE]);

/// A map key: 32 bytes, for a project the SHA-256 of its PEP 503 normalized name.
///
/// `Display` and `FromStr` use 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MapKey(pub [u8; HASH_SIZE]);

impl MapKey {
    /// Returns the key of a project: SHA-256 of `normalize_project_name(name)`, so every
    /// spelling PEP 503 treats as the same project has the same key.
    pub fn for_project(name: &str) -> MapKey {
        MapKey(Sha256::digest(normalize_project_name(name).as_bytes()).into())
    }

    /// Returns bit `i` of the key (0 is the most significant bit of the first byte).
    ///
    /// Panics when `i >= KEY_BITS`: callers index with depths bounded by [`KEY_BITS`].
    pub fn bit(&self, i: usize) -> bool {
        (self.0[i / 8] >> (7 - i % 8)) & 1 == 1
    }

    /// Returns how many leading bits `self` and `other` share (256 when equal).
    pub fn common_prefix(&self, other: &MapKey) -> usize {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        KEY_BITS
    }
}

impl fmt::Display for MapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MapKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The error for a [`MapKey`] that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("map key is not 64 lowercase hex digits")]
pub struct MapKeyError;

impl FromStr for MapKey {
    type Err = MapKeyError;

    /// Parses exactly 64 lowercase hex digits (the one spelling `Display` writes).
    fn from_str(s: &str) -> Result<MapKey, MapKeyError> {
        let s = s.as_bytes();
        if s.len() != 2 * HASH_SIZE {
            return Err(MapKeyError);
        }
        let mut out = [0u8; HASH_SIZE];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Ok(MapKey(out))
    }
}

fn hex_digit(c: u8) -> Result<u8, MapKeyError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(MapKeyError),
    }
}

/// Returns the hash of a subtree holding exactly one key: `SHA-256(0x10 || key || value)`.
pub fn leaf_hash(key: &MapKey, value: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x10]);
    h.update(key.0);
    h.update(value.0);
    Hash(h.finalize().into())
}

/// Returns the hash of a subtree holding two keys or more: `SHA-256(0x11 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x11]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Returns the value after appending `index` to the list `value` commits to:
/// `SHA-256(0x12 || value || index as 8 bytes big-endian)`. Start from [`EMPTY`].
pub fn extend_value(value: &Hash, index: u64) -> Hash {
    let mut h = Sha256::new();
    h.update([0x12]);
    h.update(value.0);
    h.update(index.to_be_bytes());
    Hash(h.finalize().into())
}

/// Returns the value committing to `indices` in order ([`EMPTY`] for none).
pub fn value_for_indices(indices: &[u64]) -> Hash {
    indices.iter().fold(EMPTY, |v, &i| extend_value(&v, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_sha256_of_normalized_name() {
        // SHA-256("requests"), from `printf requests | sha256sum`.
        let want = "ec72420df5dfbdce4111f715c96338df3b7cb75f58e478d2449c9720e560de8c";
        assert_eq!(MapKey::for_project("Requests").to_string(), want);
        assert_eq!(MapKey::for_project("requests").to_string(), want);
        assert_eq!(
            MapKey::for_project("Foo.Bar__baz"),
            MapKey::for_project("foo-bar-baz")
        );
    }

    #[test]
    fn key_text_round_trips_and_is_strict() {
        let k = MapKey::for_project("x");
        assert_eq!(k.to_string().parse::<MapKey>(), Ok(k));
        assert!(k.to_string().to_uppercase().parse::<MapKey>().is_err());
        assert!(k.to_string()[1..].parse::<MapKey>().is_err());
        assert!(format!("{k}0").parse::<MapKey>().is_err());
        assert!("g".repeat(64).parse::<MapKey>().is_err());
    }

    #[test]
    fn bits_and_common_prefix() {
        let mut a = [0u8; 32];
        a[0] = 0b1000_0000;
        let a = MapKey(a);
        assert!(a.bit(0));
        assert!(!a.bit(1));
        assert!(!a.bit(255));
        let mut b = a;
        b.0[31] = 1;
        assert!(b.bit(255));
        assert_eq!(a.common_prefix(&b), 255);
        assert_eq!(a.common_prefix(&a), 256);
        assert_eq!(a.common_prefix(&MapKey([0; 32])), 0);
    }

    #[test]
    fn hashes_are_domain_separated() {
        let k = MapKey([7; 32]);
        let v = Hash([9; 32]);
        assert_ne!(leaf_hash(&k, &v), node_hash(&Hash(k.0), &v));
        assert_ne!(
            node_hash(&EMPTY, &EMPTY),
            crate::hash::node_hash(&EMPTY, &EMPTY)
        );
        assert_eq!(value_for_indices(&[]), EMPTY);
        assert_eq!(
            value_for_indices(&[1, 2]),
            extend_value(&extend_value(&EMPTY, 1), 2)
        );
        assert_ne!(value_for_indices(&[1, 2]), value_for_indices(&[2, 1]));
    }
}
