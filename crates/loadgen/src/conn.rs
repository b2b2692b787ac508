//! The transport: a pool of HTTP/1.1 keep-alive connections, or a few HTTP/2
//! connections in cleartext (h2c with prior knowledge) carrying many streams each.
//!
//! Built on hyper's connection-level client rather than a pooled client such as
//! reqwest, so the number of connections is exactly what the caller asked for and the
//! load generator spends as little CPU per request as possible: on a 2-core machine it
//! competes with the server it measures.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Which HTTP version and how many connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 keep-alive: one request at a time per connection, at most this many
    /// connections (opened on demand, reused).
    Http1 {
        /// The most connections open at once.
        connections: usize,
    },
    /// h2c with prior knowledge: this many connections opened up front, requests
    /// spread over them round-robin as concurrent streams.
    Http2 {
        /// How many connections.
        connections: usize,
    },
}

/// Why one request failed before an HTTP status arrived. The label is what the
/// report counts it under.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Returned when the TCP connection could not be opened.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// Returned when the HTTP handshake, the request or the response body failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
}

impl TransportError {
    /// A short, stable label for reports: `connect` or `http`.
    pub fn label(&self) -> &'static str {
        match self {
            TransportError::Connect { .. } => "connect",
            TransportError::Http(_) => "http",
        }
    }
}

/// Sends requests to one address over the configured connections. Shared by all
/// tasks of a run.
pub struct Transport {
    addr: SocketAddr,
    inner: Inner,
}

enum Inner {
    /// Idle connections wait in `idle`; `permits` bounds connections in use plus idle.
    Http1 {
        idle: Mutex<Vec<http1::SendRequest<Full<Bytes>>>>,
        permits: Semaphore,
    },
    /// Each slot holds a connection, replaced when it closes; `next` picks the slot.
    Http2 {
        slots: Vec<tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>>,
        next: AtomicUsize,
    },
}

impl Transport {
    /// A transport to `addr`. Opens one connection first, so an unreachable target is
    /// reported once, up front, instead of as thousands of failed requests.
    pub async fn connect(
        addr: SocketAddr,
        protocol: Protocol,
    ) -> Result<Transport, TransportError> {
        let inner = match protocol {
            Protocol::Http1 { connections } => {
                let first = open_http1(addr).await?;
                Inner::Http1 {
                    idle: Mutex::new(vec![first]),
                    permits: Semaphore::new(connections.max(1)),
                }
            }
            Protocol::Http2 { connections } => {
                let mut slots = Vec::new();
                for _ in 0..connections.max(1) {
                    slots.push(tokio::sync::Mutex::new(Some(open_http2(addr).await?)));
                }
                Inner::Http2 {
                    slots,
                    next: AtomicUsize::new(0),
                }
            }
        };
        Ok(Transport { addr, inner })
    }

    /// Sends `request` and reads the whole response body. An HTTP/1.1 request waits
    /// for a free connection when all are busy; an HTTP/2 request waits for a free
    /// stream when the server's concurrent-stream limit is reached.
    #[allow(clippy::expect_used, reason = "semaphore never closed")]
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), TransportError> {
        match &self.inner {
            Inner::Http1 { idle, permits } => {
                // The semaphore is never closed, so acquire cannot fail.
                let _permit = permits.acquire().await.expect("semaphore never closed");
                let pooled = take_idle(idle);
                let mut sender = match pooled {
                    Some(sender) => sender,
                    None => open_http1(self.addr).await?,
                };
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                // Only a connection whose response was read in full can carry the next.
                if !sender.is_closed() {
                    lock(idle).push(sender);
                }
                Ok((status, body))
            }
            Inner::Http2 { slots, next } => {
                let slot = &slots[next.fetch_add(1, Ordering::Relaxed) % slots.len()];
                let mut sender = {
                    let mut guard = slot.lock().await;
                    match guard.as_ref() {
                        Some(sender) if !sender.is_closed() => sender.clone(),
                        _ => {
                            let fresh = open_http2(self.addr).await?;
                            *guard = Some(fresh.clone());
                            fresh
                        }
                    }
                };
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                Ok((status, body))
            }
        }
    }

    /// Whether requests need an absolute URI (HTTP/2 takes `:scheme` and `:authority`
    /// from it) rather than a path and a `Host` header.
    pub fn wants_absolute_uri(&self) -> bool {
        matches!(self.inner, Inner::Http2 { .. })
    }
}

fn take_idle<T>(idle: &Mutex<Vec<T>>) -> Option<T> {
    lock(idle).pop()
}

/// Locks a mutex whose holders never panic while holding it (they only push or pop);
/// a poisoned lock would still hold a valid vector, so it is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn tcp(addr: SocketAddr) -> Result<TokioIo<TcpStream>, TransportError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| TransportError::Connect { addr, source })?;
    // Small requests and responses: Nagle's algorithm would add up to 40 ms each.
    stream
        .set_nodelay(true)
        .map_err(|source| TransportError::Connect { addr, source })?;
    Ok(TokioIo::new(stream))
}

async fn open_http1(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, TransportError> {
    let (sender, connection) = http1::handshake(tcp(addr).await?).await?;
    // The connection task ends when the sender is dropped or the peer closes; its
    // error, if any, surfaces on the next request through the sender.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

async fn open_http2(addr: SocketAddr) -> Result<http2::SendRequest<Full<Bytes>>, TransportError> {
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        // Large windows: bulk bodies and tile responses should not wait for
        // WINDOW_UPDATE round trips on loopback.
        .initial_stream_window_size(4 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake(tcp(addr).await?)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
