//! Glue between the log's publisher and the witness crate: a
//! [`bintrail_log::Cosigner`] that publishes only what a tlog-policy quorum of
//! witnesses cosigned ([`QuorumCosigner`]).
//!
//! It lives in the binary because the log and client crates do not depend on
//! each other (STYLE.md §1); this file only adapts types.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bintrail_client::cosign::gather::{ConsistencySource, ProofUnavailable};
use bintrail_client::cosign::quorum::{QuorumCosigner, QuorumError, published_policy};
use bintrail_log::{ConsistencyProver, CosignError, CosignRequest, Cosigner};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::Policy;
use bytes::Bytes;
use futures::future::BoxFuture;

/// The log's cosigner under an operator's tlog-policy: each round asks every
/// witness with a URL (each bounded by the round timeout) and publishes once
/// the quorum's cosignatures verified.
#[derive(Clone)]
pub struct PolicyCosigner(Arc<QuorumCosigner>);

impl PolicyCosigner {
    /// A cosigner for `policy` whose rounds give each witness `round_timeout`.
    /// Fails when the witnesses that have URLs could never meet the quorum.
    pub fn new(policy: Policy, round_timeout: Duration) -> Result<Self, QuorumError> {
        QuorumCosigner::new(policy, round_timeout).map(|q| Self(Arc::new(q)))
    }
}

impl Cosigner for PolicyCosigner {
    fn cosign(
        &self,
        request: CosignRequest,
    ) -> impl Future<Output = Result<Bytes, CosignError>> + Send {
        let inner = Arc::clone(&self.0);
        async move {
            let prover = LogProver(request.prover);
            inner
                .cosign(
                    &request.signed_note,
                    &request.checkpoint,
                    request.old_size,
                    &prover,
                )
                .await
                .map(Bytes::from)
                .map_err(|err| match err {
                    QuorumError::QuorumNotMet { .. } => CosignError::QuorumNotMet {
                        detail: err.to_string(),
                    },
                    other => CosignError::Failed(Box::new(other)),
                })
        }
    }
}

/// The tlog-policy text a log serves at `GET /policy`: its own key, and the
/// witnesses, groups and quorum of `policy` (`quorum none` without one).
pub fn policy_text(log: &Verifier, policy: Option<&Policy>) -> String {
    published_policy(log, None, policy).to_string()
}

/// Consistency proofs from the log's own tiles.
struct LogProver(ConsistencyProver);

impl ConsistencySource for LogProver {
    fn prove_consistency(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> BoxFuture<'_, Result<Vec<Hash>, ProofUnavailable>> {
        // The log's prover is bound to the size being cosigned, which is the
        // gatherer's `new_size`.
        Box::pin(async move {
            self.0
                .prove(old_size)
                .await
                .map_err(|e| ProofUnavailable::new(old_size, new_size, Box::new(e)))
        })
    }
}
