//! Connections: accepting TCP, optional TLS, HTTP/1.1 and cleartext HTTP/2 on one
//! port, timeouts against slow clients, and graceful shutdown.
//!
//! HTTP/1.1 and h2c share the port: hyper-util's auto builder reads the first bytes
//! and picks HTTP/2 when they are the HTTP/2 connection preface (prior knowledge,
//! RFC 9113 section 3.3), HTTP/1.1 otherwise. With TLS, ALPN offers `h2` and
//! `http/1.1`.
//!
//! Slow clients: the TLS handshake and each request's headers must arrive within
//! [`ConnectionLimits`]' bounds; HTTP/2 connections are pinged and dropped when the
//! peer stops answering. Request bodies are bounded by the handlers, which read them
//! under their own deadline (see `http`). Response bodies waiting for clients share one
//! budget, and a connection whose client stops taking a response is closed (see
//! `outbound`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;

use super::ServerError;
use crate::config::TlsFiles;
use crate::outbound::{self, OutboundStats, SendBudget, Waiting};

/// Bounds that protect the server from slow or greedy clients.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this time (HTTP/1.1), counted from
    /// when the connection is ready for the next request, so idle keep-alive
    /// connections are closed too. A new plain-TCP connection must send its
    /// first byte within this time as well.
    pub header_read_timeout: Duration,
    /// The TLS handshake must finish within this time.
    pub tls_handshake_timeout: Duration,
    /// HTTP/2 connections are pinged this often and dropped when a ping goes
    /// unanswered for as long.
    pub h2_keep_alive: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Connections served at once; further ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Bytes of response bodies that may wait for clients at once, over all
    /// connections; beyond it requests get a 503 with `Retry-After`.
    pub max_queued_bytes: usize,
    /// A connection is closed when one of its responses has waited this long for the
    /// client to take any more of it.
    pub send_timeout: Duration,
    /// On shutdown, how long in-flight requests may take before their connections
    /// are dropped.
    pub drain_timeout: Duration,
    /// Where the two bounds on bytes queued to clients (`max_queued_bytes`,
    /// `send_timeout`) count what they did; render it on `GET /metrics` as an
    /// [`crate::metrics::ExtraMetrics`].
    pub outbound: Arc<OutboundStats>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            h2_keep_alive: Duration::from_secs(30),
            h2_max_concurrent_streams: 64,
            max_connections: 10_000,
            max_queued_bytes: 64 * 1024 * 1024,
            send_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            outbound: Arc::default(),
        }
    }
}

/// Descriptors kept for storage (tiles, entry bundles, SQLite and its WAL) and the
/// process itself, beyond those connections may take.
const DESCRIPTORS_FOR_STORAGE: u64 = 256;

/// Raises the soft limit on open files to the hard limit (issue 19, finding H5: a
/// typical service's soft limit of 1024 let 260 idle connections starve storage) and
/// returns the soft limit now in force; `None` when it is unlimited or unknown.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(err) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%err, "could not raise the open files limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The connections to serve at once under an open-files limit of `limit`: at most
/// `wanted`, and always [`DESCRIPTORS_FOR_STORAGE`] (or a quarter of the limit, if
/// more) fewer than the limit, so connections can never take the descriptors storage
/// needs; at least 16.
pub fn connection_cap(limit: Option<u64>, wanted: usize) -> usize {
    let Some(limit) = limit else {
        return wanted;
    };
    let reserve = DESCRIPTORS_FOR_STORAGE.max(limit / 4);
    let cap = usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX);
    cap.clamp(16, wanted.max(16))
}

/// Binds a TCP listener on `addr` (port 0 picks a free port; read it back with
/// `local_addr`).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Loads a PEM certificate chain and private key into a TLS acceptor offering
/// HTTP/2 and HTTP/1.1 by ALPN.
pub fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let certs = rustls_pemfile::certs(&mut read_pem(&files.cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServerError::TlsRead {
            path: files.cert.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ServerError::NoCertificate(files.cert.clone()));
    }
    let key = rustls_pemfile::private_key(&mut read_pem(&files.key)?.as_slice())
        .map_err(|source| ServerError::TlsRead {
            path: files.key.clone(),
            source,
        })?
        .ok_or_else(|| ServerError::NoPrivateKey(files.key.clone()))?;
    // Both ring and aws-lc-rs may be compiled in (through other crates), so name
    // the provider instead of relying on a process-wide default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ServerError::Tls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(ServerError::Tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|source| ServerError::TlsRead {
        path: path.to_owned(),
        source,
    })
}

/// Serves `app` on every connection accepted from `listener` until `shutdown`
/// resolves; then stops accepting, asks open connections to finish (HTTP/2
/// GOAWAY, HTTP/1.1 close after the current response) and returns once they have,
/// or after `limits.drain_timeout`.
///
/// Accept errors (for example running out of file descriptors) are logged and
/// retried after a short pause rather than ending the server.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(http_builder(&limits));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let budget = SendBudget::new(limits.max_queued_bytes, limits.outbound.clone());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                // The semaphore is never closed.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let watcher = graceful.watcher();
        let (builder, app, tls, limits, budget) = (
            builder.clone(),
            app.clone(),
            tls.clone(),
            limits.clone(),
            budget.clone(),
        );
        tokio::spawn(async move {
            let _permit = permit;
            serve_one(stream, peer, app, tls, &builder, &limits, &budget, watcher).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?limits.drain_timeout,
            "connections still open after the drain timeout; dropping them"
        );
    }
}

fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        // What a stream may queue beyond what the client's window lets through: with a
        // zero-window reader, a connection holds at most streams x this (issue 19, H3).
        .max_send_buf_size(16 * 1024)
        .keep_alive_interval(limits.h2_keep_alive)
        .keep_alive_timeout(limits.h2_keep_alive);
    builder
}

#[allow(clippy::too_many_arguments)]
async fn serve_one(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    tls: Option<TlsAcceptor>,
    builder: &auto::Builder<TokioExecutor>,
    limits: &ConnectionLimits,
    budget: &SendBudget,
    watcher: hyper_util::server::graceful::Watcher,
) {
    // Small responses are latency-bound (each add waits on a checkpoint); do not
    // let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let waiting = Arc::new(Waiting::default());
    let service = {
        let (budget, waiting) = (budget.clone(), waiting.clone());
        TowerToHyperService::new(
            ServiceExt::<axum::http::Request<hyper::body::Incoming>>::map_response(
                app,
                move |response| outbound::wrap(response, &budget, &waiting),
            ),
        )
    };
    // Closing the connection (dropping it) when a response has waited too long for the
    // client drops its bodies, which returns their share of the budget.
    let stalled = outbound::stalled(waiting, limits.send_timeout, limits.outbound.clone());
    let result = match tls {
        None => {
            // hyper's header read timeout only starts with a request's first
            // byte, so a connection that never sends one would hold a
            // descriptor and a connection slot forever (finding L1 in
            // RELIABILITY.md, the log's twin of the witness's W1). Give the
            // first byte the same bound; `peek` leaves it for hyper. TLS
            // connections are already bounded by the handshake timeout.
            let mut first = [0u8; 1];
            match tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => {
                    tracing::debug!(%peer, "connection sent nothing; closing it");
                    return;
                }
            }
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = watcher.watch(conn.into_owned()) => result,
                () = stalled => Err(StalledClient.into()),
            }
        }
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream)).await;
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = watcher.watch(conn.into_owned()) => result,
                () = stalled => Err(StalledClient.into()),
            }
        }
    };
    if let Err(err) = result {
        // Resets, timeouts and malformed requests from one client end that
        // client's connection; they are not the server's errors.
        tracing::debug!(%peer, %err, "connection ended with an error");
    }
}

/// Why a connection was closed by the server: a response waited too long for the client.
#[derive(Debug, thiserror::Error)]
#[error(
    "a response waited longer than the send timeout for the client to read it; connection closed"
)]
struct StalledClient;

/// Resolves on the first SIGTERM or SIGINT.
///
/// If the handlers cannot be installed (which does not happen on Linux with a
/// working runtime), it logs the failure and never resolves, so the server keeps
/// serving rather than exiting at once.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (term, int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!(%err, "cannot install signal handlers");
            return std::future::pending().await;
        }
    };
    let (mut term, mut int) = (term, int);
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
    }
}
