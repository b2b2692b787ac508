//! The storage seam: what the sequencer needs from a backend, and nothing more.
//!
//! A backend keeps three things: the tiles and entry bundles (immutable once covered by a
//! committed checkpoint), the two checkpoint notes (the latest one the log signed, and the
//! latest one it published), and the uniqueness index (filename -> index and entry). The
//! sequencer calls these methods from blocking threads, one batch at a time; readers (proof
//! building, tile serving, lookups) call the read methods concurrently with it.
//!
//! Every write either completes durably and returns `Ok`, or returns an error; an error
//! means "unknown": the write may or may not have reached the disk. The sequencer copes with
//! both by re-running recovery after any failed write (see `crate::recovery`), which is why
//! the trait has no transactions spanning calls.
//!
//! [`LocalStorage`] is the embedded default: files under the data directory laid out like
//! the tlog-tiles URLs, and a SQLite database for the index.

mod files;
mod local;
mod sqlite;

pub use local::LocalStorage;

use bintrail_tlog::pypi::{Entry, Filename, LoggedEntry};
use bintrail_tlog::tile::Tile;

/// Which of the two checkpoint notes a backend keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The latest checkpoint the log signed. Writing it is the commit point of a batch: on
    /// restart it is the truth about the tree size.
    Sequenced,
    /// The latest checkpoint the log published (after cosigning), served at `GET /checkpoint`.
    /// Its size never exceeds the sequenced one.
    Published,
}

/// One row of the uniqueness index: the entry logged at `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    /// The leaf index of the entry in the log.
    pub index: u64,
    /// The logged entry (its filename is the key of the index).
    pub entry: Entry,
}

/// A row crash recovery rebuilds from a committed entry bundle: the entry as logged,
/// read with [`LoggedEntry::parse`], so an entry added under older, looser rules (a
/// filename with stacked extensions, an alias of an earlier entry) is indexed too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredRecord {
    /// The leaf index of the entry in the log.
    pub index: u64,
    /// The logged entry.
    pub entry: LoggedEntry,
}

/// A storage backend for one log.
///
/// Implementations must be safe to call from several threads at once; the sequencer is the
/// only writer, and it never issues two writes at the same time.
pub trait Storage: Send + Sync + 'static {
    /// Returns the checkpoint note last written with [`Storage::write_checkpoint`] for
    /// `kind`, or `None` if there never was one.
    fn read_checkpoint(&self, kind: CheckpointKind) -> Result<Option<Vec<u8>>, StorageError>;

    /// Replaces the checkpoint note of `kind` atomically: after a crash a reader sees either
    /// the old note or the new one, never a mix. Durable when it returns `Ok`.
    fn write_checkpoint(&self, kind: CheckpointKind, note: &[u8]) -> Result<(), StorageError>;

    /// Returns the bytes of `tile` (a hash tile or an entry bundle, of exactly that width),
    /// or `None` if no such tile was written.
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StorageError>;

    /// [`Storage::read_tile`] if the backend can answer without blocking (from memory or
    /// the page cache), else `None`: async callers then read on a blocking thread.
    fn read_tile_if_cached(&self, _tile: &Tile) -> Option<Result<Option<Vec<u8>>, StorageError>> {
        None
    }

    /// Writes tiles and entry bundles, replacing any existing ones at the same paths. All of
    /// them are durable when it returns `Ok`. The caller never rewrites a tile covered by
    /// the sequenced checkpoint, so a torn write only ever hits data no checkpoint covers.
    fn write_tiles(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<(), StorageError>;

    /// Looks up exact filenames in the index (as `GET /lookup` names them); the result has
    /// one slot per input, in order.
    fn lookup(&self, filenames: &[&Filename]) -> Result<Vec<Option<IndexRecord>>, StorageError>;

    /// The sequencer's lookup, just before it appends the missing names: for each filename,
    /// the row logged under the same canonical identifier
    /// ([`Filename::canonical`]), whose filename may be another spelling (an alias). A
    /// backend may answer through its writer, whose cache then already holds the pages the
    /// append is about to change. The default looks up exact names, which is right only
    /// for a backend that never holds two spellings of one identifier.
    fn lookup_for_append(
        &self,
        filenames: &[&Filename],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        self.lookup(filenames)
    }

    /// Returns the number of rows in the index. Rows always hold the indexes `0..n` with no
    /// gaps, because [`Storage::append_index`] and [`Storage::truncate_index`] keep it so.
    fn index_size(&self) -> Result<u64, StorageError>;

    /// Appends rows, whose indexes must continue `0..index_size()` without gaps, in one
    /// atomic step. Returns [`StorageError::Duplicate`] if a filename is already indexed
    /// (nothing is appended then). May be lost in a crash even after `Ok` (the embedded
    /// backend runs SQLite with `synchronous=NORMAL`); recovery rebuilds lost rows from the
    /// entry bundles, which is why the index is written before the commit point.
    fn append_index(&self, records: &[IndexRecord]) -> Result<(), StorageError>;

    /// Appends rows rebuilt by crash recovery from entries that signed checkpoints already
    /// commit, continuing `0..index_size()` without gaps, in one atomic step. Unlike
    /// [`Storage::append_index`] these are history, not requests: an entry whose filename
    /// no longer parses, or whose canonical identifier an earlier row already holds
    /// (logged before aliases were refused), is kept with no identifier, as a version-0
    /// index is migrated. The default takes only entries valid today and returns
    /// [`StorageError::Corrupt`] for any other, which is right only for a backend that has
    /// never held entries logged under older rules.
    fn restore_index(&self, records: &[RestoredRecord]) -> Result<(), StorageError> {
        let strict = records
            .iter()
            .map(|r| {
                r.entry
                    .strict()
                    .map(|entry| IndexRecord {
                        index: r.index,
                        entry,
                    })
                    .map_err(|e| StorageError::Corrupt {
                        what: format!("entry {}", r.index),
                        detail: format!(
                            "this backend cannot index an entry logged under older rules: {e}"
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.append_index(&strict)
    }

    /// Deletes every row with an index `>= size`.
    fn truncate_index(&self, size: u64) -> Result<(), StorageError>;
}

/// Errors from a storage backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Returned when reading or writing a file fails (disk full, permissions, I/O error).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, e.g. "write", "fsync", "rename".
        op: &'static str,
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Returned when the index database fails (including a full disk).
    #[error("index database: {0}")]
    Database(String),
    /// Returned when a stored value does not parse (corruption or a foreign file).
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which stored item is corrupt.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Returned by [`Storage::append_index`] when a filename is already indexed.
    #[error("filename {filename} is already in the index")]
    Duplicate {
        /// The filename that was already present.
        filename: String,
    },
    /// Returned by [`Storage::append_index`] when the rows do not continue the index.
    #[error("index rows must continue at {expected}, got {got}")]
    Gap {
        /// The next index the index expects.
        expected: u64,
        /// The index the caller supplied.
        got: u64,
    },
    /// Returned by fault-injecting test backends, and by backends that are shut down.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}
