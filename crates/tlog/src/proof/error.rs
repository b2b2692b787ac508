//! Why a tlog-proof does not parse ([`ProofError`]) or does not verify
//! ([`ProofVerifyError`]).

use super::{MAX_PROOF_HASHES, MAX_PROOF_SIZE, PROOF_HEADER};
use crate::checkpoint::CheckpointError;
use crate::hash::Hash;
use crate::note::NoteError;
use crate::policy::CheckpointVerifyError;

/// Why [`TlogProof::parse`] rejected its input. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Returned when the input is larger than [`MAX_PROOF_SIZE`].
    #[error("proof is {len} bytes; at most {MAX_PROOF_SIZE} are accepted")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned when the first line is not [`PROOF_HEADER`].
    #[error("proof must start with the line {PROOF_HEADER:?}")]
    BadHeader,
    /// Returned when the input ends before the blank line that precedes the checkpoint.
    #[error("proof ends before the blank line and checkpoint")]
    Truncated,
    /// Returned when a line is not UTF-8.
    #[error("proof line {line} is not UTF-8")]
    NotUtf8 {
        /// The line number.
        line: usize,
    },
    /// Returned when the extra data is not canonical standard base64.
    #[error("proof line {line}: extra data is not canonical base64")]
    InvalidExtra {
        /// The line number.
        line: usize,
    },
    /// Returned when the index line is missing or malformed.
    #[error("proof line {line}: expected \"index <decimal>\" with no leading zeros")]
    InvalidIndex {
        /// The line number.
        line: usize,
    },
    /// Returned when an inclusion-proof line is not base64 of 32 bytes.
    #[error("proof line {line}: inclusion proof hash is not base64 of 32 bytes")]
    InvalidHash {
        /// The line number.
        line: usize,
    },
    /// Returned when there are more than [`MAX_PROOF_HASHES`] hashes.
    #[error("inclusion proof has more than {MAX_PROOF_HASHES} hashes")]
    TooManyHashes,
    /// Returned when the checkpoint is not a well-formed signed note.
    #[error("proof checkpoint is not a signed note: {0}")]
    CheckpointNote(NoteError),
    /// Returned when the checkpoint note's text is not a well-formed checkpoint.
    #[error("proof checkpoint is malformed: {0}")]
    Checkpoint(CheckpointError),
}

/// Why [`TlogProof::verify`] rejected a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofVerifyError {
    /// Returned when the checkpoint fails the policy: unknown or wrong log, bad log
    /// signature, or too few valid cosignatures.
    #[error("checkpoint rejected by policy: {0}")]
    Checkpoint(#[from] CheckpointVerifyError),
    /// Returned when the index is not below the checkpoint's tree size.
    #[error("index {index} is not in the checkpointed tree of size {size}")]
    IndexOutOfRange {
        /// The proof's index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
    /// Returned when the inclusion proof has the wrong number of hashes for the index
    /// and tree size.
    #[error("inclusion proof has {got} hashes; index {index} in size {size} needs {expected}")]
    InclusionProofLength {
        /// The proof's index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// The number of hashes needed.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// Returned when the inclusion proof does not lead from the leaf hash to the
    /// checkpoint's root hash: wrong leaf, wrong index, or a forged proof.
    #[error(
        "inclusion proof for leaf {leaf_hash} at index {index} does not match root {root_hash} of size {size}"
    )]
    InclusionProofInvalid {
        /// The leaf hash checked.
        leaf_hash: Hash,
        /// The proof's index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// The checkpoint's root hash.
        root_hash: Hash,
    },
}
