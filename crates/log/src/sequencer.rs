//! The sequencer: pools adds, and on each checkpoint interval turns the pool into a batch
//! that is deduplicated, hashed, written and committed.
//!
//! A batch's commit sequence (the crate README's "Life of an entry" tells the whole story):
//! 1. entry bundles and hash tiles for the new tree are written and fsynced;
//! 2. the index rows are appended in one SQLite transaction;
//! 3. the new checkpoint is signed and the sequenced checkpoint replaced atomically:
//!    THE COMMIT POINT. Before it, recovery forgets the batch (index rows beyond the size are
//!    dropped, tiles beyond it are ignored and later overwritten); after it, recovery keeps it.
//! 4. the publisher is told; it cosigns, persists the published checkpoint and wakes adds.
//!
//! Any failed write leaves the batch's fate unknown (it may have persisted), so the sequencer
//! forgets its in-memory tree and re-runs recovery, which reads the truth from storage.
//!
//! On a backend shared by several frontends, only the lease holder sequences: on every
//! tick a frontend without the lease follows the published tree (`follow.rs`), and one
//! that took the lease since it last read the tree recovers before anything else, so it
//! publishes what a dead predecessor committed without waiting for an add.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bintrail_tlog::bundle::encode_entry_bundle;
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel, new_tiles, read_tile_data};
use bintrail_tlog::tree::{stored_hash_count, stored_hashes, tree_hash};
use bytes::Bytes;
use tokio::time::MissedTickBehavior;

use crate::error::{BatchError, LogError};
use crate::follow;
use crate::pool::{Outcome, PendingAdd};
use crate::recovery::recover;
use crate::state::{Committed, Shared};
use crate::storage::{CheckpointKind, IndexRecord, StoredEntry};
use crate::tiles::TreeReader;

/// The sequencer task: runs until shutdown drains the pool. `state` is `None` when the
/// tree must be recovered first (a follower's).
pub(crate) async fn run_sequencer(shared: Arc<Shared>, state: Option<Committed>) {
    let max_batch = shared.pool.max_batch();
    let mut state = state;
    // The first batch is cut one interval after start: `interval` would tick at once, and a
    // batch cut then races the first adds (it could take some of them before others arrive).
    let period = shared.opts.checkpoint_interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shared.pool.woken() => {}
        }
        let stopping = !shared.pool.is_accepting();
        let sh = shared.clone();
        if !shared.storage.can_sequence() {
            let followed = tokio::task::spawn_blocking(move || follow::refresh(&sh)).await;
            if let Ok(Err(e)) = followed {
                tracing::warn!(error = %e, "could not read the published checkpoint");
            }
        } else if shared.storage.needs_recovery() {
            state = tokio::task::spawn_blocking(move || recover_in_place(&sh).ok())
                .await
                .unwrap_or(None);
        }
        loop {
            let batch = shared.pool.take_batch();
            if batch.is_empty() {
                break;
            }
            let sh = shared.clone();
            state = tokio::task::spawn_blocking(move || sequence_batch(&sh, state, batch))
                .await
                .unwrap_or(None);
            if !stopping && shared.pool.len() < max_batch {
                break;
            }
        }
        if stopping && shared.pool.close_if_empty() {
            return;
        }
    }
}

/// How an identifier in a batch is resolved.
enum Resolution {
    /// Already in the index.
    Indexed(IndexRecord),
    /// Appended by this batch at `index`; the add at position `first` in the batch won.
    New { index: u64, first: usize },
}

/// Sequences one batch and replies to each add. Returns the new committed tree, or `None` if
/// the tree in storage is unknown and recovery must run before the next batch.
fn sequence_batch(
    shared: &Shared,
    state: Option<Committed>,
    batch: Vec<PendingAdd>,
) -> Option<Committed> {
    let committed = match state {
        Some(committed) if !shared.storage.needs_recovery() => committed,
        _ => match recover_in_place(shared) {
            Ok(committed) => committed,
            Err(e) => {
                // The adds learn why (a full disk, an unreachable database or store).
                fail_all(batch, e);
                return None;
            }
        },
    };
    let size = committed.checkpoint.size;
    // For each add, which distinct identifier of the batch it names (`group`), and for each
    // the position of its first add (`firsts`, in arrival order). Aliases of one file
    // (issue 19, H6) share a group: the first is appended, the others conflict with it.
    let mut group = Vec::with_capacity(batch.len());
    let mut firsts: Vec<usize> = Vec::new();
    {
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
        for (i, add) in batch.iter().enumerate() {
            let g = *seen.entry(identifier(&add.entry)).or_insert_with(|| {
                firsts.push(i);
                firsts.len() - 1
            });
            group.push(g);
        }
    }
    let identifiers: Vec<&str> = firsts
        .iter()
        .map(|&i| identifier(&batch[i].entry))
        .collect();
    let found = match shared.storage.lookup_for_append(&identifiers) {
        Ok(found) => found,
        Err(e) => {
            fail_all(batch, e.into());
            return Some(committed);
        }
    };
    let mut resolved: Vec<Resolution> = Vec::with_capacity(firsts.len());
    let mut new_entries = Vec::new();
    for (&first, record) in firsts.iter().zip(found) {
        resolved.push(match record {
            Some(record) => Resolution::Indexed(record),
            None => {
                new_entries.push(batch[first].entry.clone());
                Resolution::New {
                    index: size + new_entries.len() as u64 - 1,
                    first,
                }
            }
        });
    }
    let (next, failure) = if new_entries.is_empty() {
        (Some(committed), None)
    } else {
        match commit(shared, &committed, &new_entries) {
            Ok(next) => (Some(next), None),
            Err(e) => {
                tracing::error!(error = %e, entries = new_entries.len(), "batch failed to commit; recovering");
                shared
                    .counters
                    .batch_failures
                    .fetch_add(1, Ordering::Relaxed);
                (recover_in_place(shared).ok(), Some(BatchError::new(e)))
            }
        }
    };
    for (i, (add, g)) in batch.into_iter().zip(group).enumerate() {
        let outcome = match &resolved[g] {
            Resolution::Indexed(r) if r.entry.bytes == add.entry.bytes => Outcome::Logged {
                index: r.index,
                existing: true,
            },
            Resolution::Indexed(r) => Outcome::Conflict(r.clone()),
            Resolution::New { .. } if let Some(failure) = &failure => {
                Outcome::Failed(failure.clone())
            }
            &Resolution::New { index, first } => {
                let winner = &new_entries[(index - size) as usize];
                if winner.bytes == add.entry.bytes {
                    Outcome::Logged {
                        index,
                        existing: i != first,
                    }
                } else {
                    Outcome::Conflict(IndexRecord {
                        index,
                        entry: winner.clone(),
                    })
                }
            }
        };
        let _ = add.reply.send(outcome);
    }
    next
}

/// The identifier a pooled entry is deduplicated on. Every pooled entry has one: the pool
/// is filled by `Log::add`, through [`StoredEntry::of`]; only rows read back from history
/// may lack one.
fn identifier(entry: &StoredEntry) -> &str {
    entry.identifier.as_deref().unwrap_or_default()
}

/// Runs the commit sequence (module docs) for `entries`, appended after `old`.
fn commit(
    shared: &Shared,
    old: &Committed,
    entries: &[StoredEntry],
) -> Result<Committed, LogError> {
    let storage = shared.storage.as_ref();
    let size = old.checkpoint.size;
    let new_size = size + entries.len() as u64;
    let bytes: Vec<Vec<u8>> = entries.iter().map(|e| e.bytes.clone()).collect();
    let overlay_start = stored_hash_count(size);
    let mut overlay: Vec<Hash> = Vec::with_capacity(2 * bytes.len() + 64);
    for (i, data) in bytes.iter().enumerate() {
        let reader = TreeReader {
            storage: Some(storage),
            cache: &shared.cache,
            size,
            overlay_start,
            overlay: &overlay,
        };
        let hashes = stored_hashes(size + i as u64, data, &reader).map_err(LogError::Proof)?;
        overlay.extend(hashes);
    }
    let reader = TreeReader {
        storage: Some(storage),
        cache: &shared.cache,
        size,
        overlay_start,
        overlay: &overlay,
    };
    let root = tree_hash(new_size, &reader).map_err(LogError::Proof)?;
    let mut tiles = Vec::new();
    for tile in new_tiles(size, new_size) {
        let data = read_tile_data(&tile, &reader).map_err(LogError::Proof)?;
        tiles.push((tile, data));
    }
    let mut edge = old.edge.clone();
    tiles.extend(entry_bundles(size, &mut edge, bytes)?);

    // Step 1: tiles and entry bundles, durable.
    storage.write_tiles(&tiles)?;

    // Step 2: the index rows, one transaction.
    let records: Vec<IndexRecord> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| IndexRecord {
            index: size + i as u64,
            entry: e.clone(),
        })
        .collect();
    storage.append_index(&records)?;
    // Step 3: sign and persist the sequenced checkpoint. THE COMMIT POINT: once this write
    // is durable the batch is part of the log forever; until then recovery forgets it.
    let checkpoint = Checkpoint {
        origin: old.checkpoint.origin.clone(),
        size: new_size,
        root_hash: root,
        extensions: vec![],
    };
    let note = sign_checkpoint(&checkpoint, &shared.opts.signer)
        .map_err(LogError::Sign)?
        .to_bytes();
    storage.write_checkpoint(CheckpointKind::Sequenced, &note)?;

    for (tile, data) in tiles {
        shared.cache.insert(&tile, Bytes::from(data));
    }
    shared.counters.record_batch(entries.len() as u64);
    let next = Committed {
        checkpoint,
        note: Bytes::from(note),
        edge,
    };
    shared.sequenced.send_replace(next.clone());
    Ok(next)
}

/// Appends `entries` to the right-edge bundle `edge` (the partial bundle of the tree of
/// `size`), returning every bundle that changed: the full ones completed and the new edge.
fn entry_bundles(
    size: u64,
    edge: &mut Vec<Vec<u8>>,
    entries: Vec<Vec<u8>>,
) -> Result<Vec<(Tile, Vec<u8>)>, LogError> {
    let mut out = Vec::new();
    let mut index = size / TILE_WIDTH;
    let mut changed = false;
    for entry in entries {
        edge.push(entry);
        changed = true;
        if edge.len() as u64 == TILE_WIDTH {
            out.push((
                Tile {
                    level: TileLevel::Entries,
                    index,
                    width: TILE_WIDTH,
                },
                encode(edge)?,
            ));
            edge.clear();
            index += 1;
            changed = false;
        }
    }
    if changed {
        out.push((
            Tile {
                level: TileLevel::Entries,
                index,
                width: edge.len() as u64,
            },
            encode(edge)?,
        ));
    }
    Ok(out)
}

fn encode(entries: &[Vec<u8>]) -> Result<Vec<u8>, LogError> {
    encode_entry_bundle(entries).map_err(|e| LogError::Corrupt {
        what: "entry bundle".into(),
        detail: e.to_string(),
    })
}

/// Re-reads the committed tree from storage after a failure; publishes the result to the
/// `sequenced` channel (a checkpoint write reported failed may in fact have persisted).
fn recover_in_place(shared: &Shared) -> Result<Committed, LogError> {
    match recover(
        shared.storage.as_ref(),
        &shared.cache,
        &shared.opts.signer,
        shared.parse,
    ) {
        Ok(recovered) => {
            shared.sequenced.send_replace(recovered.committed.clone());
            Ok(recovered.committed)
        }
        Err(e) => {
            tracing::error!(error = %e, "recovery failed; adds fail until storage recovers");
            Err(e)
        }
    }
}

fn fail_all(batch: Vec<PendingAdd>, error: LogError) {
    let error = BatchError::new(error);
    for add in batch {
        let _ = add.reply.send(Outcome::Failed(error.clone()));
    }
}
