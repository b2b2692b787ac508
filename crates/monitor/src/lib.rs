//! `bintrail monitor`: tails a C2SP tlog-tiles log, proves it append-only, catches equivocation, watches
//! packages and compares the log with the registry (issue 6).
//!
//! Pieces, one concept each:
//! - [`finding`]: what a pass reports, one JSON line per finding.
//! - [`index`]: the on-disk identifier index (SQLite), never the whole map in memory.
//! - [`state`]: the state directory: last verified checkpoint (atomic), fork evidence.
//! - [`registry`]: PEP 691 / PEP 503 index reader and the log-versus-registry comparison.
//! - [`webhook`]: POSTs findings with retries.
//! - [`progress`]: a progress bar on a terminal, structured lines otherwise.
#![deny(missing_docs)]

pub mod finding;
pub mod index;
pub mod progress;
pub mod registry;
pub mod state;
pub mod webhook;
