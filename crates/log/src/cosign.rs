//! The witness seam: a [`Cosigner`] decides when a sequenced checkpoint may be published,
//! and with which cosignatures.
//!
//! The sequencer persists each signed checkpoint before the publisher (`publisher.rs`)
//! hands it here (a witness that cosigned a checkpoint the log then forgot would see a fork
//! after a crash). The publisher persists what the cosigner returns as the published
//! checkpoint, and only then lets readers and waiting adds see it. While the cosigner fails,
//! sequencing goes on and the publisher retries with the newest checkpoint every interval.

use std::future::Future;
use std::sync::Arc;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::Hash;
use bytes::Bytes;

use crate::error::LogError;
use crate::metrics::ExtraMetrics;
use crate::prove::prove_consistency;
use crate::state::Shared;

/// What a cosigner is asked to cosign.
pub struct CosignRequest {
    /// The size of the latest published checkpoint (what witnesses last cosigned, unless they
    /// say otherwise with the tlog-witness 409 size protocol).
    pub old_size: u64,
    /// The checkpoint note signed by the log (already persisted as the sequenced checkpoint).
    pub signed_note: Bytes,
    /// The checkpoint in it.
    pub checkpoint: Checkpoint,
    /// Builds consistency proofs from any older size to `checkpoint.size`.
    pub prover: ConsistencyProver,
}

/// Builds consistency proofs for one cosign request, from the log's own tiles.
#[derive(Clone)]
pub struct ConsistencyProver {
    shared: Arc<Shared>,
    size: u64,
}

impl ConsistencyProver {
    /// A prover to the tree of `size` (at most the sequenced size).
    pub(crate) fn new(shared: Arc<Shared>, size: u64) -> ConsistencyProver {
        ConsistencyProver { shared, size }
    }

    /// The size of the tree this prover proves to: the checkpoint being cosigned.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The consistency proof from the tree of `old_size` to the request's checkpoint.
    /// Returns [`LogError::OutOfRange`] if `old_size` exceeds it.
    pub async fn prove(&self, old_size: u64) -> Result<Vec<Hash>, LogError> {
        prove_consistency(&self.shared, self.size, old_size).await
    }
}

/// Decides when a sequenced checkpoint may be published, and with which cosignatures.
///
/// `cosign` returns the note to publish: the log-signed note with any cosignature lines
/// added. The publisher checks that the result still carries the log's signature on the same
/// checkpoint, persists it, and serves it. An error means "not now": the publisher retries
/// later with the newest checkpoint. Implementations bound their own network waits; the
/// publisher also gives up on one call after the log's `add_timeout`.
pub trait Cosigner: Send + Sync + 'static {
    /// Returns the note to publish for `request`, or why it cannot be published yet.
    fn cosign(
        &self,
        request: CosignRequest,
    ) -> impl Future<Output = Result<Bytes, CosignError>> + Send;

    /// Series the cosigner adds to `GET /metrics` (for example each witness's health);
    /// none by default. Asked once, when the server starts.
    fn metrics(&self) -> Option<Arc<dyn ExtraMetrics>> {
        None
    }
}

/// The cosigner of a log without witnesses: publishes the log-signed note as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWitness;

impl Cosigner for NoWitness {
    fn cosign(
        &self,
        request: CosignRequest,
    ) -> impl Future<Output = Result<Bytes, CosignError>> + Send {
        std::future::ready(Ok(request.signed_note))
    }
}

/// Why a checkpoint could not be cosigned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// Returned when fewer witnesses than the policy's quorum returned valid cosignatures;
    /// the source is the cosigner's account of which witnesses answered and how.
    #[error("witness quorum not met: {0}")]
    QuorumNotMet(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// Returned for any other reason the checkpoint cannot be cosigned now; the source is
    /// the cosigner's own error.
    #[error("cosigning failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}
