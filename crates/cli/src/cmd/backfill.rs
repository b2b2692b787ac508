//! `bintrail backfill`: log every file an existing index serves (the draft PEP's
//! Appendix B), before clients start requiring proofs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bintrail_client::fetch::Timeouts;
use bintrail_index::backfill::{BackfillConfig, Progress, Projects, backfill};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Exit codes of `bintrail backfill`, shown by `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   every file is logged with the checksum the index serves
  1   conflict: the log holds at least one file with another checksum (each is named)
  2   unusable input: bad arguments, unreadable token or project file, index or log unusable
  3   some files could not be logged (each is named with the reason)";

/// Arguments of `bintrail backfill`.
#[derive(clap::Args)]
#[command(after_help = EXIT_CODES_HELP)]
pub struct Args {
    /// The index's Simple API base URL, e.g. http://127.0.0.1:8081/simple/.
    #[arg(long, value_name = "URL")]
    pub index: String,
    /// The log's URL.
    #[arg(long, value_name = "URL")]
    pub log: String,
    /// A file holding a publish token of the log.
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// Only these projects: a file with one project name per line (`#` comments).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "all",
        required_unless_present = "all"
    )]
    pub projects: Option<PathBuf>,
    /// Every project of the index's project list.
    #[arg(long)]
    pub all: bool,
    /// Pages, downloads and bulk requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
}

/// Runs the backfill and prints the summary; see [`EXIT_CODES_HELP`].
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the token file {}", args.token_file.display()))?
        .trim()
        .to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "the token file {} is empty",
        args.token_file.display()
    );
    let projects = match &args.projects {
        Some(path) => Projects::Named(read_projects(path)?),
        None => Projects::All,
    };
    let config = BackfillConfig {
        index: args.index,
        log: args.log,
        token,
        projects,
        concurrency: usize::from(args.concurrency),
        timeouts: Timeouts::default(),
    };
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} files [{elapsed}] {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    let progress = Arc::new(move |p: Progress| match p {
        Progress::Found(n) => shown.inc_length(n as u64),
        Progress::Done(n) => shown.inc(n as u64),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(backfill(config, progress))?;
    bar.finish_and_clear();
    for c in &summary.conflicts {
        eprintln!(
            "bintrail: CONFLICT {}: the index serves {} but the log holds {}",
            c.filename, c.index_checksum, c.log_checksum
        );
    }
    for (filename, why) in &summary.errors {
        eprintln!("bintrail: not logged {filename}: {why}");
    }
    println!(
        "bintrail: backfill of {} projects: {} logged, {} already logged, {} conflicts, {} errors",
        summary.projects,
        summary.logged,
        summary.already_logged,
        summary.conflicts.len(),
        summary.errors.len()
    );
    Ok(if !summary.conflicts.is_empty() {
        ExitCode::from(1)
    } else if !summary.errors.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Project names, one per line; blank lines and `#` comments skipped.
fn read_projects(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the project list {}", path.display()))?;
    let mut names = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        anyhow::ensure!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            "{}:{}: {name:?} is not a project name",
            path.display(),
            n + 1
        );
        names.push(name.to_owned());
    }
    Ok(names)
}
