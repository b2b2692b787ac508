//! C2SP tlog-proof (`c2sp.org/tlog-proof@v1`): an offline-verifiable proof that an
//! entry is in a log, made of a (cosigned) checkpoint, the entry's index, its Merkle
//! inclusion proof and optional opaque extra data.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>                  (optional)
//! index <decimal>
//! <base64 hash>                   (zero or more, leaf's sibling first)
//!
//! <the signed checkpoint note, verbatim>
//! ```
//!
//! [`TlogProof::parse`] accepts exactly the canonical encoding, so parsing and
//! [`TlogProof::to_bytes`] round-trip byte for byte. [`TlogProof::verify`] runs the
//! spec's verification steps against a [`Policy`] once the caller has computed the
//! leaf hash (step 1, which is application specific).
//!
//! ```
//! use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
//! use bintrail_tlog::hash::{Hash, leaf_hash};
//! use bintrail_tlog::note::{KeyType, Signer};
//! use bintrail_tlog::policy::Policy;
//! use bintrail_tlog::proof::TlogProof;
//!
//! // A one-entry log: the root hash is the leaf hash and the proof is empty.
//! let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
//! let leaf = leaf_hash(b"hello");
//! let cp = Checkpoint { origin: "example.com/log".into(), size: 1, root_hash: leaf, extensions: vec![] };
//! let proof = TlogProof {
//!     extra: None,
//!     index: 0,
//!     inclusion_proof: vec![],
//!     checkpoint: sign_checkpoint(&cp, &log).unwrap().to_bytes(),
//! };
//! let bytes = proof.to_bytes();
//! let parsed = TlogProof::parse(&bytes).unwrap();
//! assert_eq!(parsed, proof);
//!
//! let policy: Policy = format!("log {}\nquorum none\n", log.verifier()).parse().unwrap();
//! assert_eq!(parsed.verify(&policy, leaf).unwrap().checkpoint.size, 1);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::checkpoint::Checkpoint;
use crate::hash::Hash;
use crate::note::Note;
use crate::policy::{Policy, VerifiedCheckpoint};
use crate::tree::{TreeError, verify_record};

mod error;
mod write;

pub use error::{ProofError, ProofVerifyError};
pub use write::{ProofParts, ProofPiece};

/// The first line of every proof.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most inclusion-proof hashes accepted: a tree of 2^64 leaves needs 64.
pub const MAX_PROOF_HASHES: usize = 64;

/// The largest proof [`TlogProof::parse`] accepts, in bytes: room for the largest
/// checkpoint body bintrail accepts plus signatures, extra data and hashes.
pub const MAX_PROOF_SIZE: usize = 2 << 20;

/// The prefix of the optional extra-data line.
pub const EXTRA_PREFIX: &str = "extra ";
/// The prefix of the index line.
pub const INDEX_PREFIX: &str = "index ";

/// A parsed tlog-proof.
///
/// A value from [`TlogProof::parse`] is canonical: its checkpoint is a well-formed
/// signed note with a well-formed checkpoint body (neither is verified until
/// [`TlogProof::verify`]). The fields are public so a log can assemble proofs; a value
/// built with a malformed checkpoint formats to bytes that `parse` rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated application data; never trust it implicitly.
    pub extra: Option<Vec<u8>>,
    /// The zero-based index of the entry in the log.
    pub index: u64,
    /// The RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    pub inclusion_proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim (including cosignatures).
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    /// Parses a proof, strictly: the header line, an optional `extra <base64>` line, an
    /// `index <decimal>` line (no leading zeros), zero to [`MAX_PROOF_HASHES`] lines of
    /// base64 hashes, a blank line, then a well-formed signed checkpoint note up to the
    /// end of the input. Base64 must be canonical standard padded base64.
    ///
    /// Guarantees `parse(b)?.to_bytes() == b`. Nothing is verified: use
    /// [`TlogProof::verify`]. Errors: see [`ProofError`].
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, ProofError> {
        if bytes.len() > MAX_PROOF_SIZE {
            return Err(ProofError::TooLarge { len: bytes.len() });
        }
        let mut lines = Lines {
            rest: bytes,
            line: 0,
        };
        if lines.next_line()? != PROOF_HEADER {
            return Err(ProofError::BadHeader);
        }
        let mut line = lines.next_line()?;
        let extra = match line.strip_prefix(EXTRA_PREFIX) {
            Some(b64) => {
                let data = BASE64
                    .decode(b64)
                    .map_err(|_| ProofError::InvalidExtra { line: lines.line })?;
                line = lines.next_line()?;
                Some(data)
            }
            None => None,
        };
        let index = parse_index(line).ok_or(ProofError::InvalidIndex { line: lines.line })?;
        let mut inclusion_proof = Vec::new();
        loop {
            let line = lines.next_line()?;
            if line.is_empty() {
                break;
            }
            if inclusion_proof.len() == MAX_PROOF_HASHES {
                return Err(ProofError::TooManyHashes);
            }
            let hash = Hash::from_base64(line)
                .map_err(|_| ProofError::InvalidHash { line: lines.line })?;
            inclusion_proof.push(hash);
        }
        let note = Note::parse(lines.rest).map_err(ProofError::CheckpointNote)?;
        note.text
            .parse::<Checkpoint>()
            .map_err(ProofError::Checkpoint)?;
        Ok(TlogProof {
            extra,
            index,
            inclusion_proof,
            checkpoint: lines.rest.to_vec(),
        })
    }

    /// Encodes the proof in the tlog-proof text format.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_parts().to_bytes()
    }

    /// Returns the proof borrowed as parts, to write it without copying them.
    pub fn as_parts(&self) -> ProofParts<'_> {
        ProofParts {
            extra: self.extra.as_deref(),
            index: self.index,
            inclusion_proof: &self.inclusion_proof,
            checkpoint: &self.checkpoint,
        }
    }

    /// Verifies the proof for an entry whose RFC 6962 leaf hash the caller computed:
    /// the checkpoint must pass [`Policy::verify_checkpoint`] (a policy log signed it,
    /// the witness quorum is met) and the inclusion proof must bind `leaf_hash` at
    /// `index` to the checkpoint's root hash.
    ///
    /// Returns the verified checkpoint. The extra data is not looked at. Errors: see
    /// [`ProofVerifyError`]; the policy is checked first.
    pub fn verify(
        &self,
        policy: &Policy,
        leaf_hash: Hash,
    ) -> Result<VerifiedCheckpoint, ProofVerifyError> {
        let verified = policy.verify_checkpoint(&self.checkpoint)?;
        let (size, root_hash) = (verified.checkpoint.size, verified.checkpoint.root_hash);
        let index = self.index;
        match verify_record(&self.inclusion_proof, size, root_hash, index, leaf_hash) {
            Ok(()) => Ok(verified),
            Err(TreeError::IndexOutOfRange { .. }) => {
                Err(ProofVerifyError::IndexOutOfRange { index, size })
            }
            Err(TreeError::ProofLength { expected, got }) => {
                Err(ProofVerifyError::InclusionProofLength {
                    index,
                    size,
                    expected,
                    got,
                })
            }
            // InvalidProof, or any failure a future tree module adds: the proof does
            // not verify either way.
            Err(_) => Err(ProofVerifyError::InclusionProofInvalid {
                leaf_hash,
                index,
                size,
                root_hash,
            }),
        }
    }
}

/// Walks the header lines of a proof; `line` is the number of the last line returned.
struct Lines<'a> {
    rest: &'a [u8],
    line: usize,
}

impl<'a> Lines<'a> {
    /// Returns the next newline-terminated line, without its newline.
    fn next_line(&mut self) -> Result<&'a str, ProofError> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(ProofError::Truncated)?;
        let (line, rest) = (&self.rest[..end], &self.rest[end + 1..]);
        self.rest = rest;
        self.line += 1;
        std::str::from_utf8(line).map_err(|_| ProofError::NotUtf8 { line: self.line })
    }
}

/// Parses `index <n>` with n a canonical decimal `u64`.
fn parse_index(line: &str) -> Option<u64> {
    let digits = line.strip_prefix(INDEX_PREFIX)?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if canonical { digits.parse().ok() } else { None }
}

#[cfg(test)]
mod tests;
