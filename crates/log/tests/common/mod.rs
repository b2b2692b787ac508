//! Helpers shared by the log core's integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bintrail_log::{Added, LogOptions};
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::note::{KeyType, Signer, Verifier};
use bintrail_tlog::pypi::{Checksum, Entry, Publisher};
use bintrail_tlog::tree::verify_record;

pub const ORIGIN: &str = "example.com/bintrail-test";

/// A fixed test key: tests are deterministic.
pub fn signer() -> Signer {
    Signer::generate(ORIGIN, KeyType::Ed25519, [7; 32]).expect("valid test key")
}

pub fn verifier() -> Verifier {
    signer().verifier()
}

/// Options for a test log: a short interval so tests run fast.
pub fn options(dir: &Path) -> LogOptions {
    LogOptions {
        data_dir: dir.to_path_buf(),
        signer: signer(),
        checkpoint_interval: Duration::from_millis(20),
        max_batch_entries: 10_000,
        max_pending_entries: 200_000,
        add_timeout: Duration::from_secs(10),
    }
}

/// Entry number `i` of a test: a unique sdist name and a digest derived from `i` and `salt`.
pub fn entry(i: u64, salt: u8) -> Entry {
    let mut digest = [salt; 32];
    digest[..8].copy_from_slice(&i.to_be_bytes());
    Entry {
        checksum: Checksum::from_digest(digest),
        filename: format!("pkg{i}-1.0.tar.gz")
            .parse()
            .expect("valid test filename"),
        publisher: None,
    }
}

/// Like [`entry`], with a Trusted Publisher.
pub fn entry_with_publisher(i: u64, subject: &str) -> Entry {
    Entry {
        publisher: Some(Publisher {
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: subject.into(),
        }),
        ..entry(i, 0)
    }
}

/// Opens a checkpoint note with the test key. Remembers notes it opened: tests check
/// thousands of proofs against a handful of checkpoints, and Ed25519 in a debug build is slow.
pub fn open(note: &[u8]) -> Checkpoint {
    static OPENED: Mutex<Option<HashMap<Vec<u8>, Checkpoint>>> = Mutex::new(None);
    let mut opened = OPENED.lock().unwrap();
    let opened = opened.get_or_insert_with(HashMap::new);
    if let Some(cp) = opened.get(note) {
        return cp.clone();
    }
    let cp = open_checkpoint(note, &verifier())
        .expect("checkpoint verifies with the log key")
        .0;
    opened.insert(note.to_vec(), cp.clone());
    cp
}

/// Verifies an add's proof with crates/tlog against its checkpoint; panics with context if not.
pub fn verify(added: &Added, entry: &Entry) {
    assert_eq!(
        added.entry,
        entry.to_bytes(),
        "logged bytes are the entry's encoding"
    );
    let cp = open(&added.checkpoint);
    verify_record(
        &added.inclusion_proof,
        cp.size,
        cp.root_hash,
        added.index,
        leaf_hash(&added.entry),
    )
    .unwrap_or_else(|e| {
        panic!(
            "proof of {} in size {} does not verify: {e}",
            added.index, cp.size
        )
    });
}
