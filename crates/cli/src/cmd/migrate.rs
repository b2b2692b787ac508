//! `bintrail migrate`: copies an existing tlog-tiles log into a bintrail log on any
//! backend (object storage and PostgreSQL, or a local data directory).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bintrail_log::config::DEFAULT_STORE_TIMEOUT;
use bintrail_log::storage::{
    CloudOptions, CloudStorage, DEFAULT_LEASE, LocalStorage, S3Location, Storage,
};
use bintrail_migrate::{MigrateError, Source};
use bintrail_tlog::note::Verifier;
use bintrail_tlog::pypi::Entry;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long to wait for the target's sequencing lease.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Exit codes of `bintrail migrate`, shown by `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   the target holds the source's log, checkpoints included (also when it already did)
  1   refused: the source does not match its signed checkpoint, or holds two entries under
      one identifier (each pair is named); nothing unverified was written
  2   unusable input: bad arguments, unreadable key, source or target unreachable, or a
      target that holds another log";

/// Arguments of `bintrail migrate`.
#[derive(clap::Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct Args {
    /// The log to copy: a directory at tlog-tiles paths (a bintrail data directory, or
    /// Tessera's POSIX layout as bt-log writes it) or a tlog-tiles base URL.
    #[arg(long, value_name = "URL_OR_DIR")]
    from: String,
    /// Where to: s3://BUCKET[/PREFIX] (needs --database; credentials and region from
    /// AWS_*) or a local data directory.
    #[arg(long, value_name = "STORAGE")]
    to: String,
    /// The target's PostgreSQL, postgres://USER[:PASSWORD]@HOST[:PORT]/DB (with an s3://
    /// target).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The S3 endpoint of a non-AWS store, like http://127.0.0.1:3900 [default:
    /// AWS_ENDPOINT, else AWS].
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// The source log's verifier key (a `name+hash+base64` line, as `bintrail keygen
    /// --public-key` writes it) [default: <from>/log.vkey for a directory holding one].
    #[arg(long, value_name = "FILE")]
    from_key: Option<PathBuf>,
}

/// Runs the migration; see [`EXIT_CODES_HELP`].
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::logging::init(crate::logging::LogFormat::Text);
    let key = read_key(&args)?;
    let target = Target::parse(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    let outcome = runtime.block_on(async move {
        let rt = tokio::runtime::Handle::current();
        let source = Source::open(&args.from, rt.clone())?;
        let (storage, cloud) = target.open().await?;
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} entries [{elapsed}] {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let shown = bar.clone();
        let storage2 = storage.clone();
        let result = tokio::task::spawn_blocking(move || {
            bintrail_migrate::migrate::<Entry>(&source, &key, storage2.as_ref(), &|done, total| {
                shown.set_length(total);
                shown.set_position(done);
            })
        })
        .await
        .context("the migration task")?;
        bar.finish_and_clear();
        drop(storage);
        if let Some(cloud) = cloud
            && let Err(err) = cloud.release().await
        {
            tracing::warn!(%err, "could not give the sequencing lease up; it runs out by itself");
        }
        anyhow::Ok(result)
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(report) => {
            let seconds = started.elapsed().as_secs_f64();
            if report.already_done {
                println!(
                    "bintrail: the target already holds {} at size {}; nothing to copy",
                    report.origin, report.size
                );
            } else {
                println!(
                    "bintrail: migrated {} (size {}, published {}): {} entries copied{} in {:.1}s ({:.0} entries/s)",
                    report.origin,
                    report.size,
                    report.published,
                    report.copied,
                    if report.resumed_from > 0 {
                        format!(", resumed at {}", report.resumed_from)
                    } else {
                        String::new()
                    },
                    seconds,
                    report.copied as f64 / seconds.max(0.001),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(
            err @ (MigrateError::Tampered { .. }
            | MigrateError::Conflicts { .. }
            | MigrateError::Inconsistent { .. }
            | MigrateError::Bundle { .. }
            | MigrateError::Entry { .. }
            | MigrateError::Checkpoint { .. }),
        ) => {
            eprintln!("bintrail: refused: {err}");
            Ok(ExitCode::from(1))
        }
        Err(err) => Err(err.into()),
    }
}

/// The source's verifier key: `--from-key`, else `<from>/log.vkey`.
fn read_key(args: &Args) -> anyhow::Result<Verifier> {
    let path = match &args.from_key {
        Some(path) => path.clone(),
        None => {
            let default = Path::new(&args.from).join("log.vkey");
            anyhow::ensure!(
                !args.from.contains("://") && default.is_file(),
                "--from-key is required: the source's verifier key (name+hash+base64), \
                 which a bintrail data directory holds as log.vkey"
            );
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the source's key {}", path.display()))?;
    text.trim()
        .parse()
        .with_context(|| format!("the source's key {}", path.display()))
}

/// Where the log goes.
enum Target {
    Cloud(CloudOptions),
    Local(PathBuf),
}

impl Target {
    fn parse(args: &Args) -> anyhow::Result<Target> {
        if args.to.starts_with("s3://") {
            let storage: S3Location = args
                .to
                .parse()
                .with_context(|| format!("--to {}", args.to))?;
            let database = args
                .database
                .clone()
                .context("--database is required with an s3:// target")?;
            anyhow::ensure!(
                database.starts_with("postgres://") || database.starts_with("postgresql://"),
                "--database must be a postgres:// or postgresql:// URL"
            );
            return Ok(Target::Cloud(CloudOptions {
                storage,
                s3_endpoint: args.s3_endpoint.clone(),
                database,
                lease: DEFAULT_LEASE,
                request_timeout: DEFAULT_STORE_TIMEOUT,
                aws: vec![],
                // migrate takes no forwarded adds.
                advertise: String::new(),
            }));
        }
        anyhow::ensure!(
            !args.to.contains("://"),
            "--to must be s3://BUCKET[/PREFIX] or a directory, not {}",
            args.to
        );
        anyhow::ensure!(
            args.database.is_none() && args.s3_endpoint.is_none(),
            "--database and --s3-endpoint need an s3:// target"
        );
        Ok(Target::Local(PathBuf::from(&args.to)))
    }

    async fn open(self) -> anyhow::Result<(Arc<dyn Storage>, Option<Arc<CloudStorage>>)> {
        match self {
            Target::Cloud(opts) => {
                // A dead holder's lease runs out within DEFAULT_LEASE; one still held after
                // LEASE_WAIT belongs to a running frontend.
                let opened = CloudStorage::open(&opts)
                    .await
                    .context("opening the target bucket and database")?;
                tokio::time::timeout(LEASE_WAIT, opened.wait_for_lease())
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "a running bintrail serve holds the target's sequencing lease; \
                             migrate only into a log no frontend serves"
                        )
                    })?;
                let cloud = opened;
                let cloud = Arc::new(cloud);
                Ok((cloud.clone(), Some(cloud)))
            }
            Target::Local(dir) => {
                let shown = dir.display().to_string();
                let local = tokio::task::spawn_blocking(move || LocalStorage::open(&dir))
                    .await
                    .context("opening the target")?
                    .with_context(|| format!("opening the target {shown}"))?;
                Ok((Arc::new(local), None))
            }
        }
    }
}
