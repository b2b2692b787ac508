//! The findings made from new entries as they are indexed: equivocation, watched releases and
//! publisher drift, and the JSON forms of checkpoints and digests they carry.

use bintrail_tlog::checkpoint::Checkpoint;

use crate::finding::{CheckpointRef, Finding, FindingKind};
use crate::index::{IdentifierIndex, IndexedEntry, Insertion};

pub(super) fn checkpoint_ref(cp: &Checkpoint) -> CheckpointRef {
    CheckpointRef {
        origin: cp.origin.clone(),
        size: cp.size,
        root_hash: cp.root_hash.to_base64(),
    }
}

pub(super) fn hex_digest(d: &[u8; 32]) -> String {
    bintrail_tlog::pypi::Checksum::from_digest(*d).to_string()
}

pub(super) fn equivocation(
    first: &IndexedEntry,
    new: &IndexedEntry,
    cp: &CheckpointRef,
) -> Finding {
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
pub(super) fn previous_releases(
    idx: &IdentifierIndex,
    entries: &[IndexedEntry],
    inserted: Vec<Insertion>,
    watch: &[regex::Regex],
) -> Result<Vec<(Insertion, Option<IndexedEntry>)>, crate::index::IdentifierIndexError> {
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
pub(super) fn publisher_drift(
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

pub(super) fn watched(entry: &IndexedEntry, cp: &CheckpointRef) -> Finding {
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
