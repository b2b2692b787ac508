//! Why an attestation was refused: one variant per kind of failure, so callers (the log's
//! `/add`, `bintrail verify`) can say which check failed.

use bintrail_tlog::pypi::{FilenameError, PublisherError};

/// Why PEP 740 evidence was refused for a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The input is not a well-formed attestation or provenance object, or its statement
    /// (whose signature did verify) breaks PEP 740's constraints.
    #[error("malformed attestation: {0}")]
    Malformed(#[from] MalformedError),
    /// The statement names this file but another SHA-256: the file is not the one attested.
    #[error(
        "file digest mismatch: the attestation is for sha256:{attested}, the file is sha256:{actual}"
    )]
    DigestMismatch {
        /// The statement's digest, hex.
        attested: String,
        /// The file's digest, hex.
        actual: String,
    },
    /// The statement is about another file.
    #[error("the attestation is for {subject}, not {filename}")]
    OtherFile {
        /// The statement's subject name.
        subject: String,
        /// The file being verified.
        filename: String,
    },
    /// The signature over the statement does not verify with the certificate's key.
    #[error("bad signature over the statement: {0}")]
    Signature(#[source] sigstore_verify::Error),
    /// The statement is not the one the transparency log entry records (its SHA-256 differs
    /// from the entry's payload hash): the statement was changed after signing.
    #[error(
        "the statement is not the one signed: its sha256 is {actual}, the transparency log entry records {logged}"
    )]
    StatementAltered {
        /// The statement's SHA-256, hex.
        actual: String,
        /// The payload hash the log entry records, hex.
        logged: String,
    },
    /// The certificate does not parse, does not chain to the trusted root's Fulcio CA, or is
    /// not a code-signing certificate.
    #[error("bad signing certificate: {0}")]
    Certificate(#[source] sigstore_verify::Error),
    /// The certificate (or the CA that issued it) was not valid at the logged signing time.
    #[error("certificate not valid at the logged signing time: {0}")]
    ExpiredAtSigning(#[source] sigstore_verify::Error),
    /// The transparency-log evidence (inclusion proof, checkpoint, signed entry timestamp,
    /// entry body) does not verify against the trusted root's logs or does not describe this
    /// signature.
    #[error("bad transparency log evidence: {0}")]
    TransparencyLog(#[source] sigstore_verify::Error),
    /// The certificate verified but lacks the OIDC issuer extension or the subject SAN, or
    /// they are not a loggable publisher.
    #[error("no usable publisher identity in the certificate: {0}")]
    Identity(#[from] IdentityError),
    /// A provenance object's attestations name different publishers.
    #[error("the attestations name different publishers: {first} and {second}")]
    PublisherConflict {
        /// The first publisher, `issuer subject`.
        first: String,
        /// A different one, `issuer subject`.
        second: String,
    },
}

/// Why the certificate's identity cannot be a publisher.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// No Fulcio OIDC issuer extension (1.3.6.1.4.1.57264.1.8 or .1.1).
    #[error("the certificate has no OIDC issuer extension")]
    NoIssuer,
    /// No subject alternative name.
    #[error("the certificate has no subject alternative name")]
    NoSubject,
    /// The issuer or subject cannot be logged (not https, whitespace, too long).
    #[error("{0}")]
    Publisher(#[from] PublisherError),
}

/// What is wrong with the input's shape.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedError {
    /// Not JSON of the expected shape.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// Larger than [`crate::MAX_INPUT_LEN`].
    #[error("{len} bytes is more than an attestation can be")]
    TooLarge {
        /// The input's length.
        len: usize,
    },
    /// A `version` other than 1.
    #[error("version {0} (only 1 is defined)")]
    Version(u64),
    /// A field that must be base64 is not.
    #[error("{field} is not base64")]
    Base64 {
        /// Which field.
        field: &'static str,
    },
    /// A field that must carry bytes is empty.
    #[error("{field} is empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// No transparency-log entries: nothing gives a logged signing time.
    #[error("no transparency_entries")]
    NoTransparencyEntries,
    /// A Sigstore bundle that is not a DSSE envelope with one signature over an in-toto
    /// statement (a message signature, or another payload type).
    #[error("the Sigstore bundle is not a DSSE in-toto attestation: {0}")]
    NotDsse(&'static str),
    /// A provenance object without attestations.
    #[error("no attestations")]
    NoAttestations,
    /// The pieces do not form a Sigstore bundle (a bad transparency entry, certificate
    /// encoding or envelope).
    #[error("not convertible to a Sigstore bundle: {0}")]
    Bundle(#[source] serde_json::Error),
    /// The verifier refused the bundle's structure.
    #[error("{0}")]
    Structure(#[source] sigstore_verify::Error),
    /// The signed statement breaks PEP 740's constraints.
    #[error("statement: {0}")]
    Statement(#[from] StatementError),
}

/// How a signed statement breaks PEP 740's constraints.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// Not JSON of the statement's shape.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// `_type` is not in-toto Statement v1.
    #[error("_type {found:?} is not https://in-toto.io/Statement/v1")]
    Type {
        /// The `_type` the statement names.
        found: String,
    },
    /// A `predicateType` PEP 740 does not list.
    #[error("unsupported predicateType {found:?}")]
    PredicateType {
        /// The `predicateType` the statement names.
        found: String,
    },
    /// Not exactly one subject.
    #[error("{0} subjects (PEP 740 requires exactly one)")]
    SubjectCount(usize),
    /// The subject's name is not a wheel or sdist filename.
    #[error("subject name {name:?}: {source}")]
    SubjectName {
        /// The name as written.
        name: String,
        /// Why it is not a distribution filename.
        source: FilenameError,
    },
    /// The subject has no `sha256` digest.
    #[error("the subject has no sha256 digest")]
    NoSha256,
    /// The `sha256` digest is not 64 lowercase hex digits.
    #[error("subject sha256 {found:?} is not 64 lowercase hex digits")]
    Sha256 {
        /// The digest as written.
        found: String,
    },
}

/// Why a trusted root was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustRootError {
    /// The verifier could not read it.
    #[error("invalid Sigstore trusted root: {0}")]
    Invalid(#[source] sigstore_verify::Error),
    /// It reads, but lacks what every verification needs.
    #[error(
        "not a Sigstore trusted root: {0} (expected a trusted_root.json with mediaType application/vnd.dev.sigstore.trustedroot+json;version=0.1)"
    )]
    Incomplete(&'static str),
}
