//! What the clients were told: every acknowledgment and checkpoint, and the failures seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::note::Verifier;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tree::verify_record;
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::common::{checksum, wheel};

/// Shared by the load tasks and the checks.
pub(crate) struct Ctx {
    pub(crate) token: String,
    pub(crate) verifier: Verifier,
    pub(crate) seed: u64,
    pub(crate) model: Mutex<Model>,
    pub(crate) next_name: AtomicU64,
}

/// Everything the log ever answered, and the failures seen so far.
#[derive(Default)]
pub(crate) struct Model {
    /// filename -> index, for every add answered 200 (or 503 with the index it was
    /// sequenced at: sequenced means committed).
    pub(crate) acked: HashMap<String, u64>,
    /// The keys of `acked`, for picking one at random.
    pub(crate) acked_names: Vec<String>,
    /// Acknowledged since the last check; looked up at the next.
    pub(crate) fresh: Vec<String>,
    /// Every checkpoint seen: tree size -> root hash.
    pub(crate) checkpoints: BTreeMap<u64, Hash>,
    /// Sizes seen since the last consistency proofs.
    pub(crate) unproven: Vec<u64>,
    /// Everything found wrong; the next check fails the test with all of it.
    pub(crate) failures: Vec<String>,
    pub(crate) counts: LoadCounts,
}

/// What the load sent and got.
#[derive(Default, Clone, Debug)]
pub(crate) struct LoadCounts {
    pub(crate) adds_new: u64,
    pub(crate) adds_again: u64,
    pub(crate) adds_conflicting: u64,
    pub(crate) bulk_requests: u64,
    pub(crate) bulk_lines: u64,
    pub(crate) answered_200: u64,
    pub(crate) answered_409: u64,
    pub(crate) answered_503: u64,
    pub(crate) cut_by_kill: u64,
    pub(crate) checkpoint_polls: u64,
}

impl Ctx {
    pub(crate) fn fail(&self, message: String) {
        self.model.lock().unwrap().failures.push(message);
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut LoadCounts)) {
        f(&mut self.model.lock().unwrap().counts);
    }

    /// A filename never used before in this run.
    pub(crate) fn new_filename(&self) -> String {
        let n = self.next_name.fetch_add(1, Ordering::Relaxed);
        wheel(&format!("crash{n}"), "1.0")
    }

    /// A random acknowledged add, if any.
    pub(crate) fn random_acked(&self, rng: &mut StdRng) -> Option<(String, u64)> {
        let model = self.model.lock().unwrap();
        if model.acked_names.is_empty() {
            return None;
        }
        let name = &model.acked_names[rng.gen_range(0..model.acked_names.len())];
        Some((name.clone(), model.acked[name]))
    }

    /// Records an acknowledgment of `filename` at `index`; the same filename must
    /// never be acknowledged at two indexes.
    pub(crate) fn ack(&self, filename: &str, index: u64, source: &str) {
        let mut model = self.model.lock().unwrap();
        match model.acked.get(filename) {
            Some(&earlier) if earlier != index => {
                let message = format!(
                    "{source}: {filename} acknowledged at index {index}, but earlier at {earlier}"
                );
                model.failures.push(message);
            }
            Some(_) => {}
            None => {
                model.acked.insert(filename.to_owned(), index);
                model.acked_names.push(filename.to_owned());
                model.fresh.push(filename.to_owned());
            }
        }
    }

    /// Verifies a checkpoint note under the log's key and records it. Two
    /// checkpoints of one size with different roots are a fork.
    pub(crate) fn see_checkpoint(&self, note: &[u8], source: &str) -> Option<Checkpoint> {
        let cp = match open_checkpoint(note, &self.verifier) {
            Ok((cp, _)) => cp,
            Err(e) => {
                self.fail(format!(
                    "{source}: checkpoint does not verify under the log key: {e}\n{}",
                    String::from_utf8_lossy(note)
                ));
                return None;
            }
        };
        let mut model = self.model.lock().unwrap();
        match model.checkpoints.get(&cp.size) {
            Some(root) if *root != cp.root_hash => {
                let message = format!(
                    "{source}: fork: two checkpoints of size {} with roots {root} and {}",
                    cp.size, cp.root_hash
                );
                model.failures.push(message);
            }
            Some(_) => {}
            None => {
                model.checkpoints.insert(cp.size, cp.root_hash);
                model.unproven.push(cp.size);
            }
        }
        Some(cp)
    }

    /// Checks an answer's base64 checkpoint and inclusion proof for `filename` at
    /// `index`, recording the checkpoint. Returns whether both verified.
    pub(crate) fn check_proof(
        &self,
        filename: &str,
        index: u64,
        checkpoint: &str,
        proof: &Value,
        source: &str,
    ) -> bool {
        let Ok(note) = BASE64.decode(checkpoint) else {
            self.fail(format!(
                "{source}: checkpoint is not base64: {checkpoint:?}"
            ));
            return false;
        };
        let Some(cp) = self.see_checkpoint(&note, source) else {
            return false;
        };
        let hashes: Option<Vec<Hash>> = proof.as_array().and_then(|a| {
            a.iter()
                .map(|h| h.as_str().and_then(|s| Hash::from_base64(s).ok()))
                .collect()
        });
        let Some(hashes) = hashes else {
            self.fail(format!("{source}: inclusionProof is malformed: {proof}"));
            return false;
        };
        let leaf = leaf_hash(&entry_bytes(filename));
        if let Err(e) = verify_record(&hashes, cp.size, cp.root_hash, index, leaf) {
            self.fail(format!(
                "{source}: inclusion proof of {filename} at {index} in tree {} fails: {e}",
                cp.size
            ));
            return false;
        }
        true
    }

    /// Checks the `proof` field of an `/add` answer: the tlog-proof text must say
    /// what the JSON fields say (index, checkpoint, inclusion proof) and carry the
    /// entry sent for `filename`.
    pub(crate) fn check_tlog_proof(&self, filename: &str, body: &Value, source: &str) {
        let text = body["proof"].as_str().unwrap_or_default();
        let proof = match TlogProof::parse(text.as_bytes()) {
            Ok(proof) => proof,
            Err(e) => {
                self.fail(format!("{source}: the proof field does not parse: {e}"));
                return;
            }
        };
        let checkpoint = body["checkpoint"]
            .as_str()
            .and_then(|c| BASE64.decode(c).ok());
        let hashes: Vec<String> = proof.inclusion_proof.iter().map(Hash::to_base64).collect();
        let agrees = body["index"].as_u64() == Some(proof.index)
            && checkpoint.as_deref() == Some(&proof.checkpoint[..])
            && body["inclusionProof"] == serde_json::json!(hashes)
            && proof.extra.as_deref() == Some(&entry_bytes(filename)[..]);
        if !agrees {
            self.fail(format!(
                "{source}: the proof field disagrees with the answer's other fields: {body}"
            ));
        }
    }
}

/// The digest the load always sends for `filename`.
pub(crate) fn digest_of(filename: &str) -> String {
    checksum(filename)
}

/// A digest that conflicts with the one logged for `filename`.
pub(crate) fn other_digest_of(filename: &str) -> String {
    checksum(&format!("not {filename}"))
}

/// The log entry the load sends for `filename`.
pub(crate) fn entry_bytes(filename: &str) -> Vec<u8> {
    Entry {
        // Both come from this file's own generators, which make valid values.
        checksum: digest_of(filename).parse().expect("valid checksum"),
        filename: filename.parse().expect("valid filename"),
        publisher: None,
    }
    .to_bytes()
}
