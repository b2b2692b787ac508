//! Placeholder for RFC 6962 hashing, which is being written on the tlog-tree branch.
//!
//! Only the agreed shape of `Hash` is here, so checkpoints can land first; the real
//! module replaces this file whole (on a rebase conflict, take the tlog-tree side).

/// A SHA-256 Merkle tree hash (RFC 6962): a leaf, interior node or root hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);
