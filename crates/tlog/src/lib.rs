//! Formats and math for transparency logs, as bintrail speaks them.
//!
//! This crate is pure: it does no file or network I/O, spawns nothing, reads no clock
//! and no environment, and draws no randomness. Storage comes in through small traits
//! (`HashReader`, `TileReader`); time and randomness arrive as arguments.
//!
//! Modules, one concept each:
//! - [`hash`]: RFC 6962 leaf and node hashing.
//! - [`tree`]: stored-hash indexing, tree hashes, inclusion and consistency proofs.
//! - [`tile`]: C2SP tlog-tiles coordinates, paths, and authenticated reads through tiles.
//! - [`bundle`]: C2SP tlog-tiles entry bundles.
//! - [`entry`]: the entry-kind trait each ecosystem's entries implement.
//! - [`note`]: C2SP signed notes, Ed25519 signers and verifier keys.
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies.
//! - [`cosignature`]: C2SP tlog-cosignature `cosignature/v1`.
//! - [`proof`]: C2SP tlog-proof (`c2sp.org/tlog-proof@v1`).
//! - [`policy`]: C2SP tlog-policy files and quorum decisions.
//! - [`pypi`]: the `pypi-transparency/v1` log entry, the one [`entry::EntryKind`] today.
//! - [`witness`]: C2SP tlog-witness request and answer formats.
//! - [`map`]: the verifiable index's map, a sparse Merkle tree with (non-)inclusion proofs.
//! - [`vindex`]: the verifiable index's output-log entry (a map root and its input checkpoint).

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bundle;
pub mod checkpoint;
pub mod cosignature;
pub mod entry;
pub mod hash;
pub mod map;
pub mod note;
pub mod policy;
pub mod proof;
pub mod pypi;
pub mod tile;
pub mod tree;
pub mod vindex;
pub mod witness;
