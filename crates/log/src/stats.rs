//! Counters and gauges the log keeps for `GET /metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (inclusive) of the batch-size histogram buckets; a last bucket counts the rest.
pub const BATCH_SIZE_BUCKETS: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, u64::MAX];

/// A snapshot of the log's counters (monotonic since `Log::open`) and gauges (current values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogStats {
    /// Gauge: the size of the published checkpoint (what readers see).
    pub tree_size: u64,
    /// Gauge: the size of the latest signed (sequenced) checkpoint; at least `tree_size`.
    pub sequenced_size: u64,
    /// Gauge: time since the published checkpoint last changed (or since open).
    pub checkpoint_age: Duration,
    /// Gauge: adds waiting in the pool for the next batch.
    pub pending_entries: u64,
    /// Adds that appended a new entry.
    pub adds_new: u64,
    /// Adds answered with an entry that was already logged (idempotent re-adds).
    pub adds_existing: u64,
    /// Adds refused with `AddError::Conflict`.
    pub adds_conflict: u64,
    /// Adds answered with `AddError::Pending` (no checkpoint published in time).
    pub adds_pending: u64,
    /// Adds refused with `AddError::Overloaded`.
    pub adds_overloaded: u64,
    /// Adds refused with `AddError::ShuttingDown`.
    pub adds_shutting_down: u64,
    /// Adds failed with `AddError::Storage`.
    pub adds_storage_error: u64,
    /// Batches committed.
    pub batches: u64,
    /// Entries appended by committed batches.
    pub batch_entries: u64,
    /// Batch-size histogram: counts per bucket of [`BATCH_SIZE_BUCKETS`] (not cumulative).
    pub batch_size_buckets: [u64; BATCH_SIZE_BUCKETS.len()],
    /// Batches that failed to commit (storage errors).
    pub batch_failures: u64,
    /// Checkpoints published.
    pub publishes: u64,
    /// Publishing attempts that failed (cosigning or storage).
    pub publish_failures: u64,
}

/// The live counters behind [`LogStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) adds_new: AtomicU64,
    pub(crate) adds_existing: AtomicU64,
    pub(crate) adds_conflict: AtomicU64,
    pub(crate) adds_pending: AtomicU64,
    pub(crate) adds_overloaded: AtomicU64,
    pub(crate) adds_shutting_down: AtomicU64,
    pub(crate) adds_storage_error: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) batch_entries: AtomicU64,
    pub(crate) batch_size_buckets: [AtomicU64; BATCH_SIZE_BUCKETS.len()],
    pub(crate) batch_failures: AtomicU64,
    pub(crate) publishes: AtomicU64,
    pub(crate) publish_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn record_batch(&self, entries: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_entries.fetch_add(entries, Ordering::Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|&b| entries <= b)
            .unwrap_or(BATCH_SIZE_BUCKETS.len() - 1);
        self.batch_size_buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// Fills the counter fields of `stats`.
    pub(crate) fn fill(&self, stats: &mut LogStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.adds_new = get(&self.adds_new);
        stats.adds_existing = get(&self.adds_existing);
        stats.adds_conflict = get(&self.adds_conflict);
        stats.adds_pending = get(&self.adds_pending);
        stats.adds_overloaded = get(&self.adds_overloaded);
        stats.adds_shutting_down = get(&self.adds_shutting_down);
        stats.adds_storage_error = get(&self.adds_storage_error);
        stats.batches = get(&self.batches);
        stats.batch_entries = get(&self.batch_entries);
        for (out, c) in stats
            .batch_size_buckets
            .iter_mut()
            .zip(&self.batch_size_buckets)
        {
            *out = get(c);
        }
        stats.batch_failures = get(&self.batch_failures);
        stats.publishes = get(&self.publishes);
        stats.publish_failures = get(&self.publish_failures);
    }
}
