//! `bintrail monitor`: tails a C2SP tlog-tiles log, proves it append-only, catches equivocation, watches
//! packages and compares the log with the registry (issue 6).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use bintrail_monitor::{Monitor, MonitorConfig, ProgressStyle};
//!
//! let policy = std::fs::read_to_string("log.policy")?.parse()?;
//! let mut monitor = Monitor::new(MonitorConfig {
//!     log_url: "http://127.0.0.1:8080/".into(),
//!     policy,
//!     state_dir: "monitor-state".into(),
//!     watch: vec![regex::Regex::new("^requests$")?],
//!     registry: None,
//!     registry_sweep: None,
//!     webhook: None,
//!     progress: ProgressStyle::Hidden,
//!     groups_in_flight: 4,
//! })?;
//! let report = monitor
//!     .run_pass(&mut |f: &bintrail_monitor::Finding| println!("{}", f.to_json_line()))
//!     .await;
//! std::process::exit(i32::from(report.exit_code()));
//! # }
//! ```
//!
//! Pieces, one concept each:
//! - [`monitor`]: one pass (checkpoint, consistency, catch-up, registry) and the loop of passes.
//! - [`catchup`]: fetching entry bundles and checking each entry against the authenticated tree.
//! - [`finding`]: what a pass reports, one JSON line per finding.
//! - [`index`]: the on-disk identifier index (SQLite), never the whole map in memory.
//! - [`registry`]: PEP 691 / PEP 503 index reader and the log-versus-registry comparison.
//! - [`sweep`]: `--registry-sweep`, every project the registry lists, paced, on its own interval.
//! - [`webhook`]: POSTs findings with retries.
//! - [`progress`]: a progress bar on a terminal, structured lines otherwise.
//!
//! Log reads (every hash authenticated against the signed root), checkpoint verification and the
//! per-origin state (last verified checkpoint, consistency, fork evidence) come from
//! `bintrail-client`; tree math and formats from `bintrail-tlog`.
#![deny(missing_docs)]
// Outside input must never panic the process: no unwrap/expect outside tests, except
// where an invariant makes it safe (a local `#[allow]` with the reason).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod catchup;
pub mod finding;
pub mod index;
pub mod monitor;
pub mod progress;
pub mod registry;
pub mod sweep;
pub mod webhook;

pub use finding::{CheckpointRef, Finding, FindingKind};
pub use monitor::{
    FindingSink, InternalError, Monitor, MonitorConfig, MonitorError, PassReport, StateError,
    StoredCheckpointError, run_forever,
};
pub use progress::ProgressStyle;
