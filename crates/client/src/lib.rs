//! Fetching and verifying for bintrail: offline proof verification, a tile-reading
//! log client, and per-origin checkpoint state.

#![deny(missing_docs)]

pub mod digest;
pub mod fetch;
pub mod state;
