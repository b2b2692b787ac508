//! Why a policy file was rejected, and why a checkpoint failed a policy.

use super::MAX_POLICY_SIZE;
use crate::checkpoint::CheckpointError;
use crate::note::NoteError;

/// Why a policy file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Returned when the file is larger than [`MAX_POLICY_SIZE`].
    #[error("policy is {len} bytes; at most {MAX_POLICY_SIZE} are accepted")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned when a line breaks a rule; `line` counts from 1.
    #[error("policy line {line}: {problem}")]
    Line {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// Returned when the file has no `quorum` line.
    #[error("policy has no quorum line (use \"quorum none\" to require no cosignatures)")]
    MissingQuorum,
}

/// What is wrong with one line of a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// Returned for an octet the spec forbids (controls other than tab, and DEL);
    /// `column` counts bytes from 1.
    #[error("forbidden octet 0x{octet:02x} at column {column}")]
    ForbiddenOctet {
        /// The octet.
        octet: u8,
        /// Its 1-based byte column.
        column: usize,
    },
    /// Returned when a name, key or URL is not UTF-8 (bintrail keeps names as strings;
    /// comments may hold any octets).
    #[error("non-UTF-8 text outside a comment")]
    NotUtf8,
    /// Returned for a line that starts with anything but `log`, `witness`, `group`,
    /// `quorum` or `#`.
    #[error("unknown keyword {keyword:?}")]
    UnknownKeyword {
        /// The first word of the line.
        keyword: String,
    },
    /// Returned when a line has too few or too many items.
    #[error("expected {expected}")]
    Arity {
        /// The line's shape.
        expected: &'static str,
    },
    /// Returned when a vkey does not parse.
    #[error("invalid vkey {vkey:?}: {error}")]
    InvalidVkey {
        /// The vkey text.
        vkey: String,
        /// Why it failed.
        error: NoteError,
    },
    /// Returned when a log key is not type 0x01 or a witness key not type 0x04.
    #[error("{role} key must be of type 0x{expected:02x}, found 0x{found:02x}")]
    WrongKeyType {
        /// `"log"` or `"witness"`.
        role: &'static str,
        /// The required type byte.
        expected: u8,
        /// The type byte found.
        found: u8,
    },
    /// Returned when two logs, or two witnesses, wrap the same public key.
    #[error("duplicate {role} key (same public key as line {first_line})")]
    DuplicateKey {
        /// `"log"` or `"witness"`.
        role: &'static str,
        /// The line of the earlier definition.
        first_line: usize,
    },
    /// Returned when a witness or group is named `none`.
    #[error("the name \"none\" is predefined and cannot be defined")]
    ReservedName,
    /// Returned when a name is defined twice (witnesses and groups share a namespace).
    #[error("name {name:?} already defined on line {first_line}")]
    DuplicateName {
        /// The name.
        name: String,
        /// The line of the earlier definition.
        first_line: usize,
    },
    /// Returned when a group member or the quorum names nothing defined on an earlier line.
    #[error("name {name:?} is not defined on an earlier line")]
    UndefinedName {
        /// The name.
        name: String,
    },
    /// Returned when `none` is listed as a group member.
    #[error("\"none\" cannot be a group member")]
    NoneAsMember,
    /// Returned when a name is listed as a group member a second time.
    #[error("{name:?} is already a group member (line {first_line})")]
    MemberListedTwice {
        /// The name.
        name: String,
        /// The line where it was first listed.
        first_line: usize,
    },
    /// Returned when a group threshold is not `all`, `any` or a canonical decimal.
    #[error("threshold {threshold:?} is not all, any or a decimal number")]
    InvalidThreshold {
        /// The threshold text.
        threshold: String,
    },
    /// Returned when a numeric threshold is not within 1..=n.
    #[error("threshold {k} is outside 1..={members}")]
    ThresholdOutOfRange {
        /// The threshold.
        k: usize,
        /// The number of members.
        members: usize,
    },
    /// Returned for a second `quorum` line.
    #[error("second quorum line (the first is on line {first_line})")]
    DuplicateQuorum {
        /// The line of the first quorum.
        first_line: usize,
    },
    /// Returned when the file defines more than the limit of logs, witnesses or groups.
    #[error("more than {limit} {what}")]
    TooMany {
        /// `"logs"`, `"witnesses"` or `"groups"`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// Why [`Policy::verify_checkpoint`] rejected a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointVerifyError {
    /// Returned when the input is not a well-formed signed note.
    #[error("malformed checkpoint note: {0}")]
    Note(NoteError),
    /// Returned when the note text is not a well-formed checkpoint.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(CheckpointError),
    /// Returned when no policy log has the checkpoint's origin as its key name.
    #[error("no log in the policy has origin {origin:?}")]
    UnknownLog {
        /// The checkpoint's origin.
        origin: String,
    },
    /// Returned when no policy log for the origin signed the checkpoint.
    #[error("checkpoint for {origin:?} is not signed by a policy log key")]
    NotSignedByLog {
        /// The checkpoint's origin.
        origin: String,
    },
    /// Returned when a signature from a policy log key does not verify: the note was
    /// tampered with or the log misbehaved.
    #[error("invalid log signature on checkpoint for {origin:?}: {error}")]
    InvalidLogSignature {
        /// The checkpoint's origin.
        origin: String,
        /// The note-level failure.
        error: NoteError,
    },
    /// Returned when the valid cosignatures do not satisfy the quorum.
    #[error("quorum not met for {origin:?} at size {size}: valid cosignatures from {cosigners:?}")]
    QuorumNotMet {
        /// The checkpoint's origin.
        origin: String,
        /// The checkpoint's tree size.
        size: u64,
        /// The witnesses (policy names) whose cosignatures verified.
        cosigners: Vec<String>,
    },
}
