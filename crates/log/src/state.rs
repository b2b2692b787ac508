//! What the log handle and its background tasks share, and who owns each part.
//!
//! Ownership: [`Log`] is a handle to one [`Shared`] value. The sequencer task is the only
//! writer of tiles, the index and the sequenced checkpoint; the publisher task is the only
//! writer of the published checkpoint. Everyone else reads: through the two `watch`
//! channels (the sequenced and the published checkpoint, each replaced whole) and through
//! storage, only ever below the published size.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::note::Signer;
use bintrail_tlog::pypi::Entry;
use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::LogError;
use crate::integrity::CheckedTiles;
use crate::pool::Pool;
use crate::stats::Counters;
use crate::storage::{Storage, StoredEntry};
use crate::tiles::TileCache;

/// How a log is run. All fields are required; the HTTP layer supplies the documented defaults.
pub struct LogOptions {
    /// Where tiles, entry bundles, the checkpoints and the SQLite index live (created if absent).
    pub data_dir: PathBuf,
    /// The log's signing key; its name is the log's origin.
    pub signer: Signer,
    /// How often a batch is sequenced and a checkpoint signed (1s by default); a batch also
    /// starts early once `max_batch_entries` adds are pooled.
    pub checkpoint_interval: Duration,
    /// The most entries sequenced in one batch (at least 1).
    pub max_batch_entries: usize,
    /// The most adds waiting in the pool; beyond it `add` fails fast with
    /// [`crate::AddError::Overloaded`].
    pub max_pending_entries: usize,
    /// How long `add` waits for a published checkpoint covering its entry (10s by default)
    /// before answering [`crate::AddError::Pending`]; also bounds cosigning and `shutdown`.
    pub add_timeout: Duration,
}

/// A handle to an open log of entries of kind `E` (PyPI's `pypi-transparency/v1` unless
/// named); cheap to clone, all clones share one log.
///
/// Only the handle knows the kind: it turns each added `E` into a [`StoredEntry`], and
/// gives recovery the parser that turns logged bytes back into one. The pool, the
/// sequencer and storage see opaque bytes and keys.
///
/// Its methods live by concept: opening, reads and shutdown in `log.rs`, the add pipeline
/// in `add.rs`.
pub struct Log<E = Entry> {
    pub(crate) shared: Arc<Shared>,
    pub(crate) kind: PhantomData<fn() -> E>,
}

impl<E> Clone for Log<E> {
    fn clone(&self) -> Log<E> {
        Log {
            shared: self.shared.clone(),
            kind: PhantomData,
        }
    }
}

/// Why logged bytes did not parse as the log's entry kind (the kind's own error, boxed).
pub(crate) type EntryParseError = Box<dyn std::error::Error + Send + Sync>;

/// Turns logged bytes back into their stored form, as the log's entry kind reads its
/// history ([`StoredEntry::read_logged`]).
pub(crate) type ParseEntry = fn(&[u8]) -> Result<StoredEntry, EntryParseError>;

/// The [`ParseEntry`] of kind `E`.
pub(crate) fn parse_entry<E: EntryKind>(bytes: &[u8]) -> Result<StoredEntry, EntryParseError> {
    StoredEntry::read_logged::<E>(bytes).map_err(Into::into)
}

/// A committed tree as the sequencer tracks it.
#[derive(Clone)]
pub(crate) struct Committed {
    /// The sequenced checkpoint.
    pub(crate) checkpoint: Checkpoint,
    /// Its signed note, as persisted.
    pub(crate) note: Bytes,
    /// The entries of the partial entry bundle at the right edge (fewer than 256).
    pub(crate) edge: Vec<Vec<u8>>,
}

/// The latest published checkpoint and when it was published.
#[derive(Clone)]
pub(crate) struct Published {
    pub(crate) checkpoint: Checkpoint,
    pub(crate) note: Bytes,
    pub(crate) since: Instant,
}

/// State shared by the handle and the background tasks (see the module docs for ownership).
pub(crate) struct Shared {
    pub(crate) opts: LogOptions,
    pub(crate) storage: Arc<dyn Storage>,
    /// Parses logged entries of the log's kind (recovery rebuilds index rows with it).
    pub(crate) parse: ParseEntry,
    pub(crate) cache: TileCache,
    /// The latest committed (sequenced) tree; written by the sequencer only.
    pub(crate) sequenced: watch::Sender<Committed>,
    /// The latest published checkpoint; written by the publisher only.
    pub(crate) published: watch::Sender<Published>,
    /// Adds waiting for the next batch, and whether more are admitted.
    pub(crate) pool: Pool,
    /// Tells the publisher to stop.
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) counters: Counters,
    /// Entry bundles and full hash tiles checked against the tree before first served
    /// (issue 19, H8).
    pub(crate) checked: CheckedTiles,
    pub(crate) sequencer_task: Mutex<Option<JoinHandle<()>>>,
    pub(crate) publisher_task: Mutex<Option<JoinHandle<()>>>,
}

/// Locks a background task's handle slot.
pub(crate) fn lock_task(
    task: &Mutex<Option<JoinHandle<()>>>,
) -> MutexGuard<'_, Option<JoinHandle<()>>> {
    // The slot holds a join handle only; a panic while holding it loses nothing.
    task.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking work (storage, hashing) off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| LogError::Closed)
}
