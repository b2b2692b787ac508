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
use bintrail_client::fetch::{FetchError, Timeouts};
use bintrail_client::log::LogReader;
use bintrail_client::state::{OriginState, StateDir};
use bintrail_client::verify::{VerifyError, verify_signed_checkpoint};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::{Note, Verifier};
use bintrail_tlog::policy::Policy;
use futures::StreamExt;
use regex::Regex;

use crate::catchup::{self, BadLeaf, CheckedGroup, GroupError, Tree};
use crate::finding::{CheckpointRef, Finding, FindingKind};
use crate::index::{IdentifierIndex, IndexError, IndexedEntry, Insertion};
use crate::progress::{Progress, ProgressStyle};
use crate::registry::{self, Mismatch, RegistryClient, RegistryError};
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
    /// A URL to POST each finding to.
    pub webhook: Option<String>,
    /// How catch-up progress is shown.
    pub progress: ProgressStyle,
    /// Groups of entry bundles fetched and checked at once.
    pub groups_in_flight: usize,
}

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
    State(String),
    /// Returned when the identifier index fails.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Returned when the registry could not be read (transient).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Returned when a task of the pass died (a bug; the message says where).
    #[error("internal error: {0}")]
    Internal(String),
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
        if self.webhook_failures > 0 {
            s.push_str(&format!(
                ", {} webhook delivery failure(s)",
                self.webhook_failures
            ));
        }
        if let Some(e) = &self.incomplete {
            s.push_str(&format!("; could not finish: {e}"));
        }
        s
    }
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
}

impl Monitor {
    /// Sets up a monitor: parses the log URL and opens (creating) the state directory.
    pub fn new(cfg: MonitorConfig) -> Result<Monitor, MonitorError> {
        let reader = LogReader::new(&cfg.log_url, Timeouts::default())?;
        let state = StateDir::open(&cfg.state_dir)
            .map_err(|e| MonitorError::State(format!("{}: {e}", cfg.state_dir.display())))?;
        Ok(Monitor {
            registry: cfg.registry.as_deref().map(RegistryClient::new),
            webhook: cfg.webhook.as_deref().map(WebhookSender::new),
            reader,
            state,
            cfg,
            reported: HashSet::new(),
            forks: HashSet::new(),
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
                ..
            }) => {
                self.forks.insert(note);
                let detail = format!(
                    "the log signed tree sizes {old_size} and {new_size} that are inconsistent: {reason}"
                );
                let f = Finding::new(FindingKind::Fork, detail)
                    .with_checkpoint(cp_ref)
                    .with_evidence(evidence.display().to_string());
                out.emit(f).await;
                return Ok(());
            }
            Err(VerifyError::LogMisbehaved(reason)) => {
                let detail =
                    format!("the log's tiles do not match its signed checkpoint: {reason}");
                out.emit(Finding::new(FindingKind::Malformed, detail).with_checkpoint(cp_ref))
                    .await;
                return Ok(());
            }
            Err(VerifyError::Fetch(e)) => return Err(MonitorError::Fetch(e)),
            Err(e) => return Err(MonitorError::State(e.to_string())),
        };
        out.report.checkpoint = Some(checkpoint_ref(&checkpoint));
        let index_path = origin.path().join("monitor-index.sqlite");
        let index = IdentifierIndex::open(&index_path, &checkpoint.origin)?;
        let touched = self.catch_up(index, &checkpoint, out).await?;
        self.compare_registry(&checkpoint, &index_path, touched, out)
            .await
    }

    fn origin_state(&self, origin: &str, key: &Verifier) -> Result<OriginState, MonitorError> {
        self.state
            .log(origin, key)
            .map_err(|e| MonitorError::State(format!("{}: {e}", self.state.path().display())))
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
                Ok(Err(e)) => return Err(MonitorError::Internal(e.to_string())),
                Err(e) => return Err(MonitorError::Internal(format!("catch-up task: {e}"))),
            };
            let idx = index
                .take()
                .ok_or_else(|| MonitorError::Internal("index lost".into()))?;
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
        .map_err(|e| MonitorError::Internal(format!("index task: {e}")))?;
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
                    (index, reason)
                }
            };
            let f = Finding::new(FindingKind::Malformed, detail)
                .with_indices(vec![index])
                .with_checkpoint(cp_ref.clone());
            out.emit(f).await;
        }
        Ok(stop)
    }

    /// Compares the touched projects and the watched projects with the registry.
    async fn compare_registry(
        &mut self,
        checkpoint: &Checkpoint,
        index_path: &std::path::Path,
        mut projects: BTreeSet<String>,
        out: &mut Emitter<'_>,
    ) -> Result<(), MonitorError> {
        let Some(registry) = self.registry.clone() else {
            return Ok(());
        };
        let index = IdentifierIndex::open(index_path, &checkpoint.origin)?;
        if !self.cfg.watch.is_empty() {
            let watch = &self.cfg.watch;
            projects.extend(index.projects_where(|p| watch.iter().any(|r| r.is_match(p)))?);
        }
        let cp_ref = checkpoint_ref(checkpoint);
        let mut pages = futures::stream::iter(projects)
            .map(|p| {
                let registry = registry.clone();
                async move { (registry.project_files(&p).await, p) }
            })
            .buffered(REGISTRY_CONCURRENCY);
        while let Some((served, project)) = pages.next().await {
            out.report.projects_compared += 1;
            let served = served?.unwrap_or_default();
            let logged = index.project_files(&project)?;
            for m in registry::compare(&logged, &served) {
                if let Some(f) = self.mismatch_finding(m, &cp_ref) {
                    out.emit(f).await;
                }
            }
        }
        Ok(())
    }

    fn mismatch_finding(&mut self, m: Mismatch, cp_ref: &CheckpointRef) -> Option<Finding> {
        let (key, finding) = match m {
            Mismatch::DigestDiffers { logged, served } => (
                (logged.filename.clone(), served),
                Finding::new(
                    FindingKind::RegistryMismatch,
                    "the registry serves this file with another digest than the log holds",
                )
                .with_identifier(logged.filename.clone())
                .with_digests(vec![hex_digest(&logged.digest), hex_digest(&served)])
                .with_indices(vec![logged.index]),
            ),
            Mismatch::NotLogged { served } => {
                let digests = served.sha256.iter().map(hex_digest).collect();
                (
                    (served.filename.clone(), served.sha256.unwrap_or_default()),
                    Finding::new(
                        FindingKind::RegistryMismatch,
                        "the registry serves this file but the log does not hold it",
                    )
                    .with_identifier(served.filename)
                    .with_digests(digests),
                )
            }
        };
        self.reported
            .insert(key)
            .then(|| finding.with_checkpoint(cp_ref.clone()))
    }
}

/// The checkpoint stored for `origin`, which was verified before it was stored.
fn stored_checkpoint(origin: &OriginState) -> Result<Checkpoint, MonitorError> {
    let unreadable = |e: String| {
        MonitorError::State(format!(
            "stored checkpoint in {}: {e}",
            origin.path().display()
        ))
    };
    let note = origin.checkpoint().map_err(|e| unreadable(e.to_string()))?;
    let note = note.ok_or_else(|| unreadable("missing".into()))?;
    let note = Note::parse(&note).map_err(|e| unreadable(e.to_string()))?;
    note.text
        .parse()
        .map_err(|e: bintrail_tlog::checkpoint::CheckpointError| unreadable(e.to_string()))
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

/// Project pages requested at once from the registry: polite to a public index, enough to hide latency.
const REGISTRY_CONCURRENCY: usize = 8;

/// Sends findings to the sink and the webhook and counts them.
struct Emitter<'a> {
    sink: &'a mut dyn FindingSink,
    webhook: Option<&'a WebhookSender>,
    report: &'a mut PassReport,
}

impl Emitter<'_> {
    async fn emit(&mut self, f: Finding) {
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

fn checkpoint_ref(cp: &Checkpoint) -> CheckpointRef {
    CheckpointRef {
        origin: cp.origin.clone(),
        size: cp.size,
        root_hash: cp.root_hash.to_base64(),
    }
}

fn hex_digest(d: &[u8; 32]) -> String {
    bintrail_tlog::pypi::Checksum::from_digest(*d).to_string()
}

fn equivocation(first: &IndexedEntry, new: &IndexedEntry, cp: &CheckpointRef) -> Finding {
    let what = if first.digest != new.digest {
        "digest"
    } else {
        "publisher"
    };
    let detail = if first.filename == new.filename {
        format!(
            "logged at index {} and again at index {} with another {what}",
            first.index, new.index
        )
    } else {
        format!(
            "an alias of {} (logged at index {}), logged at index {} with another {what}",
            first.filename, first.index, new.index
        )
    };
    Finding::new(FindingKind::Equivocation, detail)
        .with_identifier(new.filename.clone())
        .with_digests(vec![hex_digest(&first.digest), hex_digest(&new.digest)])
        .with_indices(vec![first.index, new.index])
        .with_checkpoint(cp.clone())
}

/// Pairs each insertion with the previous release of its project when the entry is a new release of a
/// watched project (publisher drift is only looked for there, so catch-up stays one insert per entry).
fn previous_releases(
    idx: &IdentifierIndex,
    entries: &[IndexedEntry],
    inserted: Vec<Insertion>,
    watch: &[regex::Regex],
) -> Result<Vec<(Insertion, Option<IndexedEntry>)>, crate::index::IndexError> {
    let mut out = Vec::with_capacity(inserted.len());
    for (entry, how) in entries.iter().zip(inserted) {
        let previous =
            if matches!(how, Insertion::New) && watch.iter().any(|r| r.is_match(&entry.project)) {
                idx.previous_release(&entry.project, entry.index)?
            } else {
                None
            };
        out.push((how, previous));
    }
    Ok(out)
}

/// `publisher_changed` or `publisher_dropped` when `entry`'s publisher differs from the one its
/// project's previous release carried (a project gaining a publisher is not a finding).
fn publisher_drift(
    previous: &IndexedEntry,
    entry: &IndexedEntry,
    cp: &CheckpointRef,
) -> Option<Finding> {
    let before = previous.publisher.as_ref()?;
    let (kind, detail) = match &entry.publisher {
        Some(now) if now == before => return None,
        Some(now) => (
            FindingKind::PublisherChanged,
            format!(
                "project {} was published by {before} ({} at index {}), now by {now} at index {}",
                entry.project, previous.filename, previous.index, entry.index
            ),
        ),
        None => (
            FindingKind::PublisherDropped,
            format!(
                "project {} was published by {before} ({} at index {}), now without a publisher at index {}",
                entry.project, previous.filename, previous.index, entry.index
            ),
        ),
    };
    Some(
        Finding::new(kind, detail)
            .with_identifier(entry.filename.clone())
            .with_digests(vec![
                hex_digest(&previous.digest),
                hex_digest(&entry.digest),
            ])
            .with_indices(vec![previous.index, entry.index])
            .with_checkpoint(cp.clone()),
    )
}

fn watched(entry: &IndexedEntry, cp: &CheckpointRef) -> Finding {
    Finding::new(
        FindingKind::Watched,
        format!(
            "new release of watched project {} at index {}",
            entry.project, entry.index
        ),
    )
    .with_identifier(entry.filename.clone())
    .with_digests(vec![hex_digest(&entry.digest)])
    .with_indices(vec![entry.index])
    .with_checkpoint(cp.clone())
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
