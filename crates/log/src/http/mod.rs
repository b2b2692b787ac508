//! The log's HTTP API: authenticated writes, public tlog-tiles reads, operations.
//!
//! | method, path | auth | answer |
//! |---|---|---|
//! | `POST /add` | bearer | JSON with index, checkpoint, inclusion proof, tlog-proof |
//! | `POST /admin/bulk/append` | bearer | NDJSON stream, one result per line, in order |
//! | `GET /checkpoint` | - | the signed checkpoint note, `no-cache` |
//! | `GET /tile/<L>/<N>[.p/<W>]`, `GET /tile/entries/<N>[.p/<W>]` | - | tile bytes; full tiles `immutable` |
//! | `GET /lookup/pypi/<filename>` | - | the file's `c2sp.org/tlog-proof@v1` text, or 404 |
//! | `GET /.well-known/bt/tlog-key` | - | the draft PEP's key JSON (`signature_algorithm`, `public_key`), cacheable |
//! | `GET /policy` | - | the log's C2SP tlog-policy (its key, witnesses, quorum), `text/plain` |
//! | `GET /healthz` | - | `ok` |
//! | `GET /healthz/sequencer` | - | `sequencing` (200) while this frontend can sequence, `standby` (503) while another holds the lease (this one then forwards writes to it, see `forward.rs`) |
//! | `GET /metrics` | - | Prometheus text |
//!
//! Request and response shapes of `/add` and the bulk endpoint follow the Go log
//! trailofbits/bt-log (`cmd/bt-log/main.go`, `cmd/bt-log/bulk_append.go`), so its
//! clients keep working. Errors are JSON `{"error": "..."}` with the status chosen
//! in one place, [`error::ApiError`].

mod bulk;
pub mod error;
pub mod forward;
mod read;
mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use bintrail_tlog::note::Verifier;
use bytes::Bytes;

use crate::auth::{Authenticator, bearer_token};
use crate::log::Log;
use crate::metrics::{ExtraMetrics, HttpMetrics, Route};
pub use error::ApiError;

/// Limits and timings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest `POST /add` body, in bytes.
    pub max_add_body: usize,
    /// Largest `POST /admin/bulk/append` body, in bytes.
    pub max_bulk_body: usize,
    /// Most non-empty lines in one bulk request; more is a 413.
    pub max_bulk_entries: usize,
    /// A request body must arrive completely within this time (408 otherwise).
    pub body_timeout: Duration,
    /// The same for bulk bodies, which are far larger.
    pub bulk_body_timeout: Duration,
    /// The `Retry-After` hint on 503s; about one checkpoint interval.
    pub retry_after: Duration,
    /// The Sigstore trusted root attestations are verified against; `None` is the bundled
    /// public-good root.
    pub sigstore_root: Option<Arc<bintrail_attest::TrustRoot>>,
    /// On a frontend sharing its log with others (object storage and PostgreSQL): where
    /// writes go while this one does not sequence. `None`: every write is this log's.
    pub forward: Option<forward::Forwarder>,
}

impl HttpOptions {
    /// The Sigstore trusted root for attestations in adds.
    pub fn sigstore_root(&self) -> &bintrail_attest::TrustRoot {
        match &self.sigstore_root {
            Some(root) => root,
            None => default_sigstore_root(),
        }
    }
}

/// The bundled public-good trusted root, prepared once.
fn default_sigstore_root() -> &'static bintrail_attest::TrustRoot {
    static ROOT: std::sync::OnceLock<bintrail_attest::TrustRoot> = std::sync::OnceLock::new();
    ROOT.get_or_init(bintrail_attest::TrustRoot::production)
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_add_body: 16 * 1024,
            max_bulk_body: 256 * 1024 * 1024,
            max_bulk_entries: crate::config::DEFAULT_MAX_BULK_ENTRIES,
            body_timeout: crate::config::DEFAULT_BODY_TIMEOUT,
            bulk_body_timeout: crate::config::DEFAULT_BULK_BODY_TIMEOUT,
            retry_after: Duration::from_secs(1),
            sigstore_root: None,
            forward: None,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    log: Log,
    verifier: Verifier,
    auth: Arc<Authenticator>,
    metrics: Arc<HttpMetrics>,
    opts: Arc<HttpOptions>,
    policy: Bytes,
}

/// Builds the router over an open log. `verifier` is the log's public key (used to
/// read tree sizes back out of its own checkpoints); `auth` decides who may write;
/// `policy` is the tlog-policy text served as it is at `GET /policy`.
pub fn router(
    log: Log,
    verifier: Verifier,
    auth: Arc<Authenticator>,
    opts: HttpOptions,
    policy: Bytes,
) -> Router {
    router_with_metrics(log, verifier, auth, opts, policy, None)
}

/// Like [`router`], with `extra` series appended to `GET /metrics`.
pub fn router_with_metrics(
    log: Log,
    verifier: Verifier,
    auth: Arc<Authenticator>,
    opts: HttpOptions,
    policy: Bytes,
    extra: Option<Arc<dyn ExtraMetrics>>,
) -> Router {
    let state = AppState {
        log,
        verifier,
        auth,
        metrics: Arc::new(HttpMetrics::with_extra(extra)),
        opts: Arc::new(opts),
        policy,
    };
    Router::new()
        .route("/", get(read::home))
        .route("/add", post(write::add))
        .route("/admin/bulk/append", post(bulk::bulk_append))
        .route("/checkpoint", get(read::checkpoint))
        .route("/tile/{*path}", get(read::tile))
        .route("/lookup/pypi/{filename}", get(read::lookup))
        .route("/policy", get(read::policy))
        .route("/.well-known/bt/tlog-key", get(read::tlog_key))
        .route("/healthz", get(read::healthz))
        .route("/healthz/sequencer", get(read::healthz_sequencer))
        .route("/metrics", get(read::metrics))
        .fallback(|| async {
            ApiError::NotFound {
                message: "no such endpoint".to_owned(),
            }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .with_state(state)
}

/// Counts every response by route and status for `/metrics`.
async fn count_responses(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let route = match path {
        "/add" => Route::Add,
        "/admin/bulk/append" => Route::BulkAppend,
        "/checkpoint" => Route::Checkpoint,
        "/healthz" | "/healthz/sequencer" | "/metrics" | "/policy" | "/.well-known/bt/tlog-key" => {
            Route::Ops
        }
        p if p.starts_with("/tile/") => Route::Tile,
        p if p.starts_with("/lookup/") => Route::Lookup,
        _ => Route::Other,
    };
    let response = next.run(req).await;
    state
        .metrics
        .record_response(route, response.status().as_u16());
    response
}

/// Extractor: the request carries a valid bearer token. Holds the token's name
/// (never the token). Rejects with 401, or 503 while the tokens file cannot be used.
pub struct Authorized(pub String);

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer_token(v.as_bytes()))
            .ok_or(ApiError::Unauthorized)?;
        match state.auth.authenticate(token) {
            Some(name) => Ok(Authorized(name)),
            // Fail closed, and say why: no token is valid until the file is fixed.
            None if state.auth.is_unusable() => Err(ApiError::Unavailable {
                message: "the log cannot use its tokens file; every write is refused until an operator fixes it".to_owned(),
                retry_after: state.opts.retry_after,
                index: None,
            }),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// Checks the request's media type (ignoring parameters such as `charset`).
/// A missing `Content-Type` is accepted only when `allow_missing`.
fn require_content_type(
    headers: &HeaderMap,
    want: &'static str,
    allow_missing: bool,
) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return if allow_missing {
            Ok(())
        } else {
            Err(ApiError::UnsupportedMediaType(want))
        };
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(e) if e.eq_ignore_ascii_case(want) => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(want)),
    }
}

/// Reads a request body of at most `limit` bytes within `timeout`.
/// Errors: 413 when `Content-Length` or the bytes received exceed the limit, 408
/// when the body is too slow, 400 when the connection fails mid-body.
async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::TooLarge {
        message: format!("request body is larger than {limit} bytes"),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::BodyTimeout(timeout)),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) => {
            let over_limit = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if over_limit {
                Err(too_large())
            } else {
                Err(ApiError::BadRequest {
                    message: format!("reading the request body: {err}"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::add_token;
    use crate::keys::generate_signer;
    use crate::log::LogOptions;
    use axum::body::Body;
    use axum::http::StatusCode;
    use bintrail_tlog::note::KeyType;
    use rand::SeedableRng;
    use tower::ServiceExt;

    /// A router over a real log in a temporary directory, and a valid token.
    async fn app(opts: HttpOptions) -> (Router, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let signer = generate_signer("test.example/log", KeyType::Ed25519, &mut rng).unwrap();
        let tokens = dir.path().join("tokens");
        let token = add_token(&tokens, "test", &mut rng).unwrap();
        let log = Log::<bintrail_tlog::pypi::Entry>::open(LogOptions {
            data_dir: dir.path().join("data"),
            signer: signer.clone(),
            checkpoint_interval: Duration::from_millis(50),
            max_batch_entries: 100,
            max_pending_entries: 1000,
            add_timeout: Duration::from_secs(5),
        })
        .await
        .unwrap();
        let auth = Arc::new(Authenticator::open(&tokens).unwrap());
        let policy = Bytes::from(format!("log {}\nquorum none\n", signer.verifier()));
        let router = router(log, signer.verifier(), auth, opts, policy);
        (router, token.expose().to_owned(), dir)
    }

    fn post_add(token: &str, body: Body) -> Request {
        Request::post("/add")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_that_stalls_gets_408() {
        let opts = HttpOptions {
            body_timeout: Duration::from_millis(200),
            ..HttpOptions::default()
        };
        let (app, token, _dir) = app(opts).await;
        let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
            b"{\"filename\":",
        ))]);
        let stalled = futures::StreamExt::chain(first, futures::stream::pending());
        let response = app
            .oneshot(post_add(&token, Body::from_stream(stalled)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_limit_gets_413() {
        let opts = HttpOptions {
            max_add_body: 64,
            ..HttpOptions::default()
        };
        let (app, token, _dir) = app(opts).await;
        // No Content-Length: the limit must hold while reading.
        let chunks = futures::stream::iter(
            (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b' '; 16]))),
        );
        let response = app
            .oneshot(post_add(&token, Body::from_stream(chunks)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn add_through_the_router() {
        let (app, token, _dir) = app(HttpOptions::default()).await;
        let body = r#"{"filename":"a-1.0.tar.gz","checksum":"sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"}"#;
        let response = app
            .oneshot(post_add(&token, Body::from(body)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["index"], 0);
        assert_eq!(json["existing"], false);
    }
}
