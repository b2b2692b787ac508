//! The bintrail log server: the log core ([`Log`]: pool, sequencer, crash recovery,
//! publishing behind a [`Cosigner`]), its storage seam ([`storage::Storage`]) and the HTTP
//! write and tile read API behind `bintrail serve` ([`server`], [`http`]).
//!
//! The core, one concept per file: `state` (the handle and what its tasks share), `error`,
//! `pool` (the pool and its admission), `add` (the one add pipeline), `sequencer` (batches,
//! the commit sequence, signing), `recovery`, `cosign` (the witness seam), `publisher`,
//! `prove` and `tiles` (proofs and the tile cache). DESIGN.md at the repository root tells
//! the life of an add and where the commit point is.

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod server;

mod add;
pub mod cosign;
mod error;
mod follow;
mod integrity;
pub mod log;
mod outbound;
mod pool;
mod prove;
mod publisher;
mod recovery;
mod sequencer;
mod state;
pub mod stats;
pub mod storage;
mod tiles;

pub use crate::cosign::{ConsistencyProver, CosignError, CosignRequest, Cosigner, NoWitness};
pub use crate::log::{AddError, Added, BatchError, Log, LogError, LogOptions};
pub use crate::stats::LogStats;
