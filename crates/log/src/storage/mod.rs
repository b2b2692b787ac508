//! The storage seam: what the sequencer needs from a backend, and nothing more.
//!
//! A backend keeps three things: the tiles and entry bundles (immutable once covered by a
//! committed checkpoint), the two checkpoint notes (the latest one the log signed, and the
//! latest one it published), and the uniqueness index (one row per logged entry: its leaf
//! index, name, identifier, digest and bytes). The sequencer calls these methods from
//! blocking threads, one batch at a time; readers (proof building, tile serving, lookups)
//! call the read methods concurrently with it.
//!
//! Entries are opaque here: a backend stores a [`StoredEntry`]'s bytes and keys as given and
//! never parses them. What an entry is (PyPI today) is the
//! [`EntryKind`](bintrail_tlog::entry::EntryKind) the log was opened with.
//!
//! # The commit point
//!
//! A batch is committed when [`Storage::write_checkpoint`] of
//! [`CheckpointKind::Sequenced`] returns `Ok`: from then on the batch is part of the log
//! forever. The sequencer writes, in this order, (1) the batch's tiles and entry bundles
//! ([`Storage::write_tiles`]), (2) its index rows ([`Storage::append_index`]), (3) the
//! sequenced checkpoint, the commit point. So a backend may rely on: tiles and bundles
//! are written before any checkpoint covers them; index rows at or beyond the sequenced
//! size belong to a batch that may never commit (recovery truncates them); index rows
//! below it that a crash lost are rebuilt by recovery from the entry bundles.
//!
//! Every write either completes durably and returns `Ok`, or returns an error; an error
//! means "unknown": the write may or may not have reached storage. The sequencer copes with
//! both by re-running recovery after any failed write (see `crate::recovery`), which is why
//! the trait has no transactions spanning calls.
//!
//! [`LocalStorage`] is the embedded default: files under the data directory laid out like
//! the tlog-tiles URLs, and a SQLite database for the index. `tests/memory_storage.rs`
//! runs the whole log on a second, in-memory backend.

mod cloud;
mod files;
mod local;
mod sqlite;

pub use cloud::{CloudOptions, CloudStorage, DEFAULT_LEASE, S3Location, TAKEOVER_GRACE};
pub use local::LocalStorage;

use bintrail_tlog::entry::EntryKind;
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

/// An entry as the log stores it: its bytes, opaque to the log and to storage, and the keys
/// of its index row. Built from any entry kind with [`StoredEntry::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The exact logged bytes (the leaf is their RFC 6962 leaf hash).
    pub bytes: Vec<u8>,
    /// The name clients look the entry up by ([`EntryKind::name`]); unique in the index.
    pub name: String,
    /// The uniqueness key ([`EntryKind::identifier`]); unique in the index. Always set for
    /// an added entry; `None` only for history that today's rules cannot key: an entry
    /// logged under older, looser rules, or an alias logged before aliases were refused
    /// (see [`Storage::restore_index`]).
    pub identifier: Option<String>,
    /// The artifact's digest ([`EntryKind::digest`]).
    pub digest: Vec<u8>,
}

impl StoredEntry {
    /// The stored form of `entry`.
    pub fn of<E: EntryKind>(entry: &E) -> StoredEntry {
        StoredEntry {
            bytes: entry.to_bytes(),
            name: entry.name().to_owned(),
            identifier: Some(entry.identifier()),
            digest: entry.digest().to_vec(),
        }
    }

    /// The stored form of `bytes` a log already holds, read as kind `E` reads its history
    /// ([`EntryKind::read_logged`]: leniently, perhaps without an identifier).
    pub fn read_logged<E: EntryKind>(bytes: &[u8]) -> Result<StoredEntry, E::Error> {
        let keys = E::read_logged(bytes)?;
        Ok(StoredEntry {
            bytes: bytes.to_vec(),
            name: keys.name,
            identifier: keys.identifier,
            digest: keys.digest,
        })
    }
}

/// One row of the uniqueness index: the entry logged at `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    /// The leaf index of the entry in the log.
    pub index: u64,
    /// The logged entry and its keys.
    pub entry: StoredEntry,
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

    /// Looks up entries by exact name ([`StoredEntry::name`], as `GET /lookup` names them);
    /// the result has one slot per input, in order.
    fn lookup(&self, names: &[&str]) -> Result<Vec<Option<IndexRecord>>, StorageError>;

    /// The sequencer's lookup, just before it appends the entries not found: for each
    /// identifier ([`StoredEntry::identifier`]), the row logged under it, whose name may be
    /// another spelling (an alias). One slot per input, in order. A backend may answer
    /// through its writer, whose cache then already holds the pages the append is about to
    /// change. Rows without an identifier are never found here.
    fn lookup_for_append(
        &self,
        identifiers: &[&str],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError>;

    /// Returns the number of rows in the index. Rows always hold the indexes `0..n` with no
    /// gaps, because [`Storage::append_index`] and [`Storage::truncate_index`] keep it so.
    fn index_size(&self) -> Result<u64, StorageError>;

    /// Appends rows, whose indexes must continue `0..index_size()` without gaps, in one
    /// atomic step. Returns [`StorageError::Duplicate`] if a name or an identifier is already
    /// indexed (nothing is appended then). May be lost in a crash even after `Ok` (the embedded
    /// backend runs SQLite with `synchronous=NORMAL`); recovery rebuilds lost rows from the
    /// entry bundles, which is why the index is written before the commit point.
    fn append_index(&self, records: &[IndexRecord]) -> Result<(), StorageError>;

    /// Appends rows rebuilt by crash recovery from entries that signed checkpoints already
    /// commit (read with [`StoredEntry::read_logged`]), continuing `0..index_size()` without
    /// gaps, in one atomic step. Unlike [`Storage::append_index`] these are history, not
    /// requests: an entry without an identifier (logged under older rules), or whose
    /// identifier an earlier row already holds (an alias logged before aliases were
    /// refused), is kept with no identifier, as a version-0 index is migrated. The default
    /// takes only rows with an identifier, through [`Storage::append_index`], and returns
    /// [`StorageError::Corrupt`] for any other: right only for a backend that has never
    /// held entries logged under older rules.
    fn restore_index(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        if let Some(r) = records.iter().find(|r| r.entry.identifier.is_none()) {
            return Err(StorageError::Corrupt {
                what: format!("entry {}", r.index),
                detail: format!(
                    "this backend cannot index {} without an identifier (logged under older rules)",
                    r.entry.name
                ),
            });
        }
        self.append_index(records)
    }

    /// Deletes every row with an index `>= size`.
    fn truncate_index(&self, size: u64) -> Result<(), StorageError>;

    /// Whether this process may write now. A backend shared by several processes (one
    /// sequencing lease) says whether this one holds it; the default is always.
    fn can_sequence(&self) -> bool {
        true
    }

    /// Whether the tree the sequencer holds in memory may be stale, so recovery must read
    /// the sequenced checkpoint again before the next batch: true on a shared backend once
    /// this process took the lease since it last read the tree (another process may have
    /// extended it meanwhile). The default is never.
    fn needs_recovery(&self) -> bool {
        false
    }
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
    /// Returned when the embedded index database (SQLite) fails, including a full disk.
    #[error("index database: {0}")]
    Database(#[source] rusqlite::Error),
    /// Returned when a stored value does not parse (corruption or a foreign file).
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which stored item is corrupt.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Returned by [`Storage::append_index`] when a name or identifier is already indexed.
    #[error("{name} is already in the index")]
    Duplicate {
        /// The name of the entry whose name or identifier was already present.
        name: String,
    },
    /// Returned by [`Storage::append_index`] when the rows do not continue the index.
    #[error("index rows must continue at {expected}, got {got}")]
    Gap {
        /// The next index the index expects.
        expected: u64,
        /// The index the caller supplied.
        got: u64,
    },
    /// Returned when a backend cannot be used now but may be later (another process holds
    /// it, a server does not answer, this frontend does not hold the sequencing lease). The
    /// HTTP layer answers adds that fail so with a 503, not a 507.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Outage),
}

/// Why a backend is unavailable ([`StorageError::Unavailable`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Outage {
    /// Returned when another process (or another [`LocalStorage`] in this process) has the
    /// data directory open.
    #[error("{} is in use by another bintrail log", .path.display())]
    Locked {
        /// The data directory.
        path: std::path::PathBuf,
    },
    /// Returned when PostgreSQL refuses or fails a call (connection, query, transaction).
    #[error("PostgreSQL: {0}")]
    Database(#[source] tokio_postgres::Error),
    /// Returned when PostgreSQL does not answer a call in time.
    #[error("PostgreSQL did not answer within {0:?}")]
    DatabaseTimeout(std::time::Duration),
    /// Returned when an object store call fails.
    #[error("object store: {op} {path}: {source}")]
    ObjectStore {
        /// What was being done, e.g. "put", "get".
        op: &'static str,
        /// The object's path under the log's prefix.
        path: String,
        /// The object store's error.
        source: Box<object_store::Error>,
    },
    /// Returned when the object store cannot be configured (a bad setting or endpoint).
    #[error("object store {what}: {source}")]
    ObjectStoreConfig {
        /// "configuration", or "setting NAME" for one setting.
        what: String,
        /// The object store's error.
        source: Box<object_store::Error>,
    },
    /// Returned when a create-only put finds an object already there.
    #[error("object already exists")]
    ObjectExists,
    /// Returned when the object store does not support a conditional write.
    #[error("object store does not support this write")]
    UnsupportedWrite,
    /// Returned when this frontend does not hold the sequencing lease.
    #[error("this frontend does not hold the sequencing lease")]
    NotLeaseHolder,
    /// Returned when the lease has too little time left to start a write.
    #[error("the sequencing lease runs out in {left:?}; not writing")]
    LeaseEnding {
        /// The time the lease has left.
        left: std::time::Duration,
    },
    /// Returned when the lease changed hands since this frontend read the tree.
    #[error("the sequencing lease changed hands; re-reading the tree first")]
    LeaseChanged,
    /// Returned when the database's fencing token is not this frontend's, or the lease
    /// expired: another frontend may be sequencing.
    #[error("this frontend lost the sequencing lease (its fencing token is {fence}, the database's {current}{})", if *.expired { ", expired" } else { "" })]
    LeaseLost {
        /// This frontend's fencing token.
        fence: i64,
        /// The database's.
        current: i64,
        /// Whether the lease had expired.
        expired: bool,
    },
    /// Returned when the database's sequenced tree is not the one this frontend holds.
    #[error(
        "the database's tree has {stored} entries, this frontend's {size}; re-reading it first"
    )]
    TreeMoved {
        /// The database's sequenced size.
        stored: i64,
        /// This frontend's.
        size: i64,
    },
    /// Returned by other backends (test doubles that inject faults or have "crashed",
    /// backends outside this crate) with their own error.
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}
