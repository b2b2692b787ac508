//! C2SP signed notes (`c2sp.org/signed-note`): Ed25519 signers, verifier keys and notes.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then one or more signature
//! lines `— <key name> base64(key ID || signature)`. A [`Verifier`] is a public key with
//! its name and key ID, written as a vkey string `<name>+<hex key ID>+base64(type || key)`;
//! a [`Signer`] is the matching private key, written in Go's `PRIVATE+KEY+...` format
//! (golang.org/x/mod/sumdb/note), so keys move between bintrail and Go tools unchanged.
//!
//! Two signature types are supported: `0x01` Ed25519 over the note text, and `0x04`
//! timestamped Ed25519 cosignatures (`c2sp.org/tlog-cosignature`, see
//! [`crate::cosignature`]).
//!
//! ```
//! use bintrail_tlog::note::{KeyType, Note, Signer};
//!
//! // Randomness comes from the caller; a fixed seed keeps the example reproducible.
//! let signer = Signer::generate("example.com/log", KeyType::Ed25519, [7; 32]).unwrap();
//! let note = Note::sign("hello\n", &[&signer]).unwrap();
//! let bytes = note.to_bytes();
//!
//! let parsed = Note::parse(&bytes).unwrap();
//! let known = [signer.verifier()];
//! let verified = parsed.verify(&known).unwrap();
//! assert_eq!(verified[0].name(), "example.com/log");
//! assert_eq!(parsed.text, "hello\n");
//! ```
//!
//! # Where bintrail is stricter than x/mod
//!
//! Everything bintrail writes, Go's `note.Open` accepts (tests/go_interop.rs checks it).
//! Reading, bintrail rejects a few inputs Go accepts, each to keep one encoding per value
//! or to follow the spec's MUST:
//! - base64 (signatures, keys) must be canonical: Go ignores non-zero padding bits;
//! - every signature line from a known key is verified, duplicates included (Go checks
//!   the first and skips the rest);
//! - key names with control characters and vkeys whose key is not a curve point are
//!   rejected when parsed (Go fails later, at verification).
//!
//! It is also more lenient in one place: the same verifier listed twice is not an
//! "ambiguous key" (two *different* keys under one name and key ID still are).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub(crate) mod cosignature_v1;
mod key;

pub use key::{KeyType, Signer, Verifier, is_valid_key_name, key_id};

/// The most signatures [`Note::parse`] accepts in one note.
///
/// The spec requires accepting at least 16; 100 is the limit golang.org/x/mod/sumdb/note
/// applies in `Open`, so any note Go accepts, bintrail accepts too.
pub const MAX_SIGNATURES: usize = 100;

/// The prefix of every signature line: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Errors from parsing, signing and verifying notes and keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// Returned when a note is not valid UTF-8; `offset` is the first bad byte.
    #[error("note is not valid UTF-8 (byte {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// Returned when a note or note text contains an ASCII control character other
    /// than newline.
    #[error("note contains a control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the control character.
        offset: usize,
    },
    /// Returned when a note has no blank line followed by newline-terminated signature
    /// lines.
    #[error("note has no signature block (a blank line, then signature lines)")]
    MissingSignatures,
    /// Returned by [`Note::sign`] when the text is empty or does not end in a newline.
    #[error("note text must end in a newline")]
    TextNotNewlineTerminated,
    /// Returned when a signature line does not start with an em dash and a space.
    #[error("signature line {line} does not start with \"\u{2014} \"")]
    SignatureLinePrefix {
        /// 1-based index of the signature line.
        line: usize,
    },
    /// Returned when a signature line's key name is empty or has spaces, `+` or control
    /// characters.
    #[error("signature line {line} has an invalid key name")]
    SignatureLineName {
        /// 1-based index of the signature line.
        line: usize,
    },
    /// Returned when a signature line's signature is not canonical standard base64.
    #[error("signature line {line} is not canonical base64")]
    SignatureLineBase64 {
        /// 1-based index of the signature line.
        line: usize,
    },
    /// Returned when a signature line holds fewer than 5 bytes (a 4-byte key ID and at
    /// least one signature byte).
    #[error("signature line {line} is too short")]
    SignatureLineTooShort {
        /// 1-based index of the signature line.
        line: usize,
    },
    /// Returned when a note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {limit} signatures")]
    TooManySignatures {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Returned when a key name is empty or contains a Unicode space, `+` or a control
    /// character.
    #[error("invalid key name {name:?}")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// Returned when a key string does not have the `name+id+key` shape (or, for a
    /// private key, does not start with `PRIVATE+KEY+`).
    #[error("malformed key string: expected {expected}")]
    KeyFormat {
        /// What the string should look like.
        expected: &'static str,
    },
    /// Returned when a key string's key ID is not 8 hexadecimal digits.
    #[error("key ID {id:?} is not 8 hexadecimal digits")]
    KeyIdHex {
        /// The rejected key ID text.
        id: String,
    },
    /// Returned when a key string's key material is not canonical standard base64.
    #[error("key material is not canonical base64")]
    KeyBase64,
    /// Returned when the decoded key material is not 33 bytes (type byte and 32-byte key).
    #[error("key material is {actual} bytes, expected 33 (type byte and 32-byte key)")]
    KeyLength {
        /// The decoded length.
        actual: usize,
    },
    /// Returned when the key material's type byte is not `0x01` or `0x04`.
    #[error("unsupported signature type 0x{id:02x}")]
    UnknownKeyType {
        /// The type byte found.
        id: u8,
    },
    /// Returned when a key string's key ID is not the one computed from its name, type
    /// and public key.
    #[error("key ID {claimed:08x} for {name} does not match the key (computed {computed:08x})")]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The key ID written in the string.
        claimed: u32,
        /// The key ID computed with [`key_id`].
        computed: u32,
    },
    /// Returned when the 32 bytes of an Ed25519 public key are not a point on the curve.
    #[error("public key is not a valid Ed25519 point")]
    InvalidPublicKey,
    /// Returned by [`Note::sign`] when given no signers: a note needs a signature.
    #[error("a note needs at least one signer")]
    NoSigners,
    /// Returned by [`Note::sign`] for a signer whose type cannot sign plain notes
    /// (cosignature keys sign with [`crate::cosignature::cosign`]).
    #[error("key {name} of type {key_type:?} cannot sign note text directly")]
    UnsupportedSignerType {
        /// The signer's name.
        name: String,
        /// The signer's type.
        key_type: KeyType,
    },
    /// Returned by [`Note::verify`] when a signature from a known key does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// Returned by [`Note::verify`] when two different known verifiers share the key
    /// name and key ID of a signature, so it is unclear which one to use.
    #[error("ambiguous key {name}+{key_id:08x}: more than one known verifier")]
    AmbiguousVerifier {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// Returned by [`Note::verify`] when no known verifier signed the note.
    #[error("note has no signature from a known key")]
    NoVerifiedSignature,
}

/// One signature line of a note, verified or not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID (the first four bytes of the decoded signature, big-endian).
    pub key_id: u32,
    /// The signature bytes after the 4-byte key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// Parses a sequence of signature lines, each ending in a newline, such as a
    /// c2sp.org/tlog-witness `add-checkpoint` response body.
    ///
    /// Accepts 1 to [`MAX_SIGNATURES`] lines, with the same rules as [`Note::parse`].
    /// Errors: [`NoteError::InvalidUtf8`], [`NoteError::ControlCharacter`],
    /// [`NoteError::MissingSignatures`] (empty, or no final newline),
    /// [`NoteError::TooManySignatures`], and the `SignatureLine*` variants.
    pub fn parse_lines(bytes: &[u8]) -> Result<Vec<NoteSignature>, NoteError> {
        let block = std::str::from_utf8(bytes).map_err(|e| NoteError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_no_controls(block)?;
        parse_signature_block(block)
    }

    /// Returns the signature lines for `signatures`, each ending in a newline: the
    /// inverse of [`NoteSignature::parse_lines`].
    pub fn format_lines(signatures: &[NoteSignature]) -> Vec<u8> {
        let mut out = Vec::new();
        for sig in signatures {
            sig.write_line(&mut out);
        }
        out
    }

    /// Writes the signature line, `— <name> base64(key ID || signature)` and a newline.
    fn write_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
        out.push(b'\n');
    }

    /// Parses one signature line (without its newline); `line` is its 1-based index.
    fn parse_line(text: &str, line: usize) -> Result<NoteSignature, NoteError> {
        let rest = text
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::SignatureLinePrefix { line })?;
        // Like x/mod, the name ends at the first space; a space in the rest makes the
        // base64 invalid.
        let (name, b64) = rest.split_once(' ').unwrap_or((rest, ""));
        if !is_valid_key_name(name) {
            return Err(NoteError::SignatureLineName { line });
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| NoteError::SignatureLineBase64 { line })?;
        let [a, b, c, d, signature @ ..] = raw.as_slice() else {
            return Err(NoteError::SignatureLineTooShort { line });
        };
        if signature.is_empty() {
            return Err(NoteError::SignatureLineTooShort { line });
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([*a, *b, *c, *d]),
            signature: signature.to_vec(),
        })
    }
}

impl fmt::Display for NoteSignature {
    /// Writes the signature line without its newline: `— <name> base64(key ID || signature)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        write!(f, "{SIGNATURE_PREFIX}{} {}", self.name, BASE64.encode(raw))
    }
}

impl FromStr for NoteSignature {
    type Err = NoteError;

    /// Parses one signature line without its newline. Errors: the `SignatureLine*`
    /// variants (with `line: 1`), [`NoteError::ControlCharacter`] for a newline or other
    /// control character.
    fn from_str(line: &str) -> Result<Self, NoteError> {
        if let Some(offset) = line.bytes().position(|b| b < 0x20) {
            return Err(NoteError::ControlCharacter { offset });
        }
        NoteSignature::parse_line(line, 1)
    }
}

/// Parses newline-terminated signature lines (already checked for UTF-8 and controls).
fn parse_signature_block(block: &str) -> Result<Vec<NoteSignature>, NoteError> {
    let lines = block
        .strip_suffix('\n')
        .ok_or(NoteError::MissingSignatures)?;
    let mut signatures = Vec::new();
    for (index, line) in lines.split('\n').enumerate() {
        if index == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                limit: MAX_SIGNATURES,
            });
        }
        signatures.push(NoteSignature::parse_line(line, index + 1)?);
    }
    Ok(signatures)
}

/// A note: text and its signatures, in order.
///
/// A `Note` from [`Note::parse`] or [`Note::sign`] is well-formed. The fields are public
/// so callers can inspect and assemble notes; [`Note::to_bytes`] of a note whose fields
/// break the rules (text not ending in a newline, bad names, no signatures, more than
/// [`MAX_SIGNATURES`]) yields bytes that [`Note::parse`] rejects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline, excluding the blank separator line.
    pub text: String,
    /// All signature lines, known and unknown keys alike, in note order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note, strictly per c2sp.org/signed-note, without verifying it.
    ///
    /// The note must be UTF-8 with no control characters but newline; the text is
    /// everything up to and including the newline before the last blank line; then come
    /// 1 to [`MAX_SIGNATURES`] signature lines, each ending in a newline. Every line is
    /// kept, including duplicates and unknown keys, so `to_bytes` returns the input.
    /// Stricter than x/mod in one way: signature base64 must be canonical (no stray
    /// padding bits), which keeps the encoding unique.
    ///
    /// Errors: [`NoteError::InvalidUtf8`], [`NoteError::ControlCharacter`],
    /// [`NoteError::MissingSignatures`], [`NoteError::TooManySignatures`], and the
    /// `SignatureLine*` variants. The input is not bounded here: callers reading from
    /// the network bound the size first.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        let msg = std::str::from_utf8(bytes).map_err(|e| NoteError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_no_controls(msg)?;
        // The text ends at the last blank line: signature lines hold no blank lines.
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
        let (text, block) = (&msg[..=split], &msg[split + 2..]);
        Ok(Note {
            text: text.to_owned(),
            signatures: parse_signature_block(block)?,
        })
    }

    /// Returns the encoded note: text, a blank line, then one line per signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + 1 + 110 * self.signatures.len());
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'\n');
        for sig in &self.signatures {
            sig.write_line(&mut out);
        }
        out
    }

    /// Signs `text` with each signer, in order, and returns the note.
    ///
    /// `text` must be non-empty, end in a newline and contain no control characters but
    /// newline. Errors: [`NoteError::TextNotNewlineTerminated`],
    /// [`NoteError::ControlCharacter`], [`NoteError::NoSigners`],
    /// [`NoteError::TooManySignatures`], and [`NoteError::UnsupportedSignerType`] for a
    /// cosignature key (those sign through [`crate::cosignature::cosign`]).
    pub fn sign(text: &str, signers: &[&Signer]) -> Result<Note, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::TextNotNewlineTerminated);
        }
        check_no_controls(text)?;
        if signers.is_empty() {
            return Err(NoteError::NoSigners);
        }
        if signers.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                limit: MAX_SIGNATURES,
            });
        }
        let mut signatures = Vec::with_capacity(signers.len());
        for signer in signers {
            if signer.key_type() != KeyType::Ed25519 {
                return Err(NoteError::UnsupportedSignerType {
                    name: signer.name().to_owned(),
                    key_type: signer.key_type(),
                });
            }
            signatures.push(NoteSignature {
                name: signer.name().to_owned(),
                key_id: signer.key_id(),
                signature: signer.sign(text.as_bytes()).to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Adds a signature at the end, first removing any signature with the same key name
    /// and key ID (so a fresh cosignature replaces a stale one, as x/mod's `Sign` does).
    /// The signature is not checked.
    pub fn add_signature(&mut self, sig: NoteSignature) {
        self.signatures
            .retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
    }

    /// Verifies the signatures made by the given known verifiers (matched by name AND key
    /// ID) and returns the verifiers that verified, in note order, each once.
    ///
    /// Signatures from unknown keys are ignored, even if they share a name or a key ID
    /// with a known key. Every signature from a known key is checked, duplicates
    /// included (the spec's MUST; x/mod checks only the first of a duplicate).
    ///
    /// Errors: [`NoteError::InvalidSignature`] if any signature from a known key fails;
    /// [`NoteError::AmbiguousVerifier`] if a signature matches two different known
    /// verifiers; [`NoteError::NoVerifiedSignature`] if no known key signed the note.
    pub fn verify<'v>(&self, verifiers: &'v [Verifier]) -> Result<Vec<&'v Verifier>, NoteError> {
        let mut verified: Vec<&'v Verifier> = Vec::new();
        for sig in &self.signatures {
            let Some(verifier) = find_verifier(verifiers, sig)? else {
                continue;
            };
            if !verifier.verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !verified.contains(&verifier) {
                verified.push(verifier);
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }
}

/// Returns the one known verifier matching `sig`'s name and key ID, if any.
fn find_verifier<'v>(
    verifiers: &'v [Verifier],
    sig: &NoteSignature,
) -> Result<Option<&'v Verifier>, NoteError> {
    let mut found: Option<&'v Verifier> = None;
    for v in verifiers.iter().filter(|v| v.matches(sig)) {
        match found {
            // The same key listed twice is harmless; two keys under one name and ID are
            // a configuration error (x/mod reports it as an "ambiguous key").
            Some(prev) if prev != v => {
                return Err(NoteError::AmbiguousVerifier {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            _ => found = Some(v),
        }
    }
    Ok(found)
}

/// Rejects ASCII control characters other than newline (the spec's rule for notes).
fn check_no_controls(s: &str) -> Result<(), NoteError> {
    match first_control(s) {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}

/// Returns the byte offset of the first ASCII control character other than newline.
pub(crate) fn first_control(s: &str) -> Option<usize> {
    s.bytes().position(|b| b < 0x20 && b != b'\n')
}
