//! Offline verification of an artifact against a tlog-proof and a tlog-policy.
//!
//! The steps follow C2SP tlog-proof, "Verifying a tlog proof", in its order, each with
//! its own [`VerifyError`] variant:
//!
//! 1. hash the file and rebuild the logged entry: the proof's `extra` line holds the
//!    exact entry bytes; they must parse, name this file, and carry this file's
//!    digest ([`VerifyError::DigestMismatch`], [`VerifyError::FilenameMismatch`],
//!    or [`VerifyError::ProofForAnotherFile`] when both differ);
//! 2. the checkpoint must be signed by a log the policy lists
//!    ([`VerifyError::UnknownLog`], [`VerifyError::BadLogSignature`]);
//! 3. the witness cosignatures must satisfy the policy's quorum
//!    ([`VerifyError::QuorumNotMet`]);
//! 4. the inclusion proof must bind the entry's leaf hash to the checkpoint's root
//!    hash ([`VerifyError::BadInclusionProof`]).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::{self, Policy};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Checksum, Entry, Filename};
use bintrail_tlog::tree::verify_record;

use crate::digest::sha256_reader;

mod error;

pub use error::{FailureKind, ForkReason, NoProof, VerifyError};

/// The largest `.tlog-proof` file read: 64 hashes, a checkpoint with 100
/// signatures and an entry fit in a few tens of kilobytes.
pub const MAX_PROOF_FILE: u64 = 1 << 20;

/// The largest policy file read.
pub const MAX_POLICY_FILE: u64 = 1 << 20;

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The logged entry: file name, checksum, publisher (if any).
    pub entry: Entry,
    /// The entry's index in the log.
    pub index: u64,
    /// The checkpoint the inclusion proof is against, signed by a policy log.
    pub checkpoint: Checkpoint,
    /// The signed checkpoint note, verbatim (what the state directory stores).
    pub checkpoint_note: Vec<u8>,
    /// Names of the policy witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
    /// The policy log key that signed the checkpoint (with the origin, it names the
    /// log whose state [`crate::consistency`] keeps).
    pub log_key: Verifier,
}

/// Verifies the file at `path` against `proof` and `policy`; the file name checked
/// against the entry is the last component of `path`.
///
/// Errors: [`VerifyError::Io`] if the file cannot be read, [`VerifyError::Malformed`]
/// if its name is not UTF-8, then those of [`verify_digest`].
pub fn verify_artifact(
    path: &Path,
    proof: &TlogProof,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let filename = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            VerifyError::malformed(path.display().to_string(), "file name is not UTF-8")
        })?;
    let io_error = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    verify_artifact_reader(file, filename, proof, policy).map_err(|err| match err {
        VerifyError::Io { source, .. } => io_error(source),
        other => other,
    })
}

/// Verifies the bytes `reader` yields, as a file named `filename`, against `proof`
/// and `policy`. Errors: [`VerifyError::Io`] (with an empty path) when reading
/// fails, then those of [`verify_digest`].
pub fn verify_artifact_reader<R: Read>(
    reader: R,
    filename: &str,
    proof: &TlogProof,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let digest = sha256_reader(reader).map_err(|source| VerifyError::Io {
        path: PathBuf::new(),
        source,
    })?;
    verify_digest(digest, filename, proof, policy)
}

/// Verifies that the file named `filename` with SHA-256 `digest` is logged, per
/// `proof` and `policy`. Steps and errors are those listed in the module docs, in
/// that order; a proof without `extra` is checked against the entry rebuilt from the
/// name and digest alone (no publisher).
pub fn verify_digest(
    digest: [u8; 32],
    filename: &str,
    proof: &TlogProof,
    policy: &Policy,
) -> Result<Verified, VerifyError> {
    let entry = logged_entry(digest, filename, proof)?;
    let signed = verify_signed_checkpoint(&proof.checkpoint, policy)?;
    let leaf = leaf_hash(&entry.to_bytes());
    verify_inclusion(proof, &signed.checkpoint, leaf)?;
    Ok(Verified {
        entry,
        index: proof.index,
        checkpoint: signed.checkpoint,
        checkpoint_note: proof.checkpoint.clone(),
        cosigners: signed.cosigners,
        log_key: signed.log_key,
    })
}

/// Step 1: the entry the proof is for, checked against the file.
fn logged_entry(digest: [u8; 32], filename: &str, proof: &TlogProof) -> Result<Entry, VerifyError> {
    let actual = Checksum::from_digest(digest);
    let Some(extra) = &proof.extra else {
        let name: Filename = filename
            .parse()
            .map_err(|err| VerifyError::malformed(format!("file name {filename:?}"), err))?;
        return Ok(Entry {
            checksum: actual,
            filename: name,
            publisher: None,
        });
    };
    let entry =
        Entry::parse(extra).map_err(|err| VerifyError::malformed("proof entry (extra)", err))?;
    let name_matches = entry.filename.as_str() == filename;
    match (entry.checksum == actual, name_matches) {
        (true, true) => {}
        (false, true) => {
            return Err(VerifyError::DigestMismatch {
                filename: entry.filename.to_string(),
                actual,
                logged: entry.checksum,
            });
        }
        (true, false) => {
            return Err(VerifyError::FilenameMismatch {
                actual: filename.to_owned(),
                logged: entry.filename.to_string(),
            });
        }
        (false, false) => {
            return Err(VerifyError::ProofForAnotherFile {
                actual_name: filename.to_owned(),
                actual,
                logged_name: entry.filename.to_string(),
                logged: entry.checksum,
            });
        }
    }
    Ok(entry)
}

/// A checkpoint that passed steps 2 and 3.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// Names of the policy witnesses whose cosignatures verified.
    pub cosigners: Vec<String>,
    /// The policy log key that signed it.
    pub log_key: Verifier,
}

/// Steps 2 and 3: the log signature and the witness quorum, per the policy.
pub fn verify_checkpoint(
    note: &[u8],
    policy: &Policy,
) -> Result<(Checkpoint, Vec<String>), VerifyError> {
    verify_signed_checkpoint(note, policy).map(|s| (s.checkpoint, s.cosigners))
}

/// [`verify_checkpoint`], also naming the log key that signed.
pub fn verify_signed_checkpoint(
    note: &[u8],
    policy: &Policy,
) -> Result<SignedCheckpoint, VerifyError> {
    match policy.verify_checkpoint(note) {
        Ok(verified) => Ok(SignedCheckpoint {
            checkpoint: verified.checkpoint,
            cosigners: verified.witnesses,
            log_key: verified.log,
        }),
        // Either no policy log has this origin, or none of the keys the policy lists
        // for it signed: both mean "not a log this policy trusts".
        Err(policy::CheckpointVerifyError::UnknownLog { origin })
        | Err(policy::CheckpointVerifyError::NotSignedByLog { origin }) => {
            Err(VerifyError::UnknownLog { origin })
        }
        Err(policy::CheckpointVerifyError::InvalidLogSignature { origin, error }) => {
            Err(VerifyError::BadLogSignature {
                origin,
                source: error,
            })
        }
        Err(policy::CheckpointVerifyError::QuorumNotMet { cosigners, .. }) => {
            Err(VerifyError::QuorumNotMet { cosigners })
        }
        Err(other) => Err(VerifyError::malformed(
            format!("checkpoint of {:?}", unauthenticated_origin(note)),
            other,
        )),
    }
}

/// Step 4: the inclusion proof, from the leaf to the checkpoint's root hash.
fn verify_inclusion(
    proof: &TlogProof,
    checkpoint: &Checkpoint,
    leaf: Hash,
) -> Result<(), VerifyError> {
    verify_record(
        &proof.inclusion_proof,
        checkpoint.size,
        checkpoint.root_hash,
        proof.index,
        leaf,
    )
    .map_err(|source| VerifyError::BadInclusionProof {
        index: proof.index,
        size: checkpoint.size,
        source,
    })
}

/// The first line of a note, for error messages only: it is not authenticated.
fn unauthenticated_origin(note: &[u8]) -> String {
    let line = note.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).chars().take(200).collect()
}

/// Reads and parses a `.tlog-proof` file. Errors: [`VerifyError::Io`] if it cannot be
/// read, [`VerifyError::Malformed`] if it is larger than [`MAX_PROOF_FILE`] or does
/// not parse.
pub fn load_proof(path: &Path) -> Result<TlogProof, VerifyError> {
    let bytes = read_capped(path, MAX_PROOF_FILE)?;
    parse_proof(&bytes, &path.display().to_string())
}

/// Parses tlog-proof text that came from `source` (a path or URL, for messages).
pub fn parse_proof(bytes: &[u8], source: &str) -> Result<TlogProof, VerifyError> {
    TlogProof::parse(bytes).map_err(|err| {
        VerifyError::malformed(
            format!("proof {source}"),
            format!("{err}{}", damage_hint(bytes, "proof")),
        )
    })
}

/// What most likely damaged a file that does not parse, for the error message:
/// the usual ways a copy-pasted recipe or an editor changes a signed text.
fn damage_hint(bytes: &[u8], what: &str) -> String {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return format!(
            " (the file is empty: whatever should have written the {what} failed or was \
             interrupted; write it again)"
        );
    }
    if bytes.contains(&b'\r') {
        return " (the file has Windows line endings (CR LF): it was changed after it was \
                 written; signed notes use LF only)"
            .to_owned();
    }
    if bytes.ends_with(b"\n\n") {
        return format!(
            " (the file ends with an empty line after the checkpoint's signature lines: \
             something appended a newline after the {what} was written, for example \
             `jq -r`; save it byte for byte, for example with `jq -j`)"
        );
    }
    String::new()
}

/// Reads and parses a tlog-policy file. Errors as for [`load_proof`].
pub fn load_policy(path: &Path) -> Result<Policy, VerifyError> {
    let bytes = read_capped(path, MAX_POLICY_FILE)?;
    parse_policy(&bytes, &path.display().to_string())
}

/// Parses tlog-policy text that came from `source` (a path or URL, for messages).
pub fn parse_policy(bytes: &[u8], source: &str) -> Result<Policy, VerifyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(VerifyError::malformed(
            format!("policy {source}"),
            "the file is empty (was the `bintrail policy` that should have written it \
             interrupted or failed? run `bintrail policy --log URL --out FILE` again)",
        ));
    }
    Policy::parse(bytes).map_err(|err| VerifyError::malformed(format!("policy {source}"), err))
}

fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, VerifyError> {
    let io_error = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > limit {
        return Err(VerifyError::malformed(
            path.display().to_string(),
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}
