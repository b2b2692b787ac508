//! Real PEP 740 evidence from the pypi-attestations 0.0.31 sdist's `test/assets/` (trailofbits; attestations
//! made by GitHub Actions, GitLab CI, CircleCI, Google Cloud Build and an interactive GitHub login, logged in
//! Sigstore's public-good and staging Rekor), verified offline against the bundled trusted roots.
//! scripts/setup.sh downloads and unpacks them; a missing directory fails the test, naming setup.sh.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_attest::{
    AttestError, Attestation, Evidence, MalformedError, PRODUCTION_TRUSTED_ROOT, TrustRoot,
    verify_evidence,
};
use bintrail_tlog::pypi::{Checksum, Filename};
use sha2::{Digest, Sha256};

fn assets() -> PathBuf {
    let base = std::env::var_os("BINTRAIL_PYPI_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/bintrail-tests/pypi"));
    let dir = base.join("attestations");
    assert!(
        dir.join(".complete-v1").exists(),
        "{} is missing: run scripts/setup.sh (it downloads the pypi-attestations 0.0.31 test assets)",
        dir.display()
    );
    dir
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(assets().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn checksum(bytes: &[u8]) -> Checksum {
    Checksum::from_digest(Sha256::digest(bytes).into())
}

fn filename(name: &str) -> Filename {
    name.parse().expect("a distribution filename")
}

/// Verifies `file` (read from the assets) against `evidence` (a file name in the assets).
fn verify_asset(
    file: &str,
    evidence: &str,
    root: &TrustRoot,
) -> Result<bintrail_attest::Verified, AttestError> {
    let bytes = read(file);
    let evidence = Evidence::from_json(&read(evidence))?;
    verify_evidence(&evidence, &filename(file), &checksum(&bytes), root)
}

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const SDIST: &str = "pypi_attestations-0.0.19.tar.gz";
const SDIST_SUBJECT: &str = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19";

#[test]
fn genuine_attestations_give_their_publishers() {
    let production = TrustRoot::production();
    let staging = TrustRoot::staging();
    // (file, evidence, staging?, issuer, subject, predicate type)
    let cases = [
        (
            SDIST,
            ".publish.attestation",
            false,
            GITHUB,
            SDIST_SUBJECT,
            "publish/v1",
        ),
        (
            SDIST,
            ".slsa.attestation",
            false,
            GITHUB,
            SDIST_SUBJECT,
            "https://slsa.dev/provenance/v1",
        ),
        (
            SDIST,
            ".provenance",
            false,
            GITHUB,
            SDIST_SUBJECT,
            "publish/v1",
        ),
        (
            "pypi_attestation_models-0.0.4a2.tar.gz",
            ".attestation",
            false,
            GITHUB,
            "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2",
            "publish/v1",
        ),
        // The same evidence as a Sigstore bundle (`.sigstore`, media type v0.3).
        (
            "pypi_attestation_models-0.0.4a2.tar.gz",
            ".sigstore",
            false,
            GITHUB,
            "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml@refs/tags/v0.0.4a2",
            "publish/v1",
        ),
        (
            "rfc8785-0.1.2-py3-none-any.whl",
            ".sigstore",
            true,
            "https://github.com/login/oauth",
            "william@yossarian.net",
            "publish/v1",
        ),
        (
            "gitlab_oidc_project-0.0.3.tar.gz",
            ".publish.attestation",
            false,
            "https://gitlab.com",
            "https://gitlab.com/facutuesca/gitlab-oidc-project//.gitlab-ci.yml@refs/heads/main",
            "publish/v1",
        ),
        (
            "gcb_attestation_test-0.0.0.tar.gz",
            ".provenance",
            false,
            "https://accounts.google.com",
            "919436158236-compute@developer.gserviceaccount.com",
            "publish/v1",
        ),
        (
            "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl",
            ".publish.attestation",
            false,
            "https://oidc.circleci.com",
            "https://circleci.com/api/v2/projects/fdd9283f-e619-46af-8f9c-851f7d3e8b2b/pipeline-definitions/8e4f8ab2-8d7c-4827-9f15-de076d6d647f",
            "publish/v1",
        ),
        (
            "rfc8785-0.1.2-py3-none-any.whl",
            ".publish.attestation",
            true,
            "https://github.com/login/oauth",
            "william@yossarian.net",
            "publish/v1",
        ),
    ];
    for (file, ext, is_staging, issuer, subject, predicate) in cases {
        let root = if is_staging { &staging } else { &production };
        let verified = verify_asset(file, &format!("{file}{ext}"), root)
            .unwrap_or_else(|e| panic!("{file}{ext}: {e}"));
        assert_eq!(verified.publisher.issuer, issuer, "{file}{ext}");
        assert_eq!(verified.publisher.subject, subject, "{file}{ext}");
        assert!(
            verified.predicate_type.ends_with(predicate),
            "{file}{ext}: {}",
            verified.predicate_type
        );
        assert!(
            verified.signed_at.is_some(),
            "{file}{ext}: Rekor v1 entries carry a signed time"
        );
    }
}

#[test]
fn staging_evidence_does_not_verify_against_the_production_root() {
    let err = verify_asset(
        "rfc8785-0.1.2-py3-none-any.whl",
        "rfc8785-0.1.2-py3-none-any.whl.publish.attestation",
        &TrustRoot::production(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            AttestError::Certificate(_) | AttestError::TransparencyLog(_)
        ),
        "{err:?}"
    );
}

#[test]
fn a_changed_byte_in_the_file_is_a_digest_mismatch() {
    let mut bytes = read(SDIST);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let evidence = Evidence::from_json(&read(&format!("{SDIST}.publish.attestation"))).unwrap();
    let err = verify_evidence(
        &evidence,
        &filename(SDIST),
        &checksum(&bytes),
        &TrustRoot::production(),
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::DigestMismatch { .. }), "{err:?}");
}

#[test]
fn a_statement_for_another_file_is_refused_as_such() {
    // A genuine attestation, presented for a different (genuine) file.
    let err = verify_asset(
        "gitlab_oidc_project-0.0.3.tar.gz",
        &format!("{SDIST}.publish.attestation"),
        &TrustRoot::production(),
    )
    .unwrap_err();
    match err {
        AttestError::OtherFile { subject, filename } => {
            assert_eq!(subject, SDIST);
            assert_eq!(filename, "gitlab_oidc_project-0.0.3.tar.gz");
        }
        other => panic!("{other:?}"),
    }
}

/// The genuine sdist attestation with one of its parts changed by `change`.
fn tampered(change: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>, &mut Vec<u8>)) -> AttestError {
    let genuine = Attestation::from_json(&read(&format!("{SDIST}.publish.attestation"))).unwrap();
    let (mut cert, mut statement, mut signature) = (
        genuine.certificate().to_vec(),
        genuine.statement().to_vec(),
        genuine.signature().to_vec(),
    );
    change(&mut cert, &mut statement, &mut signature);
    let attestation = genuine.with_parts(cert, statement, signature);
    let bytes = read(SDIST);
    bintrail_attest::verify_attestation(
        &attestation,
        &filename(SDIST),
        &checksum(&bytes),
        &TrustRoot::production(),
    )
    .unwrap_err()
}

#[test]
fn a_changed_byte_in_the_statement_is_a_changed_statement() {
    // Change one hex digit of the subject's digest: still a well-formed statement, no longer the one whose hash
    // the Rekor entry records (nor the one signed).
    let err = tampered(|_, statement, _| {
        let text = String::from_utf8(statement.clone()).unwrap();
        let at = text.find("\"sha256\":\"").unwrap() + 10;
        statement[at] = if statement[at] == b'0' { b'1' } else { b'0' };
    });
    match &err {
        AttestError::StatementAltered { actual, logged } => assert_ne!(actual, logged),
        other => panic!("{other:?}"),
    }
    // And a change that breaks the JSON: the evidence is checked before the statement is read.
    let err = tampered(|_, statement, _| statement[0] = b'[');
    assert!(
        matches!(err, AttestError::StatementAltered { .. }),
        "{err:?}"
    );
}

#[test]
fn a_changed_byte_in_the_signature_is_a_bad_signature() {
    let err = tampered(|_, _, signature| {
        let last = signature.len() - 1;
        signature[last] ^= 1;
    });
    assert!(matches!(err, AttestError::Signature(_)), "{err:?}");
}

#[test]
fn a_changed_byte_in_the_certificate_is_a_bad_certificate() {
    // A byte inside the TBS certificate (its subject public key): the CA's signature no longer holds.
    let err = tampered(|cert, _, _| {
        let at = cert.len() / 3;
        cert[at] ^= 1;
    });
    assert!(matches!(err, AttestError::Certificate(_)), "{err:?}");
}

#[test]
fn changed_transparency_log_evidence_is_refused_as_such() {
    let text = String::from_utf8(read(&format!("{SDIST}.publish.attestation"))).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entry = &mut value["verification_material"]["transparency_entries"][0];
    // A sibling hash of the inclusion proof, one bit changed (still valid base64 of 32 bytes).
    let hash = entry["inclusionProof"]["hashes"][0]
        .as_str()
        .unwrap()
        .to_string();
    let mut raw = BASE64.decode(hash).unwrap();
    raw[0] ^= 1;
    entry["inclusionProof"]["hashes"][0] = BASE64.encode(raw).into();
    let evidence = Evidence::from_json(value.to_string().as_bytes()).unwrap();
    let bytes = read(SDIST);
    let err = verify_evidence(
        &evidence,
        &filename(SDIST),
        &checksum(&bytes),
        &TrustRoot::production(),
    )
    .unwrap_err();
    assert!(matches!(err, AttestError::TransparencyLog(_)), "{err:?}");
}

#[test]
fn a_certificate_authority_not_valid_at_the_logged_time_is_expired_at_signing() {
    // A trusted root whose Fulcio CAs all stopped being valid before 2024-12-04, when the sdist's attestation
    // was logged (Rekor integrated time 1733354041): the certificate was issued by a CA not valid at signing.
    let mut root: serde_json::Value = serde_json::from_str(PRODUCTION_TRUSTED_ROOT).unwrap();
    for ca in root["certificateAuthorities"].as_array_mut().unwrap() {
        ca["validFor"]["start"] = "2020-01-01T00:00:00Z".into();
        ca["validFor"]["end"] = "2021-01-01T00:00:00Z".into();
    }
    let root = TrustRoot::from_json(&root.to_string()).unwrap();
    let err = verify_asset(SDIST, &format!("{SDIST}.publish.attestation"), &root).unwrap_err();
    assert!(matches!(err, AttestError::ExpiredAtSigning(_)), "{err:?}");
}

#[test]
fn malformed_input_is_refused_as_such() {
    let text = String::from_utf8(read(&format!("{SDIST}.publish.attestation"))).unwrap();
    for bad in [
        "not json".to_string(),
        "{}".to_string(),
        text.replacen("\"version\": 1", "\"version\": 2", 1)
            .replacen("\"version\":1", "\"version\":2", 1),
        text.replacen("\"statement\": \"", "\"statement\": \"!", 1)
            .replacen("\"statement\":\"", "\"statement\":\"!", 1),
    ] {
        assert!(
            matches!(
                Evidence::from_json(bad.as_bytes()),
                Err(MalformedError::Json(_)
                    | MalformedError::Version(2)
                    | MalformedError::Base64 { .. })
            ),
            "{bad:.80}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_trusted_root_is_refused() {
    for bad in ["{}", r#"{"mediaType": "nothing"}"#, "[]", "not json"] {
        assert!(TrustRoot::from_json(bad).is_err(), "{bad}");
    }
    let mut root: serde_json::Value = serde_json::from_str(PRODUCTION_TRUSTED_ROOT).unwrap();
    root["certificateAuthorities"] = serde_json::json!([]);
    assert!(TrustRoot::from_json(&root.to_string()).is_err());
}
