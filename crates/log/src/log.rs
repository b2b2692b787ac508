//! The log handle's lifecycle and reads: [`Log::open`], the checkpoint, tiles, lookups,
//! statistics and [`Log::shutdown`]. Adds are in `add.rs`; see `state.rs` for who owns what.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bintrail_tlog::bundle::encode_entry_bundle;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::{HASH_SIZE, Hash};
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel};
use bytes::Bytes;
use tokio::sync::watch;

pub use crate::add::Added;
use crate::cosign::{Cosigner, NoWitness};
pub use crate::error::{AddError, BatchError, LogError};
use crate::follow::{first_published, followed};
use crate::integrity::{CheckedTiles, Tree};
use crate::pool::Pool;
use crate::prove::{prove_consistency, prove_stored};
use crate::publisher::run_publisher;
use crate::recovery::{read_bundle, recover};
use crate::sequencer::run_sequencer;
pub use crate::state::{Log, LogOptions};
use crate::state::{Published, Shared, blocking, lock_task, parse_entry};
use crate::stats::{Counters, LogStats};
use crate::storage::{LocalStorage, Storage};
use crate::tiles::TileCache;

impl<E: EntryKind> Log<E> {
    /// Opens (creating if absent) the log of `E` entries in `opts.data_dir` on the embedded
    /// [`LocalStorage`],
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
    ) -> Result<Log<E>, LogError> {
        let cache = TileCache::new();
        let (signer, st) = (opts.signer.clone(), storage.clone());
        // A frontend that does not hold a shared backend's lease follows the published tree
        // (follow.rs); the sequencer recovers once it takes the lease.
        let (recovered, cache) = tokio::task::spawn_blocking(move || {
            let r = match first_published(st.as_ref(), &signer.verifier()) {
                Ok(Some((checkpoint, note))) => Ok((
                    None,
                    followed(checkpoint.clone(), note.clone()),
                    (checkpoint, note),
                )),
                Ok(None) => recover(st.as_ref(), &cache, &signer, parse_entry::<E>)
                    .map(|r| (Some(r.committed.clone()), r.committed, r.published)),
                Err(e) => Err(e),
            };
            (r, cache)
        })
        .await
        .map_err(|_| LogError::Closed)?;
        let (state, committed, (published_cp, published_note)) = recovered?;
        let published = Published {
            checkpoint: published_cp,
            note: published_note,
            since: Instant::now(),
        };
        let pool = Pool::new(opts.max_pending_entries, opts.max_batch_entries);
        let shared = Arc::new(Shared {
            opts,
            storage,
            parse: parse_entry::<E>,
            cache,
            sequenced: watch::Sender::new(committed),
            published: watch::Sender::new(published),
            pool,
            stop: watch::Sender::new(false),
            counters: Counters::default(),
            checked: CheckedTiles::default(),
            sequencer_task: Mutex::new(None),
            publisher_task: Mutex::new(None),
        });
        let sequencer = tokio::spawn(run_sequencer(shared.clone(), state));
        let publisher = tokio::spawn(run_publisher(shared.clone(), cosigner));
        *lock_task(&shared.sequencer_task) = Some(sequencer);
        *lock_task(&shared.publisher_task) = Some(publisher);
        Ok(Log {
            shared,
            kind: PhantomData,
        })
    }

    /// The latest published checkpoint note (served at `GET /checkpoint`).
    pub fn checkpoint(&self) -> Bytes {
        self.shared.published.borrow().note.clone()
    }

    /// The hash tile or entry bundle `tile` as served at `GET /<tile.path()>`, or `None` when
    /// the published tree does not cover it at that width. A partial tile narrower than the
    /// published one is cut from it, so every width a published checkpoint implied is served.
    ///
    /// An entry bundle or a full hash tile is checked against the tree the first time this
    /// process serves it (see `integrity.rs`); one that does not match is
    /// [`LogError::Corrupt`], never served.
    pub async fn read_tile(&self, tile: &Tile) -> Result<Option<Bytes>, LogError> {
        let (size, root) = {
            let published = self.shared.published.borrow();
            (published.checkpoint.size, published.checkpoint.root_hash)
        };
        let data = self.read_tile_unchecked(tile, size).await?;
        match data {
            Some(data) if self.shared.checked.needs_check(tile) => {
                let (shared, checked, want) = (self.shared.clone(), data.clone(), *tile);
                blocking(move || {
                    Tree {
                        storage: shared.storage.as_ref(),
                        cache: &shared.cache,
                        checked: &shared.checked,
                        size,
                        root,
                    }
                    .check_served(&want, &checked)
                })
                .await??;
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

    /// The logged entry named exactly `name` ([`EntryKind::name`]; for PyPI the filename)
    /// with a fresh proof against the latest published checkpoint, or `None` if no
    /// published checkpoint covers an entry of that name.
    pub async fn lookup(&self, name: &str) -> Result<Option<Added>, LogError> {
        let published = self.shared.published.borrow().clone();
        let size = published.checkpoint.size;
        let (shared, name) = (self.shared.clone(), name.to_owned());
        // One blocking hop for both the index read and the proof.
        let found = blocking(move || -> Result<_, LogError> {
            let record = shared
                .storage
                .lookup(&[name.as_str()])?
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
            entry: record.entry.bytes,
            checkpoint: published.note,
            inclusion_proof,
            existing: true,
        }))
    }

    /// Whether this process can sequence now: always on the embedded storage; with
    /// [`crate::storage::CloudStorage`], while it holds the sequencing lease.
    pub fn can_sequence(&self) -> bool {
        self.shared.storage.can_sequence()
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
        stats.pending_entries = self.shared.pool.len() as u64;
        stats
    }

    /// Stops accepting adds, sequences what is pooled, waits up to `add_timeout` for it to be
    /// published, stops the background tasks and returns. Later adds get
    /// [`AddError::ShuttingDown`]; reads keep working.
    pub async fn shutdown(&self) {
        let shared = &self.shared;
        shared.pool.stop_accepting();
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

    /// Builds a consistency proof from the tree of `old_size` to the tree of `size`, where
    /// `size` must not exceed the sequenced size (cosigners prove checkpoints not yet published).
    pub async fn prove_consistency(&self, size: u64, old_size: u64) -> Result<Vec<Hash>, LogError> {
        prove_consistency(&self.shared, size, old_size).await
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
        let size = available.index * TILE_WIDTH + available.width;
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
