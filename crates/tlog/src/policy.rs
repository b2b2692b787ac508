//! C2SP tlog-policy: which logs and witnesses a verifier trusts, and the quorum of
//! witness cosignatures a checkpoint needs.
//!
//! A policy file is lines of `log <vkey> [<url>]`, `witness <name> <vkey> [<url>]`,
//! `group <name> (all|any|<k>) <name>...` and exactly one `quorum <name>|none`, plus
//! blank lines and `#` comments. [`Policy::from_str`] (or [`Policy::parse`] for raw
//! octets) checks every rule of the spec and names the line of the first violation;
//! [`fmt::Display`] writes a canonical policy (logs, witnesses, groups, quorum; no
//! comments) that parses back to an equal value.
//!
//! ```
//! use bintrail_tlog::note::{KeyType, Signer};
//! use bintrail_tlog::policy::Policy;
//!
//! let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
//! let w1 = Signer::generate("w1.example", KeyType::CosignatureV1, [2; 32]).unwrap();
//! let w2 = Signer::generate("w2.example", KeyType::CosignatureV1, [3; 32]).unwrap();
//! let text = format!(
//!     "log {}\nwitness W1 {}\nwitness W2 {}\ngroup both all W1 W2\nquorum both\n",
//!     log.verifier(),
//!     w1.verifier(),
//!     w2.verifier(),
//! );
//! let policy: Policy = text.parse().unwrap();
//! let (v1, v2) = (w1.verifier(), w2.verifier());
//! assert!(!policy.quorum_met(&[&v1]));
//! assert!(policy.quorum_met(&[&v1, &v2]));
//! assert_eq!(policy.to_string(), text);
//! ```

use std::collections::HashMap;
use std::fmt;

use crate::checkpoint::Checkpoint;
use crate::cosignature::verified_cosigners;
use crate::note::{KeyType, Note, NoteError, Verifier};

mod error;
mod parse;
#[cfg(test)]
mod tests;

pub use error::{CheckpointVerifyError, LineProblem, PolicyError};

/// The most `log` lines accepted: the spec's recommended minimum to support.
pub const MAX_LOGS: usize = 32;
/// The most `witness` lines accepted: the spec's recommended minimum to support.
pub const MAX_WITNESSES: usize = 32;
/// The most `group` lines accepted: the spec's recommended minimum to support.
pub const MAX_GROUPS: usize = 32;
/// The largest policy file accepted, in bytes; generous for 96 definitions and comments.
pub const MAX_POLICY_SIZE: usize = 1 << 20;

/// The predefined name a quorum line uses to require no cosignatures.
const NONE: &str = "none";

/// A parsed tlog-policy.
///
/// A `Policy` from [`FromStr`](std::str::FromStr) or [`Policy::parse`] satisfies every rule of the spec.
/// The fields are public so callers can inspect a policy or build one in code; a value
/// that breaks the rules formats to text that does not parse, and [`Policy::quorum_met`]
/// still terminates on it, counting undefined or later-defined members as not
/// witnessing (so a broken policy can only be stricter, never weaker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The logs, in file order; a checkpoint signed by any one of them is acceptable.
    pub logs: Vec<PolicyLog>,
    /// The witnesses, in file order.
    pub witnesses: Vec<PolicyWitness>,
    /// The witness groups, in file order (each refers only to earlier names).
    pub groups: Vec<PolicyGroup>,
    /// The quorum rule.
    pub quorum: Quorum,
}

/// A `log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// The log's key: type `0x01` (Ed25519), named after the log's origin.
    pub verifier: Verifier,
    /// The optional URL; its meaning is application specific.
    pub url: Option<String>,
}

/// A `witness` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The policy-local name used by groups and the quorum.
    pub name: String,
    /// The witness's key: type `0x04` (tlog-cosignature `cosignature/v1`).
    pub verifier: Verifier,
    /// The optional URL, by convention the witness's tlog-witness submission prefix.
    pub url: Option<String>,
}

/// A `group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyGroup {
    /// The group's name, in the same namespace as witness names.
    pub name: String,
    /// How many members must witness for the group to witness.
    pub threshold: Threshold,
    /// Names of witnesses or earlier groups, each at most once in the whole policy.
    pub members: Vec<String>,
}

/// A group's threshold, kept as written so that formatting reproduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// `all`: every member.
    All,
    /// `any`: at least one member.
    Any,
    /// `<k>`: at least k members, 1 <= k <= n.
    AtLeast(usize),
}

/// The `quorum` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignatures required.
    None,
    /// `quorum <name>`: the named witness or group must witness.
    Named(String),
}

/// A checkpoint accepted by [`Policy::verify_checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The checkpoint body, parsed.
    pub checkpoint: Checkpoint,
    /// The whole signed note, parsed (unknown signatures included).
    pub note: Note,
    /// The policy log whose key signed the checkpoint.
    pub log: Verifier,
    /// The names of the policy witnesses with a valid cosignature, in policy order.
    pub witnesses: Vec<String>,
}

impl Policy {
    /// Reports whether the witnesses in `cosigned` (those whose cosignatures verified)
    /// satisfy the quorum.
    ///
    /// A policy witness counts when `cosigned` holds a verifier equal to its key (same
    /// name, key ID, type and public key); other entries are ignored. `quorum none` is
    /// always met. Groups are evaluated in file order, each from its members' results.
    pub fn quorum_met(&self, cosigned: &[&Verifier]) -> bool {
        let target = match &self.quorum {
            Quorum::None => return true,
            Quorum::Named(name) => name.as_str(),
        };
        let mut witnessed: HashMap<&str, bool> = HashMap::new();
        for w in &self.witnesses {
            let signed = cosigned.iter().any(|v| **v == w.verifier);
            witnessed.insert(&w.name, signed);
        }
        for group in &self.groups {
            let count = group
                .members
                .iter()
                .filter(|m| witnessed.get(m.as_str()).copied().unwrap_or(false))
                .count();
            let met = count >= group.threshold.required(group.members.len());
            witnessed.insert(&group.name, met);
        }
        witnessed.get(target).copied().unwrap_or(false)
    }

    /// Parses a signed checkpoint note and accepts it only if a policy log signed it and
    /// the valid cosignatures from policy witnesses meet the quorum.
    ///
    /// The log is found by the checkpoint's origin, which must be the log key's name
    /// (tlog-policy); several logs may share an origin, and any one signature suffices.
    /// Invalid or unknown cosignatures are ignored: they only fail to count. Cosignature
    /// timestamps are not judged (this crate has no clock).
    ///
    /// Errors, in the order checked: [`CheckpointVerifyError::Note`], [`CheckpointVerifyError::Checkpoint`],
    /// [`CheckpointVerifyError::UnknownLog`], [`CheckpointVerifyError::InvalidLogSignature`],
    /// [`CheckpointVerifyError::NotSignedByLog`], [`CheckpointVerifyError::QuorumNotMet`].
    pub fn verify_checkpoint(
        &self,
        note_bytes: &[u8],
    ) -> Result<VerifiedCheckpoint, CheckpointVerifyError> {
        let note = Note::parse(note_bytes).map_err(CheckpointVerifyError::Note)?;
        let checkpoint: Checkpoint = note
            .text
            .parse()
            .map_err(CheckpointVerifyError::Checkpoint)?;
        let origin = checkpoint.origin.clone();
        let logs: Vec<Verifier> = self
            .logs
            .iter()
            .filter(|log| log.verifier.name() == origin)
            .map(|log| log.verifier.clone())
            .collect();
        if logs.is_empty() {
            return Err(CheckpointVerifyError::UnknownLog { origin });
        }
        let log = match note.verify(&logs) {
            Ok(verified) => verified[0].clone(),
            Err(NoteError::NoVerifiedSignature) => {
                return Err(CheckpointVerifyError::NotSignedByLog { origin });
            }
            Err(error) => return Err(CheckpointVerifyError::InvalidLogSignature { origin, error }),
        };
        let keys: Vec<Verifier> = self.witnesses.iter().map(|w| w.verifier.clone()).collect();
        let cosigned = verified_cosigners(&note, &checkpoint, &keys);
        if !self.quorum_met(&cosigned) {
            return Err(CheckpointVerifyError::QuorumNotMet {
                origin,
                size: checkpoint.size,
                cosigners: self.names_of(&cosigned),
            });
        }
        let witnesses = self.names_of(&cosigned);
        Ok(VerifiedCheckpoint {
            checkpoint,
            note,
            log,
            witnesses,
        })
    }

    /// The policy names of the witnesses whose keys are in `cosigned`, in policy order.
    fn names_of(&self, cosigned: &[&Verifier]) -> Vec<String> {
        self.witnesses
            .iter()
            .filter(|w| cosigned.iter().any(|v| **v == w.verifier))
            .map(|w| w.name.clone())
            .collect()
    }
}

impl Threshold {
    /// How many of `members` members must witness; never less than 1, so a hand-built
    /// `AtLeast(0)` or an empty `all` group is never met by default.
    pub fn required(self, members: usize) -> usize {
        let k = match self {
            Threshold::All => members,
            Threshold::Any => 1,
            Threshold::AtLeast(k) => k,
        };
        k.max(1)
    }
}

impl fmt::Display for Policy {
    /// Writes the canonical policy: all `log` lines, then `witness` lines, then `group`
    /// lines, each in file order, then the `quorum` line; single spaces, a newline after
    /// every line, no comments. Vkeys are written canonically (lowercase key IDs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for log in &self.logs {
            write!(f, "log {}", log.verifier)?;
            write_url(f, &log.url)?;
        }
        for w in &self.witnesses {
            write!(f, "witness {} {}", w.name, w.verifier)?;
            write_url(f, &w.url)?;
        }
        for g in &self.groups {
            write!(f, "group {} {}", g.name, g.threshold)?;
            for member in &g.members {
                write!(f, " {member}")?;
            }
            writeln!(f)?;
        }
        match &self.quorum {
            Quorum::None => writeln!(f, "quorum {NONE}"),
            Quorum::Named(name) => writeln!(f, "quorum {name}"),
        }
    }
}

fn write_url(f: &mut fmt::Formatter<'_>, url: &Option<String>) -> fmt::Result {
    match url {
        Some(url) => writeln!(f, " {url}"),
        None => writeln!(f),
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::All => f.write_str("all"),
            Threshold::Any => f.write_str("any"),
            Threshold::AtLeast(k) => write!(f, "{k}"),
        }
    }
}
