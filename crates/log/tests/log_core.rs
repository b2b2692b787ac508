//! Library-level tests of the log core: adds, proofs, uniqueness, reopen, tiles.

mod common;

use std::collections::HashMap;
use std::time::Instant;

use bintrail_log::{AddError, Log};
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{Tile, TileLevel};
use bintrail_tlog::tree::{verify_record, verify_tree};
use common::{entry, entry_with_publisher, open, options, verify};

#[tokio::test]
async fn add_returns_a_proof_that_tlog_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    for i in 0..5 {
        let e = entry(i, 1);
        let added = log.add(e.clone()).await.unwrap();
        assert_eq!(added.index, i);
        assert!(!added.existing);
        verify(&added, &e);
        let proof = TlogProof::parse(&added.tlog_proof().to_bytes()).unwrap();
        assert_eq!(proof.extra.as_deref(), Some(e.to_bytes().as_slice()));
        assert_eq!(proof.index, i);
    }
    assert_eq!(open(&log.checkpoint()).size, 5);
    log.shutdown().await;
}

#[tokio::test]
async fn empty_log_publishes_a_size_zero_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let cp = open(&log.checkpoint());
    assert_eq!(cp.size, 0);
    assert_eq!(cp.origin, common::ORIGIN);
    assert_eq!(
        std::fs::read(dir.path().join("checkpoint")).unwrap(),
        log.checkpoint().to_vec()
    );
    log.shutdown().await;
}

#[tokio::test]
async fn same_add_twice_returns_the_existing_entry_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let e = entry_with_publisher(
        3,
        "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1",
    );
    let first = log.add(e.clone()).await.unwrap();
    let again = log.add(e.clone()).await.unwrap();
    assert_eq!(again.index, first.index);
    assert!(again.existing);
    verify(&again, &e);
    assert_eq!(open(&log.checkpoint()).size, 1);
    assert_eq!(log.stats().adds_existing, 1);
    log.shutdown().await;
}

#[tokio::test]
async fn conflicting_add_is_refused_and_leaves_the_size_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let e = entry(9, 1);
    log.add(entry(8, 1)).await.unwrap();
    log.add(e.clone()).await.unwrap();
    let before = log.checkpoint();
    let other_checksum = entry(9, 2);
    let other_publisher = entry_with_publisher(9, "someone-else");
    for bad in [other_checksum, other_publisher] {
        match log.add(bad).await {
            Err(AddError::Conflict { index, logged }) => {
                assert_eq!(index, 1);
                let logged = Entry::parse(&logged.bytes).unwrap();
                assert_eq!(logged.checksum, e.checksum);
                assert_eq!(logged.publisher, None);
            }
            other => panic!("want Conflict, got {other:?}"),
        }
    }
    // Give the sequencer a few intervals: nothing may be appended.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(log.checkpoint(), before);
    assert_eq!(log.stats().sequenced_size, 2);
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conflicting_adds_log_exactly_one_entry_per_filename() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let mut tasks = Vec::new();
    for file in 0..20u64 {
        for salt in 0..10u8 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                (file, salt, log.add(entry(file, salt)).await)
            }));
        }
    }
    let mut winners: HashMap<u64, (u8, u64)> = HashMap::new();
    let mut conflicts = Vec::new();
    for t in tasks {
        let (file, salt, result) = t.await.unwrap();
        match result {
            Ok(added) => {
                verify(&added, &entry(file, salt));
                assert!(
                    winners.insert(file, (salt, added.index)).is_none(),
                    "two winners for file {file}"
                );
            }
            Err(AddError::Conflict { index, logged }) => {
                let checksum = Entry::parse(&logged.bytes).unwrap().checksum;
                conflicts.push((file, index, checksum))
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(winners.len(), 20, "every filename has exactly one winner");
    assert_eq!(conflicts.len(), 20 * 9);
    for (file, index, checksum) in conflicts {
        let (salt, won_at) = winners[&file];
        assert_eq!(index, won_at);
        assert_eq!(checksum, entry(file, salt).checksum);
    }
    assert_eq!(open(&log.checkpoint()).size, 20);
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_adds_coalesce_into_one_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { log.add(entry(1, 1)).await })
        })
        .collect();
    let mut indexes = Vec::new();
    for t in tasks {
        indexes.push(t.await.unwrap().unwrap().index);
    }
    assert!(indexes.iter().all(|&i| i == 0));
    assert_eq!(open(&log.checkpoint()).size, 1);
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_many_sequences_100_000_entries_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let entries: Vec<_> = (0..100_000).map(|i| entry(i, 5)).collect();
    let started = Instant::now();
    let results = log.add_many(entries.clone()).await;
    let elapsed = started.elapsed();
    eprintln!(
        "add_many: 100000 entries in {elapsed:?} ({:.0}/s)",
        100_000.0 / elapsed.as_secs_f64()
    );
    assert_eq!(results.len(), entries.len());
    let mut seen = vec![false; entries.len()];
    for (e, r) in entries.iter().zip(&results) {
        let added = r
            .as_ref()
            .unwrap_or_else(|err| panic!("{}: {err}", e.filename));
        assert!(
            !std::mem::replace(&mut seen[added.index as usize], true),
            "index {} reused",
            added.index
        );
    }
    for r in results.iter().step_by(997) {
        let added = r.as_ref().unwrap();
        let cp = open(&added.checkpoint);
        verify_record(
            &added.inclusion_proof,
            cp.size,
            cp.root_hash,
            added.index,
            leaf_hash(&added.entry),
        )
        .unwrap();
    }
    // Duplicates and conflicts within one bulk call: first wins, results stay in order.
    let again = log
        .add_many(vec![
            entry(7, 5),
            entry(100_000, 1),
            entry(100_000, 2),
            entry(7, 6),
        ])
        .await;
    assert!(again[0].as_ref().unwrap().existing);
    assert_eq!(again[1].as_ref().unwrap().index, 100_000);
    assert!(matches!(
        again[2],
        Err(AddError::Conflict { index: 100_000, .. })
    ));
    assert!(matches!(again[3], Err(AddError::Conflict { .. })));
    assert_eq!(open(&log.checkpoint()).size, 100_001);
    log.shutdown().await;
}

#[tokio::test]
async fn reopen_keeps_entries_uniqueness_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    let entries: Vec<_> = (0..300).map(|i| entry(i, 3)).collect();
    log.add_many(entries.clone())
        .await
        .into_iter()
        .for_each(|r| drop(r.unwrap()));
    let checkpoint = log.checkpoint();
    log.shutdown().await;
    assert!(matches!(
        log.add(entry(1000, 0)).await,
        Err(AddError::ShuttingDown)
    ));
    drop(log);

    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    assert_eq!(
        log.checkpoint(),
        checkpoint,
        "the published checkpoint survives a restart"
    );
    let again = log.add(entries[299].clone()).await.unwrap();
    assert!(again.existing);
    assert_eq!(again.index, 299);
    assert!(matches!(
        log.add(entry(42, 4)).await,
        Err(AddError::Conflict { index: 42, .. })
    ));
    let looked_up = log
        .lookup(entries[42].filename.as_str())
        .await
        .unwrap()
        .unwrap();
    verify(&looked_up, &entries[42]);
    assert!(
        log.lookup(entry(5000, 0).filename.as_str())
            .await
            .unwrap()
            .is_none()
    );
    let next = log.add(entry(300, 3)).await.unwrap();
    assert_eq!(next.index, 300);
    log.shutdown().await;
}

#[tokio::test]
async fn full_tiles_never_change_after_more_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    log.add_many((0..600).map(|i| entry(i, 1)).collect())
        .await
        .into_iter()
        .for_each(|r| drop(r.unwrap()));
    let old = open(&log.checkpoint());
    let full = [
        Tile {
            level: TileLevel::Hash(0),
            index: 0,
            width: 256,
        },
        Tile {
            level: TileLevel::Hash(0),
            index: 1,
            width: 256,
        },
        Tile {
            level: TileLevel::Entries,
            index: 0,
            width: 256,
        },
        Tile {
            level: TileLevel::Entries,
            index: 1,
            width: 256,
        },
    ];
    let partial = [
        Tile {
            level: TileLevel::Hash(0),
            index: 2,
            width: 88,
        },
        Tile {
            level: TileLevel::Hash(1),
            index: 0,
            width: 2,
        },
        Tile {
            level: TileLevel::Entries,
            index: 2,
            width: 88,
        },
    ];
    let mut before = Vec::new();
    for t in full.iter().chain(&partial) {
        before.push(
            log.read_tile(t)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{} missing", t.path())),
        );
    }
    let beyond = Tile {
        level: TileLevel::Hash(0),
        index: 2,
        width: 89,
    };
    assert!(
        log.read_tile(&beyond).await.unwrap().is_none(),
        "never serve beyond the published tree"
    );
    assert!(
        log.read_tile(&Tile {
            level: TileLevel::Entries,
            index: 3,
            width: 1
        })
        .await
        .unwrap()
        .is_none()
    );

    for round in 0..5u64 {
        let batch = (0..150).map(|i| entry(1000 + round * 150 + i, 2)).collect();
        log.add_many(batch)
            .await
            .into_iter()
            .for_each(|r| drop(r.unwrap()));
    }
    let new = open(&log.checkpoint());
    assert_eq!(new.size, 1350);
    for (t, data) in full.iter().chain(&partial).zip(&before) {
        let now = log.read_tile(t).await.unwrap().unwrap();
        assert_eq!(&now, data, "{} changed after more appends", t.path());
    }
    for t in &full {
        assert_eq!(
            std::fs::read(dir.path().join(t.path())).unwrap(),
            log.read_tile(t).await.unwrap().unwrap()
        );
    }
    // The old checkpoint is consistent with the new one.
    let shared = log.prove_consistency(new.size, old.size).await.unwrap();
    verify_tree(&shared, new.size, new.root_hash, old.size, old.root_hash).unwrap();
    log.shutdown().await;
}

#[tokio::test]
async fn two_logs_cannot_open_one_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    assert!(Log::<Entry>::open(options(dir.path())).await.is_err());
    log.shutdown().await;
}

#[tokio::test]
async fn a_data_dir_of_another_log_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::<Entry>::open(options(dir.path())).await.unwrap();
    log.add(entry(1, 1)).await.unwrap();
    log.shutdown().await;
    drop(log);
    let mut opts = options(dir.path());
    opts.signer = bintrail_tlog::note::Signer::generate(
        common::ORIGIN,
        bintrail_tlog::note::KeyType::Ed25519,
        [9; 32],
    )
    .unwrap();
    match Log::<Entry>::open(opts).await {
        Err(bintrail_log::LogError::BadCheckpoint { .. }) => {}
        Err(e) => panic!("want BadCheckpoint, got {e}"),
        Ok(_) => panic!("opened a data dir signed by another key"),
    }
}

#[tokio::test]
async fn overloaded_pool_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.max_pending_entries = 2;
    opts.checkpoint_interval = std::time::Duration::from_secs(3600);
    opts.max_batch_entries = 100;
    let log = Log::<Entry>::open(opts).await.unwrap();
    let a = tokio::spawn({
        let log = log.clone();
        async move { log.add(entry(1, 1)).await }
    });
    let b = tokio::spawn({
        let log = log.clone();
        async move { log.add(entry(2, 1)).await }
    });
    // Bounded, so a regression fails the test instead of hanging it.
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while log.stats().pending_entries < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("both adds are pooled within 30 s");
    assert_eq!(log.add(entry(3, 1)).await, Err(AddError::Overloaded));
    // Shutdown sequences what is pooled.
    log.shutdown().await;
    assert_eq!(
        a.await.unwrap().unwrap().index + b.await.unwrap().unwrap().index,
        1
    );
    assert_eq!(log.stats().adds_overloaded, 1);
}
