//! Publishing under a tlog-policy: gather cosignatures from the policy's
//! witnesses and release the checkpoint only when they meet its quorum.

use std::time::Duration;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::{Note, Verifier};
use bintrail_tlog::policy::{Policy, Quorum};

use crate::gather::{ConsistencyProver, Gatherer, WitnessEndpoint};

/// Cosigns checkpoints for a log whose tlog-policy names witnesses with URLs.
pub struct QuorumCosigner {
    policy: Policy,
    gatherer: Gatherer,
}

/// Why a checkpoint could not be cosigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    MalformedNote(String),
    /// Returned when fewer witnesses than the quorum gave valid cosignatures;
    /// `detail` names each witness's outcome, for the operator.
    #[error("witness quorum not met for size {size}: {detail}")]
    QuorumNotMet {
        /// The checkpoint size.
        size: u64,
        /// Per witness: "cosigned" or why not.
        detail: String,
    },
}

impl QuorumCosigner {
    /// A cosigner for `policy`, asking each witness that has a URL with
    /// `timeout` per round. `quorum none` needs no witnesses.
    pub fn new(policy: Policy, timeout: Duration) -> Result<Self, QuorumError> {
        let endpoints: Vec<WitnessEndpoint> = policy
            .witnesses
            .iter()
            .filter_map(|w| {
                w.url.as_ref().map(|url| WitnessEndpoint {
                    verifier: w.verifier.clone(),
                    url: url.clone(),
                })
            })
            .collect();
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
        })
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
        prover: &dyn ConsistencyProver,
    ) -> Result<Vec<u8>, QuorumError> {
        if self.policy.quorum == Quorum::None {
            return Ok(signed_note.to_vec());
        }
        let mut note =
            Note::parse(signed_note).map_err(|e| QuorumError::MalformedNote(e.to_string()))?;
        let gathered = self
            .gatherer
            .gather(checkpoint, &note, old_size, prover)
            .await;
        let cosigners: Vec<&Verifier> = gathered.cosignatures.iter().map(|(v, _)| v).collect();
        if !self.policy.quorum_met(&cosigners) {
            return Err(QuorumError::QuorumNotMet {
                size: checkpoint.size,
                detail: self.describe(&gathered),
            });
        }
        for (_, sig) in gathered.cosignatures {
            note.add_signature(sig);
        }
        Ok(note.to_bytes())
    }

    fn describe(&self, gathered: &crate::gather::Gathered) -> String {
        let name = |v: &Verifier| {
            self.policy
                .witnesses
                .iter()
                .find(|w| &w.verifier == v)
                .map_or_else(|| v.name().to_owned(), |w| w.name.clone())
        };
        let mut parts: Vec<String> = gathered
            .cosignatures
            .iter()
            .map(|(v, _)| format!("{}: cosigned", name(v)))
            .collect();
        parts.extend(
            gathered
                .failures
                .iter()
                .map(|(v, failure)| format!("{}: {failure}", name(v))),
        );
        parts.join("; ")
    }
}
