//! C2SP tlog-checkpoint: the signed note body that commits a log to a tree head.
//!
//! The body is at least three lines, each ending in a newline: the origin, the tree size
//! in decimal, and the base64 root hash, then optional non-empty extension lines.
//!
//! ```
//! use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
//! use bintrail_tlog::note::{KeyType, Signer};
//!
//! let body = "example.com/log\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
//! let cp: Checkpoint = body.parse().unwrap();
//! assert_eq!(cp.size, 20852163);
//! assert_eq!(cp.to_string(), body);
//!
//! let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
//! let note = sign_checkpoint(&cp, &log).unwrap();
//! let (opened, _note) = open_checkpoint(&note.to_bytes(), &log.verifier()).unwrap();
//! assert_eq!(opened, cp);
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::hash::Hash;
use crate::note::{Note, NoteError, Signer, Verifier};

/// The largest checkpoint body [`Checkpoint::from_str`] accepts, in bytes: the bound
/// golang.org/x/mod/sumdb/tlog's `ParseTree` applies to tree notes.
pub const MAX_CHECKPOINT_SIZE: usize = 1_000_000;

/// A checkpoint body: a log's origin, tree size and root hash, plus extension lines.
///
/// A `Checkpoint` from [`FromStr`] is well-formed and its [`fmt::Display`] output is
/// byte-for-byte the text it was parsed from (the parser accepts only canonical
/// encodings). A checkpoint built by hand should follow the same rules (non-empty
/// origin and extension lines, no newlines or control characters in them), or its text
/// will not parse back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's origin line, e.g. `example.com/log42`: the log's identity.
    pub origin: String,
    /// The tree size: the number of leaves.
    pub size: u64,
    /// The RFC 6962 root hash of the tree at `size`.
    pub root_hash: Hash,
    /// Extension lines, in order, without their newlines. Opaque; usually empty.
    pub extensions: Vec<String>,
}

/// Errors from parsing, signing and opening checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Returned when the body is larger than [`MAX_CHECKPOINT_SIZE`].
    #[error("checkpoint is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Returned when the body does not end in a newline.
    #[error("checkpoint does not end in a newline")]
    MissingFinalNewline,
    /// Returned when the body has a control character other than newline.
    #[error("checkpoint contains a control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the control character.
        offset: usize,
    },
    /// Returned when the body has fewer than three lines.
    #[error("checkpoint has {lines} lines, needs origin, size and root hash")]
    TooFewLines {
        /// The number of lines found.
        lines: usize,
    },
    /// Returned when the origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// Returned when the size line is not a canonical decimal `u64` (digits only, no
    /// leading zeros).
    #[error("checkpoint size {line:?} is not a canonical decimal number")]
    InvalidSize {
        /// The size line.
        line: String,
    },
    /// Returned when the root hash line is not canonical base64 of 32 bytes.
    #[error("checkpoint root hash {line:?} is not base64 of 32 bytes")]
    InvalidRootHash {
        /// The root hash line.
        line: String,
    },
    /// Returned when an extension line is empty.
    #[error("checkpoint extension line {index} is empty")]
    EmptyExtension {
        /// 0-based index among the extension lines.
        index: usize,
    },
    /// Returned by [`sign_checkpoint`] when a hand-built checkpoint's origin or an
    /// extension line contains a newline, so its text would parse as something else.
    #[error("checkpoint origin or extension line contains a newline")]
    EmbeddedNewline,
    /// Returned when the note is malformed, is not signed by the log, or has a bad
    /// signature from the log's key.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// Returned when the checkpoint's origin is not the log key's name.
    #[error("checkpoint origin {origin:?} does not match log key name {key_name:?}")]
    OriginMismatch {
        /// The checkpoint's origin.
        origin: String,
        /// The log key's name.
        key_name: String,
    },
}

impl FromStr for Checkpoint {
    type Err = CheckpointError;

    /// Parses a checkpoint body (the note text, ending in a newline), strictly.
    ///
    /// Errors: every [`CheckpointError`] variant but `Note` and `OriginMismatch`. The
    /// origin may be any non-empty text: the spec forbids clients to assume its format.
    fn from_str(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_CHECKPOINT_SIZE {
            return Err(CheckpointError::TooLarge {
                limit: MAX_CHECKPOINT_SIZE,
            });
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        if let Some(offset) = crate::note::first_control(body) {
            return Err(CheckpointError::ControlCharacter { offset });
        }
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root_hash, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines { lines: lines.len() });
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if let Some(index) = extensions.iter().position(|line| line.is_empty()) {
            return Err(CheckpointError::EmptyExtension { index });
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size: parse_size(size)?,
            root_hash: parse_root_hash(root_hash)?,
            extensions: extensions.iter().map(|line| (*line).to_owned()).collect(),
        })
    }
}

impl fmt::Display for Checkpoint {
    /// Writes the canonical body: origin, size, base64 root hash and each extension,
    /// each followed by a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", BASE64.encode(self.root_hash.0))?;
        for line in &self.extensions {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// Parses a signed checkpoint note, verifies it against the log's verifier (whose key
/// name must be the origin), and returns the checkpoint and the note.
///
/// Other signatures (witness cosignatures, other keys) are kept in the note unverified;
/// see [`crate::cosignature::verified_cosigners`]. Errors:
/// [`CheckpointError::Note`] when the note is malformed, has no signature from `log`
/// ([`NoteError::NoVerifiedSignature`]) or a bad one ([`NoteError::InvalidSignature`]);
/// the body's parse errors; [`CheckpointError::OriginMismatch`].
pub fn open_checkpoint(
    note_bytes: &[u8],
    log: &Verifier,
) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(note_bytes)?;
    note.verify(std::slice::from_ref(log))?;
    let checkpoint: Checkpoint = note.text.parse()?;
    if checkpoint.origin != log.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin,
            key_name: log.name().to_owned(),
        });
    }
    Ok((checkpoint, note))
}

/// Signs a checkpoint with the log's key and returns the note.
///
/// Errors: [`CheckpointError::OriginMismatch`] unless the key name is the origin (the
/// spec's SHOULD, which bintrail makes a rule so [`open_checkpoint`] can find the key);
/// the body's parse errors or [`CheckpointError::EmbeddedNewline`] if `cp` was built by
/// hand and its text does not parse back to it;
/// [`CheckpointError::Note`] for a key that cannot sign notes.
pub fn sign_checkpoint(cp: &Checkpoint, log: &Signer) -> Result<Note, CheckpointError> {
    if cp.origin != log.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: cp.origin.clone(),
            key_name: log.name().to_owned(),
        });
    }
    let text = cp.to_string();
    // Refuse to sign what no one could parse (e.g. an origin with a newline in it).
    if text.parse::<Checkpoint>()? != *cp {
        return Err(CheckpointError::EmbeddedNewline);
    }
    Ok(Note::sign(&text, &[log])?)
}

/// Parses a tree size: ASCII digits, no sign, no leading zero unless it is `0`.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let invalid = || CheckpointError::InvalidSize {
        line: line.to_owned(),
    };
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(invalid());
    }
    line.parse().map_err(|_| invalid())
}

fn parse_root_hash(line: &str) -> Result<Hash, CheckpointError> {
    let invalid = || CheckpointError::InvalidRootHash {
        line: line.to_owned(),
    };
    // A 32-byte hash is 44 base64 characters; refuse to decode anything else.
    if line.len() != 44 {
        return Err(invalid());
    }
    let bytes = BASE64.decode(line).map_err(|_| invalid())?;
    let hash = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| invalid())?;
    Ok(Hash(hash))
}
