//! Crash safety: every write of the commit sequence fails once, first without persisting
//! and then after persisting (reported failed); once with the log carrying on, once with
//! the "process" dying at that instant. Afterwards the whole state is re-verified.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bintrail_log::storage::{
    CheckpointKind, IndexRecord, LocalStorage, Outage, Storage, StorageError,
};
use bintrail_log::{AddError, Added, Log, NoWitness};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::pypi::{Entry, Filename};
use bintrail_tlog::tile::{Tile, TileLevel};
use bintrail_tlog::tree::verify_tree;
use common::{entry, open, options, verify};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    WriteTiles,
    AppendIndex,
    WriteSequenced,
    WritePublished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    NotPersisted,
    PersistedButFailed,
}

/// Wraps the embedded storage; fails one write as armed, and after a "crash" fails
/// everything and releases the data directory (as a dead process would).
struct Faulty {
    inner: Mutex<Option<Arc<LocalStorage>>>,
    armed: Mutex<Option<(Step, Mode, bool)>>,
    fired: AtomicBool,
}

impl Faulty {
    fn open(dir: &std::path::Path) -> Arc<Faulty> {
        Arc::new(Faulty {
            inner: Mutex::new(Some(Arc::new(LocalStorage::open(dir).unwrap()))),
            armed: Mutex::new(None),
            fired: AtomicBool::new(false),
        })
    }

    fn arm(&self, step: Step, mode: Mode, crash: bool) {
        *self.armed.lock().unwrap() = Some((step, mode, crash));
    }

    fn inner(&self) -> Result<Arc<LocalStorage>, StorageError> {
        self.inner
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| StorageError::Unavailable(Outage::Other("crashed".into())))
    }

    /// Runs a write, injecting the armed fault if it is for `step`.
    fn write(
        &self,
        step: Step,
        op: impl FnOnce(&LocalStorage) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let inner = self.inner()?;
        let fault = {
            let mut armed = self.armed.lock().unwrap();
            match *armed {
                Some((s, mode, crash)) if s == step => {
                    *armed = None;
                    Some((mode, crash))
                }
                _ => None,
            }
        };
        let Some((mode, crash)) = fault else {
            return op(&inner);
        };
        if mode == Mode::PersistedButFailed {
            op(&inner)?;
        }
        self.fired.store(true, Ordering::SeqCst);
        if crash {
            self.inner.lock().unwrap().take();
        }
        Err(StorageError::Unavailable(Outage::Other(
            format!("injected failure at {step:?} ({mode:?})").into(),
        )))
    }
}

impl Storage for Faulty {
    fn read_checkpoint(&self, kind: CheckpointKind) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner()?.read_checkpoint(kind)
    }
    fn write_checkpoint(&self, kind: CheckpointKind, note: &[u8]) -> Result<(), StorageError> {
        let step = match kind {
            CheckpointKind::Sequenced => Step::WriteSequenced,
            CheckpointKind::Published => Step::WritePublished,
        };
        self.write(step, |s| s.write_checkpoint(kind, note))
    }
    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner()?.read_tile(tile)
    }
    fn write_tiles(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<(), StorageError> {
        self.write(Step::WriteTiles, |s| s.write_tiles(tiles))
    }
    fn lookup(&self, names: &[&str]) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        self.inner()?.lookup(names)
    }
    fn lookup_for_append(
        &self,
        identifiers: &[&str],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        self.inner()?.lookup_for_append(identifiers)
    }
    fn index_size(&self) -> Result<u64, StorageError> {
        self.inner()?.index_size()
    }
    fn append_index(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        self.write(Step::AppendIndex, |s| s.append_index(records))
    }
    fn truncate_index(&self, size: u64) -> Result<(), StorageError> {
        self.inner()?.truncate_index(size)
    }
}

/// What a test remembers to re-verify: acknowledged adds, published checkpoints, full tiles.
#[derive(Default)]
struct History {
    acked: Vec<(Entry, Added)>,
    checkpoints: Vec<Checkpoint>,
    full_tiles: Vec<(Tile, bytes::Bytes)>,
}

impl History {
    fn record(&mut self, e: &Entry, added: Added) {
        verify(&added, e);
        self.checkpoints.push(open(&added.checkpoint));
        self.acked.push((e.clone(), added));
    }

    async fn snapshot_full_tiles(&mut self, log: &Log) {
        let size = open(&log.checkpoint()).size;
        for index in 0..size / 256 {
            for level in [TileLevel::Hash(0), TileLevel::Entries] {
                let tile = Tile {
                    level,
                    index,
                    width: 256,
                };
                self.full_tiles
                    .push((tile, log.read_tile(&tile).await.unwrap().unwrap()));
            }
        }
    }

    /// Re-verifies everything against a freshly opened log.
    async fn check(&self, log: &Log) {
        let newest = open(&log.checkpoint());
        for old in &self.checkpoints {
            let proof = log.prove_consistency(newest.size, old.size).await.unwrap();
            verify_tree(
                &proof,
                newest.size,
                newest.root_hash,
                old.size,
                old.root_hash,
            )
            .unwrap_or_else(|e| {
                panic!(
                    "published size {} is not consistent with {}: {e}",
                    old.size, newest.size
                )
            });
        }
        for (e, added) in &self.acked {
            let found = log
                .lookup(e.filename.as_str())
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("lost {}", e.filename));
            assert_eq!(found.index, added.index, "{} moved", e.filename);
            verify(&found, e);
        }
        for (tile, data) in &self.full_tiles {
            assert_eq!(
                &log.read_tile(tile).await.unwrap().unwrap(),
                data,
                "{} changed",
                tile.path()
            );
        }
    }
}

async fn open_faulty(dir: &std::path::Path, storage: Arc<Faulty>) -> Log {
    let mut opts = options(dir);
    opts.add_timeout = Duration::from_millis(500);
    Log::<Entry>::open_with(opts, storage, NoWitness)
        .await
        .unwrap()
}

/// Fills the log past a full tile so later batches touch full and partial tiles.
async fn fill(log: &Log, history: &mut History, from: u64, n: u64) {
    let entries: Vec<_> = (from..from + n).map(|i| entry(i, 1)).collect();
    for (e, r) in entries.iter().zip(log.add_many(entries.clone()).await) {
        history.record(e, r.unwrap());
    }
}

async fn fault_then_carry_on(step: Step, mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Faulty::open(dir.path());
    let log = open_faulty(dir.path(), storage.clone()).await;
    let mut history = History::default();
    fill(&log, &mut history, 0, 300).await;
    history.snapshot_full_tiles(&log).await;

    storage.arm(step, mode, false);
    let victim = entry(10_000, 1);
    let result = log.add(victim.clone()).await;
    assert!(
        storage.fired.load(Ordering::SeqCst),
        "{step:?} was never reached"
    );
    match (step, &result) {
        // A failed publish is retried on the next interval; the add still succeeds.
        (Step::WritePublished, Ok(added)) => history.record(&victim, added.clone()),
        (Step::WritePublished, other) => panic!("want Ok after a publish retry, got {other:?}"),
        (_, Err(AddError::Storage(error))) => {
            assert!(error.to_string().contains("injected"), "{error}")
        }
        (_, other) => panic!("want a Storage error, got {other:?}"),
    }
    // The log carries on: a retry of the failed add works (as a new or existing entry).
    let retried = log.add(victim.clone()).await.unwrap();
    if step == Step::WriteSequenced && mode == Mode::PersistedButFailed {
        assert!(
            retried.existing,
            "the commit point was persisted, so the entry is logged"
        );
    }
    if !history.acked.iter().any(|(e, _)| *e == victim) {
        history.record(&victim, retried);
    }
    fill(&log, &mut history, 20_000, 300).await;
    history.check(&log).await;
    log.shutdown().await;
    drop(log);
    drop(storage);

    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    history.check(&log).await;
    log.shutdown().await;
}

async fn fault_then_crash(step: Step, mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Faulty::open(dir.path());
    let log = open_faulty(dir.path(), storage.clone()).await;
    let mut history = History::default();
    fill(&log, &mut history, 0, 300).await;
    history.snapshot_full_tiles(&log).await;
    let before = open(&log.checkpoint()).size;

    storage.arm(step, mode, true);
    let victim = entry(10_000, 1);
    let result = log.add(victim.clone()).await;
    assert!(
        storage.fired.load(Ordering::SeqCst),
        "{step:?} was never reached"
    );
    assert!(
        result.is_err(),
        "nothing can be acknowledged once the process died: {result:?}"
    );

    // "Restart": a new process opens the same directory.
    let restarted = Log::<Entry>::open(options(dir.path())).await.unwrap();
    history.check(&restarted).await;
    let committed = matches!(
        (step, mode),
        (Step::WriteSequenced, Mode::PersistedButFailed) | (Step::WritePublished, _)
    );
    let size = restarted.stats().sequenced_size;
    assert_eq!(
        size,
        before + u64::from(committed),
        "sequenced size after restart"
    );
    let again = restarted.add(victim.clone()).await.unwrap();
    assert_eq!(again.existing, committed);
    verify(&again, &victim);
    fill(&restarted, &mut history, 20_000, 300).await;
    history.check(&restarted).await;
    restarted.shutdown().await;
    drop(log);
}

macro_rules! fault_tests {
    ($($name:ident: $step:ident, $mode:ident;)*) => {
        mod carry_on {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { fault_then_carry_on(Step::$step, Mode::$mode).await })*
        }
        mod crash {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { fault_then_crash(Step::$step, Mode::$mode).await })*
        }
    };
}

fault_tests! {
    tiles_not_persisted: WriteTiles, NotPersisted;
    tiles_persisted_but_failed: WriteTiles, PersistedButFailed;
    index_not_persisted: AppendIndex, NotPersisted;
    index_persisted_but_failed: AppendIndex, PersistedButFailed;
    sequenced_checkpoint_not_persisted: WriteSequenced, NotPersisted;
    sequenced_checkpoint_persisted_but_failed: WriteSequenced, PersistedButFailed;
    published_checkpoint_not_persisted: WritePublished, NotPersisted;
    published_checkpoint_persisted_but_failed: WritePublished, PersistedButFailed;
}

#[tokio::test]
async fn index_rows_lost_below_the_checkpoint_are_rebuilt_and_rows_beyond_it_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let mut history = History::default();
    fill(&log, &mut history, 0, 700).await;
    log.shutdown().await;
    drop(log);

    let db = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
    db.execute("DELETE FROM entries WHERE idx >= 123", [])
        .unwrap();
    drop(db);
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    history.check(&log).await;
    assert!(matches!(
        log.add(entry(500, 2)).await,
        Err(AddError::Conflict { index: 500, .. })
    ));
    log.shutdown().await;
    drop(log);

    // A row beyond the checkpoint (a batch that never committed) is dropped on open.
    let db = rusqlite::Connection::open(dir.path().join("index.sqlite")).unwrap();
    db.execute(
        "INSERT INTO entries (idx, name, identifier, digest, entry) VALUES (700, 'ghost-1.0.tar.gz', 'sdist ghost 1.0', zeroblob(32), x'')",
        [],
    )
    .unwrap();
    drop(db);
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let ghost: Filename = "ghost-1.0.tar.gz".parse().unwrap();
    assert!(log.lookup(ghost.as_str()).await.unwrap().is_none());
    let mut e = entry(1, 9);
    e.filename = ghost;
    assert_eq!(log.add(e).await.unwrap().index, 700);
    history.check(&log).await;
    log.shutdown().await;
}

#[tokio::test]
async fn a_corrupted_tile_is_detected_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    fill(&log, &mut History::default(), 0, 10).await;
    log.shutdown().await;
    drop(log);
    let path = dir.path().join("tile/0/000.p/10");
    let mut data = std::fs::read(&path).unwrap();
    data[300] ^= 1;
    std::fs::write(&path, data).unwrap();
    match Log::<Entry>::open(options(dir.path())).await {
        Err(bintrail_log::LogError::Corrupt { .. }) => {}
        Err(e) => panic!("want Corrupt, got {e}"),
        Ok(_) => panic!("opened a log whose tiles do not match its checkpoint"),
    }
}
