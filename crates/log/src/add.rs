//! The add pipeline, one for single and bulk adds: admit to the pool, await the
//! sequencer's [`Outcome`], settle it (the one place an outcome becomes an [`AddError`]),
//! wait for a published checkpoint covering the entry, and prove inclusion in it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::proof::TlogProof;
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::{AddError, BatchError};
use crate::pool::Outcome;
use crate::prove::prove_inclusion;
use crate::state::{Log, Published};
use crate::storage::{IndexRecord, StoredEntry};

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

/// Where a settled add stands: committed at `(index, existing)`, or refused.
type Settled = Result<(u64, bool), AddError>;

impl<E: EntryKind> Log<E> {
    /// Adds one entry. Resolves once the entry is durable and covered by a published
    /// checkpoint, with a proof against it.
    ///
    /// An entry equal to a logged one (the same bytes) returns that entry with a fresh
    /// proof and `existing: true`, appending nothing. Any other entry under a logged
    /// identifier ([`EntryKind::identifier`]: for PyPI the same file, whatever the spelling,
    /// with another checksum or publisher) returns [`AddError::Conflict`] and appends
    /// nothing; among concurrent adds of one identifier the first pooled wins. See
    /// [`AddError`] for the other outcomes.
    pub async fn add(&self, entry: E) -> Result<Added, AddError> {
        let deadline = Instant::now() + self.shared.opts.add_timeout;
        let result = self.add_one(StoredEntry::of(&entry), deadline).await;
        self.count(&result);
        result
    }

    /// Adds many entries: the same rules per entry as [`Log::add`], results in input order.
    /// Entries are pooled together (waiting for room in the pool up to `add_timeout` rather
    /// than failing fast) so that they are sequenced in as few batches as the limits allow;
    /// once all are sequenced, it waits up to `add_timeout` more for a covering checkpoint.
    pub async fn add_many(&self, entries: Vec<E>) -> Vec<Result<Added, AddError>> {
        let deadline = Instant::now() + self.shared.opts.add_timeout;
        let entries = entries.iter().map(StoredEntry::of).collect();
        let results = self.add_batch(entries, deadline).await;
        results.iter().for_each(|r| self.count(r));
        results
    }

    async fn add_one(&self, entry: StoredEntry, deadline: Instant) -> Result<Added, AddError> {
        // Straight to the pool: the sequencer looks the whole batch up in the index in one
        // go (a repeat is answered from there), which costs far less than a lookup on a
        // blocking thread per add.
        let reply = self
            .shared
            .pool
            .admit(std::iter::once(entry.clone()))?
            .pop()
            .ok_or(AddError::ShuttingDown)?;
        let (index, existing) = settle(reply.await)?;
        let published = self.wait_published(index, deadline).await?;
        let settled = vec![Ok((index, existing))];
        self.prove_settled(&published, vec![entry], settled)
            .await
            .pop()
            .unwrap_or(Err(AddError::ShuttingDown))
    }

    async fn add_batch(
        &self,
        entries: Vec<StoredEntry>,
        deadline: Instant,
    ) -> Vec<Result<Added, AddError>> {
        if !self.shared.pool.is_accepting() {
            return entries
                .iter()
                .map(|_| Err(AddError::ShuttingDown))
                .collect();
        }
        // Everything goes to the pool, repeats included: the sequencer looks each batch up
        // in one transaction, so a lookup here first would only read the index twice.
        let replies = self
            .shared
            .pool
            .admit_waiting(entries.clone(), deadline)
            .await;
        let mut settled = Vec::with_capacity(entries.len());
        for reply in replies {
            settled.push(match reply {
                Ok(rx) => settle(rx.await),
                Err(e) => Err(e),
            });
        }
        // A bulk call may spend long sequencing; the wait for publication gets its own bound.
        let publish_deadline = Instant::now() + self.shared.opts.add_timeout;
        let highest = settled
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .map(|s| s.0)
            .max();
        let published = match highest {
            Some(h) => self.wait_published(h, publish_deadline).await.ok(),
            None => None,
        };
        let current = published.unwrap_or_else(|| self.shared.published.borrow().clone());
        self.prove_settled(&current, entries, settled).await
    }

    /// Waits until a published checkpoint covers `index`: [`AddError::Pending`] past the
    /// deadline, [`AddError::ShuttingDown`] if the publisher is gone.
    async fn wait_published(&self, index: u64, deadline: Instant) -> Result<Published, AddError> {
        let mut rx = self.shared.published.subscribe();
        let wait = rx.wait_for(|p| p.checkpoint.size > index);
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(Ok(p)) => Ok(p.clone()),
            Ok(Err(_)) => Err(AddError::ShuttingDown),
            Err(_) => Err(AddError::Pending { index }),
        }
    }

    /// Turns settled adds into proofs against `published`, one result per entry in order:
    /// entries beyond it are [`AddError::Pending`]. If the proofs cannot be built, every
    /// entry gets that storage error.
    async fn prove_settled(
        &self,
        published: &Published,
        entries: Vec<StoredEntry>,
        settled: Vec<Settled>,
    ) -> Vec<Result<Added, AddError>> {
        let size = published.checkpoint.size;
        let indexes: Vec<u64> = settled
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .map(|s| s.0)
            .filter(|&i| i < size)
            .collect();
        let mut proofs = match prove_inclusion(&self.shared, size, indexes).await {
            Ok(p) => p.into_iter(),
            Err(e) => {
                let e = BatchError::new(e);
                return entries
                    .iter()
                    .map(|_| Err(AddError::Storage(e.clone())))
                    .collect();
            }
        };
        entries
            .into_iter()
            .zip(settled)
            .map(|(entry, settled)| match settled {
                Ok((index, _)) if index >= size => Err(AddError::Pending { index }),
                Ok((index, existing)) => Ok(Added {
                    index,
                    entry: entry.bytes,
                    checkpoint: published.note.clone(),
                    inclusion_proof: proofs.next().unwrap_or_default(),
                    existing,
                }),
                Err(e) => Err(e),
            })
            .collect()
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

/// The one mapping from the sequencer's answer to an add's fate.
fn settle(reply: Result<Outcome, oneshot::error::RecvError>) -> Settled {
    match reply {
        Ok(Outcome::Logged { index, existing }) => Ok((index, existing)),
        Ok(Outcome::Conflict(record)) => Err(conflict(record)),
        Ok(Outcome::Failed(e)) => Err(AddError::Storage(e)),
        Err(_) => Err(AddError::ShuttingDown),
    }
}

fn conflict(record: IndexRecord) -> AddError {
    AddError::Conflict {
        index: record.index,
        logged: record.entry,
    }
}
