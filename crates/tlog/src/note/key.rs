//! Keys for signed notes: signature types, key IDs, verifier keys (vkeys) and signers.
//!
//! The string formats are golang.org/x/mod/sumdb/note's: a vkey is
//! `<name>+<hex key ID>+base64(type || public key)` (also c2sp.org/signed-note's), and a
//! private key is the same with a `PRIVATE+KEY+` prefix and the 32-byte Ed25519 seed.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::{NoteError, NoteSignature};

/// The literal prefix of a private key string, in Go's format; it keeps a private key
/// from being mistaken for (and published as) a verifier key.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// The signature types (the spec's "signature type identifier byte") bintrail supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `0x01`: Ed25519 signatures over the note text (c2sp.org/signed-note).
    Ed25519,
    /// `0x04`: timestamped Ed25519 checkpoint cosignatures, `cosignature/v1`
    /// (c2sp.org/tlog-cosignature).
    CosignatureV1,
}

impl KeyType {
    /// Returns the signature type identifier byte (`0x01` or `0x04`).
    pub const fn id(self) -> u8 {
        match self {
            KeyType::Ed25519 => 0x01,
            KeyType::CosignatureV1 => 0x04,
        }
    }

    /// Returns the key type for a signature type identifier byte, or `None` for a type
    /// bintrail does not support.
    pub const fn from_id(id: u8) -> Option<KeyType> {
        match id {
            0x01 => Some(KeyType::Ed25519),
            0x04 => Some(KeyType::CosignatureV1),
            _ => None,
        }
    }
}

/// Returns the key ID: the first four bytes, big-endian, of
/// SHA-256(name || 0x0A || type byte || public key), as c2sp.org/signed-note recommends
/// and c2sp.org/tlog-cosignature requires for type 0x04.
pub fn key_id(name: &str, key_type: KeyType, public_key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([key_type.id()])
        .chain_update(public_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Reports whether `name` may be a key name: non-empty, no Unicode space, no `+`
/// (the spec's rule, the same as x/mod's `isValidName`), and, beyond x/mod, no control
/// character, since such a name could never appear in a valid note.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < '\u{20}')
}

fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: name.to_owned(),
        })
    }
}

/// A public key that verifies note signatures: name, key ID, type and Ed25519 key.
///
/// Parse one from a vkey string with [`FromStr`]; [`fmt::Display`] writes the canonical
/// vkey string (lowercase hex key ID). A `Verifier` that exists has a valid name, a
/// supported type, a valid curve point, and the key ID computed by [`key_id`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key_type: KeyType,
    key: VerifyingKey,
}

impl Verifier {
    /// Builds a verifier from its parts, computing the key ID.
    ///
    /// Errors: [`NoteError::InvalidKeyName`], [`NoteError::InvalidPublicKey`].
    pub fn new(name: &str, key_type: KeyType, public_key: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| NoteError::InvalidPublicKey)?;
        Ok(Verifier {
            name: name.to_owned(),
            key_id: key_id(name, key_type, &public_key),
            key_type,
            key,
        })
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Returns the signature type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Returns the 32-byte Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Reports whether `sig` (the bytes after the 4-byte key ID) is a valid signature of
    /// the note text `msg` by this key.
    ///
    /// For [`KeyType::Ed25519`], `sig` is a 64-byte Ed25519 signature of `msg`. For
    /// [`KeyType::CosignatureV1`], `sig` is an 8-byte big-endian timestamp and a 64-byte
    /// Ed25519 signature of the `cosignature/v1` message built from that timestamp and
    /// `msg` (a checkpoint body); timestamps above 2^63 - 1 are rejected. Use
    /// [`crate::cosignature::verify_cosignature`] to also learn the timestamp.
    ///
    /// Verification is RFC 8032 cofactorless verification, as Go's `crypto/ed25519`
    /// does, so bintrail and Go agree on every signature.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self.key_type {
            KeyType::Ed25519 => self.verify_ed25519(msg, sig),
            KeyType::CosignatureV1 => {
                let Some((timestamp, signature)) = super::cosignature_v1::split_signature(sig)
                else {
                    return false;
                };
                if timestamp > super::cosignature_v1::MAX_TIMESTAMP {
                    return false;
                }
                let message = super::cosignature_v1::signed_message(msg, timestamp);
                self.verify_ed25519(&message, signature)
            }
        }
    }

    /// Verifies a raw 64-byte Ed25519 signature of `msg`, whatever this key's type.
    pub(crate) fn verify_ed25519(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }

    /// Reports whether this verifier is the key that made `sig` (same name and key ID).
    pub(super) fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.key_id == sig.key_id
    }
}

impl FromStr for Verifier {
    type Err = NoteError;

    /// Parses a vkey string `<name>+<8 hex digits>+base64(type || 32-byte key)`.
    ///
    /// The key ID may use either hex case (Go's parser accepts both); the key material
    /// must be canonical padded standard base64. Errors: [`NoteError::KeyFormat`],
    /// [`NoteError::InvalidKeyName`], [`NoteError::KeyIdHex`], [`NoteError::KeyBase64`],
    /// [`NoteError::KeyLength`], [`NoteError::UnknownKeyType`],
    /// [`NoteError::InvalidPublicKey`], [`NoteError::KeyIdMismatch`].
    fn from_str(vkey: &str) -> Result<Self, NoteError> {
        let (name, claimed, key_type, key) =
            parse_key_parts(vkey, "<name>+<hex key ID>+<base64 key>")?;
        let verifier = Verifier::new(name, key_type, key)?;
        check_key_id(name, claimed, verifier.key_id)?;
        Ok(verifier)
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = [0u8; 33];
        material[0] = self.key_type.id();
        material[1..].copy_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({self})")
    }
}

/// Splits `name+id+base64` (the shared tail of vkeys and private keys) and decodes it.
fn parse_key_parts<'a>(
    s: &'a str,
    expected: &'static str,
) -> Result<(&'a str, u32, KeyType, [u8; 32]), NoteError> {
    // Split at the first two '+' only: base64 itself may contain '+'.
    let (name, rest) = s.split_once('+').ok_or(NoteError::KeyFormat { expected })?;
    let (id_hex, material) = rest
        .split_once('+')
        .ok_or(NoteError::KeyFormat { expected })?;
    check_key_name(name)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::KeyIdHex {
            id: id_hex.to_owned(),
        });
    }
    let claimed = u32::from_str_radix(id_hex, 16).map_err(|_| NoteError::KeyIdHex {
        id: id_hex.to_owned(),
    })?;
    let material = BASE64.decode(material).map_err(|_| NoteError::KeyBase64)?;
    let [type_id, key @ ..] = material.as_slice() else {
        return Err(NoteError::KeyLength { actual: 0 });
    };
    let key_type = KeyType::from_id(*type_id).ok_or(NoteError::UnknownKeyType { id: *type_id })?;
    let key = <[u8; 32]>::try_from(key).map_err(|_| NoteError::KeyLength {
        actual: material.len(),
    })?;
    Ok((name, claimed, key_type, key))
}

fn check_key_id(name: &str, claimed: u32, computed: u32) -> Result<(), NoteError> {
    if claimed == computed {
        Ok(())
    } else {
        Err(NoteError::KeyIdMismatch {
            name: name.to_owned(),
            claimed,
            computed,
        })
    }
}

/// An Ed25519 private key with its name, key ID and signature type.
///
/// Its `Debug` output never shows the private key; [`Signer::to_private_key`] is the
/// only way to get it out. The key is zeroed when dropped (ed25519-dalek's `zeroize`).
#[derive(Clone)]
pub struct Signer {
    verifier: Verifier,
    key: SigningKey,
}

impl Signer {
    /// Builds a signer from a 32-byte Ed25519 seed supplied by the caller (this crate
    /// draws no randomness; pass 32 bytes from a CSPRNG to make a new key).
    ///
    /// Errors: [`NoteError::InvalidKeyName`].
    pub fn generate(name: &str, key_type: KeyType, seed: [u8; 32]) -> Result<Signer, NoteError> {
        let key = SigningKey::from_bytes(&seed);
        // A public key derived from a private key is always a valid point.
        let verifier = Verifier::new(name, key_type, key.verifying_key().to_bytes())?;
        Ok(Signer { verifier, key })
    }

    /// Parses a private key in Go's format,
    /// `PRIVATE+KEY+<name>+<hex key ID>+base64(type || 32-byte seed)`.
    ///
    /// The key ID is checked against the derived public key, as x/mod's `NewSigner`
    /// does. Errors: as for [`Verifier::from_str`], and [`NoteError::KeyFormat`] when the
    /// `PRIVATE+KEY+` prefix is missing. Error values never contain key material.
    pub fn from_private_key(s: &str) -> Result<Signer, NoteError> {
        const EXPECTED: &str = "PRIVATE+KEY+<name>+<hex key ID>+<base64 key>";
        let rest = s
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::KeyFormat { expected: EXPECTED })?;
        let (name, claimed, key_type, seed) = parse_key_parts(rest, EXPECTED)?;
        let signer = Signer::generate(name, key_type, seed)?;
        check_key_id(name, claimed, signer.key_id())?;
        Ok(signer)
    }

    /// Returns the private key in Go's format (see [`Signer::from_private_key`]).
    /// The result is secret: store it with owner-only permissions and never log it.
    pub fn to_private_key(&self) -> String {
        let mut material = [0u8; 33];
        material[0] = self.verifier.key_type.id();
        material[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.key_id,
            BASE64.encode(material)
        )
    }

    /// Returns the matching public verifier.
    pub fn verifier(&self) -> Verifier {
        self.verifier.clone()
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// Returns the key ID.
    pub fn key_id(&self) -> u32 {
        self.verifier.key_id
    }

    /// Returns the signature type.
    pub fn key_type(&self) -> KeyType {
        self.verifier.key_type
    }

    /// Returns the raw Ed25519 signature of `msg`, with no domain separation: for a
    /// [`KeyType::CosignatureV1`] key use [`crate::cosignature::cosign`] instead.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.verifier.name)
            .field("key_id", &format_args!("{:08x}", self.verifier.key_id))
            .field("key_type", &self.verifier.key_type)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Note;

    #[test]
    fn two_keys_with_one_name_and_key_id_are_ambiguous() {
        // A 32-bit key ID collision is cheap for an attacker but slow for a test, so
        // force one: the second verifier claims the first one's key ID.
        let a = Signer::generate("log", KeyType::Ed25519, [1; 32]).unwrap();
        let mut b = Signer::generate("log", KeyType::Ed25519, [2; 32])
            .unwrap()
            .verifier();
        b.key_id = a.key_id();
        let note = Note::sign("text\n", &[&a]).unwrap();
        assert_eq!(
            note.verify(&[a.verifier(), b]),
            Err(NoteError::AmbiguousVerifier {
                name: "log".into(),
                key_id: a.key_id()
            })
        );
    }
}
