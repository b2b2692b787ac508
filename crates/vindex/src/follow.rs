//! Following the input log as the monitor does: each checkpoint verified against the
//! policy and proven consistent with the last one seen (`bintrail-client`'s state
//! directory, with fork evidence), every entry checked against the tiles the signed root
//! commits to (`bintrail-monitor`'s catch-up).

use std::path::Path;

use bintrail_client::consistency::{Observation, observe_checkpoint_note};
use bintrail_client::fetch::{FetchError, Timeouts};
use bintrail_client::log::LogReader;
use bintrail_client::state::StateDir;
use bintrail_client::verify::{VerifyError, verify_signed_checkpoint};
use bintrail_monitor::catchup::{self, BadLeaf, GroupError, Tree};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::policy::Policy;
use bintrail_tlog::tree::TreeError;

/// A verified input checkpoint.
#[derive(Debug, Clone)]
pub struct InputCheckpoint {
    /// Its body.
    pub checkpoint: Checkpoint,
    /// Its signed note, as the input log served it.
    pub note: Vec<u8>,
}

impl InputCheckpoint {
    /// The tree it signs.
    pub fn tree(&self) -> Tree {
        Tree {
            size: self.checkpoint.size,
            root_hash: self.checkpoint.root_hash,
        }
    }
}

/// Why following the input log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// The input log could not be reached (transient: try again).
    #[error("fetching from the input log: {0}")]
    Fetch(#[from] FetchError),
    /// The input checkpoint does not verify under the policy.
    #[error("the input checkpoint does not verify: {0}")]
    Checkpoint(#[source] VerifyError),
    /// The input log signed two inconsistent trees (evidence saved in the state directory).
    #[error("the input log forked: {0}")]
    Fork(#[source] VerifyError),
    /// The input log served tiles or entries that do not match its signed checkpoint.
    #[error("the input log misbehaved: {0}")]
    Misbehaved(#[source] Misbehavior),
    /// The state directory failed.
    #[error("the input log's state directory: {0}")]
    State(#[source] VerifyError),
}

/// How a log served data that does not match its signed checkpoint
/// ([`FollowError::Misbehaved`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Misbehavior {
    /// The tiles do not hash to the signed root.
    #[error("tiles do not match the signed tree: {0}")]
    Tiles(#[source] TreeError),
    /// A group of leaves could not be checked against the tree.
    #[error("{0}")]
    Group(#[source] GroupError),
    /// A leaf does not match the tree's leaf hash, or does not parse.
    #[error("leaf {}: {}", .0.index(), .0.reason())]
    Leaf(BadLeaf),
    /// Fewer leaves than asked for were checked.
    #[error("leaves {start}..{end} checked only up to {checked_to}")]
    Short {
        /// The first leaf asked for.
        start: u64,
        /// The end of the range asked for.
        end: u64,
        /// Where checking stopped.
        checked_to: u64,
    },
}

impl FollowError {
    /// Whether trying again later may succeed without anyone fixing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, FollowError::Fetch(_) | FollowError::Misbehaved(_))
    }
}

/// A follower of one input log.
pub struct Follower {
    reader: LogReader,
    policy: Policy,
    state: StateDir,
}

impl Follower {
    /// A follower of the log at `url`, trusting `policy`, remembering the last verified
    /// checkpoint in `state_dir` (created if absent).
    pub fn new(url: &str, policy: Policy, state_dir: &Path) -> Result<Follower, FollowError> {
        let reader = LogReader::new(url, Timeouts::default())?;
        let state = StateDir::open(state_dir).map_err(|source| {
            FollowError::State(VerifyError::Io {
                path: state_dir.to_owned(),
                source,
            })
        })?;
        Ok(Follower {
            reader,
            policy,
            state,
        })
    }

    /// Fetches the input checkpoint, verifies it against the policy and proves it
    /// consistent with the last one seen. `None` when the log served an older one than
    /// it served before (consistent, nothing new).
    pub async fn checkpoint(&self) -> Result<Option<InputCheckpoint>, FollowError> {
        let note = self.reader.checkpoint_unverified().await?;
        let signed = verify_signed_checkpoint(&note, &self.policy).map_err(|e| match e {
            VerifyError::Fetch(f) => FollowError::Fetch(f),
            other => FollowError::Checkpoint(other),
        })?;
        let seen = signed.checkpoint;
        match observe_checkpoint_note(&self.state, &self.reader, &seen, &signed.log_key, &note)
            .await
        {
            Ok(Observation::Older { .. }) => Ok(None),
            Ok(_) => Ok(Some(InputCheckpoint {
                checkpoint: seen,
                note,
            })),
            Err(VerifyError::Fetch(e)) => Err(FollowError::Fetch(e)),
            Err(e @ VerifyError::Fork { .. }) => Err(FollowError::Fork(e)),
            Err(VerifyError::LogMisbehaved(err)) => {
                Err(FollowError::Misbehaved(Misbehavior::Tiles(err)))
            }
            Err(e) => Err(FollowError::State(e)),
        }
    }

    /// Fetches and checks input leaves `[start, end)` (a range of [`catchup::groups`])
    /// against `tree`: every leaf is returned, in order, or the whole group fails.
    pub async fn group(
        &self,
        tree: Tree,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, FollowError> {
        let checked = catchup::check_leaves(&self.reader, tree, start, end)
            .await
            .map_err(|e| match e {
                GroupError::Fetch(f) => FollowError::Fetch(f),
                other => FollowError::Misbehaved(Misbehavior::Group(other)),
            })?;
        if let Some(leaf) = checked.mismatch {
            return Err(FollowError::Misbehaved(Misbehavior::Leaf(leaf)));
        }
        if checked.checked_to != end {
            return Err(FollowError::Misbehaved(Misbehavior::Short {
                start,
                end,
                checked_to: checked.checked_to,
            }));
        }
        Ok(checked.leaves)
    }
}
