//! `bintrail vindex serve`: a verifiable index over a log (issue 16). It follows the
//! log, keeps the map of projects to their entries, publishes each map root in its own
//! log, and answers `GET /vindex/v1/lookup/<project>` with proofs `bintrail lookup`
//! verifies.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bintrail_log::server::{ConnectionLimits, bind, serve_connections};
use bintrail_log::{Cosigner, NoWitness};
use bintrail_tlog::policy::Policy;
use bintrail_vindex::{Vindex, VindexOptions};
use humantime::parse_duration;

use crate::cosigner::PolicyCosigner;

/// Arguments of `bintrail vindex`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Follow a log and serve verifiable lookups of its projects.
    Serve(ServeArgs),
}

/// Arguments of `bintrail vindex serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The input log's tlog-tiles URL prefix.
    #[arg(long, value_name = "URL")]
    log: String,
    /// The tlog-policy the input log's checkpoints must meet.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The data directory: the output log of map roots and the input log's last
    /// verified checkpoint (created if absent).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The output log's private key (`bintrail keygen`); its name is the output log's
    /// origin.
    #[arg(long, value_name = "KEY")]
    private_key: PathBuf,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8091")]
    listen: SocketAddr,
    /// A tlog-policy whose witnesses (with URLs) must cosign each output checkpoint
    /// before it is published [default: no witnesses].
    #[arg(long, value_name = "FILE")]
    witness_policy: Option<PathBuf>,
    /// How often the input log's checkpoint is fetched.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    interval: Duration,
    /// How often the output log sequences.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "500ms")]
    checkpoint_interval: Duration,
}

/// Runs `bintrail vindex`: exit 0 after a clean shutdown, 2 when it cannot start or
/// stops on an error it cannot retry (a fork of the input log, a map that does not
/// rebuild to what it published).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init(crate::logging::LogFormat::Text);
    let Command::Serve(args) = args.command;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

fn read_policy(path: &PathBuf) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the policy {}", path.display()))?;
    text.parse()
        .with_context(|| format!("parsing the policy {}", path.display()))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let shutdown = crate::cmd::serve::shutdown_signal()?;
    let policy = read_policy(&args.policy)?;
    let signer = bintrail_log::keys::read_signer(&args.private_key)?;
    let opts = VindexOptions {
        log_url: args.log.clone(),
        policy,
        data_dir: args.data.clone(),
        signer: signer.clone(),
        checkpoint_interval: args.checkpoint_interval,
    };
    let listener = bind(args.listen).await?;
    let index = match &args.witness_policy {
        Some(path) => {
            let witnesses = read_policy(path)?;
            let cosigner = PolicyCosigner::new(witnesses, Duration::from_secs(15))
                .with_context(|| format!("the witness policy {}", path.display()))?;
            open(opts, cosigner).await?
        }
        None => open(opts, NoWitness).await?,
    };
    println!("bintrail: vindex origin {}", signer.name());
    println!("bintrail: vindex vkey {}", signer.verifier());
    println!("bintrail: listening on http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve_connections(
        listener,
        bintrail_vindex::server::router(index.clone()),
        None,
        ConnectionLimits::default(),
        {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        },
    ));
    let follow = index.follow(args.interval, shutdown).await;
    let _ = stop_tx.send(true);
    index.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    match follow {
        Ok(()) => {
            println!("bintrail: stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(anyhow::Error::new(e).context("the index stopped")),
    }
}

async fn open<C: Cosigner>(opts: VindexOptions, cosigner: C) -> anyhow::Result<Vindex> {
    let dir = opts.data_dir.clone();
    Vindex::open(opts, cosigner)
        .await
        .with_context(|| format!("opening the index in {}", dir.display()))
}

/// `serve --vindex`: opens an index over the log `server` serves at `url` (its key in
/// `<data>/vindex/vindex.key`, made on first start; the log's own published policy to
/// follow it; its log of map roots cosigned by the witnesses of `witness_policy`, when
/// given) and nests its API under `/vindex`. Returns the index and its vkey.
pub async fn attach(
    server: bintrail_log::server::Server,
    config: &bintrail_log::config::ServeConfig,
    url: &str,
    witness_policy: Option<&std::path::Path>,
) -> anyhow::Result<(bintrail_log::server::Server, (Vindex, String))> {
    use bintrail_log::keys::{generate_signer, read_signer, write_key_pair};
    use bintrail_tlog::note::KeyType;
    let dir = config.data.join("vindex");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let key_path = dir.join("vindex.key");
    let log = server.prepared().signer.clone();
    let signer = if key_path.exists() {
        read_signer(&key_path)?
    } else {
        let name = format!("{}/vindex", log.name());
        let signer = generate_signer(&name, KeyType::Ed25519, &mut rand::rngs::OsRng)?;
        write_key_pair(&signer, &key_path, &dir.join("vindex.vkey"))?;
        signer
    };
    let witnesses = match &config.policy {
        Some(path) => Some(read_policy(path)?),
        None => None,
    };
    let policy: Policy = crate::cosigner::policy_text(&log.verifier(), witnesses.as_ref())
        .parse()
        .context("the log's own policy")?;
    let vkey = signer.verifier().to_string();
    let opts = VindexOptions {
        log_url: url.to_owned(),
        policy,
        data_dir: dir.clone(),
        signer,
        checkpoint_interval: config.checkpoint_interval,
    };
    let index = match witness_policy {
        Some(path) => {
            let cosigner =
                PolicyCosigner::new(read_policy(&path.to_owned())?, Duration::from_secs(15))
                    .with_context(|| format!("the vindex witness policy {}", path.display()))?;
            open(opts, cosigner).await?
        }
        None => open(opts, NoWitness).await?,
    };
    let server = server.nest("/vindex", bintrail_vindex::server::router(index.clone()));
    Ok((server, (index, vkey)))
}

/// Runs the index's steps every second until the returned sender says stop.
pub fn spawn_follow(
    index: Vindex,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        if let Err(e) = index.follow(Duration::from_secs(1), stop).await {
            tracing::error!(error = %e, "the verifiable index stopped; lookups answer from what it last published");
        }
    });
    (tx, task)
}
