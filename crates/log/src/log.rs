//! The public face of the log core: [`Log`], its options, results and errors.
//!
//! Ownership: [`Log`] is a handle to one `Shared` value. The sequencer task is the only
//! writer of tiles, the index and the sequenced checkpoint; the publisher task is the only
//! writer of the published checkpoint. Everyone else reads: through the two `watch`
//! channels (the sequenced and the published checkpoint, each replaced whole) and through
//! storage, only ever below the published size.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bintrail_tlog::bundle::encode_entry_bundle;
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::{HASH_SIZE, Hash};
use bintrail_tlog::note::Signer;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Checksum, Entry, Filename, Publisher};
use bintrail_tlog::tile::{Tile, TileLevel};
use bintrail_tlog::tree::prove_record;
use bytes::Bytes;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;

use crate::cosign::{Cosigner, NoWitness, run_publisher};
use crate::integrity::{CheckedBundles, check_bundle};
use crate::recovery::{Committed, read_bundle, recover};
use crate::sequencer::{Outcome, Pool, run_sequencer};
use crate::stats::{Counters, LogStats};
use crate::storage::{IndexRecord, LocalStorage, Storage, StorageError};
use crate::tiles::{TileCache, TreeReader};

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
    /// The most adds waiting in the pool; beyond it `add` fails fast with [`AddError::Overloaded`].
    pub max_pending_entries: usize,
    /// How long `add` waits for a published checkpoint covering its entry (10s by default)
    /// before answering [`AddError::Pending`]; also bounds cosigning and `shutdown`.
    pub add_timeout: Duration,
}

/// A handle to an open log; cheap to clone, all clones share one log.
#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
}

/// The result of a successful add or lookup: the entry's index and a proof of inclusion in a
/// published checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The entry's leaf index.
    pub index: u64,
    /// The exact logged entry bytes (the leaf is their RFC 6962 leaf hash).
    pub entry: Vec<u8>,
    /// The signed (and cosigned, with witnesses) checkpoint note the proof is against.
    pub checkpoint: Bytes,
    /// The RFC 6962 inclusion proof of `index` in the checkpoint's tree.
    pub inclusion_proof: Vec<Hash>,
    /// True when this call appended nothing: the entry was logged before, or an identical add
    /// in the same batch appended it.
    pub existing: bool,
}

impl Added {
    /// The `c2sp.org/tlog-proof@v1` form of this result, with the entry bytes as `extra`.
    pub fn tlog_proof(&self) -> TlogProof {
        TlogProof {
            extra: Some(self.entry.clone()),
            index: self.index,
            inclusion_proof: self.inclusion_proof.clone(),
            checkpoint: self.checkpoint.to_vec(),
        }
    }
}

/// Why an add did not return a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// Returned when the filename, or an alias of it (the same
    /// [`Filename::canonical`](bintrail_tlog::pypi::Filename::canonical) identifier), is
    /// already logged with another checksum or publisher, or under another spelling (or lost
    /// a race to such an add); nothing was appended. Fields describe the logged entry.
    #[error("{filename} is already logged at index {index} with {checksum}")]
    Conflict {
        /// The logged file's name (another spelling when the add named an alias).
        filename: Filename,
        /// Where the existing entry is.
        index: u64,
        /// The existing entry's checksum.
        checksum: Checksum,
        /// The existing entry's publisher.
        publisher: Option<Publisher>,
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
    /// Returned when storage failed (disk full, I/O error); nothing of this add is half-written
    /// and the log keeps serving reads. The message says what failed.
    #[error("storage failure: {0}")]
    Storage(String),
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

/// Errors opening or reading the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// Returned when the storage backend fails.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
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
    #[error("{which} checkpoint does not verify with the log key: {detail}")]
    BadCheckpoint {
        /// "sequenced" or "published".
        which: &'static str,
        /// The verification failure.
        detail: String,
    },
    /// Returned when signing a checkpoint fails.
    #[error("signing the checkpoint: {0}")]
    Sign(String),
    /// Returned when building a proof from the tiles fails.
    #[error("building a proof: {0}")]
    Proof(String),
    /// Returned when the request is outside the published tree (e.g. an old size beyond it).
    #[error("{0}")]
    OutOfRange(String),
    /// Returned when the log's background tasks are gone (after shutdown or a panic).
    #[error("the log is closed")]
    Closed,
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
    pub(crate) cache: TileCache,
    /// The latest committed (sequenced) tree; written by the sequencer only.
    pub(crate) sequenced: watch::Sender<Committed>,
    /// The latest published checkpoint; written by the publisher only.
    pub(crate) published: watch::Sender<Published>,
    /// Adds waiting for the next batch.
    pub(crate) pool: Mutex<Pool>,
    /// Wakes the sequencer early: the pool is full, or shutdown began.
    pub(crate) wake: Notify,
    /// False once shutdown began.
    pub(crate) accepting: AtomicBool,
    /// Tells the publisher to stop.
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) counters: Counters,
    /// Entry bundles checked against the tree before first served (issue 19, H8).
    pub(crate) checked_bundles: CheckedBundles,
    sequencer_task: Mutex<Option<JoinHandle<()>>>,
    publisher_task: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn lock_pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        // The pool is a list of waiters; a panic while holding it loses at most their replies.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Log {
    /// Opens (creating if absent) the log in `opts.data_dir` on the embedded [`LocalStorage`],
    /// without witnesses, runs crash recovery and spawns the sequencer and publisher tasks.
    /// Must be called within a Tokio runtime.
    pub async fn open(opts: LogOptions) -> Result<Log, LogError> {
        let dir = opts.data_dir.clone();
        let storage = tokio::task::spawn_blocking(move || LocalStorage::open(&dir))
            .await
            .map_err(|_| LogError::Closed)??;
        Log::open_with(opts, Arc::new(storage), NoWitness).await
    }

    /// Like [`Log::open`], on a given storage backend and with a cosigner that decides when a
    /// checkpoint may be published (`opts.data_dir` is not used by this function).
    pub async fn open_with<C: Cosigner>(
        opts: LogOptions,
        storage: Arc<dyn Storage>,
        cosigner: C,
    ) -> Result<Log, LogError> {
        let cache = TileCache::new();
        let (signer, st) = (opts.signer.clone(), storage.clone());
        let (recovered, cache) = tokio::task::spawn_blocking(move || {
            let r = recover(st.as_ref(), &cache, &signer);
            (r, cache)
        })
        .await
        .map_err(|_| LogError::Closed)?;
        let recovered = recovered?;
        let (published_cp, published_note) = recovered.published;
        let published = Published {
            checkpoint: published_cp,
            note: published_note,
            since: Instant::now(),
        };
        let shared = Arc::new(Shared {
            opts,
            storage,
            cache,
            sequenced: watch::Sender::new(recovered.committed.clone()),
            published: watch::Sender::new(published),
            pool: Mutex::new(Pool::default()),
            wake: Notify::new(),
            accepting: AtomicBool::new(true),
            stop: watch::Sender::new(false),
            counters: Counters::default(),
            checked_bundles: CheckedBundles::default(),
            sequencer_task: Mutex::new(None),
            publisher_task: Mutex::new(None),
        });
        let sequencer = tokio::spawn(run_sequencer(shared.clone(), recovered.committed));
        let publisher = tokio::spawn(run_publisher(shared.clone(), cosigner));
        *lock_task(&shared.sequencer_task) = Some(sequencer);
        *lock_task(&shared.publisher_task) = Some(publisher);
        Ok(Log { shared })
    }

    /// Adds one entry. Resolves once the entry is durable and covered by a published
    /// checkpoint, with a proof against it.
    ///
    /// The same filename, checksum and publisher as a logged entry returns that entry with a
    /// fresh proof and `existing: true`, appending nothing. A different checksum or publisher
    /// returns [`AddError::Conflict`] and appends nothing; among concurrent adds of one
    /// filename the first pooled wins. See [`AddError`] for the other outcomes.
    pub async fn add(&self, entry: Entry) -> Result<Added, AddError> {
        let deadline = Instant::now() + self.shared.opts.add_timeout;
        let result = self.add_one(entry, deadline).await;
        self.count(&result);
        result
    }

    /// Adds many entries: the same rules per entry as [`Log::add`], results in input order.
    /// Entries are pooled together (waiting for room in the pool up to `add_timeout` rather
    /// than failing fast) so that they are sequenced in as few batches as the limits allow;
    /// once all are sequenced, it waits up to `add_timeout` more for a covering checkpoint.
    pub async fn add_many(&self, entries: Vec<Entry>) -> Vec<Result<Added, AddError>> {
        let deadline = Instant::now() + self.shared.opts.add_timeout;
        let results = self.add_batch(entries, deadline).await;
        results.iter().for_each(|r| self.count(r));
        results
    }

    /// The latest published checkpoint note (served at `GET /checkpoint`).
    pub fn checkpoint(&self) -> Bytes {
        self.shared.published.borrow().note.clone()
    }

    /// The hash tile or entry bundle `tile` as served at `GET /<tile.path()>`, or `None` when
    /// the published tree does not cover it at that width. A partial tile narrower than the
    /// published one is cut from it, so every width a published checkpoint implied is served.
    ///
    /// An entry bundle is checked against the tree's level-0 hashes the first time this
    /// process serves it; one that does not match is [`LogError::Corrupt`], never served.
    pub async fn read_tile(&self, tile: &Tile) -> Result<Option<Bytes>, LogError> {
        let size = self.shared.published.borrow().checkpoint.size;
        let data = self.read_tile_unchecked(tile, size).await?;
        match data {
            Some(data)
                if tile.level == TileLevel::Entries
                    && !self.shared.checked_bundles.contains(tile) =>
            {
                let (shared, checked, want) = (self.shared.clone(), data.clone(), *tile);
                blocking(move || check_bundle(&shared, size, &want, &checked)).await??;
                self.shared.checked_bundles.insert(tile);
                Ok(Some(data))
            }
            other => Ok(other),
        }
    }

    /// [`Log::read_tile`] in the tree of `size`, without the first-serve bundle check.
    async fn read_tile_unchecked(&self, tile: &Tile, size: u64) -> Result<Option<Bytes>, LogError> {
        let Some(available) = Tile::in_tree(tile.level, tile.index, size) else {
            return Ok(None);
        };
        if tile.width > available.width || tile.width == 0 {
            return Ok(None);
        }
        // Hot tiles are served without a blocking hop: hash tiles from the proof cache (a
        // cached tile may be wider than the published one: stored hashes never change, so its
        // prefix is the same), other whole files when the page cache holds them.
        if let Some(data) = self.shared.cache.tile_data(tile) {
            return Ok(Some(data));
        }
        let whole_file = tile.level != TileLevel::Entries || tile.width == available.width;
        if whole_file && let Some(read) = self.shared.storage.read_tile_if_cached(&available) {
            return cut_tile(&available, tile, read?).map(Some);
        }
        let (shared, want) = (self.shared.clone(), *tile);
        blocking(move || read_published_tile(&shared, &available, &want)).await?
    }

    /// The logged entry for `filename` with a fresh proof against the latest published
    /// checkpoint, or `None` if no published checkpoint covers an entry for it.
    pub async fn lookup(&self, filename: &Filename) -> Result<Option<Added>, LogError> {
        let published = self.shared.published.borrow().clone();
        let size = published.checkpoint.size;
        let (shared, name) = (self.shared.clone(), filename.clone());
        // One blocking hop for both the index read and the proof.
        let found = blocking(move || -> Result<_, LogError> {
            let record = shared
                .storage
                .lookup(&[&name])?
                .into_iter()
                .next()
                .flatten();
            match record {
                Some(record) if record.index < size => {
                    let proof = prove_stored(&shared, size, &[record.index])?
                        .pop()
                        .unwrap_or_default();
                    Ok(Some((record, proof)))
                }
                _ => Ok(None),
            }
        })
        .await??;
        Ok(found.map(|(record, inclusion_proof)| Added {
            index: record.index,
            entry: record.entry.to_bytes(),
            checkpoint: published.note,
            inclusion_proof,
            existing: true,
        }))
    }

    /// A snapshot of the counters and gauges.
    pub fn stats(&self) -> LogStats {
        let mut stats = LogStats::default();
        self.shared.counters.fill(&mut stats);
        let published = self.shared.published.borrow();
        stats.tree_size = published.checkpoint.size;
        stats.checkpoint_age = published.since.elapsed();
        drop(published);
        stats.sequenced_size = self.shared.sequenced.borrow().checkpoint.size;
        stats.pending_entries = self.shared.lock_pool().len() as u64;
        stats
    }

    /// Stops accepting adds, sequences what is pooled, waits up to `add_timeout` for it to be
    /// published, stops the background tasks and returns. Later adds get
    /// [`AddError::ShuttingDown`]; reads keep working.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.accepting.store(false, Ordering::SeqCst);
        shared.wake.notify_one();
        let sequencer = lock_task(&shared.sequencer_task).take();
        if let Some(handle) = sequencer {
            let _ = handle.await;
        }
        let target = shared.sequenced.borrow().checkpoint.size;
        let mut published = shared.published.subscribe();
        let wait = published.wait_for(|p| p.checkpoint.size >= target);
        let _ = tokio::time::timeout(shared.opts.add_timeout, wait).await;
        shared.stop.send_replace(true);
        let publisher = lock_task(&shared.publisher_task).take();
        if let Some(handle) = publisher {
            let _ = handle.await;
        }
    }

    /// The log's handle for building consistency proofs, as cosigners need.
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Log {
        Log { shared }
    }

    /// Builds a consistency proof from the tree of `old_size` to the tree of `size`, where
    /// `size` must not exceed the sequenced size (cosigners prove checkpoints not yet published).
    pub async fn prove_consistency(&self, size: u64, old_size: u64) -> Result<Vec<Hash>, LogError> {
        let sequenced = self.shared.sequenced.borrow().checkpoint.size;
        if size > sequenced || old_size > size {
            return Err(LogError::OutOfRange(format!(
                "no consistency proof from {old_size} to {size} (sequenced size {sequenced})"
            )));
        }
        let shared = self.shared.clone();
        blocking(move || {
            let reader = TreeReader::new(shared.storage.as_ref(), &shared.cache, size);
            bintrail_tlog::tree::prove_tree(size, old_size, &reader)
                .map_err(|e| LogError::Proof(e.to_string()))
        })
        .await?
    }

    async fn add_one(&self, entry: Entry, deadline: Instant) -> Result<Added, AddError> {
        if !self.shared.accepting.load(Ordering::SeqCst) {
            return Err(AddError::ShuttingDown);
        }
        // Straight to the pool: the sequencer looks the whole batch up in the index in one
        // go (a repeat is answered from there), which costs far less than a lookup on a
        // blocking thread per add.
        let reply = self
            .enqueue(vec![entry.clone()])?
            .pop()
            .ok_or(AddError::ShuttingDown)?;
        let outcome = reply.await.map_err(|_| AddError::ShuttingDown)?;
        self.settle(outcome, &entry, deadline).await
    }

    async fn settle(
        &self,
        outcome: Outcome,
        entry: &Entry,
        deadline: Instant,
    ) -> Result<Added, AddError> {
        match outcome {
            Outcome::Logged { index, existing } => {
                self.finish(index, entry.to_bytes(), existing, deadline)
                    .await
            }
            Outcome::Conflict(record) => Err(conflict(record)),
            Outcome::Failed(message) => Err(AddError::Storage(message)),
        }
    }

    /// Waits for a published checkpoint covering `index`, then proves inclusion in it.
    async fn finish(
        &self,
        index: u64,
        entry: Vec<u8>,
        existing: bool,
        deadline: Instant,
    ) -> Result<Added, AddError> {
        let published = self.wait_published(index, deadline).await?;
        let mut proofs = self
            .prove(published.checkpoint.size, vec![index])
            .await
            .map_err(storage_error)?;
        let inclusion_proof = proofs.pop().unwrap_or_default();
        Ok(Added {
            index,
            entry,
            checkpoint: published.note,
            inclusion_proof,
            existing,
        })
    }

    async fn wait_published(&self, index: u64, deadline: Instant) -> Result<Published, AddError> {
        let mut rx = self.shared.published.subscribe();
        let wait = rx.wait_for(|p| p.checkpoint.size > index);
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(Ok(p)) => Ok(p.clone()),
            Ok(Err(_)) => Err(AddError::ShuttingDown),
            Err(_) => Err(AddError::Pending { index }),
        }
    }

    async fn add_batch(
        &self,
        entries: Vec<Entry>,
        deadline: Instant,
    ) -> Vec<Result<Added, AddError>> {
        if !self.shared.accepting.load(Ordering::SeqCst) {
            return entries
                .iter()
                .map(|_| Err(AddError::ShuttingDown))
                .collect();
        }
        // Everything goes to the pool, repeats included: the sequencer looks each batch up
        // in one transaction, so a lookup here first would only read the index twice.
        let replies = self.enqueue_waiting(entries.clone(), deadline).await;
        let mut settled = Vec::with_capacity(entries.len());
        for reply in replies {
            settled.push(Some(match reply {
                Ok(rx) => match rx.await {
                    Ok(Outcome::Logged { index, existing }) => Ok((index, existing)),
                    Ok(Outcome::Conflict(record)) => Err(conflict(record)),
                    Ok(Outcome::Failed(message)) => Err(AddError::Storage(message)),
                    Err(_) => Err(AddError::ShuttingDown),
                },
                Err(e) => Err(e),
            }));
        }
        // A bulk call may spend long sequencing; the wait for publication gets its own bound.
        let publish_deadline = Instant::now() + self.shared.opts.add_timeout;
        self.prove_all(entries, settled, publish_deadline).await
    }

    /// Turns per-entry (index, existing) results into proofs against one published checkpoint.
    async fn prove_all(
        &self,
        entries: Vec<Entry>,
        settled: Vec<Option<Result<(u64, bool), AddError>>>,
        deadline: Instant,
    ) -> Vec<Result<Added, AddError>> {
        let highest = settled
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().ok())
            .map(|(i, _)| *i)
            .max();
        let published = match highest {
            Some(h) => self.wait_published(h, deadline).await.ok(),
            None => None,
        };
        let current = published.unwrap_or_else(|| self.shared.published.borrow().clone());
        let size = current.checkpoint.size;
        let indexes: Vec<u64> = settled
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().ok())
            .map(|(i, _)| *i)
            .filter(|&i| i < size)
            .collect();
        let mut proofs = match self.prove(size, indexes).await {
            Ok(p) => p.into_iter(),
            Err(e) => {
                return entries
                    .iter()
                    .map(|_| Err(storage_error(e.clone_message())))
                    .collect();
            }
        };
        entries
            .into_iter()
            .zip(settled)
            .map(
                |(entry, s)| match s.unwrap_or(Err(AddError::ShuttingDown)) {
                    Ok((index, _)) if index >= size => Err(AddError::Pending { index }),
                    Ok((index, existing)) => Ok(Added {
                        index,
                        entry: entry.to_bytes(),
                        checkpoint: current.note.clone(),
                        inclusion_proof: proofs.next().unwrap_or_default(),
                        existing,
                    }),
                    Err(e) => Err(e),
                },
            )
            .collect()
    }

    /// Puts entries in the pool, failing fast with `Overloaded` if they do not all fit.
    fn enqueue(&self, entries: Vec<Entry>) -> Result<Vec<oneshot::Receiver<Outcome>>, AddError> {
        let shared = &self.shared;
        let mut pool = shared.lock_pool();
        if pool.closed {
            return Err(AddError::ShuttingDown);
        }
        if pool.len() + entries.len() > shared.opts.max_pending_entries {
            return Err(AddError::Overloaded);
        }
        let replies = entries.into_iter().map(|entry| pool.push(entry)).collect();
        if pool.len() >= shared.opts.max_batch_entries {
            shared.wake.notify_one();
        }
        Ok(replies)
    }

    /// Puts entries in the pool in chunks, waiting for room up to `deadline`.
    async fn enqueue_waiting(
        &self,
        entries: Vec<Entry>,
        deadline: Instant,
    ) -> Vec<Result<oneshot::Receiver<Outcome>, AddError>> {
        let mut out = Vec::with_capacity(entries.len());
        let mut rest = entries.into_iter().peekable();
        while rest.peek().is_some() {
            let room = {
                let pool = self.shared.lock_pool();
                self.shared
                    .opts
                    .max_pending_entries
                    .saturating_sub(pool.len())
            };
            if room == 0 {
                if Instant::now() >= deadline {
                    out.extend(rest.by_ref().map(|_| Err(AddError::Overloaded)));
                    break;
                }
                self.shared.wake.notify_one();
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            let chunk: Vec<Entry> = rest.by_ref().take(room).collect();
            let n = chunk.len();
            match self.enqueue(chunk) {
                Ok(replies) => out.extend(replies.into_iter().map(Ok)),
                Err(AddError::Overloaded) => {
                    // Lost the room to concurrent adds; nothing of the chunk was pooled.
                    out.extend((0..n).map(|_| Err(AddError::Overloaded)));
                }
                Err(e) => {
                    out.extend((0..n).map(|_| Err(e.clone())));
                    out.extend(rest.by_ref().map(|_| Err(e.clone())));
                }
            }
        }
        out
    }

    /// Inclusion proofs of `indexes` (all below `size`, a committed size) in the tree of `size`.
    async fn prove(&self, size: u64, indexes: Vec<u64>) -> Result<Vec<Vec<Hash>>, LogError> {
        // A few proofs over hot tiles (every add's, since its batch just cached them) cost
        // microseconds: computing them here saves two thread hand-offs per request.
        if indexes.len() <= INLINE_PROOFS
            && let Some(proofs) = prove_cached(&self.shared.cache, size, &indexes)
        {
            return Ok(proofs);
        }
        let shared = self.shared.clone();
        blocking(move || prove_stored(&shared, size, &indexes)).await?
    }

    fn count(&self, result: &Result<Added, AddError>) {
        let c = &self.shared.counters;
        let counter = match result {
            Ok(a) if a.existing => &c.adds_existing,
            Ok(_) => &c.adds_new,
            Err(AddError::Conflict { .. }) => &c.adds_conflict,
            Err(AddError::Pending { .. }) => &c.adds_pending,
            Err(AddError::Overloaded) => &c.adds_overloaded,
            Err(AddError::ShuttingDown) => &c.adds_shutting_down,
            Err(AddError::Storage(_)) => &c.adds_storage_error,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl LogError {
    fn clone_message(&self) -> LogError {
        LogError::Proof(self.to_string())
    }
}

/// Reads a tile of the published tree (`available` is the tile as the published tree has it)
/// and cuts it to the requested width.
fn read_published_tile(
    shared: &Shared,
    available: &Tile,
    want: &Tile,
) -> Result<Option<Bytes>, LogError> {
    if want.level == TileLevel::Entries && want.width != available.width {
        let size = available.index * 256 + available.width;
        let entries = read_bundle(shared.storage.as_ref(), available.index, size)?;
        let data = encode_entry_bundle(entries.iter().take(want.width as usize)).map_err(|e| {
            LogError::Corrupt {
                what: available.path(),
                detail: e.to_string(),
            }
        })?;
        return Ok(Some(Bytes::from(data)));
    }
    // Served tiles bypass the proof cache: filling it computes a tile's inner hashes, which
    // random reads would pay for and then evict.
    let data = shared.storage.read_tile(available)?;
    cut_tile(available, want, data).map(Some)
}

/// The file of `available` (a tile of the published tree) cut to `want`'s width: hash tiles
/// are checked against their width and cut; entry bundles are served whole (callers only
/// pass the same width).
fn cut_tile(available: &Tile, want: &Tile, data: Option<Vec<u8>>) -> Result<Bytes, LogError> {
    let data = data.ok_or_else(|| LogError::Corrupt {
        what: available.path(),
        detail: "tile is missing although the published checkpoint covers it".into(),
    })?;
    if want.level == TileLevel::Entries {
        return Ok(Bytes::from(data));
    }
    if data.len() as u64 != available.width * HASH_SIZE as u64 {
        return Err(LogError::Corrupt {
            what: available.path(),
            detail: format!("tile has {} bytes", data.len()),
        });
    }
    Ok(Bytes::from(data).slice(..(want.width as usize) * HASH_SIZE))
}

/// At most this many proofs are computed on the async thread (each a few microseconds).
const INLINE_PROOFS: usize = 8;

/// Proofs from cached tiles only, or `None` if some tile is not cached.
fn prove_cached(cache: &TileCache, size: u64, indexes: &[u64]) -> Option<Vec<Vec<Hash>>> {
    let reader = TreeReader::cached(cache, size);
    indexes
        .iter()
        .map(|&i| prove_record(size, i, &reader).ok())
        .collect()
}

/// Proofs reading tiles from storage where the cache misses (blocking).
fn prove_stored(shared: &Shared, size: u64, indexes: &[u64]) -> Result<Vec<Vec<Hash>>, LogError> {
    let reader = TreeReader::new(shared.storage.as_ref(), &shared.cache, size);
    indexes
        .iter()
        .map(|&i| prove_record(size, i, &reader).map_err(|e| LogError::Proof(e.to_string())))
        .collect()
}

fn conflict(record: IndexRecord) -> AddError {
    AddError::Conflict {
        filename: record.entry.filename,
        index: record.index,
        checksum: record.entry.checksum,
        publisher: record.entry.publisher,
    }
}

fn storage_error(e: LogError) -> AddError {
    AddError::Storage(e.to_string())
}

fn lock_task(
    task: &Mutex<Option<JoinHandle<()>>>,
) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
    task.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking work (storage, hashing) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| LogError::Closed)
}
