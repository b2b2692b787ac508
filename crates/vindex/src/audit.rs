//! `bintrail monitor --verify-vindex`: recompute the map from the input log and check
//! every map root the index's output log published, the check that catches an index that
//! hides, invents or reorders an entry (a lookup client alone cannot: a map computed
//! without an entry answers every lookup consistently).
//!
//! An [`Auditor`] reads the output log like any tlog-tiles log (checkpoint against the
//! policy and consistent with the last one seen, every leaf against the tiles), and for
//! each leaf in order: verifies the input checkpoint it names against the policy,
//! replays the input log up to that size (every entry checked against the input tiles
//! for that checkpoint's root), and compares the recomputed map root with the published
//! one. The replayed map stays in memory between passes, so a continuous monitor reads
//! each input entry once.

use std::path::Path;

use bintrail_client::verify::verify_signed_checkpoint;
use bintrail_monitor::catchup::{self, Tree};
use bintrail_monitor::{CheckpointRef, Finding, FindingKind};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::policy::Policy;
use bintrail_tlog::vindex::MapRoot;

use crate::follow::{FollowError, Follower};
use crate::state::IndexState;

/// What one audit pass did.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// The output checkpoint audited against, once verified.
    pub checkpoint: Option<CheckpointRef>,
    /// Output leaves checked in this pass: `[from, to)`.
    pub leaves: (u64, u64),
    /// The input size the last checked leaf was computed at.
    pub input_size: u64,
    /// What was found, in order.
    pub findings: Vec<Finding>,
}

/// Audits one verifiable index against its input log.
pub struct Auditor {
    input: Follower,
    output: Follower,
    policy: Policy,
    state: IndexState,
    /// Output leaves checked so far.
    audited: u64,
    /// The input size of the last checked leaf.
    last_input: Option<u64>,
}

impl Auditor {
    /// An auditor of the index at `vindex_url` over the log at `log_url`, trusting
    /// `policy` (which lists both logs' keys), keeping both logs' last verified
    /// checkpoints in `state_dir`.
    pub fn new(
        log_url: &str,
        vindex_url: &str,
        policy: Policy,
        state_dir: &Path,
    ) -> Result<Auditor, FollowError> {
        Ok(Auditor {
            input: Follower::new(log_url, policy.clone(), state_dir)?,
            output: Follower::new(vindex_url, policy.clone(), state_dir)?,
            policy,
            state: IndexState::default(),
            audited: 0,
            last_input: None,
        })
    }

    /// Checks every output leaf published since the last pass. Errors when nothing could
    /// be checked (the index or the log unreachable, a checkpoint the policy refuses);
    /// what was found before an error is lost only for that pass (the next one redoes it).
    pub async fn pass(&mut self) -> Result<AuditReport, FollowError> {
        let mut report = AuditReport {
            leaves: (self.audited, self.audited),
            input_size: self.state.size(),
            ..AuditReport::default()
        };
        let output = match self.output.checkpoint().await {
            Ok(Some(cp)) => cp,
            Ok(None) => return Ok(report),
            Err(FollowError::Fork(e)) => {
                report.findings.push(Finding::new(
                    FindingKind::Fork,
                    format!("the index's log of map roots forked: {e}"),
                ));
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        let cp_ref = checkpoint_ref(&output.checkpoint);
        report.checkpoint = Some(cp_ref.clone());
        for (start, end) in catchup::groups(self.audited, output.checkpoint.size) {
            let leaves = match self.output.group(output.tree(), start, end).await {
                Ok(l) => l,
                Err(FollowError::Misbehaved(reason)) => {
                    let detail = format!("the index's tiles do not match its checkpoint: {reason}");
                    report
                        .findings
                        .push(Finding::new(FindingKind::Malformed, detail).with_checkpoint(cp_ref));
                    return Ok(report);
                }
                Err(e) => return Err(e),
            };
            for (index, bytes) in leaves {
                let found = self.check_leaf(index, &bytes, &output.checkpoint).await?;
                let stop = found.as_ref().is_some_and(|(_, stop)| *stop);
                if let Some((detail, _)) = found {
                    report.findings.push(
                        Finding::new(FindingKind::VindexMismatch, detail)
                            .with_indices(vec![index])
                            .with_checkpoint(cp_ref.clone()),
                    );
                }
                if stop {
                    return Ok(report);
                }
                self.audited = index + 1;
                report.leaves.1 = self.audited;
                report.input_size = self.state.size();
            }
        }
        Ok(report)
    }

    /// Checks output leaf `index`: `Some((what is wrong, whether to stop))` or `None`.
    async fn check_leaf(
        &mut self,
        index: u64,
        bytes: &[u8],
        output: &Checkpoint,
    ) -> Result<Option<(String, bool)>, FollowError> {
        let leaf = match MapRoot::parse(bytes) {
            Ok(l) => l,
            Err(e) => {
                return Ok(Some((
                    format!("leaf {index} is not a map root: {e}"),
                    false,
                )));
            }
        };
        let input = match verify_signed_checkpoint(leaf.note(), &self.policy) {
            Ok(s) => s.checkpoint,
            Err(e) => {
                let detail = format!("leaf {index}'s input checkpoint does not verify: {e}");
                return Ok(Some((detail, false)));
            }
        };
        if input.origin == output.origin {
            let detail = format!("leaf {index}'s input checkpoint is the index's own");
            return Ok(Some((detail, false)));
        }
        let size = input.size;
        if let Some(last) = self.last_input.filter(|last| size <= *last) {
            let detail = format!(
                "leaf {index} publishes a root for input size {size}, after one for size {last} \
                 (roots must follow the input log forward, one per size)"
            );
            return Ok(Some((detail, false)));
        }
        let tree = Tree {
            size,
            root_hash: input.root_hash,
        };
        for (start, end) in catchup::groups(self.state.size(), size) {
            let leaves = match self.input.group(tree, start, end).await {
                Ok(l) => l,
                Err(FollowError::Misbehaved(reason)) => {
                    let detail = format!(
                        "the log's entries do not match the checkpoint of size {size} that leaf \
                         {index} records: {reason}"
                    );
                    return Ok(Some((detail, true)));
                }
                Err(e) => return Err(e),
            };
            if let Err(e) = self.state.apply(&leaves) {
                return Ok(Some((format!("replaying the log: {e}"), true)));
            }
        }
        let root = self.state.map_root();
        self.last_input = Some(size);
        if root != leaf.map_root {
            return Ok(Some((
                format!(
                    "leaf {index} publishes map root {} for the log's first {size} entries, but \
                     the map recomputed from them has root {root}: the index hid, invented or \
                     reordered an entry",
                    leaf.map_root
                ),
                false,
            )));
        }
        tracing::debug!(index, size, id = %leaf.identifier(), "map root verified");
        Ok(None)
    }
}

fn checkpoint_ref(cp: &Checkpoint) -> CheckpointRef {
    CheckpointRef {
        origin: cp.origin.clone(),
        size: cp.size,
        root_hash: cp.root_hash.to_base64(),
    }
}
