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
use std::str::FromStr;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::cosignature::verified_cosigners;
use crate::note::{KeyType, Note, NoteError, Verifier};

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
/// A `Policy` from [`FromStr`] or [`Policy::parse`] satisfies every rule of the spec.
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
pub enum VerifyError {
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

impl Policy {
    /// Parses a policy file from raw octets.
    ///
    /// Lines end at `\n` (a missing final newline is accepted); fields are separated by
    /// runs of spaces and tabs. Every spec rule is enforced: allowed octets only, known
    /// keywords, vkeys of the right type (0x01 for logs, 0x04 for witnesses), no two logs
    /// or two witnesses with the same public key, names unique and not `none`, group
    /// members defined on earlier lines and listed at most once in the whole file,
    /// 1 <= k <= n, exactly one quorum naming an earlier witness or group, and at most
    /// [`MAX_LOGS`], [`MAX_WITNESSES`] and [`MAX_GROUPS`] definitions. Non-ASCII octets
    /// may appear in comments freely, and in names and URLs when they are UTF-8.
    ///
    /// Errors: [`PolicyError::Line`] for the first bad line, [`PolicyError::TooLarge`],
    /// [`PolicyError::MissingQuorum`].
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        if bytes.len() > MAX_POLICY_SIZE {
            return Err(PolicyError::TooLarge { len: bytes.len() });
        }
        let mut builder = Builder::default();
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            builder
                .line(line, raw)
                .map_err(|problem| PolicyError::Line { line, problem })?;
        }
        builder.finish()
    }

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
    /// Errors, in the order checked: [`VerifyError::Note`], [`VerifyError::Checkpoint`],
    /// [`VerifyError::UnknownLog`], [`VerifyError::InvalidLogSignature`],
    /// [`VerifyError::NotSignedByLog`], [`VerifyError::QuorumNotMet`].
    pub fn verify_checkpoint(&self, note_bytes: &[u8]) -> Result<VerifiedCheckpoint, VerifyError> {
        let note = Note::parse(note_bytes).map_err(VerifyError::Note)?;
        let checkpoint: Checkpoint = note.text.parse().map_err(VerifyError::Checkpoint)?;
        let origin = checkpoint.origin.clone();
        let logs: Vec<Verifier> = self
            .logs
            .iter()
            .filter(|log| log.verifier.name() == origin)
            .map(|log| log.verifier.clone())
            .collect();
        if logs.is_empty() {
            return Err(VerifyError::UnknownLog { origin });
        }
        let log = match note.verify(&logs) {
            Ok(verified) => verified[0].clone(),
            Err(NoteError::NoVerifiedSignature) => {
                return Err(VerifyError::NotSignedByLog { origin });
            }
            Err(error) => return Err(VerifyError::InvalidLogSignature { origin, error }),
        };
        let keys: Vec<Verifier> = self.witnesses.iter().map(|w| w.verifier.clone()).collect();
        let cosigned = verified_cosigners(&note, &checkpoint, &keys);
        if !self.quorum_met(&cosigned) {
            return Err(VerifyError::QuorumNotMet {
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

impl FromStr for Policy {
    type Err = PolicyError;

    /// Parses a policy file; see [`Policy::parse`].
    fn from_str(s: &str) -> Result<Policy, PolicyError> {
        Policy::parse(s.as_bytes())
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

/// Parser state: what has been defined so far, and where.
#[derive(Default)]
struct Builder {
    logs: Vec<(PolicyLog, usize)>,
    witnesses: Vec<(PolicyWitness, usize)>,
    groups: Vec<PolicyGroup>,
    /// Every defined witness and group name, with its line.
    names: HashMap<String, usize>,
    /// Every name listed as a group member, with the line that listed it.
    members: HashMap<String, usize>,
    quorum: Option<(Quorum, usize)>,
}

impl Builder {
    fn line(&mut self, line: usize, raw: &[u8]) -> Result<(), LineProblem> {
        if let Some((index, &octet)) = raw.iter().enumerate().find(|(_, o)| !allowed_octet(**o)) {
            return Err(LineProblem::ForbiddenOctet {
                octet,
                column: index + 1,
            });
        }
        let raw_fields: Vec<&[u8]> = raw
            .split(|&o| o == b' ' || o == b'\t')
            .filter(|field| !field.is_empty())
            .collect();
        match raw_fields.first() {
            None => return Ok(()),
            Some(first) if first.starts_with(b"#") => return Ok(()),
            Some(_) => {}
        }
        let fields = raw_fields
            .iter()
            .map(|field| std::str::from_utf8(field))
            .collect::<Result<Vec<&str>, _>>()
            .map_err(|_| LineProblem::NotUtf8)?;
        match fields[0] {
            "log" => self.log(line, &fields[1..]),
            "witness" => self.witness(line, &fields[1..]),
            "group" => self.group(line, &fields[1..]),
            "quorum" => self.quorum(line, &fields[1..]),
            other => Err(LineProblem::UnknownKeyword {
                keyword: other.to_owned(),
            }),
        }
    }

    fn log(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let (vkey, url) = match fields {
            [vkey] => (*vkey, None),
            [vkey, url] => (*vkey, Some((*url).to_owned())),
            _ => {
                return Err(LineProblem::Arity {
                    expected: "log <vkey> [<url>]",
                });
            }
        };
        if self.logs.len() == MAX_LOGS {
            return Err(too_many("logs", MAX_LOGS));
        }
        let verifier = parse_vkey(vkey, "log", KeyType::Ed25519)?;
        if let Some((_, first_line)) = self
            .logs
            .iter()
            .find(|(log, _)| log.verifier.public_key() == verifier.public_key())
        {
            return Err(LineProblem::DuplicateKey {
                role: "log",
                first_line: *first_line,
            });
        }
        self.logs.push((PolicyLog { verifier, url }, line));
        Ok(())
    }

    fn witness(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let (name, vkey, url) = match fields {
            [name, vkey] => (*name, *vkey, None),
            [name, vkey, url] => (*name, *vkey, Some((*url).to_owned())),
            _ => {
                return Err(LineProblem::Arity {
                    expected: "witness <name> <vkey> [<url>]",
                });
            }
        };
        if self.witnesses.len() == MAX_WITNESSES {
            return Err(too_many("witnesses", MAX_WITNESSES));
        }
        self.check_new_name(name)?;
        let verifier = parse_vkey(vkey, "witness", KeyType::CosignatureV1)?;
        if let Some((_, first_line)) = self
            .witnesses
            .iter()
            .find(|(w, _)| w.verifier.public_key() == verifier.public_key())
        {
            return Err(LineProblem::DuplicateKey {
                role: "witness",
                first_line: *first_line,
            });
        }
        self.names.insert(name.to_owned(), line);
        let witness = PolicyWitness {
            name: name.to_owned(),
            verifier,
            url,
        };
        self.witnesses.push((witness, line));
        Ok(())
    }

    fn group(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let [name, threshold, members @ ..] = fields else {
            return Err(group_arity());
        };
        if members.is_empty() {
            return Err(group_arity());
        }
        if self.groups.len() == MAX_GROUPS {
            return Err(too_many("groups", MAX_GROUPS));
        }
        self.check_new_name(name)?;
        let threshold = parse_threshold(threshold, members.len())?;
        let mut listed: Vec<&str> = Vec::with_capacity(members.len());
        for member in members {
            self.check_member(line, member, &listed)?;
            listed.push(member);
        }
        for member in &listed {
            self.members.insert((*member).to_owned(), line);
        }
        self.names.insert((*name).to_owned(), line);
        self.groups.push(PolicyGroup {
            name: (*name).to_owned(),
            threshold,
            members: listed.iter().map(|m| (*m).to_owned()).collect(),
        });
        Ok(())
    }

    fn quorum(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let [name] = fields else {
            return Err(LineProblem::Arity {
                expected: "quorum <name>",
            });
        };
        if let Some((_, first_line)) = &self.quorum {
            return Err(LineProblem::DuplicateQuorum {
                first_line: *first_line,
            });
        }
        let quorum = if *name == NONE {
            Quorum::None
        } else if self.names.contains_key(*name) {
            Quorum::Named((*name).to_owned())
        } else {
            return Err(LineProblem::UndefinedName {
                name: (*name).to_owned(),
            });
        };
        self.quorum = Some((quorum, line));
        Ok(())
    }

    /// A new witness or group name must not be `none` or already defined.
    fn check_new_name(&self, name: &str) -> Result<(), LineProblem> {
        if name == NONE {
            return Err(LineProblem::ReservedName);
        }
        match self.names.get(name) {
            Some(first_line) => Err(LineProblem::DuplicateName {
                name: name.to_owned(),
                first_line: *first_line,
            }),
            None => Ok(()),
        }
    }

    /// A member must be defined earlier, not `none`, and listed nowhere else.
    fn check_member(&self, line: usize, member: &str, listed: &[&str]) -> Result<(), LineProblem> {
        if member == NONE {
            return Err(LineProblem::NoneAsMember);
        }
        if !self.names.contains_key(member) {
            return Err(LineProblem::UndefinedName {
                name: member.to_owned(),
            });
        }
        let first_line = if listed.contains(&member) {
            Some(line)
        } else {
            self.members.get(member).copied()
        };
        match first_line {
            Some(first_line) => Err(LineProblem::MemberListedTwice {
                name: member.to_owned(),
                first_line,
            }),
            None => Ok(()),
        }
    }

    fn finish(self) -> Result<Policy, PolicyError> {
        let (quorum, _) = self.quorum.ok_or(PolicyError::MissingQuorum)?;
        Ok(Policy {
            logs: self.logs.into_iter().map(|(log, _)| log).collect(),
            witnesses: self.witnesses.into_iter().map(|(w, _)| w).collect(),
            groups: self.groups,
            quorum,
        })
    }
}

/// Tab, and the printable ASCII and high-bit octets: everything the spec allows but
/// newline (which ends lines before this is called).
fn allowed_octet(octet: u8) -> bool {
    octet == b'\t' || (0x20..=0x7e).contains(&octet) || octet >= 0x80
}

fn parse_vkey(vkey: &str, role: &'static str, expected: KeyType) -> Result<Verifier, LineProblem> {
    let verifier: Verifier = vkey.parse().map_err(|error| LineProblem::InvalidVkey {
        vkey: vkey.to_owned(),
        error,
    })?;
    if verifier.key_type() != expected {
        return Err(LineProblem::WrongKeyType {
            role,
            expected: expected.id(),
            found: verifier.key_type().id(),
        });
    }
    Ok(verifier)
}

/// `all`, `any`, or a decimal k with no sign and no leading zero, 1 <= k <= members.
fn parse_threshold(text: &str, members: usize) -> Result<Threshold, LineProblem> {
    match text {
        "all" => return Ok(Threshold::All),
        "any" => return Ok(Threshold::Any),
        _ => {}
    }
    let invalid = || LineProblem::InvalidThreshold {
        threshold: text.to_owned(),
    };
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(invalid());
    }
    // Too many digits for usize cannot be <= members anyway.
    let k: usize = text.parse().unwrap_or(usize::MAX);
    if k == 0 || k > members {
        return Err(LineProblem::ThresholdOutOfRange { k, members });
    }
    Ok(Threshold::AtLeast(k))
}

fn group_arity() -> LineProblem {
    LineProblem::Arity {
        expected: "group <name> (all|any|<k>) <name>...",
    }
}

fn too_many(what: &'static str, limit: usize) -> LineProblem {
    LineProblem::TooMany { what, limit }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::cosign;
    use crate::hash::Hash;
    use crate::note::Signer;

    const ORIGIN: &str = "example.com/log";

    fn log_signer(seed: u8) -> Signer {
        Signer::generate(ORIGIN, KeyType::Ed25519, [seed; 32]).unwrap()
    }

    fn witness_signer(name: &str, seed: u8) -> Signer {
        Signer::generate(name, KeyType::CosignatureV1, [seed; 32]).unwrap()
    }

    /// Six witnesses X1..X3 (seeds 11..13) and Y1..Y3 (seeds 21..23).
    fn six_witnesses() -> Vec<(&'static str, Signer)> {
        [
            ("X1", 11),
            ("X2", 12),
            ("X3", 13),
            ("Y1", 21),
            ("Y2", 22),
            ("Y3", 23),
        ]
        .into_iter()
        .map(|(name, seed)| (name, witness_signer(&format!("{name}.example"), seed)))
        .collect()
    }

    /// The example policy of the tlog-policy spec, with real keys and comments.
    fn spec_example() -> String {
        let w = six_witnesses();
        let key = |i: usize| w[i].1.verifier().to_string();
        format!(
            "log {log}\n\
             \n\
             witness X1 {}\n\
             witness X2 {}\n\
             witness X3 {}\n\
             group X-witnesses 2 X1 X2 X3\n\
             \n\
             witness Y1 {}\n\
             witness Y2 {}\n\
             witness Y3 {}\n\
             group Y-witnesses any Y1 Y2 Y3\n\
             \n\
             group X-and-Y all X-witnesses Y-witnesses\n\
             quorum X-and-Y\n",
            key(0),
            key(1),
            key(2),
            key(3),
            key(4),
            key(5),
            log = log_signer(1).verifier(),
        )
    }

    /// Whether the spec example's quorum is met by the named witnesses.
    fn example_met(names: &[&str]) -> bool {
        let policy: Policy = spec_example().parse().unwrap();
        let verifiers: Vec<Verifier> = six_witnesses()
            .into_iter()
            .filter(|(name, _)| names.contains(name))
            .map(|(_, s)| s.verifier())
            .collect();
        let refs: Vec<&Verifier> = verifiers.iter().collect();
        policy.quorum_met(&refs)
    }

    #[test]
    fn spec_example_parses() {
        let policy: Policy = spec_example().parse().unwrap();
        assert_eq!(policy.logs.len(), 1);
        assert_eq!(policy.logs[0].verifier.name(), ORIGIN);
        assert_eq!(policy.witnesses.len(), 6);
        assert_eq!(policy.witnesses[3].name, "Y1");
        assert_eq!(policy.groups.len(), 3);
        assert_eq!(policy.groups[0].threshold, Threshold::AtLeast(2));
        assert_eq!(policy.groups[1].threshold, Threshold::Any);
        assert_eq!(policy.groups[2].threshold, Threshold::All);
        assert_eq!(policy.groups[2].members, ["X-witnesses", "Y-witnesses"]);
        assert_eq!(policy.quorum, Quorum::Named("X-and-Y".into()));
    }

    macro_rules! example_quorum {
        ($($test:ident => $names:expr, $met:expr;)*) => {$(
            #[test]
            fn $test() {
                assert_eq!(example_met(&$names), $met);
            }
        )*};
    }

    example_quorum! {
        quorum_nobody => [], false;
        quorum_two_x_one_y => ["X1", "X3", "Y2"], true;
        quorum_three_x_three_y => ["X1", "X2", "X3", "Y1", "Y2", "Y3"], true;
        quorum_one_x_one_y => ["X2", "Y1"], false;
        quorum_two_x_no_y => ["X1", "X2"], false;
        quorum_all_y_one_x => ["X3", "Y1", "Y2", "Y3"], false;
        quorum_all_y_two_x => ["X2", "X3", "Y1", "Y2", "Y3"], true;
    }

    #[test]
    fn quorum_ignores_unknown_and_lookalike_keys() {
        let policy: Policy = spec_example().parse().unwrap();
        // Same names as X1 and X2, different keys: they must not count.
        let fake1 = witness_signer("X1.example", 99).verifier();
        let fake2 = witness_signer("X2.example", 98).verifier();
        let y1 = six_witnesses()[3].1.verifier();
        assert!(!policy.quorum_met(&[&fake1, &fake2, &y1]));
    }

    #[test]
    fn quorum_none_is_always_met() {
        let text = format!("log {}\nquorum none\n", log_signer(1).verifier());
        let policy: Policy = text.parse().unwrap();
        assert_eq!(policy.quorum, Quorum::None);
        assert!(policy.quorum_met(&[]));
        assert_eq!(policy.to_string(), text);
    }

    #[test]
    fn quorum_single_witness() {
        let w = witness_signer("w.example", 5);
        let text = format!("witness W {}\nquorum W\n", w.verifier());
        let policy: Policy = text.parse().unwrap();
        assert!(policy.logs.is_empty(), "a policy without logs is allowed");
        assert!(!policy.quorum_met(&[]));
        assert!(policy.quorum_met(&[&w.verifier()]));
    }

    #[test]
    fn hand_built_broken_groups_are_never_met() {
        let w = witness_signer("w.example", 5);
        let policy = Policy {
            logs: vec![],
            witnesses: vec![PolicyWitness {
                name: "W".into(),
                verifier: w.verifier(),
                url: None,
            }],
            groups: vec![
                PolicyGroup {
                    name: "zero".into(),
                    threshold: Threshold::AtLeast(0),
                    members: vec![],
                },
                PolicyGroup {
                    name: "forward".into(),
                    threshold: Threshold::Any,
                    members: vec!["later".into()],
                },
                PolicyGroup {
                    name: "later".into(),
                    threshold: Threshold::Any,
                    members: vec!["W".into()],
                },
            ],
            quorum: Quorum::Named("zero".into()),
        };
        assert!(!policy.quorum_met(&[&w.verifier()]));
        let forward = Policy {
            quorum: Quorum::Named("forward".into()),
            ..policy.clone()
        };
        assert!(!forward.quorum_met(&[&w.verifier()]));
        let later = Policy {
            quorum: Quorum::Named("later".into()),
            ..policy
        };
        assert!(later.quorum_met(&[&w.verifier()]));
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let w = six_witnesses();
        let text = format!(
            "  # leading comment, then odd spacing\n\
             witness\tA {}   https://a.example/\n\
             log {} https://log.example/\n\
             \t\n\
             group g 1 A\n\
             quorum g\t\n",
            w[0].1.verifier(),
            log_signer(1).verifier(),
        );
        let policy: Policy = text.parse().unwrap();
        assert_eq!(policy.logs[0].url.as_deref(), Some("https://log.example/"));
        assert_eq!(
            policy.witnesses[0].url.as_deref(),
            Some("https://a.example/")
        );
        let canonical = policy.to_string();
        assert_eq!(
            canonical,
            format!(
                "log {} https://log.example/\nwitness A {} https://a.example/\ngroup g 1 A\nquorum g\n",
                log_signer(1).verifier(),
                w[0].1.verifier()
            )
        );
        assert_eq!(canonical.parse::<Policy>().unwrap(), policy);
        let example: Policy = spec_example().parse().unwrap();
        assert_eq!(example.to_string().parse::<Policy>().unwrap(), example);
    }

    #[test]
    fn keywords_other_than_none_are_names() {
        // The same case as transparency-dev's Go policy tests: only `none` is reserved.
        let policy: Policy =
            fill("witness all {w1}\nwitness any {w2}\ngroup group 2 all any\nquorum group\n")
                .parse()
                .unwrap();
        assert_eq!(policy.groups[0].name, "group");
        assert_eq!(policy.groups[0].members, ["all", "any"]);
        assert_eq!(policy.to_string().parse::<Policy>().unwrap(), policy);
    }

    #[test]
    fn missing_final_newline_is_accepted() {
        let w = witness_signer("w.example", 5);
        let text = format!("witness W {}\nquorum W", w.verifier());
        assert!(text.parse::<Policy>().is_ok());
    }

    #[test]
    fn high_bit_octets_in_comments_names_and_urls() {
        let w = witness_signer("w.example", 5);
        let mut bytes = b"# \xff\xfe not UTF-8, but a comment\n".to_vec();
        bytes.extend_from_slice(
            format!(
                "witness K\u{212a} {} https://b\u{fc}cher.example/\nquorum K\u{212a}\n",
                w.verifier()
            )
            .as_bytes(),
        );
        let policy = Policy::parse(&bytes).unwrap();
        assert_eq!(policy.witnesses[0].name, "K\u{212a}");
        // Names are opaque octets: ASCII K is a different, undefined name.
        let mut other = bytes.clone();
        other.extend_from_slice(b"group g any K\n");
        assert_eq!(
            Policy::parse(&other),
            Err(PolicyError::Line {
                line: 4,
                problem: LineProblem::UndefinedName { name: "K".into() }
            })
        );
        let mut bad = bytes;
        bad.extend_from_slice(b"witness \xff x\n");
        assert_eq!(
            Policy::parse(&bad),
            Err(PolicyError::Line {
                line: 4,
                problem: LineProblem::NotUtf8
            })
        );
    }

    /// Builds a policy text from a template: `{log}`, `{log2}`, `{w1}`, `{w2}`, `{w3}`
    /// become vkeys (`{w1}`..`{w3}` witness keys, `{log}`/`{log2}` log keys, `{wlog}` a
    /// log-type key named like a witness).
    fn fill(template: &str) -> String {
        template
            .replace("{log}", &log_signer(1).verifier().to_string())
            .replace("{log2}", &log_signer(2).verifier().to_string())
            .replace(
                "{w1}",
                &witness_signer("w1.example", 11).verifier().to_string(),
            )
            .replace(
                "{w2}",
                &witness_signer("w2.example", 12).verifier().to_string(),
            )
            .replace(
                "{w3}",
                &witness_signer("w3.example", 13).verifier().to_string(),
            )
            .replace(
                "{w1again}",
                &witness_signer("other.example", 11).verifier().to_string(),
            )
            .replace(
                "{wlog}",
                &Signer::generate("w.example", KeyType::Ed25519, [11; 32])
                    .unwrap()
                    .verifier()
                    .to_string(),
            )
    }

    macro_rules! invalid_policies {
        ($($test:ident => $template:expr, $err:pat,)*) => {$(
            #[test]
            fn $test() {
                let text = fill($template);
                let got = text.parse::<Policy>();
                assert!(matches!(got, Err($err)), "{text:?} gave {got:?}");
            }
        )*};
    }

    invalid_policies! {
        invalid_empty => "", PolicyError::MissingQuorum,
        invalid_only_comments => "# nothing\n\n", PolicyError::MissingQuorum,
        invalid_no_quorum => "log {log}\nwitness A {w1}\n", PolicyError::MissingQuorum,
        invalid_two_quorums => "witness A {w1}\nquorum A\nquorum none\n",
            PolicyError::Line { line: 3, problem: LineProblem::DuplicateQuorum { first_line: 2 } },
        invalid_quorum_undefined => "quorum A\nwitness A {w1}\n",
            PolicyError::Line { line: 1, problem: LineProblem::UndefinedName { .. } },
        invalid_quorum_arity => "quorum\n", PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
        invalid_quorum_two_names => "witness A {w1}\nquorum A A\n", PolicyError::Line { line: 2, problem: LineProblem::Arity { .. } },
        invalid_unknown_keyword => "logs {log}\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::UnknownKeyword { .. } },
        invalid_uppercase_keyword => "LOG {log}\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::UnknownKeyword { .. } },
        invalid_carriage_return => "log {log}\r\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: b'\r', .. } },
        invalid_nul_in_comment => "# a\0b\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: 0, column: 4 } },
        invalid_del => "quorum none\x7f\n",
            PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: 0x7f, .. } },
        invalid_vertical_tab_separator => "quorum\x0bnone\n",
            PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: 0x0b, .. } },
        invalid_log_arity => "log {log} https://a https://b\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
        invalid_log_no_key => "log\nquorum none\n", PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
        invalid_log_bad_vkey => "log example.com/log+00000000+AQ==\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::InvalidVkey { .. } },
        invalid_log_witness_key => "log {w1}\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::WrongKeyType { role: "log", expected: 1, found: 4 } },
        invalid_witness_log_key => "witness A {wlog}\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::WrongKeyType { role: "witness", expected: 4, found: 1 } },
        invalid_duplicate_log => "log {log}\nlog {log}\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::DuplicateKey { role: "log", first_line: 1 } },
        invalid_duplicate_witness_key_other_name => "witness A {w1}\n# c\nwitness B {w1again}\nquorum none\n",
            PolicyError::Line { line: 3, problem: LineProblem::DuplicateKey { role: "witness", first_line: 1 } },
        invalid_witness_arity => "witness A\nquorum none\n", PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
        invalid_witness_named_none => "witness none {w1}\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::ReservedName },
        invalid_duplicate_witness_name => "witness A {w1}\nwitness A {w2}\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::DuplicateName { first_line: 1, .. } },
        invalid_group_named_like_witness => "witness A {w1}\ngroup A any A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::DuplicateName { first_line: 1, .. } },
        invalid_group_named_none => "witness A {w1}\ngroup none any A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::ReservedName },
        invalid_group_no_members => "witness A {w1}\ngroup g any\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::Arity { .. } },
        invalid_group_forward_reference => "group g any A\nwitness A {w1}\nquorum none\n",
            PolicyError::Line { line: 1, problem: LineProblem::UndefinedName { .. } },
        invalid_group_self_reference => "witness A {w1}\ngroup g any A g\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::UndefinedName { .. } },
        invalid_group_none_member => "witness A {w1}\ngroup g any A none\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::NoneAsMember },
        invalid_group_member_twice => "witness A {w1}\ngroup g any A A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::MemberListedTwice { first_line: 2, .. } },
        invalid_member_in_two_groups => "witness A {w1}\nwitness B {w2}\ngroup g any A\ngroup h any A B\nquorum none\n",
            PolicyError::Line { line: 4, problem: LineProblem::MemberListedTwice { first_line: 3, .. } },
        invalid_threshold_zero => "witness A {w1}\ngroup g 0 A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::ThresholdOutOfRange { k: 0, members: 1 } },
        invalid_threshold_above_n => "witness A {w1}\nwitness B {w2}\ngroup g 3 A B\nquorum none\n",
            PolicyError::Line { line: 3, problem: LineProblem::ThresholdOutOfRange { k: 3, members: 2 } },
        invalid_threshold_leading_zero => "witness A {w1}\ngroup g 01 A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::InvalidThreshold { .. } },
        invalid_threshold_sign => "witness A {w1}\ngroup g +1 A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::InvalidThreshold { .. } },
        invalid_threshold_word => "witness A {w1}\ngroup g ALL A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::InvalidThreshold { .. } },
        invalid_threshold_huge => "witness A {w1}\ngroup g 99999999999999999999999 A\nquorum none\n",
            PolicyError::Line { line: 2, problem: LineProblem::ThresholdOutOfRange { .. } },
    }

    #[test]
    fn limits_are_enforced() {
        let witnesses: String = (0..=MAX_WITNESSES)
            .map(|i| {
                let w = witness_signer(&format!("w{i}.example"), i as u8 + 1);
                format!("witness W{i} {}\n", w.verifier())
            })
            .collect();
        let exactly = witnesses
            .lines()
            .take(MAX_WITNESSES)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + "quorum none\n";
        assert_eq!(
            exactly.parse::<Policy>().unwrap().witnesses.len(),
            MAX_WITNESSES
        );
        assert_eq!(
            (witnesses + "quorum none\n").parse::<Policy>(),
            Err(PolicyError::Line {
                line: MAX_WITNESSES + 1,
                problem: LineProblem::TooMany {
                    what: "witnesses",
                    limit: MAX_WITNESSES
                }
            })
        );
        let big = "#".repeat(MAX_POLICY_SIZE + 1);
        assert!(matches!(
            big.parse::<Policy>(),
            Err(PolicyError::TooLarge { .. })
        ));
    }

    #[test]
    fn errors_name_the_line() {
        let err = fill("witness A {w1}\ngroup g 3 A\nquorum g\n")
            .parse::<Policy>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy line 2: threshold 3 is outside 1..=1"
        );
    }

    /// A checkpoint note signed by `log` and cosigned by `cosigners`.
    fn checkpoint_note(log: &Signer, cosigners: &[&Signer]) -> Vec<u8> {
        let cp = Checkpoint {
            origin: log.name().to_owned(),
            size: 7,
            root_hash: Hash([0x42; 32]),
            extensions: vec![],
        };
        let mut note = Note::sign(&cp.to_string(), &[log]).unwrap();
        for w in cosigners {
            note.add_signature(cosign(w, &cp, 1_700_000_000).unwrap());
        }
        note.to_bytes()
    }

    fn example_signer(name: &str) -> Signer {
        six_witnesses()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
            .unwrap()
    }

    #[test]
    fn verify_checkpoint_accepts_quorum() {
        let policy: Policy = spec_example().parse().unwrap();
        let (x1, x3, y2) = (
            example_signer("X1"),
            example_signer("X3"),
            example_signer("Y2"),
        );
        let bytes = checkpoint_note(&log_signer(1), &[&y2, &x3, &x1]);
        let verified = policy.verify_checkpoint(&bytes).unwrap();
        assert_eq!(verified.checkpoint.size, 7);
        assert_eq!(verified.log, log_signer(1).verifier());
        assert_eq!(verified.witnesses, ["X1", "X3", "Y2"]);
        assert_eq!(verified.note.to_bytes(), bytes);
    }

    #[test]
    fn verify_checkpoint_rejects_missing_quorum() {
        let policy: Policy = spec_example().parse().unwrap();
        let (x1, x3) = (example_signer("X1"), example_signer("X3"));
        let bytes = checkpoint_note(&log_signer(1), &[&x1, &x3]);
        assert_eq!(
            policy.verify_checkpoint(&bytes),
            Err(VerifyError::QuorumNotMet {
                origin: ORIGIN.into(),
                size: 7,
                cosigners: vec!["X1".into(), "X3".into()],
            })
        );
    }

    #[test]
    fn verify_checkpoint_ignores_bad_cosignature() {
        let policy: Policy = spec_example().parse().unwrap();
        let (x1, x3, y2) = (
            example_signer("X1"),
            example_signer("X3"),
            example_signer("Y2"),
        );
        let bytes = checkpoint_note(&log_signer(1), &[&x1, &x3, &y2]);
        let mut note = Note::parse(&bytes).unwrap();
        // Corrupt Y2's signature bytes (the last signature line).
        let last = note.signatures.last_mut().unwrap();
        last.signature[20] ^= 1;
        let got = policy.verify_checkpoint(&note.to_bytes());
        assert!(
            matches!(&got, Err(VerifyError::QuorumNotMet { cosigners, .. }) if cosigners == &["X1", "X3"]),
            "{got:?}"
        );
    }

    #[test]
    fn verify_checkpoint_quorum_none() {
        let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
        let verified = policy
            .verify_checkpoint(&checkpoint_note(&log_signer(1), &[]))
            .unwrap();
        assert!(verified.witnesses.is_empty());
    }

    #[test]
    fn verify_checkpoint_second_log_for_origin() {
        let policy: Policy = fill("log {log}\nlog {log2}\nquorum none\n")
            .parse()
            .unwrap();
        let verified = policy
            .verify_checkpoint(&checkpoint_note(&log_signer(2), &[]))
            .unwrap();
        assert_eq!(verified.log, log_signer(2).verifier());
    }

    #[test]
    fn verify_checkpoint_unknown_log() {
        let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
        let other = Signer::generate("other.example/log", KeyType::Ed25519, [1; 32]).unwrap();
        assert_eq!(
            policy.verify_checkpoint(&checkpoint_note(&other, &[])),
            Err(VerifyError::UnknownLog {
                origin: "other.example/log".into()
            })
        );
    }

    #[test]
    fn verify_checkpoint_wrong_log_key() {
        let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
        assert_eq!(
            policy.verify_checkpoint(&checkpoint_note(&log_signer(2), &[])),
            Err(VerifyError::NotSignedByLog {
                origin: ORIGIN.into()
            })
        );
    }

    #[test]
    fn verify_checkpoint_tampered_log_signature() {
        let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
        let mut note = Note::parse(&checkpoint_note(&log_signer(1), &[])).unwrap();
        note.signatures[0].signature[0] ^= 0x80;
        assert!(matches!(
            policy.verify_checkpoint(&note.to_bytes()),
            Err(VerifyError::InvalidLogSignature { .. })
        ));
    }

    #[test]
    fn verify_checkpoint_malformed() {
        let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
        assert!(matches!(
            policy.verify_checkpoint(b"not a note"),
            Err(VerifyError::Note(_))
        ));
        let signed = Note::sign("example.com/log\nnot a size\n", &[&log_signer(1)]).unwrap();
        assert!(matches!(
            policy.verify_checkpoint(&signed.to_bytes()),
            Err(VerifyError::Checkpoint(_))
        ));
    }
}
