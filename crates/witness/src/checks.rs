//! The checks of one `add-checkpoint` request against the stored state, in the order
//! C2SP tlog-witness lists them: the log's signature, the sizes, then consistency.

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::empty_tree_hash;
use bintrail_tlog::note::{Note, NoteSignature, Verifier};
use bintrail_tlog::tree::verify_tree;
use bintrail_tlog::witness::AddCheckpointRequest;

use crate::error::AddCheckpointError;
use crate::store::LogState;

/// Verifies the log's signature and returns the log signature lines that verified.
pub(crate) fn verify_log_signature(
    note: &Note,
    state: &LogState,
) -> Result<Vec<NoteSignature>, AddCheckpointError> {
    let bad = |source| AddCheckpointError::BadLogSignature {
        origin: state.origin.clone(),
        source,
    };
    let verifier: Verifier = state.vkey.parse().map_err(bad)?;
    note.verify(std::slice::from_ref(&verifier)).map_err(bad)?;
    Ok(note
        .signatures
        .iter()
        .filter(|s| s.name == verifier.name() && s.key_id == verifier.key_id())
        .cloned()
        .collect())
}

/// The size checks, in the order tlog-witness lists them: old ≤ new (400), a
/// size-0 checkpoint has the empty root (422), old = stored size (409).
pub(crate) fn check_sizes(
    request: &AddCheckpointRequest,
    checkpoint: &Checkpoint,
    state: &LogState,
) -> Result<(), AddCheckpointError> {
    if request.old_size > checkpoint.size {
        return Err(AddCheckpointError::OldSizeAfterNew {
            old_size: request.old_size,
            size: checkpoint.size,
        });
    }
    if i64::try_from(checkpoint.size).is_err() {
        return Err(AddCheckpointError::TreeTooLarge {
            size: checkpoint.size,
        });
    }
    if checkpoint.size == 0 && checkpoint.root_hash != empty_tree_hash() {
        return Err(AddCheckpointError::NonEmptyRootForEmptyTree);
    }
    if request.old_size != state.size {
        return Err(AddCheckpointError::OldSizeMismatch {
            old_size: request.old_size,
            stored_size: state.size,
        });
    }
    Ok(())
}

/// Checks the checkpoint against the stored one (whose size is the request's
/// old size, checked before).
pub(crate) fn check_consistency(
    request: &AddCheckpointRequest,
    checkpoint: &Checkpoint,
    state: &LogState,
) -> Result<(), AddCheckpointError> {
    if request.old_size == 0 {
        if !request.proof.is_empty() {
            return Err(AddCheckpointError::ProofForOldZero);
        }
        return Ok(());
    }
    if checkpoint.size == state.size {
        if checkpoint.root_hash != state.root_hash {
            return Err(AddCheckpointError::RootMismatch {
                size: state.size,
                stored: state.root_hash,
                submitted: checkpoint.root_hash,
            });
        }
        // The proof between equal trees is empty (RFC 6962 2.1.2); anything
        // else is not a proof of this.
        if !request.proof.is_empty() {
            return Err(AddCheckpointError::BadConsistencyProof {
                old_size: state.size,
                size: checkpoint.size,
            });
        }
        return Ok(());
    }
    verify_tree(
        &request.proof,
        checkpoint.size,
        checkpoint.root_hash,
        state.size,
        state.root_hash,
    )
    .map_err(|_| AddCheckpointError::BadConsistencyProof {
        old_size: state.size,
        size: checkpoint.size,
    })
}
