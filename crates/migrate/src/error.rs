//! What can stop a migration. Each error names the object or entry it is about.

use std::path::PathBuf;

use bintrail_log::storage::StorageError;

/// Why reading one object of the source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Reading a file failed.
    #[error("{0}")]
    Io(std::io::Error),
    /// The HTTP request failed (connection, timeout, body).
    #[error("{0}")]
    Http(reqwest::Error),
    /// The server answered with another status than 200 or 404.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The object is larger than any tile, bundle or checkpoint can be.
    #[error("larger than any tile, entry bundle or checkpoint")]
    TooLarge,
}

/// Two entries of the source under one identifier: the target's uniqueness index cannot
/// hold both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The identifier both entries have (for PyPI the canonical filename).
    pub identifier: String,
    /// The first entry: index, name and digest (hex).
    pub first: (u64, String, String),
    /// The later entry.
    pub second: (u64, String, String),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.first.2 == self.second.2 {
            "logged twice"
        } else {
            "two digests"
        };
        write!(
            f,
            "{what} for {}: index {} {} sha256:{}, index {} {} sha256:{}",
            self.identifier,
            self.first.0,
            self.first.1,
            self.first.2,
            self.second.0,
            self.second.1,
            self.second.2
        )
    }
}

/// Errors of [`crate::migrate`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// `--from` is neither a URL nor an existing directory.
    #[error("{path} is not a directory (and not an http:// or https:// URL)")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// Reading an object of the source failed.
    #[error("reading {path}: {source}")]
    Source {
        /// The file or URL.
        path: String,
        /// Why.
        source: SourceError,
    },
    /// An object the source's checkpoint needs is not there.
    #[error("the source lacks {path}, which its checkpoint covers")]
    Missing {
        /// The file or URL.
        path: String,
    },
    /// The source has no checkpoint at all.
    #[error("the source has no checkpoint at {path}: not a tlog-tiles log")]
    NoCheckpoint {
        /// The file or URL.
        path: String,
    },
    /// A checkpoint does not open with the source's key.
    #[error("the checkpoint {path} does not verify with the key {key}: {source}")]
    Checkpoint {
        /// The file or URL.
        path: String,
        /// The verifier key's name.
        key: String,
        /// Why.
        source: bintrail_tlog::checkpoint::CheckpointError,
    },
    /// The published checkpoint is not a prefix of the sequenced one.
    #[error(
        "the published checkpoint (size {published}) is not consistent with the sequenced one (size {sequenced})"
    )]
    Inconsistent {
        /// The published size.
        published: u64,
        /// The sequenced size.
        sequenced: u64,
    },
    /// A tile or bundle of the source does not hash to the signed checkpoint.
    #[error("{path} does not match the source's signed checkpoint (size {size}): {detail}")]
    Tampered {
        /// The file or URL.
        path: String,
        /// The checkpoint's size.
        size: u64,
        /// What does not match.
        detail: Tamper,
    },
    /// An entry bundle does not parse.
    #[error("{path}: {source}")]
    Bundle {
        /// The file or URL.
        path: String,
        /// Why.
        source: bintrail_tlog::bundle::BundleError,
    },
    /// An entry is not of the log's entry kind.
    #[error("entry {index} is not a valid entry: {source}")]
    Entry {
        /// Its index.
        index: u64,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The source holds two entries under one identifier.
    #[error("the source holds {} entr{} the uniqueness index cannot take (nothing after index {stopped_at} was copied; the target has no checkpoint):\n{}", conflicts.len(), if conflicts.len() == 1 { "y" } else { "ies" }, list(conflicts))]
    Conflicts {
        /// Each pair found.
        conflicts: Vec<Conflict>,
        /// The first index not copied.
        stopped_at: u64,
    },
    /// The target already holds a log that this source does not continue.
    #[error(
        "the target already holds a log of size {size} that is not this source's (its checkpoint differs); migrate only into an empty target"
    )]
    TargetNotEmpty {
        /// The target's tree size.
        size: u64,
    },
    /// The target holds rows of an interrupted migration of another source.
    #[error(
        "the target's index holds entry {index} ({name}) that the source does not have there; it was filled from another source"
    )]
    TargetDiverged {
        /// The index.
        index: u64,
        /// The entry name the target holds.
        name: String,
    },
    /// The target backend failed.
    #[error("the target: {0}")]
    Target(#[from] StorageError),
}

/// What does not match in a tampered source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Tamper {
    /// A hash tile whose hashes do not lead to the checkpoint's root.
    #[error("its hashes do not lead to the root hash")]
    Tile,
    /// A level-0 tile that differs from the leaf hashes of its (authenticated) bundle.
    #[error("it differs from the leaf hashes of the entries, which do match the checkpoint")]
    Level0,
    /// An entry bundle whose entries do not hash to the authenticated tree.
    #[error("its entries' leaf hashes do not lead to the root hash")]
    Bundle,
}

fn list(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("  {c}"))
        .collect::<Vec<_>>()
        .join("\n")
}
