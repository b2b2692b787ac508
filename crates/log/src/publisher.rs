//! Publishing: the publisher task hands each newer sequenced checkpoint to the
//! [`Cosigner`], checks what comes back, persists it as the published checkpoint and only
//! then shows it to readers and waiting adds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bintrail_tlog::checkpoint::{CheckpointError, open_checkpoint};
use bintrail_tlog::note::{Note, NoteError};

use crate::cosign::{ConsistencyProver, CosignError, CosignRequest, Cosigner};
use crate::state::{Published, Shared};
use crate::storage::{CheckpointKind, StorageError};

/// Why one checkpoint was not published this round (the publisher logs it and retries).
#[derive(Debug, thiserror::Error)]
enum PublishError {
    /// The cosigner did not answer within `add_timeout`.
    #[error("cosigner timed out")]
    Timeout,
    /// The cosigner refused or failed.
    #[error(transparent)]
    Cosign(#[from] CosignError),
    /// The cosigned note does not verify with the log key.
    #[error("cosigned note does not verify: {0}")]
    NotLogSigned(#[source] CheckpointError),
    /// A note (the log's or the cosigner's) does not parse.
    #[error("cosigned note does not parse: {0}")]
    Malformed(#[source] NoteError),
    /// The cosigner returned a note with different text.
    #[error("cosigner changed the checkpoint text")]
    TextChanged,
    /// Persisting the published checkpoint failed.
    #[error("persisting the published checkpoint: {0}")]
    Persist(#[source] StorageError),
    /// The blocking task persisting it died.
    #[error("publishing task failed")]
    TaskFailed,
}

/// The publisher task: publishes the newest sequenced checkpoint whenever it is newer than
/// the published one, until told to stop.
pub(crate) async fn run_publisher<C: Cosigner>(shared: Arc<Shared>, cosigner: C) {
    let mut sequenced = shared.sequenced.subscribe();
    let mut stop = shared.stop.subscribe();
    // Publishing that fails (a witness quorum missing) is retried every interval; it is
    // logged when it starts failing and when it recovers, not on every attempt.
    let mut failing: Option<(Instant, u64)> = None;
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let target = sequenced.borrow_and_update().clone();
        let published_size = shared.published.borrow().checkpoint.size;
        if target.checkpoint.size > published_size && !shared.storage.can_sequence() {
            // A frontend that lost a shared backend's lease publishes nothing (storage
            // would refuse it anyway); it follows what the holder publishes.
            tokio::select! {
                _ = tokio::time::sleep(shared.opts.checkpoint_interval) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
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
            prover: ConsistencyProver::new(shared.clone(), target.checkpoint.size),
        };
        match publish(&shared, &cosigner, request).await {
            Ok(()) => {
                if let Some((since, attempts)) = failing.take() {
                    tracing::info!(
                        size = target.checkpoint.size,
                        attempts,
                        failing_for_s = since.elapsed().as_secs(),
                        "checkpoints are published again"
                    );
                }
                continue;
            }
            Err(e) => {
                shared
                    .counters
                    .publish_failures
                    .fetch_add(1, Ordering::Relaxed);
                match &mut failing {
                    None => {
                        failing = Some((Instant::now(), 1));
                        tracing::warn!(error = %e, size = target.checkpoint.size, "checkpoint not published; retrying every interval, logged again when it succeeds");
                    }
                    Some((_, attempts)) => {
                        *attempts += 1;
                        tracing::debug!(error = %e, size = target.checkpoint.size, "checkpoint still not published; retrying");
                    }
                }
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
) -> Result<(), PublishError> {
    let checkpoint = request.checkpoint.clone();
    let signed_note = request.signed_note.clone();
    let note = tokio::time::timeout(shared.opts.add_timeout, cosigner.cosign(request))
        .await
        .map_err(|_| PublishError::Timeout)??;
    check_cosigned(shared, &signed_note, &note)?;
    let (st, data) = (shared.storage.clone(), note.clone());
    tokio::task::spawn_blocking(move || st.write_checkpoint(CheckpointKind::Published, &data))
        .await
        .map_err(|_| PublishError::TaskFailed)?
        .map_err(PublishError::Persist)?;
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
fn check_cosigned(shared: &Shared, signed: &[u8], cosigned: &[u8]) -> Result<(), PublishError> {
    let verifier = shared.opts.signer.verifier();
    open_checkpoint(cosigned, &verifier).map_err(PublishError::NotLogSigned)?;
    let a = Note::parse(signed).map_err(PublishError::Malformed)?;
    let b = Note::parse(cosigned).map_err(PublishError::Malformed)?;
    if a.text != b.text {
        return Err(PublishError::TextChanged);
    }
    Ok(())
}
