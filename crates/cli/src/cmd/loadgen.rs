//! `bintrail loadgen`: puts load on a log and reports throughput, latency and errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bintrail_loadgen::{Config, Mode, Protocol, Scenario};

/// Arguments of `bintrail loadgen`.
#[derive(clap::Args)]
pub struct Args {
    /// The log's base URL; only loopback targets unless --allow-remote.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// What to request: add (POST /add), bulk (POST /admin/bulk/append), tiles (random
    /// tiles and entry bundles, and /checkpoint for one request in ten), lookup
    /// (GET /lookup/pypi/<logged filename>), healthz (the HTTP ceiling), vindex-lookup
    /// (GET /vindex/v1/lookup/<project> of a `bintrail vindex serve` at --url, which may
    /// then have a path such as http://127.0.0.1:8080/vindex; names from --projects) or
    /// vindex-lookup-v2 (the same at /vindex/v2/lookup/<project>, one proof for all
    /// entries).
    #[arg(long, value_parser = ["add", "bulk", "tiles", "lookup", "healthz", "vindex-lookup", "vindex-lookup-v2"])]
    scenario: String,
    /// vindex-lookup and vindex-lookup-v2: a file of project names, one a line; each request looks one up,
    /// drawn uniformly.
    #[arg(long, value_name = "FILE")]
    projects: Option<PathBuf>,
    /// Open loop: start this many requests per second; latency counts from each
    /// request's scheduled start.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "concurrency",
        required_unless_present = "concurrency"
    )]
    rate: Option<u64>,
    /// Closed loop: keep this many requests in flight.
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Use HTTP/2 (h2c, prior knowledge): multiplexed streams over --connections.
    #[arg(long)]
    http2: bool,
    /// Connections: for HTTP/2 how many to spread streams over [default: 4]; for
    /// HTTP/1.1 the most open at once [default: --concurrency, or 4096 with --rate].
    #[arg(long, value_name = "N")]
    connections: Option<usize>,
    /// Stop starting requests after this long (like 500ms, 10s, 2m).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Stop after starting this many requests.
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// Entries per bulk request.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    bulk_lines: usize,
    /// A file holding the publish token (as `bintrail serve` writes it in its data dir).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The publish token itself (prefer --token-file or the environment: a token on the
    /// command line is visible to other users of the machine).
    #[arg(long, env = "BINTRAIL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A request with no response after this long counts as a timeout.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Open loop: requests in flight beyond which due requests are dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    max_in_flight: usize,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
    /// Print the report as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the load and prints the report; exit 0 when the run completed (failed
/// requests are counted in the report, not in the exit code), 2 when it could not
/// start.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    let json = args.json;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime
        .block_on(bintrail_loadgen::run(config))
        .context("loadgen")?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

fn config(args: &Args) -> anyhow::Result<Config> {
    let scenario = match args.scenario.as_str() {
        "add" => Scenario::Add,
        "bulk" => Scenario::Bulk {
            lines: args.bulk_lines,
        },
        "tiles" => Scenario::Tiles,
        "lookup" => Scenario::Lookup,
        "vindex-lookup" => Scenario::VindexLookup { version: 1 },
        "vindex-lookup-v2" => Scenario::VindexLookup { version: 2 },
        // clap allows only the values above.
        _ => Scenario::Healthz,
    };
    let mode = match (args.rate, args.concurrency) {
        (Some(rate), _) => Mode::Open { rate },
        (None, Some(concurrency)) => Mode::Closed { concurrency },
        (None, None) => anyhow::bail!("give --rate or --concurrency"),
    };
    let mut config = Config::new(&args.url, scenario, mode);
    if args.http2 {
        config.protocol = Protocol::Http2 {
            connections: args.connections.unwrap_or(4),
        };
    } else if let Some(connections) = args.connections {
        config.protocol = Protocol::Http1 { connections };
    }
    config.duration = args.duration;
    config.max_requests = args.max_requests;
    config.timeout = args.timeout;
    config.max_in_flight = args.max_in_flight;
    config.allow_remote = args.allow_remote;
    if let Some(path) = &args.projects {
        config.projects = std::fs::read_to_string(path)
            .with_context(|| format!("reading the project names in {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
    }
    config.token = match (&args.token_file, &args.token) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, token) => token.clone(),
    };
    Ok(config)
}
