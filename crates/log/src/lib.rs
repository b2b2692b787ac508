//! bintrail log crate.
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod server;

pub mod cosign;
mod integrity;
pub mod log;
mod recovery;
mod sequencer;
pub mod stats;
pub mod storage;
mod tiles;

pub use crate::cosign::{ConsistencyProver, CosignError, CosignRequest, Cosigner, NoWitness};
pub use crate::log::{AddError, Added, Log, LogError, LogOptions};
pub use crate::stats::LogStats;
