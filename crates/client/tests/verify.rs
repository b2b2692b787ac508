//! Offline verification: one test per `VerifyError` variant, each made by changing
//! exactly one thing in an otherwise valid (file, proof, policy) triple.

mod support;

use std::path::PathBuf;

use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::verify::{
    FailureKind, VerifyError, load_proof, parse_policy, parse_proof, verify_artifact, verify_digest,
};
use bintrail_tlog::note::KeyType;
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use support::{TestLog, TestServer, policy_text, pypi_entry, signer};

const NAME: &str = "demo-1.0-py3-none-any.whl";
const CONTENTS: &[u8] = b"the wheel's bytes";
const OTHER: &str = "other-2.0.tar.gz";

/// A log with filler, our file at index 3 and another file at index 4, cosigned by
/// witnesses 0 and 1 of 3.
fn fixture() -> (TestLog, TlogProof, Policy) {
    let mut log = TestLog::new(7, 3);
    log.append_filler(3, "");
    log.append(pypi_entry(NAME, CONTENTS).to_bytes());
    log.append(pypi_entry(OTHER, b"other bytes").to_bytes());
    log.append_filler(5, "b");
    let proof = log.proof(3, log.size(), &[0, 1]);
    let policy = parse_policy(log.policy(2).as_bytes(), "test").unwrap();
    (log, proof, policy)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn write_file(dir: &tempfile::TempDir, name: &str, contents: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn valid_file_verifies() {
    let (_, proof, policy) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, NAME, CONTENTS);
    let verified = verify_artifact(&path, &proof, &policy).unwrap();
    assert_eq!(verified.index, 3);
    assert_eq!(verified.entry.filename.as_str(), NAME);
    assert_eq!(verified.checkpoint.size, 10);
    assert_eq!(verified.cosigners, vec!["w0".to_owned(), "w1".to_owned()]);
    assert_eq!(verified.checkpoint_note, proof.checkpoint);
}

#[test]
fn digest_mismatch() {
    let (_, proof, policy) = fixture();
    let err = verify_digest(digest(b"the wheel's bytez"), NAME, &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::DigestMismatch { .. }), "{err}");
    assert_eq!(err.kind(), FailureKind::DigestMismatch);
}

#[test]
fn filename_mismatch() {
    let (_, proof, policy) = fixture();
    let err = verify_digest(digest(CONTENTS), "demo-1.0.tar.gz", &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::FilenameMismatch { .. }), "{err}");
    assert_eq!(err.kind(), FailureKind::FilenameMismatch);
}

#[test]
fn proof_of_another_file() {
    let (log, _, policy) = fixture();
    let other = log.proof(4, log.size(), &[0, 1]);
    let err = verify_digest(digest(CONTENTS), NAME, &other, &policy).unwrap_err();
    assert!(
        matches!(err, VerifyError::ProofForAnotherFile { .. }),
        "{err}"
    );
    assert_eq!(err.kind(), FailureKind::ProofForAnotherFile);
}

#[test]
fn unknown_log_origin() {
    let (_, proof, _) = fixture();
    let stranger = signer("elsewhere.example/log", KeyType::Ed25519, 9);
    let policy = parse_policy(policy_text(&stranger, &[], 0).as_bytes(), "t").unwrap();
    let err = verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownLog { .. }), "{err}");
}

#[test]
fn policy_with_another_key_for_the_same_origin() {
    let (log, proof, _) = fixture();
    let impostor = signer(support::ORIGIN, KeyType::Ed25519, 8);
    let policy = parse_policy(policy_text(&impostor, &log.witnesses, 2).as_bytes(), "t").unwrap();
    let err = verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownLog { .. }), "{err}");
    assert_eq!(err.kind(), FailureKind::UnknownLog);
}

#[test]
fn tampered_checkpoint_is_a_bad_log_signature() {
    let (log, mut proof, policy) = fixture();
    // Claim a larger tree, keeping the log's signature line.
    let text = String::from_utf8(proof.checkpoint.clone()).unwrap();
    let tampered = text.replacen(&format!("\n{}\n", log.size()), "\n11\n", 1);
    assert_ne!(tampered, text);
    proof.checkpoint = tampered.into_bytes();
    let err = verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::BadLogSignature { .. }), "{err}");
}

#[test]
fn quorum_not_met() {
    let (log, _, policy) = fixture();
    let proof = log.proof(3, log.size(), &[2]);
    let err = verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap_err();
    match &err {
        VerifyError::QuorumNotMet { cosigners } => assert_eq!(cosigners, &["w2".to_owned()]),
        other => panic!("expected QuorumNotMet, got {other}"),
    }
    // A cosignature by a key the policy does not list counts for nothing.
    let mut stranger_log = log.clone();
    stranger_log.witnesses[0] = signer("witness0.example", KeyType::CosignatureV1, 99);
    let proof = stranger_log.proof(3, log.size(), &[0, 1]);
    let err = verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap_err();
    assert_eq!(err.kind(), FailureKind::QuorumNotMet, "{err}");
}

#[test]
fn bad_inclusion_proof() {
    let (_, proof, policy) = fixture();
    for i in 0..proof.inclusion_proof.len() {
        let mut bad = proof.clone();
        bad.inclusion_proof[i].0[5] ^= 0x10;
        let err = verify_digest(digest(CONTENTS), NAME, &bad, &policy).unwrap_err();
        assert!(
            matches!(err, VerifyError::BadInclusionProof { .. }),
            "hash {i}: {err}"
        );
    }
    let mut wrong_index = proof.clone();
    wrong_index.index = 2;
    let err = verify_digest(digest(CONTENTS), NAME, &wrong_index, &policy).unwrap_err();
    assert_eq!(err.kind(), FailureKind::BadInclusionProof, "{err}");
    let mut short = proof;
    short.inclusion_proof.pop();
    let err = verify_digest(digest(CONTENTS), NAME, &short, &policy).unwrap_err();
    assert_eq!(err.kind(), FailureKind::BadInclusionProof, "{err}");
}

#[test]
fn truncated_proof_is_malformed() {
    let (_, proof, _) = fixture();
    let bytes = proof.to_bytes();
    for cut in [10, bytes.len() / 2, bytes.len() - 5] {
        let err = parse_proof(&bytes[..cut], "cut").unwrap_err();
        assert!(
            matches!(err, VerifyError::Malformed { .. }),
            "cut {cut}: {err}"
        );
        assert_eq!(err.kind(), FailureKind::UnusableInput);
    }
}

#[test]
fn garbage_extra_is_malformed() {
    let (_, mut proof, policy) = fixture();
    proof.extra = Some(b"not an entry".to_vec());
    let err = verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed { .. }), "{err}");
}

#[test]
fn missing_file_is_io() {
    let (_, proof, policy) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let err = verify_artifact(&dir.path().join(NAME), &proof, &policy).unwrap_err();
    assert!(matches!(err, VerifyError::Io { .. }), "{err}");
    let err = load_proof(&dir.path().join("nope.tlog-proof")).unwrap_err();
    assert!(matches!(err, VerifyError::Io { .. }), "{err}");
}

#[test]
fn proof_file_round_trip() {
    let (_, proof, policy) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "p.tlog-proof", &proof.to_bytes());
    let loaded = load_proof(&path).unwrap();
    verify_digest(digest(CONTENTS), NAME, &loaded, &policy).unwrap();
}

#[tokio::test]
async fn lookup_of_unlogged_file_is_not_logged() {
    let (log, _, policy) = fixture();
    let server = TestServer::start(log, 10, &[0, 1]).await;
    let reader = LogReader::new(&server.url, Timeouts::default()).unwrap();
    let proof = reader.lookup(NAME).await.unwrap();
    verify_digest(digest(CONTENTS), NAME, &proof, &policy).unwrap();
    let err = reader.lookup("absent-1.0.tar.gz").await.unwrap_err();
    assert!(matches!(err, VerifyError::NotLogged(_)), "{err}");
    let err = reader.lookup("../checkpoint").await.unwrap_err();
    assert!(matches!(err, VerifyError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn unreachable_log_is_a_fetch_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let reader = LogReader::new(&format!("http://127.0.0.1:{port}"), Timeouts::default()).unwrap();
    let err = reader.lookup(NAME).await.unwrap_err();
    assert!(matches!(err, VerifyError::Fetch(_)), "{err}");
    assert_eq!(err.kind(), FailureKind::UnusableInput);
}
