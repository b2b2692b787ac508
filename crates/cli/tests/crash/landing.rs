//! Where a kill landed in the commit sequence, read from the data directory.

use std::path::Path;
use std::time::SystemTime;

use bintrail_tlog::checkpoint::open_checkpoint;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::tile::Tile;

/// Where in the commit sequence a kill landed, read from the data directory.
#[derive(Clone, Copy)]
pub(crate) enum Landing {
    /// Nothing beyond the published checkpoint on disk.
    BetweenBatches = 0,
    /// Entry bundles beyond the sequenced checkpoint written since the start: the
    /// kill hit a batch before its commit point.
    BeforeCommit = 1,
    /// The sequenced checkpoint is ahead of the published one: after the commit
    /// point, before publication.
    BeforePublish = 2,
}

impl Landing {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Landing::BetweenBatches => "between batches",
            Landing::BeforeCommit => "in a batch, before its commit point",
            Landing::BeforePublish => "committed, not yet published",
        }
    }

    pub(crate) fn inspect(data: &Path, since: SystemTime, verifier: &Verifier) -> Landing {
        let size = |name: &str| {
            std::fs::read(data.join(name))
                .ok()
                .and_then(|note| open_checkpoint(&note, verifier).ok())
                .map_or(0, |(cp, _)| cp.size)
        };
        let sequenced = size("sequenced-checkpoint");
        if sequenced > size("checkpoint") {
            return Landing::BeforePublish;
        }
        let mut stack = vec![data.join("tile").join("entries")];
        while let Some(dir) = stack.pop() {
            let Ok(read) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in read.flatten() {
                let path = item.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let fresh = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= since);
                let beyond = path
                    .strip_prefix(data)
                    .ok()
                    .and_then(|p| p.to_str())
                    .and_then(|p| Tile::from_path(p).ok())
                    .is_some_and(|t| t.record_range().1 > sequenced);
                if fresh && beyond {
                    return Landing::BeforeCommit;
                }
            }
        }
        Landing::BetweenBatches
    }
}
