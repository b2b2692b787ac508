//! The publishing seam: a cosigner that fails stalls publishing, not sequencing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bintrail_log::storage::LocalStorage;
use bintrail_log::{AddError, CosignError, CosignRequest, Cosigner, Log};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tree::verify_tree;
use bytes::Bytes;
use common::{entry, open, options, verify};

/// A witness stand-in: checks the consistency proof from the last checkpoint it cosigned,
/// and refuses everything while `down` is set.
#[derive(Clone, Default)]
struct FlakyWitness {
    down: Arc<AtomicBool>,
    last: Arc<Mutex<Option<Checkpoint>>>,
    calls: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl Cosigner for FlakyWitness {
    fn cosign(
        &self,
        req: CosignRequest,
    ) -> impl Future<Output = Result<Bytes, CosignError>> + Send {
        let this = self.clone();
        async move {
            this.calls
                .lock()
                .unwrap()
                .push((req.old_size, req.checkpoint.size));
            if this.down.load(Ordering::SeqCst) {
                return Err(CosignError::Failed("witness down".into()));
            }
            let previous = this.last.lock().unwrap().clone();
            if let Some(old) = previous {
                let proof = req
                    .prover
                    .prove(old.size)
                    .await
                    .map_err(|e| CosignError::Failed(e.into()))?;
                verify_tree(
                    &proof,
                    req.checkpoint.size,
                    req.checkpoint.root_hash,
                    old.size,
                    old.root_hash,
                )
                .map_err(|e| CosignError::Failed(format!("inconsistent: {e}").into()))?;
            }
            *this.last.lock().unwrap() = Some(req.checkpoint.clone());
            Ok(req.signed_note)
        }
    }
}

async fn open_with(dir: &std::path::Path, witness: FlakyWitness, timeout: Duration) -> Log {
    let mut opts = options(dir);
    opts.add_timeout = timeout;
    let storage = LocalStorage::open(dir).unwrap();
    Log::<Entry>::open_with(opts, Arc::new(storage), witness)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_cosigner_makes_adds_pending_while_sequencing_continues() {
    let dir = tempfile::tempdir().unwrap();
    let witness = FlakyWitness::default();
    let timeout = Duration::from_millis(400);
    let log = open_with(dir.path(), witness.clone(), timeout).await;
    log.add(entry(0, 1)).await.unwrap();

    witness.down.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let pending = log.add(entry(1, 1)).await;
    assert_eq!(pending, Err(AddError::Pending { index: 1 }));
    assert!(
        started.elapsed() < timeout + Duration::from_millis(500),
        "Pending came late: {:?}",
        started.elapsed()
    );
    assert_eq!(
        log.add(entry(2, 1)).await,
        Err(AddError::Pending { index: 2 })
    );
    let stats = log.stats();
    assert_eq!(
        stats.sequenced_size, 3,
        "sequencing continues while publishing is stalled"
    );
    assert_eq!(
        stats.tree_size, 1,
        "nothing beyond the published checkpoint is shown"
    );
    assert_eq!(open(&log.checkpoint()).size, 1);
    assert!(
        log.lookup(entry(2, 1).filename.as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert!(stats.publish_failures >= 1);

    witness.down.store(false, Ordering::SeqCst);
    let retried = log.add(entry(1, 1)).await.unwrap();
    assert_eq!(retried.index, 1);
    assert!(retried.existing);
    verify(&retried, &entry(1, 1));
    assert_eq!(open(&log.checkpoint()).size, 3);
    let calls = witness.calls.lock().unwrap().clone();
    assert!(
        calls.iter().any(|&(old, new)| old == 1 && new == 3),
        "publishing resumed from the last published size: {calls:?}"
    );
    log.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_an_unpublished_checkpoint_publishes_it_once_the_witness_returns() {
    let dir = tempfile::tempdir().unwrap();
    let witness = FlakyWitness::default();
    witness.down.store(true, Ordering::SeqCst);
    let log = open_with(dir.path(), witness.clone(), Duration::from_millis(200)).await;
    assert_eq!(
        log.add(entry(0, 1)).await,
        Err(AddError::Pending { index: 0 })
    );
    log.shutdown().await;
    drop(log);

    let witness = FlakyWitness::default();
    let log = open_with(dir.path(), witness, Duration::from_secs(10)).await;
    let added = log.add(entry(0, 1)).await.unwrap();
    assert!(added.existing, "the sequenced entry survived the restart");
    verify(&added, &entry(0, 1));
    log.shutdown().await;
}

/// A cosigner that returns something other than the log's checkpoint must not get it published.
#[derive(Clone)]
struct Tampering;

impl Cosigner for Tampering {
    fn cosign(
        &self,
        req: CosignRequest,
    ) -> impl Future<Output = Result<Bytes, CosignError>> + Send {
        let mut text = req.signed_note.to_vec();
        if let Some(b) = text.iter_mut().find(|b| b.is_ascii_digit()) {
            *b = if *b == b'9' { b'1' } else { *b + 1 };
        }
        std::future::ready(Ok(Bytes::from(text)))
    }
}

#[tokio::test]
async fn a_tampered_cosigned_note_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.add_timeout = Duration::from_millis(200);
    let storage = LocalStorage::open(dir.path()).unwrap();
    let log = Log::<Entry>::open_with(opts, Arc::new(storage), Tampering)
        .await
        .unwrap();
    assert_eq!(
        log.add(entry(0, 1)).await,
        Err(AddError::Pending { index: 0 })
    );
    assert_eq!(open(&log.checkpoint()).size, 0);
    log.shutdown().await;
}
