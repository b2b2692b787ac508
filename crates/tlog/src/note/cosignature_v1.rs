//! The bytes a `cosignature/v1` (signature type `0x04`) signature covers and carries.
//!
//! This lives under `note` because a [`super::Verifier`] of type
//! [`super::KeyType::CosignatureV1`] checks such signatures on any note; making and
//! reading cosignatures on checkpoints is [`crate::cosignature`]'s job, which re-exports
//! these items. Keeping the format here lets `note` stand alone (no import back into
//! `cosignature`).

/// The largest timestamp the spec allows, 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The length of a `cosignature/v1` signature after the key ID: 8-byte timestamp and
/// 64-byte Ed25519 signature.
pub const SIGNATURE_LEN: usize = 8 + 64;

/// Returns the signed message: `cosignature/v1\ntime <timestamp>\n` then `body`, the
/// checkpoint note text including its final newline.
pub fn signed_message(body: &[u8], timestamp: u64) -> Vec<u8> {
    let header = format!("cosignature/v1\ntime {timestamp}\n");
    let mut message = Vec::with_capacity(header.len() + body.len());
    message.extend_from_slice(header.as_bytes());
    message.extend_from_slice(body);
    message
}

/// Splits a 72-byte cosignature into its timestamp and Ed25519 signature; `None` if the
/// length is wrong. The timestamp is not range-checked here.
pub(crate) fn split_signature(sig: &[u8]) -> Option<(u64, &[u8])> {
    if sig.len() != SIGNATURE_LEN {
        return None;
    }
    let (timestamp, ed25519) = sig.split_at(8);
    let timestamp = u64::from_be_bytes(timestamp.try_into().ok()?);
    Some((timestamp, ed25519))
}
