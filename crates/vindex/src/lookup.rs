//! `bintrail lookup`: fetch a lookup answer and verify the whole chain, offline once
//! fetched:
//!
//! 1. the output checkpoint: a policy log's signature and the policy's quorum;
//! 2. the map-root leaf's inclusion in it;
//! 3. the leaf's input checkpoint: a policy log's signature and quorum;
//! 4. the map proof for the project's key against the leaf's map root: present with a
//!    value, or absent;
//! 5. the value against the answer's input indices (nothing omitted, added or
//!    reordered), every entry being of the project;
//! 6. each entry's inclusion in the input checkpoint: its own audit path (v1), or one
//!    multi-record proof of all of them, checked after 5 (v2).

use bintrail_client::fetch::{FetchError, HttpClient, Timeouts};
use bintrail_client::verify::{VerifyError, verify_signed_checkpoint};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::map::{EMPTY, MapKey, MapLookup, MapProof, extend_value};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tree::{verify_record, verify_records};
use bintrail_tlog::vindex::MapRoot;

use crate::answer::{AnswerVersion, LookupAnswer, MAX_ANSWER, parse_project};

/// A verified lookup.
#[derive(Debug, Clone)]
pub struct VerifiedLookup {
    /// The normalized project name.
    pub project: String,
    /// The output checkpoint the answer was verified against.
    pub output: Checkpoint,
    /// The input checkpoint the map was computed at.
    pub input: Checkpoint,
    /// Every logged file of the project at that checkpoint, in log order (empty when
    /// the map proves the project absent).
    pub files: Vec<(u64, Entry)>,
    /// Whether the map holds the project.
    pub present: bool,
}

/// The classes of lookup failure, each with its own exit code in the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupFailure {
    /// The answer could not be had or read: bad name, network, malformed answer.
    Unusable,
    /// A checkpoint is not signed by a log the policy lists.
    UnknownLog,
    /// A checkpoint's signature does not verify.
    BadLogSignature,
    /// A checkpoint lacks the policy's witness quorum.
    QuorumNotMet,
    /// The map-root leaf is not in the output checkpoint, or an entry not in the input one.
    BadInclusionProof,
    /// The map proof does not lead to the leaf's map root.
    BadMapProof,
    /// The entries do not match the value the map holds (one omitted, added or
    /// reordered), or one is not of the project.
    IncompleteAnswer,
}

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct LookupError {
    /// The class.
    pub failure: LookupFailure,
    /// What exactly.
    pub detail: String,
}

fn fail(failure: LookupFailure, detail: impl Into<String>) -> LookupError {
    LookupError {
        failure,
        detail: detail.into(),
    }
}

/// Fetches the answer for `project` from the index at `url` and verifies it.
pub async fn lookup(
    url: &str,
    policy: &Policy,
    project: &str,
) -> Result<VerifiedLookup, LookupError> {
    let normalized = parse_project(project).ok_or_else(|| {
        fail(
            LookupFailure::Unusable,
            format!("{project:?} is not a project name"),
        )
    })?;
    let http = HttpClient::new(url, Timeouts::default())
        .map_err(|e| fail(LookupFailure::Unusable, e.to_string()))?;
    // v2 (one proof for all entries) first; an index from before v2 answers 404 there
    // and is asked for v1. Either answer is verified in full.
    let v2 = http
        .get(&AnswerVersion::V2.path(&normalized), MAX_ANSWER)
        .await;
    let body = match v2 {
        Err(FetchError::NotFound { .. }) => {
            http.get(&AnswerVersion::V1.path(&normalized), MAX_ANSWER)
                .await
        }
        other => other,
    };
    let body = body.map_err(|e| {
        let detail = match &e {
            FetchError::NotFound { .. } => {
                format!("{} serves no verifiable index: {e}", http.base())
            }
            _ => e.to_string(),
        };
        fail(LookupFailure::Unusable, detail)
    })?;
    verify_answer(&body, policy, &normalized)
}

/// Verifies an answer (the bytes of `GET /vindex/v1/lookup/<project>` or
/// `GET /vindex/v2/lookup/<project>`, either version) for `project`.
pub fn verify_answer(
    body: &[u8],
    policy: &Policy,
    project: &str,
) -> Result<VerifiedLookup, LookupError> {
    use LookupFailure::*;
    let answer = LookupAnswer::parse(body).map_err(|e| fail(Unusable, e.to_string()))?;
    // `parse` checked that each version carries its own proof fields.
    let entries_proof = answer.entries_proof.as_deref();
    let normalized = parse_project(project)
        .ok_or_else(|| fail(Unusable, format!("{project:?} is not a project name")))?;
    if answer.project != normalized {
        return Err(fail(
            Unusable,
            format!(
                "the index answered for {:?}, not {normalized:?}",
                answer.project
            ),
        ));
    }
    let output = checkpoint(answer.checkpoint.as_bytes(), policy, "output")?;
    verify_record(
        &answer.leaf_proof,
        output.size,
        output.root_hash,
        answer.leaf_index,
        leaf_hash(answer.leaf.as_bytes()),
    )
    .map_err(|e| {
        fail(
            BadInclusionProof,
            format!(
                "the map-root leaf {} is not in the output checkpoint: {e}",
                answer.leaf_index
            ),
        )
    })?;
    let leaf = MapRoot::parse(answer.leaf.as_bytes())
        .map_err(|e| fail(Unusable, format!("the map-root leaf: {e}")))?;
    let input = checkpoint(leaf.note(), policy, "input")?;
    if input.origin == output.origin {
        // The index's own key must not vouch for the log it indexes.
        return Err(fail(
            UnknownLog,
            format!(
                "the input checkpoint is signed by the index's own log {}",
                output.origin
            ),
        ));
    }
    let key = MapKey::for_project(&normalized);
    let proof = MapProof::parse(answer.map_proof.as_bytes())
        .map_err(|e| fail(Unusable, format!("the map proof: {e}")))?;
    let found = proof
        .verify(&leaf.map_root, &key)
        .map_err(|e| fail(BadMapProof, format!("the map proof for {normalized}: {e}")))?;
    let mut value = EMPTY;
    let mut files = Vec::with_capacity(answer.entries.len());
    for e in &answer.entries {
        if files
            .last()
            .is_some_and(|(last, _): &(u64, Entry)| *last >= e.index)
        {
            return Err(fail(
                IncompleteAnswer,
                format!("entry {} is out of log order", e.index),
            ));
        }
        let entry = Entry::parse(e.entry.as_bytes()).map_err(|err| {
            fail(
                IncompleteAnswer,
                format!("entry {} is not a PyPI entry: {err}", e.index),
            )
        })?;
        if entry.project() != normalized {
            return Err(fail(
                IncompleteAnswer,
                format!(
                    "entry {} is of project {}, not {normalized}",
                    e.index,
                    entry.project()
                ),
            ));
        }
        if let Some(proof) = &e.proof {
            verify_record(
                proof,
                input.size,
                input.root_hash,
                e.index,
                leaf_hash(e.entry.as_bytes()),
            )
            .map_err(|err| {
                fail(
                    BadInclusionProof,
                    format!(
                        "entry {} is not in the input checkpoint (size {}): {err}",
                        e.index, input.size
                    ),
                )
            })?;
        }
        value = extend_value(&value, e.index);
        files.push((e.index, entry));
    }
    let present = match found {
        MapLookup::Present(v) if v == value => true,
        MapLookup::Present(_) => {
            return Err(fail(
                IncompleteAnswer,
                format!(
                    "the {} entries given are not the list the map commits to for {normalized}: \
                     one was omitted, added or reordered",
                    files.len()
                ),
            ));
        }
        MapLookup::Absent if files.is_empty() => false,
        MapLookup::Absent => {
            return Err(fail(
                IncompleteAnswer,
                format!("the map proves {normalized} absent, but the answer lists entries"),
            ));
        }
    };
    if let Some(proof) = entries_proof {
        // v2: the list is the one the map commits to; now prove every entry at once.
        let records: Vec<(u64, Hash)> = answer
            .entries
            .iter()
            .map(|e| (e.index, leaf_hash(e.entry.as_bytes())))
            .collect();
        verify_records(proof, input.size, input.root_hash, &records).map_err(|err| {
            fail(
                BadInclusionProof,
                format!(
                    "the {} entries are not all in the input checkpoint (size {}): {err}",
                    records.len(),
                    input.size
                ),
            )
        })?;
    }
    Ok(VerifiedLookup {
        project: normalized,
        output,
        input,
        files,
        present,
    })
}

/// Verifies a checkpoint note against the policy.
fn checkpoint(note: &[u8], policy: &Policy, which: &str) -> Result<Checkpoint, LookupError> {
    use LookupFailure::*;
    verify_signed_checkpoint(note, policy)
        .map(|s| s.checkpoint)
        .map_err(|e| {
            let class = match &e {
                VerifyError::UnknownLog { .. } => UnknownLog,
                VerifyError::BadLogSignature { .. } => BadLogSignature,
                VerifyError::QuorumNotMet { .. } => QuorumNotMet,
                _ => Unusable,
            };
            fail(class, format!("the {which} checkpoint: {e}"))
        })
}
