//! Start-up (the log key, the first checkpoint, the listener) and request dispatch.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bintrail_client::consistency::observe_checkpoint_note;
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::state::StateDir;
use bintrail_client::verify::{VerifyError, verify_signed_checkpoint};
use bintrail_pyindex::wellknown::{MAX_DOCUMENT_LEN, TLOG_KEY_PATH, TlogInfo, TlogKey};
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::Policy;
use tokio::net::TcpListener;
use url::Url;

use crate::shared::{ProofCache, Shared, error, json};
use crate::upstream::PageCache;
use crate::{pages, proofs, relay};

/// The longest request path served; longer is a 414.
const MAX_PATH: usize = 4096;

/// How `bintrail index` runs.
#[derive(Debug, Clone)]
pub struct IndexConfig {
    /// The upstream's Simple API base URL, e.g. `http://127.0.0.1:8081/simple/`.
    pub upstream: String,
    /// The log's URL (its tlog-tiles prefix, where `/lookup/pypi/` and
    /// `/.well-known/bt/tlog-key` are).
    pub log_url: String,
    /// Verify proofs against this policy (log key, witnesses, quorum). `None`: the
    /// log's `/.well-known/bt/tlog-key`, fetched at start and pinned, with no witness
    /// quorum.
    pub policy: Option<Policy>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The URL clients reach this index at, used in proof links; `None`:
    /// `http://<the bound address>`.
    pub public_url: Option<String>,
    /// Where the last checkpoint seen from the log is kept.
    pub state_dir: PathBuf,
    /// Timeouts for every request to the upstream and the log.
    pub timeouts: Timeouts,
}

/// Why the index could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Returned when `--upstream`, `--log` or `--public-url` is not an http(s) URL.
    #[error("{what} {url:?} is not an http(s) URL")]
    BadUrl {
        /// Which URL.
        what: &'static str,
        /// The text given.
        url: String,
    },
    /// Returned when the log's key or first checkpoint could not be fetched or checked.
    #[error("the log at {url}: {source}")]
    Log {
        /// The log's URL.
        url: String,
        /// What failed.
        #[source]
        source: Box<VerifyError>,
    },
    /// Returned when the state directory cannot be opened.
    #[error("the state directory {path}: {source}")]
    State {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Returned when the listen address cannot be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// A started index: bound, its log key pinned, not yet serving.
pub struct IndexServer {
    listener: TcpListener,
    shared: Arc<Shared>,
    log_key: Verifier,
}

impl IndexServer {
    /// Binds the listener, fetches (without `--policy`) and pins the log's key, and
    /// checks the log's current checkpoint against it and against the last one kept
    /// in the state directory. Errors: [`IndexError`].
    pub async fn start(config: IndexConfig) -> Result<IndexServer, IndexError> {
        let upstream = http_url("--upstream", &with_slash(&config.upstream))?;
        let log_url = http_url("--log", &config.log_url)?;
        let mut upstream_origin = upstream.clone();
        upstream_origin.set_path("/");
        upstream_origin.set_query(None);
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| IndexError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let bound = listener.local_addr().map_err(|source| IndexError::Bind {
            addr: config.listen,
            source,
        })?;
        let public_url = match &config.public_url {
            Some(url) => http_url("--public-url", url)?.to_string(),
            None => format!("http://{bound}"),
        };
        let public_url = public_url.trim_end_matches('/').to_owned();
        let log_error = |source: VerifyError| IndexError::Log {
            url: log_url.to_string(),
            source: Box::new(source),
        };
        let reader = LogReader::new(log_url.as_str(), config.timeouts)
            .map_err(|e| log_error(VerifyError::Fetch(e)))?;
        let state = StateDir::open(&config.state_dir).map_err(|source| IndexError::State {
            path: config.state_dir.clone(),
            source,
        })?;
        let policy = match config.policy {
            Some(policy) => policy,
            None => pinned_policy(&reader, log_url.as_str())
                .await
                .map_err(log_error)?,
        };
        // The baseline for consistency: the log's checkpoint now, checked like any other.
        let note = reader
            .checkpoint_unverified()
            .await
            .map_err(|e| log_error(VerifyError::Fetch(e)))?;
        let signed = verify_signed_checkpoint(&note, &policy).map_err(log_error)?;
        observe_checkpoint_note(&state, &reader, &signed.checkpoint, &signed.log_key, &note)
            .await
            .map_err(log_error)?;
        let log_key = signed.log_key.clone();
        let info_json = TlogInfo::new(log_url.as_str(), &log_key).to_json();
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .timeout(config.timeouts.total)
            .user_agent(concat!("bintrail-index/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| log_error(VerifyError::Fetch(transport(&upstream, e))))?;
        let same_layout = upstream.path() == "/simple/";
        let shared = Shared {
            upstream,
            upstream_origin,
            same_layout,
            public_url,
            http,
            reader,
            log_url: log_url.to_string(),
            policy,
            state,
            info_json,
            pages: PageCache::default(),
            proofs: ProofCache::default(),
        };
        Ok(IndexServer {
            listener,
            shared: Arc::new(shared),
            log_key,
        })
    }

    /// The URL clients reach the index at (`--public-url`, or the bound address).
    pub fn url(&self) -> &str {
        &self.shared.public_url
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The log key every relayed proof is checked against.
    pub fn log_key(&self) -> &Verifier {
        &self.log_key
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let app = Router::new().fallback(dispatch).with_state(self.shared);
        if let Err(err) = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("index server failed: {err}");
        }
    }
}

fn transport(url: &Url, source: reqwest::Error) -> bintrail_client::fetch::FetchError {
    bintrail_client::fetch::FetchError::Transport {
        url: url.to_string(),
        source,
    }
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

fn http_url(what: &'static str, text: &str) -> Result<Url, IndexError> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(IndexError::BadUrl {
            what,
            url: text.to_owned(),
        }),
    }
}

/// The policy of a log known only by its well-known key: fetched once, pinned for the
/// life of the process, no witnesses. The key's origin is the checkpoint's.
async fn pinned_policy(reader: &LogReader, log_url: &str) -> Result<Policy, VerifyError> {
    let http = reader.http();
    let doc = http.get(TLOG_KEY_PATH, MAX_DOCUMENT_LEN).await?;
    let malformed = |e: bintrail_pyindex::wellknown::WellKnownError| {
        VerifyError::malformed(format!("{TLOG_KEY_PATH} of {log_url}"), e)
    };
    let key = TlogKey::from_json(&doc).map_err(malformed)?;
    let note = reader.checkpoint_unverified().await?;
    let origin = std::str::from_utf8(&note)
        .ok()
        .and_then(|t| t.lines().next())
        .unwrap_or_default()
        .to_owned();
    let verifier = key.verifier(&origin).map_err(malformed)?;
    let text = format!("log {verifier} {log_url}\nquorum none\n");
    bintrail_client::verify::parse_policy(text.as_bytes(), TLOG_KEY_PATH)
}

/// Routes one request by its raw path (so that percent-encoding is judged by the
/// parsers, not undone before them).
async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path.len() > MAX_PATH {
        return error(
            StatusCode::URI_TOO_LONG,
            format!(
                "path is {} bytes; at most {MAX_PATH} are served",
                path.len()
            ),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served".to_owned(),
        );
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if path == "/.well-known/bt/tlog-info" {
        return json(
            StatusCode::OK,
            shared.info_json.clone(),
            "public, max-age=3600",
        );
    }
    if path.starts_with("/transparency/") {
        if request.uri().query().is_some() {
            return error(
                StatusCode::BAD_REQUEST,
                "the transparency endpoint takes no query string".to_owned(),
            );
        }
        return proofs::answer(&shared, &path).await;
    }
    if path == "/simple" {
        return redirect("/simple/");
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        return pages::serve(&shared, rest, accept.as_deref()).await;
    }
    let (parts, _) = request.into_parts();
    relay::relay(&shared, parts.method, parts.uri).await
}

fn redirect(to: &'static str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    response
}
