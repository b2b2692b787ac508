//! Fetching and verifying for bintrail: offline proof verification, a tile-reading
//! log client, and per-origin checkpoint state.
//!
//! Modules:
//! - [`verify`]: offline verification of an artifact against a tlog-proof and a
//!   tlog-policy.
//! - [`log`]: reading a tlog-tiles log over HTTP, with every hash authenticated.
//! - [`consistency`]: the latest checkpoint per log, and fork detection.
//! - [`digest`]: streaming SHA-256 of artifacts.
//! - [`fetch`]: HTTP with timeouts and response size caps.
//! - [`state`]: the per-origin state directory (latest checkpoint, fork evidence,
//!   tile cache), written atomically.
//! - [`submit`]: `POST /add` to a bintrail log.

#![deny(missing_docs)]

pub mod consistency;
pub mod digest;
pub mod fetch;
pub mod log;
pub mod state;
pub mod submit;
pub mod verify;
