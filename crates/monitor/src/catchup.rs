//! Catch-up: fetch the entry bundles of a range of leaves, check every entry against the level-0 hashes
//! the signed root commits to, and parse it.
//!
//! Work is split into groups of [`GROUP_BUNDLES`] entry bundles. A group's leaf hashes come from
//! `LogReader::read_hashes`, which fetches exactly the tiles tlog's plan names and authenticates every
//! one against the checkpoint's root before returning a hash; its bundles are fetched concurrently
//! beside them. Checking a group is pure CPU (one SHA-256 per entry plus parsing), so groups run as
//! separate tasks and several are in flight while the caller indexes earlier ones in order.

use bintrail_client::fetch::FetchError;
use bintrail_client::log::{LogReader, ReadError};
use bintrail_tlog::bundle::{BundleError, parse_entry_bundle_with_width};
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::pypi::{Entry, EntryError};
use bintrail_tlog::tile::{TILE_WIDTH, Tile, entry_bundle_tiles};
use bintrail_tlog::tree::{TreeError, stored_hash_index};
use futures::{StreamExt, TryStreamExt};

use crate::index::IndexedEntry;

/// Entry bundles per group: 32 bundles are 8,192 leaves, enough to amortize the tiles fetched to
/// authenticate them, small enough that several groups in flight stay within a few MiB.
pub const GROUP_BUNDLES: usize = 32;

/// Entry bundle requests in flight per group.
const BUNDLE_CONCURRENCY: usize = 8;

/// The signed tree a catch-up checks against (from a verified checkpoint).
#[derive(Clone, Copy, Debug)]
pub struct Tree {
    /// The tree size.
    pub size: u64,
    /// The root hash.
    pub root_hash: Hash,
}

/// A bad leaf found while checking a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadLeaf {
    /// The entry's leaf hash is not the one the tree commits to, or the bundle does not split into
    /// the right number of entries: the bundle was altered (by the log or in transit). Catch-up stops
    /// before this leaf so the next pass fetches it again.
    Mismatch {
        /// The first leaf index that could not be matched.
        index: u64,
        /// What was wrong.
        reason: LeafMismatch,
    },
    /// The entry is in the tree but is not a valid `pypi-transparency/v1` entry. It is reported once
    /// and passed over: the log committed to it and cannot take it back.
    Unparsable {
        /// The leaf index.
        index: u64,
        /// The parse error.
        reason: EntryError,
    },
}

/// Why fetched leaves did not match the tree ([`BadLeaf::Mismatch`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeafMismatch {
    /// The entry bundle does not parse, or holds another number of entries than its width.
    #[error("entry bundle {path}: {source}")]
    Bundle {
        /// The bundle's tile path.
        path: String,
        /// What is wrong with it.
        source: BundleError,
    },
    /// An entry's leaf hash is not the one the tree commits to.
    #[error("entry {index} in {path} does not match the tree's leaf hash")]
    LeafHash {
        /// The entry's leaf index.
        index: u64,
        /// The bundle's tile path.
        path: String,
    },
}

impl BadLeaf {
    /// The leaf's index.
    pub fn index(&self) -> u64 {
        match self {
            BadLeaf::Mismatch { index, .. } | BadLeaf::Unparsable { index, .. } => *index,
        }
    }

    /// What was wrong with it.
    pub fn reason(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        match self {
            BadLeaf::Mismatch { reason, .. } => reason,
            BadLeaf::Unparsable { reason, .. } => reason,
        }
    }
}

/// The outcome of checking one group.
#[derive(Debug, Default)]
pub struct CheckedGroup {
    /// Parsed entries that matched the tree, in leaf order.
    pub entries: Vec<IndexedEntry>,
    /// Unparsable leaves (reported, passed over) and at most one mismatch (which ends the group).
    pub bad: Vec<BadLeaf>,
    /// Leaves `[start, checked_to)` were checked; less than the group's end after a mismatch.
    pub checked_to: u64,
}

/// Why a group could not be checked at all (nothing in it can be trusted or skipped).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// Returned when a tile or bundle could not be fetched (transient, retry later).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Returned when the log's tiles do not match its signed root.
    #[error("tiles do not match the signed tree: {0}")]
    Unauthenticated(#[source] TreeError),
    /// Returned when the requested range is outside the tree (a bug in the caller).
    #[error("leaf range outside the tree: {0}")]
    Range(#[source] ReadError),
}

impl From<ReadError> for GroupError {
    fn from(err: ReadError) -> GroupError {
        match err {
            ReadError::Fetch(e) => GroupError::Fetch(e),
            ReadError::Unauthenticated(e) => GroupError::Unauthenticated(e),
            other => GroupError::Range(other),
        }
    }
}

/// Splits leaves `[start, end)` into groups of whole entry bundles, each `(first leaf, end leaf)`.
/// The first group starts at `start` even when that is inside a bundle.
///
/// Lazy, in constant memory: `end` comes from a signed checkpoint, and a log (or anyone holding
/// its key) can sign a size of 2^63 - 1; planning every group up front allocated for each of
/// them before the first fetch (issue 19, finding H1).
pub fn groups(start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> {
    const GROUP_LEAVES: u64 = GROUP_BUNDLES as u64 * TILE_WIDTH;
    let mut next = start;
    std::iter::from_fn(move || {
        if next >= end {
            return None;
        }
        let from = next;
        // The group ends at the next multiple of GROUP_LEAVES, or at `end`.
        let to = (from / GROUP_LEAVES)
            .checked_add(1)
            .and_then(|g| g.checked_mul(GROUP_LEAVES))
            .map_or(end, |boundary| boundary.min(end));
        next = to;
        Some((from, to))
    })
}

/// Authenticates the hash of the tree's last leaf before any entry is fetched: O(log size) tiles,
/// whatever the size. Returns why the log cannot back its signed size (a tile it does not serve,
/// or tiles that do not match the root), or `None` when it can.
///
/// A signed jump to 2^40 or 2^63 - 1 records (issue 19, finding H1) is so reported at once instead
/// of being walked bundle by bundle. Errors: fetch failures other than a missing tile (transient).
pub async fn probe_last_leaf(reader: &LogReader, tree: Tree) -> Result<Option<String>, FetchError> {
    let Some(last) = tree.size.checked_sub(1) else {
        return Ok(None);
    };
    let index = stored_hash_index(0, last);
    match reader
        .read_hashes(tree.size, tree.root_hash, &[index], None)
        .await
    {
        Ok(_) => Ok(None),
        Err(ReadError::Fetch(FetchError::NotFound { url })) => Ok(Some(format!(
            "it does not serve {url}, a tile committing to leaf {last}"
        ))),
        Err(ReadError::Fetch(e)) => Err(e),
        Err(e) => Ok(Some(e.to_string())),
    }
}

/// Leaves checked against the tree, raw: what a follower other than the monitor (the
/// verifiable index) builds on.
#[derive(Debug, Default)]
pub struct CheckedLeaves {
    /// `(leaf index, entry bytes)` of every leaf in `[start, checked_to)`, in order; each
    /// entry's leaf hash equals the authenticated level-0 hash at its index.
    pub leaves: Vec<(u64, Vec<u8>)>,
    /// The first leaf that did not match the tree, and why; checking stopped before it.
    pub mismatch: Option<BadLeaf>,
    /// Leaves `[start, checked_to)` were checked.
    pub checked_to: u64,
}

/// Fetches and checks leaves `[start, end)` (a range from [`groups`]) against `tree`.
///
/// Every returned entry's leaf hash equals the authenticated level-0 hash at its index. Errors only
/// when nothing could be checked; a bad bundle is a [`BadLeaf::Mismatch`] in the result.
pub async fn check_group(
    reader: &LogReader,
    tree: Tree,
    start: u64,
    end: u64,
) -> Result<CheckedGroup, GroupError> {
    Ok(parse_leaves(check_leaves(reader, tree, start, end).await?))
}

/// Like [`check_group`], without parsing: the checked entries' bytes, for any entry kind.
pub async fn check_leaves(
    reader: &LogReader,
    tree: Tree,
    start: u64,
    end: u64,
) -> Result<CheckedLeaves, GroupError> {
    let bundle_start = start - start % TILE_WIDTH;
    let indexes: Vec<u64> = (bundle_start..end)
        .map(|n| stored_hash_index(0, n))
        .collect();
    let bundles = entry_bundle_tiles(bundle_start, end);
    let hashes = reader.read_hashes(tree.size, tree.root_hash, &indexes, None);
    let data = futures::stream::iter(bundles.iter().copied())
        .map(|b| async move { fetch_bundle(reader, &b).await })
        .buffered(BUNDLE_CONCURRENCY)
        .try_collect::<Vec<_>>();
    let (hashes, data) = futures::join!(hashes, data);
    let (hashes, data) = (hashes?, data?);
    Ok(verify_bundles(
        &bundles,
        &data,
        &hashes,
        bundle_start,
        start,
    ))
}

/// Fetches an entry bundle; when a partial bundle is gone (the log grew and serves only the full
/// one, as C2SP tlog-tiles allows), fetches the full bundle and keeps the first `width` entries.
/// Candidate for `bintrail-client`'s log reader, beside the hash-tile fallback.
async fn fetch_bundle(reader: &LogReader, bundle: &Tile) -> Result<Vec<u8>, FetchError> {
    match reader.entry_bundle_unverified(bundle).await {
        Err(FetchError::NotFound { url }) if !bundle.is_full() => {
            let full = Tile {
                width: TILE_WIDTH,
                ..*bundle
            };
            match reader.entry_bundle_unverified(&full).await {
                Err(FetchError::NotFound { .. }) => Err(FetchError::NotFound { url }),
                Err(e) => Err(e),
                Ok(data) => Ok(truncate_bundle(data, bundle.width)),
            }
        }
        other => other,
    }
}

/// The prefix of an entry bundle holding its first `width` entries (the whole data if it has fewer,
/// so the strict parse afterwards reports the shortfall).
fn truncate_bundle(mut data: Vec<u8>, width: u64) -> Vec<u8> {
    let mut pos = 0usize;
    for _ in 0..width {
        let Some(len) = data.get(pos..pos + 2) else {
            return data;
        };
        pos += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
    }
    data.truncate(pos.min(data.len()));
    data
}

/// Checks fetched bundles against authenticated leaf hashes and parses the entries.
#[cfg(test)]
fn check_bundles(
    bundles: &[Tile],
    data: &[Vec<u8>],
    hashes: &[Hash],
    first: u64,
    start: u64,
) -> CheckedGroup {
    parse_leaves(verify_bundles(bundles, data, hashes, first, start))
}

/// Parses checked leaves as PyPI entries: an unparsable one is reported and passed over.
fn parse_leaves(checked: CheckedLeaves) -> CheckedGroup {
    let mut out = CheckedGroup {
        checked_to: checked.checked_to,
        ..CheckedGroup::default()
    };
    for (index, entry) in &checked.leaves {
        match Entry::parse(entry) {
            Ok(e) => out.entries.push(indexed(&e, *index)),
            Err(reason) => out.bad.push(BadLeaf::Unparsable {
                index: *index,
                reason,
            }),
        }
    }
    out.bad.extend(checked.mismatch);
    out
}

/// Checks fetched bundles against authenticated leaf hashes. `hashes[i]` is leaf `first + i`;
/// leaves below `start` are verified but not returned (an earlier pass indexed them).
fn verify_bundles(
    bundles: &[Tile],
    data: &[Vec<u8>],
    hashes: &[Hash],
    first: u64,
    start: u64,
) -> CheckedLeaves {
    let mut out = CheckedLeaves {
        checked_to: start,
        ..CheckedLeaves::default()
    };
    for (bundle, data) in bundles.iter().zip(data) {
        let base = bundle.index * TILE_WIDTH;
        let entries = match parse_entry_bundle_with_width(data, bundle.width) {
            Ok(e) => e,
            Err(source) => {
                out.mismatch = Some(BadLeaf::Mismatch {
                    index: base.max(start),
                    reason: LeafMismatch::Bundle {
                        path: bundle.path(),
                        source,
                    },
                });
                return out;
            }
        };
        for (i, entry) in entries.iter().enumerate() {
            let index = base + i as u64;
            // `hashes` covers exactly [first, end) and each bundle lies inside it.
            let want = hashes[(index - first) as usize];
            if leaf_hash(entry) != want {
                out.mismatch = Some(BadLeaf::Mismatch {
                    index: index.max(start),
                    reason: LeafMismatch::LeafHash {
                        index,
                        path: bundle.path(),
                    },
                });
                return out;
            }
            if index < start {
                continue;
            }
            out.leaves.push((index, entry.to_vec()));
            out.checked_to = index + 1;
        }
    }
    out
}

/// The index row for a parsed entry at leaf `index`.
pub fn indexed(entry: &Entry, index: u64) -> IndexedEntry {
    IndexedEntry {
        filename: entry.filename.as_str().to_string(),
        index,
        digest: *entry.checksum.digest(),
        publisher: entry
            .publisher
            .as_ref()
            .map(|p| format!("{} {}", p.issuer, p.subject)),
        project: entry.filename.project_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::bundle::encode_entry_bundle;

    fn entry_bytes(i: u64) -> Vec<u8> {
        format!(
            "pypi-transparency/v1\nsha256:{:064x}\ndemo{i}-1.0-py3-none-any.whl",
            i
        )
        .into_bytes()
    }

    fn bundle_tile(index: u64, width: u64) -> Tile {
        Tile::new(bintrail_tlog::tile::TileLevel::Entries, index, width).unwrap()
    }

    #[test]
    fn groups_cover_the_range_in_bundle_steps() {
        let groups = |a, b| groups(a, b).collect::<Vec<_>>();
        assert!(groups(5, 5).is_empty());
        assert_eq!(groups(0, 10), vec![(0, 10)]);
        assert_eq!(groups(300, 600), vec![(300, 600)]);
        let g = groups(10, 256 * 70 + 3);
        assert_eq!(g.first(), Some(&(10, 256 * 32)));
        assert_eq!(g[1], (256 * 32, 256 * 64));
        assert_eq!(g.last(), Some(&(256 * 64, 256 * 70 + 3)));
    }

    #[test]
    fn issue_19_groups_of_a_hostile_size_are_planned_lazily() {
        const MAX: u64 = (1 << 63) - 1;
        let mut g = groups(0, MAX);
        assert_eq!(g.next(), Some((0, 256 * 32)));
        assert_eq!(g.next(), Some((256 * 32, 256 * 64)));
        let mut tail = groups(MAX - 10, MAX);
        assert_eq!(tail.next(), Some((MAX - 10, MAX)));
        assert_eq!(tail.next(), None);
        assert_eq!(groups(u64::MAX - 1, u64::MAX).count(), 1);
    }

    #[test]
    fn matching_bundle_is_parsed_and_indexed_from_start() {
        let entries: Vec<Vec<u8>> = (0..5).map(entry_bytes).collect();
        let data = encode_entry_bundle(&entries).unwrap();
        let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let got = check_bundles(&[bundle_tile(0, 5)], &[data], &hashes, 0, 2);
        assert!(got.bad.is_empty(), "{:?}", got.bad);
        assert_eq!(got.checked_to, 5);
        assert_eq!(
            got.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(got.entries[0].filename, "demo2-1.0-py3-none-any.whl");
        assert_eq!(got.entries[0].project, "demo2");
    }

    #[test]
    fn altered_entry_stops_the_group_before_it() {
        let mut entries: Vec<Vec<u8>> = (0..5).map(entry_bytes).collect();
        let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        entries[3][30] ^= 1;
        let data = encode_entry_bundle(&entries).unwrap();
        let got = check_bundles(&[bundle_tile(0, 5)], &[data], &hashes, 0, 0);
        assert_eq!(got.checked_to, 3);
        assert!(
            matches!(got.bad[..], [BadLeaf::Mismatch { index: 3, .. }]),
            "{:?}",
            got.bad
        );
    }

    #[test]
    fn wrong_entry_count_is_a_mismatch() {
        let entries: Vec<Vec<u8>> = (0..4).map(entry_bytes).collect();
        let hashes: Vec<Hash> = (0..5).map(|i| leaf_hash(&entry_bytes(i))).collect();
        let data = encode_entry_bundle(&entries).unwrap();
        let got = check_bundles(&[bundle_tile(0, 5)], &[data], &hashes, 0, 0);
        assert_eq!(got.checked_to, 0);
        assert!(matches!(got.bad[..], [BadLeaf::Mismatch { index: 0, .. }]));
    }

    #[test]
    fn unparsable_entry_in_the_tree_is_reported_and_passed_over() {
        let mut entries: Vec<Vec<u8>> = (0..3).map(entry_bytes).collect();
        entries[1] = b"not an entry".to_vec();
        let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let data = encode_entry_bundle(&entries).unwrap();
        let got = check_bundles(&[bundle_tile(0, 3)], &[data], &hashes, 0, 0);
        assert_eq!(got.checked_to, 3);
        assert_eq!(got.entries.len(), 2);
        assert!(matches!(
            got.bad[..],
            [BadLeaf::Unparsable { index: 1, .. }]
        ));
    }

    #[test]
    fn truncating_a_full_bundle_keeps_the_prefix() {
        let entries: Vec<Vec<u8>> = (0..6).map(entry_bytes).collect();
        let full = encode_entry_bundle(&entries).unwrap();
        let want = encode_entry_bundle(&entries[..4]).unwrap();
        assert_eq!(truncate_bundle(full.clone(), 4), want);
        assert_eq!(truncate_bundle(full.clone(), 9), full);
        assert_eq!(truncate_bundle(vec![0, 5, 1], 1), vec![0, 5, 1]);
    }
}
