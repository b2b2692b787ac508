//! The storage seam takes a second backend: an in-memory `Storage` written against the
//! trait's contract alone runs the whole log (adds, repeats, conflicts, tile reads, reopen
//! with recovery), with the sequencer unchanged.
//!
//! The fake also checks the caller's side of the contract: index rows must continue the
//! index without gaps, keys must be new, and the sequencer never rewrites a tile that the
//! sequenced checkpoint already covers in full.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bintrail_log::storage::{CheckpointKind, IndexRecord, Storage, StorageError, StoredEntry};
use bintrail_log::{AddError, Log, NoWitness};
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{Tile, TileLevel};
use common::{entry, open, options, verify};

/// Everything in memory: checkpoints, tiles by path, and the index by name and identifier.
#[derive(Default)]
struct MemoryStorage {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    checkpoints: HashMap<&'static str, Vec<u8>>,
    tiles: HashMap<Tile, Vec<u8>>,
    index: BTreeMap<u64, IndexRecord>,
    by_name: HashMap<String, u64>,
    by_identifier: HashMap<String, u64>,
    /// Full tiles written so far: writing one twice would break "never rewritten".
    full: HashMap<Tile, Vec<u8>>,
}

impl MemoryStorage {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

fn key(kind: CheckpointKind) -> &'static str {
    match kind {
        CheckpointKind::Sequenced => "sequenced",
        CheckpointKind::Published => "published",
    }
}

impl Storage for MemoryStorage {
    fn read_checkpoint(&self, kind: CheckpointKind) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().checkpoints.get(key(kind)).cloned())
    }

    fn write_checkpoint(&self, kind: CheckpointKind, note: &[u8]) -> Result<(), StorageError> {
        self.lock().checkpoints.insert(key(kind), note.to_vec());
        Ok(())
    }

    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().tiles.get(tile).cloned())
    }

    fn write_tiles(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<(), StorageError> {
        let mut state = self.lock();
        for (tile, data) in tiles {
            if tile.is_full() {
                let previous = state.full.insert(*tile, data.clone());
                assert!(
                    previous.is_none_or(|p| &p == data),
                    "full tile {tile} rewritten with other data"
                );
            }
            state.tiles.insert(*tile, data.clone());
        }
        Ok(())
    }

    fn lookup(&self, names: &[&str]) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let state = self.lock();
        Ok(names
            .iter()
            .map(|name| state.index.get(state.by_name.get(*name)?).cloned())
            .collect())
    }

    fn lookup_for_append(
        &self,
        identifiers: &[&str],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let state = self.lock();
        Ok(identifiers
            .iter()
            .map(|id| state.index.get(state.by_identifier.get(*id)?).cloned())
            .collect())
    }

    fn index_size(&self) -> Result<u64, StorageError> {
        Ok(self.lock().index.len() as u64)
    }

    fn append_index(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        let mut state = self.lock();
        let first = state.index.len() as u64;
        for (next, record) in (first..).zip(records) {
            if record.index != next {
                return Err(StorageError::Gap {
                    expected: next,
                    got: record.index,
                });
            }
            let (name, id) = (&record.entry.name, &record.entry.identifier);
            let twice = |same: &dyn Fn(&IndexRecord) -> bool| {
                records.iter().filter(|r| same(r)).count() > 1
            };
            if state.by_name.contains_key(name)
                || id
                    .as_ref()
                    .is_some_and(|id| state.by_identifier.contains_key(id))
                || twice(&|r| &r.entry.name == name)
                || (id.is_some() && twice(&|r| &r.entry.identifier == id))
            {
                return Err(StorageError::Duplicate { name: name.clone() });
            }
        }
        for record in records {
            let e = &record.entry;
            state.by_name.insert(e.name.clone(), record.index);
            if let Some(id) = &e.identifier {
                state.by_identifier.insert(id.clone(), record.index);
            }
            state.index.insert(record.index, record.clone());
        }
        Ok(())
    }

    fn truncate_index(&self, size: u64) -> Result<(), StorageError> {
        let mut state = self.lock();
        let dropped = state.index.split_off(&size);
        for record in dropped.values() {
            state.by_name.remove(&record.entry.name);
            if let Some(id) = &record.entry.identifier {
                state.by_identifier.remove(id);
            }
        }
        Ok(())
    }
}

async fn open_memory(storage: &Arc<MemoryStorage>) -> Log {
    let dir = std::path::Path::new("/nonexistent/memory-storage-is-not-on-disk");
    let storage: Arc<dyn Storage> = storage.clone();
    Log::<Entry>::open_with(options(dir), storage, NoWitness)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_log_runs_on_an_in_memory_backend() {
    let storage = Arc::new(MemoryStorage::default());
    let log = open_memory(&storage).await;
    let entries: Vec<_> = (0..300).map(|i| entry(i, 1)).collect();
    let results = log.add_many(entries.clone()).await;
    for (i, (result, e)) in results.iter().zip(&entries).enumerate() {
        let added = result.as_ref().unwrap();
        assert_eq!(added.index, i as u64);
        verify(added, e);
    }
    // A repeat is the existing entry; another checksum for a logged filename conflicts.
    let again = log.add(entries[7].clone()).await.unwrap();
    assert!(again.existing);
    assert_eq!(again.index, 7);
    match log.add(entry(7, 2)).await {
        Err(AddError::Conflict { index: 7, .. }) => {}
        other => panic!("want a conflict at 7, got {other:?}"),
    }
    // Tiles are served from the backend: a full level-0 tile and the partial bundle.
    let full = Tile::new(TileLevel::Hash(0), 0, 256).unwrap();
    assert_eq!(log.read_tile(&full).await.unwrap().unwrap().len(), 256 * 32);
    let bundle = Tile::new(TileLevel::Entries, 1, 44).unwrap();
    assert!(log.read_tile(&bundle).await.unwrap().is_some());
    assert_eq!(storage.index_size().unwrap(), 300);
    log.shutdown().await;
}

#[tokio::test]
async fn reopening_recovers_from_the_in_memory_backend() {
    let storage = Arc::new(MemoryStorage::default());
    let log = open_memory(&storage).await;
    for i in 0..10 {
        log.add(entry(i, 1)).await.unwrap();
    }
    log.shutdown().await;
    // Rows beyond the sequenced checkpoint (a batch that never committed) are dropped on
    // open, as recovery promises for every backend.
    let stray = IndexRecord {
        index: 10,
        entry: StoredEntry::of(&entry(99, 1)),
    };
    storage.append_index(&[stray]).unwrap();
    let log = open_memory(&storage).await;
    assert_eq!(storage.index_size().unwrap(), 10);
    assert_eq!(open(&log.checkpoint()).size, 10);
    let added = log.add(entry(99, 1)).await.unwrap();
    assert_eq!(added.index, 10);
    assert!(!added.existing);
    log.shutdown().await;
}
