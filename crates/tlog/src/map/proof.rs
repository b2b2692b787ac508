//! [`MapProof`]: a key's path through the map, its text encoding and its check.
//!
//! ```text
//! bintrail-map-proof/v1
//! present <base64 value>                  (the key is in the map, with this value)
//!   or: absent                            (the key's path ends in an empty subtree)
//!   or: absent <64 hex key> <base64 value>  (... in the leaf of another key)
//! <sibling>                               (zero to 256 lines, the root's child first:
//!                                          base64, or `-` for the empty hash)
//! ```
//!
//! Every line ends with `\n`. [`MapProof::parse`] accepts exactly what
//! [`MapProof::to_text`] writes (the empty hash only as `-`, keys in lowercase hex,
//! canonical base64), so parsing and writing round-trip byte for byte. A later version of
//! the format gets a new first line; a parser of this one refuses it.

use super::{EMPTY, KEY_BITS, MapKey, leaf_hash, node_hash};
use crate::hash::Hash;

/// The first line of every map proof.
pub const MAP_PROOF_HEADER: &str = "bintrail-map-proof/v1";

/// The largest proof [`MapProof::parse`] accepts, in bytes: a header, the longest
/// terminal line and 256 siblings need 11,771.
pub const MAX_MAP_PROOF_LEN: usize = 12 * 1024;

/// A proof that a key is in the map with some value, or is not in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProof {
    /// Where the key's path ends.
    pub terminal: Terminal,
    /// The sibling hashes along the key's path, the root's child first; as many as the
    /// depth where the path ends (at most [`KEY_BITS`]).
    pub siblings: Vec<Hash>,
}

/// Where a key's path through the map ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// At the key's own leaf, with its value: the key is present.
    Present {
        /// The key's value.
        value: Hash,
    },
    /// At an empty subtree: the key is absent.
    Empty,
    /// At the leaf of another key sharing the path: the key is absent.
    OtherLeaf {
        /// The other key; it shares the key's first `siblings.len()` bits.
        key: MapKey,
        /// The other key's value.
        value: Hash,
    },
}

/// What a verified proof says about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapLookup {
    /// The key is in the map with this value.
    Present(Hash),
    /// The key is not in the map.
    Absent,
}

/// Errors from parsing or verifying a [`MapProof`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapProofError {
    /// The text is longer than [`MAX_MAP_PROOF_LEN`] bytes.
    #[error("map proof is longer than {MAX_MAP_PROOF_LEN} bytes")]
    TooLong,
    /// The text is not UTF-8, or does not end with a newline.
    #[error("map proof is not newline-terminated UTF-8 text")]
    NotText,
    /// The first line is not [`MAP_PROOF_HEADER`].
    #[error("map proof does not start with {MAP_PROOF_HEADER}")]
    Header,
    /// The second line is not a well-formed `present` or `absent` line.
    #[error("map proof's second line is not a well-formed present or absent line")]
    Terminal,
    /// A sibling line (1-based line number) is neither `-` nor a canonical base64 hash
    /// other than the empty hash.
    #[error("map proof line {line} is not a sibling hash")]
    Sibling {
        /// The 1-based line number.
        line: usize,
    },
    /// The proof has more than [`KEY_BITS`] siblings.
    #[error("map proof has more than {KEY_BITS} siblings")]
    TooDeep,
    /// An absence proof ending in a leaf names the key it should prove absent.
    #[error("map proof claims absence with a leaf of the key itself")]
    OtherLeafIsKey,
    /// An absence proof ends in the leaf of a key off the proved key's path.
    #[error("map proof ends in a leaf whose key is not on the proved key's path")]
    OtherLeafOffPath,
    /// The proof does not lead to the expected root hash.
    #[error("map proof leads to root {computed}, want {expected}")]
    RootMismatch {
        /// The root the proof leads to.
        computed: Hash,
        /// The root it was checked against.
        expected: Hash,
    },
}

impl MapProof {
    /// Parses the text encoding (see the module docs), refusing anything
    /// [`MapProof::to_text`] would not write.
    pub fn parse(text: &[u8]) -> Result<MapProof, MapProofError> {
        if text.len() > MAX_MAP_PROOF_LEN {
            return Err(MapProofError::TooLong);
        }
        let text = std::str::from_utf8(text).map_err(|_| MapProofError::NotText)?;
        let body = text.strip_suffix('\n').ok_or(MapProofError::NotText)?;
        let mut lines = body.split('\n');
        if lines.next() != Some(MAP_PROOF_HEADER) {
            return Err(MapProofError::Header);
        }
        let terminal = parse_terminal(lines.next().ok_or(MapProofError::Terminal)?)?;
        let mut siblings = Vec::new();
        for (i, line) in lines.enumerate() {
            if siblings.len() == KEY_BITS {
                return Err(MapProofError::TooDeep);
            }
            siblings.push(parse_sibling(line).ok_or(MapProofError::Sibling { line: i + 3 })?);
        }
        Ok(MapProof { terminal, siblings })
    }

    /// Returns the text encoding (see the module docs).
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = String::with_capacity(80 + 45 * self.siblings.len());
        out.push_str(MAP_PROOF_HEADER);
        out.push('\n');
        match &self.terminal {
            Terminal::Present { value } => out.push_str(&format!("present {value}\n")),
            Terminal::Empty => out.push_str("absent\n"),
            Terminal::OtherLeaf { key, value } => {
                out.push_str(&format!("absent {key} {value}\n"));
            }
        }
        for s in &self.siblings {
            if *s == EMPTY {
                out.push('-');
            } else {
                out.push_str(&s.to_base64());
            }
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Checks the proof for `key` against the map root `root` and returns what it proves.
    ///
    /// Errors: [`MapProofError::TooDeep`] for more than [`KEY_BITS`] siblings,
    /// [`MapProofError::OtherLeafIsKey`] or [`MapProofError::OtherLeafOffPath`] for an
    /// absence proof ending in a leaf that cannot prove absence, and
    /// [`MapProofError::RootMismatch`] when the path does not hash to `root`.
    pub fn verify(&self, root: &Hash, key: &MapKey) -> Result<MapLookup, MapProofError> {
        let depth = self.siblings.len();
        if depth > KEY_BITS {
            return Err(MapProofError::TooDeep);
        }
        let (mut hash, lookup) = match &self.terminal {
            Terminal::Present { value } => (leaf_hash(key, value), MapLookup::Present(*value)),
            Terminal::Empty => (EMPTY, MapLookup::Absent),
            Terminal::OtherLeaf { key: other, value } => {
                if other == key {
                    return Err(MapProofError::OtherLeafIsKey);
                }
                if other.common_prefix(key) < depth {
                    return Err(MapProofError::OtherLeafOffPath);
                }
                (leaf_hash(other, value), MapLookup::Absent)
            }
        };
        for (d, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if key.bit(d) {
                node_hash(sibling, &hash)
            } else {
                node_hash(&hash, sibling)
            };
        }
        if hash != *root {
            return Err(MapProofError::RootMismatch {
                computed: hash,
                expected: *root,
            });
        }
        Ok(lookup)
    }
}

fn parse_terminal(line: &str) -> Result<Terminal, MapProofError> {
    let words: Vec<&str> = line.split(' ').collect();
    let value = |s: &str| Hash::from_base64(s).map_err(|_| MapProofError::Terminal);
    match words.as_slice() {
        ["present", v] => Ok(Terminal::Present { value: value(v)? }),
        ["absent"] => Ok(Terminal::Empty),
        ["absent", k, v] => Ok(Terminal::OtherLeaf {
            key: k.parse().map_err(|_| MapProofError::Terminal)?,
            value: value(v)?,
        }),
        _ => Err(MapProofError::Terminal),
    }
}

fn parse_sibling(line: &str) -> Option<Hash> {
    if line == "-" {
        return Some(EMPTY);
    }
    // The empty hash has one spelling, `-`.
    Hash::from_base64(line).ok().filter(|h| *h != EMPTY)
}
