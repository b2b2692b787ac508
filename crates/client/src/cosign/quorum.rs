//! Publishing under a tlog-policy: gather cosignatures from the policy's
//! witnesses and release the checkpoint only when they meet its quorum.
//!
//! How a log uses it: its publisher hands [`QuorumCosigner::cosign`] the last
//! published size, the log-signed note and its checkpoint, and a
//! [`ConsistencySource`] over its own tiles; it publishes the returned note,
//! or on error keeps sequencing and retries later with a newer checkpoint.
//! Witnesses that cosigned a round that missed the quorum have moved on; the
//! gatherer remembers their sizes (and the 409 protocol corrects it after a
//! restart), so the next round still proves consistency from where each is.
//! The log crate and this one do not depend on each other: the binary adapts
//! the log's publishing trait (`bintrail_log::Cosigner`) to this type.

use std::time::Duration;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::{Note, NoteError, Verifier};
use bintrail_tlog::policy::{Policy, PolicyLog, Quorum};

use super::gather::{ConsistencySource, Gathered, Gatherer, WitnessEndpoint, WitnessFailure};
use super::health::{HealthBoard, HealthChange, NoCosignature, RoundOutcome, WitnessHealth};

/// Cosigns checkpoints for a log whose tlog-policy names witnesses with URLs.
pub struct QuorumCosigner {
    policy: Policy,
    gatherer: Gatherer,
    health: HealthBoard,
}

/// Why a checkpoint could not be cosigned.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// Returned by [`QuorumCosigner::new`] when even every witness with a URL
    /// answering could not meet the quorum (witness lines need URLs to be asked).
    #[error("the policy's quorum cannot be met by the witnesses that have URLs ({reachable:?})")]
    Unreachable {
        /// The policy names of the witnesses with URLs.
        reachable: Vec<String>,
    },
    /// Returned when the note to cosign is not a well-formed checkpoint note.
    #[error("the log's checkpoint note is malformed: {0}")]
    MalformedNote(#[source] NoteError),
    /// Returned when fewer witnesses than the quorum gave valid cosignatures;
    /// the message names each witness's outcome, for the operator.
    #[error(
        "witness quorum not met for size {size}: {}",
        describe(cosigned, failed)
    )]
    QuorumNotMet {
        /// The checkpoint size.
        size: u64,
        /// The policy names of the witnesses that cosigned.
        cosigned: Vec<String>,
        /// The policy names of the witnesses that did not, each with why.
        failed: Vec<(String, WitnessFailure)>,
    },
}

/// "NAME: cosigned" for each cosigner, then "NAME: why" for each failure, joined by "; ".
fn describe(cosigned: &[String], failed: &[(String, WitnessFailure)]) -> String {
    let mut parts: Vec<String> = cosigned.iter().map(|n| format!("{n}: cosigned")).collect();
    parts.extend(failed.iter().map(|(n, failure)| format!("{n}: {failure}")));
    parts.join("; ")
}

/// The tlog-policy a log publishes (`GET /policy`) so verifiers can save it:
/// the log's own key as its only `log` line, and the witnesses, groups and
/// quorum of the operator's policy; `quorum none` when there is none.
///
/// Any `log` lines in the operator's file are replaced: a log vouches only for
/// itself. `log_url` is the log's public URL, if it has one.
pub fn published_policy(
    log: &Verifier,
    log_url: Option<&str>,
    witnesses: Option<&Policy>,
) -> Policy {
    let mut policy = match witnesses {
        Some(policy) => policy.clone(),
        None => Policy {
            logs: Vec::new(),
            witnesses: Vec::new(),
            groups: Vec::new(),
            quorum: Quorum::None,
        },
    };
    policy.logs = vec![PolicyLog {
        verifier: log.clone(),
        url: log_url.map(str::to_owned),
    }];
    policy
}

impl QuorumCosigner {
    /// A cosigner for `policy`, asking each witness that has a URL with
    /// `timeout` per round. `quorum none` needs no witnesses.
    pub fn new(policy: Policy, timeout: Duration) -> Result<Self, QuorumError> {
        let asked: Vec<_> = policy
            .witnesses
            .iter()
            .filter(|w| w.url.is_some())
            .collect();
        let endpoints: Vec<WitnessEndpoint> = asked
            .iter()
            .filter_map(|w| {
                w.url.as_ref().map(|url| WitnessEndpoint {
                    verifier: w.verifier.clone(),
                    url: url.clone(),
                })
            })
            .collect();
        let health = HealthBoard::new(asked.iter().map(|w| w.name.clone()));
        let reachable: Vec<&Verifier> = endpoints.iter().map(|e| &e.verifier).collect();
        if !policy.quorum_met(&reachable) {
            return Err(QuorumError::Unreachable {
                reachable: policy
                    .witnesses
                    .iter()
                    .filter(|w| w.url.is_some())
                    .map(|w| w.name.clone())
                    .collect(),
            });
        }
        Ok(Self {
            gatherer: Gatherer::new(endpoints, timeout),
            policy,
            health,
        })
    }

    /// Each asked witness's health, from the rounds so far, in policy order.
    pub fn health(&self) -> Vec<WitnessHealth> {
        self.health.snapshot()
    }

    /// The policy enforced.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Returns the note to publish: `signed_note` (the log-signed note of
    /// `checkpoint`) with one verified cosignature line per witness that gave
    /// one, if they meet the quorum. `old_size` is the last published size.
    /// With `quorum none` the note is returned as it is, asking no one.
    pub async fn cosign(
        &self,
        signed_note: &[u8],
        checkpoint: &Checkpoint,
        old_size: u64,
        prover: &dyn ConsistencySource,
    ) -> Result<Vec<u8>, QuorumError> {
        self.cosign_round(signed_note, checkpoint, old_size, prover)
            .await
            .0
    }

    /// Like [`QuorumCosigner::cosign`], and also returns the witnesses whose health
    /// changed in this round (stopped or resumed cosigning), for the caller to log once.
    pub async fn cosign_round(
        &self,
        signed_note: &[u8],
        checkpoint: &Checkpoint,
        old_size: u64,
        prover: &dyn ConsistencySource,
    ) -> (Result<Vec<u8>, QuorumError>, Vec<HealthChange>) {
        if self.policy.quorum == Quorum::None {
            return (Ok(signed_note.to_vec()), Vec::new());
        }
        let mut note = match Note::parse(signed_note) {
            Ok(note) => note,
            Err(e) => return (Err(QuorumError::MalformedNote(e)), Vec::new()),
        };
        let gathered = self
            .gatherer
            .gather(checkpoint, &note, old_size, prover)
            .await;
        let cosigners: Vec<&Verifier> = gathered.cosignatures.iter().map(|(v, _)| v).collect();
        let quorum_met = self.policy.quorum_met(&cosigners);
        let changes = self.record_health(&gathered, checkpoint.size, quorum_met);
        if !quorum_met {
            let (cosigned, failed) = self.outcomes(&gathered);
            let err = QuorumError::QuorumNotMet {
                size: checkpoint.size,
                cosigned,
                failed,
            };
            return (Err(err), changes);
        }
        for (_, sig) in gathered.cosignatures {
            note.add_signature(sig);
        }
        (Ok(note.to_bytes()), changes)
    }

    fn record_health(&self, gathered: &Gathered, size: u64, quorum_met: bool) -> Vec<HealthChange> {
        let outcomes =
            self.gatherer
                .witnesses()
                .iter()
                .zip(&gathered.elapsed)
                .map(|(witness, elapsed)| {
                    let cosigned = gathered
                        .cosignatures
                        .iter()
                        .any(|(v, _)| v == &witness.verifier);
                    let outcome = if cosigned {
                        RoundOutcome::Cosigned(size)
                    } else {
                        let reason = gathered
                            .failures
                            .iter()
                            .find(|(v, _)| v == &witness.verifier)
                            .map_or(NoCosignature::NoAnswer, |(_, f)| {
                                NoCosignature::Failed(f.clone())
                            });
                        RoundOutcome::Failed(reason)
                    };
                    (outcome, *elapsed)
                });
        self.health.record(outcomes, quorum_met)
    }

    /// The round's outcomes under the policy's witness names: who cosigned, who did not and why.
    fn outcomes(&self, gathered: &Gathered) -> (Vec<String>, Vec<(String, WitnessFailure)>) {
        let name = |v: &Verifier| {
            self.policy
                .witnesses
                .iter()
                .find(|w| &w.verifier == v)
                .map_or_else(|| v.name().to_owned(), |w| w.name.clone())
        };
        let cosigned = gathered.cosignatures.iter().map(|(v, _)| name(v)).collect();
        let failed = gathered
            .failures
            .iter()
            .map(|(v, failure)| (name(v), failure.clone()))
            .collect();
        (cosigned, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::note::{KeyType, Signer};

    fn log_key() -> Verifier {
        Signer::generate("example.com/log", KeyType::Ed25519, [1; 32])
            .expect("key")
            .verifier()
    }

    #[test]
    fn published_policy_without_witnesses_is_quorum_none() {
        let policy = published_policy(&log_key(), None, None);
        assert_eq!(
            policy.to_string(),
            format!("log {}\nquorum none\n", log_key())
        );
        let parsed: Policy = policy.to_string().parse().expect("parses back");
        assert_eq!(parsed, policy);
    }

    #[test]
    fn published_policy_keeps_witnesses_and_replaces_logs() {
        let other = Signer::generate("other.example/log", KeyType::Ed25519, [2; 32]).expect("key");
        let w =
            Signer::generate("witness.example/w", KeyType::CosignatureV1, [3; 32]).expect("key");
        let file: Policy = format!(
            "log {}\nwitness w {} http://127.0.0.1:1\nquorum w\n",
            other.verifier(),
            w.verifier()
        )
        .parse()
        .expect("policy");
        let published = published_policy(&log_key(), Some("https://log.example"), Some(&file));
        assert_eq!(
            published.to_string(),
            format!(
                "log {} https://log.example\nwitness w {} http://127.0.0.1:1\nquorum w\n",
                log_key(),
                w.verifier()
            )
        );
    }
}
