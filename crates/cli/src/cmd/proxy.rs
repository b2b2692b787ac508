//! `bintrail proxy`: a verifying index in front of a real one (see `bintrail_proxy`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bintrail_client::identity_policy::IdentityPolicy;
use bintrail_client::verify::load_policy;
use bintrail_proxy::{Config, Mode};

use super::verify_index::index_client;

/// Arguments of `bintrail proxy`.
#[derive(clap::Args)]
pub struct Args {
    /// The upstream index's Simple API base URL (e.g. http://127.0.0.1:8082/simple/),
    /// an index that must serve proofs: every file downloaded through the proxy is
    /// verified.
    #[arg(long, value_name = "URL")]
    pub index: String,
    /// A tlog-policy pinning the log key (and witness quorum); without it the key is
    /// read from the index's /.well-known/bt/tlog-info on first use and cached.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// enforce: refuse a file that fails verification; report: let it through and
    /// report the failure (stderr JSON lines and /metrics).
    #[arg(long, value_name = "MODE", default_value = "enforce", value_parser = ["enforce", "report"])]
    pub mode: String,
    /// The address to listen on (port 0: any free port; the URL is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3141")]
    pub listen: String,
    /// Where verified files and proofs are cached (default:
    /// $XDG_CACHE_HOME/bintrail/proxy or ~/.cache/bintrail/proxy).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The state directory: the index's cached log key, the latest checkpoint per
    /// log, fork evidence (default: $XDG_STATE_HOME/bintrail or
    /// ~/.local/state/bintrail).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Accept a new log key that the index announces with a new origin (check the
    /// index's announcements first), instead of refusing every file.
    #[arg(long)]
    pub accept_new_key: bool,
    /// POST evidence of log misbehaviour (a fork, tiles that do not match a signed
    /// checkpoint) as JSON to this URL.
    #[arg(long, value_name = "URL")]
    pub report_url: Option<String>,
    /// A TOML file naming, per project, the publishers accepted (`[projects.NAME]` with
    /// `identities = [...]`: PEP 751 attestation identities, or `issuer` and a `subject`
    /// regex). A file of a listed project whose logged publisher matches none is refused.
    #[arg(long, value_name = "FILE")]
    pub identity_policy: Option<PathBuf>,
}

/// Runs the proxy until it is killed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let identities = match &args.identity_policy {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            IdentityPolicy::parse(&text).with_context(|| path.display().to_string())?
        }
        None => IdentityPolicy::default(),
    };
    let pinned = match &args.policy {
        Some(path) => Some(load_policy(path)?),
        None => None,
    };
    let client = index_client(&args.index, args.state.clone(), pinned, args.accept_new_key)?;
    let cache = match args.cache.clone().or_else(default_cache) {
        Some(dir) => dir,
        None => anyhow::bail!("no cache directory: set --cache, XDG_CACHE_HOME or HOME"),
    };
    let mode = if args.mode == "report" {
        Mode::Report
    } else {
        Mode::Enforce
    };
    let constrained = identities.len();
    let config = Config {
        client,
        mode,
        cache,
        report_url: args.report_url.clone(),
        identities,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("bintrail: verifying {} ({} mode)", args.index, args.mode);
        if constrained > 0 {
            println!("bintrail: identity policy for {constrained} project(s)");
        }
        println!("bintrail: listening on http://{addr}/simple/");
        bintrail_proxy::serve(config, listener).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn default_cache() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    if let Some(dir) = xdg {
        return Some(dir.join("bintrail/proxy"));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())?;
    Some(home.join(".cache/bintrail/proxy"))
}
