//! A load generator for a bintrail log: writes (`POST /add`, `POST /admin/bulk/append`)
//! with realistic PyPI filenames and random digests, reads (random tiles and
//! checkpoints, lookups), and `GET /healthz` for the machine's HTTP ceiling.
//!
//! Two ways to apply load:
//! - **open loop** ([`Mode::Open`]): requests start at a fixed rate whatever the server
//!   does, and latency is measured from each request's scheduled start, so queueing
//!   in the server or in the generator is counted (no coordinated omission);
//! - **closed loop** ([`Mode::Closed`]): N requests are always in flight; each
//!   completion starts the next. This finds the maximum throughput.
//!
//! A run ends at its duration or request count, whichever comes first, and then waits
//! for the requests in flight. It only talks to loopback addresses unless
//! [`Config::allow_remote`] is set.
//!
//! ```no_run
//! # async fn example() -> Result<(), bintrail_loadgen::LoadError> {
//! use std::time::Duration;
//! use bintrail_loadgen::{Config, Mode, Protocol, Scenario, run};
//!
//! let mut config = Config::new("http://127.0.0.1:8080", Scenario::Healthz, Mode::Closed { concurrency: 64 });
//! config.protocol = Protocol::Http2 { connections: 2 };
//! config.duration = Duration::from_secs(5);
//! let report = run(config).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod conn;
pub mod names;
pub mod report;
pub mod scenario;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use rand::SeedableRng;
use rand::rngs::SmallRng;

pub use conn::{Protocol, Transport, TransportError};
pub use report::{Latency, Report};
pub use scenario::Scenario;

use report::{Outcome, Recorder, RunHeader};
use scenario::{Workload, bundle_filenames, checkpoint_size, random_tile};

/// How load is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Start this many requests per second (at least 1).
    Open {
        /// Requests per second.
        rate: u64,
    },
    /// Keep this many requests in flight (at least 1).
    Closed {
        /// Requests in flight.
        concurrency: usize,
    },
}

/// Everything a run needs. Build with [`Config::new`], then adjust fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// The log's base URL, `http://host:port` (no path; `https` is not supported).
    pub url: String,
    /// What to request.
    pub scenario: Scenario,
    /// How to apply load.
    pub mode: Mode,
    /// HTTP version and connections. Default: HTTP/1.1 with one connection per
    /// request in flight (closed loop) or up to 4096 connections (open loop).
    pub protocol: Protocol,
    /// Stop starting requests after this long. Default 10 s.
    pub duration: Duration,
    /// Stop after starting this many requests. Default: no limit.
    pub max_requests: Option<u64>,
    /// The bearer token for writes.
    pub token: Option<String>,
    /// A request without a response after this long counts as `timeout`. Default 30 s.
    pub timeout: Duration,
    /// Open loop only: when this many requests are in flight, a request due to start
    /// is not sent and counts as `in-flight limit`. Default 50,000.
    pub max_in_flight: usize,
    /// Allow a target that does not resolve to loopback addresses only.
    pub allow_remote: bool,
    /// Project names for [`Scenario::VindexLookup`] (each request picks one uniformly).
    pub projects: Vec<String>,
}

impl Config {
    /// A configuration with the defaults documented on each field.
    pub fn new(url: &str, scenario: Scenario, mode: Mode) -> Config {
        let connections = match mode {
            Mode::Closed { concurrency } => concurrency.max(1),
            Mode::Open { .. } => 4096,
        };
        Config {
            url: url.trim_end_matches('/').to_owned(),
            scenario,
            mode,
            protocol: Protocol::Http1 { connections },
            duration: Duration::from_secs(10),
            max_requests: None,
            token: None,
            timeout: Duration::from_secs(30),
            max_in_flight: 50_000,
            allow_remote: false,
            projects: Vec::new(),
        }
    }
}

/// Why a run could not start. Failures of single requests are not errors: they are
/// counted in the [`Report`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Returned when the URL is not `http://host[:port]` with no path.
    #[error("invalid target URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        #[source]
        reason: UrlError,
    },
    /// Returned when the host does not resolve.
    #[error("resolving {host}: {source}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// Returned when the target resolves to an address that is not loopback and
    /// [`Config::allow_remote`] is not set.
    #[error(
        "{url} resolves to {addr}, which is not a loopback address (pass --allow-remote to load a remote server)"
    )]
    RemoteTarget {
        /// The URL given.
        url: String,
        /// The first non-loopback address.
        addr: SocketAddr,
    },
    /// Returned when a write scenario has no token.
    #[error("the {scenario} scenario writes and needs a publish token")]
    MissingToken {
        /// The scenario's name.
        scenario: &'static str,
    },
    /// Returned when the rate, concurrency, connections or bulk size is zero.
    #[error("{what} must be at least 1")]
    Zero {
        /// Which setting.
        what: &'static str,
    },
    /// Returned when the first connection fails.
    #[error("connecting to the target: {0}")]
    Transport(#[from] TransportError),
    /// Returned when a read scenario cannot prepare: the checkpoint is missing or
    /// unreadable, or the log has no entries to read.
    #[error("preparing the {scenario} scenario: {reason}")]
    Prepare {
        /// The scenario's name.
        scenario: &'static str,
        /// What went wrong.
        #[source]
        reason: PrepareError,
    },
}

/// What is wrong with the target URL ([`LoadError::InvalidUrl`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Returned when the text is not a URI.
    #[error(transparent)]
    Unparsable(hyper::http::uri::InvalidUri),
    /// Returned when the scheme is not `http`.
    #[error("only http:// is supported (h2c for HTTP/2)")]
    NotHttp,
    /// Returned when the URL has a query, or a path where the scenario takes none.
    #[error("give the log's base URL, without a path")]
    HasPath,
    /// Returned when the URL names no host.
    #[error("no host")]
    NoHost,
}

/// Why a scenario could not prepare ([`LoadError::Prepare`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// Returned when the publish token cannot be sent in an `Authorization` header.
    #[error("the token holds characters not allowed in a header")]
    BadToken,
    /// Returned when a verifiable-index lookup run has no project names.
    #[error("no project names to look up (--projects FILE)")]
    NoProjects,
    /// Returned when a read the preparation needs answered another status than 200.
    #[error("GET {path}: status {status}")]
    Status {
        /// The path requested.
        path: String,
        /// The status answered.
        status: StatusCode,
    },
    /// Returned when a read the preparation needs failed before an answer: the
    /// label is the one the report counts such failures under (`timeout`, `connect`, ...).
    #[error("GET {path}: {label}")]
    Request {
        /// The path requested.
        path: String,
        /// The failure's label.
        label: &'static str,
    },
    /// Returned when `GET /checkpoint` answered something that is not a checkpoint.
    #[error("GET /checkpoint did not return a checkpoint")]
    NoCheckpoint,
    /// Returned when the log's checkpoint has tree size 0.
    #[error("the log is empty; add entries first")]
    EmptyLog,
    /// Returned when none of the sampled entry bundles held a PyPI entry.
    #[error("no entry bundle held a PyPI entry")]
    NoEntries,
}

/// Runs the load described by `config` and reports what it measured.
///
/// Errors: see [`LoadError`]; nothing is sent before the target is checked and
/// connected. Once requests flow, every failure is counted, never returned.
pub async fn run(config: Config) -> Result<Report, LoadError> {
    check_settings(&config)?;
    let (authority, addr, base_path) = resolve(&config).await?;
    let transport = Transport::connect(addr, config.protocol).await?;
    let client = Arc::new(Client {
        transport,
        authority,
        base_path,
        token: match &config.token {
            Some(t) => Some(HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                LoadError::Prepare {
                    scenario: config.scenario.name(),
                    reason: PrepareError::BadToken,
                }
            })?),
            None => None,
        },
        timeout: config.timeout,
    });
    let workload = Arc::new(prepare(&config, &client).await?);
    let header = run_header(&config);
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let started = Instant::now();
    match config.mode {
        Mode::Closed { concurrency } => {
            closed_loop(&config, concurrency, &client, &workload, &recorder).await
        }
        Mode::Open { rate } => open_loop(&config, rate, &client, &workload, &recorder).await,
    }
    let elapsed = started.elapsed();
    let recorder = std::mem::take(&mut *lock(&recorder));
    Ok(recorder.finish(header, elapsed))
}

/// The transport plus what every request carries.
struct Client {
    transport: Transport,
    authority: String,
    /// The target URL's path without its trailing `/` (empty but for a verifiable index
    /// served under a path, as `serve --vindex` serves it under `/vindex`).
    base_path: String,
    token: Option<HeaderValue>,
    timeout: Duration,
}

impl Client {
    /// Sends one planned request; the error is the label it failed under.
    async fn send(&self, planned: scenario::Planned) -> Result<(StatusCode, Bytes), &'static str> {
        let uri = if self.transport.wants_absolute_uri() {
            format!(
                "http://{}{}{}",
                self.authority, self.base_path, planned.path
            )
        } else {
            format!("{}{}", self.base_path, planned.path)
        };
        let uri: Uri = uri.parse().map_err(|_| "bad request uri")?;
        let mut builder = Request::builder().method(planned.method).uri(uri);
        if !self.transport.wants_absolute_uri() {
            builder = builder.header(HOST, &self.authority);
        }
        if let Some(ct) = planned.content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        if let Some(token) = &self.token {
            builder = builder.header(AUTHORIZATION, token.clone());
        }
        let request = builder
            .body(Full::new(planned.body))
            .map_err(|_| "bad request")?;
        match tokio::time::timeout(self.timeout, self.transport.send(request)).await {
            Err(_) => Err("timeout"),
            Ok(Err(e)) => Err(e.label()),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

fn check_settings(config: &Config) -> Result<(), LoadError> {
    let zero = |what| Err(LoadError::Zero { what });
    match config.mode {
        Mode::Open { rate: 0 } => return zero("rate"),
        Mode::Closed { concurrency: 0 } => return zero("concurrency"),
        _ => {}
    }
    match config.protocol {
        Protocol::Http1 { connections: 0 } | Protocol::Http2 { connections: 0 } => {
            return zero("connections");
        }
        _ => {}
    }
    if config.scenario == (Scenario::Bulk { lines: 0 }) {
        return zero("bulk lines");
    }
    if config.scenario.writes() && config.token.is_none() {
        return Err(LoadError::MissingToken {
            scenario: config.scenario.name(),
        });
    }
    Ok(())
}

/// Parses the URL and resolves its host; every address must be loopback unless
/// remote targets are allowed. Returns the authority (`host:port`), the address and the
/// base path (only a verifiable index's URL may have one).
async fn resolve(config: &Config) -> Result<(String, SocketAddr, String), LoadError> {
    let invalid = |reason| LoadError::InvalidUrl {
        url: config.url.clone(),
        reason,
    };
    let uri: Uri = config
        .url
        .parse()
        .map_err(|e| invalid(UrlError::Unparsable(e)))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid(UrlError::NotHttp));
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    if uri.query().is_some()
        || (!base_path.is_empty() && !matches!(config.scenario, Scenario::VindexLookup { .. }))
    {
        return Err(invalid(UrlError::HasPath));
    }
    let host = uri.host().ok_or_else(|| invalid(UrlError::NoHost))?;
    let port = uri.port_u16().unwrap_or(80);
    // An IPv6 literal keeps its brackets in the authority but not in the lookup.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|source| LoadError::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    let first = *addrs.first().ok_or_else(|| LoadError::Resolve {
        host: host.to_owned(),
        source: std::io::Error::other("no addresses"),
    })?;
    if !config.allow_remote
        && let Some(addr) = addrs.iter().find(|a| !a.ip().is_loopback())
    {
        return Err(LoadError::RemoteTarget {
            url: config.url.clone(),
            addr: *addr,
        });
    }
    Ok((format!("{host}:{port}"), first, base_path))
}

/// Reads what a read scenario needs: the tree size, and for lookups, filenames from up
/// to 16 random entry bundles.
async fn prepare(config: &Config, client: &Client) -> Result<Workload, LoadError> {
    let scenario = config.scenario.name();
    let fail = |reason| LoadError::Prepare { scenario, reason };
    let mut rng = SmallRng::from_entropy();
    let generator = || names::EntryGenerator::new(&mut SmallRng::from_entropy());
    match config.scenario {
        Scenario::Add => Ok(Workload::Add(generator())),
        Scenario::Bulk { lines } => Ok(Workload::Bulk(generator(), lines)),
        Scenario::Healthz => Ok(Workload::Healthz),
        Scenario::VindexLookup { version } => {
            if config.projects.is_empty() {
                return Err(fail(PrepareError::NoProjects));
            }
            Ok(Workload::VindexLookup(config.projects.clone(), version))
        }
        Scenario::Tiles | Scenario::Lookup => {
            let body = get_ok(client, "/checkpoint").await.map_err(fail)?;
            let size = checkpoint_size(&body).ok_or_else(|| fail(PrepareError::NoCheckpoint))?;
            if size == 0 {
                return Err(fail(PrepareError::EmptyLog));
            }
            if config.scenario == Scenario::Tiles {
                return Ok(Workload::Tiles(size));
            }
            let mut names = Vec::new();
            for _ in 0..16 {
                let mut tile = random_tile(size, &mut rng);
                tile.level = bintrail_tlog::tile::TileLevel::Entries;
                let bundle = get_ok(client, &format!("/{}", tile.path()))
                    .await
                    .map_err(fail)?;
                names.extend(bundle_filenames(&bundle));
            }
            names.sort();
            names.dedup();
            if names.is_empty() {
                return Err(fail(PrepareError::NoEntries));
            }
            Ok(Workload::Lookup(names))
        }
    }
}

async fn get_ok(client: &Client, path: &str) -> Result<Bytes, PrepareError> {
    let planned = scenario::Planned {
        method: hyper::Method::GET,
        path: path.to_owned(),
        content_type: None,
        body: Bytes::new(),
    };
    match client.send(planned).await {
        Ok((StatusCode::OK, body)) => Ok(body),
        Ok((status, _)) => Err(PrepareError::Status {
            path: path.to_owned(),
            status,
        }),
        Err(label) => Err(PrepareError::Request {
            path: path.to_owned(),
            label,
        }),
    }
}

fn run_header(config: &Config) -> RunHeader {
    let (mode, load) = match config.mode {
        Mode::Open { rate } => ("open", rate),
        Mode::Closed { concurrency } => ("closed", concurrency as u64),
    };
    let (protocol, connections) = match config.protocol {
        Protocol::Http1 { connections } => ("http1", connections),
        Protocol::Http2 { connections } => ("http2", connections),
    };
    RunHeader {
        url: config.url.clone(),
        scenario: config.scenario.name().to_owned(),
        mode: mode.to_owned(),
        load,
        protocol: protocol.to_owned(),
        connections,
    }
}

/// Sends request `sequence` and records its outcome, with latency from `scheduled`.
async fn one_request(
    client: &Client,
    workload: &Workload,
    recorder: &Mutex<Recorder>,
    sequence: u64,
    scheduled: Instant,
    rng: &mut SmallRng,
) {
    let planned = workload.plan(sequence, rng);
    let result = client.send(planned).await;
    let latency = scheduled.elapsed();
    let (outcome, lines) = match result {
        Ok((status, body)) => workload.judge(status, &body),
        Err(label) => (
            Outcome::Failure {
                label: label.to_owned(),
            },
            Vec::new(),
        ),
    };
    let mut r = lock(recorder);
    r.record(latency, outcome);
    for (label, n) in lines {
        r.count_error(label, n);
    }
}

/// Whether request number `sequence` may start: within the count and the duration.
fn may_start(config: &Config, sequence: u64, started: Instant) -> bool {
    within(config.max_requests, config.duration, sequence, started)
}

/// [`may_start`] from the two limits alone.
fn within(max_requests: Option<u64>, duration: Duration, sequence: u64, started: Instant) -> bool {
    max_requests.is_none_or(|max| sequence < max) && started.elapsed() < duration
}

async fn closed_loop(
    config: &Config,
    concurrency: usize,
    client: &Arc<Client>,
    workload: &Arc<Workload>,
    recorder: &Arc<Mutex<Recorder>>,
) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    // Each worker takes the two limits, not a clone of the config: that holds the
    // project names (half a million strings at 10M entries), and cloning them once per
    // worker spent a core for the run's first seconds.
    let (max_requests, duration) = (config.max_requests, config.duration);
    for _ in 0..concurrency {
        let (client, workload, recorder, next) = (
            client.clone(),
            workload.clone(),
            recorder.clone(),
            next.clone(),
        );
        workers.spawn(async move {
            let mut rng = SmallRng::from_entropy();
            loop {
                let sequence = next.fetch_add(1, Ordering::Relaxed);
                if !within(max_requests, duration, sequence, started) {
                    break;
                }
                let now = Instant::now();
                one_request(&client, &workload, &recorder, sequence, now, &mut rng).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

async fn open_loop(
    config: &Config,
    rate: u64,
    client: &Arc<Client>,
    workload: &Arc<Workload>,
    recorder: &Arc<Mutex<Recorder>>,
) {
    let started = Instant::now();
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut seed_rng = SmallRng::from_entropy();
    let mut sequence = 0u64;
    loop {
        // Request n is due at n/rate seconds; a late timer sends the overdue ones at
        // once, and their latency still counts from when they were due.
        let scheduled = started + Duration::from_secs_f64(sequence as f64 / rate as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        if !may_start(config, sequence, started) {
            break;
        }
        if in_flight.load(Ordering::Relaxed) >= config.max_in_flight as u64 {
            lock(recorder).record_unsent("in-flight limit");
        } else {
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (client, workload, recorder, in_flight) = (
                client.clone(),
                workload.clone(),
                recorder.clone(),
                in_flight.clone(),
            );
            let mut rng =
                SmallRng::from_rng(&mut seed_rng).unwrap_or_else(|_| SmallRng::from_entropy());
            tasks.spawn(async move {
                one_request(&client, &workload, &recorder, sequence, scheduled, &mut rng).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        // Reap finished tasks so the set does not grow for the whole run.
        while tasks.try_join_next().is_some() {}
        sequence += 1;
    }
    while tasks.join_next().await.is_some() {}
}

/// Locks the recorder; it is only held for plain bookkeeping that cannot panic, so a
/// poisoned lock still holds consistent counts.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
