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

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::Hash;
use crate::note::{Note, NoteError};
use crate::policy::{CheckpointVerifyError, Policy, VerifiedCheckpoint};
use crate::tree::{TreeError, verify_record};

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

/// Why [`TlogProof::parse`] rejected its input. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Returned when the input is larger than [`MAX_PROOF_SIZE`].
    #[error("proof is {len} bytes; at most {MAX_PROOF_SIZE} are accepted")]
    TooLarge {
        /// The size found.
        len: usize,
    },
    /// Returned when the first line is not [`PROOF_HEADER`].
    #[error("proof must start with the line {PROOF_HEADER:?}")]
    BadHeader,
    /// Returned when the input ends before the blank line that precedes the checkpoint.
    #[error("proof ends before the blank line and checkpoint")]
    Truncated,
    /// Returned when a line is not UTF-8.
    #[error("proof line {line} is not UTF-8")]
    NotUtf8 {
        /// The line number.
        line: usize,
    },
    /// Returned when the extra data is not canonical standard base64.
    #[error("proof line {line}: extra data is not canonical base64")]
    InvalidExtra {
        /// The line number.
        line: usize,
    },
    /// Returned when the index line is missing or malformed.
    #[error("proof line {line}: expected \"index <decimal>\" with no leading zeros")]
    InvalidIndex {
        /// The line number.
        line: usize,
    },
    /// Returned when an inclusion-proof line is not base64 of 32 bytes.
    #[error("proof line {line}: inclusion proof hash is not base64 of 32 bytes")]
    InvalidHash {
        /// The line number.
        line: usize,
    },
    /// Returned when there are more than [`MAX_PROOF_HASHES`] hashes.
    #[error("inclusion proof has more than {MAX_PROOF_HASHES} hashes")]
    TooManyHashes,
    /// Returned when the checkpoint is not a well-formed signed note.
    #[error("proof checkpoint is not a signed note: {0}")]
    CheckpointNote(NoteError),
    /// Returned when the checkpoint note's text is not a well-formed checkpoint.
    #[error("proof checkpoint is malformed: {0}")]
    Checkpoint(CheckpointError),
}

/// Why [`TlogProof::verify`] rejected a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofVerifyError {
    /// Returned when the checkpoint fails the policy: unknown or wrong log, bad log
    /// signature, or too few valid cosignatures.
    #[error("checkpoint rejected by policy: {0}")]
    Checkpoint(#[from] CheckpointVerifyError),
    /// Returned when the index is not below the checkpoint's tree size.
    #[error("index {index} is not in the checkpointed tree of size {size}")]
    IndexOutOfRange {
        /// The proof's index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
    /// Returned when the inclusion proof has the wrong number of hashes for the index
    /// and tree size.
    #[error("inclusion proof has {got} hashes; index {index} in size {size} needs {expected}")]
    InclusionProofLength {
        /// The proof's index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// The number of hashes needed.
        expected: usize,
        /// The number given.
        got: usize,
    },
    /// Returned when the inclusion proof does not lead from the leaf hash to the
    /// checkpoint's root hash: wrong leaf, wrong index, or a forged proof.
    #[error(
        "inclusion proof for leaf {leaf_hash} at index {index} does not match root {root_hash} of size {size}"
    )]
    InclusionProofInvalid {
        /// The leaf hash checked.
        leaf_hash: Hash,
        /// The proof's index.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// The checkpoint's root hash.
        root_hash: Hash,
    },
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

/// A tlog-proof borrowed from its parts: what a log holds when it answers an add, so
/// that it can write the proof (into a file, or escaped inside a JSON string) without
/// first copying the entry, the hashes and the checkpoint into a [`TlogProof`].
#[derive(Debug, Clone, Copy)]
pub struct ProofParts<'a> {
    /// The extra data (bintrail: the entry), base64-encoded on its own line if present.
    pub extra: Option<&'a [u8]>,
    /// The zero-based index of the entry in the log.
    pub index: u64,
    /// The RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    pub inclusion_proof: &'a [Hash],
    /// The signed checkpoint note, verbatim.
    pub checkpoint: &'a [u8],
}

/// One piece of a tlog-proof's text, as [`ProofParts::write`] hands them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofPiece<'a> {
    /// Printable ASCII with no quote or backslash (the header, prefixes, decimal and
    /// base64): safe to copy into JSON, HTML or a shell word unescaped.
    Text(&'a str),
    /// The end of a line, `\n`.
    Newline,
    /// The checkpoint note, verbatim: the last piece, and the only one that may hold
    /// any byte (a well-formed note is UTF-8, but this is not checked here).
    Checkpoint(&'a [u8]),
}

impl ProofParts<'_> {
    /// Writes the proof as a sequence of pieces whose concatenation is the tlog-proof
    /// text ([`TlogProof::parse`] reads it back when the checkpoint is well-formed).
    /// This is the one writer of the format; callers choose how each piece is copied.
    pub fn write(&self, mut piece: impl FnMut(ProofPiece<'_>)) {
        piece(ProofPiece::Text(PROOF_HEADER));
        piece(ProofPiece::Newline);
        if let Some(extra) = self.extra {
            piece(ProofPiece::Text(EXTRA_PREFIX));
            // Chunks of a multiple of 3 bytes encode to base64 that concatenates.
            let mut buf = [0u8; 64];
            for chunk in extra.chunks(48) {
                let n = encode_base64(chunk, &mut buf);
                piece(ProofPiece::Text(ascii(&buf[..n])));
            }
            piece(ProofPiece::Newline);
        }
        piece(ProofPiece::Text(INDEX_PREFIX));
        let mut digits = [0u8; 20];
        piece(ProofPiece::Text(decimal(self.index, &mut digits)));
        piece(ProofPiece::Newline);
        let mut buf = [0u8; 64];
        for hash in self.inclusion_proof {
            let n = encode_base64(&hash.0, &mut buf);
            piece(ProofPiece::Text(ascii(&buf[..n])));
            piece(ProofPiece::Newline);
        }
        piece(ProofPiece::Newline);
        piece(ProofPiece::Checkpoint(self.checkpoint));
    }

    /// Returns the tlog-proof text.
    pub fn to_bytes(&self) -> Vec<u8> {
        let hashes = self.inclusion_proof.len() * 45;
        let extra = self.extra.map_or(0, |e| e.len() * 4 / 3 + 10);
        let mut out = Vec::with_capacity(64 + hashes + extra + self.checkpoint.len());
        self.write(|piece| match piece {
            ProofPiece::Text(text) => out.extend_from_slice(text.as_bytes()),
            ProofPiece::Newline => out.push(b'\n'),
            ProofPiece::Checkpoint(note) => out.extend_from_slice(note),
        });
        out
    }
}

/// Encodes at most 48 bytes as padded standard base64 into `buf`; returns the length.
fn encode_base64(bytes: &[u8], buf: &mut [u8; 64]) -> usize {
    // 48 bytes encode to exactly 64 characters, so the buffer is always large enough.
    BASE64.encode_slice(bytes, buf).unwrap_or(0)
}

/// Views bytes this module just wrote as base64 or decimal digits as a `&str`.
fn ascii(bytes: &[u8]) -> &str {
    // Base64 and decimal digits are ASCII, hence UTF-8; an empty string otherwise
    // cannot happen and would make the proof fail to parse rather than panic.
    std::str::from_utf8(bytes).unwrap_or("")
}

/// Writes `n` in decimal into `buf` and returns it.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ascii(&buf[start..])
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
mod tests {
    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use crate::cosignature::cosign;
    use crate::hash::leaf_hash;
    use crate::note::{KeyType, Signer};
    use crate::tree::{prove_record, stored_hashes, tree_hash};

    /// The hashes of the tlog-proof spec's example, in order.
    const SPEC_HASHES: [&str; 5] = [
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=",
        "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=",
        "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=",
        "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=",
        "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=",
    ];
    const SPEC_EXTRA: &str = "YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ";

    fn fancylog() -> Signer {
        Signer::generate("example.com/fancylog", KeyType::Ed25519, [5; 32]).unwrap()
    }

    /// The spec example's checkpoint body, signed by a real key standing in for the
    /// elided signatures.
    fn spec_checkpoint() -> Vec<u8> {
        let cp: Checkpoint =
            "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
                .parse()
                .unwrap();
        sign_checkpoint(&cp, &fancylog()).unwrap().to_bytes()
    }

    fn spec_example() -> Vec<u8> {
        let mut text = format!("c2sp.org/tlog-proof@v1\nextra {SPEC_EXTRA}\nindex 73894\n");
        for h in SPEC_HASHES {
            text.push_str(h);
            text.push('\n');
        }
        text.push('\n');
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&spec_checkpoint());
        bytes
    }

    #[test]
    fn spec_example_structure() {
        let bytes = spec_example();
        let proof = TlogProof::parse(&bytes).unwrap();
        assert_eq!(
            proof.extra.as_deref().unwrap(),
            &BASE64.decode(SPEC_EXTRA).unwrap()[..]
        );
        assert!(
            proof
                .extra
                .as_deref()
                .unwrap()
                .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz")
        );
        assert_eq!(proof.index, 73894);
        let hashes: Vec<String> = proof.inclusion_proof.iter().map(Hash::to_base64).collect();
        assert_eq!(hashes, SPEC_HASHES);
        assert_eq!(proof.checkpoint, spec_checkpoint());
        assert_eq!(proof.to_bytes(), bytes);
    }

    #[test]
    fn spec_example_with_elided_signatures_is_not_a_note() {
        let mut bytes = spec_example();
        let at = bytes.len() - spec_checkpoint().len();
        bytes.truncate(at);
        bytes.extend_from_slice(
            "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n\u{2014} example.com/fancylog hI2DJw[...]1roloI=\n"
                .as_bytes(),
        );
        assert!(matches!(
            TlogProof::parse(&bytes),
            Err(ProofError::CheckpointNote(_))
        ));
    }

    #[test]
    fn round_trips_without_extra_and_hashes() {
        let proof = TlogProof {
            extra: None,
            index: 0,
            inclusion_proof: vec![],
            checkpoint: spec_checkpoint(),
        };
        let bytes = proof.to_bytes();
        assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/fancylog\n"));
        assert_eq!(TlogProof::parse(&bytes).unwrap(), proof);
    }

    /// The writer encodes extra data in 48-byte chunks: every length across several
    /// chunk boundaries must give the same text as encoding it whole.
    #[test]
    fn writer_encodes_extra_of_every_length_whole() {
        let checkpoint = spec_checkpoint();
        for len in 0..=150usize {
            let extra: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let proof = TlogProof {
                extra: Some(extra.clone()),
                index: 1_000_000_007,
                inclusion_proof: vec![Hash([9; 32]); 3],
                checkpoint: checkpoint.clone(),
            };
            let bytes = proof.to_bytes();
            let want = format!("extra {}\nindex 1000000007\n", BASE64.encode(&extra));
            assert!(
                bytes[PROOF_HEADER.len() + 1..].starts_with(want.as_bytes()),
                "{len}"
            );
            assert_eq!(TlogProof::parse(&bytes).unwrap(), proof, "{len}");
        }
    }

    #[test]
    fn round_trips_empty_extra() {
        let proof = TlogProof {
            extra: Some(vec![]),
            index: u64::MAX,
            inclusion_proof: vec![Hash([7; 32]); MAX_PROOF_HASHES],
            checkpoint: spec_checkpoint(),
        };
        let bytes = proof.to_bytes();
        assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nextra \nindex 18446744073709551615\n"));
        assert_eq!(TlogProof::parse(&bytes).unwrap(), proof);
    }

    /// Replaces the header (everything before the checkpoint) of the spec example.
    fn with_header(header: &str) -> Vec<u8> {
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(&spec_checkpoint());
        bytes
    }

    macro_rules! invalid_proofs {
        ($($test:ident => $bytes:expr, $err:pat,)*) => {$(
            #[test]
            fn $test() {
                let bytes: Vec<u8> = $bytes;
                let got = TlogProof::parse(&bytes);
                assert!(matches!(got, Err($err)), "{:?} gave {got:?}", String::from_utf8_lossy(&bytes));
            }
        )*};
    }

    const H: &str = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";

    invalid_proofs! {
        empty => vec![], ProofError::Truncated,
        wrong_version => with_header("c2sp.org/tlog-proof@v2\nindex 0\n\n"), ProofError::BadHeader,
        header_with_space => with_header("c2sp.org/tlog-proof@v1 \nindex 0\n\n"), ProofError::BadHeader,
        crlf => with_header("c2sp.org/tlog-proof@v1\r\nindex 0\r\n\r\n"), ProofError::BadHeader,
        header_only => b"c2sp.org/tlog-proof@v1\n".to_vec(), ProofError::Truncated,
        missing_index => with_header(&format!("c2sp.org/tlog-proof@v1\n{H}\n\n")), ProofError::InvalidIndex { line: 2 },
        index_leading_zero => with_header("c2sp.org/tlog-proof@v1\nindex 01\n\n"), ProofError::InvalidIndex { line: 2 },
        index_negative => with_header("c2sp.org/tlog-proof@v1\nindex -1\n\n"), ProofError::InvalidIndex { .. },
        index_plus => with_header("c2sp.org/tlog-proof@v1\nindex +1\n\n"), ProofError::InvalidIndex { .. },
        index_overflow => with_header("c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\n"), ProofError::InvalidIndex { .. },
        index_two_spaces => with_header("c2sp.org/tlog-proof@v1\nindex  1\n\n"), ProofError::InvalidIndex { .. },
        index_empty => with_header("c2sp.org/tlog-proof@v1\nindex \n\n"), ProofError::InvalidIndex { .. },
        index_before_extra => with_header("c2sp.org/tlog-proof@v1\nindex 1\nextra AA==\n\n"), ProofError::InvalidHash { line: 3 },
        extra_twice => with_header("c2sp.org/tlog-proof@v1\nextra AA==\nextra AA==\nindex 1\n\n"), ProofError::InvalidIndex { line: 3 },
        extra_bad_base64 => with_header("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n"), ProofError::InvalidExtra { line: 2 },
        extra_non_canonical => with_header("c2sp.org/tlog-proof@v1\nextra AB==\nindex 1\n\n"), ProofError::InvalidExtra { line: 2 },
        extra_unpadded => with_header("c2sp.org/tlog-proof@v1\nextra AA\nindex 1\n\n"), ProofError::InvalidExtra { line: 2 },
        hash_short => with_header("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\n"), ProofError::InvalidHash { line: 3 },
        hash_trailing_space => with_header(&format!("c2sp.org/tlog-proof@v1\nindex 1\n{H} \n\n")), ProofError::InvalidHash { line: 3 },
        hash_url_safe => with_header("c2sp.org/tlog-proof@v1\nindex 1\nB95lDa8R83lS8n0eG-o0buTxRKQTYFi__1U8anccXmA=\n\n"), ProofError::InvalidHash { line: 3 },
        too_many_hashes => with_header(&format!("c2sp.org/tlog-proof@v1\nindex 1\n{}\n", format!("{H}\n").repeat(MAX_PROOF_HASHES + 1))), ProofError::TooManyHashes,
        no_blank_line => format!("c2sp.org/tlog-proof@v1\nindex 1\n{H}").into_bytes(), ProofError::Truncated,
        missing_checkpoint => b"c2sp.org/tlog-proof@v1\nindex 1\n\n".to_vec(), ProofError::CheckpointNote(_),
        unsigned_checkpoint => b"c2sp.org/tlog-proof@v1\nindex 1\n\nexample.com/fancylog\n1\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n".to_vec(), ProofError::CheckpointNote(_),
        checkpoint_not_a_checkpoint => {
            let mut b = b"c2sp.org/tlog-proof@v1\nindex 1\n\n".to_vec();
            b.extend_from_slice(&Note::sign("hello\n", &[&fancylog()]).unwrap().to_bytes());
            b
        }, ProofError::Checkpoint(_),
        not_utf8_index => with_header("c2sp.org/tlog-proof@v1\nindex \u{0}\n\n").into_iter().map(|b| if b == 0 { 0xff } else { b }).collect(), ProofError::NotUtf8 { line: 2 },
        too_large => vec![b'x'; MAX_PROOF_SIZE + 1], ProofError::TooLarge { .. },
    }

    /// A 7-entry log, its leaf hashes and a signed, cosigned checkpoint of it.
    struct Fixture {
        leaves: Vec<Hash>,
        stored: Vec<Hash>,
        policy: Policy,
        checkpoint: Vec<u8>,
    }

    fn fixture(cosigned: bool) -> Fixture {
        let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
        let witness = Signer::generate("w.example", KeyType::CosignatureV1, [2; 32]).unwrap();
        let mut stored: Vec<Hash> = Vec::new();
        let mut leaves = Vec::new();
        for i in 0..7u64 {
            let data = format!("entry {i}");
            leaves.push(leaf_hash(data.as_bytes()));
            let new = stored_hashes(i, data.as_bytes(), &stored).unwrap();
            stored.extend(new);
        }
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 7,
            root_hash: tree_hash(7, &stored).unwrap(),
            extensions: vec![],
        };
        let mut note = sign_checkpoint(&cp, &log).unwrap();
        if cosigned {
            note.add_signature(cosign(&witness, &cp, 1_700_000_000).unwrap());
        }
        let policy = format!(
            "log {}\nwitness W {}\nquorum W\n",
            log.verifier(),
            witness.verifier()
        )
        .parse()
        .unwrap();
        Fixture {
            leaves,
            stored,
            policy,
            checkpoint: note.to_bytes(),
        }
    }

    fn proof_for(f: &Fixture, index: u64) -> TlogProof {
        TlogProof {
            extra: Some(b"context".to_vec()),
            index,
            inclusion_proof: prove_record(7, index, &f.stored).unwrap(),
            checkpoint: f.checkpoint.clone(),
        }
    }

    #[test]
    fn verifies_every_index_after_a_round_trip() {
        let f = fixture(true);
        for index in 0..7 {
            let proof = TlogProof::parse(&proof_for(&f, index).to_bytes()).unwrap();
            let verified = proof.verify(&f.policy, f.leaves[index as usize]).unwrap();
            assert_eq!(verified.witnesses, ["W"]);
            assert_eq!(verified.checkpoint.size, 7);
        }
    }

    #[test]
    fn rejects_wrong_leaf_and_wrong_index() {
        let f = fixture(true);
        let proof = proof_for(&f, 3);
        assert!(matches!(
            proof.verify(&f.policy, f.leaves[4]),
            Err(ProofVerifyError::InclusionProofInvalid {
                index: 3,
                size: 7,
                ..
            })
        ));
        let moved = TlogProof { index: 2, ..proof };
        assert!(matches!(
            moved.verify(&f.policy, f.leaves[3]),
            Err(ProofVerifyError::InclusionProofInvalid { .. })
        ));
    }

    #[test]
    fn rejects_every_single_bit_flip_in_the_proof() {
        let f = fixture(true);
        let proof = proof_for(&f, 5);
        // Three bits per hash (first, middle, last): each verify checks two Ed25519
        // signatures, too slow in debug builds for all 256.
        for (i, bit) in (0..proof.inclusion_proof.len()).flat_map(|i| [0, 133, 255].map(|b| (i, b)))
        {
            let mut bad = proof.clone();
            bad.inclusion_proof[i].0[bit / 8] ^= 1 << (bit % 8);
            assert!(
                bad.verify(&f.policy, f.leaves[5]).is_err(),
                "hash {i} bit {bit}"
            );
        }
    }

    #[test]
    fn rejects_index_out_of_range_and_wrong_length() {
        let f = fixture(true);
        let mut proof = proof_for(&f, 6);
        proof.index = 7;
        assert_eq!(
            proof.verify(&f.policy, f.leaves[6]),
            Err(ProofVerifyError::IndexOutOfRange { index: 7, size: 7 })
        );
        let mut short = proof_for(&f, 0);
        let expected = short.inclusion_proof.len();
        short.inclusion_proof.pop();
        assert_eq!(
            short.verify(&f.policy, f.leaves[0]),
            Err(ProofVerifyError::InclusionProofLength {
                index: 0,
                size: 7,
                expected,
                got: expected - 1
            })
        );
    }

    #[test]
    fn rejects_checkpoint_without_quorum() {
        let f = fixture(false);
        assert!(matches!(
            proof_for(&f, 1).verify(&f.policy, f.leaves[1]),
            Err(ProofVerifyError::Checkpoint(
                CheckpointVerifyError::QuorumNotMet { .. }
            ))
        ));
    }
}
