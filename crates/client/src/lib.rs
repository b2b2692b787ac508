//! Fetching and verifying for bintrail: offline proof verification, a tile-reading
//! log client, and per-origin checkpoint state.
//!
//! Modules:
//! - [`digest`]: streaming SHA-256 of artifacts.
//! - [`fetch`]: HTTP with timeouts and response size caps.
//! - [`state`]: the per-origin state directory (latest checkpoint, fork evidence,
//!   tile cache), written atomically.
//! - [`submit`]: `POST /add` to a bintrail log.

#![deny(missing_docs)]

pub mod digest;
pub mod fetch;
pub mod state;
pub mod submit;
