//! The log's side of C2SP tlog-witness: asking witnesses for cosignatures and deciding
//! whether they meet a tlog-policy quorum.
//!
//! - [`gather`]: asks every witness in parallel with a deadline, follows the 409 size
//!   protocol, and keeps only cosignatures that verify ([`gather::Gatherer`]).
//! - [`health`]: each witness's health from the rounds (up or down, counts, latency,
//!   last cosigned size), reporting only changes of state.
//! - [`quorum`]: releases a checkpoint only when a policy quorum cosigned it
//!   ([`quorum::QuorumCosigner`]).
//!
//! It lives with the clients because a log is the witnesses' client: the witness server
//! (`bintrail-witness`) and this code share only the wire formats, in
//! `bintrail_tlog::witness`.

pub mod gather;
pub mod health;
pub mod quorum;
