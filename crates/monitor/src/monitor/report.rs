//! What a pass reports and how: its errors, the sink findings stream to, the per-pass report and
//! the emitter that counts findings and delivers them to the webhook.

use std::path::PathBuf;
use std::time::Duration;

use bintrail_client::fetch::FetchError;
use bintrail_client::verify::VerifyError;
use bintrail_tlog::checkpoint::CheckpointError;
use bintrail_tlog::note::NoteError;

use crate::catchup::GroupError;
use crate::finding::{CheckpointRef, Finding};
use crate::index::IdentifierIndexError;
use crate::registry::RegistryError;
use crate::webhook::WebhookSender;

/// Why a pass could not check (exit code 2 with `--once`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// Returned when the log could not be reached or answered an error (transient).
    #[error("fetching from the log: {0}")]
    Fetch(#[from] FetchError),
    /// Returned when the checkpoint does not verify: unknown log, bad signature, quorum not met or
    /// malformed. Nothing was accepted.
    #[error("checkpoint not accepted: {0}")]
    Checkpoint(VerifyError),
    /// Returned when the state directory cannot be read or written, or holds an unreadable
    /// checkpoint.
    #[error("state directory: {0}")]
    State(#[source] StateError),
    /// Returned when the identifier index fails.
    #[error(transparent)]
    Index(#[from] IdentifierIndexError),
    /// Returned when the registry could not be read (transient).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Returned when a task of the pass died (a bug; the message says where).
    #[error("internal error: {0}")]
    Internal(#[source] InternalError),
}

/// How the state directory failed ([`MonitorError::State`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Returned when the directory (or an origin's directory in it) cannot be opened.
    #[error("{}: {source}", path.display())]
    Open {
        /// The state directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Returned when recording or comparing the checkpoint in the state directory failed.
    #[error("{0}")]
    Observe(#[source] VerifyError),
    /// Returned when the checkpoint stored for an origin cannot be read back.
    #[error("stored checkpoint in {}: {problem}", path.display())]
    StoredCheckpoint {
        /// The origin's directory.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        problem: StoredCheckpointError,
    },
}

/// Why a stored checkpoint could not be read back ([`StateError::StoredCheckpoint`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoredCheckpointError {
    /// Reading the file failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
    /// No checkpoint is stored.
    #[error("missing")]
    Missing,
    /// The stored note does not parse.
    #[error("{0}")]
    Note(#[source] NoteError),
    /// The note's text is not a checkpoint.
    #[error("{0}")]
    Checkpoint(#[source] CheckpointError),
}

/// A fault inside a pass ([`MonitorError::Internal`]): a bug, not the log's or the network's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InternalError {
    /// A catch-up group failed for a reason other than fetching or forged tiles.
    #[error("{0}")]
    Group(#[source] GroupError),
    /// A task of the pass panicked or was cancelled.
    #[error("{what}: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// How it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The identifier index was not handed back by the task that held it.
    #[error("index lost")]
    IndexLost,
}

impl MonitorError {
    /// Whether retrying later may succeed (network trouble) rather than needing an operator.
    pub fn is_transient(&self) -> bool {
        matches!(self, MonitorError::Fetch(_) | MonitorError::Registry(_))
    }
}

/// Receives findings as they are made (the CLI prints them as JSON lines).
pub trait FindingSink {
    /// Called once per finding, in the order found.
    fn finding(&mut self, finding: &Finding);
}

impl<F: FnMut(&Finding)> FindingSink for F {
    fn finding(&mut self, finding: &Finding) {
        self(finding)
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// The verified checkpoint checked against (absent if none verified).
    pub checkpoint: Option<CheckpointRef>,
    /// Leaves checked in this pass: `[from, to)`.
    pub checked: (u64, u64),
    /// Integrity findings (equivocation, registry mismatch, fork, malformed).
    pub integrity_findings: usize,
    /// Notices (watched releases).
    pub notices: usize,
    /// Projects compared with the registry.
    pub projects_compared: usize,
    /// Of those, projects compared by the registry sweep.
    pub projects_swept: usize,
    /// Webhook deliveries that failed after their retries.
    pub webhook_failures: usize,
    /// Why the pass stopped early, if it did. Findings before it were still reported.
    pub incomplete: Option<MonitorError>,
    /// How long the pass took.
    pub elapsed: Duration,
}

impl PassReport {
    /// The `--once` exit code: 1 on any integrity finding, else 2 if the pass could not check
    /// everything, else 0 (notices allowed).
    pub fn exit_code(&self) -> u8 {
        if self.integrity_findings > 0 {
            1
        } else if self.incomplete.is_some() {
            2
        } else {
            0
        }
    }

    /// One human line for stderr.
    pub fn summary(&self) -> String {
        let cp = match &self.checkpoint {
            Some(c) => format!("{} at size {}", c.origin, c.size),
            None => "no verified checkpoint".to_string(),
        };
        let rate = (self.checked.1 - self.checked.0) as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "{cp}: checked leaves {}..{} ({:.0} entries/s), {} integrity finding(s), {} notice(s), {} project(s) compared with the registry",
            self.checked.0,
            self.checked.1,
            rate,
            self.integrity_findings,
            self.notices,
            self.projects_compared
        );
        if self.projects_swept > 0 {
            s.push_str(&format!(" ({} by the registry sweep)", self.projects_swept));
        }
        if self.webhook_failures > 0 {
            s.push_str(&format!(
                ", {} webhook delivery failure(s)",
                self.webhook_failures
            ));
        }
        if let Some(e) = &self.incomplete {
            s.push_str(&format!("; could not finish: {e}"));
            // The causes too: "error sending request" alone does not say that the connection
            // was refused, or that a redirect led to a host that cannot be reached.
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let text = c.to_string();
                // Errors that print their source already are not repeated.
                if !s.contains(&text) {
                    s.push_str(&format!(": {text}"));
                }
                cause = c.source();
            }
        }
        s
    }
}

/// Sends findings to the sink and the webhook and counts them.
pub(super) struct Emitter<'a> {
    pub(super) sink: &'a mut dyn FindingSink,
    pub(super) webhook: Option<&'a WebhookSender>,
    pub(super) report: &'a mut PassReport,
}

impl Emitter<'_> {
    pub(super) async fn emit(&mut self, f: Finding) {
        if f.kind.is_notice() {
            self.report.notices += 1;
        } else {
            self.report.integrity_findings += 1;
        }
        self.sink.finding(&f);
        if let Some(w) = self.webhook
            && let Err(e) = w.send(&f).await
        {
            self.report.webhook_failures += 1;
            tracing::warn!("webhook: {e}");
        }
    }
}
