//! The witness's HTTP interface: `POST /add-checkpoint` and
//! `GET /<origin hash>/checkpoint` (C2SP tlog-witness), `GET /healthz` and
//! `GET /metrics` for its operator, and a server loop with timeouts.
//!
//! Errors map to statuses in one place, [`error_response`]: transport here,
//! logic in [`crate::Witness`], as Sunlight's witness separates them.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::metrics::WitnessMetrics;
use crate::{AddCheckpointError, Witness};

/// The largest `add-checkpoint` body accepted: 63 proof lines (45 bytes each)
/// plus a checkpoint note with its signatures fit in a few KiB; 64 KiB leaves
/// room for many signatures and extension lines without letting a client make
/// the witness buffer much.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a whole request, body included, may take before 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

pub use bintrail_tlog::witness::SIZE_CONTENT_TYPE;

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    witness: Arc<Witness>,
    metrics: Arc<WitnessMetrics>,
}

/// Builds the witness's routes with body limit and timeout.
pub fn router(witness: Arc<Witness>) -> Router {
    let state = AppState {
        witness,
        metrics: Arc::new(WitnessMetrics::default()),
    };
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/{origin_hash}/checkpoint", get(latest_checkpoint))
        // Every answer carries a JSON error body, unknown paths and methods
        // too (finding W2 in RELIABILITY.md: axum's defaults send none).
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Serves `router` on `listener` until this future is dropped, which also
/// closes every open connection (they live in a `JoinSet` owned here). Each
/// connection gets HTTP/1.1 keep-alive (tlog-witness: clients SHOULD reuse
/// connections) and a header read timeout, so a client that trickles headers,
/// or sends nothing at all, is dropped.
pub async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // An h2 peer that stops answering pings is dropped (finding W1b in
    // RELIABILITY.md: a connection that sent only the preface stayed open).
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(HEADER_READ_TIMEOUT))
        .keep_alive_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of file descriptors and similar: back off instead of spinning.
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let builder = Arc::clone(&builder);
        connections.spawn(async move {
            // hyper's header read timeout starts with a request's first byte,
            // so a connection that never sends one would hold a descriptor
            // forever (finding W1 in RELIABILITY.md): give it the same bound
            // to start. `peek` leaves the byte for hyper.
            let mut first = [0u8; 1];
            match tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            if let Err(err) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%err, "connection ended with an error");
            }
        });
    }
}

async fn add_checkpoint(State(state): State<AppState>, body: Bytes) -> Response {
    let now = unix_now();
    let started = Instant::now();
    let witness = state.witness;
    // SQLite and signature checks block; keep them off the async workers.
    let result = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await;
    if let Ok(outcome) = &result {
        state
            .metrics
            .record(outcome.as_ref().map(|_| ()), started.elapsed());
    }
    match result {
        Ok(Ok(signatures)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            signatures,
        )
            .into_response(),
        Ok(Err(err)) => error_response(&err),
        Err(join) => {
            tracing::error!(%join, "add-checkpoint task failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// `GET /healthz`: `ok` when the state database answers, else a JSON 503.
async fn healthz(State(state): State<AppState>) -> Response {
    let witness = state.witness;
    match tokio::task::spawn_blocking(move || witness.store().logs()).await {
        Ok(Ok(_)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok\n",
        )
            .into_response(),
        Ok(Err(err)) => {
            tracing::error!(%err, "health check: witness storage failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "witness storage failed")
        }
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "health check failed"),
    }
}

/// `GET /metrics`: Prometheus text (see [`crate::metrics`]).
async fn metrics(State(state): State<AppState>) -> Response {
    let witness = Arc::clone(&state.witness);
    let read = tokio::task::spawn_blocking(move || {
        let store = witness.store();
        Ok::<_, crate::store::StoreError>((store.logs()?, store.evidence_count()?))
    })
    .await;
    match read {
        Ok(Ok((logs, evidence))) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.metrics.render(&logs, evidence),
        )
            .into_response(),
        Ok(Err(err)) => {
            tracing::error!(%err, "metrics: witness storage failed");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "witness storage failed")
        }
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn latest_checkpoint(
    State(state): State<AppState>,
    Path(origin_hash): Path<String>,
) -> Response {
    let witness = state.witness;
    let result = tokio::task::spawn_blocking(move || witness.latest_checkpoint(&origin_hash)).await;
    match result {
        Ok(Ok(Some(note))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            note,
        )
            .into_response(),
        Ok(Ok(None)) => json_error(StatusCode::NOT_FOUND, "no checkpoint cosigned for this log"),
        Ok(Err(err)) => error_response(&err),
        Err(join) => {
            tracing::error!(%join, "checkpoint task failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// Maps every witness error to its tlog-witness status. Storage details are
/// logged, not sent.
pub fn error_response(err: &AddCheckpointError) -> Response {
    use AddCheckpointError as E;
    let status = match err {
        E::Malformed(_)
        | E::MalformedCheckpoint(_)
        | E::OldSizeAfterNew { .. }
        | E::TreeTooLarge { .. } => StatusCode::BAD_REQUEST,
        E::UnknownLog { .. } => StatusCode::NOT_FOUND,
        E::BadLogSignature { .. } => StatusCode::FORBIDDEN,
        E::OldSizeMismatch { stored_size, .. } => return size_conflict(*stored_size),
        E::NonEmptyRootForEmptyTree
        | E::ProofForOldZero
        | E::RootMismatch { .. }
        | E::BadConsistencyProof { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::ClockUnset => {
            tracing::error!("system clock is before 1970; refusing to cosign");
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "witness clock is not set",
            );
        }
        // Finding W3 in RELIABILITY.md: a full disk is the operator's to fix
        // and clients may retry, so it gets its own status, not a bare 500.
        E::Store(store) if store.is_disk_full() => {
            tracing::error!(err = %store, "witness storage is full");
            return json_error(StatusCode::INSUFFICIENT_STORAGE, "witness storage is full");
        }
        E::Store(store) => {
            tracing::error!(err = %store, "witness storage failed");
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "witness storage failed");
        }
    };
    tracing::info!(label = err.label(), %err, "add-checkpoint refused");
    json_error(status, &err.to_string())
}

/// The 409 answer: the stored size in decimal and a newline, as
/// `text/x.tlog.size`.
fn size_conflict(stored_size: u64) -> Response {
    let mut response = (StatusCode::CONFLICT, format!("{stored_size}\n")).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SIZE_CONTENT_TYPE),
    );
    response
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message });
    (status, axum::Json(body)).into_response()
}

fn unix_now() -> u64 {
    // A clock before 1970 is a broken host; the witness refuses to cosign at 0.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
