//! Reading the log and keeping its checkpoint: the small part of `bintrail-client`'s planned log
//! reader the monitor needs, until that lands on main (then this module goes and the monitor calls
//! the client's `LogReader` and `observe_checkpoint_note`, which have the same shape).
//!
//! Transport, the per-origin state directory and the tile math are not written here: HTTP comes from
//! `bintrail_client::fetch::HttpClient`, checkpoint files and fork evidence from
//! `bintrail_client::state::OriginState`, and every hash from tlog's `TileHashReader`, which
//! authenticates each tile against the signed root before returning a hash. This module only fetches
//! the tiles tlog's plan names (concurrently, since `TileHashReader` is synchronous) and decides what
//! a new checkpoint means against the stored one.

use std::cmp::Ordering;
use std::collections::HashMap;

use bintrail_client::fetch::{FetchError, HttpClient, Timeouts};
use bintrail_client::state::OriginState;
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::Note;
use bintrail_tlog::tile::{
    TILE_WIDTH, Tile, TileHashReader, TileReader, tiles_for_hashes, tiles_for_tree_proof,
};
use bintrail_tlog::tree::{self, HashReader, TreeError, verify_tree};
use futures::{StreamExt, TryStreamExt};

/// The largest checkpoint note accepted.
const MAX_CHECKPOINT: usize = 1 << 20;
/// A full hash tile: 256 hashes.
const MAX_HASH_TILE: usize = 256 * 32;
/// A full entry bundle: 256 entries of at most 65,535 bytes, each with a 2-byte length.
const MAX_ENTRY_BUNDLE: usize = 256 * (2 + 65_535);
/// Tile requests in flight per read.
const FETCH_CONCURRENCY: usize = 8;

/// Why an authenticated read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Returned when a tile could not be fetched (transient).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Returned when the served tiles do not hash to the signed root, or a tile does not match its
    /// parent or has the wrong size: the log, or something on the way, serves forged data.
    #[error("tiles do not match the signed tree: {0}")]
    Unauthenticated(#[source] TreeError),
    /// Returned when the request itself is outside the tree (a caller bug).
    #[error(transparent)]
    Tree(TreeError),
}

/// A reader of one log's tlog-tiles prefix. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogReader {
    http: HttpClient,
}

impl LogReader {
    /// A reader for the log at `url`; [`FetchError::InvalidUrl`] if it is not an http(s) URL.
    pub fn new(url: &str, timeouts: Timeouts) -> Result<LogReader, FetchError> {
        Ok(LogReader {
            http: HttpClient::new(url, timeouts)?,
        })
    }

    /// The log's current checkpoint note, unverified.
    pub async fn checkpoint_unverified(&self) -> Result<Vec<u8>, FetchError> {
        self.http.get("checkpoint", MAX_CHECKPOINT).await
    }

    /// An entry bundle, unverified: each entry must be checked against authenticated leaf hashes.
    pub async fn entry_bundle_unverified(&self, bundle: &Tile) -> Result<Vec<u8>, FetchError> {
        self.http.get(&bundle.path(), MAX_ENTRY_BUNDLE).await
    }

    /// The stored hashes at `indexes` of the tree (`tree_size`, `root_hash`), each authenticated.
    pub async fn read_hashes(
        &self,
        tree_size: u64,
        root_hash: Hash,
        indexes: &[u64],
    ) -> Result<Vec<Hash>, ReadError> {
        let tiles = tiles_for_hashes(tree_size, indexes).map_err(ReadError::Tree)?;
        let memory = self.fetch_tiles(&tiles).await?;
        TileHashReader::new(tree_size, root_hash, &memory)
            .read_hashes(indexes)
            .map_err(classify)
    }

    /// The consistency proof from `old_size` to the tree (`tree_size`, `root_hash`), built from
    /// authenticated tiles.
    pub async fn prove_tree(
        &self,
        tree_size: u64,
        root_hash: Hash,
        old_size: u64,
    ) -> Result<Vec<Hash>, ReadError> {
        let tiles = tiles_for_tree_proof(tree_size, old_size).map_err(ReadError::Tree)?;
        let memory = self.fetch_tiles(&tiles).await?;
        tree::prove_tree(
            tree_size,
            old_size,
            &TileHashReader::new(tree_size, root_hash, &memory),
        )
        .map_err(classify)
    }

    async fn fetch_tiles(&self, tiles: &[Tile]) -> Result<MemoryTiles, FetchError> {
        let fetched: Vec<(Tile, Vec<u8>)> = futures::stream::iter(tiles.iter().copied())
            .map(|tile| async move { Ok::<_, FetchError>((tile, self.hash_tile(&tile).await?)) })
            .buffer_unordered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(MemoryTiles(fetched.into_iter().collect()))
    }

    /// A hash tile; when a partial tile is gone (the log grew), the full tile's prefix, as C2SP
    /// tlog-tiles allows.
    async fn hash_tile(&self, tile: &Tile) -> Result<Vec<u8>, FetchError> {
        match self.http.get(&tile.path(), MAX_HASH_TILE).await {
            Err(FetchError::NotFound { url }) if !tile.is_full() => {
                let full = Tile {
                    width: TILE_WIDTH,
                    ..*tile
                };
                match self.http.get(&full.path(), MAX_HASH_TILE).await {
                    Err(FetchError::NotFound { .. }) => Err(FetchError::NotFound { url }),
                    Err(e) => Err(e),
                    Ok(mut data) => {
                        data.truncate(tile.width as usize * 32);
                        Ok(data)
                    }
                }
            }
            other => other,
        }
    }
}

/// Everything about tile contents is the log's fault; the rest is the caller's.
fn classify(err: TreeError) -> ReadError {
    match err {
        TreeError::ShortRead { .. }
        | TreeError::BadTile { .. }
        | TreeError::TileRootMismatch { .. }
        | TreeError::InconsistentTile { .. }
        | TreeError::Tile(_) => ReadError::Unauthenticated(err),
        other => ReadError::Tree(other),
    }
}

/// Tiles fetched ahead of one `TileHashReader` call.
struct MemoryTiles(HashMap<Tile, Vec<u8>>);

/// A tile tlog asked for that its own plan did not name: a bug between `tiles_for_hashes` and
/// `TileHashReader`.
#[derive(Debug, thiserror::Error)]
#[error("tile {0} was not fetched ahead of the read")]
struct NotPrefetched(String);

impl TileReader for MemoryTiles {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(t)
                    .cloned()
                    .ok_or_else(|| TreeError::Reader(Box::new(NotPrefetched(t.path()))))
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {
        // The monitor reads each tile once per pass; nothing is worth keeping on disk.
    }
}

/// What a verified checkpoint is, next to the stored one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Nothing was stored; now it is.
    First,
    /// The same tree as stored.
    Same,
    /// A larger tree proven consistent with the stored one; now stored.
    Advanced,
    /// A smaller tree proven consistent with the stored one (a stale view); the stored one is kept.
    Older,
}

/// Why a checkpoint could not be accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// Returned when the two checkpoints are inconsistent; both are saved in `evidence`.
    #[error(
        "fork: tree sizes {old_size} and {new_size} are inconsistent ({reason}); evidence in {evidence}"
    )]
    Fork {
        /// The stored checkpoint's size.
        old_size: u64,
        /// The new checkpoint's size.
        new_size: u64,
        /// What the check found.
        reason: String,
        /// Where both notes were saved.
        evidence: String,
    },
    /// Returned when the log's tiles do not match a checkpoint it signed.
    #[error("tiles do not match the signed tree: {0}")]
    Misbehaved(String),
    /// Returned when tiles could not be fetched (transient).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Returned when the state directory fails or holds an unreadable checkpoint.
    #[error("state directory: {0}")]
    State(String),
}

/// The checkpoint stored for `origin`, or `None`. It was verified before it was stored.
pub fn stored_checkpoint(
    origin: &OriginState,
) -> Result<Option<(Checkpoint, Vec<u8>)>, ObserveError> {
    let Some(note) = origin
        .checkpoint()
        .map_err(|e| ObserveError::State(e.to_string()))?
    else {
        return Ok(None);
    };
    let unreadable = |e: String| {
        ObserveError::State(format!(
            "stored checkpoint in {}: {e}",
            origin.path().display()
        ))
    };
    let parsed = Note::parse(&note).map_err(|e| unreadable(e.to_string()))?;
    let cp = parsed
        .text
        .parse()
        .map_err(|e: bintrail_tlog::checkpoint::CheckpointError| unreadable(e.to_string()))?;
    Ok(Some((cp, note)))
}

/// Compares a verified `checkpoint` (signed note `note`) with the one stored in `origin`, proving
/// consistency from tiles, and stores it when it is new and larger. Holds the origin's lock
/// throughout. On a fork both notes are saved and the stored one is kept.
pub async fn observe_checkpoint(
    origin: &OriginState,
    reader: &LogReader,
    checkpoint: &Checkpoint,
    note: &[u8],
) -> Result<Observation, ObserveError> {
    let state = |e: std::io::Error| ObserveError::State(e.to_string());
    let _lock = origin.lock().map_err(state)?;
    let Some((stored, stored_note)) = stored_checkpoint(origin)? else {
        origin.store_checkpoint(note).map_err(state)?;
        return Ok(Observation::First);
    };
    let (small, large) = match checkpoint.size.cmp(&stored.size) {
        Ordering::Equal if checkpoint.root_hash == stored.root_hash => {
            return Ok(Observation::Same);
        }
        Ordering::Equal => {
            let reason = format!("two root hashes for tree size {}", stored.size);
            return Err(fork(
                origin,
                &stored,
                &stored_note,
                checkpoint,
                note,
                reason,
            ));
        }
        Ordering::Greater => (&stored, checkpoint),
        Ordering::Less => (checkpoint, &stored),
    };
    let proof = match reader
        .prove_tree(large.size, large.root_hash, small.size)
        .await
    {
        Ok(p) => p,
        Err(ReadError::Fetch(e)) => return Err(ObserveError::Fetch(e)),
        Err(e) => return Err(ObserveError::Misbehaved(e.to_string())),
    };
    if let Err(e) = verify_tree(
        &proof,
        large.size,
        large.root_hash,
        small.size,
        small.root_hash,
    ) {
        let reason = format!(
            "consistency proof from size {} to {}: {e}",
            small.size, large.size
        );
        return Err(fork(
            origin,
            &stored,
            &stored_note,
            checkpoint,
            note,
            reason,
        ));
    }
    if checkpoint.size < stored.size {
        return Ok(Observation::Older);
    }
    origin.store_checkpoint(note).map_err(state)?;
    Ok(Observation::Advanced)
}

fn fork(
    origin: &OriginState,
    stored: &Checkpoint,
    stored_note: &[u8],
    seen: &Checkpoint,
    seen_note: &[u8],
    reason: String,
) -> ObserveError {
    let explanation = format!(
        "bintrail monitor: the log {} signed two checkpoints that cannot both be true.\n\
         old.checkpoint: tree size {}, verified earlier.\nnew.checkpoint: tree size {}, seen now.\n\
         Check: {reason}\n",
        seen.origin, stored.size, seen.size
    );
    let saved =
        origin.save_fork_evidence(stored_note, seen_note, stored.size, seen.size, &explanation);
    let (evidence, reason) = match saved {
        Ok(dir) => (dir.display().to_string(), reason),
        Err(e) => (
            origin.path().display().to_string(),
            format!("{reason}; saving the evidence failed: {e}"),
        ),
    };
    ObserveError::Fork {
        old_size: stored.size,
        new_size: seen.size,
        reason,
        evidence,
    }
}
