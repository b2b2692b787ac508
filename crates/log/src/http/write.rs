//! The authenticated write endpoint `POST /add`, and the entry JSON it shares with
//! `POST /admin/bulk/append` (`bulk.rs`).
//!
//! Both take bt-log's entry JSON, `{"filename", "checksum", "publisher"?: {"issuer",
//! "subject"}}` (trailofbits/bt-log `internal/pypi/pypi.go`), but reject unknown
//! fields and validate the filename, checksum and publisher before anything is
//! pooled.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::proof::{ProofParts, ProofPiece};
use bintrail_tlog::pypi::{Entry, Publisher};
use serde::Deserialize;

use super::{ApiError, AppState, Authorized, read_body, require_content_type};
use crate::log::Added;

/// The body of `POST /add` and of each bulk line, as bt-log takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRequest {
    filename: String,
    checksum: String,
    #[serde(default)]
    publisher: Option<PublisherRequest>,
    /// A PEP 740 attestation or provenance object (or a Sigstore bundle) for the file:
    /// verified offline against the log's Sigstore trusted root (the bundled public-good one
    /// unless `--sigstore-trusted-root` names another), and its certificate's publisher is
    /// what is logged.
    #[serde(default)]
    attestation: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublisherRequest {
    issuer: String,
    subject: String,
}

impl EntryRequest {
    /// Validates the fields into a log entry; the error says which field is wrong.
    fn into_entry(self, root: &bintrail_attest::TrustRoot) -> Result<Entry, String> {
        let filename = self
            .filename
            .parse()
            .map_err(|e| format!("invalid filename {:?}: {e}", self.filename))?;
        let checksum = self
            .checksum
            .parse()
            .map_err(|e| format!("invalid checksum {:?}: {e}", self.checksum))?;
        let publisher = match self.publisher {
            None => None,
            Some(p) => Some(
                Publisher::new(&p.issuer, &p.subject)
                    .map_err(|e| format!("invalid publisher: {e}"))?,
            ),
        };
        let publisher = match self.attestation {
            None => publisher,
            Some(attestation) => Some(attested_publisher(
                &attestation,
                &filename,
                &checksum,
                publisher,
                root,
            )?),
        };
        Ok(Entry {
            checksum,
            filename,
            publisher,
        })
    }
}

/// Verifies `attestation` for the file and returns the publisher its certificate names; a
/// publisher also given in the request must be the same one.
fn attested_publisher(
    attestation: &serde_json::Value,
    filename: &bintrail_tlog::pypi::Filename,
    checksum: &bintrail_tlog::pypi::Checksum,
    claimed: Option<Publisher>,
    root: &bintrail_attest::TrustRoot,
) -> Result<Publisher, String> {
    let bytes = serde_json::to_vec(attestation).map_err(|e| format!("invalid attestation: {e}"))?;
    let verified = bintrail_attest::Evidence::from_json(&bytes)
        .map_err(bintrail_attest::AttestError::from)
        .and_then(|evidence| bintrail_attest::verify_evidence(&evidence, filename, checksum, root))
        .map_err(|e| format!("invalid attestation: {e}"))?;
    match claimed {
        Some(p) if p != verified.publisher => Err(format!(
            "invalid publisher: {} {} is not the attestation's {} {}",
            p.issuer, p.subject, verified.publisher.issuer, verified.publisher.subject
        )),
        _ => Ok(verified.publisher),
    }
}

/// Parses one JSON entry, verifying any attestation against `root`; errors are messages
/// for a 400 or a bulk error line.
pub(super) fn parse_entry_with(
    json: &[u8],
    root: &bintrail_attest::TrustRoot,
) -> Result<Entry, String> {
    let request: EntryRequest =
        serde_json::from_slice(json).map_err(|e| format!("invalid JSON: {e}"))?;
    request.into_entry(root)
}

/// [`parse_entry_with`] the bundled public-good root.
#[cfg(test)]
pub(super) fn parse_entry(json: &[u8]) -> Result<Entry, String> {
    parse_entry_with(json, super::default_sigstore_root())
}

/// The 200 answer to `POST /add`: bt-log's `LogEntryResponse` (index, base64
/// checkpoint note, base64 proof hashes) plus the tlog-proof text and whether the
/// entry was already logged:
/// `{"index", "checkpoint", "inclusionProof", "proof", "existing"}`.
///
/// Written into one buffer, the proof text through tlog's one writer
/// ([`ProofParts::write`]): building it through `TlogProof` and serde cost about a tenth
/// of the log's CPU per add (copies of the entry, proof and note, a `String` per hash,
/// and escaping the whole proof text). `add_response_matches_serde` checks it
/// against serde's encoding of the same object.
fn add_response_json(added: &Added) -> Vec<u8> {
    let hashes = added.inclusion_proof.len();
    let mut out = String::with_capacity(2 * added.checkpoint.len() + 100 * hashes + 512);
    out.push_str("{\"index\":");
    out.push_str(&added.index.to_string());
    out.push_str(",\"checkpoint\":\"");
    BASE64.encode_string(&added.checkpoint, &mut out);
    out.push_str("\",\"inclusionProof\":[");
    for (i, h) in added.inclusion_proof.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        BASE64.encode_string(h.0, &mut out);
        out.push('"');
    }
    // The tlog-proof text, JSON-escaped: only the checkpoint note can hold characters
    // that need escaping.
    out.push_str("],\"proof\":\"");
    let parts = ProofParts {
        extra: Some(&added.entry),
        index: added.index,
        inclusion_proof: &added.inclusion_proof,
        checkpoint: &added.checkpoint,
    };
    parts.write(|piece| match piece {
        ProofPiece::Text(text) => out.push_str(text),
        ProofPiece::Newline => out.push_str("\\n"),
        ProofPiece::Checkpoint(note) => push_json_escaped(&mut out, &String::from_utf8_lossy(note)),
    });
    out.push_str("\",\"existing\":");
    out.push_str(if added.existing { "true" } else { "false" });
    out.push('}');
    out.into_bytes()
}

/// Appends `text` as the inside of a JSON string (RFC 8259 section 7).
fn push_json_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// `POST /add`: log one entry and answer with its proof once a checkpoint covering
/// it is published.
pub(super) async fn add(
    State(state): State<AppState>,
    Authorized(token_name): Authorized,
    request: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let result = add_inner(&state, &token_name, request).await;
    state.metrics.record_add_latency(started.elapsed());
    result
}

async fn add_inner(
    state: &AppState,
    token_name: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    require_content_type(&parts.headers, "application/json", true)?;
    let body = read_body(
        &parts.headers,
        body,
        state.opts.max_add_body,
        state.opts.body_timeout,
    )
    .await?;
    let entry = parse_entry_with(&body, state.opts.sigstore_root())
        .map_err(|message| ApiError::BadRequest { message })?;
    let timeout = state.opts.body_timeout;
    if let Some(answer) =
        super::forward::forward_if_follower(state, "/add", &parts.headers, &body, timeout).await
    {
        return answer;
    }
    let filename = entry.filename.to_string();
    match state.log.add(entry).await {
        Ok(added) => {
            super::error::storage_episode::succeeded();
            tracing::debug!(token = token_name, %filename, index = added.index, existing = added.existing, "add");
            let mut response = add_response_json(&added).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
        Err(err) => {
            tracing::debug!(token = token_name, %filename, outcome = err.label(), "add refused");
            Err(ApiError::from_add(err, &filename, state.opts.retry_after))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    const SUM: &str = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

    /// The hand-written `/add` answer is the JSON serde makes of the same fields, with the
    /// proof text exactly `TlogProof::to_bytes`, including a note that needs escaping.
    #[test]
    fn add_response_matches_serde() {
        use bintrail_tlog::hash::Hash;
        for (note, existing, hashes) in [
            (
                &b"example.com/log\n12\nAAAA\n\n\xe2\x80\x94 example.com/log abc=\n"[..],
                false,
                0,
            ),
            (
                &b"a \"quoted\" \\ origin\twith\rcontrols\x01\n1\nX\n\n"[..],
                true,
                17,
            ),
        ] {
            let added = Added {
                index: 1234567,
                entry: b"bintrail/pypi/v1\nsha256:00\nx.whl".to_vec(),
                checkpoint: Bytes::from_static(note),
                inclusion_proof: (0..hashes).map(|i| Hash([i as u8; 32])).collect(),
                existing,
            };
            let json: serde_json::Value =
                serde_json::from_slice(&add_response_json(&added)).unwrap();
            let expected = json!({
                "index": added.index,
                "checkpoint": BASE64.encode(&added.checkpoint),
                "inclusionProof": added.inclusion_proof.iter().map(|h| BASE64.encode(h.0)).collect::<Vec<_>>(),
                "proof": String::from_utf8(added.tlog_proof().to_bytes()).unwrap(),
                "existing": existing,
            });
            assert_eq!(json, expected);
        }
    }

    #[test]
    fn entry_json_as_bt_log_sends_it() {
        let json = format!(
            r#"{{"filename":"a-1.0-py3-none-any.whl","checksum":"{SUM}","publisher":{{"issuer":"https://token.actions.githubusercontent.com","subject":"https://github.com/o/r/.github/workflows/r.yml@refs/tags/v1"}}}}"#
        );
        let entry = parse_entry(json.as_bytes()).unwrap();
        assert_eq!(entry.filename.to_string(), "a-1.0-py3-none-any.whl");
        assert!(entry.publisher.is_some());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("{", "invalid JSON"),
            (r#"{"filename":"a-1.0.tar.gz"}"#, "missing field `checksum`"),
            (
                &format!(r#"{{"filename":"a-1.0.tar.gz","checksum":"{SUM}","x":1}}"#),
                "unknown field `x`",
            ),
            (
                &format!(r#"{{"filename":"../etc/passwd","checksum":"{SUM}"}}"#),
                "invalid filename",
            ),
            (
                r#"{"filename":"a-1.0.tar.gz","checksum":"md5:00"}"#,
                "invalid checksum",
            ),
            (
                &format!(
                    r#"{{"filename":"a-1.0.tar.gz","checksum":"{SUM}","publisher":{{"issuer":"http://x","subject":"s"}}}}"#
                ),
                "invalid publisher",
            ),
        ];
        for (json, want) in cases {
            let err = parse_entry(json.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    // Issue 8 asks for a property run over every parser: the request body
    // parsers of the write paths must answer every byte string with a result,
    // never a panic, and keep their contracts.
    proptest::proptest! {
        #[test]
        fn entry_parser_takes_any_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_entry(&body);
        }

        #[test]
        fn entry_parser_takes_any_json_text(filename in "\\PC{0,40}", checksum in "\\PC{0,80}") {
            let json = serde_json::json!({"filename": filename, "checksum": checksum}).to_string();
            if let Ok(entry) = parse_entry(json.as_bytes()) {
                // Only what was sent can come back.
                proptest::prop_assert_eq!(entry.filename.to_string(), filename);
            }
        }
    }
}
