//! Why an `add-checkpoint` request was refused, each reason with its own variant.

use bintrail_tlog::checkpoint::CheckpointError;
use bintrail_tlog::cosignature::CosignatureError;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::NoteError;
use bintrail_tlog::witness::RequestError;

use crate::store::StoreError;

/// Why an `add-checkpoint` request was refused. The HTTP status for each is in
/// [`crate::http::error_response`]; [`AddCheckpointError::label`] gives a short
/// stable name for logs and metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddCheckpointError {
    /// Returned when the request framing is malformed (400).
    #[error("malformed request: {0}")]
    Malformed(#[from] RequestError),
    /// Returned when the checkpoint is not a well-formed signed checkpoint note (400).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(#[source] MalformedCheckpoint),
    /// Returned when the witness does not know the checkpoint's origin (404).
    #[error("unknown log origin {origin:?}")]
    UnknownLog {
        /// The origin line of the submitted checkpoint.
        origin: String,
    },
    /// Returned when no valid signature by the log's key is on the checkpoint,
    /// or one by the log's key fails to verify (403).
    #[error("checkpoint for {origin:?} is not validly signed by the log: {source}")]
    BadLogSignature {
        /// The log's origin.
        origin: String,
        /// What the note verifier found.
        source: NoteError,
    },
    /// Returned when the old size exceeds the checkpoint's size (400).
    #[error("old size {old_size} is larger than the checkpoint size {size}")]
    OldSizeAfterNew {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Returned when the old size is not the size the witness stored (409 with
    /// the stored size), including when a concurrent request won the update.
    #[error("old size {old_size} is not the witness's latest size {stored_size}")]
    OldSizeMismatch {
        /// The request's old size.
        old_size: u64,
        /// The size of the latest checkpoint the witness cosigned.
        stored_size: u64,
    },
    /// Returned when the checkpoint's size is 2^63 or more, beyond any tree
    /// RFC 6962 proofs here can handle (400).
    #[error("checkpoint size {size} is too large")]
    TreeTooLarge {
        /// The checkpoint's size.
        size: u64,
    },
    /// Returned when a size-0 checkpoint has a root other than the empty tree's (422).
    #[error("checkpoint of size 0 must have the empty tree's root hash")]
    NonEmptyRootForEmptyTree,
    /// Returned when old size is 0 but proof lines were sent (422).
    #[error("old size 0 takes no consistency proof")]
    ProofForOldZero,
    /// Returned when the checkpoint has the stored size but another root hash:
    /// a split view, recorded as evidence (422, as tlog-witness requires).
    #[error("checkpoint of size {size} has root {submitted}, but the witness cosigned {stored}")]
    RootMismatch {
        /// The tree size both checkpoints share.
        size: u64,
        /// The root hash the witness cosigned before.
        stored: Hash,
        /// The root hash just submitted.
        submitted: Hash,
    },
    /// Returned when the consistency proof does not verify (422). Not recorded as
    /// evidence: the proof carries no signature, so a bad one proves nothing
    /// about the log (anyone can send its public checkpoint with random bytes).
    #[error("consistency proof from size {old_size} to {size} does not verify")]
    BadConsistencyProof {
        /// The stored (and request's old) size.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Returned when the time given is 0 (a host clock before 1970): a
    /// cosignature must carry the current time, never 0 (500).
    #[error("the witness's clock is not set")]
    ClockUnset,
    /// Returned when the state database fails (500).
    #[error(transparent)]
    Store(StoreError),
}

impl AddCheckpointError {
    /// A short stable label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::MalformedCheckpoint(_) => "malformed_checkpoint",
            Self::UnknownLog { .. } => "unknown_log",
            Self::BadLogSignature { .. } => "bad_signature",
            Self::OldSizeAfterNew { .. } => "old_after_new",
            Self::OldSizeMismatch { .. } => "conflict",
            Self::TreeTooLarge { .. } => "tree_too_large",
            Self::NonEmptyRootForEmptyTree => "bad_empty_root",
            Self::ProofForOldZero => "proof_for_old_zero",
            Self::RootMismatch { .. } => "root_mismatch",
            Self::BadConsistencyProof { .. } => "bad_proof",
            Self::ClockUnset => "clock",
            Self::Store(_) => "storage",
        }
    }
}

impl From<StoreError> for AddCheckpointError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownLog { origin } => Self::UnknownLog { origin },
            other => Self::Store(other),
        }
    }
}

/// What is wrong with a submitted checkpoint ([`AddCheckpointError::MalformedCheckpoint`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedCheckpoint {
    /// Returned when it is not a well-formed signed note.
    #[error("{0}")]
    Note(#[source] NoteError),
    /// Returned when the note's text is not a well-formed checkpoint.
    #[error("{0}")]
    Checkpoint(#[source] CheckpointError),
    /// Returned when the checkpoint cannot be cosigned (for example a field the
    /// `cosignature/v1` format cannot hold).
    #[error("{0}")]
    Cosign(#[source] CosignatureError),
}
