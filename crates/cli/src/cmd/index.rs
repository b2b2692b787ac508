//! `bintrail index`: serve the draft PEP's proofs in front of an existing simple index.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bintrail_client::fetch::Timeouts;
use bintrail_client::state::StateDir;
use bintrail_client::verify::load_policy;
use bintrail_index::{IndexConfig, IndexServer};

/// Arguments of `bintrail index`.
#[derive(clap::Args)]
pub struct Args {
    /// The upstream index's Simple API base URL, e.g. http://127.0.0.1:8081/simple/.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// The log's URL (where `bintrail serve` answers /lookup/pypi/ and
    /// /.well-known/bt/tlog-key).
    #[arg(long, value_name = "URL")]
    pub log: String,
    /// Check proofs against this tlog-policy (log key, witnesses, quorum). Without it,
    /// the log's /.well-known/bt/tlog-key is fetched at start and pinned.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,
    /// The URL clients reach this index at, used in the proof links
    /// (default: http://<listen address>).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Where the last checkpoint seen from the log is kept, to refuse a log that forks
    /// (default: the state directory `bintrail verify` uses).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

/// Starts the index and serves until SIGTERM or SIGINT. Exit 0 after a clean
/// shutdown, 2 when it cannot start (bad URL, log unreachable, key or checkpoint
/// refused, address in use).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        Some(path) => Some(load_policy(path)?),
        None => None,
    };
    let state_dir = match args.state.clone().or_else(StateDir::default_path) {
        Some(dir) => dir,
        None => anyhow::bail!("no state directory: set --state, XDG_STATE_HOME or HOME"),
    };
    let config = IndexConfig {
        upstream: args.upstream,
        log_url: args.log,
        policy,
        listen: args.listen,
        public_url: args.public_url,
        state_dir,
        timeouts: Timeouts::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = super::serve::shutdown_signal()?;
        let server = IndexServer::start(config).await?;
        println!("bintrail: index log key {}", server.log_key());
        println!("bintrail: index listening on {}", server.url());
        server.run(shutdown).await;
        println!("bintrail: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
