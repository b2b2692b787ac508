//! The public read endpoints: checkpoint, tiles (C2SP tlog-tiles), lookups and
//! operations.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bintrail_tlog::pypi::Filename;
use bintrail_tlog::tile::Tile;
use bytes::Bytes;

use super::{ApiError, AppState};

/// Full tiles never change (tlog-tiles), so caches may keep them for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";
const TEXT: &str = "text/plain; charset=utf-8";

fn with_headers(
    body: impl IntoResponse,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The path parameter, or a JSON 400: axum's own rejection (for example a
/// percent-encoded byte sequence that is not UTF-8) is plain text, which
/// clients expecting `{"error"}` cannot read (finding L2 in RELIABILITY.md).
fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(p)| p).map_err(|e| ApiError::BadRequest {
        message: format!("invalid path: {}", e.body_text()),
    })
}

/// `GET /checkpoint`: the latest published signed checkpoint.
pub(super) async fn checkpoint(State(state): State<AppState>) -> Response {
    with_headers(state.log.checkpoint(), TEXT, NO_CACHE)
}

/// `GET /policy`: the tlog-policy verifiers can save; it changes only when the
/// operator restarts the log with another policy, so caches revalidate.
pub(super) async fn policy(State(state): State<AppState>) -> Response {
    with_headers(state.policy.clone(), TEXT, NO_CACHE)
}

/// `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]`. The path is
/// parsed strictly (canonical form only); tiles beyond the published tree are 404.
pub(super) async fn tile(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let path = path_param(path)?;
    let full_path = format!("tile/{path}");
    let tile = Tile::from_path(&full_path).map_err(|e| ApiError::BadRequest {
        message: e.to_string(),
    })?;
    let data: Option<Bytes> = state
        .log
        .read_tile(&tile)
        .await
        .map_err(|e| ApiError::Internal {
            detail: format!("reading {full_path}: {e}"),
        })?;
    let data = data.ok_or_else(|| ApiError::NotFound {
        message: format!("{full_path} is not covered by the published tree"),
    })?;
    let cache = if tile.is_full() { IMMUTABLE } else { NO_CACHE };
    Ok(with_headers(data, "application/octet-stream", cache))
}

/// `GET /lookup/pypi/<filename>`: the `c2sp.org/tlog-proof@v1` of that file against
/// the latest published checkpoint.
pub(super) async fn lookup(
    State(state): State<AppState>,
    filename: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let filename = path_param(filename)?;
    let parsed: Filename = filename.parse().map_err(|e| ApiError::BadRequest {
        message: format!("invalid filename {filename:?}: {e}"),
    })?;
    let found = state
        .log
        .lookup(parsed.as_str())
        .await
        .map_err(|e| ApiError::Internal {
            detail: format!("lookup {filename}: {e}"),
        })?;
    let added = found.ok_or_else(|| ApiError::NotFound {
        message: format!("{filename} is not logged"),
    })?;
    Ok(with_headers(added.tlog_proof().to_bytes(), TEXT, NO_CACHE))
}

/// The key never changes for an origin (the draft: "a given log origin MUST have only
/// one associated key ever"); an hour bounds how long a cache outlives an operator who
/// moves a URL to a new origin and key.
const KEY_CACHE: &str = "public, max-age=3600";

/// `GET /.well-known/bt/tlog-key`: the draft PEP's key document (`signature_algorithm`
/// and the base64 public key, encoded as `bintrail_pyindex::wellknown` says).
pub(super) async fn tlog_key(State(state): State<AppState>) -> Response {
    let doc = bintrail_pyindex::wellknown::TlogKey::for_verifier(&state.verifier);
    with_headers(doc.to_json(), "application/json", KEY_CACHE)
}

/// `GET /healthz`: `ok` while the server answers requests.
pub(super) async fn healthz() -> Response {
    with_headers("ok\n", TEXT, NO_CACHE)
}

/// `GET /healthz/sequencer`: whether this frontend can sequence (holds the lease, or runs
/// on the embedded storage): 200 `sequencing`, else 503 `standby`, for load balancers that
/// send writes to the sequencer.
pub(super) async fn healthz_sequencer(State(state): State<AppState>) -> Response {
    if state.log.can_sequence() {
        with_headers("sequencing\n", TEXT, NO_CACHE)
    } else {
        let mut r = with_headers("standby\n", TEXT, NO_CACHE);
        *r.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
        r
    }
}

/// `GET /`: a small HTML page for a person who opens the log in a browser: its
/// origin, key, tree size, checkpoint age, witness policy, and where to go next.
pub(super) async fn home(State(state): State<AppState>) -> Response {
    let stats = state.log.stats();
    let policy = String::from_utf8_lossy(&state.policy);
    let witnesses: Vec<&str> = policy
        .lines()
        .filter(|l| {
            l.starts_with("witness ") || l.starts_with("group ") || l.starts_with("quorum ")
        })
        .collect();
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>bintrail log {origin}</title></head>\n\
         <body>\n<h1>bintrail transparency log</h1>\n<dl>\n\
         <dt>origin</dt><dd><code>{origin}</code></dd>\n\
         <dt>key (vkey)</dt><dd><code>{vkey}</code></dd>\n\
         <dt>tree size</dt><dd>{size}</dd>\n\
         <dt>checkpoint age</dt><dd>{age} s</dd>\n\
         <dt>witnesses</dt><dd><pre>{witnesses}</pre></dd>\n</dl>\n\
         <p><a href=\"checkpoint\">checkpoint</a> · <a href=\"policy\">policy</a> (save it with \
         <code>bintrail policy --log URL --out bintrail.policy</code>) · \
         <a href=\"metrics\">metrics</a> · <a href=\"healthz\">healthz</a> · \
         <a href=\"https://c2sp.org/tlog-tiles\">tlog-tiles</a> · \
         <a href=\"https://c2sp.org/tlog-proof\">tlog-proof</a></p>\n</body></html>\n",
        origin = html_escape(state.verifier.name()),
        vkey = html_escape(&state.verifier.to_string()),
        size = stats.tree_size,
        age = stats.checkpoint_age.as_secs(),
        witnesses = if witnesses.is_empty() {
            "none (quorum none)".to_owned()
        } else {
            html_escape(&witnesses.join("\n"))
        },
    );
    with_headers(page, "text/html; charset=utf-8", NO_CACHE)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /metrics`: Prometheus text format 0.0.4.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.log.stats());
    with_headers(text, "text/plain; version=0.0.4; charset=utf-8", NO_CACHE)
}
