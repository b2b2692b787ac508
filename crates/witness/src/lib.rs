//! A C2SP tlog-witness server. (The log's side, asking witnesses for cosignatures,
//! is `bintrail_client::cosign`; the wire formats are `bintrail_tlog::witness`.)
//!
//! The witness ([`Witness`]) keeps, per log origin, the log's verifier key and
//! the latest checkpoint it cosigned in SQLite ([`store::Store`]). For each
//! `add-checkpoint` request it verifies the log's signature and a consistency
//! proof from the stored checkpoint, atomically moves its state forward
//! (compare-and-swap, so concurrent requests never roll it back), and returns a
//! `cosignature/v1` signature. Validly signed checkpoints that contradict the
//! stored one are kept as [`store::ForkEvidence`].
//!
//! ```
//! use std::sync::Arc;
//! use bintrail_tlog::note::{KeyType, Signer};
//! use bintrail_witness::{Witness, store::Store};
//!
//! let store = Arc::new(Store::open_in_memory().unwrap());
//! let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
//! store.add_log("example.com/log", &log.verifier().to_string()).unwrap();
//! let key = Signer::generate("witness.example/w1", KeyType::CosignatureV1, [2; 32]).unwrap();
//! let witness = Witness::new(store, key).unwrap();
//! // A request for a size-0 checkpoint: `old 0`, no proof, the signed note.
//! let text = "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
//! let note = bintrail_tlog::note::Note::sign(text, &[&log]).unwrap();
//! let mut body = b"old 0\n\n".to_vec();
//! body.extend_from_slice(&note.to_bytes());
//! let cosignature = witness.add_checkpoint(&body, 1_700_000_000).unwrap();
//! assert!(cosignature.starts_with("\u{2014} witness.example/w1 "));
//! ```
//!
//! Not here: the key generation (`bintrail keygen`), the CLI (`crates/cli`).

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod http;
pub mod metrics;
pub mod store;

/// The `add-checkpoint` request body, from `bintrail_tlog::witness` where the witness and
/// the log's client share it.
pub mod request {
    pub use bintrail_tlog::witness::{AddCheckpointRequest, MAX_PROOF_LINES, RequestError};
}
mod checks;
mod error;
mod witness;

pub use error::{AddCheckpointError, MalformedCheckpoint};
pub use witness::{Witness, WitnessKeyError, signature_line};
