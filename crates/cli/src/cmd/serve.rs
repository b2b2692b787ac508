//! `bintrail serve`: runs a log.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bintrail_log::config::{ServeConfig, Settings, parse_duration};
use bintrail_log::server::Server;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::policy::Policy;

use crate::cosigner::{PolicyCosigner, policy_text};

/// Arguments of `bintrail serve`. Every flag overrides the same key in `--config`.
#[derive(clap::Args)]
pub struct Args {
    /// A TOML file with the same settings (keys are the flag names without `--`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory [default: ./bintrail-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// The log's origin; must match the key [default: the key's name, or
    /// bintrail.localhost/log-<8 hex digits of its SHA-256> for a key made on first start].
    #[arg(long)]
    origin: Option<String>,
    /// The log's private key (from `bintrail keygen`) [default: <data>/log.key, made on
    /// first start].
    #[arg(long, value_name = "PATH")]
    private_key: Option<PathBuf>,
    /// The tokens file (from `bintrail token add`) [default: <data>/tokens, made on
    /// first start with one token in <data>/publish-token].
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// How often a batch is sequenced and a checkpoint published, like 500ms, 1s, 2m
    /// [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    checkpoint_interval: Option<Duration>,
    /// Entries per sequenced batch [default: 16384].
    #[arg(long, value_name = "N")]
    max_batch_entries: Option<usize>,
    /// Entries waiting to be sequenced beyond which adds get 503 [default: 200000].
    #[arg(long, value_name = "N")]
    max_pending_entries: Option<usize>,
    /// How long an add waits for a published checkpoint before 503 [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    add_timeout: Option<Duration>,
    /// Lines accepted in one POST /admin/bulk/append [default: 100000].
    #[arg(long, value_name = "N")]
    max_bulk_entries: Option<usize>,
    /// How long a POST /add body may take to arrive before a 408 [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    body_timeout: Option<Duration>,
    /// How long a POST /admin/bulk/append body may take to arrive before a 408
    /// [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    bulk_body_timeout: Option<Duration>,
    /// How long a response may wait for a client that takes none of it (a zero HTTP/2
    /// window, an unread socket) before the connection is closed [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    send_timeout: Option<Duration>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// A C2SP tlog-policy file whose witness lines carry URLs: a checkpoint is
    /// published only once the policy's quorum cosigned it [default: no witnesses].
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// A Sigstore trusted_root.json (e.g. staging's) to verify the attestations sent
    /// with adds against [default: the bundled Sigstore public-good root].
    #[arg(long, value_name = "FILE")]
    sigstore_trusted_root: Option<PathBuf>,
    /// Keep tiles, entry bundles and checkpoints in an S3-compatible bucket,
    /// s3://BUCKET[/PREFIX] (needs --database; credentials and region from AWS_*)
    /// [default: the data directory].
    #[arg(long, value_name = "URL")]
    storage: Option<String>,
    /// The S3 endpoint of a non-AWS store, like http://127.0.0.1:3900 [default:
    /// AWS_ENDPOINT, else AWS].
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Keep the tree state, uniqueness index and sequencing lease in PostgreSQL,
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DB (needs --storage). Several frontends on
    /// one bucket and database all serve; one sequences at a time and the others forward
    /// adds to it [default: the data directory].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// With --database: the URL other frontends forward adds to while this one
    /// sequences [default: http(s):// and the bound listen address].
    #[arg(long, value_name = "URL")]
    advertise_url: Option<String>,
    /// Also run a verifiable index over this log, in this process: lookups of a project's
    /// files with completeness proofs at <url>/vindex (`bintrail lookup --vindex <url>/vindex`),
    /// its key made on first start in <data>/vindex/vindex.key.
    #[arg(long)]
    vindex: bool,
    /// With --vindex: a tlog-policy whose witnesses (with URLs) must cosign each checkpoint
    /// of the index's log of map roots before it is published, as `vindex serve
    /// --witness-policy` [default: not witnessed].
    #[arg(long, value_name = "FILE", requires = "vindex")]
    vindex_witness_policy: Option<PathBuf>,
    /// Diagnostics on stderr: `text` (coloured only on a terminal) or `json` (one
    /// object per line).
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    log_format: crate::logging::LogFormat,
}

impl Args {
    fn settings(self) -> (Option<PathBuf>, Settings) {
        let flags = Settings {
            data: self.data,
            listen: self.listen,
            origin: self.origin,
            private_key: self.private_key,
            tokens: self.tokens,
            checkpoint_interval: self.checkpoint_interval,
            max_batch_entries: self.max_batch_entries,
            max_pending_entries: self.max_pending_entries,
            add_timeout: self.add_timeout,
            max_bulk_entries: self.max_bulk_entries,
            body_timeout: self.body_timeout,
            bulk_body_timeout: self.bulk_body_timeout,
            send_timeout: self.send_timeout,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            policy: self.policy,
            sigstore_trusted_root: self.sigstore_trusted_root,
            storage: self.storage,
            s3_endpoint: self.s3_endpoint,
            database: self.database,
            advertise_url: self.advertise_url,
        };
        (self.config, flags)
    }
}

/// Serves until SIGTERM or SIGINT; exit 0 after a clean shutdown, 2 when the server
/// cannot start.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Diagnostics go to stderr, filtered by RUST_LOG (default: info); stdout carries
    // only the lines below that scripts read.
    crate::logging::init(args.log_format);
    let vindex = args.vindex.then(|| args.vindex_witness_policy.clone());
    let (config_file, flags) = args.settings();
    let file = match &config_file {
        Some(path) => Settings::from_toml_file(path)?,
        None => Settings::default(),
    };
    let config = ServeConfig::resolve(file.overlay(flags))?;
    if vindex.is_some() && config.tls.is_some() {
        // The in-process index follows the log through the log's own URL, with a client
        // that trusts only the system's roots; a log's own certificate is not among them.
        anyhow::bail!(
            "--vindex cannot run with --tls-cert: run `bintrail vindex serve --log URL` beside \
             the log instead (see the README, \"Verifiable lookups\")"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Storage reads that miss the caches run on blocking threads. tokio's default of 512
        // let a burst of misses start hundreds of threads, each with its own allocator heap
        // (gigabytes of resident memory at 30,000 requests in flight); a few dozen keep
        // the disk busy just as well.
        .max_blocking_threads(32)
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(config, vindex));
    // Blocking work still running (a large proof computation for a dropped
    // request) must not hold the exit hostage.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// Installs the SIGTERM and SIGINT handlers now, and returns a future that
/// resolves on the first of them; a second one ends the process at once, for an
/// operator who does not want to wait for the graceful shutdown.
///
/// Installing them only when the server first polled its shutdown future, after
/// the listening line, let a SIGTERM sent as soon as a script saw that line kill
/// the process instead of shutting it down (finding L5).
pub(crate) fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    install_signals()
}

fn install_signals() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("bintrail: second signal; exiting without finishing the shutdown");
            std::process::exit(130);
        });
    })
}

/// Starts the server: without a policy the log publishes every checkpoint it
/// signs; with one, only what the policy's witnesses cosigned.
async fn start(config: &ServeConfig) -> anyhow::Result<Server> {
    let Some(path) = &config.policy else {
        return Ok(Server::start(config).await?);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the policy {}", path.display()))?;
    let policy: Policy = text
        .parse()
        .with_context(|| format!("parsing the policy {}", path.display()))?;
    // Half the add timeout per round leaves the other half for sequencing and a
    // retry, so an add can still be published while one witness hangs.
    let round = config.add_timeout / 2;
    let cosigner = PolicyCosigner::new(policy.clone(), round)
        .with_context(|| format!("the policy {}", path.display()))?;
    let server = Server::start_with(config, cosigner, |log: &Verifier| {
        policy_text(log, Some(&policy))
    })
    .await?;
    Ok(server)
}

/// `vindex`: `None` without --vindex, else the index's witness policy, if any.
async fn serve(config: ServeConfig, vindex: Option<Option<PathBuf>>) -> anyhow::Result<ExitCode> {
    let shutdown = install_signals()?;
    let server = start(&config)
        .await
        .map_err(|err| explain_full_disk(err, &config.data))?;
    let url = server.url()?;
    let (server, index) = match vindex {
        Some(witnesses) => {
            let (server, index) =
                super::vindex::attach(server, &config, &url, witnesses.as_deref()).await?;
            (server, Some(index))
        }
        None => (server, None),
    };
    let prepared = server.prepared();
    // Stable lines on stdout; the listening line comes last, so a script that waits
    // for it has seen the others.
    println!("bintrail: log origin {}", prepared.signer.name());
    println!("bintrail: log vkey {}", prepared.signer.verifier());
    if prepared.created_key {
        println!(
            "bintrail: created the log key {}",
            prepared.key_path.display()
        );
    }
    match &prepared.created_token {
        Some(token_file) => println!(
            "bintrail: created a publish token in {} (send it as Authorization: Bearer <token>)",
            token_file.display()
        ),
        None => println!(
            "bintrail: publish tokens from {}",
            prepared.tokens_path.display()
        ),
    }
    if let Some((_, vkey)) = &index {
        println!("bintrail: vindex at {url}/vindex, vkey {vkey}");
    }
    println!("bintrail: listening on {url}");
    match index {
        Some((index, _)) => {
            let (stop, follow) = super::vindex::spawn_follow(index.clone());
            server.run(shutdown).await;
            let _ = stop.send(true);
            let _ = follow.await;
            index.shutdown().await;
        }
        None => server.run(shutdown).await,
    }
    println!("bintrail: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Names the likely cause when the filesystem holding the data directory has
/// no free space: SQLite then fails to open its index with only "disk I/O
/// error" (finding L4). Other failures are returned as they are.
fn explain_full_disk(err: anyhow::Error, data: &Path) -> anyhow::Error {
    match available_bytes(data) {
        Some(0) => err.context(format!(
            "the filesystem holding {} has no free space; free some and start again",
            data.display()
        )),
        _ => err,
    }
}

/// Bytes an unprivileged writer may still use on the filesystem holding
/// `dir` (statvfs `f_bavail`), or `None` if it cannot be asked.
fn available_bytes(dir: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
