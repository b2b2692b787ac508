//! The pool and its admission: adds wait here for the next batch, first come first win.
//!
//! Admission is the only gate into the log: it refuses adds once shutdown began
//! ([`AddError::ShuttingDown`]) and beyond `max_pending_entries`
//! ([`AddError::Overloaded`]), and wakes the sequencer early once a batch is full. The
//! sequencer takes batches out and answers each add with an [`Outcome`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::error::{AddError, BatchError};
use crate::storage::{IndexRecord, StoredEntry};

/// What the sequencer decided for one pooled add.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The entry is committed at `index`; `existing` when this add appended nothing.
    Logged { index: u64, existing: bool },
    /// Another entry holds the identifier (logged before, or first in this batch).
    Conflict(IndexRecord),
    /// The batch failed to commit.
    Failed(BatchError),
}

/// One add waiting in the pool.
pub(crate) struct PendingAdd {
    pub(crate) entry: StoredEntry,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

/// The pool: adds waiting for the next batch, in arrival order, and its admission limits.
pub(crate) struct Pool {
    waiting: Mutex<Waiting>,
    /// Wakes the sequencer early: the pool holds a full batch, or shutdown began.
    wake: Notify,
    /// False once shutdown began.
    accepting: AtomicBool,
    max_pending: usize,
    max_batch: usize,
}

#[derive(Default)]
struct Waiting {
    adds: Vec<PendingAdd>,
    /// Set by the sequencer when it exits; nothing may be pooled after.
    closed: bool,
}

impl Pool {
    /// An empty pool admitting up to `max_pending` adds, waking the sequencer at
    /// `max_batch` (both at least 1).
    pub(crate) fn new(max_pending: usize, max_batch: usize) -> Pool {
        Pool {
            waiting: Mutex::new(Waiting::default()),
            wake: Notify::new(),
            accepting: AtomicBool::new(true),
            max_pending,
            max_batch: max_batch.max(1),
        }
    }

    /// The most adds the sequencer takes into one batch.
    pub(crate) fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// How many adds wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().adds.len()
    }

    /// Admits all of `entries` or none: [`AddError::ShuttingDown`] once shutdown began,
    /// [`AddError::Overloaded`] if they do not all fit. Returns one reply per entry.
    pub(crate) fn admit(
        &self,
        entries: impl ExactSizeIterator<Item = StoredEntry>,
    ) -> Result<Vec<oneshot::Receiver<Outcome>>, AddError> {
        if !self.is_accepting() {
            return Err(AddError::ShuttingDown);
        }
        let mut waiting = self.lock();
        if waiting.closed {
            return Err(AddError::ShuttingDown);
        }
        if waiting.adds.len() + entries.len() > self.max_pending {
            return Err(AddError::Overloaded);
        }
        let replies = entries
            .map(|entry| {
                let (reply, rx) = oneshot::channel();
                waiting.adds.push(PendingAdd { entry, reply });
                rx
            })
            .collect();
        if waiting.adds.len() >= self.max_batch {
            self.wake.notify_one();
        }
        Ok(replies)
    }

    /// Admits `entries` in chunks as room frees up, waiting up to `deadline`; entries that
    /// find no room by then get [`AddError::Overloaded`]. One result per entry, in order.
    pub(crate) async fn admit_waiting(
        &self,
        entries: Vec<StoredEntry>,
        deadline: Instant,
    ) -> Vec<Result<oneshot::Receiver<Outcome>, AddError>> {
        let mut out = Vec::with_capacity(entries.len());
        let mut rest = entries.into_iter().peekable();
        while rest.peek().is_some() {
            let room = self.max_pending.saturating_sub(self.len());
            if room == 0 {
                if Instant::now() >= deadline {
                    out.extend(rest.by_ref().map(|_| Err(AddError::Overloaded)));
                    break;
                }
                self.wake.notify_one();
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            let chunk: Vec<StoredEntry> = rest.by_ref().take(room).collect();
            let n = chunk.len();
            match self.admit(chunk.into_iter()) {
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

    /// Takes the oldest adds, at most one batch.
    pub(crate) fn take_batch(&self) -> Vec<PendingAdd> {
        let mut waiting = self.lock();
        let n = waiting.adds.len().min(self.max_batch);
        let rest = waiting.adds.split_off(n);
        std::mem::replace(&mut waiting.adds, rest)
    }

    /// Closes the pool if it is empty (the sequencer's last act); reports whether it did.
    pub(crate) fn close_if_empty(&self) -> bool {
        let mut waiting = self.lock();
        waiting.closed = waiting.adds.is_empty();
        waiting.closed
    }

    /// Refuses further adds and wakes the sequencer to drain the pool.
    pub(crate) fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// False once shutdown began.
    pub(crate) fn is_accepting(&self) -> bool {
        self.accepting.load(Ordering::SeqCst)
    }

    /// Resolves when someone wakes the sequencer.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // The pool is a list of waiters; a panic while holding it loses at most their replies.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}
