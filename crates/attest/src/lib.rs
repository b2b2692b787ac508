//! Who published a Python distribution: PEP 740 attestations verified offline.
//!
//! A PEP 740 attestation binds a distribution's filename and SHA-256 (an in-toto statement)
//! to a short-lived Fulcio certificate naming the Trusted Publisher (OIDC issuer + workflow
//! identity), with Rekor evidence of when it was signed. [`verify_attestation`] and
//! [`verify_evidence`] check all of it against a [`TrustRoot`] (the bundled Sigstore
//! public-good root, or one passed in, e.g. staging) and return the [`Verified`] publisher.
//!
//! No I/O: no network (no TUF refresh; the trusted root is data), no files, no environment.
//! The verifier reads the clock only to refuse a Rekor time in the future.
//!
//! Modules, one concept each:
//! - [`attestation`]: the attestation and provenance objects, and their Sigstore bundle form.
//! - [`statement`]: the in-toto statement and filename equivalence.
//! - [`verify`]: trusted roots and verification.
//! - [`error`]: one error variant per kind of refusal.
#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod attestation;
pub mod error;
pub mod statement;
pub mod verify;

pub use attestation::{Attestation, Evidence, MAX_INPUT_LEN, Provenance};
pub use error::{AttestError, IdentityError, MalformedError, StatementError, TrustRootError};
pub use verify::{
    PRODUCTION_TRUSTED_ROOT, STAGING_TRUSTED_ROOT, Signed, TrustRoot, Verified, verify_attestation,
    verify_evidence, verify_signed_statement,
};
