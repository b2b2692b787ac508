//! Writes on a frontend that does not sequence: forwarded to the one that does.
//!
//! Several frontends share one bucket and database (`CloudStorage`); one holds the
//! sequencing lease and records in it the URL where it takes adds. Every other frontend
//! checks a write itself (token, body, entry), then sends the same request to that URL
//! and relays the answer. The client's acknowledgment is therefore always the
//! sequencer's own: a 200 only once the entry is committed and a checkpoint covering it
//! published. If the sequencer dies with the add in its pool, the forwarding frontend
//! answers a 503 (the add was either committed, and a retry returns its index with
//! `existing: true`, or lost before anything acknowledged it); if this frontend dies,
//! its client sees the connection fail. Neither acknowledges an add that is then lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use super::{ApiError, AppState};
use crate::metrics::ExtraMetrics;

/// Marks a forwarded request: a frontend that receives one while it does not sequence
/// (the lease moved meanwhile) refuses it with a 503 rather than forwarding it again.
pub const FORWARDED: HeaderName = HeaderName::from_static("bintrail-forwarded");

/// HTTP/2 connections a frontend keeps to the sequencer for forwarded writes. Each carries
/// up to the sequencer's stream limit (64 by default) at once, and a forwarded add holds its
/// stream until the checkpoint covering it is published (about one checkpoint interval), so
/// this bounds forwarded adds in flight: 256 × 64 = 16,384.
const CONNECTIONS: usize = 256;

/// Where a frontend that does not sequence sends writes.
#[derive(Clone)]
pub struct Forwarder {
    leader: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// One client per connection (a client keeps one HTTP/2 connection per host), for
    /// `http://` and for `https://` sequencers, each made on first use; `next` spreads
    /// writes over them.
    clients: Arc<[[std::sync::OnceLock<reqwest::Client>; 2]]>,
    next: Arc<AtomicU64>,
    wait: Duration,
    counts: Arc<Counts>,
}

/// Forwarded writes by outcome, for `GET /metrics`.
#[derive(Default)]
struct Counts {
    relayed: AtomicU64,
    failed: AtomicU64,
}

impl ExtraMetrics for Counts {
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "# HELP bintrail_forwarded_writes_total Adds and bulk appends this frontend forwarded to the sequencing frontend, by outcome (relayed: its answer was passed on; failed: a 503 because it did not answer).\n\
             # TYPE bintrail_forwarded_writes_total counter\n\
             bintrail_forwarded_writes_total{{outcome=\"relayed\"}} {}\n\
             bintrail_forwarded_writes_total{{outcome=\"failed\"}} {}\n",
            self.relayed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        );
    }
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("leader", &(self.leader)())
            .finish()
    }
}

impl Forwarder {
    /// Forwards to the URL `leader` returns (the lease holder's, `None` while no frontend
    /// holds the lease), waiting up to `wait` (about two add timeouts) beyond the time the
    /// body may take for the answer.
    pub fn new(
        leader: impl Fn() -> Option<String> + Send + Sync + 'static,
        wait: Duration,
    ) -> Forwarder {
        Forwarder {
            leader: Arc::new(leader),
            wait,
            counts: Arc::default(),
            clients: (0..CONNECTIONS).map(|_| Default::default()).collect(),
            next: Arc::default(),
        }
    }

    /// The client for the next forwarded write. Frontends speak HTTP/2 to each other: over
    /// TLS it is negotiated (ALPN), over plain TCP the sequencer is known to take it (h2c
    /// with prior knowledge), so every add in flight does not need a TCP connection of its
    /// own, opened and closed again as the load varies.
    fn client(&self, url: &str) -> reqwest::Client {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.clients.len();
        let plain = url.starts_with("http://");
        self.clients[slot][usize::from(!plain)]
            .get_or_init(|| {
                // Adds are small and the sequencer near: a connection that cannot be made
                // in 2 s belongs to a dead frontend, and the client is told to retry.
                let builder = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .http2_keep_alive_interval(Duration::from_secs(10))
                    .http2_keep_alive_timeout(Duration::from_secs(5));
                let builder = if plain {
                    builder.http2_prior_knowledge()
                } else {
                    builder
                };
                builder.build().unwrap_or_default()
            })
            .clone()
    }
}

impl Forwarder {
    /// The series this forwarder adds to `GET /metrics`.
    pub fn metrics(&self) -> Arc<dyn ExtraMetrics> {
        self.counts.clone()
    }
}

/// If this frontend cannot sequence and forwards writes, sends `body` (already checked
/// here) to the sequencer's `path` with the client's token and relays its answer, waiting
/// up to `body_time` plus the forwarder's wait; `None` when this frontend handles the
/// write itself.
pub(super) async fn forward_if_follower(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    body_time: Duration,
) -> Option<Result<Response, ApiError>> {
    let forwarder = state.opts.forward.as_ref()?;
    if state.log.can_sequence() {
        return None;
    }
    let retry_after = state.opts.retry_after;
    let unavailable = |message: String| ApiError::Unavailable {
        message,
        retry_after,
        index: None,
    };
    if headers.contains_key(FORWARDED) {
        return Some(Err(unavailable(
            "this frontend no longer sequences (the lease moved); retry".to_owned(),
        )));
    }
    let Some(url) = (forwarder.leader)() else {
        return Some(Err(unavailable(
            "the sequencer is unavailable: no frontend holds the sequencing lease right now; retry"
                .to_owned(),
        )));
    };
    let mut request = forwarder
        .client(&url)
        .post(format!("{url}{path}"))
        .header(FORWARDED, "1")
        .timeout(body_time + forwarder.wait)
        .body(body.clone());
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let failed = |e: reqwest::Error| {
        tracing::warn!(%url, error = %e, "forwarding a write to the sequencing frontend failed");
        unavailable(format!(
            "the sequencing frontend did not answer ({}); retry the same add",
            if e.is_timeout() {
                "timed out"
            } else {
                "connection failed"
            }
        ))
    };
    let exchange = async {
        let answer = request.send().await.map_err(failed)?;
        let status = answer.status();
        let headers = answer.headers().clone();
        // The whole answer before relaying it: a sequencer that dies mid-answer becomes a
        // 503, never a truncated 200.
        let bytes = answer.bytes().await.map_err(failed)?;
        Ok::<_, ApiError>((status, headers, bytes))
    };
    let counts = &forwarder.counts;
    let (status, headers, bytes) = tokio::select! {
        answer = exchange => match answer {
            Ok(answer) => answer,
            Err(e) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                return Some(Err(e));
            }
        },
        () = lease_moves(forwarder, &url) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            return Some(Err(unavailable(
                "the sequencer is unavailable: its lease ran out or moved while it held this add; retry the same add"
                    .to_owned(),
            )));
        }
    };
    counts.relayed.fetch_add(1, Ordering::Relaxed);
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut kept = Vec::new();
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(value) = headers.get(name.as_str())
            && let Ok(value) = HeaderValue::from_bytes(value.as_bytes())
        {
            kept.push((name, value));
        }
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().extend(kept);
    Some(Ok(response))
}

/// Resolves once `url` is no longer the lease holder's as this frontend last read it (another
/// frontend or this one took the lease, or it ran out more than a lease ago): a sequencer
/// paused or cut off with the add must not hold the client until the whole timeout.
async fn lease_moves(forwarder: &Forwarder, url: &str) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if (forwarder.leader)().as_deref() != Some(url) {
            return;
        }
    }
}

/// The URL other frontends reach a frontend listening on `addr` at: the scheme and the
/// address, with the host name for an unspecified address (`0.0.0.0`, `::`).
pub fn advertised_url(addr: std::net::SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let host = match addr.ip() {
        ip if ip.is_unspecified() => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into()),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("{scheme}://{host}:{}", addr.port())
}

#[cfg(test)]
mod tests {
    use super::advertised_url;

    #[test]
    fn advertised_url_names_the_bound_address() {
        assert_eq!(
            advertised_url("127.0.0.1:8080".parse().unwrap(), false),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            advertised_url("[::1]:443".parse().unwrap(), true),
            "https://[::1]:443"
        );
        let any = advertised_url("0.0.0.0:8080".parse().unwrap(), false);
        assert!(
            any.starts_with("http://") && !any.contains("0.0.0.0"),
            "{any}"
        );
    }
}
