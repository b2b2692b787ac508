//! C2SP tlog-cosignature `cosignature/v1`: timestamped Ed25519 witness cosignatures
//! (signature type `0x04`).
//!
//! A cosignature is an ordinary note signature line on a checkpoint. Its bytes (after the
//! 4-byte key ID) are an 8-byte big-endian POSIX timestamp followed by a 64-byte Ed25519
//! signature of
//!
//! ```text
//! cosignature/v1
//! time <timestamp in decimal>
//! <the checkpoint body, every line including extensions>
//! ```
//!
//! The timestamp is an argument: this crate reads no clock.
//!
//! ```
//! use bintrail_tlog::checkpoint::Checkpoint;
//! use bintrail_tlog::cosignature::{cosign, verify_cosignature};
//! use bintrail_tlog::note::{KeyType, Signer};
//!
//! let cp: Checkpoint = "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
//!     .parse()
//!     .unwrap();
//! let witness = Signer::generate("witness.example/w1", KeyType::CosignatureV1, [9; 32]).unwrap();
//! let sig = cosign(&witness, &cp, 1_679_315_147).unwrap();
//! assert_eq!(verify_cosignature(&witness.verifier(), &cp, &sig).unwrap(), 1_679_315_147);
//! ```

use crate::checkpoint::Checkpoint;
use crate::note::cosignature_v1::split_signature;
pub use crate::note::cosignature_v1::{MAX_TIMESTAMP, SIGNATURE_LEN, signed_message};
use crate::note::{KeyType, Note, NoteSignature, Signer, Verifier};

/// Errors from making and checking cosignatures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    /// Returned when the key is not a [`KeyType::CosignatureV1`] key.
    #[error("key {name} has type {key_type:?}, not a cosignature/v1 key")]
    WrongKeyType {
        /// The key name.
        name: String,
        /// The key's actual type.
        key_type: KeyType,
    },
    /// Returned when the timestamp exceeds 2^63 - 1.
    #[error("timestamp {timestamp} exceeds 2^63 - 1")]
    TimestampOutOfRange {
        /// The rejected timestamp.
        timestamp: u64,
    },
    /// Returned when the signature's key name or key ID is not the witness's.
    #[error("signature by {name}+{key_id:08x} is not from witness {expected}")]
    KeyMismatch {
        /// The key name on the signature.
        name: String,
        /// The key ID on the signature.
        key_id: u32,
        /// The witness's vkey.
        expected: String,
    },
    /// Returned when the signature is not 72 bytes (timestamp and Ed25519 signature).
    #[error("cosignature is {len} bytes, expected 72")]
    MalformedSignature {
        /// The length found.
        len: usize,
    },
    /// Returned when the Ed25519 signature does not verify.
    #[error("cosignature by {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The witness's key name.
        name: String,
        /// The witness's key ID.
        key_id: u32,
    },
}

/// Cosigns `checkpoint` at `timestamp` (POSIX seconds) with a witness key and returns
/// the signature line to add to the checkpoint note.
///
/// Errors: [`CosignatureError::WrongKeyType`] unless the key is
/// [`KeyType::CosignatureV1`]; [`CosignatureError::TimestampOutOfRange`] above 2^63 - 1.
pub fn cosign(
    witness: &Signer,
    checkpoint: &Checkpoint,
    timestamp: u64,
) -> Result<NoteSignature, CosignatureError> {
    check_key_type(witness.name(), witness.key_type())?;
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampOutOfRange { timestamp });
    }
    let message = signed_message(checkpoint.to_string().as_bytes(), timestamp);
    let mut signature = Vec::with_capacity(SIGNATURE_LEN);
    signature.extend_from_slice(&timestamp.to_be_bytes());
    signature.extend_from_slice(&witness.sign(&message));
    Ok(NoteSignature {
        name: witness.name().to_owned(),
        key_id: witness.key_id(),
        signature,
    })
}

/// Verifies one cosignature by `witness` on `checkpoint` and returns its timestamp.
///
/// The caller decides whether the timestamp is acceptable (the spec lets verifiers
/// reject future ones; this crate has no clock). Errors, checked in this order:
/// [`CosignatureError::WrongKeyType`], [`CosignatureError::KeyMismatch`],
/// [`CosignatureError::MalformedSignature`], [`CosignatureError::TimestampOutOfRange`],
/// [`CosignatureError::BadSignature`].
pub fn verify_cosignature(
    witness: &Verifier,
    checkpoint: &Checkpoint,
    sig: &NoteSignature,
) -> Result<u64, CosignatureError> {
    check_key_type(witness.name(), witness.key_type())?;
    if sig.name != witness.name() || sig.key_id != witness.key_id() {
        return Err(CosignatureError::KeyMismatch {
            name: sig.name.clone(),
            key_id: sig.key_id,
            expected: witness.to_string(),
        });
    }
    let (timestamp, ed25519) =
        split_signature(&sig.signature).ok_or(CosignatureError::MalformedSignature {
            len: sig.signature.len(),
        })?;
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampOutOfRange { timestamp });
    }
    let message = signed_message(checkpoint.to_string().as_bytes(), timestamp);
    if !witness.verify_ed25519(&message, ed25519) {
        return Err(CosignatureError::BadSignature {
            name: sig.name.clone(),
            key_id: sig.key_id,
        });
    }
    Ok(timestamp)
}

/// Verifies all cosignatures on a checkpoint note from the given witness keys and
/// returns the witnesses with at least one valid cosignature, in `witnesses` order.
///
/// Signatures are checked against `checkpoint` (its canonical body), which the caller
/// has parsed from `note.text` and authenticated with the log's key. Witnesses that are
/// not [`KeyType::CosignatureV1`] keys, signatures from unknown keys, and invalid
/// cosignatures are skipped: an invalid cosignature only fails to count toward a quorum.
pub fn verified_cosigners<'a>(
    note: &Note,
    checkpoint: &Checkpoint,
    witnesses: &'a [Verifier],
) -> Vec<&'a Verifier> {
    witnesses
        .iter()
        .filter(|witness| {
            note.signatures
                .iter()
                .filter(|sig| sig.name == witness.name() && sig.key_id == witness.key_id())
                .any(|sig| verify_cosignature(witness, checkpoint, sig).is_ok())
        })
        .collect()
}

fn check_key_type(name: &str, key_type: KeyType) -> Result<(), CosignatureError> {
    if key_type == KeyType::CosignatureV1 {
        Ok(())
    } else {
        Err(CosignatureError::WrongKeyType {
            name: name.to_owned(),
            key_type,
        })
    }
}
