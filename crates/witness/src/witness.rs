//! The witness logic of C2SP tlog-witness `add-checkpoint`, independent of HTTP:
//! verify the log's signature, check consistency with the stored checkpoint,
//! swap the state atomically, and cosign. The refusals are in `error.rs`, the checks
//! of a request against the stored state in `checks.rs`.

use std::sync::Arc;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::cosignature::cosign;
use bintrail_tlog::note::{KeyType, Note, NoteSignature, Signer, Verifier};

use crate::checks::{check_consistency, check_sizes, verify_log_signature};
use crate::error::{AddCheckpointError, MalformedCheckpoint};
use crate::store::{EvidenceKind, LogState, Store, StoreError};
use bintrail_tlog::witness::AddCheckpointRequest;

/// A witness: its signing key and its state.
pub struct Witness {
    store: Arc<Store>,
    signer: Signer,
}

impl Witness {
    /// A witness signing with `signer`, which must be a
    /// [`KeyType::CosignatureV1`] key (checked by [`Witness::new`]).
    pub fn new(store: Arc<Store>, signer: Signer) -> Result<Self, WitnessKeyError> {
        if signer.key_type() != KeyType::CosignatureV1 {
            return Err(WitnessKeyError {
                name: signer.name().to_owned(),
            });
        }
        Ok(Self { store, signer })
    }

    /// The witness's public key, a `cosignature/v1` vkey.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// The state database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Handles one `add-checkpoint` body at time `now` (POSIX seconds, not 0)
    /// and returns the response body: this witness's `cosignature/v1` line.
    /// On any error the stored state is unchanged (evidence may be added).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, AddCheckpointError> {
        let request = AddCheckpointRequest::parse(body)?;
        let note = Note::parse(&request.checkpoint)
            .map_err(|e| AddCheckpointError::MalformedCheckpoint(MalformedCheckpoint::Note(e)))?;
        let checkpoint: Checkpoint = note.text.parse().map_err(|e| {
            AddCheckpointError::MalformedCheckpoint(MalformedCheckpoint::Checkpoint(e))
        })?;
        let state =
            self.store
                .log(&checkpoint.origin)?
                .ok_or_else(|| AddCheckpointError::UnknownLog {
                    origin: checkpoint.origin.clone(),
                })?;
        let log_signatures = verify_log_signature(&note, &state)?;
        check_sizes(&request, &checkpoint, &state)?;
        if let Err(err) = check_consistency(&request, &checkpoint, &state) {
            if matches!(err, AddCheckpointError::RootMismatch { .. }) {
                let submitted = Note {
                    text: note.text.clone(),
                    signatures: log_signatures,
                };
                self.record_fork(&state, &submitted, now)?;
            }
            return Err(err);
        }
        if now == 0 {
            return Err(AddCheckpointError::ClockUnset);
        }
        let cosignature = cosign(&self.signer, &checkpoint, now)
            .map_err(|e| AddCheckpointError::MalformedCheckpoint(MalformedCheckpoint::Cosign(e)))?;
        let mut stored = Note {
            text: note.text.clone(),
            signatures: log_signatures,
        };
        stored.signatures.push(cosignature.clone());
        self.store
            .compare_and_swap(
                &checkpoint.origin,
                (state.size, &state.root_hash),
                (checkpoint.size, &checkpoint.root_hash),
                &stored.to_bytes(),
            )
            .map_err(|err| match err {
                // The old size matched when read; a concurrent request won the
                // swap. Answer as if it had come first: 409 with the new size.
                StoreError::Conflict { current_size } => AddCheckpointError::OldSizeMismatch {
                    old_size: request.old_size,
                    stored_size: current_size,
                },
                other => other.into(),
            })?;
        Ok(signature_line(&cosignature))
    }

    /// The latest cosigned checkpoint note of the log whose origin hashes (SHA-256,
    /// lowercase hex) to `origin_hash`; `None` if unknown or never cosigned.
    pub fn latest_checkpoint(
        &self,
        origin_hash: &str,
    ) -> Result<Option<Vec<u8>>, AddCheckpointError> {
        use sha2::{Digest, Sha256};
        let logs = self.store.logs()?;
        Ok(logs
            .into_iter()
            .find(|log| hex::encode(Sha256::digest(log.origin.as_bytes())) == origin_hash)
            .and_then(|log| log.checkpoint))
    }

    /// Keeps a validly signed checkpoint of the stored size with another root,
    /// with the stored one, as evidence of a split view. `submitted` holds only
    /// the signed text and the log's own signatures, and the row is keyed on the
    /// text, so replays with other proof or signature lines add nothing.
    fn record_fork(
        &self,
        state: &LogState,
        submitted: &Note,
        now: u64,
    ) -> Result<(), AddCheckpointError> {
        // Before the first cosignature there is nothing stored to contradict.
        let Some(stored) = &state.checkpoint else {
            return Ok(());
        };
        let added = self.store.record_evidence(
            &state.origin,
            EvidenceKind::Fork,
            now,
            stored,
            &submitted.to_bytes(),
            submitted.text.as_bytes(),
        )?;
        if added {
            tracing::warn!(origin = %state.origin, "recording evidence of a split view");
        }
        Ok(())
    }
}

/// Returned by [`Witness::new`] for a key that is not a `cosignature/v1` key.
#[derive(Debug, thiserror::Error)]
#[error("witness key {name} is not a cosignature/v1 (type 0x04) key")]
pub struct WitnessKeyError {
    /// The key's name.
    pub name: String,
}

/// Formats a note signature line, `— name base64(key ID || signature)` and a newline.
pub fn signature_line(sig: &NoteSignature) -> String {
    format!("{sig}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::cosignature::verify_cosignature;
    use bintrail_tlog::hash::{Hash, empty_tree_hash, leaf_hash};

    const ORIGIN: &str = "example.com/log";
    const NOW: u64 = 1_700_000_000;

    struct Fixture {
        witness: Witness,
        log: Signer,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(Store::open_in_memory().expect("store"));
        let log = Signer::generate(ORIGIN, KeyType::Ed25519, [1; 32]).expect("log key");
        store
            .add_log(ORIGIN, &log.verifier().to_string())
            .expect("add log");
        let key = Signer::generate("witness.example/w1", KeyType::CosignatureV1, [2; 32])
            .expect("witness key");
        Fixture {
            witness: Witness::new(store, key).expect("witness"),
            log,
        }
    }

    fn checkpoint(size: u64, root: Hash) -> Checkpoint {
        format!("{ORIGIN}\n{size}\n{root}\n")
            .parse()
            .expect("checkpoint")
    }

    fn signed(signer: &Signer, cp: &Checkpoint) -> Vec<u8> {
        Note::sign(&cp.to_string(), &[signer])
            .expect("sign")
            .to_bytes()
    }

    fn body(old: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
        AddCheckpointRequest {
            old_size: old,
            proof: proof.to_vec(),
            checkpoint: note.to_vec(),
        }
        .to_bytes()
    }

    impl Fixture {
        fn add(&self, old: u64, cp: &Checkpoint) -> Result<String, AddCheckpointError> {
            self.witness
                .add_checkpoint(&body(old, &[], &signed(&self.log, cp)), NOW)
        }
    }

    #[test]
    fn first_checkpoint_is_cosigned_and_verifies() {
        let f = fixture();
        let cp = checkpoint(3, leaf_hash(b"three"));
        let line = f.add(0, &cp).expect("cosigned");
        let mut note = signed(&f.log, &cp);
        note.extend_from_slice(line.as_bytes());
        let note = Note::parse(&note).expect("note with cosignature");
        let verifier = f.witness.verifier();
        let sig = note
            .signatures
            .iter()
            .find(|s| s.name == verifier.name())
            .expect("cosignature line");
        assert_eq!(verify_cosignature(&verifier, &cp, sig), Ok(NOW));
        let state = f.witness.store().log(ORIGIN).expect("read").expect("log");
        assert_eq!((state.size, state.root_hash), (3, cp.root_hash));
        let stored = Note::parse(&state.checkpoint.expect("stored note")).expect("parse");
        assert_eq!(stored.signatures.len(), 2, "log signature and cosignature");
    }

    #[test]
    fn unknown_origin() {
        let f = fixture();
        let other = Signer::generate("other.example/log", KeyType::Ed25519, [3; 32]).expect("key");
        let cp: Checkpoint = format!("other.example/log\n1\n{}\n", leaf_hash(b"x"))
            .parse()
            .expect("cp");
        let err = f
            .witness
            .add_checkpoint(&body(0, &[], &signed(&other, &cp)), NOW)
            .expect_err("unknown");
        assert!(matches!(err, AddCheckpointError::UnknownLog { .. }));
    }

    #[test]
    fn signature_by_another_key_is_forbidden() {
        let f = fixture();
        let impostor = Signer::generate(ORIGIN, KeyType::Ed25519, [9; 32]).expect("key");
        let cp = checkpoint(1, leaf_hash(b"x"));
        let err = f
            .witness
            .add_checkpoint(&body(0, &[], &signed(&impostor, &cp)), NOW)
            .expect_err("forbidden");
        assert!(matches!(err, AddCheckpointError::BadLogSignature { .. }));
    }

    #[test]
    fn tampered_signature_is_forbidden() {
        let f = fixture();
        let cp = checkpoint(1, leaf_hash(b"x"));
        let mut note = Note::parse(&signed(&f.log, &cp)).expect("note");
        note.signatures[0].signature[0] ^= 1;
        let err = f
            .witness
            .add_checkpoint(&body(0, &[], &note.to_bytes()), NOW)
            .expect_err("forbidden");
        assert!(matches!(err, AddCheckpointError::BadLogSignature { .. }));
    }

    #[test]
    fn malformed_checkpoint() {
        let f = fixture();
        let err = f
            .witness
            .add_checkpoint(b"old 0\n\nnot a note", NOW)
            .expect_err("malformed");
        assert!(matches!(err, AddCheckpointError::MalformedCheckpoint(_)));
    }

    #[test]
    fn old_size_after_new() {
        let f = fixture();
        let err = f.add(5, &checkpoint(4, leaf_hash(b"x"))).expect_err("400");
        assert!(matches!(
            err,
            AddCheckpointError::OldSizeAfterNew {
                old_size: 5,
                size: 4
            }
        ));
    }

    #[test]
    fn huge_tree_is_a_bad_request() {
        let f = fixture();
        let err = f
            .add(0, &checkpoint(u64::MAX, leaf_hash(b"x")))
            .expect_err("400");
        assert!(matches!(err, AddCheckpointError::TreeTooLarge { .. }));
    }

    #[test]
    fn empty_tree_needs_the_empty_root() {
        let f = fixture();
        let err = f.add(0, &checkpoint(0, leaf_hash(b"x"))).expect_err("422");
        assert!(matches!(err, AddCheckpointError::NonEmptyRootForEmptyTree));
        f.add(0, &checkpoint(0, empty_tree_hash()))
            .expect("empty tree");
    }

    #[test]
    fn proof_with_old_zero() {
        let f = fixture();
        let cp = checkpoint(2, leaf_hash(b"x"));
        let err = f
            .witness
            .add_checkpoint(&body(0, &[leaf_hash(b"p")], &signed(&f.log, &cp)), NOW)
            .expect_err("422");
        assert!(matches!(err, AddCheckpointError::ProofForOldZero));
    }

    #[test]
    fn old_size_mismatch_reports_the_stored_size() {
        let f = fixture();
        f.add(0, &checkpoint(5, leaf_hash(b"five"))).expect("first");
        let err = f
            .add(0, &checkpoint(7, leaf_hash(b"seven")))
            .expect_err("409");
        assert!(matches!(
            err,
            AddCheckpointError::OldSizeMismatch {
                old_size: 0,
                stored_size: 5
            }
        ));
    }

    #[test]
    fn same_checkpoint_again_is_cosigned_again() {
        let f = fixture();
        let cp = checkpoint(5, leaf_hash(b"five"));
        f.add(0, &cp).expect("first");
        f.add(5, &cp).expect("same size, same root");
    }

    #[test]
    fn fork_is_refused_and_recorded() {
        let f = fixture();
        f.add(0, &checkpoint(5, leaf_hash(b"five"))).expect("first");
        let fork = checkpoint(5, leaf_hash(b"other five"));
        let err = f.add(5, &fork).expect_err("fork");
        assert!(matches!(
            err,
            AddCheckpointError::RootMismatch { size: 5, .. }
        ));
        let evidence = f.witness.store().evidence().expect("evidence");
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].kind, "fork");
        let submitted = String::from_utf8(evidence[0].submitted_request.clone()).expect("utf8");
        assert!(submitted.contains(&fork.root_hash.to_string()));
        let state = f.witness.store().log(ORIGIN).expect("read").expect("log");
        assert_eq!(state.root_hash, leaf_hash(b"five"), "state unchanged");
    }

    #[test]
    fn rollback_is_refused() {
        let f = fixture();
        f.add(0, &checkpoint(5, leaf_hash(b"five"))).expect("first");
        let older = checkpoint(3, leaf_hash(b"three"));
        assert!(matches!(
            f.add(5, &older),
            Err(AddCheckpointError::OldSizeAfterNew { .. })
        ));
        assert!(matches!(
            f.add(3, &older),
            Err(AddCheckpointError::OldSizeMismatch { stored_size: 5, .. })
        ));
        let state = f.witness.store().log(ORIGIN).expect("read").expect("log");
        assert_eq!(state.size, 5);
    }

    #[test]
    fn racing_requests_one_wins() {
        let f = fixture();
        let bodies: Vec<_> = (1..=8u64)
            .map(|n| {
                body(
                    0,
                    &[],
                    &signed(&f.log, &checkpoint(n, leaf_hash(&n.to_be_bytes()))),
                )
            })
            .collect();
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .iter()
                .map(|b| s.spawn(|| f.witness.add_checkpoint(b, NOW)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let winners: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i as u64 + 1)
            .collect();
        assert_eq!(winners.len(), 1, "exactly one request wins: {results:?}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, AddCheckpointError::OldSizeMismatch { stored_size, .. } if *stored_size == winners[0]),
                    "loser got {e:?}"
                );
            }
        }
    }
}
