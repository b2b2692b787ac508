//! `bintrail proxy`: a verifying Python index in front of a real one, so pip and uv
//! verify every file they download without changing their habits (point
//! `--index-url` at the proxy).
//!
//! What it serves:
//!
//! | route | what |
//! |---|---|
//! | `GET /simple/` | the upstream's project list (HTML or JSON, as negotiated upstream) |
//! | `GET /simple/<project>/` | the upstream's project page, each file URL pointing to `/files/<project>/<filename>` |
//! | `GET /files/<project>/<filename>` | the file, verified ([`download`]) |
//! | `GET /metrics` | counters (Prometheus text) |
//!
//! On a download the proxy obtains the file's proof (the page's `inclusion-proof`
//! link, else the index's transparency endpoint, else a lookup in the log named by
//! the policy or the index's `tlog-info`) and verifies it with
//! [`bintrail_client::index::IndexClient`]: the entry must name the file and carry
//! the hash the page lists, the checkpoint must be signed by the log's key (and meet
//! the policy's witness quorum when a policy is pinned), the inclusion proof must
//! hold, and the checkpoint must be consistent with the last one accepted from that
//! log; with an identity policy, the publisher logged in the entry must be one the
//! policy accepts for the file's project. The file is then streamed from upstream while hashed; its last bytes are sent
//! only once its SHA-256 is the logged one, so a failing file never completes at the
//! installer. A refusal before any byte is an HTTP 403 whose reason phrase (which
//! pip prints) and body (which uv prints) say why in one line.
//!
//! Nothing unverified is cached: a verified file and its proof are written to the
//! cache directory only after the last check, so a second install costs no proof
//! traffic. In `report` mode every failure is reported (a JSON line on stderr and
//! `/metrics`) and the file is passed through, never cached.

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cache;
pub mod download;
mod metrics;
mod pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bintrail_client::index::IndexClient;

pub use metrics::Metrics;

/// What the proxy does with a file that fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse it (HTTP 403 before any byte, or an aborted body).
    Enforce,
    /// Pass it through and report the failure.
    Report,
}

/// How the proxy is set up.
#[derive(Debug)]
pub struct Config {
    /// The verifying client for the upstream index (key, state, policy).
    pub client: IndexClient,
    /// Enforce or report.
    pub mode: Mode,
    /// Where verified files and proofs are kept.
    pub cache: PathBuf,
    /// Where evidence of log misbehaviour is POSTed, if anywhere.
    pub report_url: Option<String>,
    /// The publishers accepted per project (empty: no project is constrained).
    pub identities: bintrail_client::identity_policy::IdentityPolicy,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// Returned when the cache directory cannot be created.
    #[error("cache directory {path}: {source}")]
    Cache {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Returned when the HTTP client cannot be built.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Returned when serving fails.
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
}

/// Shared state of a running proxy.
#[derive(Debug)]
pub(crate) struct Proxy {
    pub(crate) config: Config,
    pub(crate) http: reqwest::Client,
    pub(crate) cache: cache::FileCache,
    pub(crate) files: pages::FileTable,
    pub(crate) metrics: Metrics,
}

/// Builds the router for `config`.
pub fn router(config: Config) -> Result<Router, ProxyError> {
    let cache = cache::FileCache::open(&config.cache).map_err(|source| ProxyError::Cache {
        path: config.cache.clone(),
        source,
    })?;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("bintrail-proxy/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let proxy = Arc::new(Proxy {
        config,
        http,
        cache,
        files: pages::FileTable::default(),
        metrics: Metrics::default(),
    });
    Ok(Router::new()
        .route("/simple/", get(project_list))
        .route("/simple/{project}/", get(project_page))
        .route("/files/{project}/{filename}", get(file))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .with_state(proxy))
}

/// Serves `config` on `listener` until the process ends.
pub async fn serve(config: Config, listener: tokio::net::TcpListener) -> Result<(), ProxyError> {
    let app = router(config)?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(ProxyError::Serve)
}

async fn project_list(State(proxy): State<Arc<Proxy>>, headers: HeaderMap) -> Response {
    pages::project_list(&proxy, &headers).await
}

async fn project_page(
    State(proxy): State<Arc<Proxy>>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Response {
    pages::project_page(&proxy, &project, &headers).await
}

async fn file(
    State(proxy): State<Arc<Proxy>>,
    Path((project, filename)): Path<(String, String)>,
) -> Response {
    download::file(proxy, &project, &filename).await
}

async fn metrics_text(State(proxy): State<Arc<Proxy>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        proxy.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not found")
}

/// A JSON error body `{"error": ...}` with `status`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
