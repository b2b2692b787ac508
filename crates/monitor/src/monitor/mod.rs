//! One monitor pass, and the loop of passes.
//!
//! A pass: fetch the checkpoint; verify the log signature and the policy's witness quorum; prove it
//! consistent with the last verified checkpoint (`bintrail-client` keeps that per origin, atomically,
//! and saves fork evidence); check and index every new entry; compare touched and watched projects
//! with the registry. Findings stream out through a [`FindingSink`] as they are made.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bintrail_client::consistency::{Observation, observe_checkpoint_note};
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_client::state::{OriginState, StateDir};
use bintrail_client::verify::{VerifyError, verify_signed_checkpoint};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::{Note, Verifier};
use bintrail_tlog::policy::Policy;
use regex::Regex;

mod compare;
mod entries;
mod report;

use entries::{checkpoint_ref, equivocation, previous_releases, publisher_drift, watched};
use report::Emitter;
pub use report::{
    FindingSink, InternalError, MonitorError, PassReport, StateError, StoredCheckpointError,
};

use crate::catchup::{self, BadLeaf, CheckedGroup, GroupError, Tree};
use crate::finding::{CheckpointRef, Finding, FindingKind};
use crate::index::{IdentifierIndex, Insertion};
use crate::progress::{Progress, ProgressStyle};
use crate::registry::RegistryClient;
use crate::sweep::{Pacer, SweepConfig, SweepState};
use crate::webhook::WebhookSender;

/// How a monitor is set up (the `bintrail monitor` flags).
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// The log's tlog-tiles prefix URL.
    pub log_url: String,
    /// The trust policy: which log key signs checkpoints and which witnesses must cosign.
    pub policy: Policy,
    /// The state directory (shared layout with `bintrail verify`: one subdirectory per origin).
    pub state_dir: PathBuf,
    /// Patterns matched against the PEP 503 normalized project name of each new entry (unanchored,
    /// as `Regex::is_match`; write `^name$` for an exact name).
    pub watch: Vec<Regex>,
    /// A PEP 691 / PEP 503 simple index base URL to compare with.
    pub registry: Option<String>,
    /// Sweep every project the registry lists, on its own interval (needs `registry`).
    pub registry_sweep: Option<SweepConfig>,
    /// A URL to POST each finding to.
    pub webhook: Option<String>,
    /// How catch-up progress is shown.
    pub progress: ProgressStyle,
    /// Groups of entry bundles fetched and checked at once.
    pub groups_in_flight: usize,
}
/// A monitor of one log. Owns its state directory while it runs.
pub struct Monitor {
    cfg: MonitorConfig,
    reader: LogReader,
    state: StateDir,
    registry: Option<RegistryClient>,
    webhook: Option<WebhookSender>,
    /// Registry mismatches already reported by this process, so `--interval` does not repeat them.
    reported: HashSet<(String, [u8; 32])>,
    /// Conflicting checkpoint notes already reported as forks by this process: seen again, they count
    /// as an integrity finding but are neither re-emitted nor saved as evidence again.
    forks: HashSet<Vec<u8>>,
    /// Where the registry sweep stands, across passes.
    sweep: SweepState,
    /// Paces the sweep's registry requests.
    pacer: Option<Pacer>,
}

impl Monitor {
    /// Sets up a monitor: parses the log URL and opens (creating) the state directory.
    pub fn new(cfg: MonitorConfig) -> Result<Monitor, MonitorError> {
        let reader = LogReader::new(&cfg.log_url, Timeouts::default())?;
        let state = StateDir::open(&cfg.state_dir).map_err(|source| {
            MonitorError::State(StateError::Open {
                path: cfg.state_dir.clone(),
                source,
            })
        })?;
        let pacer = cfg
            .registry_sweep
            .map(|s| Pacer::new(s.requests_per_second));
        // A sweep interrupted by a restart resumes; a finished one delays the next by the interval
        // only in the continuous mode (`--once` always sweeps).
        let sweep = match cfg.registry_sweep {
            Some(sweep_cfg) => {
                let saved = SweepState::load(&cfg.state_dir);
                if sweep_cfg.slice.is_none() && saved.resume_after.is_none() {
                    SweepState::default()
                } else {
                    saved
                }
            }
            None => SweepState::default(),
        };
        Ok(Monitor {
            registry: cfg.registry.as_deref().map(RegistryClient::new),
            webhook: cfg.webhook.as_deref().map(WebhookSender::new),
            reader,
            state,
            cfg,
            reported: HashSet::new(),
            forks: HashSet::new(),
            sweep,
            pacer,
        })
    }

    /// Runs one pass, streaming findings to `sink` (and the webhook). Never returns an error: what
    /// stopped the pass is in [`PassReport::incomplete`].
    pub async fn run_pass(&mut self, sink: &mut dyn FindingSink) -> PassReport {
        let started = Instant::now();
        let mut report = PassReport::default();
        let webhook = self.webhook.clone();
        let mut out = Emitter {
            sink,
            webhook: webhook.as_ref(),
            report: &mut report,
        };
        let result = self.pass(&mut out).await;
        if let Err(e) = result {
            report.incomplete = Some(e);
        }
        report.elapsed = started.elapsed();
        report
    }

    async fn pass(&mut self, out: &mut Emitter<'_>) -> Result<(), MonitorError> {
        let note = self.reader.checkpoint_unverified().await?;
        let signed =
            verify_signed_checkpoint(&note, &self.cfg.policy).map_err(MonitorError::Checkpoint)?;
        let (seen, key) = (signed.checkpoint, signed.log_key);
        let cp_ref = checkpoint_ref(&seen);
        out.report.checkpoint = Some(cp_ref.clone());
        if self.forks.contains(&note) {
            out.report.integrity_findings += 1;
            return Ok(());
        }
        let origin = self.origin_state(&seen.origin, &key)?;
        let observed = observe_checkpoint_note(&self.state, &self.reader, &seen, &key, &note).await;
        let checkpoint = match observed {
            Ok(Observation::Older { .. }) => stored_checkpoint(&origin)?,
            Ok(_) => seen,
            Err(VerifyError::Fork {
                old_size,
                new_size,
                reason,
                evidence,
                save_error,
                ..
            }) => {
                self.forks.insert(note);
                let unsaved = save_error
                    .map(|e| format!("; saving the evidence failed: {e}"))
                    .unwrap_or_default();
                let detail = format!(
                    "the log signed tree sizes {old_size} and {new_size} that are inconsistent: {reason}{unsaved}"
                );
                let f = Finding::new(FindingKind::Fork, detail)
                    .with_checkpoint(cp_ref)
                    .with_evidence(evidence.display().to_string());
                out.emit(f).await;
                return Ok(());
            }
            Err(VerifyError::LogMisbehaved(err)) => {
                let detail = format!(
                    "the log's tiles do not match its signed checkpoint: tiles do not match the signed tree: {err}"
                );
                out.emit(Finding::new(FindingKind::Malformed, detail).with_checkpoint(cp_ref))
                    .await;
                return Ok(());
            }
            Err(VerifyError::Fetch(e)) => return Err(MonitorError::Fetch(e)),
            Err(e) => return Err(MonitorError::State(StateError::Observe(e))),
        };
        out.report.checkpoint = Some(checkpoint_ref(&checkpoint));
        let index_path = origin.path().join("monitor-index.sqlite");
        let index = IdentifierIndex::open(&index_path, &checkpoint.origin)?;
        let touched = self.catch_up(index, &checkpoint, out).await?;
        self.compare_registry(&checkpoint, &index_path, touched, out)
            .await?;
        self.sweep_registry(&checkpoint, &index_path, out).await
    }

    fn origin_state(&self, origin: &str, key: &Verifier) -> Result<OriginState, MonitorError> {
        self.state.log(origin, key).map_err(|source| {
            MonitorError::State(StateError::Open {
                path: self.state.path().to_path_buf(),
                source,
            })
        })
    }

    /// Checks and indexes leaves from the index's checked size up to the checkpoint's size. Returns
    /// the projects of the new entries (for the registry comparison).
    async fn catch_up(
        &mut self,
        index: IdentifierIndex,
        checkpoint: &Checkpoint,
        out: &mut Emitter<'_>,
    ) -> Result<BTreeSet<String>, MonitorError> {
        let start = index.checked_size()?;
        let end = checkpoint.size;
        out.report.checked = (start, start);
        let mut touched = BTreeSet::new();
        if start >= end {
            return Ok(touched);
        }
        let tree = Tree {
            size: end,
            root_hash: checkpoint.root_hash,
        };
        let cp_ref = checkpoint_ref(checkpoint);
        if let Some(reason) = catchup::probe_last_leaf(&self.reader, tree).await? {
            let detail = format!(
                "the log signed tree size {end} (checked so far: {start}) but does not back it \
                 with tiles: {reason}"
            );
            out.emit(Finding::new(FindingKind::Malformed, detail).with_checkpoint(cp_ref))
                .await;
            return Ok(touched);
        }
        let mut progress = Progress::new(self.cfg.progress, start, end, Instant::now());
        let mut pending = InFlight(VecDeque::new());
        let mut groups = catchup::groups(start, end);
        let mut index = Some(index);
        let in_flight = self.cfg.groups_in_flight.max(1);
        loop {
            while pending.0.len() < in_flight {
                let Some((from, to)) = groups.next() else {
                    break;
                };
                let reader = self.reader.clone();
                pending.0.push_back(tokio::spawn(async move {
                    catchup::check_group(&reader, tree, from, to).await
                }));
            }
            let Some(task) = pending.0.pop_front() else {
                break;
            };
            let group = match task.await {
                Ok(Ok(g)) => g,
                Ok(Err(GroupError::Fetch(e))) => return Err(MonitorError::Fetch(e)),
                Ok(Err(GroupError::Unauthenticated(reason))) => {
                    let detail =
                        format!("the log's tiles do not match its signed checkpoint: {reason}");
                    out.emit(Finding::new(FindingKind::Malformed, detail).with_checkpoint(cp_ref))
                        .await;
                    return Ok(touched);
                }
                Ok(Err(e)) => return Err(MonitorError::Internal(InternalError::Group(e))),
                Err(source) => {
                    return Err(MonitorError::Internal(InternalError::Task {
                        what: "catch-up task",
                        source,
                    }));
                }
            };
            let idx = index
                .take()
                .ok_or(MonitorError::Internal(InternalError::IndexLost))?;
            let stop = self
                .record_group(idx, group, &cp_ref, &mut index, &mut touched, out)
                .await?;
            progress.update(out.report.checked.1, Instant::now());
            if stop {
                break;
            }
        }
        progress.finish();
        Ok(touched)
    }

    /// Indexes one checked group (on a blocking thread) and emits its findings. Returns whether the
    /// catch-up must stop (a bundle did not match the tree).
    async fn record_group(
        &self,
        idx: IdentifierIndex,
        group: CheckedGroup,
        cp_ref: &CheckpointRef,
        slot: &mut Option<IdentifierIndex>,
        touched: &mut BTreeSet<String>,
        out: &mut Emitter<'_>,
    ) -> Result<bool, MonitorError> {
        let CheckedGroup {
            entries,
            bad,
            checked_to,
        } = group;
        let watch = self.cfg.watch.clone();
        let (idx, entries, inserted) = tokio::task::spawn_blocking(move || {
            let mut idx = idx;
            let r = idx
                .insert_batch(&entries, checked_to)
                .and_then(|r| previous_releases(&idx, &entries, r, &watch));
            (idx, entries, r)
        })
        .await
        .map_err(|source| {
            MonitorError::Internal(InternalError::Task {
                what: "index task",
                source,
            })
        })?;
        *slot = Some(idx);
        let inserted = inserted?;
        out.report.checked.1 = checked_to;
        for (entry, (how, previous)) in entries.iter().zip(inserted) {
            if let Some(f) = previous.and_then(|p| publisher_drift(&p, entry, cp_ref)) {
                out.emit(f).await;
            }
            if self.registry.is_some() {
                touched.insert(entry.project.clone());
            }
            if let Insertion::Conflict { first } = &how {
                out.emit(equivocation(first, entry, cp_ref)).await;
            }
            if matches!(how, Insertion::New)
                && self.cfg.watch.iter().any(|r| r.is_match(&entry.project))
            {
                out.emit(watched(entry, cp_ref)).await;
            }
        }
        let mut stop = false;
        for b in bad {
            let (index, detail) = match b {
                BadLeaf::Unparsable { index, reason } => {
                    (index, format!("entry does not parse: {reason}"))
                }
                BadLeaf::Mismatch { index, reason } => {
                    stop = true;
                    (index, reason.to_string())
                }
            };
            let f = Finding::new(FindingKind::Malformed, detail)
                .with_indices(vec![index])
                .with_checkpoint(cp_ref.clone());
            out.emit(f).await;
        }
        Ok(stop)
    }
}

/// The checkpoint stored for `origin`, which was verified before it was stored.
fn stored_checkpoint(origin: &OriginState) -> Result<Checkpoint, MonitorError> {
    let unreadable = |problem| {
        MonitorError::State(StateError::StoredCheckpoint {
            path: origin.path().to_path_buf(),
            problem,
        })
    };
    let note = origin
        .checkpoint()
        .map_err(|e| unreadable(StoredCheckpointError::Io(e)))?;
    let note = note.ok_or_else(|| unreadable(StoredCheckpointError::Missing))?;
    let note = Note::parse(&note).map_err(|e| unreadable(StoredCheckpointError::Note(e)))?;
    note.text
        .parse()
        .map_err(|e| unreadable(StoredCheckpointError::Checkpoint(e)))
}

/// Group tasks in flight, in leaf order. Dropping it (the catch-up ended early) aborts them, so no
/// fetch outlives the pass that wanted it.
struct InFlight(VecDeque<tokio::task::JoinHandle<Result<CheckedGroup, GroupError>>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Runs passes forever, `interval` apart; after a pass that stopped on a transient error the wait
/// is a backoff doubling from 1 s up to `interval` (never past it), so a log outage neither ends the
/// process nor hammers the log. Each pass's report goes to `on_pass`.
pub async fn run_forever(
    monitor: &mut Monitor,
    interval: Duration,
    sink: &mut dyn FindingSink,
    on_pass: &mut dyn FnMut(&PassReport),
) -> ! {
    let mut backoff = Duration::from_secs(1);
    loop {
        let report = monitor.run_pass(sink).await;
        on_pass(&report);
        let wait = match &report.incomplete {
            Some(e) if e.is_transient() => {
                let w = backoff.min(interval);
                backoff = backoff.saturating_mul(2);
                w
            }
            _ => {
                backoff = Duration::from_secs(1);
                interval
            }
        };
        tokio::time::sleep(wait).await;
    }
}
