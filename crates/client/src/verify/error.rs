//! Why a verification failed: [`VerifyError`], one variant per step, the [`NoProof`] cases
//! and the [`FailureKind`] groups that exit codes and reports use.

use std::path::PathBuf;

use bintrail_tlog::note::NoteError;
use bintrail_tlog::pypi::Checksum;
use bintrail_tlog::tree::TreeError;

use crate::fetch::FetchError;

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
    #[error("bad log signature on the checkpoint of {origin:?}: {source}")]
    BadLogSignature {
        /// The checkpoint's origin line (unauthenticated).
        origin: String,
        /// What failed.
        #[source]
        source: NoteError,
    },
    /// Returned when the verified cosignatures do not satisfy the policy's quorum.
    #[error("witness quorum not met: cosigned by {} policy witness(es){}", cosigners.len(), if cosigners.is_empty() { String::new() } else { format!(" ({})", cosigners.join(", ")) })]
    QuorumNotMet {
        /// Names of the policy witnesses whose cosignatures verified.
        cosigners: Vec<String>,
    },
    /// Returned when the inclusion proof does not lead from the entry to the
    /// checkpoint's root hash.
    #[error("bad inclusion proof for index {index} in tree size {size}: {source}")]
    BadInclusionProof {
        /// The entry index the proof claims.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// What failed.
        #[source]
        source: TreeError,
    },
    /// Returned when two checkpoints signed by the same log are inconsistent. Both
    /// are kept as evidence in `evidence`.
    #[error("FORK DETECTED for {origin}: the log signed tree size {old_size} and tree size {new_size} that are inconsistent ({reason}{}); evidence saved in {} (README: \"Forks and reset logs\" says what to do)", save_error.as_ref().map(|e| format!("; saving the evidence failed: {e}")).unwrap_or_default(), evidence.display())]
    Fork {
        /// The log's origin.
        origin: String,
        /// The size of the checkpoint accepted earlier.
        old_size: u64,
        /// The size of the checkpoint just seen.
        new_size: u64,
        /// What the consistency check found (boxed: it holds a [`TreeError`], and
        /// every `Result<_, VerifyError>` would otherwise carry its size).
        reason: Box<ForkReason>,
        /// The directory holding both signed checkpoints, or the origin's state
        /// directory when saving them failed (`save_error`).
        evidence: PathBuf,
        /// Why saving both checkpoints failed, if it did; the fork is reported either way.
        save_error: Option<std::io::Error>,
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
    #[error("{what}: {source}")]
    Malformed {
        /// Which input.
        what: String,
        /// What is wrong with it: the parser's error, or a message where no parser
        /// was involved. Open-ended because the inputs are (notes, checkpoints,
        /// proofs, policies, entries, JSON and TOML documents).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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

/// What showed two checkpoints of one log to be inconsistent ([`VerifyError::Fork`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForkReason {
    /// Both checkpoints have the same tree size but different root hashes.
    #[error("two different root hashes for tree size {size}")]
    DifferentRootHashes {
        /// The tree size of both checkpoints.
        size: u64,
    },
    /// The consistency proof from the new (larger) tree to the stored one does not verify.
    #[error("consistency proof from the new tree: {0}")]
    NewTreeInconsistent(#[source] TreeError),
    /// The consistency proof from the stored (larger) tree to the new one does not verify.
    #[error("consistency proof from the stored tree: {0}")]
    StoredTreeInconsistent(#[source] TreeError),
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

    /// A [`VerifyError::Malformed`] for the input `what`: `source` is the parser's
    /// error, or a `String`/`&str` message where there is no error to keep.
    pub fn malformed(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        VerifyError::Malformed {
            what: what.into(),
            source: source.into(),
        }
    }
}
