//! The log server: [`Server::start`] turns a configuration into a running log (keys,
//! tokens, storage, the log core, the HTTP app, the bound port) and [`Server::run`]
//! serves it until shutdown. How connections are accepted and served (TLS, HTTP/1.1
//! and h2c on one port, timeouts, descriptor limits, graceful shutdown) is
//! `connections`, re-exported here.
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::auth::{AuthError, Authenticator};
use crate::bootstrap::{self, BootstrapError, Prepared};
use crate::config::ServeConfig;
use crate::cosign::{Cosigner, NoWitness};
use crate::http::{self, HttpOptions};
use crate::log::{Log, LogError, LogOptions};
pub use crate::outbound::OutboundStats;
use crate::storage::{CloudStorage, LocalStorage, Storage};
use bintrail_tlog::note::Verifier;
use bytes::Bytes;

mod connections;

pub use connections::{
    ConnectionLimits, bind, connection_cap, load_tls, raise_open_files_limit, serve_connections,
    shutdown_signal,
};

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
    /// Returned when the certificate file holds no certificate.
    #[error("TLS setup: no certificate in {}", .0.display())]
    NoCertificate(PathBuf),
    /// Returned when the key file holds no private key.
    #[error("TLS setup: no private key in {}", .0.display())]
    NoPrivateKey(PathBuf),
    /// Returned when rustls refuses the certificate and key (for example they do not
    /// match).
    #[error("TLS setup: {0}")]
    Tls(#[source] rustls::Error),
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
        let forward = cloud.as_ref().map(|cloud| {
            let cloud = cloud.clone();
            http::forward::Forwarder::new(move || cloud.leader_url(), 2 * config.add_timeout)
        });
        extra.extend(forward.as_ref().map(|f| f.metrics()));
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
            forward,
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
