//! The draft's two well-known documents: the log's key (`$LOG_URL/.well-known/bt/tlog-key`)
//! and the index's description of its log (`$INDEX_URL/.well-known/bt/tlog-info`).
//!
//! Choice made here (the draft says only "base64-encoded public key"): for `ed25519`,
//! `public_key` and `log_key` are the standard, padded base64 of the raw 32-byte
//! RFC 8032 public key, with no signed-note type byte and no key name. A verifier is
//! rebuilt from it together with the log's origin, which a client takes from the proof
//! answer's `log_origin` (the signed-note key ID hashes the origin, so a key served for
//! one origin never verifies checkpoints of another).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::note::{KeyType, Verifier};
use serde::{Deserialize, Serialize};

/// The well-known path of the log's key, relative to the log's URL.
pub const TLOG_KEY_PATH: &str = ".well-known/bt/tlog-key";
/// The well-known path of the index's log description, relative to the index's URL.
pub const TLOG_INFO_PATH: &str = ".well-known/bt/tlog-info";
/// The most bytes a client should read of either document; real ones are under 300.
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024;

/// A signature algorithm the draft allows for a log's checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureAlgorithm {
    /// `ed25519`: RFC 8032 Ed25519, what bintrail logs sign with.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// `ml-dsa-44`: FIPS 204 ML-DSA-44. Parsed so a client can say what it met;
    /// bintrail cannot verify it yet.
    #[serde(rename = "ml-dsa-44")]
    MlDsa44,
}

/// `GET $LOG_URL/.well-known/bt/tlog-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlogKey {
    /// The log's checkpoint signature algorithm.
    pub signature_algorithm: SignatureAlgorithm,
    /// The public key, base64 (see the module doc for the encoding chosen).
    pub public_key: String,
}

/// `GET $INDEX_URL/.well-known/bt/tlog-info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlogInfo {
    /// The URL of the index's transparency log (its tlog-tiles prefix).
    pub log_url: String,
    /// The log's public key, encoded as [`TlogKey::public_key`].
    pub log_key: String,
    /// The log's checkpoint signature algorithm.
    pub log_signature_algorithm: SignatureAlgorithm,
}

/// Why a well-known document could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WellKnownError {
    /// Returned when the document is not JSON of the draft's schema.
    #[error("not a valid well-known document: {source}")]
    Malformed {
        /// The JSON parser's error (line, column and category).
        source: serde_json::Error,
    },
    /// Returned when the document is larger than [`MAX_DOCUMENT_LEN`].
    #[error("well-known document is {len} bytes; at most {MAX_DOCUMENT_LEN} are accepted")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned for `ml-dsa-44`, which bintrail cannot verify yet.
    #[error("the log signs with ml-dsa-44, which bintrail does not support yet")]
    UnsupportedAlgorithm,
    /// Returned when the key is not canonical base64 of 32 bytes.
    #[error("the log's public key is not base64 of a 32-byte Ed25519 key")]
    BadKey,
    /// Returned when the origin is not a valid signed-note key name.
    #[error("{origin:?} is not a valid log origin (key name)")]
    BadOrigin {
        /// The origin given.
        origin: String,
    },
}

/// Encodes a raw Ed25519 public key the way both documents carry it.
pub fn encode_public_key(key: &[u8; 32]) -> String {
    BASE64.encode(key)
}

/// Decodes a key written by [`encode_public_key`] (canonical base64 of exactly 32 bytes).
pub fn decode_public_key(text: &str) -> Result<[u8; 32], WellKnownError> {
    let bytes = BASE64.decode(text).map_err(|_| WellKnownError::BadKey)?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| WellKnownError::BadKey)?;
    // Canonical only: one key, one text (base64 with stray padding bits decodes too).
    if BASE64.encode(key) != text {
        return Err(WellKnownError::BadKey);
    }
    Ok(key)
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WellKnownError> {
    if bytes.len() > MAX_DOCUMENT_LEN {
        return Err(WellKnownError::TooLarge { len: bytes.len() });
    }
    serde_json::from_slice(bytes).map_err(|source| WellKnownError::Malformed { source })
}

fn verifier_for(
    algorithm: SignatureAlgorithm,
    key: &str,
    origin: &str,
) -> Result<Verifier, WellKnownError> {
    if algorithm != SignatureAlgorithm::Ed25519 {
        return Err(WellKnownError::UnsupportedAlgorithm);
    }
    let key = decode_public_key(key)?;
    Verifier::new(origin, KeyType::Ed25519, key).map_err(|_| WellKnownError::BadOrigin {
        origin: origin.to_owned(),
    })
}

impl TlogKey {
    /// The document a log serves for its checkpoint key.
    pub fn for_verifier(log: &Verifier) -> TlogKey {
        TlogKey {
            signature_algorithm: SignatureAlgorithm::Ed25519,
            public_key: encode_public_key(log.public_key()),
        }
    }

    /// Parses the document strictly (unknown fields are refused), at most
    /// [`MAX_DOCUMENT_LEN`] bytes.
    pub fn from_json(bytes: &[u8]) -> Result<TlogKey, WellKnownError> {
        parse_json(bytes)
    }

    /// The JSON text served at [`TLOG_KEY_PATH`].
    pub fn to_json(&self) -> String {
        // Two string fields: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The signed-note verifier for the log named `origin` with this key.
    pub fn verifier(&self, origin: &str) -> Result<Verifier, WellKnownError> {
        verifier_for(self.signature_algorithm, &self.public_key, origin)
    }
}

impl TlogInfo {
    /// The document an index serves for the log at `log_url` whose key is `log`.
    pub fn new(log_url: &str, log: &Verifier) -> TlogInfo {
        TlogInfo {
            log_url: log_url.to_owned(),
            log_key: encode_public_key(log.public_key()),
            log_signature_algorithm: SignatureAlgorithm::Ed25519,
        }
    }

    /// Parses the document strictly (unknown fields are refused), at most
    /// [`MAX_DOCUMENT_LEN`] bytes.
    pub fn from_json(bytes: &[u8]) -> Result<TlogInfo, WellKnownError> {
        parse_json(bytes)
    }

    /// The JSON text served at [`TLOG_INFO_PATH`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The signed-note verifier for the log named `origin` with this document's key.
    pub fn verifier(&self, origin: &str) -> Result<Verifier, WellKnownError> {
        verifier_for(self.log_signature_algorithm, &self.log_key, origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::note::Signer;

    fn verifier() -> Verifier {
        Signer::generate("example.org/log", KeyType::Ed25519, [1; 32])
            .map(|s| s.verifier())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn tlog_key_round_trips_and_rebuilds_the_verifier() {
        let v = verifier();
        let doc = TlogKey::for_verifier(&v);
        let json = doc.to_json();
        assert!(json.starts_with(r#"{"signature_algorithm":"ed25519","public_key":""#));
        let back = TlogKey::from_json(json.as_bytes()).unwrap();
        assert_eq!(back.verifier("example.org/log").unwrap(), v);
        // Another origin gives another key ID: it cannot verify this log's checkpoints.
        assert_ne!(back.verifier("other.org/log").unwrap().key_id(), v.key_id());
    }

    #[test]
    fn tlog_info_round_trips() {
        let v = verifier();
        let doc = TlogInfo::new("https://log.example.org/", &v);
        let back = TlogInfo::from_json(doc.to_json().as_bytes()).unwrap();
        assert_eq!(back, doc);
        assert_eq!(back.verifier("example.org/log").unwrap(), v);
    }

    #[test]
    fn bad_documents_are_refused() {
        for bad in [
            &br#"{"signature_algorithm":"rsa","public_key":"AAAA"}"#[..],
            br#"{"signature_algorithm":"ed25519"}"#,
            br#"{"signature_algorithm":"ed25519","public_key":"AAAA","x":1}"#,
            b"not json",
        ] {
            assert!(matches!(
                TlogKey::from_json(bad),
                Err(WellKnownError::Malformed { .. })
            ));
        }
        let short = TlogKey {
            signature_algorithm: SignatureAlgorithm::Ed25519,
            public_key: "AAAA".into(),
        };
        assert!(matches!(short.verifier("o"), Err(WellKnownError::BadKey)));
        let mldsa = TlogKey {
            signature_algorithm: SignatureAlgorithm::MlDsa44,
            public_key: encode_public_key(&[0; 32]),
        };
        assert!(matches!(
            mldsa.verifier("o"),
            Err(WellKnownError::UnsupportedAlgorithm)
        ));
        let big = vec![b' '; MAX_DOCUMENT_LEN + 1];
        assert!(matches!(
            TlogInfo::from_json(&big),
            Err(WellKnownError::TooLarge { .. })
        ));
    }

    #[test]
    fn non_canonical_base64_keys_are_refused() {
        // 32 zero bytes end in "A=" canonically; "B=" sets a stray padding bit.
        let canonical = encode_public_key(&[0; 32]);
        assert!(canonical.ends_with("A="));
        let stray = format!("{}B=", &canonical[..canonical.len() - 2]);
        assert!(matches!(
            decode_public_key(&stray),
            Err(WellKnownError::BadKey)
        ));
    }
}
