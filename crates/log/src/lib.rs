//! bintrail log crate.
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
mod integrity;
pub mod log;
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
