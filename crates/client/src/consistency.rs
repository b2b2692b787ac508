//! Remembering the latest checkpoint per log and refusing to go along with a fork.
//!
//! A verified proof shows that the log's key signed a tree holding the entry; it
//! does not show that everyone else sees the same tree. Each client therefore keeps
//! the latest checkpoint it accepted from each log (in its [`StateDir`]) and, before
//! accepting another one, checks with a consistency proof that one tree is a prefix
//! of the other. The proof is built from tiles authenticated against the larger
//! tree's signed root, so a failure means the log signed two incompatible histories:
//! a fork, which is kept as evidence and reported, never silently replaced.

use std::cmp::Ordering;
use std::fmt;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::note::{Note, Verifier};
use bintrail_tlog::tree::verify_tree;

use crate::log::LogReader;
use crate::state::{OriginState, StateDir};
use crate::verify::{ForkReason, Verified, VerifyError};

/// What comparing a checkpoint with the stored one found (forks are errors).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// No checkpoint was stored for this origin; this one now is.
    First {
        /// Its tree size.
        size: u64,
    },
    /// The stored checkpoint has the same size and root hash.
    Same {
        /// The tree size.
        size: u64,
    },
    /// The checkpoint extends the stored one, proven consistent; it is now stored.
    Advanced {
        /// The stored size before.
        from: u64,
        /// The new stored size.
        to: u64,
    },
    /// The checkpoint is older than the stored one and proven consistent with it;
    /// the stored one is kept.
    Older {
        /// The size seen.
        seen: u64,
        /// The stored (larger) size.
        stored: u64,
    },
    /// No checkpoint was stored for this key, but checkpoints of the same origin
    /// signed by other keys were: another log under a known name (a demo log
    /// started again, a log reset with a new key). Not a fork, since no key signed
    /// two inconsistent trees; this checkpoint is now stored for its own key.
    NewKey {
        /// Its tree size.
        size: u64,
        /// The state directories of the other keys (see [`StateDir::other_keys`]).
        other_keys: Vec<String>,
    },
}

impl Observation {
    /// A short, stable label: `first`, `same`, `advanced` or `older`.
    pub fn label(&self) -> &'static str {
        match self {
            Observation::First { .. } => "first",
            Observation::Same { .. } => "same",
            Observation::Advanced { .. } => "advanced",
            Observation::Older { .. } => "older",
            Observation::NewKey { .. } => "new-key",
        }
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observation::First { size } => {
                write!(f, "first checkpoint seen from this log (size {size})")
            }
            Observation::Same { size } => write!(f, "same checkpoint as last seen (size {size})"),
            Observation::Advanced { from, to } => {
                write!(
                    f,
                    "consistent with the last seen checkpoint (size {from} -> {to})"
                )
            }
            Observation::Older { seen, stored } => {
                write!(
                    f,
                    "consistent with the newer checkpoint seen before (size {seen} <= {stored})"
                )
            }
            Observation::NewKey { size, other_keys } => write!(
                f,
                "first checkpoint seen from this key (size {size}); this client saw the same origin \
                 signed by another key before ({}): that is another log under the same name (for \
                 example a demo log started again or a log reset with a new key), tracked \
                 separately, not a fork; if you expected the same log, ask its operator why its \
                 key changed",
                other_keys.join(", ")
            ),
        }
    }
}

/// [`observe_checkpoint_note`] for the checkpoint of a verified proof.
pub async fn observe_checkpoint(
    state: &StateDir,
    reader: &LogReader,
    verified: &Verified,
) -> Result<Observation, VerifyError> {
    observe_checkpoint_note(
        state,
        reader,
        &verified.checkpoint,
        &verified.log_key,
        &verified.checkpoint_note,
    )
    .await
}

/// Compares `checkpoint` (whose signed note is `note`, signed by `key`; the caller
/// must have verified it against a policy) with the latest one stored for its
/// origin and key, proving
/// consistency with tiles fetched through `reader`, and stores it if it is newer.
///
/// Holds the origin's lock throughout, so concurrent clients serialize. Errors:
/// [`VerifyError::Fork`] (both checkpoints saved as evidence; the stored one is kept);
/// [`VerifyError::LogMisbehaved`] when the log's tiles do not match its checkpoint;
/// [`VerifyError::Fetch`]; [`VerifyError::Io`] for state directory failures;
/// [`VerifyError::Malformed`] if the stored checkpoint is unreadable.
pub async fn observe_checkpoint_note(
    state: &StateDir,
    reader: &LogReader,
    checkpoint: &Checkpoint,
    key: &Verifier,
    note: &[u8],
) -> Result<Observation, VerifyError> {
    let io = |source| VerifyError::Io {
        path: state.path().to_owned(),
        source,
    };
    let origin = state.log(&checkpoint.origin, key).map_err(io)?;
    let _lock = origin.lock().map_err(io)?;
    let Some(stored_note) = origin.checkpoint().map_err(io)? else {
        let other_keys = state.other_keys(&checkpoint.origin, key).map_err(io)?;
        origin.store_checkpoint(note).map_err(io)?;
        let size = checkpoint.size;
        return Ok(if other_keys.is_empty() {
            Observation::First { size }
        } else {
            Observation::NewKey { size, other_keys }
        });
    };
    let stored = parse_stored(&stored_note, &origin)?;
    let cache = origin.tile_cache();
    let fork =
        |reason: ForkReason| fork_error(&origin, &stored, &stored_note, checkpoint, note, reason);
    match checkpoint.size.cmp(&stored.size) {
        Ordering::Equal if checkpoint.root_hash == stored.root_hash => Ok(Observation::Same {
            size: checkpoint.size,
        }),
        Ordering::Equal => Err(fork(ForkReason::DifferentRootHashes {
            size: checkpoint.size,
        })),
        Ordering::Greater => {
            let proof = reader
                .prove_tree(
                    checkpoint.size,
                    checkpoint.root_hash,
                    stored.size,
                    Some(&cache),
                )
                .await?;
            verify_tree(
                &proof,
                checkpoint.size,
                checkpoint.root_hash,
                stored.size,
                stored.root_hash,
            )
            .map_err(|err| fork(ForkReason::NewTreeInconsistent(err)))?;
            origin.store_checkpoint(note).map_err(io)?;
            Ok(Observation::Advanced {
                from: stored.size,
                to: checkpoint.size,
            })
        }
        Ordering::Less => {
            let proof = reader
                .prove_tree(stored.size, stored.root_hash, checkpoint.size, Some(&cache))
                .await?;
            verify_tree(
                &proof,
                stored.size,
                stored.root_hash,
                checkpoint.size,
                checkpoint.root_hash,
            )
            .map_err(|err| fork(ForkReason::StoredTreeInconsistent(err)))?;
            Ok(Observation::Older {
                seen: checkpoint.size,
                stored: stored.size,
            })
        }
    }
}

/// The stored checkpoint: it was verified before it was stored, so only parsed here.
fn parse_stored(note: &[u8], origin: &OriginState) -> Result<Checkpoint, VerifyError> {
    let what = || format!("stored checkpoint in {}", origin.path().display());
    let note = Note::parse(note).map_err(|err| VerifyError::malformed(what(), err))?;
    note.text
        .parse()
        .map_err(|err: bintrail_tlog::checkpoint::CheckpointError| {
            VerifyError::malformed(what(), err)
        })
}

/// Saves both checkpoints and returns the [`VerifyError::Fork`] naming them; if even
/// saving fails, the fork is still reported, with the save error beside the reason.
fn fork_error(
    origin: &OriginState,
    stored: &Checkpoint,
    stored_note: &[u8],
    seen: &Checkpoint,
    seen_note: &[u8],
    reason: ForkReason,
) -> VerifyError {
    let explanation = format!(
        "The log {origin_name} signed two checkpoints that cannot both be true.\n\
         old.checkpoint: tree size {old_size}, accepted earlier by this client.\n\
         new.checkpoint: tree size {new_size}, seen now.\n\
         Check: {reason}\n\
         Both notes are signed by the log's key; together they prove it equivocated.\n",
        origin_name = seen.origin,
        old_size = stored.size,
        new_size = seen.size,
    );
    let saved =
        origin.save_fork_evidence(stored_note, seen_note, stored.size, seen.size, &explanation);
    let (evidence, save_error) = match saved {
        Ok(dir) => (dir, None),
        Err(err) => (origin.path().to_owned(), Some(err)),
    };
    VerifyError::Fork {
        origin: seen.origin.clone(),
        old_size: stored.size,
        new_size: seen.size,
        reason: Box::new(reason),
        evidence,
        save_error,
    }
}
