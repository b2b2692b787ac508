//! RFC 6962 hashing: the 32-byte [`Hash`](struct@Hash), leaf and interior node hashes.
//!
//! RFC 6962 Section 2.1 defines the Merkle Tree Hash with domain separation: a leaf
//! hash is `SHA-256(0x00 || entry)` and an interior node hash is
//! `SHA-256(0x01 || left || right)`, so that no leaf can be passed off as a node.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// The size in bytes of a [`Hash`](struct@Hash) (SHA-256).
pub const HASH_SIZE: usize = 32;

/// A SHA-256 Merkle Tree Hash: a leaf hash, an interior node hash or a root hash.
///
/// `Debug` and `Display` print it as standard (padded) base64, the encoding used by
/// checkpoints and proofs, so logs and error messages show what a user can grep for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Errors from parsing a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Returned when the text is not valid standard, padded base64.
    #[error("hash is not valid base64: {input:?}")]
    InvalidBase64 {
        /// The offending text.
        input: String,
    },
    /// Returned when the base64 decodes to a length other than [`HASH_SIZE`] bytes.
    #[error("hash decodes to {len} bytes, want {HASH_SIZE}")]
    WrongLength {
        /// The decoded length.
        len: usize,
    },
}

impl Hash {
    /// Returns the standard, padded base64 encoding of the hash (44 characters).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Appends [`Hash::to_base64`]'s 44 characters to `out`, without allocating a string
    /// (proofs are written hash by hash into answers).
    pub fn write_base64(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 44];
        // 32 bytes always encode to exactly 44 padded characters, which fit.
        let n = STANDARD.encode_slice(self.0, &mut buf).unwrap_or(0);
        out.extend_from_slice(&buf[..n]);
    }

    /// Parses standard, padded base64 into a hash.
    ///
    /// Returns [`HashError::InvalidBase64`] for anything that is not canonical standard
    /// base64 (the `base64` crate rejects non-zero trailing bits, so every hash has
    /// exactly one accepted encoding), and [`HashError::WrongLength`] when it does not
    /// decode to exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Hash, HashError> {
        // Bound the work and the error message: a hash is always 44 characters, so
        // anything much longer is rejected without decoding it.
        if s.len() > 64 {
            return Err(HashError::InvalidBase64 {
                input: s.chars().take(64).collect(),
            });
        }
        let bytes = STANDARD.decode(s).map_err(|_| HashError::InvalidBase64 {
            input: s.to_owned(),
        })?;
        let arr: [u8; HASH_SIZE] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| HashError::WrongLength { len: bytes.len() })?;
        Ok(Hash(arr))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl FromStr for Hash {
    type Err = HashError;

    /// Same as [`Hash::from_base64`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hash::from_base64(s)
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Hash(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Returns the RFC 6962 leaf hash of `data`: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// Returns the RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Returns the root hash of the empty tree, which RFC 6962 Section 2.1 defines as
/// the SHA-256 of the empty string.
pub fn empty_tree_hash() -> Hash {
    Hash(Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_base64_appends_to_base64() {
        // Fixed hashes, then a chain of 10,000 hashes (every byte value at every
        // position many times over), against the `base64` crate.
        let mut hashes = vec![Hash([0; 32]), Hash([0xff; 32]), Hash([0x3f; 32])];
        let mut h = leaf_hash(b"x");
        for _ in 0..10_000 {
            hashes.push(h);
            h = leaf_hash(&h.0);
        }
        for h in hashes {
            let mut out = b"prefix".to_vec();
            h.write_base64(&mut out);
            assert_eq!(out, format!("prefix{}", STANDARD.encode(h.0)).into_bytes());
        }
    }

    #[test]
    fn empty_tree_hash_is_sha256_of_nothing() {
        // Well-known SHA-256("") value.
        assert_eq!(
            hex(&empty_tree_hash()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_hash_of_empty_entry() {
        // RFC 6962 test vector from certificate-transparency-go's merkle tests:
        // the leaf hash of the empty entry is SHA-256(0x00).
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn base64_round_trip() {
        let h = leaf_hash(b"x");
        let s = h.to_base64();
        assert_eq!(s.len(), 44);
        assert_eq!(Hash::from_base64(&s), Ok(h));
        assert_eq!(s.parse::<Hash>(), Ok(h));
        assert_eq!(format!("{h}"), s);
        assert_eq!(format!("{h:?}"), s);
    }

    #[test]
    fn base64_rejects_wrong_length() {
        let short = STANDARD.encode([7u8; 31]);
        assert_eq!(
            Hash::from_base64(&short),
            Err(HashError::WrongLength { len: 31 })
        );
        let long = STANDARD.encode([7u8; 33]);
        assert_eq!(
            Hash::from_base64(&long),
            Err(HashError::WrongLength { len: 33 })
        );
    }

    #[test]
    fn base64_rejects_garbage_and_non_canonical() {
        assert!(matches!(
            Hash::from_base64(&"!".repeat(44)),
            Err(HashError::InvalidBase64 { .. })
        ));
        assert!(matches!(
            Hash::from_base64(&"A".repeat(1000)),
            Err(HashError::InvalidBase64 { .. })
        ));
        // Non-zero trailing bits in the last character: a second spelling of a hash.
        let mut s = Hash([0; 32]).to_base64();
        s.replace_range(42..43, "B");
        assert!(matches!(
            Hash::from_base64(&s),
            Err(HashError::InvalidBase64 { .. })
        ));
        // URL-safe alphabet is not the checkpoint encoding.
        let mut s = Hash([0xff; 32]).to_base64();
        s = s.replace('/', "_");
        assert!(matches!(
            Hash::from_base64(&s),
            Err(HashError::InvalidBase64 { .. })
        ));
    }

    fn hex(h: &Hash) -> String {
        h.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}
