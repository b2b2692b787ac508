//! Errors from the witness's state database.

/// Errors from the state database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Returned when SQLite fails (I/O, disk full, corruption).
    #[error("witness database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Returned by [`Store::add_log`](super::Store::add_log) when the origin is already witnessed.
    #[error("log {origin:?} is already configured")]
    LogExists {
        /// The origin that is already present.
        origin: String,
    },
    /// Returned when the origin is not witnessed.
    #[error("unknown log {origin:?}")]
    UnknownLog {
        /// The origin that was looked up.
        origin: String,
    },
    /// Returned by [`Store::compare_and_swap`](super::Store::compare_and_swap) when the stored state is no
    /// longer the expected one; carries the size stored now.
    #[error("stored size changed concurrently (now {current_size})")]
    Conflict {
        /// The size stored at the time of the failed swap.
        current_size: u64,
    },
    /// Returned when a stored row cannot be decoded (e.g. a root hash that is
    /// not 32 bytes): the file was changed outside bintrail.
    #[error("corrupt row for log {origin:?}: {what}")]
    Corrupt {
        /// The origin whose row is corrupt.
        origin: String,
        /// What is wrong with it.
        what: &'static str,
    },
    /// Returned when a tree size does not fit SQLite's signed 64-bit integers.
    #[error("tree size {0} is too large to store")]
    SizeTooLarge(u64),
}

impl StoreError {
    /// True when SQLite reported that the disk is full (`SQLITE_FULL`): the
    /// write was not made, and retrying once space is freed can succeed.
    pub fn is_disk_full(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DiskFull
        )
    }
}
