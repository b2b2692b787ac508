//! The transparency endpoint's answer (`GET /transparency/{project}/{version}/{filename}/proof`):
//! the logged entry, its index, the signed checkpoint and the inclusion proof.
//!
//! Choices made here where the draft leaves room:
//! - `inclusion_proof` is the standard, padded base64 of a complete
//!   `c2sp.org/tlog-proof@v1` (the draft's "Inclusion proof format" section shows that
//!   format, checkpoint included). Its `extra` line, when present, must be the entry's
//!   `pypi-transparency/v1` bytes; its `index` must equal `entry_index`.
//! - `checkpoint` is the standard, padded base64 of the signed checkpoint note with
//!   every cosignature, byte for byte the note inside the tlog-proof.
//! - `log_origin` must be the checkpoint's origin line.
//!
//! [`ProofAnswer::decode`] enforces all of this, so a client verifies one consistent
//! object: nothing here checks signatures or the Merkle path (that is
//! [`TlogProof::verify`] with the caller's policy).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::Note;
use bintrail_tlog::proof::{MAX_PROOF_SIZE, ProofError, TlogProof};
use bintrail_tlog::pypi::{Entry, EntryError, Publisher};
use serde::{Deserialize, Serialize};

/// The only answer schema version this crate reads and writes.
pub const ANSWER_VERSION: u64 = 1;
/// The most bytes a client should read of an answer: a maximal tlog-proof, base64
/// twice over (proof and checkpoint), and the entry.
pub const MAX_ANSWER_LEN: usize = 3 * MAX_PROOF_SIZE;

/// The entry object of an answer, as the draft's "Log Entry Format" writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerEntry {
    /// `sha256:<lowercase hex>`.
    pub checksum: String,
    /// The distribution filename.
    pub filename: String,
    /// The PEP 740 publisher, omitted when the entry has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<AnswerPublisher>,
}

/// The publisher object of an answer entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerPublisher {
    /// The OIDC issuer URL.
    pub issuer: String,
    /// The identity within the issuer.
    pub subject: String,
}

/// The JSON answer of the transparency endpoint, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofAnswer {
    /// Schema version, [`ANSWER_VERSION`].
    pub version: u64,
    /// The log's origin.
    pub log_origin: String,
    /// The entry's zero-based index in the log.
    pub entry_index: u64,
    /// The logged entry.
    pub entry: AnswerEntry,
    /// Base64 of the signed checkpoint note.
    pub checkpoint: String,
    /// Base64 of the `c2sp.org/tlog-proof@v1` bytes.
    pub inclusion_proof: String,
}

/// An answer whose parts agree with each other; not yet verified against any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedAnswer {
    /// The entry, parsed and re-validated as the log would.
    pub entry: Entry,
    /// The tlog-proof (its checkpoint is the answer's checkpoint).
    pub proof: TlogProof,
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
}

/// Why an answer was refused before any signature was checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// Returned when the answer is larger than [`MAX_ANSWER_LEN`].
    #[error("proof answer is {len} bytes; at most {MAX_ANSWER_LEN} are accepted")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned when the answer is not JSON of the draft's schema.
    #[error("proof answer is not valid JSON of the draft's schema: {source}")]
    Malformed {
        /// The JSON parser's error (line, column and category).
        source: serde_json::Error,
    },
    /// Returned for a schema version other than [`ANSWER_VERSION`].
    #[error("proof answer has version {version}; only version 1 is understood")]
    UnknownVersion {
        /// The version found.
        version: u64,
    },
    /// Returned when the entry object is not a valid `pypi-transparency/v1` entry.
    #[error("proof answer's entry is invalid: {0}")]
    Entry(EntryError),
    /// Returned when `checkpoint` or `inclusion_proof` is not canonical base64.
    #[error("proof answer's {field} is not standard base64")]
    Base64 {
        /// `checkpoint` or `inclusion_proof`.
        field: &'static str,
    },
    /// Returned when `inclusion_proof` does not parse as a tlog-proof.
    #[error("proof answer's inclusion_proof is not a c2sp.org/tlog-proof@v1: {0}")]
    Proof(ProofError),
    /// Returned when the tlog-proof's index differs from `entry_index`.
    #[error("entry_index is {entry_index} but the tlog-proof is for index {proof_index}")]
    IndexMismatch {
        /// The answer's `entry_index`.
        entry_index: u64,
        /// The tlog-proof's index.
        proof_index: u64,
    },
    /// Returned when the `checkpoint` field is not the tlog-proof's checkpoint.
    #[error("the checkpoint field differs from the checkpoint inside the tlog-proof")]
    CheckpointMismatch,
    /// Returned when `log_origin` is not the checkpoint's origin.
    #[error("log_origin is {log_origin:?} but the checkpoint is from {checkpoint_origin:?}")]
    OriginMismatch {
        /// The answer's `log_origin`.
        log_origin: String,
        /// The checkpoint's origin line.
        checkpoint_origin: String,
    },
    /// Returned when the tlog-proof's extra data is not the answer's entry.
    #[error("the tlog-proof's extra data is not the answer's entry")]
    ExtraMismatch,
}

impl AnswerEntry {
    /// The JSON object for a logged entry.
    pub fn from_entry(entry: &Entry) -> AnswerEntry {
        AnswerEntry {
            checksum: entry.checksum.to_string(),
            filename: entry.filename.to_string(),
            publisher: entry.publisher.as_ref().map(|p| AnswerPublisher {
                issuer: p.issuer.clone(),
                subject: p.subject.clone(),
            }),
        }
    }

    /// The entry this object describes, validated exactly as the log validates an add
    /// (so the bytes whose leaf hash a client computes are the logged bytes).
    pub fn to_entry(&self) -> Result<Entry, EntryError> {
        let publisher = match &self.publisher {
            Some(p) => Some(Publisher::new(&p.issuer, &p.subject)?),
            None => None,
        };
        let entry = Entry {
            checksum: self.checksum.parse()?,
            filename: self.filename.parse()?,
            publisher,
        };
        // The log refuses what does not round-trip (e.g. an over-long entry): so do we.
        Entry::parse(&entry.to_bytes())
    }
}

impl ProofAnswer {
    /// The answer for `entry` proven by `proof` (whose checkpoint is embedded verbatim).
    ///
    /// Errors: [`AnswerError::Proof`] when the proof's checkpoint does not parse, and
    /// the mismatch variants when the proof's extra data is another entry.
    pub fn new(entry: &Entry, proof: &TlogProof) -> Result<ProofAnswer, AnswerError> {
        let checkpoint = parse_checkpoint(&proof.checkpoint)?;
        if let Some(extra) = &proof.extra
            && *extra != entry.to_bytes()
        {
            return Err(AnswerError::ExtraMismatch);
        }
        Ok(ProofAnswer {
            version: ANSWER_VERSION,
            log_origin: checkpoint.origin,
            entry_index: proof.index,
            entry: AnswerEntry::from_entry(entry),
            checkpoint: BASE64.encode(&proof.checkpoint),
            inclusion_proof: BASE64.encode(proof.to_bytes()),
        })
    }

    /// Parses an answer strictly (unknown fields refused), at most [`MAX_ANSWER_LEN`]
    /// bytes. Nothing is cross-checked until [`ProofAnswer::decode`].
    pub fn from_json(bytes: &[u8]) -> Result<ProofAnswer, AnswerError> {
        if bytes.len() > MAX_ANSWER_LEN {
            return Err(AnswerError::TooLarge { len: bytes.len() });
        }
        serde_json::from_slice(bytes).map_err(|source| AnswerError::Malformed { source })
    }

    /// The JSON text the transparency endpoint serves.
    pub fn to_json(&self) -> String {
        // Strings and integers only: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes the answer and checks that its parts agree: version 1, a valid entry, a
    /// parseable tlog-proof for `entry_index` whose checkpoint is the `checkpoint` field
    /// and whose origin is `log_origin`, and whose extra data, if any, is the entry.
    pub fn decode(&self) -> Result<DecodedAnswer, AnswerError> {
        if self.version != ANSWER_VERSION {
            return Err(AnswerError::UnknownVersion {
                version: self.version,
            });
        }
        let entry = self.entry.to_entry().map_err(AnswerError::Entry)?;
        let proof_bytes = decode_base64(&self.inclusion_proof, "inclusion_proof")?;
        let proof = TlogProof::parse(&proof_bytes).map_err(AnswerError::Proof)?;
        let checkpoint_bytes = decode_base64(&self.checkpoint, "checkpoint")?;
        if checkpoint_bytes != proof.checkpoint {
            return Err(AnswerError::CheckpointMismatch);
        }
        if proof.index != self.entry_index {
            return Err(AnswerError::IndexMismatch {
                entry_index: self.entry_index,
                proof_index: proof.index,
            });
        }
        let checkpoint = parse_checkpoint(&proof.checkpoint)?;
        if checkpoint.origin != self.log_origin {
            return Err(AnswerError::OriginMismatch {
                log_origin: self.log_origin.clone(),
                checkpoint_origin: checkpoint.origin,
            });
        }
        if let Some(extra) = &proof.extra
            && *extra != entry.to_bytes()
        {
            return Err(AnswerError::ExtraMismatch);
        }
        Ok(DecodedAnswer {
            entry,
            proof,
            checkpoint,
        })
    }
}

fn decode_base64(text: &str, field: &'static str) -> Result<Vec<u8>, AnswerError> {
    let bytes = BASE64
        .decode(text)
        .map_err(|_| AnswerError::Base64 { field })?;
    if BASE64.encode(&bytes) != text {
        return Err(AnswerError::Base64 { field });
    }
    Ok(bytes)
}

fn parse_checkpoint(note: &[u8]) -> Result<Checkpoint, AnswerError> {
    let note = Note::parse(note).map_err(|e| AnswerError::Proof(ProofError::CheckpointNote(e)))?;
    note.text
        .parse::<Checkpoint>()
        .map_err(|e| AnswerError::Proof(ProofError::Checkpoint(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::note::{KeyType, Signer};

    fn entry(publisher: bool) -> Entry {
        let mut text = String::from(
            "pypi-transparency/v1\nsha256:bf272323e553dfb2e87d9bfd225ca7b0f467b919d7bbd355436d3fd37cb0acd4\nurllib3-2.6.3-py3-none-any.whl",
        );
        if publisher {
            // The draft's "Example Log Entry".
            text.push_str("\npublisher https://token.actions.githubusercontent.com https://github.com/urllib3/urllib3/.github/workflows/publish.yml@refs/tags/2.6.3");
        }
        Entry::parse(text.as_bytes()).unwrap()
    }

    fn proof_for(entry: &Entry, origin: &str) -> TlogProof {
        let signer = Signer::generate(origin, KeyType::Ed25519, [3; 32]).unwrap();
        let body = format!("{origin}\n1\n{}\n", entry.leaf_hash().to_base64());
        let note = Note::sign(&body, &[&signer]).unwrap();
        TlogProof {
            extra: Some(entry.to_bytes()),
            index: 0,
            inclusion_proof: vec![],
            checkpoint: note.to_bytes(),
        }
    }

    #[test]
    fn answer_round_trips_with_and_without_publisher() {
        for publisher in [false, true] {
            let e = entry(publisher);
            let p = proof_for(&e, "example.org/log");
            let answer = ProofAnswer::new(&e, &p).unwrap();
            assert_eq!(answer.log_origin, "example.org/log");
            let json = answer.to_json();
            assert_eq!(json.contains("\"publisher\""), publisher);
            let decoded = ProofAnswer::from_json(json.as_bytes())
                .unwrap()
                .decode()
                .unwrap();
            assert_eq!(decoded.entry, e);
            assert_eq!(decoded.proof, p);
            assert_eq!(decoded.checkpoint.size, 1);
        }
    }

    #[test]
    fn draft_example_entry_object_gives_the_draft_example_bytes() {
        let json = br#"{"checksum":"sha256:bf272323e553dfb2e87d9bfd225ca7b0f467b919d7bbd355436d3fd37cb0acd4","filename":"urllib3-2.6.3-py3-none-any.whl","publisher":{"issuer":"https://token.actions.githubusercontent.com","subject":"https://github.com/urllib3/urllib3/.github/workflows/publish.yml@refs/tags/2.6.3"}}"#;
        let object: AnswerEntry = serde_json::from_slice(json).unwrap();
        assert_eq!(object.to_entry().unwrap(), entry(true));
    }

    #[test]
    fn parts_that_disagree_are_refused() {
        let e = entry(false);
        let p = proof_for(&e, "example.org/log");
        let good = ProofAnswer::new(&e, &p).unwrap();

        let mut a = good.clone();
        a.entry_index = 1;
        assert!(matches!(a.decode(), Err(AnswerError::IndexMismatch { .. })));

        let mut a = good.clone();
        a.log_origin = "other.org/log".into();
        assert!(matches!(
            a.decode(),
            Err(AnswerError::OriginMismatch { .. })
        ));

        let mut a = good.clone();
        a.checkpoint = BASE64.encode(&proof_for(&e, "other.org/log").checkpoint);
        assert!(matches!(a.decode(), Err(AnswerError::CheckpointMismatch)));

        let mut a = good.clone();
        a.entry.filename = "urllib3-2.6.4-py3-none-any.whl".into();
        assert!(matches!(a.decode(), Err(AnswerError::ExtraMismatch)));

        let mut a = good.clone();
        a.version = 2;
        assert!(matches!(
            a.decode(),
            Err(AnswerError::UnknownVersion { version: 2 })
        ));

        let mut a = good.clone();
        a.inclusion_proof.push('!');
        assert!(matches!(
            a.decode(),
            Err(AnswerError::Base64 {
                field: "inclusion_proof"
            })
        ));

        let mut a = good;
        a.entry.checksum = "sha256:AB".into();
        assert!(matches!(a.decode(), Err(AnswerError::Entry(_))));
    }

    #[test]
    fn unknown_fields_and_oversized_answers_are_refused() {
        let e = entry(false);
        let json = ProofAnswer::new(&e, &proof_for(&e, "o.example/log"))
            .unwrap()
            .to_json();
        let extra = json.replacen('{', r#"{"surprise":1,"#, 1);
        assert!(matches!(
            ProofAnswer::from_json(extra.as_bytes()),
            Err(AnswerError::Malformed { .. })
        ));
        let big = vec![b' '; MAX_ANSWER_LEN + 1];
        assert!(matches!(
            ProofAnswer::from_json(&big),
            Err(AnswerError::TooLarge { .. })
        ));
    }
}
