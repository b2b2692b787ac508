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
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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

use crate::auth::{AuthError, Authenticator};
use crate::bootstrap::{self, BootstrapError, Prepared};
use crate::config::{ServeConfig, TlsFiles};
use crate::cosign::{Cosigner, NoWitness};
use crate::http::{self, HttpOptions};
use crate::log::{Log, LogError, LogOptions};
pub use crate::outbound::OutboundStats;
use crate::outbound::{self, SendBudget, Waiting};
use crate::storage::{CloudStorage, LocalStorage, Storage};
use bintrail_tlog::note::Verifier;
use bytes::Bytes;

/// Errors from setting up the listener and TLS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Returned when the listen address cannot be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying failure.
        source: io::Error,
    },
    /// Returned when a TLS certificate or key file cannot be read.
    #[error("TLS file {path}: {source}")]
    TlsRead {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// Returned when the TLS files hold no usable certificate or key, or they do not
    /// match.
    #[error("TLS setup: {0}")]
    Tls(String),
}

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
        return Err(ServerError::Tls(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut read_pem(&files.key)?.as_slice())
        .map_err(|source| ServerError::TlsRead {
            path: files.key.clone(),
            source,
        })?
        .ok_or_else(|| ServerError::Tls(format!("no private key in {}", files.key.display())))?;
    // Both ring and aws-lc-rs may be compiled in (through other crates), so name
    // the provider instead of relying on a process-wide default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
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

/// A log server ready to serve: keys and tokens prepared, log opened, port bound.
///
/// Built by [`Server::start`]; [`Server::run`] serves until shutdown. Splitting the
/// two lets the caller print the bound address and first-start details before
/// serving.
pub struct Server {
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    log: Log,
    prepared: Prepared,
    limits: ConnectionLimits,
    /// The object-storage backend, whose lease is given up after the log shut down.
    cloud: Option<Arc<CloudStorage>>,
}

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Returned when keys, tokens or the data directory cannot be prepared.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// Returned when the tokens file cannot be loaded.
    #[error(transparent)]
    Tokens(#[from] AuthError),
    /// Returned when the log cannot be opened (or recovered).
    #[error("opening the log in {path}: {source}")]
    Log {
        /// The data directory.
        path: PathBuf,
        /// The core's error.
        source: LogError,
    },
    /// Returned when the listener or TLS cannot be set up.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Returned when the Sigstore trusted root file cannot be read.
    #[error("reading the Sigstore trusted root {path}: {source}")]
    ReadTrustedRoot {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Returned when the Sigstore trusted root file is not a usable trusted root.
    #[error("the Sigstore trusted root {path}: {source}")]
    TrustedRoot {
        /// The file.
        path: PathBuf,
        /// Why.
        source: bintrail_attest::TrustRootError,
    },
}

/// Reads a Sigstore `trusted_root.json` for verifying attestations.
fn load_trusted_root(path: &Path) -> Result<Arc<bintrail_attest::TrustRoot>, StartError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartError::ReadTrustedRoot {
        path: path.to_owned(),
        source,
    })?;
    bintrail_attest::TrustRoot::from_json(&text)
        .map(Arc::new)
        .map_err(|source| StartError::TrustedRoot {
            path: path.to_owned(),
            source,
        })
}

impl Server {
    /// Prepares keys and tokens (see [`crate::bootstrap`]), opens the log without
    /// witnesses (it publishes every checkpoint it signs, and `GET /policy` says
    /// `quorum none`), builds the router and binds the listen address. Nothing is
    /// served yet.
    pub async fn start(config: &ServeConfig) -> Result<Server, StartError> {
        Server::start_with(config, NoWitness, |log: &Verifier| {
            format!("log {log}\nquorum none\n")
        })
        .await
    }

    /// Like [`Server::start`], but checkpoints are published only once `cosigner`
    /// returns them (see [`Cosigner`]), and `GET /policy` serves the text
    /// `policy_text` builds from the log's public key (the key is known only
    /// once the bootstrap has loaded or made it). `config.policy` is not read
    /// here: the caller turned it into `cosigner` and `policy_text`.
    pub async fn start_with<C: Cosigner>(
        config: &ServeConfig,
        cosigner: C,
        policy_text: impl FnOnce(&Verifier) -> String,
    ) -> Result<Server, StartError> {
        // Bind first: a start that cannot listen (port in use) creates nothing,
        // neither the data directory nor a key or tokens.
        let listener = bind(config.listen).await?;
        let sigstore_root = config
            .sigstore_trusted_root
            .as_deref()
            .map(load_trusted_root)
            .transpose()?;
        let prepared = bootstrap::prepare(config, &mut rand::rngs::OsRng)?;
        let auth = Arc::new(Authenticator::open(&prepared.tokens_path)?);
        if auth.is_empty() {
            tracing::warn!(path = %prepared.tokens_path.display(), "the tokens file holds no token: every write will be refused");
        }
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let log_error = |source| StartError::Log {
            path: config.data.clone(),
            source,
        };
        let (storage, cloud): (Arc<dyn Storage>, _) = match &config.cloud {
            Some(opts) => {
                let mut opts = opts.clone();
                if opts.advertise.is_empty() {
                    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
                        addr: config.listen,
                        source,
                    })?;
                    opts.advertise = http::forward::advertised_url(addr, tls.is_some());
                }
                let cloud = Arc::new(
                    CloudStorage::open(&opts)
                        .await
                        .map_err(|e| log_error(LogError::from(e)))?,
                );
                (cloud.clone(), Some(cloud))
            }
            None => {
                let dir = config.data.clone();
                let local = tokio::task::spawn_blocking(move || LocalStorage::open(&dir))
                    .await
                    .map_err(|_| log_error(LogError::Closed))?
                    .map_err(|e| log_error(LogError::from(e)))?;
                (Arc::new(local), None)
            }
        };
        let options = LogOptions {
            data_dir: config.data.clone(),
            signer: prepared.signer.clone(),
            checkpoint_interval: config.checkpoint_interval,
            max_batch_entries: config.max_batch_entries,
            max_pending_entries: config.max_pending_entries,
            add_timeout: config.add_timeout,
        };
        let outbound = Arc::new(OutboundStats::default());
        let mut extra: Vec<Arc<dyn crate::metrics::ExtraMetrics>> = vec![outbound.clone()];
        extra.extend(cosigner.metrics());
        extra.extend(cloud.as_ref().map(|cloud| cloud.metrics()));
        let extra_metrics: Option<Arc<dyn crate::metrics::ExtraMetrics>> =
            Some(Arc::new(crate::metrics::AllMetrics(extra)));
        let log = Log::open_with(options, storage, cosigner)
            .await
            .map_err(log_error)?;
        let policy = Bytes::from(policy_text(&prepared.signer.verifier()));
        let http = HttpOptions {
            max_bulk_entries: config.max_bulk_entries,
            body_timeout: config.body_timeout,
            bulk_body_timeout: config.bulk_body_timeout,
            retry_after: config.checkpoint_interval,
            sigstore_root,
            forward: cloud.as_ref().map(|cloud| {
                let cloud = cloud.clone();
                http::forward::Forwarder::new(move || cloud.leader_url(), 2 * config.add_timeout)
            }),
            ..HttpOptions::default()
        };
        let app = http::router_with_metrics(
            log.clone(),
            prepared.signer.verifier(),
            auth,
            http,
            policy,
            extra_metrics,
        );
        let defaults = ConnectionLimits::default();
        let limits = ConnectionLimits {
            // In-flight adds wait up to add_timeout for their checkpoint.
            drain_timeout: config.add_timeout + Duration::from_secs(5),
            max_connections: connection_cap(raise_open_files_limit(), defaults.max_connections),
            send_timeout: config.send_timeout,
            outbound,
            ..defaults
        };
        Ok(Server {
            listener,
            app,
            tls,
            log,
            prepared,
            limits,
            cloud,
        })
    }

    /// Serves `router` under `prefix` beside the log's own API (`serve --vindex` puts the
    /// verifiable index there). Call before [`Server::run`].
    pub fn nest(mut self, prefix: &str, router: Router) -> Server {
        self.app = self.app.nest(prefix, router);
        self
    }

    /// The bound address (the real port when listening on port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The base URL clients use: `http://` or `https://` and the bound address.
    pub fn url(&self) -> io::Result<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}", self.local_addr()?))
    }

    /// What keys and tokens the server uses and which of them this start created.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Serves until `shutdown` resolves; then stops accepting connections, lets
    /// in-flight requests finish while the log sequences and publishes what it has
    /// pooled ([`Log::shutdown`]), and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            app,
            tls,
            log,
            limits,
            cloud,
            ..
        } = self;
        let drain = limits.drain_timeout;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(serve_connections(listener, app, tls, limits, async move {
            let _ = stop_rx.await;
        }));
        shutdown.await;
        let _ = stop_tx.send(());
        // Publishing what is pooled lets the in-flight adds answer before their
        // connections are drained. Both steps are bounded so a stuck request or
        // a slow disk cannot keep the process from exiting.
        if tokio::time::timeout(drain, log.shutdown()).await.is_err() {
            tracing::warn!(timeout = ?drain, "the log did not finish shutting down in time");
        }
        if let Some(cloud) = cloud
            && let Err(err) = cloud.release().await
        {
            tracing::warn!(%err, "could not give the sequencing lease up; it runs out by itself");
        }
        match tokio::time::timeout(drain, serving).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(%err, "server task failed"),
            Err(_) => tracing::warn!(timeout = ?drain, "connections still open; exiting anyway"),
        }
    }
}
