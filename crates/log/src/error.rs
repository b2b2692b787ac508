//! The log core's errors: why an add returned no proof ([`AddError`]), why opening or
//! reading the log failed ([`LogError`]), and the failure of a whole batch that every add
//! in it shares ([`BatchError`]).

use std::sync::Arc;

use bintrail_tlog::checkpoint::CheckpointError;
use bintrail_tlog::tree::TreeError;

use crate::storage::{StorageError, StoredEntry};

/// Why an add did not return a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// Returned when another entry is already logged under the entry's identifier
    /// ([`EntryKind::identifier`](bintrail_tlog::entry::EntryKind::identifier); for PyPI
    /// the same file with another checksum or publisher, or under another spelling), or
    /// won a race to it; nothing was appended. Parse `logged.bytes` with the log's entry
    /// kind for its fields.
    #[error("{} is already logged at index {index}", logged.name)]
    Conflict {
        /// Where the existing entry is.
        index: u64,
        /// The existing entry (its name is another spelling when the add named an alias).
        logged: StoredEntry,
    },
    /// Returned when the entry is sequenced and durable at `index` but no checkpoint covering
    /// it was published within `add_timeout`; retrying the same add returns the proof later.
    #[error("entry sequenced at index {index} but not yet published; retry later")]
    Pending {
        /// The index the entry was given.
        index: u64,
    },
    /// Returned when the pool already holds `max_pending_entries` adds; nothing was pooled.
    #[error("too many adds in flight; retry later")]
    Overloaded,
    /// Returned once `shutdown` has begun.
    #[error("the log is shutting down")]
    ShuttingDown,
    /// Returned when storage failed (disk full, I/O error) while committing the add's batch or
    /// proving it; nothing of this add is half-written and the log keeps serving reads.
    #[error("storage failure: {0}")]
    Storage(BatchError),
}

impl AddError {
    /// A short, stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            AddError::Conflict { .. } => "conflict",
            AddError::Pending { .. } => "pending",
            AddError::Overloaded => "overloaded",
            AddError::ShuttingDown => "shutting_down",
            AddError::Storage(_) => "storage_error",
        }
    }
}

/// One failure shared by every add it failed (all adds of a batch that did not commit, or
/// all entries of a bulk add whose proofs could not be built). Cloning shares it; two
/// values are equal when they are the same failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct BatchError(Arc<LogError>);

impl BatchError {
    /// Wraps the error that failed the batch.
    pub fn new(error: LogError) -> BatchError {
        BatchError(Arc::new(error))
    }

    /// The error that failed the batch.
    pub fn error(&self) -> &LogError {
        &self.0
    }
}

impl PartialEq for BatchError {
    fn eq(&self, other: &BatchError) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for BatchError {}

impl From<LogError> for AddError {
    fn from(error: LogError) -> AddError {
        AddError::Storage(BatchError::new(error))
    }
}

/// Errors opening or reading the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Returned when the storage backend fails.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Returned when the storage backend cannot be used at all: recovery failed after an
    /// earlier write failure and is retried with the next batch.
    #[error("storage is unavailable; the log is retrying recovery")]
    Unavailable,
    /// Returned when stored data contradicts itself (tiles vs checkpoint, index vs bundles).
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which item is inconsistent.
        what: String,
        /// How.
        detail: String,
    },
    /// Returned when a stored checkpoint does not verify with the log key (for example the data
    /// directory belongs to a log with another key or origin).
    #[error("{which} checkpoint does not verify with the log key: {source}")]
    BadCheckpoint {
        /// "sequenced" or "published".
        which: &'static str,
        /// The verification failure.
        source: CheckpointError,
    },
    /// Returned when signing a checkpoint fails.
    #[error("signing the checkpoint: {0}")]
    Sign(#[source] CheckpointError),
    /// Returned when building a proof or a tree hash from the tiles fails.
    #[error("building a proof: {0}")]
    Proof(#[source] TreeError),
    /// Returned when a consistency proof is asked for sizes outside the sequenced tree.
    #[error("no consistency proof from {old_size} to {size} (sequenced size {sequenced})")]
    OutOfRange {
        /// The old size asked for.
        old_size: u64,
        /// The new size asked for.
        size: u64,
        /// The sequenced size the request must stay within.
        sequenced: u64,
    },
    /// Returned when the log's background tasks are gone (after shutdown or a panic).
    #[error("the log is closed")]
    Closed,
}
