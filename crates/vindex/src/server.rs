//! The index's HTTP API.
//!
//! | method, path | answer |
//! |---|---|
//! | `GET /vindex/v1/lookup/<project>` | the lookup answer ([`crate::answer`]), JSON, a proof per entry |
//! | `GET /vindex/v2/lookup/<project>` | the same with one proof of all entries |
//! | `GET /checkpoint` | the output log's signed checkpoint |
//! | `GET /tile/<L>/<N>[.p/<W>]`, `GET /tile/entries/<N>[.p/<W>]` | the output log's tiles (C2SP tlog-tiles) |
//! | `GET /healthz` | `ok` |
//!
//! Errors are JSON `{"error": "..."}`: 400 for a name that is not a project name or a
//! bad tile path, 404 for what is not there, 503 (with `Retry-After`) while the index
//! has published no map yet or is between two steps for longer than a lookup waits.
//!
//! Answers are rendered once per project and published leaf ([`AnswerCache`], up to
//! [`CACHE_BYTES`]): a repeated lookup is a copy of bytes, and while a step applies new
//! leaves (the map no longer the published one) a cached answer for the last published
//! leaf is still served instead of waiting.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bintrail_tlog::map::MapKey;
use bintrail_tlog::tile::Tile;

use crate::answer::{AnswerVersion, json_str, parse_project};
use crate::index::Vindex;

/// How long a lookup waits for a step in progress before answering 503.
const LOOKUP_WAIT: Duration = Duration::from_secs(5);

/// The most bytes of rendered answers kept for one published leaf.
pub const CACHE_BYTES: usize = 64 << 20;

/// Rendered answers for one published leaf; emptied when another leaf is published.
#[derive(Debug, Default)]
pub struct AnswerCache {
    leaf_index: Option<u64>,
    bytes: usize,
    answers: HashMap<(AnswerVersion, MapKey), Bytes>,
}

impl AnswerCache {
    /// The answer for `key` rendered for leaf `leaf_index`, if kept.
    fn get(&self, leaf_index: u64, key: (AnswerVersion, MapKey)) -> Option<Bytes> {
        (self.leaf_index == Some(leaf_index))
            .then(|| self.answers.get(&key).cloned())
            .flatten()
    }

    /// Keeps `answer` for `key` at leaf `leaf_index` (forgetting other leaves' answers),
    /// unless that would exceed [`CACHE_BYTES`].
    fn put(&mut self, leaf_index: u64, key: (AnswerVersion, MapKey), answer: Bytes) {
        if self.leaf_index != Some(leaf_index) {
            // Only a newer leaf replaces the kept one: a slow request that rendered an
            // answer for the previous leaf must not empty the cache of the current one.
            if self.leaf_index.is_some_and(|kept| kept > leaf_index) {
                return;
            }
            *self = AnswerCache {
                leaf_index: Some(leaf_index),
                ..AnswerCache::default()
            };
        }
        if self.bytes + answer.len() <= CACHE_BYTES {
            self.bytes += answer.len();
            self.answers.insert(key, answer);
        }
    }
}

fn lock_cache(index: &Vindex) -> std::sync::MutexGuard<'_, AnswerCache> {
    // Held only for a map lookup or insert; a poisoned lock still holds valid answers.
    index
        .shared
        .answers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Builds the router over a running index.
pub fn router(index: Vindex) -> Router {
    Router::new()
        .route(
            "/vindex/v1/lookup/{project}",
            get(|index, project| lookup(index, project, AnswerVersion::V1)),
        )
        .route(
            "/vindex/v2/lookup/{project}",
            get(|index, project| lookup(index, project, AnswerVersion::V2)),
        )
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(index)
}

/// A JSON error answer.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn checkpoint(State(index): State<Vindex>) -> Response {
    let note = index.output().checkpoint();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response()
}

async fn tile(State(index): State<Vindex>, Path(path): Path<String>) -> Response {
    let full = format!("tile/{path}");
    let Ok(tile) = Tile::from_path(&full) else {
        return error(StatusCode::BAD_REQUEST, "not a tile path");
    };
    match index.output().read_tile(&tile).await {
        Ok(Some(data)) => {
            let cache = if tile.is_full() {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CACHE_CONTROL, cache),
                ],
                data,
            )
                .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "not covered by the published tree"),
        Err(e) => {
            tracing::error!(error = %e, path = %full, "reading an output tile");
            error(StatusCode::INTERNAL_SERVER_ERROR, "could not read the tile")
        }
    }
}

async fn lookup(
    State(index): State<Vindex>,
    Path(raw): Path<String>,
    version: AnswerVersion,
) -> Response {
    let Some(project) = parse_project(&raw) else {
        return error(
            StatusCode::BAD_REQUEST,
            "not a project name (ASCII letters, digits, '.', '_' and '-', at most 256)",
        );
    };
    let key = MapKey::for_project(&project);
    let mut published = index.shared.published.subscribe();
    let deadline = tokio::time::Instant::now() + LOOKUP_WAIT;
    loop {
        match answer(&index, &project, &key, version) {
            Ok(Some(a)) => {
                return (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    a,
                )
                    .into_response();
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "building a lookup answer");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not build the proof",
                );
            }
        }
        let changed = tokio::time::timeout_at(deadline, published.changed()).await;
        if !matches!(changed, Ok(Ok(()))) {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the index has not published a map for the input log yet",
            );
        }
    }
}

/// The rendered answer for `project`: the one kept for the latest published leaf, else
/// one built now; `None` while the map is not the published one and nothing is kept.
fn answer(
    index: &Vindex,
    project: &str,
    key: &MapKey,
    version: AnswerVersion,
) -> Result<Option<Bytes>, bintrail_tlog::tree::TreeError> {
    let state = index.read();
    let Some(published) = state.published.as_ref() else {
        return Ok(None);
    };
    let leaf_index = published.leaf_index;
    if let Some(kept) = lock_cache(index).get(leaf_index, (version, *key)) {
        return Ok(Some(kept));
    }
    if published.input_size != state.size() {
        return Ok(None);
    }
    let rendered = Bytes::from(render(&state, published, project, key, version)?);
    drop(state);
    lock_cache(index).put(leaf_index, (version, *key), rendered.clone());
    Ok(Some(rendered))
}

/// The answer for `project` from the map as `published` commits to it, in `version`,
/// as the JSON text [`crate::answer::LookupAnswer::to_json`] gives, written straight
/// into one buffer: no answer struct, no string per hash, one proof buffer for every
/// entry.
fn render(
    state: &crate::state::IndexState,
    published: &crate::state::Published,
    project: &str,
    key: &MapKey,
    version: AnswerVersion,
) -> Result<Vec<u8>, bintrail_tlog::tree::TreeError> {
    let entries = state.entries(key);
    let map_proof = state.prove(key).to_text();
    // v2's one proof comes first, so that the answer is sized exactly; v1's per-entry
    // proofs are sized by their bound, ceil(log2(n)) hashes for a tree of n leaves.
    let mut proof = Vec::with_capacity(64);
    let proof_hashes = match version {
        AnswerVersion::V1 => {
            let proof_len = 64 - state.size().saturating_sub(1).leading_zeros() as usize;
            entries.len() * proof_len
        }
        AnswerVersion::V2 => {
            let indices: Vec<u64> = entries.iter().map(|(i, _)| i).collect();
            state.prove_entries_into(&indices, &mut proof)?;
            proof.len()
        }
    };
    // Room for the whole answer, so that it is written without reallocating: a proof
    // hash is 47 bytes in JSON, and escaping the map proof adds one byte a line.
    let mut out = Vec::with_capacity(
        256 + published.checkpoint.len()
            + published.leaf.len()
            + 47 * published.proof.len()
            + 2 * map_proof.len()
            + entries.json_len()
            + entries.len() * 48
            + 47 * proof_hashes,
    );
    out.extend_from_slice(b"{\"version\":");
    json_str(&mut out, version.line().as_bytes());
    out.extend_from_slice(b",\"project\":");
    json_str(&mut out, project.as_bytes());
    out.extend_from_slice(b",\"checkpoint\":");
    json_str(&mut out, &published.checkpoint);
    out.extend_from_slice(b",\"leaf_index\":");
    out.extend_from_slice(published.leaf_index.to_string().as_bytes());
    out.extend_from_slice(b",\"leaf\":");
    json_str(&mut out, &published.leaf);
    out.extend_from_slice(b",\"leaf_proof\":");
    json_hashes(&mut out, &published.proof);
    out.extend_from_slice(b",\"map_proof\":");
    json_str(&mut out, &map_proof);
    out.extend_from_slice(b",\"entries\":[");
    for (n, (i, entry)) in entries.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"index\":");
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(b",\"entry\":");
        out.extend_from_slice(entry);
        if version == AnswerVersion::V1 {
            out.extend_from_slice(b",\"proof\":");
            state.prove_entry_into(i, &mut proof)?;
            json_hashes(&mut out, &proof);
        }
        out.push(b'}');
    }
    out.push(b']');
    if version == AnswerVersion::V2 {
        out.extend_from_slice(b",\"entries_proof\":");
        json_hashes(&mut out, &proof);
    }
    out.push(b'}');
    Ok(out)
}

/// Appends hashes as a JSON array of canonical base64 strings (the answer's proofs).
fn json_hashes(out: &mut Vec<u8>, hashes: &[bintrail_tlog::hash::Hash]) {
    out.push(b'[');
    for (n, h) in hashes.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.push(b'"');
        h.write_base64(out);
        out.push(b'"');
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{AnswerEntry, LookupAnswer};
    use crate::state::{IndexState, Published};
    use bintrail_tlog::hash::Hash;

    /// The answer as a struct, serialized by serde: what `render` must equal byte for byte.
    /// Entry texts come from `leaves` (the input log), not from the state's rendering.
    fn build(
        leaves: &[(u64, Vec<u8>)],
        state: &IndexState,
        published: &Published,
        project: &str,
        key: &MapKey,
        version: AnswerVersion,
    ) -> LookupAnswer {
        let v1 = version == AnswerVersion::V1;
        let indices: Vec<u64> = state.entries(key).iter().map(|(i, _)| i).collect();
        LookupAnswer {
            version: version.line().to_owned(),
            project: project.to_owned(),
            checkpoint: String::from_utf8_lossy(&published.checkpoint).into_owned(),
            leaf_index: published.leaf_index,
            leaf: String::from_utf8_lossy(&published.leaf).into_owned(),
            leaf_proof: published.proof.clone(),
            map_proof: String::from_utf8_lossy(&state.prove(key).to_text()).into_owned(),
            entries: state
                .entries(key)
                .iter()
                .map(|(i, _)| AnswerEntry {
                    index: i,
                    entry: String::from_utf8_lossy(&leaves[i as usize].1).into_owned(),
                    proof: v1.then(|| {
                        let mut proof = Vec::new();
                        state.prove_entry_into(i, &mut proof).unwrap();
                        proof
                    }),
                })
                .collect(),
            entries_proof: (!v1).then(|| {
                let mut proof = Vec::new();
                state.prove_entries_into(&indices, &mut proof).unwrap();
                proof
            }),
        }
    }

    #[test]
    fn rendered_answers_are_the_serde_answer_byte_for_byte() {
        let mut state = IndexState::default();
        // Entries with characters JSON escapes (newlines; quotes and a backslash in the
        // publisher's subject, which allows printable ASCII only), and one that is not
        // UTF-8 at all (never in a project).
        let mut leaves = Vec::new();
        for i in 0..300u64 {
            let name = ["alpha", "beta", "gamma"][(i % 7 % 3) as usize];
            let bytes = format!(
                "pypi-transparency/v1\nsha256:{i:064x}\n{name}-{i}.0-py3-none-any.whl\n\
                 publisher https://issuer.example \"q\"\\x"
            );
            leaves.push((i, bytes.into_bytes()));
        }
        leaves.push((300, vec![0xff, 0xfe, b'\n']));
        state.apply(&leaves).unwrap();
        state.map_root();
        let published = Published {
            leaf_index: 12_345,
            leaf: b"bintrail-vindex-root/v1\nroot\n\"x\"\n".to_vec(),
            input_size: state.size(),
            checkpoint: "o\n1\nAA==\n\n\u{2014} o x\n".as_bytes().to_vec(),
            proof: vec![Hash([1; 32]), Hash([0xfb; 32])],
        };
        // Every leaf but the last is a project entry (an entry that did not parse would
        // be in no answer, and the comparison would test nothing).
        assert_eq!(state.unparsable, 1);
        for project in ["alpha", "beta", "gamma", "absent-one"] {
            let key = MapKey::for_project(project);
            let mut sizes = Vec::new();
            for version in [AnswerVersion::V1, AnswerVersion::V2] {
                let want = build(&leaves, &state, &published, project, &key, version).to_json();
                let got = render(&state, &published, project, &key, version).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{project} {version:?}"
                );
                let parsed = LookupAnswer::parse(&got).unwrap();
                assert_eq!(parsed.project, project);
                assert_eq!(parsed.version().unwrap(), version);
                sizes.push(got.len());
            }
            // About a hundred entries each: one proof for all is far smaller.
            if project != "absent-one" {
                assert!(sizes[1] * 2 < sizes[0], "{project}: {sizes:?}");
            }
        }
        let mut no_leaf_proof = published.clone();
        no_leaf_proof.proof.clear();
        let key = MapKey::for_project("alpha");
        for version in [AnswerVersion::V1, AnswerVersion::V2] {
            assert_eq!(
                render(&state, &no_leaf_proof, "alpha", &key, version).unwrap(),
                build(&leaves, &state, &no_leaf_proof, "alpha", &key, version).to_json()
            );
        }
    }
}
