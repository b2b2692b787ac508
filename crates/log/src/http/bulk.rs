//! `POST /admin/bulk/append`: NDJSON entries in (each line the body of a `POST /add`),
//! NDJSON results out, in order, as trailofbits/bt-log streams them
//! (`cmd/bt-log/bulk_append.go`), each logged line with its tlog-proof as `/add` gives it.

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::open_checkpoint;
use bintrail_tlog::pypi::Entry;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::write::parse_entry_with;
use super::{ApiError, AppState, Authorized, read_body, require_content_type};
use crate::log::{AddError, Added};

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
    /// The `c2sp.org/tlog-proof@v1` text, as `POST /add` answers it (`extra` the entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    proof: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    existing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    /// A logged line's result, turned into `inclusionProof` and `proof` only when its
    /// chunk of the response is written, so a large request never holds every proof
    /// text at once.
    #[serde(skip)]
    added: Option<Added>,
}

impl BulkResult {
    /// Fills `inclusionProof` and `proof` of a logged line from its result.
    fn render_proof(&mut self) {
        if let Some(added) = self.added.take() {
            self.inclusion_proof = Some(
                added
                    .inclusion_proof
                    .iter()
                    .map(|h| BASE64.encode(h.0))
                    .collect(),
            );
            self.proof = Some(String::from_utf8_lossy(&added.tlog_proof().to_bytes()).into_owned());
        }
    }

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
    let timeout = state.opts.bulk_body_timeout;
    if let Some(answer) = super::forward::forward_if_follower(
        &state,
        "/admin/bulk/append",
        &parts.headers,
        &body,
        timeout,
    )
    .await
    {
        return answer;
    }
    let (mut results, entries, positions) = parse_bulk(&lines, state.opts.sigstore_root());
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
                if added.checkpoint != header {
                    slot.checkpoint = Some(BASE64.encode(&added.checkpoint));
                }
                slot.added = Some(added);
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
            return Err(ApiError::TooLarge {
                message: format!("bulk append is limited to {max} entries"),
            });
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Parses each line. Returns one result per line (errors filled in), the valid
/// entries to add, and for each valid entry its line's position.
fn parse_bulk(
    lines: &[&[u8]],
    root: &bintrail_attest::TrustRoot,
) -> (Vec<BulkResult>, Vec<Entry>, Vec<usize>) {
    let mut results = Vec::with_capacity(lines.len());
    let mut entries = Vec::with_capacity(lines.len());
    let mut positions = Vec::with_capacity(lines.len());
    let mut seen = HashSet::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match parse_entry_with(line, root) {
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
    if let AddError::Pending { index } = &err {
        slot.index = Some(*index);
        slot.status = "pending";
    } else {
        slot.status = "error";
    }
    let api = ApiError::from_add(err, &filename, retry);
    if let ApiError::Conflict {
        index, checksum, ..
    } = &api
    {
        slot.index = Some(*index);
        slot.checksum = Some(checksum.to_string());
    }
    slot.error = Some(api.to_string());
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
            let mut buf = Vec::with_capacity(chunk.len() * 1024);
            for mut r in chunk {
                r.render_proof();
                let r = &r;
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
        let (results, entries, positions) =
            parse_bulk(&lines, crate::http::default_sigstore_root());
        assert_eq!(entries.len(), 1);
        assert_eq!(positions, vec![0]);
        assert_eq!(results[1].status, "error");
        assert_eq!(results[1].filename, "zz");
        assert_eq!(
            results[2].error.as_deref(),
            Some("duplicate filename in request")
        );
    }

    proptest::proptest! {
        #[test]
        fn bulk_split_and_parse_take_any_bytes(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            max in 0usize..8,
        ) {
            if let Ok(lines) = split_lines(&body, max) {
                proptest::prop_assert!(lines.len() <= max);
                let (results, entries, positions) = parse_bulk(&lines, crate::http::default_sigstore_root());
                // One result per line; each valid entry points at its line.
                proptest::prop_assert_eq!(results.len(), lines.len());
                proptest::prop_assert_eq!(entries.len(), positions.len());
                proptest::prop_assert!(positions.iter().all(|&p| p < lines.len()));
            }
        }
    }
}
