//! Rekor v2 evidence: Sigstore bundles from sigstore-python's test assets (tests/data/sigstore-python/README.md
//! names the upstream commits), signed against Sigstore's staging instance, verified offline against the bundled
//! staging trusted root. A Rekor v2 entry carries no signed time; the bundle's RFC 3161 timestamp gives it, which
//! is why only a Sigstore bundle (not a PEP 740 attestation object, which has no field for timestamps) can carry
//! such evidence.

use std::path::PathBuf;

use bintrail_attest::{
    AttestError, Attestation, Evidence, MalformedError, StatementError, TrustRoot, verify_evidence,
    verify_signed_statement,
};
use bintrail_tlog::pypi::{Checksum, Filename};

fn asset(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sigstore-python")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const DSSE: &str = "a.dsse.staging-rekor-v2.txt.sigstore.json";
const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";

fn bundle(json: &[u8]) -> Attestation {
    match Evidence::from_json(json).expect("a Sigstore bundle") {
        Evidence::Bundle(attestation) => attestation,
        other => panic!("not read as a bundle: {other:?}"),
    }
}

#[test]
fn a_rekor_v2_dsse_bundle_verifies_offline_with_its_timestamp() {
    let signed = verify_signed_statement(&bundle(&asset(DSSE)), &TrustRoot::staging()).unwrap();
    assert_eq!(
        signed.publisher.issuer,
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(signed.publisher.subject, BEACON);
    // 2026-05-13T19:23:33Z, the time the staging TSA signed (the entry itself has none).
    assert_eq!(signed.signed_at, Some(1_778_700_213));
}

#[test]
fn the_statement_is_still_checked_against_the_file() {
    // The bundle's statement is about `a.txt`, which is no distribution: PEP 740 refuses it even though every
    // signature holds.
    let bytes = b"any distribution";
    let file: Filename = "demo-1.0.tar.gz".parse().unwrap();
    let checksum = Checksum::from_digest(
        sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            bytes,
        ))
        .into(),
    );
    let err = verify_evidence(
        &Evidence::from_json(&asset(DSSE)).unwrap(),
        &file,
        &checksum,
        &TrustRoot::staging(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Malformed(MalformedError::Statement(
                StatementError::SubjectName { .. }
            ))
        ),
        "{err:?}"
    );
}

#[test]
fn without_its_timestamp_or_with_it_changed_a_rekor_v2_bundle_is_refused() {
    let mut value: serde_json::Value = serde_json::from_slice(&asset(DSSE)).unwrap();
    // No timestamp: nothing says when the certificate was used (this is also what a PEP 740 attestation object
    // made from this bundle would be).
    let mut stripped = value.clone();
    stripped["verificationMaterial"]
        .as_object_mut()
        .unwrap()
        .remove("timestampVerificationData");
    let err = verify_signed_statement(
        &bundle(stripped.to_string().as_bytes()),
        &TrustRoot::staging(),
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::TransparencyLog(_)), "{err:?}");
    // One bit of the timestamp's signature changed.
    let ts = &mut value["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
        [0]["signedTimestamp"];
    use base64::Engine;
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(ts.as_str().unwrap())
        .unwrap();
    let last = raw.len() - 2;
    raw[last] ^= 1;
    *ts = base64::engine::general_purpose::STANDARD.encode(raw).into();
    let err = verify_signed_statement(&bundle(value.to_string().as_bytes()), &TrustRoot::staging())
        .unwrap_err();
    assert!(matches!(err, AttestError::TransparencyLog(_)), "{err:?}");
}

#[test]
fn staging_evidence_is_refused_by_the_production_root() {
    let err = verify_signed_statement(&bundle(&asset(DSSE)), &TrustRoot::production()).unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Certificate(_) | AttestError::TransparencyLog(_)
        ),
        "{err:?}"
    );
}

#[test]
fn a_rekor_v2_dsse_0_0_2_entry_is_refused_as_unsupported() {
    // sigstore-verify 0.15.1 reads Rekor v2 entries of kind hashedrekord 0.0.2 only; the earlier dsse 0.0.2 kind
    // (sigstore-python before #1776) does not parse.
    let err = bundle(&asset(
        "a.dsse.staging-rekor-v2.txt.dsse-0.0.2.sigstore.json",
    ))
    .to_bundle()
    .unwrap_err();
    assert!(matches!(err, MalformedError::Bundle(_)), "{err:?}");
    assert!(err.to_string().contains("dsse/0.0.2"), "{err}");
}
