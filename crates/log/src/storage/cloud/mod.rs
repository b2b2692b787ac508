//! [`CloudStorage`]: the log in an S3-compatible bucket (tiles, entry bundles, the published
//! checkpoint: `objects.rs`) and PostgreSQL (the tree state, the uniqueness index and the
//! sequencing lease: `db.rs`), for several frontends sharing one log.
//!
//! **The commit point** is the compare-and-swap of the sequenced checkpoint in PostgreSQL
//! (`UPDATE bintrail_log SET sequenced_note ...` in a transaction that first checks this
//! frontend's fencing token and lease). The order of a batch is the same as on local files:
//! tiles and bundles to the bucket, index rows (one transaction), then the commit point.
//!
//! **Exactly one sequencer.** Only the holder of the lease writes. [`CloudStorage::open`]
//! takes the lease if it is free (expired or released), with a new fencing token and the
//! URL where this frontend takes adds; otherwise it opens as a follower that serves reads
//! and learns the holder's URL (the HTTP layer forwards adds there). A background task
//! renews the lease every third of its length, or, on a follower, tries to take it as
//! often. Every database write checks
//! the token inside its transaction, so a frontend that lost the lease (paused past it,
//! partitioned from the database) can change neither the index nor a checkpoint. Objects
//! cannot be fenced by every store (Garage ignores conditional puts), so tile writes are
//! preceded by a fenced check that the database's tree is still the one this frontend
//! recovered or committed, and by a local check that the lease has time left; a new holder
//! waits [`TAKEOVER_GRACE`] before its first write, so writes the old holder had in flight
//! land first and are overwritten. What remains is a process paused between that local
//! check and the write itself: DESIGN.md states it.
//!
//! A frontend whose lease changed hands (lost, then taken again) refuses every write until
//! the sequencer re-ran recovery (which reads the sequenced checkpoint), so it never writes
//! on top of a tree another frontend has since extended.

mod db;
mod metrics;
mod objects;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::Note;
use bintrail_tlog::tile::Tile;
use bytes::Bytes;
use futures::StreamExt;
use tokio::runtime::Handle;

use self::db::{Db, Row2};
use self::metrics::{Backend, CloudMetrics, Latencies};
use self::objects::Objects;
pub use self::objects::S3Location;
use super::{CheckpointKind, IndexRecord, Outage, Storage, StorageError, StoredEntry};
use crate::metrics::ExtraMetrics;

/// How long the sequencing lease lasts by default: a dead sequencer is replaced within
/// about this long.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(3);
/// How long a new lease holder waits before writing, so that object writes its
/// predecessor had in flight land first (and are then overwritten).
pub const TAKEOVER_GRACE: Duration = Duration::from_millis(1500);
/// Object writes in flight at once per batch.
const PUT_CONCURRENCY: usize = 16;

/// Where a [`CloudStorage`] keeps the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudOptions {
    /// The bucket and prefix (`s3://BUCKET[/PREFIX]`).
    pub storage: S3Location,
    /// The S3 endpoint for non-AWS stores (`--s3-endpoint`); `None` uses `AWS_ENDPOINT` or AWS.
    pub s3_endpoint: Option<String>,
    /// The PostgreSQL connection URL (`postgres://user:password@host:port/db`).
    pub database: String,
    /// How long the sequencing lease lasts ([`DEFAULT_LEASE`]).
    pub lease: Duration,
    /// Bound on one object-store request, retries included.
    pub request_timeout: Duration,
    /// S3 settings by their `AWS_*` environment names (like `AWS_ACCESS_KEY_ID`), applied
    /// over the process environment: for programs that embed the log. Empty for `serve`.
    pub aws: Vec<(String, String)>,
    /// The URL other frontends forward adds to while this one sequences
    /// (`--advertise-url`; `serve` defaults it to its listen address). Empty: none.
    pub advertise: String,
}

/// The lease as this frontend knows it.
struct Lease {
    /// The fencing token this frontend holds; 0 while it holds none.
    fence: AtomicI64,
    /// When the lease runs out by the local clock (measured from before the renewal was sent,
    /// so never later than the database's expiry).
    deadline: Mutex<Instant>,
    /// When this frontend took the lease it holds.
    since: Mutex<Instant>,
    /// How many times this frontend took the lease.
    taken: std::sync::atomic::AtomicU64,
    /// The fence and sequenced size of the tree the sequencer last read or committed;
    /// writes are refused unless the database still holds exactly that.
    synced: Mutex<Option<(i64, u64)>>,
    /// While another frontend holds the lease: its URL and when its lease runs out by the
    /// local clock (as last read from the database).
    leader: Mutex<Option<(String, Instant)>>,
}

/// Tiles and checkpoints in S3, tree state and index in PostgreSQL; see the module docs.
pub struct CloudStorage {
    objects: Objects,
    db: Arc<Db>,
    lease: Arc<Lease>,
    lease_length: Duration,
    holder: String,
    rt: Handle,
    renewer: tokio::task::JoinHandle<()>,
    latencies: Arc<Latencies>,
}

impl CloudStorage {
    /// Connects to the bucket and the database, creates the schema if absent, and takes
    /// the sequencing lease if it is free; otherwise opens as a follower (which takes the
    /// lease in the background once its holder stops renewing it).
    pub async fn open(opts: &CloudOptions) -> Result<CloudStorage, StorageError> {
        let objects = Objects::new(
            &opts.storage,
            opts.s3_endpoint.as_deref(),
            &opts.aws,
            opts.request_timeout,
        )?;
        let db = Arc::new(Db::open(&opts.database).await?);
        let holder = format!(
            "pid {} on {} ({:08x})",
            std::process::id(),
            hostname(),
            rand::random::<u32>()
        );
        let lease = Arc::new(Lease {
            fence: AtomicI64::new(0),
            deadline: Mutex::new(Instant::now()),
            since: Mutex::new(Instant::now()),
            taken: std::sync::atomic::AtomicU64::new(0),
            synced: Mutex::new(None),
            leader: Mutex::new(None),
        });
        let me = Candidate {
            db: db.clone(),
            lease: lease.clone(),
            holder: holder.clone(),
            url: opts.advertise.clone(),
            length: opts.lease,
        };
        if me.try_once().await? {
            // Readers of the bucket see the published checkpoint even if the last holder
            // died between publishing it in the database and writing the object.
            if let Some(note) = db.read_checkpoint(CheckpointKind::Published).await? {
                objects.put_checkpoint(Bytes::from(note)).await?;
            }
        }
        let renewer = tokio::spawn(me.hold_forever());
        Ok(CloudStorage {
            objects,
            db,
            lease,
            lease_length: opts.lease,
            holder,
            rt: Handle::current(),
            renewer,
            latencies: Arc::new(Latencies::default()),
        })
    }

    /// Waits until this frontend holds the sequencing lease (for a program that must
    /// write, such as a migration, rather than follow), logging who holds it meanwhile.
    pub async fn wait_for_lease(&self) {
        let mut said = false;
        while self.fence().is_none() {
            if !said {
                tracing::info!("waiting for the sequencing lease");
                said = true;
            }
            tokio::time::sleep(self.lease_length / 6).await;
        }
    }

    /// The fencing token this frontend holds, or `None` while it holds no lease.
    pub fn fence(&self) -> Option<i64> {
        Some(self.lease.fence.load(Ordering::SeqCst)).filter(|f| *f > 0)
    }

    /// This frontend's name in the lease table.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// While another frontend holds the lease: the URL it takes forwarded adds at, unless
    /// it recorded none or its lease ran out (as last read from the database) more than a
    /// lease length ago.
    ///
    /// The last read is up to a third of a lease old, and later still when this frontend's
    /// reads wait behind the sequencer's batch transactions on a saturated machine; a holder
    /// that renews on time can then look expired for a moment. Treating it as gone at once
    /// answered every forwarded add in flight with a 503 (thousands a run in
    /// `scripts/bench-cloud.sh`). A holder that really died is replaced within a lease and
    /// the takeover grace, and the new holder's URL (or this frontend's own lease) ends the
    /// forwarding to it; meanwhile a forward to a dead frontend fails its connection.
    pub fn leader_url(&self) -> Option<String> {
        if self.fence().is_some() {
            return None;
        }
        match &*lock(&self.lease.leader) {
            Some((url, until))
                if !url.is_empty() && Instant::now() < *until + self.lease_length =>
            {
                Some(url.clone())
            }
            _ => None,
        }
    }

    /// Gives the lease up (call after the log shut down), so another frontend takes over
    /// at once instead of after the lease runs out.
    pub async fn release(&self) -> Result<(), StorageError> {
        self.renewer.abort();
        let fence = self.lease.fence.swap(0, Ordering::SeqCst);
        if fence > 0 {
            self.db.release(fence).await?;
        }
        Ok(())
    }

    /// The series this backend adds to `GET /metrics`.
    pub fn metrics(&self) -> Arc<dyn ExtraMetrics> {
        Arc::new(CloudMetrics {
            lease: self.lease.clone(),
            latencies: self.latencies.clone(),
        })
    }

    /// Runs `f` to completion from a blocking thread, timing it as a call to `backend`.
    fn block_on<T, E>(
        &self,
        backend: Backend,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = self.rt.block_on(f);
        self.latencies
            .record(backend, started.elapsed(), result.is_err());
        result
    }

    /// The fence to write objects under, if this frontend holds the lease with a third of
    /// it left and has read the tree since it took it.
    fn writable(&self) -> Result<(i64, u64), StorageError> {
        let (fence, size) = self.writable_in_database()?;
        let left = lock(&self.lease.deadline).saturating_duration_since(Instant::now());
        if left < self.lease_length / 3 {
            return Err(StorageError::Unavailable(Outage::LeaseEnding { left }));
        }
        Ok((fence, size))
    }

    /// The fence to write to the database under, if this frontend holds the lease and has
    /// read the tree since it took it. No margin on the lease's time by the local clock:
    /// the database checks the token and the expiry by its own clock inside the write's
    /// transaction. (A renewal that waits behind a long batch transaction for the state
    /// row could otherwise leave under a third of the lease by the local count, and the
    /// next index append or commit was refused on a saturated machine although the
    /// database still held the lease for this frontend.)
    fn writable_in_database(&self) -> Result<(i64, u64), StorageError> {
        let fence = self.lease.fence.load(Ordering::SeqCst);
        if fence == 0 {
            return Err(StorageError::Unavailable(Outage::NotLeaseHolder));
        }
        match *lock(&self.lease.synced) {
            Some((f, size)) if f == fence => Ok((fence, size)),
            _ => Err(StorageError::Unavailable(Outage::LeaseChanged)),
        }
    }
}

impl Drop for CloudStorage {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Storage for CloudStorage {
    fn read_checkpoint(&self, kind: CheckpointKind) -> Result<Option<Vec<u8>>, StorageError> {
        let fence = self.lease.fence.load(Ordering::SeqCst);
        let note = self.block_on(Backend::Database, self.db.read_checkpoint(kind))?;
        if kind == CheckpointKind::Sequenced {
            // Recovery starts here: from now on this frontend writes on top of this tree.
            let size = match &note {
                Some(note) => note_size(note)?,
                None => 0,
            };
            *lock(&self.lease.synced) = Some((fence, size));
        }
        Ok(note)
    }

    fn write_checkpoint(&self, kind: CheckpointKind, note: &[u8]) -> Result<(), StorageError> {
        let (fence, _) = self.writable_in_database()?;
        let size = note_size(note)?;
        self.block_on(
            Backend::Database,
            self.db.write_checkpoint(fence, kind, note, size),
        )?;
        match kind {
            CheckpointKind::Sequenced => {
                *lock(&self.lease.synced) = Some((fence, size));
                Ok(())
            }
            CheckpointKind::Published => {
                self.writable()?;
                self.block_on(
                    Backend::Objects,
                    self.objects.put_checkpoint(Bytes::copy_from_slice(note)),
                )
            }
        }
    }

    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StorageError> {
        self.block_on(Backend::Objects, self.objects.get_tile(tile))
    }

    fn write_tiles(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<(), StorageError> {
        let (fence, size) = self.writable()?;
        self.block_on(Backend::Objects, async {
            self.db.ensure_tree(fence, size).await?;
            self.writable()?;
            let results: Vec<Result<(Tile, Bytes, bool), StorageError>> =
                futures::stream::iter(tiles.iter().map(|(tile, data)| {
                    let data = Bytes::copy_from_slice(data);
                    async move {
                        let written = self.objects.put_tile(tile, data.clone()).await?;
                        Ok((*tile, data, written))
                    }
                }))
                .buffer_unordered(PUT_CONCURRENCY)
                .collect()
                .await;
            let mut refused = Vec::new();
            for r in results {
                let (tile, data, written) = r?;
                if !written {
                    refused.push((tile, data));
                }
            }
            if !refused.is_empty() {
                // Full tiles left by a batch that never committed: ours to replace, if the
                // database still says so.
                self.db.ensure_tree(fence, size).await?;
                for (tile, data) in refused {
                    self.writable()?;
                    self.objects.overwrite_tile(&tile, data).await?;
                }
            }
            Ok(())
        })
    }

    fn lookup(&self, names: &[&str]) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let rows = self.block_on(Backend::Database, self.db.lookup_names(&names))?;
        in_order(&names, rows)
    }

    fn lookup_for_append(
        &self,
        identifiers: &[&str],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let keys: Vec<String> = identifiers.iter().map(|k| (*k).to_owned()).collect();
        let rows = self.block_on(Backend::Database, self.db.lookup_keys(&keys))?;
        in_order(&keys, rows)
    }

    fn index_size(&self) -> Result<u64, StorageError> {
        self.block_on(Backend::Database, self.db.index_size())
    }

    fn append_index(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        let (fence, _) = self.writable_in_database()?;
        let rows = records
            .iter()
            .map(|r| {
                let index = i64::try_from(r.index).map_err(|_| StorageError::Gap {
                    expected: 0,
                    got: r.index,
                })?;
                Ok((
                    index,
                    r.entry.identifier.clone(),
                    r.entry.name.clone(),
                    r.entry.digest.clone(),
                    r.entry.bytes.clone(),
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.block_on(Backend::Database, self.db.append(fence, rows))
    }

    fn can_sequence(&self) -> bool {
        self.fence().is_some()
    }

    fn needs_recovery(&self) -> bool {
        let fence = self.lease.fence.load(Ordering::SeqCst);
        fence > 0 && !matches!(*lock(&self.lease.synced), Some((f, _)) if f == fence)
    }

    fn truncate_index(&self, size: u64) -> Result<(), StorageError> {
        let (fence, _) = self.writable_in_database()?;
        self.block_on(Backend::Database, self.db.truncate(fence, size))
    }
}

/// Matches rows (keyed by name or identifier) to the requested keys, in order.
fn in_order(
    keys: &[String],
    rows: Vec<(String, Row2)>,
) -> Result<Vec<Option<IndexRecord>>, StorageError> {
    let mut found: std::collections::HashMap<String, Row2> = rows.into_iter().collect();
    Ok(keys
        .iter()
        .map(|k| {
            found.remove(k).map(|row| IndexRecord {
                index: row.index,
                entry: StoredEntry {
                    bytes: row.entry,
                    name: row.name,
                    identifier: row.key,
                    digest: row.digest,
                },
            })
        })
        .collect())
}

/// The tree size a signed checkpoint note states.
fn note_size(note: &[u8]) -> Result<u64, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        what: "checkpoint".into(),
        detail,
    };
    let parsed = Note::parse(note).map_err(|e| corrupt(e.to_string()))?;
    let checkpoint: Checkpoint = parsed.text.parse().map_err(|e| corrupt(format!("{e}")))?;
    Ok(checkpoint.size)
}

/// What the lease task needs: the database, the shared lease, and who this frontend is.
struct Candidate {
    db: Arc<Db>,
    lease: Arc<Lease>,
    holder: String,
    url: String,
    length: Duration,
}

impl Candidate {
    /// Tries once to take the lease; `true` if this frontend now holds it. Otherwise
    /// records who does and where, for forwarding.
    async fn try_once(&self) -> Result<bool, StorageError> {
        let sent = Instant::now();
        match self
            .db
            .try_acquire(&self.holder, &self.url, self.length)
            .await?
        {
            Ok(fence) => {
                *lock(&self.lease.leader) = None;
                let mut sent = sent;
                if fence > 1 {
                    // Let object writes of the previous holder land before ours, then renew:
                    // the grace must not eat into the time the first batches may write.
                    tokio::time::sleep(TAKEOVER_GRACE).await;
                    sent = Instant::now();
                    if !self.db.renew(fence, self.length).await? {
                        return Ok(false);
                    }
                }
                *lock(&self.lease.deadline) = sent + self.length;
                *lock(&self.lease.since) = Instant::now();
                self.lease.taken.fetch_add(1, Ordering::Relaxed);
                self.lease.fence.store(fence, Ordering::SeqCst);
                tracing::info!(fence, "holding the sequencing lease");
                Ok(true)
            }
            Err(current) => {
                let changed = lock(&self.lease.leader)
                    .as_ref()
                    .map(|(url, _)| Some(url) != current.url.as_ref())
                    .unwrap_or(true);
                if changed {
                    tracing::info!(holder = %current.name, url = current.url.as_deref().unwrap_or(""), seconds_left = current.left, "another frontend sequences; forwarding adds to it");
                }
                let left = Duration::from_secs_f64(current.left.clamp(0.0, 3600.0));
                // A lease still in this frontend's name (a renewal after the takeover grace
                // that failed) runs out by itself; never forward to oneself meanwhile.
                let url = match current.name == self.holder {
                    true => String::new(),
                    false => current.url.unwrap_or_default(),
                };
                *lock(&self.lease.leader) = Some((url, sent + left));
                Ok(false)
            }
        }
    }

    /// Renews the lease every third of its length while this frontend holds it; while it
    /// does not (never had it, lost it, or let it expire while the database was
    /// unreachable), tries to take it as often.
    async fn hold_forever(self) {
        loop {
            tokio::time::sleep(self.length / 3).await;
            let fence = self.lease.fence.load(Ordering::SeqCst);
            if fence == 0 {
                if let Err(e) = self.try_once().await {
                    tracing::warn!(error = %e, "cannot reach the database for the sequencing lease; retrying");
                }
                continue;
            }
            let sent = Instant::now();
            match self.db.renew(fence, self.length).await {
                Ok(true) => *lock(&self.lease.deadline) = sent + self.length,
                Ok(false) => {
                    tracing::error!(
                        fence,
                        "lost the sequencing lease; forwarding adds to the new holder"
                    );
                    self.lease.fence.store(0, Ordering::SeqCst);
                }
                Err(e) => {
                    let expired = Instant::now() >= *lock(&self.lease.deadline);
                    tracing::warn!(error = %e, expired, "renewing the sequencing lease failed");
                    if expired {
                        self.lease.fence.store(0, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain values; a panic while holding one leaves a valid value behind.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
