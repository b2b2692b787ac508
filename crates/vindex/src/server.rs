//! The index's HTTP API.
//!
//! | method, path | answer |
//! |---|---|
//! | `GET /vindex/v1/lookup/<project>` | the lookup answer ([`crate::answer`]), JSON |
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

use crate::answer::{AnswerEntry, LOOKUP_VERSION, LookupAnswer, parse_project};
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
    answers: HashMap<MapKey, Bytes>,
}

impl AnswerCache {
    /// The answer for `key` rendered for leaf `leaf_index`, if kept.
    fn get(&self, leaf_index: u64, key: &MapKey) -> Option<Bytes> {
        (self.leaf_index == Some(leaf_index))
            .then(|| self.answers.get(key).cloned())
            .flatten()
    }

    /// Keeps `answer` for `key` at leaf `leaf_index` (forgetting other leaves' answers),
    /// unless that would exceed [`CACHE_BYTES`].
    fn put(&mut self, leaf_index: u64, key: MapKey, answer: Bytes) {
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
        .route("/vindex/v1/lookup/{project}", get(lookup))
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

async fn lookup(State(index): State<Vindex>, Path(raw): Path<String>) -> Response {
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
        match answer(&index, &project, &key) {
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
) -> Result<Option<Bytes>, bintrail_tlog::tree::TreeError> {
    let state = index.read();
    let Some(published) = state.published.as_ref() else {
        return Ok(None);
    };
    let leaf_index = published.leaf_index;
    if let Some(kept) = lock_cache(index).get(leaf_index, key) {
        return Ok(Some(kept));
    }
    if published.input_size != state.size() {
        return Ok(None);
    }
    let rendered = Bytes::from(build(&state, published, project, key)?.to_json());
    drop(state);
    lock_cache(index).put(leaf_index, *key, rendered.clone());
    Ok(Some(rendered))
}

/// The answer for `project` from the map as `published` commits to it.
fn build(
    state: &crate::state::IndexState,
    published: &crate::state::Published,
    project: &str,
    key: &MapKey,
) -> Result<LookupAnswer, bintrail_tlog::tree::TreeError> {
    let mut entries = Vec::new();
    for (i, bytes) in state.entries(key) {
        entries.push(AnswerEntry {
            index: *i,
            entry: String::from_utf8_lossy(bytes).into_owned(),
            proof: state.prove_entry(*i)?,
        });
    }
    Ok(LookupAnswer {
        version: LOOKUP_VERSION.to_owned(),
        project: project.to_owned(),
        checkpoint: String::from_utf8_lossy(&published.checkpoint).into_owned(),
        leaf_index: published.leaf_index,
        leaf: String::from_utf8_lossy(&published.leaf).into_owned(),
        leaf_proof: published.proof.clone(),
        map_proof: String::from_utf8_lossy(&state.prove(key).to_text()).into_owned(),
        entries,
    })
}
