//! Fetching and verifying for bintrail: offline proof verification, a tile-reading
//! log client, and per-origin checkpoint state.
//!
//! Verifying a downloaded file against its `.tlog-proof` and a saved policy, offline:
//!
//! ```no_run
//! use std::path::Path;
//! use bintrail_client::verify::{load_policy, load_proof, verify_artifact};
//!
//! let policy = load_policy(Path::new("bintrail.policy"))?;
//! let file = Path::new("demo-1.0-py3-none-any.whl");
//! let proof = load_proof(Path::new("demo-1.0-py3-none-any.whl.tlog-proof"))?;
//! match verify_artifact(file, &proof, &policy) {
//!     Ok(v) => println!("logged at index {} in {}", v.index, v.checkpoint.origin),
//!     // Each step has its own variant; `kind()` groups them with a stable label.
//!     Err(err) => eprintln!("{}: {err}", err.kind().label()),
//! }
//! # Ok::<(), bintrail_client::verify::VerifyError>(())
//! ```
//!
//! Modules:
//! - [`verify`]: offline verification of an artifact against a tlog-proof and a
//!   tlog-policy.
//! - [`log`]: reading a tlog-tiles log over HTTP, with every hash authenticated.
//! - [`consistency`]: the latest checkpoint per log, and fork detection.
//! - [`cosign`]: the log's side of tlog-witness: asking witnesses, checking
//!   cosignatures, the policy quorum.
//! - [`digest`]: streaming SHA-256 of artifacts.
//! - [`fetch`]: HTTP with timeouts and response size caps.
//! - [`index`]: the draft PEP's client algorithm for a Python index (key discovery
//!   from `tlog-info`, proofs from `inclusion-proof` links or the log, key refresh).
//! - [`state`]: the per-origin state directory (latest checkpoint, fork evidence,
//!   tile cache), written atomically.
//! - [`pylock`]: inclusion proofs stored in a PEP 751 `pylock.toml`.
//! - [`report`]: evidence of log misbehaviour as JSON, POSTed to a report URL.
//! - [`submit`]: `POST /add` to a bintrail log.

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod consistency;
pub mod cosign;
pub mod digest;
pub mod fetch;
pub mod identity;
pub mod identity_policy;
pub mod index;
pub mod log;
pub mod pylock;
pub mod report;
pub mod state;
pub mod submit;
pub mod trusted_publisher;
pub mod verify;
