//! Bytes queued to clients (issue 19, finding H3): cleartext HTTP/2 clients with a zero
//! window, asking for entry bundles on many streams and answering PINGs, made the log hold
//! every response for as long as they liked.
//!
//! Two bounds, applied to every response by [`wrap`]:
//! - A budget shared by all connections ([`SendBudget`]): a response body of known size is
//!   charged against it before it is handed to hyper, and the charge is returned when the
//!   body is dropped (sent, or its stream reset or connection closed). When the budget is
//!   spent the request gets a JSON 503 with `Retry-After` instead, so however many clients
//!   stall, the bodies waiting for them never hold more than the budget. Streamed bodies
//!   (the bulk append's result lines, behind a token) are not charged.
//! - Progress ([`Waiting`], [`stalled`]): each response records since when it has been
//!   waiting for its client to take more of it; a body is handed over in chunks of at most
//!   [`CHUNK`] bytes, and hyper asks for the next chunk only once the client has opened its
//!   window (HTTP/2) or drained the socket (HTTP/1.1) for the previous one. The connection
//!   is closed when one of its responses has waited longer than the send timeout: a client
//!   that answers PINGs but never reads cannot keep its share of the budget.
//!
//! Both bounds are counted in [`OutboundStats`], which `GET /metrics` renders, so an
//! operator sees when slow clients are being refused or cut off.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::ExtraMetrics;

/// The most bytes of a body handed to hyper at once: what one stream can hold beyond the
/// client's window, with the server's 16 KiB send buffer.
pub(crate) const CHUNK: usize = 16 * 1024;

/// What the two bounds did since the server started, for `GET /metrics` (it is an
/// [`ExtraMetrics`]). Made by whoever builds the router and handed to
/// [`crate::server::serve_connections`] through [`crate::server::ConnectionLimits`].
#[derive(Debug, Default)]
pub struct OutboundStats {
    /// Requests answered with the budget's 503.
    refused: AtomicU64,
    /// Connections closed because a response waited longer than the send timeout.
    stalled: AtomicU64,
    /// Bytes charged to bodies now, and the budget (set when serving starts).
    in_use: AtomicU64,
    budget: AtomicU64,
}

impl ExtraMetrics for OutboundStats {
    fn render(&self, out: &mut String) {
        let families = [
            (
                "bintrail_send_budget_bytes",
                "gauge",
                "Bytes of response bodies that may wait for clients at once (--max-queued-bytes).",
                &self.budget,
            ),
            (
                "bintrail_send_budget_used_bytes",
                "gauge",
                "Bytes of response bodies waiting for clients now.",
                &self.in_use,
            ),
            (
                "bintrail_send_budget_refusals_total",
                "counter",
                "Requests answered 503 because the bodies waiting for slow clients filled the budget.",
                &self.refused,
            ),
            (
                "bintrail_stalled_connections_closed_total",
                "counter",
                "Connections closed because a response waited longer than --send-timeout for its client.",
                &self.stalled,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
    }
}

/// Bytes of response bodies that may wait for clients at once, over all connections.
#[derive(Clone)]
pub(crate) struct SendBudget {
    permits: Arc<Semaphore>,
    total: usize,
    stats: Arc<OutboundStats>,
}

impl SendBudget {
    /// A budget of `bytes` (at most 4 GiB; at least one chunk), counted in `stats`.
    pub(crate) fn new(bytes: usize, stats: Arc<OutboundStats>) -> SendBudget {
        let total = bytes.clamp(CHUNK, u32::MAX as usize);
        stats.budget.store(total as u64, Ordering::Relaxed);
        SendBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
            stats,
        }
    }

    /// Charges `len` bytes (a body larger than the whole budget is charged the whole
    /// budget, so it can still be sent alone), or `None` when they are not available now.
    fn charge(&self, len: usize) -> Option<Charge> {
        let n = u32::try_from(len.min(self.total)).unwrap_or(u32::MAX);
        match self.permits.clone().try_acquire_many_owned(n) {
            Ok(permit) => {
                self.stats.in_use.fetch_add(u64::from(n), Ordering::Relaxed);
                Some(Charge {
                    _permit: permit,
                    bytes: u64::from(n),
                    stats: self.stats.clone(),
                })
            }
            Err(_) => {
                self.stats.refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Bytes charged to bodies now.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.total - self.permits.available_permits()
    }
}

/// A body's share of the budget, returned (and uncounted) when the body is dropped.
struct Charge {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    stats: Arc<OutboundStats>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.stats.in_use.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// One connection's responses that wait for its client, each with the time it started
/// waiting.
#[derive(Default)]
pub(crate) struct Waiting {
    next_id: AtomicU64,
    since: Mutex<HashMap<u64, Instant>>,
}

impl Waiting {
    fn set(&self, id: u64, waiting: bool) {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        if waiting {
            since.insert(id, Instant::now());
        } else {
            since.remove(&id);
        }
    }

    /// How long the response that has waited longest has been waiting, if any waits.
    fn longest(&self) -> Option<Duration> {
        let since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        since.values().min().map(Instant::elapsed)
    }
}

/// Resolves once a response of the connection has waited `limit` for its client (checked
/// a few times per `limit`, and counted in `stats`); the caller then closes the connection.
pub(crate) async fn stalled(waiting: Arc<Waiting>, limit: Duration, stats: Arc<OutboundStats>) {
    let tick = (limit / 4).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(tick).await;
        if waiting.longest().is_some_and(|waited| waited >= limit) {
            stats.stalled.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// Wraps `response` for sending on the connection whose responses `waiting` tracks: its
/// body is charged against `budget` (or the answer is a 503 when the budget is spent),
/// handed over in chunks, and recorded as waiting whenever it has data the client has not
/// taken. Bodies of unknown size (streamed) are not charged.
pub(crate) fn wrap(
    response: Response<Body>,
    budget: &SendBudget,
    waiting: &Arc<Waiting>,
) -> Response<Body> {
    let (mut parts, mut body) = response.into_parts();
    let mut permit = None;
    if let Some(len) = body.size_hint().exact().filter(|&len| len > 0) {
        permit = budget.charge(usize::try_from(len).unwrap_or(usize::MAX));
        if permit.is_none() {
            // The 503 is tracked like any response (a client that reads nothing is
            // still closed), but not charged: it is a few dozen bytes.
            (parts, body) = busy().into_parts();
        }
    }
    let id = waiting.next_id.fetch_add(1, Ordering::Relaxed);
    waiting.set(id, true);
    Response::from_parts(
        parts,
        Body::new(Queued {
            inner: body,
            rest: Bytes::new(),
            _permit: permit,
            waiting: waiting.clone(),
            id,
            is_waiting: true,
        }),
    )
}

/// The 503 for a request whose response would exceed the budget.
fn busy() -> Response<Body> {
    let mut response = Response::new(Body::from(
        r#"{"error":"the server has too many responses waiting for slow clients; retry shortly"}"#,
    ));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A response body charged against the budget and handed over in chunks.
struct Queued {
    inner: Body,
    /// What is left of the last data frame of `inner`.
    rest: Bytes,
    /// The body's charge, returned when it is dropped.
    _permit: Option<Charge>,
    waiting: Arc<Waiting>,
    id: u64,
    is_waiting: bool,
}

impl Queued {
    fn mark(&mut self, waiting: bool) {
        if self.is_waiting != waiting {
            self.is_waiting = waiting;
            self.waiting.set(self.id, waiting);
        }
    }

    fn next_chunk(&mut self) -> Bytes {
        let n = self.rest.len().min(CHUNK);
        self.rest.split_to(n)
    }
}

impl HttpBody for Queued {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        // Asked for more: the client took what was handed over before.
        this.mark(false);
        if this.rest.is_empty() {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.rest = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        let chunk = this.next_chunk();
        // Handed over: it waits for the client until hyper asks again, or (the last
        // chunk) until the body is dropped once hyper has passed it on.
        this.mark(true);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        hint.set_lower(hint.lower().saturating_add(rest));
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.mark(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body is charged until dropped, handed over in chunks, and waits for its client
    /// from when it is made until polled, and after each chunk until polled again.
    /// The value of the unlabelled sample `name` in `stats`' metrics text.
    fn sample(stats: &OutboundStats, name: &str) -> u64 {
        let mut text = String::new();
        stats.render(&mut text);
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    }

    #[tokio::test]
    async fn bodies_are_charged_chunked_and_tracked() {
        let stats = Arc::new(OutboundStats::default());
        let budget = SendBudget::new(100 * 1024, stats.clone());
        assert_eq!(sample(&stats, "bintrail_send_budget_bytes"), 100 * 1024);
        let waiting = Arc::new(Waiting::default());
        let big = Response::new(Body::from(vec![7u8; 40 * 1024]));
        let wrapped = wrap(big, &budget, &waiting);
        assert_eq!(budget.in_use(), 40 * 1024);
        assert_eq!(sample(&stats, "bintrail_send_budget_used_bytes"), 40 * 1024);
        assert!(waiting.longest().is_some());
        let mut body = wrapped.into_body();
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, vec![CHUNK, CHUNK, 8 * 1024]);
        // Finished: nothing waits, but the charge stays until the body is dropped.
        assert!(waiting.longest().is_none());
        assert_eq!(budget.in_use(), 40 * 1024);
        drop(body);
        assert_eq!(budget.in_use(), 0);

        // Spent budget: a 503, charging nothing.
        let held: Vec<_> = (0..2)
            .map(|_| {
                wrap(
                    Response::new(Body::from(vec![1u8; 50 * 1024])),
                    &budget,
                    &waiting,
                )
            })
            .collect();
        let refused = wrap(Response::new(Body::from(vec![1u8; 10])), &budget, &waiting);
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(budget.in_use(), 100 * 1024);
        assert_eq!(sample(&stats, "bintrail_send_budget_refusals_total"), 1);
        drop(held);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(sample(&stats, "bintrail_send_budget_used_bytes"), 0);
        // The 503 is tracked (a client that reads nothing is closed) but not charged.
        assert!(waiting.longest().is_some());
        drop(refused);
        assert!(waiting.longest().is_none());
    }

    #[tokio::test]
    async fn a_waiting_response_stalls_its_connection() {
        let stats = Arc::new(OutboundStats::default());
        let budget = SendBudget::new(1024 * 1024, stats.clone());
        let waiting = Arc::new(Waiting::default());
        let held = wrap(Response::new(Body::from("x")), &budget, &waiting);
        let limit = Duration::from_millis(200);
        let stall = stalled(waiting.clone(), limit, stats.clone());
        tokio::time::timeout(Duration::from_secs(5), stall)
            .await
            .expect("stalled");
        assert_eq!(
            sample(&stats, "bintrail_stalled_connections_closed_total"),
            1
        );
        drop(held);
        let quiet = stalled(waiting, limit, stats.clone());
        let quiet = tokio::time::timeout(Duration::from_millis(600), quiet).await;
        assert!(quiet.is_err(), "a connection with nothing waiting stalled");
        assert_eq!(
            sample(&stats, "bintrail_stalled_connections_closed_total"),
            1
        );
    }
}
