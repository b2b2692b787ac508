//! Publishing: the seam where witnesses cosign a checkpoint before anyone may see it.
//!
//! The sequencer persists each signed checkpoint before handing it here (a witness that
//! cosigned a checkpoint the log then forgot would see a fork after a crash). The publisher
//! task asks the [`Cosigner`] for the note to publish, persists it as the published
//! checkpoint, and only then lets readers and waiting adds see it. While the cosigner fails,
//! sequencing goes on and the publisher retries with the newest checkpoint every interval.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::Note;
use bytes::Bytes;

use crate::log::{Log, LogError, Published, Shared};
use crate::storage::CheckpointKind;

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

/// Builds consistency proofs for one cosign request.
#[derive(Clone)]
pub struct ConsistencyProver {
    log: Log,
    size: u64,
}

impl ConsistencyProver {
    /// The consistency proof from the tree of `old_size` to the request's checkpoint.
    /// Returns [`LogError::OutOfRange`] if `old_size` exceeds it.
    pub async fn prove(&self, old_size: u64) -> Result<Vec<Hash>, LogError> {
        self.log.prove_consistency(self.size, old_size).await
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// Returned when fewer witnesses than the policy's quorum returned valid cosignatures.
    #[error("witness quorum not met: {detail}")]
    QuorumNotMet {
        /// Which witnesses answered and how.
        detail: String,
    },
    /// Returned for any other reason the checkpoint cannot be cosigned now.
    #[error("cosigning failed: {0}")]
    Failed(String),
}

/// The publisher task: publishes the newest sequenced checkpoint whenever it is newer than
/// the published one, until told to stop.
pub(crate) async fn run_publisher<C: Cosigner>(shared: Arc<Shared>, cosigner: C) {
    let mut sequenced = shared.sequenced.subscribe();
    let mut stop = shared.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let target = sequenced.borrow_and_update().clone();
        let published_size = shared.published.borrow().checkpoint.size;
        if target.checkpoint.size <= published_size {
            tokio::select! {
                _ = sequenced.changed() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let request = CosignRequest {
            old_size: published_size,
            signed_note: target.note.clone(),
            checkpoint: target.checkpoint.clone(),
            prover: ConsistencyProver {
                log: Log::from_shared(shared.clone()),
                size: target.checkpoint.size,
            },
        };
        match publish(&shared, &cosigner, request).await {
            Ok(()) => continue,
            Err(e) => {
                shared
                    .counters
                    .publish_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, size = target.checkpoint.size, "checkpoint not published; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.opts.checkpoint_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Cosigns, checks, persists and publishes one checkpoint.
async fn publish<C: Cosigner>(
    shared: &Arc<Shared>,
    cosigner: &C,
    request: CosignRequest,
) -> Result<(), String> {
    let checkpoint = request.checkpoint.clone();
    let signed_note = request.signed_note.clone();
    let note = tokio::time::timeout(shared.opts.add_timeout, cosigner.cosign(request))
        .await
        .map_err(|_| "cosigner timed out".to_string())?
        .map_err(|e| e.to_string())?;
    check_cosigned(shared, &signed_note, &note)?;
    let (st, data) = (shared.storage.clone(), note.clone());
    tokio::task::spawn_blocking(move || st.write_checkpoint(CheckpointKind::Published, &data))
        .await
        .map_err(|_| "publishing task failed".to_string())?
        .map_err(|e| format!("persisting the published checkpoint: {e}"))?;
    shared.published.send_replace(Published {
        checkpoint,
        note,
        since: Instant::now(),
    });
    shared.counters.publishes.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Checks that a cosigner's note is the log's note plus signatures: same text, and the log's
/// signature still verifies.
fn check_cosigned(shared: &Shared, signed: &[u8], cosigned: &[u8]) -> Result<(), String> {
    let verifier = shared.opts.signer.verifier();
    open_checkpoint(cosigned, &verifier)
        .map_err(|e| format!("cosigned note does not verify: {e}"))?;
    let a = Note::parse(signed).map_err(|e| e.to_string())?;
    let b = Note::parse(cosigned).map_err(|e| e.to_string())?;
    if a.text != b.text {
        return Err("cosigner changed the checkpoint text".into());
    }
    Ok(())
}
