//! The authenticated write endpoints: `POST /add` and `POST /admin/bulk/append`.
//!
//! Both take bt-log's entry JSON, `{"filename", "checksum", "publisher"?: {"issuer",
//! "subject"}}` (trailofbits/bt-log `internal/pypi/pypi.go`), but reject unknown
//! fields and validate the filename, checksum and publisher before anything is
//! pooled.

use std::collections::HashSet;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::open_checkpoint;
use bintrail_tlog::proof::{ProofParts, ProofPiece};
use bintrail_tlog::pypi::{Entry, Publisher};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, AppState, Authorized, read_body, require_content_type};
use crate::log::{AddError, Added};

/// The body of `POST /add` and of each bulk line, as bt-log takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRequest {
    filename: String,
    checksum: String,
    #[serde(default)]
    publisher: Option<PublisherRequest>,
    /// A PEP 740 attestation or provenance object for the file: verified offline against the
    /// bundled Sigstore public-good root, and its certificate's publisher is what is logged.
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
    fn into_entry(self) -> Result<Entry, String> {
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
) -> Result<Publisher, String> {
    static ROOT: std::sync::OnceLock<bintrail_attest::TrustRoot> = std::sync::OnceLock::new();
    let root = ROOT.get_or_init(bintrail_attest::TrustRoot::production);
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

/// Parses one JSON entry; errors are messages for a 400 or a bulk error line.
fn parse_entry(json: &[u8]) -> Result<Entry, String> {
    let request: EntryRequest =
        serde_json::from_slice(json).map_err(|e| format!("invalid JSON: {e}"))?;
    request.into_entry()
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
    let entry = parse_entry(&body).map_err(ApiError::BadRequest)?;
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

/// One line of the bulk response: bt-log's `bulkAppendStreamRecord`.
#[derive(Serialize)]
struct StreamRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a BulkResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
}

/// bt-log's `bulkAppendResult`, plus `existing`, the conflicting `checksum`, and a
/// `checkpoint` when this result's proof is against another checkpoint than the one
/// the stream announced first.
#[derive(Serialize, Default)]
struct BulkResult {
    filename: String,
    /// The entry's index; absent on an error line that has none (a line that did not
    /// parse, a duplicate, a storage failure), so no error claims index 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    /// `logged`, `pending` (sequenced at `index`, not yet published: retry) or `error`.
    status: &'static str,
    #[serde(rename = "inclusionProof", skip_serializing_if = "Option::is_none")]
    inclusion_proof: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    existing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
}

impl BulkResult {
    fn error(filename: String, message: String) -> BulkResult {
        BulkResult {
            filename,
            status: "error",
            error: Some(message),
            ..BulkResult::default()
        }
    }
}

/// `POST /admin/bulk/append`: NDJSON entries in, NDJSON results out, in order.
pub(super) async fn bulk_append(
    State(state): State<AppState>,
    Authorized(token_name): Authorized,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    require_content_type(&parts.headers, "application/x-ndjson", false)?;
    let body = read_body(
        &parts.headers,
        body,
        state.opts.max_bulk_body,
        state.opts.bulk_body_timeout,
    )
    .await?;
    let lines = split_lines(&body, state.opts.max_bulk_entries)?;
    let (mut results, entries, positions) = parse_bulk(&lines);
    tracing::info!(token = %token_name, lines = lines.len(), valid = entries.len(), "bulk append");
    let outcomes = state.log.add_many(entries).await;
    if outcomes.iter().any(Result::is_ok) {
        super::error::storage_episode::succeeded();
    }
    let retry = state.opts.retry_after;
    // The stream announces the first proof's checkpoint; a result repeats a checkpoint only
    // when its proof is against another one (base64 of a note per line cost measurably).
    let header = outcomes
        .iter()
        .find_map(|o| o.as_ref().ok().map(|a| a.checkpoint.clone()))
        .unwrap_or_else(|| state.log.checkpoint());
    for (outcome, &position) in outcomes.into_iter().zip(&positions) {
        let slot = &mut results[position];
        match outcome {
            Ok(added) => {
                slot.index = Some(added.index);
                slot.status = "logged";
                slot.existing = added.existing;
                slot.inclusion_proof = Some(
                    added
                        .inclusion_proof
                        .iter()
                        .map(|h| BASE64.encode(h.0))
                        .collect(),
                );
                if added.checkpoint != header {
                    slot.checkpoint = Some(BASE64.encode(&added.checkpoint));
                }
            }
            Err(err) => fill_bulk_error(slot, err, retry),
        }
    }
    Ok(stream_bulk(&state, header, results))
}

/// Splits an NDJSON body into its non-empty lines (a trailing `\r` is dropped).
/// More than `max` lines is a 413, with bt-log's message.
fn split_lines(body: &[u8], max: usize) -> Result<Vec<&[u8]>, ApiError> {
    let mut lines = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if lines.len() == max {
            return Err(ApiError::TooLarge(format!(
                "bulk append is limited to {max} entries"
            )));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Parses each line. Returns one result per line (errors filled in), the valid
/// entries to add, and for each valid entry its line's position.
fn parse_bulk(lines: &[&[u8]]) -> (Vec<BulkResult>, Vec<Entry>, Vec<usize>) {
    let mut results = Vec::with_capacity(lines.len());
    let mut entries = Vec::with_capacity(lines.len());
    let mut positions = Vec::with_capacity(lines.len());
    let mut seen = HashSet::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match parse_entry(line) {
            Err(message) => {
                let filename = filename_hint(line);
                results.push(BulkResult::error(filename, message));
            }
            Ok(entry) => {
                let filename = entry.filename.to_string();
                if !seen.insert(filename.clone()) {
                    // As bt-log: one request may name a file once.
                    results.push(BulkResult::error(
                        filename,
                        "duplicate filename in request".to_owned(),
                    ));
                    continue;
                }
                results.push(BulkResult {
                    filename,
                    ..BulkResult::default()
                });
                entries.push(entry);
                positions.push(i);
            }
        }
    }
    (results, entries, positions)
}

/// The `filename` field of a line that failed validation, when it is readable, so
/// the client can match the error to its input.
fn filename_hint(line: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Hint {
        filename: Option<String>,
    }
    serde_json::from_slice::<Hint>(line)
        .ok()
        .and_then(|h| h.filename)
        .map(|f| f.chars().take(256).collect())
        .unwrap_or_default()
}

fn fill_bulk_error(slot: &mut BulkResult, err: AddError, retry: std::time::Duration) {
    let filename = slot.filename.clone();
    match &err {
        AddError::Pending { index } => {
            slot.index = Some(*index);
            slot.status = "pending";
        }
        AddError::Conflict {
            index, checksum, ..
        } => {
            slot.index = Some(*index);
            slot.status = "error";
            slot.checksum = Some(checksum.to_string());
        }
        _ => slot.status = "error",
    }
    slot.error = Some(ApiError::from_add(err, &filename, retry).to_string());
}

/// Streams the response: the checkpoint record, one result record per line, and
/// the completion record, encoded in chunks as the client reads.
fn stream_bulk(state: &AppState, header_checkpoint: Bytes, results: Vec<BulkResult>) -> Response {
    let header_b64 = BASE64.encode(&header_checkpoint);
    let tree_size = open_checkpoint(&header_checkpoint, &state.verifier)
        .map(|(c, _)| c.size)
        .ok();
    let count = results.len() as u64;
    let mut first = Vec::new();
    if tree_size.is_some() {
        write_record(
            &mut first,
            &StreamRecord {
                kind: "checkpoint",
                checkpoint: Some(header_b64),
                tree_size,
                result: None,
                count: None,
            },
        );
    }
    const CHUNK: usize = 512;
    let chunks: Vec<Vec<BulkResult>> = chunked(results, CHUNK);
    let body_chunks = std::iter::once(first)
        .chain(chunks.into_iter().map(|chunk| {
            let mut buf = Vec::with_capacity(chunk.len() * 256);
            for r in &chunk {
                write_record(
                    &mut buf,
                    &StreamRecord {
                        kind: "result",
                        checkpoint: None,
                        tree_size: None,
                        result: Some(r),
                        count: None,
                    },
                );
            }
            buf
        }))
        .chain(std::iter::once_with(move || {
            let mut buf = Vec::new();
            let complete = json!({"type": "complete", "count": count});
            buf.extend_from_slice(complete.to_string().as_bytes());
            buf.push(b'\n');
            buf
        }))
        .map(|buf| Ok::<_, std::convert::Infallible>(Bytes::from(buf)));
    let mut response = Body::from_stream(futures::stream::iter(body_chunks)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

#[allow(clippy::expect_used, reason = "serializing a bulk record")]
fn write_record(buf: &mut Vec<u8>, record: &StreamRecord<'_>) {
    // Serializing these plain structs to a Vec cannot fail.
    serde_json::to_writer(&mut *buf, record).expect("serializing a bulk record");
    buf.push(b'\n');
}

fn chunked<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut iter = items.into_iter().peekable();
    while iter.peek().is_some() {
        out.push(iter.by_ref().take(size).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bulk_lines_skip_blanks_and_enforce_the_cap() {
        let body = b"a\r\n\n  \nb\n";
        assert_eq!(split_lines(body, 2).unwrap(), vec![&b"a"[..], &b"b"[..]]);
        let err = split_lines(body, 1).unwrap_err();
        assert_eq!(err.to_string(), "bulk append is limited to 1 entries");
    }

    #[test]
    fn bulk_parse_keeps_order_and_flags_duplicates() {
        let good = format!(r#"{{"filename":"a-1.0.tar.gz","checksum":"{SUM}"}}"#);
        let bad = r#"{"filename":"zz","checksum":"nope"}"#.to_owned();
        let lines: Vec<&[u8]> = vec![good.as_bytes(), bad.as_bytes(), good.as_bytes()];
        let (results, entries, positions) = parse_bulk(&lines);
        assert_eq!(entries.len(), 1);
        assert_eq!(positions, vec![0]);
        assert_eq!(results[1].status, "error");
        assert_eq!(results[1].filename, "zz");
        assert_eq!(
            results[2].error.as_deref(),
            Some("duplicate filename in request")
        );
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

        #[test]
        fn bulk_split_and_parse_take_any_bytes(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            max in 0usize..8,
        ) {
            if let Ok(lines) = split_lines(&body, max) {
                proptest::prop_assert!(lines.len() <= max);
                let (results, entries, positions) = parse_bulk(&lines);
                // One result per line; each valid entry points at its line.
                proptest::prop_assert_eq!(results.len(), lines.len());
                proptest::prop_assert_eq!(entries.len(), positions.len());
                proptest::prop_assert!(positions.iter().all(|&p| p < lines.len()));
            }
        }
    }
}
