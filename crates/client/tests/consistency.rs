//! The per-origin checkpoint state: consistent checkpoints advance it, an
//! inconsistent one is a fork kept as evidence, and forged tiles are the log's fault.

mod support;

use bintrail_client::consistency::{Observation, observe_checkpoint_note};
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::state::StateDir;
use bintrail_client::verify::{FailureKind, VerifyError};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::Note;
use support::{ORIGIN, TestLog, TestServer};

fn parse(note: &[u8]) -> Checkpoint {
    Note::parse(note).unwrap().text.parse().unwrap()
}

struct Fixture {
    log: TestLog,
    server: TestServer,
    reader: LogReader,
    state: StateDir,
    _dir: tempfile::TempDir,
}

async fn fixture(size: u64) -> Fixture {
    let mut log = TestLog::new(3, 0);
    log.append_filler(size, "");
    let server = TestServer::start(log.clone(), size, &[]).await;
    let reader = LogReader::new(&server.url, Timeouts::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = StateDir::open(dir.path()).unwrap();
    Fixture {
        log,
        server,
        reader,
        state,
        _dir: dir,
    }
}

impl Fixture {
    async fn observe(&self, note: &[u8]) -> Result<Observation, VerifyError> {
        let key = self.log.signer.verifier();
        observe_checkpoint_note(&self.state, &self.reader, &parse(note), &key, note).await
    }

    fn stored(&self) -> Vec<u8> {
        self.state
            .log(ORIGIN, &self.log.signer.verifier())
            .unwrap()
            .checkpoint()
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn first_same_advanced_older() {
    let f = fixture(1000).await;
    let at = |size| f.log.checkpoint(size, &[]);
    assert_eq!(
        f.observe(&at(300)).await.unwrap(),
        Observation::First { size: 300 }
    );
    assert_eq!(
        f.observe(&at(300)).await.unwrap(),
        Observation::Same { size: 300 }
    );
    assert_eq!(
        f.observe(&at(1000)).await.unwrap(),
        Observation::Advanced {
            from: 300,
            to: 1000
        }
    );
    assert_eq!(f.stored(), at(1000));
    assert_eq!(
        f.observe(&at(513)).await.unwrap(),
        Observation::Older {
            seen: 513,
            stored: 1000
        }
    );
    assert_eq!(
        f.stored(),
        at(1000),
        "an older checkpoint never replaces a newer one"
    );
}

/// Two histories signed by one key: equal up to 5, then different.
fn forked(base: &TestLog, size: u64) -> TestLog {
    let mut other = base.clone();
    other.entries.truncate(5);
    other
        .hashes
        .truncate(bintrail_tlog::tree::stored_hash_count(5) as usize);
    other.append_filler(size - 5, "fork");
    other
}

#[tokio::test]
async fn fork_to_a_larger_tree_is_caught_and_kept() {
    let f = fixture(10).await;
    let old = f.log.checkpoint(10, &[]);
    f.observe(&old).await.unwrap();
    let other = forked(&f.log, 12);
    let new = other.checkpoint(12, &[]);
    f.server.switch(other, 12);
    let err = f.observe(&new).await.unwrap_err();
    let VerifyError::Fork {
        old_size,
        new_size,
        evidence,
        ..
    } = &err
    else {
        panic!("expected a fork, got {err}");
    };
    assert_eq!((*old_size, *new_size), (10, 12));
    assert_eq!(err.kind(), FailureKind::Fork);
    assert_eq!(std::fs::read(evidence.join("old.checkpoint")).unwrap(), old);
    assert_eq!(std::fs::read(evidence.join("new.checkpoint")).unwrap(), new);
    assert_eq!(
        f.stored(),
        old,
        "the stored checkpoint is kept after a fork"
    );
}

#[tokio::test]
async fn fork_at_the_same_size_and_to_a_smaller_tree() {
    let f = fixture(10).await;
    f.observe(&f.log.checkpoint(10, &[])).await.unwrap();
    let other = forked(&f.log, 10);
    let err = f.observe(&other.checkpoint(10, &[])).await.unwrap_err();
    assert!(matches!(err, VerifyError::Fork { .. }), "{err}");
    // Smaller: the proof comes from the stored (larger) tree, served honestly.
    let err = f.observe(&other.checkpoint(7, &[])).await.unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Fork {
                old_size: 10,
                new_size: 7,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn forged_tiles_during_consistency_are_log_misbehaviour() {
    let f = fixture(600).await;
    f.observe(&f.log.checkpoint(300, &[])).await.unwrap();
    f.server.forge("tile/0/001", vec![7; 8192]);
    let err = f.observe(&f.log.checkpoint(600, &[])).await.unwrap_err();
    assert!(matches!(err, VerifyError::LogMisbehaved(_)), "{err}");
    assert_eq!(f.stored(), f.log.checkpoint(300, &[]));
}
