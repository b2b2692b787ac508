//! Offline verification of PEP 740 evidence for one file against a Sigstore trusted root.
//!
//! The cryptography is `sigstore-verify`'s (the Sigstore project's Rust verifier): the
//! certificate chains to the trusted root's Fulcio CA and carries a valid SCT, the certificate
//! and its CA were valid at the time the Rekor entry proves (inclusion proof against a
//! checkpoint signed by a trusted Rekor key, or a signed entry timestamp), the entry body
//! describes this envelope and certificate, and the DSSE signature over the statement verifies.
//! Nothing is fetched: the trusted root is data passed in.
//!
//! Only then is the statement read: its one subject must be the file (by name, parsed as a
//! wheel or sdist filename) and its SHA-256 the file's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::pypi::{Checksum, Filename, Publisher};
use sha2::{Digest, Sha256};
use sigstore_verify::crypto::{parse_certificate_info, verify_signature};
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, Sha256Hash, SignatureContent};
use sigstore_verify::{CertificateError, TransparencyLogError, VerificationPolicy, Verifier};

use crate::attestation::{Attestation, Evidence};
use crate::error::{AttestError, IdentityError, MalformedError, StatementError, TrustRootError};
use crate::statement::{Statement, same_distribution};

/// The Sigstore public-good trusted root bundled with this crate: `trusted_root.json` for
/// `https://tuf-repo-cdn.sigstore.dev` as shipped in the `sigstore` 4.5.1 wheel on PyPI
/// (`sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json`).
pub const PRODUCTION_TRUSTED_ROOT: &str = include_str!("../data/trusted_root.production.json");

/// Sigstore's staging trusted root, from the same wheel (`tuf-repo-cdn.sigstage.dev`).
pub const STAGING_TRUSTED_ROOT: &str = include_str!("../data/trusted_root.staging.json");

/// A Sigstore trusted root (Fulcio CAs, Rekor and CT log keys, with their validity windows),
/// prepared once for many verifications.
pub struct TrustRoot {
    verifier: Verifier,
}

/// What a verified attestation shows about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The publisher: the certificate's OIDC issuer (Fulcio extension) and its subject
    /// alternative name (e.g. a workflow URL).
    pub publisher: Publisher,
    /// The statement's `predicateType`.
    pub predicate_type: String,
    /// The signing time the evidence authenticates (Rekor v1 integrated time, else the
    /// earliest verified RFC 3161 timestamp), Unix seconds.
    pub signed_at: Option<i64>,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustRoot { .. }")
    }
}

impl TrustRoot {
    /// The bundled public-good root ([`PRODUCTION_TRUSTED_ROOT`]).
    #[allow(clippy::expect_used, reason = "the bundled trusted root is valid")]
    pub fn production() -> TrustRoot {
        // The bundled JSON is fixed at build time and covered by this crate's tests.
        TrustRoot::from_json(PRODUCTION_TRUSTED_ROOT).expect("the bundled trusted root is valid")
    }

    /// The bundled staging root ([`STAGING_TRUSTED_ROOT`]).
    #[allow(clippy::expect_used, reason = "the bundled staging root is valid")]
    pub fn staging() -> TrustRoot {
        TrustRoot::from_json(STAGING_TRUSTED_ROOT).expect("the bundled staging root is valid")
    }

    /// A trusted root in Sigstore's `trusted_root.json` format
    /// (`application/vnd.dev.sigstore.trustedroot+json;version=0.1`).
    pub fn from_json(json: &str) -> Result<TrustRoot, TrustRootError> {
        let root = TrustedRoot::from_json(json).map_err(|e| TrustRootError::Invalid(e.into()))?;
        // Every field has a default, so any JSON object reads: refuse one that could verify
        // nothing, which is a misconfiguration rather than a policy.
        if !root
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot+json")
        {
            return Err(TrustRootError::Incomplete("no trusted-root mediaType"));
        }
        if root.certificate_authorities.is_empty() {
            return Err(TrustRootError::Incomplete("no certificateAuthorities"));
        }
        if root.tlogs.is_empty() {
            return Err(TrustRootError::Incomplete("no tlogs"));
        }
        let verifier = Verifier::new(&root).map_err(TrustRootError::Invalid)?;
        Ok(TrustRoot { verifier })
    }
}

/// What the Sigstore evidence alone shows, before the statement is read: who signed and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The certificate's OIDC issuer and subject alternative name.
    pub publisher: Publisher,
    /// The signing time the evidence authenticates (the Rekor v1 integrated time, else the
    /// earliest verified RFC 3161 timestamp), Unix seconds.
    pub signed_at: Option<i64>,
}

/// Verifies the Sigstore evidence of `attestation` (certificate chain and validity at the
/// authenticated signing time, transparency-log entries and timestamps, the DSSE signature)
/// and returns the signer, without judging what the statement says. [`verify_attestation`]
/// adds PEP 740's checks of the statement against a file.
pub fn verify_signed_statement(
    attestation: &Attestation,
    root: &TrustRoot,
) -> Result<Signed, AttestError> {
    let bundle = attestation.to_bundle()?;
    // Bind the Sigstore check to the statement's own digest so that it judges the evidence
    // alone; which file the statement is about is decided by the caller, once its bytes are
    // known to be signed.
    let Some(bound) = Statement::sha256_hint(attestation.statement()) else {
        return Err(refine(
            refuse_unparseable_statement(attestation, &bundle),
            attestation,
        ));
    };
    let policy = VerificationPolicy::any_identity();
    let result = root
        .verifier
        .verify(Sha256Hash::new(bound), &bundle, &policy)
        .map_err(|e| refine(classify(e), attestation))?;
    let issuer = result.issuer().ok_or(IdentityError::NoIssuer)?;
    let subject = result.identity().ok_or(IdentityError::NoSubject)?;
    let publisher = Publisher::new(issuer, subject.as_str()).map_err(IdentityError::from)?;
    let signed_at = result
        .integrated_time()
        .or_else(|| result.verified_timestamps().iter().min().copied())
        .map(|t| t.as_second());
    Ok(Signed {
        publisher,
        signed_at,
    })
}

/// Verifies one attestation for the file `filename` whose SHA-256 is `checksum`, and returns
/// the publisher its certificate names. Each refusal has its own [`AttestError`] variant.
pub fn verify_attestation(
    attestation: &Attestation,
    filename: &Filename,
    checksum: &Checksum,
    root: &TrustRoot,
) -> Result<Verified, AttestError> {
    let signed = verify_signed_statement(attestation, root)?;
    let statement = Statement::parse(attestation.statement()).map_err(MalformedError::from)?;
    if !same_distribution(&statement.subject, filename) {
        return Err(AttestError::OtherFile {
            subject: statement.subject.as_str().to_string(),
            filename: filename.as_str().to_string(),
        });
    }
    if statement.sha256 != *checksum.digest() {
        return Err(AttestError::DigestMismatch {
            attested: hex::encode(statement.sha256),
            actual: hex::encode(checksum.digest()),
        });
    }
    Ok(Verified {
        publisher: signed.publisher,
        predicate_type: statement.predicate_type,
        signed_at: signed.signed_at,
    })
}

/// A bad signature becomes [`AttestError::StatementAltered`] when a transparency-log entry
/// records another payload hash than the statement's: the log recorded what was signed, so a
/// statement that differs from it was changed, whereas a changed signature leaves the payload
/// hash equal. (Used only to name a refusal; nothing is accepted on it.)
fn refine(error: AttestError, attestation: &Attestation) -> AttestError {
    if !matches!(error, AttestError::Signature(_)) {
        return error;
    }
    let actual = hex::encode(Sha256::digest(attestation.statement()));
    let logged = attestation
        .transparency_entries()
        .iter()
        .filter_map(|entry| entry.get("canonicalizedBody")?.as_str())
        .filter_map(|body| BASE64.decode(body).ok())
        .filter_map(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .filter_map(|body| {
            body.get("spec")?
                .get("payloadHash")?
                .get("value")?
                .as_str()
                .map(str::to_owned)
        })
        .find(|logged| *logged != actual);
    match logged {
        Some(logged) => AttestError::StatementAltered { actual, logged },
        None => error,
    }
}

/// Verifies every attestation in `evidence` (one attestation object, or all of a provenance
/// object's) for the file, and returns the one publisher they all name.
pub fn verify_evidence(
    evidence: &Evidence,
    filename: &Filename,
    checksum: &Checksum,
    root: &TrustRoot,
) -> Result<Verified, AttestError> {
    let mut first: Option<Verified> = None;
    for attestation in evidence.attestations() {
        let verified = verify_attestation(attestation, filename, checksum, root)?;
        match &first {
            None => first = Some(verified),
            Some(f) if f.publisher != verified.publisher => {
                return Err(AttestError::PublisherConflict {
                    first: format!("{} {}", f.publisher.issuer, f.publisher.subject),
                    second: format!(
                        "{} {}",
                        verified.publisher.issuer, verified.publisher.subject
                    ),
                });
            }
            Some(_) => {}
        }
    }
    // `Evidence` always holds at least one attestation (its parsers refuse none).
    first.ok_or(AttestError::Malformed(MalformedError::NoAttestations))
}

/// The refusal for a statement too broken to name a digest (the verifier parses the statement
/// before any check): a bad signature when the certificate's key did not sign these bytes, so
/// that tampering reads as tampering, else a malformed statement.
fn refuse_unparseable_statement(attestation: &Attestation, bundle: &Bundle) -> AttestError {
    use sigstore_verify::Error as E;
    let statement_error = || match Statement::parse(attestation.statement()) {
        Err(e) => AttestError::Malformed(e.into()),
        // Parses but names no usable digest: only reachable if the two parsers disagree.
        Ok(_) => AttestError::Malformed(StatementError::NoSha256.into()),
    };
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return statement_error();
    };
    let Some(certificate) = bundle.signing_certificate() else {
        return statement_error();
    };
    let info = match parse_certificate_info(certificate) {
        Ok(info) => info,
        Err(e) => return AttestError::Certificate(E::Crypto(e)),
    };
    let scheme = info.key_algorithm.default_signing_scheme();
    match verify_signature(
        &info.public_key,
        &envelope.pae(),
        &envelope.signature.sig,
        scheme,
    ) {
        Ok(()) => statement_error(),
        Err(e) => AttestError::Signature(E::SignatureInvalid(format!("DSSE signature: {e}"))),
    }
}

/// Sorts the verifier's refusal into the kind of failure it is.
fn classify(error: sigstore_verify::Error) -> AttestError {
    use sigstore_verify::Error as E;
    match &error {
        E::SignatureInvalid(_) => AttestError::Signature(error),
        E::Certificate(
            CertificateError::Expired { .. }
            | CertificateError::NotYetValid { .. }
            | CertificateError::NoValidAuthority { .. },
        )
        | E::TransparencyLog(TransparencyLogError::IntegratedTime(_)) => {
            AttestError::ExpiredAtSigning(error)
        }
        E::Certificate(_) | E::IdentityMismatch { .. } | E::IssuerMismatch { .. } => {
            AttestError::Certificate(error)
        }
        E::TransparencyLog(_) | E::Timestamp(_) => AttestError::TransparencyLog(error),
        _ => AttestError::Malformed(MalformedError::Structure(error)),
    }
}
