//! Following: a frontend that shares its log with others (object storage and PostgreSQL)
//! and does not hold the sequencing lease serves reads of the tree the sequencer
//! published, read back from storage, and sequences nothing.
//!
//! Its published checkpoint is the one storage holds (for `CloudStorage`, PostgreSQL's,
//! written only under the lease's fence), checked against the log key before it is
//! shown, and only ever replaced by a larger one. Tiles, bundles and lookups are read
//! from storage below that size as on the sequencer. When this frontend takes the lease,
//! the sequencer runs recovery first ([`crate::storage::Storage::needs_recovery`]) and
//! builds on the tree it reads, never on the one it followed.

use std::time::{Duration, Instant};

use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bytes::Bytes;

use crate::error::LogError;
use crate::state::{Committed, Published, Shared};
use crate::storage::{CheckpointKind, Storage};

/// The published checkpoint in `storage`, checked against the log key.
fn read_published(
    storage: &dyn Storage,
    verifier: &bintrail_tlog::note::Verifier,
) -> Result<Option<(Checkpoint, Bytes)>, LogError> {
    let Some(note) = storage.read_checkpoint(CheckpointKind::Published)? else {
        return Ok(None);
    };
    let (checkpoint, _) =
        open_checkpoint(&note, verifier).map_err(|source| LogError::BadCheckpoint {
            which: "published",
            source,
        })?;
    Ok(Some((checkpoint, Bytes::from(note))))
}

/// On open without the lease: waits until the log has a published checkpoint (the first
/// sequencer creates the empty tree) and returns it, or `None` once this process can
/// sequence itself (then it recovers like any sequencer). Blocking.
pub(crate) fn first_published(
    storage: &dyn Storage,
    verifier: &bintrail_tlog::note::Verifier,
) -> Result<Option<(Checkpoint, Bytes)>, LogError> {
    let mut said = false;
    loop {
        if storage.can_sequence() {
            return Ok(None);
        }
        if let Some(found) = read_published(storage, verifier)? {
            return Ok(Some(found));
        }
        if !said {
            tracing::info!("waiting for the sequencing frontend to create the log");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The tree a follower shows: the published checkpoint, with no right edge (a follower
/// never builds on it).
pub(crate) fn followed(checkpoint: Checkpoint, note: Bytes) -> Committed {
    Committed {
        checkpoint,
        note,
        edge: vec![],
    }
}

/// Shows the published checkpoint storage holds, if it is larger than the one shown.
/// Blocking.
pub(crate) fn refresh(shared: &Shared) -> Result<(), LogError> {
    let verifier = shared.opts.signer.verifier();
    let Some((checkpoint, note)) = read_published(shared.storage.as_ref(), &verifier)? else {
        return Ok(());
    };
    if checkpoint.size <= shared.published.borrow().checkpoint.size {
        return Ok(());
    }
    // Published first: the publisher only acts on a sequenced tree larger than the
    // published one, and must not take this one for its own.
    shared.published.send_replace(Published {
        checkpoint: checkpoint.clone(),
        note: note.clone(),
        since: Instant::now(),
    });
    shared.sequenced.send_if_modified(|c| {
        let newer = c.checkpoint.size < checkpoint.size;
        if newer {
            *c = followed(checkpoint, note);
        }
        newer
    });
    Ok(())
}
