//! `bintrail monitor`: tails a log and reports findings (issue 6).
//!
//! Findings are JSON lines on stdout; a human summary goes to stderr. With `--once` the exit code is
//! 0 when the log checked out clean (watched-release notices allowed), 1 on any integrity finding
//! (equivocation, registry mismatch, fork, malformed) and 2 when it could not check. Without `--once`
//! it runs a pass every `--interval` and never exits on network errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bintrail_monitor::sweep::SweepConfig;
use bintrail_monitor::{Finding, Monitor, MonitorConfig, PassReport, ProgressStyle};
use bintrail_vindex::audit::Auditor;

/// Arguments of `bintrail monitor`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit codes with --once: 0 clean (notices allowed), 1 integrity finding, 2 could not check."
)]
pub struct Args {
    /// The log's tlog-tiles URL prefix (where /checkpoint and /tile/... are served).
    #[arg(long, value_name = "URL")]
    pub log: String,
    /// The tlog-policy file: the log's key and the witnesses whose cosignatures must meet the quorum.
    #[arg(long, value_name = "POLICY")]
    pub policy: PathBuf,
    /// The state directory: last verified checkpoint, fork evidence and the identifier index.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Report new entries whose PEP 503 normalized project name matches this regex (unanchored:
    /// write ^name$ for one exact project). Repeatable.
    #[arg(long, value_name = "REGEX")]
    pub watch: Vec<String>,
    /// A simple repository index (PEP 691 JSON or PEP 503 HTML) to compare digests with, e.g.
    /// https://pypi.org/simple/.
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Also compare every project the --registry lists at its Simple API root, not only the
    /// projects of new and watched entries: a sweep starts every INTERVAL [default: 1h when
    /// given without a value]; with --once one whole sweep runs.
    #[arg(
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "1h",
        value_parser = humantime::parse_duration,
        requires = "registry"
    )]
    pub registry_sweep: Option<Duration>,
    /// Registry requests per second the sweep may make, at most.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10.0,
        requires = "registry_sweep"
    )]
    pub sweep_rate: f64,
    /// Run one pass and exit with 0, 1 or 2.
    #[arg(long, conflicts_with = "interval")]
    pub once: bool,
    /// Time between passes when running continuously (e.g. 30s, 5m).
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration, default_value = "1m")]
    pub interval: Duration,
    /// POST each finding as JSON to this URL (retried with backoff).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Also audit the verifiable index at URL (`bintrail vindex serve` over --log): recompute
    /// its map from the log and check every map root it published (`vindex_mismatch` findings).
    /// The --policy must list the index's key too.
    #[arg(long, value_name = "URL")]
    pub verify_vindex: Option<String>,
}

/// Runs `bintrail monitor`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    if !args.once {
        // The continuous mode is a long-running service: its diagnostics (the registry sweep's
        // progress, a place it could not save) go to stderr like serve's, beside the summaries.
        crate::logging::init(crate::logging::LogFormat::Text);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut monitor = Monitor::new(config.clone()).context("setting up the monitor")?;
        let mut sink = print_finding;
        if let Some(url) = &args.verify_vindex {
            let mut auditor = Auditor::new(&args.log, url, config.policy, &config.state_dir)
                .context("setting up the index audit")?;
            return audit_loop(&mut monitor, &mut auditor, &args).await;
        }
        if args.once {
            let report = monitor.run_pass(&mut sink).await;
            print_summary(&report);
            return Ok(ExitCode::from(report.exit_code()));
        }
        bintrail_monitor::run_forever(&mut monitor, args.interval, &mut sink, &mut print_summary)
            .await
    })
}

/// Monitor passes each followed by an audit pass of the verifiable index: once (exit 0, 1 or
/// 2 over both) or every `--interval`, never exiting on errors.
async fn audit_loop(
    monitor: &mut Monitor,
    auditor: &mut Auditor,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    loop {
        let report = monitor.run_pass(&mut print_finding).await;
        print_summary(&report);
        let mut code = report.exit_code();
        match auditor.pass().await {
            Ok(audit) => {
                for f in &audit.findings {
                    print_finding(f);
                }
                eprintln!(
                    "bintrail monitor: index audit: map roots {}..{} checked, input replayed to {}, {} findings",
                    audit.leaves.0,
                    audit.leaves.1,
                    audit.input_size,
                    audit.findings.len()
                );
                if audit.findings.iter().any(|f| !f.kind.is_notice()) {
                    code = 1;
                }
            }
            Err(e) => {
                eprintln!("bintrail monitor: index audit could not check: {e}");
                if code == 0 {
                    code = 2;
                }
            }
        }
        if args.once {
            return Ok(ExitCode::from(code));
        }
        tokio::time::sleep(args.interval).await;
    }
}

fn config(args: &Args) -> anyhow::Result<MonitorConfig> {
    let policy_text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("reading the policy {}", args.policy.display()))?;
    let policy = policy_text
        .parse()
        .with_context(|| format!("parsing the policy {}", args.policy.display()))?;
    if !(args.sweep_rate.is_finite() && args.sweep_rate > 0.0) {
        anyhow::bail!("--sweep-rate must be a positive number of requests per second");
    }
    let watch = args
        .watch
        .iter()
        .map(|w| {
            regex::Regex::new(w).with_context(|| format!("--watch {w:?} is not a valid regex"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(MonitorConfig {
        log_url: args.log.clone(),
        policy,
        state_dir: args.state.clone(),
        watch,
        registry: args.registry.clone(),
        registry_sweep: args.registry_sweep.map(|interval| SweepConfig {
            interval,
            requests_per_second: args.sweep_rate,
            // Continuously, a pass sweeps for at most one interval and goes back to the log.
            slice: (!args.once).then_some(args.interval),
        }),
        webhook: args.webhook.clone(),
        progress: ProgressStyle::for_stderr(),
        groups_in_flight: 4,
    })
}

/// One JSON line per finding on stdout, flushed so a reader sees it at once; a sentence on stderr.
fn print_finding(f: &Finding) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) must not stop the monitor; stderr still says it all.
    let _ = writeln!(out, "{}", f.to_json_line());
    let _ = out.flush();
    eprintln!("bintrail monitor: {}", f.summary_line());
}

fn print_summary(report: &PassReport) {
    eprintln!("bintrail monitor: {}", report.summary());
}
