//! Offline verification of an artifact against a tlog-proof and a tlog-policy.
//!
//! The steps follow C2SP tlog-proof, "Verifying a tlog proof", in its order, each with
//! its own [`VerifyError`] variant:
//!
//! 1. hash the file and rebuild the logged entry: the proof's `extra` line holds the
//!    exact entry bytes; they must parse, name this file, and carry this file's
//!    digest ([`VerifyError::DigestMismatch`], [`VerifyError::FilenameMismatch`],
//!    or [`VerifyError::ProofForAnotherFile`] when both differ);
//! 2. the checkpoint must be signed by a log the policy lists
//!    ([`VerifyError::UnknownLog`], [`VerifyError::BadLogSignature`]);
//! 3. the witness cosignatures must satisfy the policy's quorum
//!    ([`VerifyError::QuorumNotMet`]);
//! 4. the inclusion proof must bind the entry's leaf hash to the checkpoint's root
//!    hash ([`VerifyError::BadInclusionProof`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::{self, Policy};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Checksum, Entry, Filename};
use bintrail_tlog::tree::{TreeError, verify_record};

use crate::digest::sha256_reader;
use crate::fetch::FetchError;

/// The largest `.tlog-proof` file read: 64 hashes, a checkpoint with 100
/// signatures and an entry fit in a few tens of kilobytes.
pub const MAX_PROOF_FILE: u64 = 1 << 20;

/// The largest policy file read.
pub const MAX_POLICY_FILE: u64 = 1 << 20;

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The logged entry: file name, checksum, publisher (if any).
    pub entry: Entry,
    /// The entry's index in the log.
    pub index: u64,
    /// The checkpoint the inclusion proof is against, signed by a policy log.
    pub checkpoint: Checkpoint,
    /// The signed checkpoint note, verbatim (what the state directory stores).
    pub checkpoint_note: Vec<u8>,
    /// Names of the policy witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
    /// The policy log key that signed the checkpoint (with the origin, it names the
    /// log whose state [`crate::consistency`] keeps).
    pub log_key: Verifier,
}

/// Why an artifact did not verify. Each variant is one step of the verification,
/// so a caller can tell them apart without reading messages; [`VerifyError::kind`]
/// groups them for exit codes and reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Returned when the file's SHA-256 differs from the checksum in the logged entry.
    #[error("digest mismatch: the file has {actual}, the log holds {logged} for {filename}")]
    DigestMismatch {
        /// The file name the entry is for.
        filename: String,
        /// The file's digest.
        actual: Checksum,
        /// The digest in the proof's entry.
        logged: Checksum,
    },
    /// Returned when the file's name differs from the name in the logged entry (the
    /// proof is for another file, or the file was renamed).
    #[error("file name mismatch: the file is named {actual:?}, the proof is for {logged:?}")]
    FilenameMismatch {
        /// The file's name.
        actual: String,
        /// The name in the proof's entry.
        logged: String,
    },
    /// Returned when both the name and the digest differ from the logged entry: the
    /// proof is for another file altogether.
    #[error(
        "the proof is for another file: {logged_name} with {logged}, not {actual_name} with {actual}"
    )]
    ProofForAnotherFile {
        /// The file's name.
        actual_name: String,
        /// The file's digest.
        actual: Checksum,
        /// The name in the proof's entry.
        logged_name: String,
        /// The digest in the proof's entry.
        logged: Checksum,
    },
    /// Returned when the logged publisher (or its absence) matches none of the identities
    /// the caller requires (see [`crate::identity`]).
    #[error("identity mismatch: {filename} was logged {}, which none of {} accepts", logged.as_ref().map_or_else(|| "without a publisher".to_owned(), |p| format!("by {} {}", p.issuer, p.subject)), required.join(", "))]
    IdentityMismatch {
        /// The file name.
        filename: String,
        /// The publisher in the logged entry, if any.
        logged: Option<bintrail_tlog::pypi::Publisher>,
        /// The required identities, as given.
        required: Vec<String>,
    },
    /// Returned when the log holds no entry for the file, or no proof was at hand.
    #[error("not logged: {0}")]
    NotLogged(NoProof),
    /// Returned when the checkpoint carries no signature from any log in the policy.
    #[error("the checkpoint of {origin:?} is not signed by any log in the policy")]
    UnknownLog {
        /// The checkpoint's origin line (unauthenticated).
        origin: String,
    },
    /// Returned when a signature by a policy log's key does not verify: the
    /// checkpoint was altered, or signed by an impostor using the log's key name.
    #[error("bad log signature on the checkpoint of {origin:?}: {reason}")]
    BadLogSignature {
        /// The checkpoint's origin line (unauthenticated).
        origin: String,
        /// What failed.
        reason: String,
    },
    /// Returned when the verified cosignatures do not satisfy the policy's quorum.
    #[error("witness quorum not met: cosigned by {} policy witness(es){}", cosigners.len(), if cosigners.is_empty() { String::new() } else { format!(" ({})", cosigners.join(", ")) })]
    QuorumNotMet {
        /// Names of the policy witnesses whose cosignatures verified.
        cosigners: Vec<String>,
    },
    /// Returned when the inclusion proof does not lead from the entry to the
    /// checkpoint's root hash.
    #[error("bad inclusion proof for index {index} in tree size {size}: {reason}")]
    BadInclusionProof {
        /// The entry index the proof claims.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// What failed.
        reason: String,
    },
    /// Returned when two checkpoints signed by the same log are inconsistent. Both
    /// are kept as evidence in `evidence`.
    #[error("FORK DETECTED for {origin}: the log signed tree size {old_size} and tree size {new_size} that are inconsistent ({reason}); evidence saved in {} (README: \"Forks and reset logs\" says what to do)", evidence.display())]
    Fork {
        /// The log's origin.
        origin: String,
        /// The size of the checkpoint accepted earlier.
        old_size: u64,
        /// The size of the checkpoint just seen.
        new_size: u64,
        /// What the consistency check found.
        reason: String,
        /// The directory holding both signed checkpoints.
        evidence: PathBuf,
    },
    /// Returned when the log served data (tiles) that does not match a checkpoint
    /// it signed, so consistency could not be checked.
    #[error("the log misbehaved: tiles do not match the signed tree: {0}")]
    LogMisbehaved(#[source] TreeError),
    /// Returned when an index's log key changed and the new key (under a new origin)
    /// verifies the proof, but the change was not accepted: the draft PEP's "new key
    /// and new origin" case, which the user must confirm from the index's
    /// announcements before trusting.
    #[error(
        "the log key of {index} changed (origin {old_origin:?} -> {new_origin:?}); check the index's announcements that this change is legitimate, then accept the new key explicitly (--accept-new-key)"
    )]
    KeyChanged {
        /// The index whose `tlog-info` changed.
        index: String,
        /// The origin of the key accepted earlier.
        old_origin: String,
        /// The origin of the new key.
        new_origin: String,
    },
    /// Returned when an index announces a new log key but the log's origin did not
    /// change: the draft PEP requires a new origin with every new key, so the proof
    /// is refused.
    #[error(
        "the log key of {index} changed but its origin {origin:?} did not: a key change must come with a new origin; refusing (check the index's announcements)"
    )]
    KeyChangedSameOrigin {
        /// The index whose `tlog-info` changed.
        index: String,
        /// The unchanged origin.
        origin: String,
    },
    /// Returned when an input (proof, policy, entry, file name, server response)
    /// is malformed.
    #[error("{what}: {reason}")]
    Malformed {
        /// Which input.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Returned when reading a local file fails.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Returned when talking to the log fails (network, HTTP status, size caps).
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// Why no proof of a file was found ([`VerifyError::NotLogged`]): where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoProof {
    /// A lock file lists the file without a proof.
    #[error("the lock stores no proof for {filename}")]
    NotInLock {
        /// The file name.
        filename: String,
    },
    /// No proof file lies beside the file and no log was given to look it up in.
    #[error("no proof at {} (pass --proof, or --log URL to look it up)", path.display())]
    NoProofFile {
        /// Where the proof was looked for.
        path: PathBuf,
    },
    /// The index answered 404 for the file's proof.
    #[error("the index has no inclusion proof at {url}")]
    NotInIndex {
        /// The proof URL asked.
        url: String,
    },
    /// The index has no proof and the policy names no log to look it up in.
    #[error("no inclusion proof for {filename} and the policy names no log URL to look it up")]
    NoLogUrl {
        /// The file name.
        filename: String,
    },
    /// The log holds no entry for the file.
    #[error("{log} holds no entry for {filename}")]
    NotInLog {
        /// The log's base URL.
        log: String,
        /// The file name.
        filename: String,
    },
}

/// The kinds of verification failure a caller reports on, each with a stable label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// [`VerifyError::DigestMismatch`].
    DigestMismatch,
    /// [`VerifyError::FilenameMismatch`].
    FilenameMismatch,
    /// [`VerifyError::ProofForAnotherFile`].
    ProofForAnotherFile,
    /// [`VerifyError::NotLogged`].
    NotLogged,
    /// [`VerifyError::UnknownLog`].
    UnknownLog,
    /// [`VerifyError::BadLogSignature`].
    BadLogSignature,
    /// [`VerifyError::QuorumNotMet`].
    QuorumNotMet,
    /// [`VerifyError::BadInclusionProof`].
    BadInclusionProof,
    /// [`VerifyError::Fork`].
    Fork,
    /// [`VerifyError::LogMisbehaved`].
    LogMisbehaved,
    /// [`VerifyError::KeyChanged`] and [`VerifyError::KeyChangedSameOrigin`].
    KeyChanged,
    /// [`VerifyError::Malformed`], [`VerifyError::Io`], [`VerifyError::Fetch`]: the
    /// check could not be made.
    UnusableInput,
    /// Not a verification failure: a submitted entry the log sequenced (it named
    /// its index) but had not published in a checkpoint by the deadline
    /// ([`crate::submit::SubmitError::Pending`]). The same add later gets its proof.
    NotYetPublished,
    /// [`VerifyError::IdentityMismatch`].
    IdentityMismatch,
}

impl FailureKind {
    /// A short, stable, kebab-case label for reports and JSON output.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::DigestMismatch => "digest-mismatch",
            FailureKind::FilenameMismatch => "filename-mismatch",
            FailureKind::ProofForAnotherFile => "proof-for-another-file",
            FailureKind::NotLogged => "not-logged",
            FailureKind::UnknownLog => "unknown-log",
            FailureKind::BadLogSignature => "bad-log-signature",
            FailureKind::QuorumNotMet => "quorum-not-met",
            FailureKind::BadInclusionProof => "bad-inclusion-proof",
            FailureKind::Fork => "fork-detected",
            FailureKind::LogMisbehaved => "log-misbehaved",
            FailureKind::KeyChanged => "key-changed",
            FailureKind::UnusableInput => "unusable-input",
            FailureKind::NotYetPublished => "not-yet-published",
            FailureKind::IdentityMismatch => "identity-mismatch",
        }
    }
}

impl VerifyError {
    /// The kind of failure, for exit codes and reports.
    pub fn kind(&self) -> FailureKind {
        match self {
            VerifyError::DigestMismatch { .. } => FailureKind::DigestMismatch,
            VerifyError::FilenameMismatch { .. } => FailureKind::FilenameMismatch,
            VerifyError::ProofForAnotherFile { .. } => FailureKind::ProofForAnotherFile,
            VerifyError::NotLogged(_) => FailureKind::NotLogged,
            VerifyError::UnknownLog { .. } => FailureKind::UnknownLog,
            VerifyError::BadLogSignature { .. } => FailureKind::BadLogSignature,
            VerifyError::QuorumNotMet { .. } => FailureKind::QuorumNotMet,
            VerifyError::BadInclusionProof { .. } => FailureKind::BadInclusionProof,
            VerifyError::Fork { .. } => FailureKind::Fork,
            VerifyError::LogMisbehaved(_) => FailureKind::LogMisbehaved,
            VerifyError::KeyChanged { .. } | VerifyError::KeyChangedSameOrigin { .. } => {
                FailureKind::KeyChanged
            }
            VerifyError::IdentityMismatch { .. } => FailureKind::IdentityMismatch,
            VerifyError::Malformed { .. } | VerifyError::Io { .. } | VerifyError::Fetch(_) => {
                FailureKind::UnusableInput
            }
        }
    }

    fn malformed(what: impl Into<String>, reason: impl ToString) -> Self {
        VerifyError::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Verifies the file at `path` against `proof` and `policy`; the file name checked
/// against the entry is the last component of `path`.
///
/// Errors: [`VerifyError::Io`] if the file cannot be read, [`VerifyError::Malformed`]
/// if its name is not UTF-8, then those of [`verify_digest`].
pub fn verify_artifact(
    path: &Path,
    proof: &TlogProof,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let filename = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            VerifyError::malformed(path.display().to_string(), "file name is not UTF-8")
        })?;
    let io_error = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    verify_artifact_reader(file, filename, proof, policy).map_err(|err| match err {
        VerifyError::Io { source, .. } => io_error(source),
        other => other,
    })
}

/// Verifies the bytes `reader` yields, as a file named `filename`, against `proof`
/// and `policy`. Errors: [`VerifyError::Io`] (with an empty path) when reading
/// fails, then those of [`verify_digest`].
pub fn verify_artifact_reader<R: Read>(
    reader: R,
    filename: &str,
    proof: &TlogProof,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let digest = sha256_reader(reader).map_err(|source| VerifyError::Io {
        path: PathBuf::new(),
        source,
    })?;
    verify_digest(digest, filename, proof, policy)
}

/// Verifies that the file named `filename` with SHA-256 `digest` is logged, per
/// `proof` and `policy`. Steps and errors are those listed in the module docs, in
/// that order; a proof without `extra` is checked against the entry rebuilt from the
/// name and digest alone (no publisher).
pub fn verify_digest(
    digest: [u8; 32],
    filename: &str,
    proof: &TlogProof,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let entry = logged_entry(digest, filename, proof)?;
    let signed = verify_signed_checkpoint(&proof.checkpoint, policy)?;
    let leaf = leaf_hash(&entry.to_bytes());
    verify_inclusion(proof, &signed.checkpoint, leaf)?;
    Ok(Verified {
        entry,
        index: proof.index,
        checkpoint: signed.checkpoint,
        checkpoint_note: proof.checkpoint.clone(),
        cosigners: signed.cosigners,
        log_key: signed.log_key,
    })
}

/// Step 1: the entry the proof is for, checked against the file.
fn logged_entry(digest: [u8; 32], filename: &str, proof: &TlogProof) -> Result<Entry, VerifyError> {
    let actual = Checksum::from_digest(digest);
    let Some(extra) = &proof.extra else {
        let name: Filename = filename
            .parse()
            .map_err(|err| VerifyError::malformed(format!("file name {filename:?}"), err))?;
        return Ok(Entry {
            checksum: actual,
            filename: name,
            publisher: None,
        });
    };
    let entry =
        Entry::parse(extra).map_err(|err| VerifyError::malformed("proof entry (extra)", err))?;
    let name_matches = entry.filename.as_str() == filename;
    match (entry.checksum == actual, name_matches) {
        (true, true) => {}
        (false, true) => {
            return Err(VerifyError::DigestMismatch {
                filename: entry.filename.to_string(),
                actual,
                logged: entry.checksum,
            });
        }
        (true, false) => {
            return Err(VerifyError::FilenameMismatch {
                actual: filename.to_owned(),
                logged: entry.filename.to_string(),
            });
        }
        (false, false) => {
            return Err(VerifyError::ProofForAnotherFile {
                actual_name: filename.to_owned(),
                actual,
                logged_name: entry.filename.to_string(),
                logged: entry.checksum,
            });
        }
    }
    Ok(entry)
}

/// A checkpoint that passed steps 2 and 3.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// Names of the policy witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
    /// The policy log key that signed it.
    pub log_key: Verifier,
}

/// Steps 2 and 3: the log signature and the witness quorum, per the policy.
pub fn verify_checkpoint(
    note: &[u8],
    policy: &Policy,
) -> Result<(Checkpoint, Vec<String>), VerifyError> {
    verify_signed_checkpoint(note, policy).map(|s| (s.checkpoint, s.cosigners))
}

/// [`verify_checkpoint`], also naming the log key that signed.
pub fn verify_signed_checkpoint(
    note: &[u8],
    policy: &Policy,
) -> Result<SignedCheckpoint, VerifyError> {
    match policy.verify_checkpoint(note) {
        Ok(verified) => Ok(SignedCheckpoint {
            checkpoint: verified.checkpoint,
            cosigners: verified.witnesses,
            log_key: verified.log,
        }),
        // Either no policy log has this origin, or none of the keys the policy lists
        // for it signed: both mean "not a log this policy trusts".
        Err(policy::CheckpointVerifyError::UnknownLog { origin })
        | Err(policy::CheckpointVerifyError::NotSignedByLog { origin }) => {
            Err(VerifyError::UnknownLog { origin })
        }
        Err(policy::CheckpointVerifyError::InvalidLogSignature { origin, error }) => {
            Err(VerifyError::BadLogSignature {
                origin,
                reason: error.to_string(),
            })
        }
        Err(policy::CheckpointVerifyError::QuorumNotMet { cosigners, .. }) => {
            Err(VerifyError::QuorumNotMet { cosigners })
        }
        Err(other) => Err(VerifyError::malformed(
            format!("checkpoint of {:?}", unauthenticated_origin(note)),
            other,
        )),
    }
}

/// Step 4: the inclusion proof, from the leaf to the checkpoint's root hash.
fn verify_inclusion(
    proof: &TlogProof,
    checkpoint: &Checkpoint,
    leaf: Hash,
) -> Result<(), VerifyError> {
    verify_record(
        &proof.inclusion_proof,
        checkpoint.size,
        checkpoint.root_hash,
        proof.index,
        leaf,
    )
    .map_err(|err| VerifyError::BadInclusionProof {
        index: proof.index,
        size: checkpoint.size,
        reason: err.to_string(),
    })
}

/// The first line of a note, for error messages only: it is not authenticated.
fn unauthenticated_origin(note: &[u8]) -> String {
    let line = note.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).chars().take(200).collect()
}

/// Reads and parses a `.tlog-proof` file. Errors: [`VerifyError::Io`] if it cannot be
/// read, [`VerifyError::Malformed`] if it is larger than [`MAX_PROOF_FILE`] or does
/// not parse.
pub fn load_proof(path: &Path) -> Result<TlogProof, VerifyError> {
    let bytes = read_capped(path, MAX_PROOF_FILE)?;
    parse_proof(&bytes, &path.display().to_string())
}

/// Parses tlog-proof text that came from `source` (a path or URL, for messages).
pub fn parse_proof(bytes: &[u8], source: &str) -> Result<TlogProof, VerifyError> {
    TlogProof::parse(bytes).map_err(|err| {
        VerifyError::malformed(
            format!("proof {source}"),
            format!("{err}{}", damage_hint(bytes, "proof")),
        )
    })
}

/// What most likely damaged a file that does not parse, for the error message:
/// the usual ways a copy-pasted recipe or an editor changes a signed text.
fn damage_hint(bytes: &[u8], what: &str) -> String {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return format!(
            " (the file is empty: whatever should have written the {what} failed or was \
             interrupted; write it again)"
        );
    }
    if bytes.contains(&b'\r') {
        return " (the file has Windows line endings (CR LF): it was changed after it was \
                 written; signed notes use LF only)"
            .to_owned();
    }
    if bytes.ends_with(b"\n\n") {
        return format!(
            " (the file ends with an empty line after the checkpoint's signature lines: \
             something appended a newline after the {what} was written, for example \
             `jq -r`; save it byte for byte, for example with `jq -j`)"
        );
    }
    String::new()
}

/// Reads and parses a tlog-policy file. Errors as for [`load_proof`].
pub fn load_policy(path: &Path) -> Result<Policy, VerifyError> {
    let bytes = read_capped(path, MAX_POLICY_FILE)?;
    parse_policy(&bytes, &path.display().to_string())
}

/// Parses tlog-policy text that came from `source` (a path or URL, for messages).
pub fn parse_policy(bytes: &[u8], source: &str) -> Result<Policy, VerifyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(VerifyError::malformed(
            format!("policy {source}"),
            "the file is empty (was the `bintrail policy` that should have written it \
             interrupted or failed? run `bintrail policy --log URL --out FILE` again)",
        ));
    }
    Policy::parse(bytes).map_err(|err| VerifyError::malformed(format!("policy {source}"), err))
}

fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, VerifyError> {
    let io_error = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(VerifyError::malformed(
            path.display().to_string(),
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}
