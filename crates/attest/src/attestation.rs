//! PEP 740 attestation and provenance objects, and their conversion to a Sigstore bundle.
//!
//! An attestation object (packaging.python.org "Index hosted attestations") is
//! `{"version": 1, "verification_material": {"certificate", "transparency_entries"},
//! "envelope": {"statement", "signature"}}`: a base64 DER leaf certificate, Rekor entries in
//! the Sigstore protobuf-specs JSON form, and a DSSE envelope split into its payload (the
//! in-toto statement) and its one signature. A provenance object wraps attestations as
//! `{"version": 1, "attestation_bundles": [{"publisher", "attestations": [...]}]}`.
//!
//! The bundle a Sigstore verifier takes is the same evidence rearranged (the mapping
//! `pypi-attestations`' `Attestation.to_bundle` performs): media type v0.3, the certificate as
//! `verificationMaterial.certificate.rawBytes`, the entries as `tlogEntries`, and a
//! `dsseEnvelope` whose `payloadType` is `application/vnd.in-toto+json`, the only payload type
//! PEP 740 permits.
//!
//! A Sigstore bundle (`.sigstore.json`, media type `application/vnd.dev.sigstore.bundle.v0.3+json`
//! or earlier, with a DSSE envelope of one signature) is the third form of evidence taken: the
//! same pieces, plus the bundle's RFC 3161 timestamps (`timestampVerificationData`). Rekor v2
//! entries carry no signed time of their own and are only verifiable with such timestamps,
//! which an attestation object has no field for.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;
use sigstore_verify::types::Bundle;

use crate::error::MalformedError;

/// The DSSE payload type PEP 740 requires for the statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Inputs above this size are refused before parsing (real attestations are under 16 KiB;
/// a provenance object holds a few).
pub const MAX_INPUT_LEN: usize = 1 << 20;

/// A parsed PEP 740 attestation object. Parsing checks the shape only; nothing is trusted
/// until [`crate::verify_attestation`] accepts it.
#[derive(Debug, Clone)]
pub struct Attestation {
    certificate: Vec<u8>,
    transparency_entries: Vec<serde_json::Value>,
    statement: Vec<u8>,
    signature: Vec<u8>,
    /// A Sigstore bundle's `timestampVerificationData`, kept as given.
    timestamps: Option<serde_json::Value>,
}

/// A parsed PEP 740 provenance object: attestations grouped by the publisher the index named.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Every attestation of every bundle, in order.
    pub attestations: Vec<Attestation>,
}

/// Either kind of PEP 740 evidence for one file, told apart by its keys.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// A single attestation object.
    Attestation(Attestation),
    /// A provenance object (the index's `.provenance` file).
    Provenance(Provenance),
    /// A Sigstore bundle holding a DSSE-signed statement.
    Bundle(Attestation),
}

#[derive(Deserialize)]
struct AttestationWire {
    version: u64,
    verification_material: MaterialWire,
    envelope: EnvelopeWire,
}

#[derive(Deserialize)]
struct MaterialWire {
    certificate: String,
    transparency_entries: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct EnvelopeWire {
    statement: String,
    signature: String,
}

#[derive(Deserialize)]
struct ProvenanceWire {
    version: u64,
    attestation_bundles: Vec<BundleWire>,
}

#[derive(Deserialize)]
struct BundleWire {
    attestations: Vec<serde_json::Value>,
}

impl Attestation {
    /// Parses an attestation object from JSON: version 1, base64 fields that decode, at
    /// least one transparency entry (the verifier needs a logged time to check the
    /// certificate against).
    pub fn from_json(json: &[u8]) -> Result<Attestation, MalformedError> {
        check_len(json)?;
        let wire: AttestationWire = serde_json::from_slice(json).map_err(MalformedError::Json)?;
        Attestation::from_wire(wire)
    }

    fn from_value(value: serde_json::Value) -> Result<Attestation, MalformedError> {
        let wire: AttestationWire = serde_json::from_value(value).map_err(MalformedError::Json)?;
        Attestation::from_wire(wire)
    }

    fn from_wire(wire: AttestationWire) -> Result<Attestation, MalformedError> {
        if wire.version != 1 {
            return Err(MalformedError::Version(wire.version));
        }
        if wire.verification_material.transparency_entries.is_empty() {
            return Err(MalformedError::NoTransparencyEntries);
        }
        Ok(Attestation {
            certificate: decode(
                "verification_material.certificate",
                &wire.verification_material.certificate,
            )?,
            transparency_entries: wire.verification_material.transparency_entries,
            statement: decode("envelope.statement", &wire.envelope.statement)?,
            signature: decode("envelope.signature", &wire.envelope.signature)?,
            timestamps: None,
        })
    }

    /// Parses a Sigstore bundle whose content is a DSSE envelope with one signature over an
    /// in-toto statement: the certificate (`certificate.rawBytes`, or the first of an
    /// `x509CertificateChain`), the transparency-log entries, the RFC 3161 timestamps, the
    /// statement and its signature.
    pub fn from_sigstore_bundle(json: &[u8]) -> Result<Attestation, MalformedError> {
        check_len(json)?;
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(MalformedError::Json)?;
        Attestation::from_bundle_value(&value)
    }

    fn from_bundle_value(value: &serde_json::Value) -> Result<Attestation, MalformedError> {
        let material = &value["verificationMaterial"];
        let certificate = material["certificate"]["rawBytes"]
            .as_str()
            .or_else(|| material["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str())
            .ok_or(MalformedError::NotDsse("no signing certificate"))?;
        let entries = material["tlogEntries"]
            .as_array()
            .filter(|entries| !entries.is_empty())
            .ok_or(MalformedError::NoTransparencyEntries)?;
        let envelope = &value["dsseEnvelope"];
        if envelope.is_null() {
            return Err(MalformedError::NotDsse("no dsseEnvelope"));
        }
        if envelope["payloadType"].as_str() != Some(IN_TOTO_PAYLOAD_TYPE) {
            return Err(MalformedError::NotDsse(
                "payloadType is not application/vnd.in-toto+json",
            ));
        }
        let signatures = envelope["signatures"]
            .as_array()
            .filter(|s| s.len() == 1)
            .ok_or(MalformedError::NotDsse("not exactly one signature"))?;
        let payload = envelope["payload"]
            .as_str()
            .ok_or(MalformedError::NotDsse("no payload"))?;
        let sig = signatures[0]["sig"]
            .as_str()
            .ok_or(MalformedError::NotDsse("no sig"))?;
        Ok(Attestation {
            certificate: decode("verificationMaterial.certificate", certificate)?,
            transparency_entries: entries.clone(),
            statement: decode("dsseEnvelope.payload", payload)?,
            signature: decode("dsseEnvelope.signatures[0].sig", sig)?,
            timestamps: material
                .get("timestampVerificationData")
                .filter(|v| !v.is_null())
                .cloned(),
        })
    }

    /// The statement bytes exactly as signed (the DSSE payload).
    pub fn statement(&self) -> &[u8] {
        &self.statement
    }

    /// The signing certificate, DER.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The DSSE signature over the statement.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Replaces the statement, certificate or signature bytes (for building refused cases in
    /// tests; the result verifies only if the evidence still holds).
    pub fn with_parts(
        mut self,
        certificate: Vec<u8>,
        statement: Vec<u8>,
        signature: Vec<u8>,
    ) -> Attestation {
        self.certificate = certificate;
        self.statement = statement;
        self.signature = signature;
        self
    }

    /// The transparency-log entries, in the Sigstore protobuf-specs JSON form.
    pub fn transparency_entries(&self) -> &[serde_json::Value] {
        &self.transparency_entries
    }

    /// The same evidence as a Sigstore bundle (v0.3, DSSE), for the verifier.
    pub fn to_bundle(&self) -> Result<Bundle, MalformedError> {
        let mut bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": BASE64.encode(&self.certificate)},
                "tlogEntries": self.transparency_entries,
            },
            "dsseEnvelope": {
                "payload": BASE64.encode(&self.statement),
                "payloadType": IN_TOTO_PAYLOAD_TYPE,
                "signatures": [{"sig": BASE64.encode(&self.signature)}],
            },
        });
        if let Some(timestamps) = &self.timestamps {
            bundle["verificationMaterial"]["timestampVerificationData"] = timestamps.clone();
        }
        serde_json::from_value(bundle).map_err(MalformedError::Bundle)
    }
}

impl Provenance {
    /// Parses a provenance object: version 1, at least one bundle, each with at least one
    /// well-formed attestation.
    pub fn from_json(json: &[u8]) -> Result<Provenance, MalformedError> {
        check_len(json)?;
        let wire: ProvenanceWire = serde_json::from_slice(json).map_err(MalformedError::Json)?;
        if wire.version != 1 {
            return Err(MalformedError::Version(wire.version));
        }
        let mut attestations = Vec::new();
        for bundle in wire.attestation_bundles {
            if bundle.attestations.is_empty() {
                return Err(MalformedError::NoAttestations);
            }
            for value in bundle.attestations {
                attestations.push(Attestation::from_value(value)?);
            }
        }
        if attestations.is_empty() {
            return Err(MalformedError::NoAttestations);
        }
        Ok(Provenance { attestations })
    }
}

impl Evidence {
    /// Parses an attestation object, a provenance object (one with an `attestation_bundles`
    /// key) or a Sigstore bundle (one with a `mediaType` key).
    pub fn from_json(json: &[u8]) -> Result<Evidence, MalformedError> {
        check_len(json)?;
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(MalformedError::Json)?;
        if value.get("mediaType").is_some() {
            Attestation::from_bundle_value(&value).map(Evidence::Bundle)
        } else if value.get("attestation_bundles").is_some() {
            Provenance::from_json(json).map(Evidence::Provenance)
        } else {
            Attestation::from_value(value).map(Evidence::Attestation)
        }
    }

    /// The attestations this evidence carries.
    pub fn attestations(&self) -> &[Attestation] {
        match self {
            Evidence::Attestation(a) | Evidence::Bundle(a) => std::slice::from_ref(a),
            Evidence::Provenance(p) => &p.attestations,
        }
    }
}

fn check_len(json: &[u8]) -> Result<(), MalformedError> {
    if json.len() > MAX_INPUT_LEN {
        return Err(MalformedError::TooLarge { len: json.len() });
    }
    Ok(())
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, MalformedError> {
    let bytes = BASE64
        .decode(text)
        .map_err(|_| MalformedError::Base64 { field })?;
    if bytes.is_empty() {
        return Err(MalformedError::Empty { field });
    }
    Ok(bytes)
}
