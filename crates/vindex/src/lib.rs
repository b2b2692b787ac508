//! `bintrail vindex`: a verifiable index over a transparency log (issue 16), and the
//! verification behind `bintrail lookup`.
//!
//! The construction is the "map sandwich": an input log (a bintrail log of PyPI entries),
//! a map computed deterministically from its entries (`bintrail_tlog::map`: the SHA-256
//! of each PEP 503 normalized project name to a hash chain of the project's input-log
//! indices), and an output log whose leaves are `(map root, input checkpoint)`
//! (`bintrail_tlog::vindex::MapRoot`), one per input checkpoint processed. A lookup
//! answer carries everything to verify offline: the output checkpoint, the leaf's
//! inclusion proof, the map proof, and each entry with its inclusion proof in the input
//! checkpoint.
//!
//! Pieces, one concept each:
//! - [`follow`]: following the input log (checkpoints against a policy and the last seen,
//!   entries against tiles), built on `bintrail-monitor`'s catch-up and
//!   `bintrail-client`'s state directory.
//! - [`state`]: the map, each project's entries and the input tree's hashes, in memory.
//! - [`index`]: [`Vindex`], one step at a time: follow, apply, publish a map root.
//! - [`server`]: the HTTP API (lookups and the output log's tiles).
//! - [`answer`]: the lookup answer format (`bintrail-vindex-lookup/v1`).
//! - [`lookup`]: fetching an answer and verifying the whole chain.
//! - [`audit`]: `monitor --verify-vindex`, recomputing the map and checking every published root.

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod audit;
pub mod follow;
pub mod index;
pub mod lookup;
pub mod server;
pub mod state;

pub use index::{Divergence, Vindex, VindexError, VindexOptions};
