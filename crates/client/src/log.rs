//! Reading a C2SP tlog-tiles log over HTTP.
//!
//! Raw resources (checkpoint, tiles, entry bundles, lookups, policy) come back
//! unverified and say so in their names or docs. Hashes come back only through
//! [`LogReader::read_hashes`] and [`LogReader::prove_tree`], which authenticate every
//! tile they use against a signed root with tlog's `TileHashReader` before a single
//! hash is returned or a tile is cached.
//!
//! `TileHashReader` is synchronous (tlog does no I/O), so each read runs in two
//! steps: fetch, concurrently, exactly the tiles tlog's plan names
//! (`tiles_for_hashes`), then let `TileHashReader` authenticate and read them from
//! memory.

use std::collections::HashMap;
use std::sync::Mutex;

use bintrail_tlog::hash::Hash;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::Filename;
use bintrail_tlog::tile::{
    TILE_WIDTH, Tile, TileHashReader, TileLevel, TileReader, tiles_for_hashes, tiles_for_tree_proof,
};
use bintrail_tlog::tree::{self, HashReader, TreeError};
use futures::{StreamExt, TryStreamExt};

use crate::fetch::{FetchError, HttpClient, Timeouts};
use crate::state::TileCache;
use crate::verify::{NoProof, VerifyError, parse_proof};

/// The largest checkpoint accepted: tlog's own bound on checkpoint bodies plus room
/// for signatures.
pub const MAX_CHECKPOINT: usize = 1 << 20;
/// The largest hash tile: 256 hashes.
pub const MAX_HASH_TILE: usize = 256 * 32;
/// The largest entry bundle: 256 entries of at most 65,535 bytes with their 2-byte
/// length prefixes.
pub const MAX_ENTRY_BUNDLE: usize = 256 * (2 + 65_535);
/// The largest lookup response (a tlog-proof) accepted.
pub const MAX_LOOKUP: usize = 1 << 20;
/// The largest policy accepted.
pub const MAX_POLICY: usize = 1 << 20;
/// How many tile requests are in flight at once.
pub const FETCH_CONCURRENCY: usize = 8;

/// Why an authenticated read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Returned when a tile could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Returned when the tiles the log served do not hash to the signed root (or a
    /// tile does not match its parent, or has the wrong size): the log, or
    /// something between it and us, is serving forged data.
    #[error("tiles do not match the signed tree: {0}")]
    Unauthenticated(#[source] TreeError),
    /// Returned when the request itself is invalid (an index outside the tree).
    #[error(transparent)]
    Tree(TreeError),
}

impl From<ReadError> for VerifyError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::Fetch(err) => VerifyError::Fetch(err),
            ReadError::Unauthenticated(err) => VerifyError::LogMisbehaved(err),
            ReadError::Tree(err) => VerifyError::malformed("tile read", err),
        }
    }
}

/// A client for one log's tlog-tiles prefix.
#[derive(Debug, Clone)]
pub struct LogReader {
    http: HttpClient,
}

impl LogReader {
    /// Returns a reader for the log at `url` (its tlog-tiles prefix).
    ///
    /// Returns [`FetchError::InvalidUrl`] if `url` is not an `http(s)` URL.
    pub fn new(url: &str, timeouts: Timeouts) -> Result<Self, FetchError> {
        Ok(LogReader {
            http: HttpClient::new(url, timeouts)?,
        })
    }

    /// The HTTP client, for endpoints outside tlog-tiles (such as `POST /add`).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Fetches the log's current checkpoint note, unverified.
    pub async fn checkpoint_unverified(&self) -> Result<Vec<u8>, FetchError> {
        self.http.get("checkpoint", MAX_CHECKPOINT).await
    }

    /// Fetches a hash tile, unverified. For a partial tile the log no longer serves
    /// (404), fetches the full tile and returns its prefix, as C2SP tlog-tiles allows.
    pub async fn tile_unverified(&self, tile: &Tile) -> Result<Vec<u8>, FetchError> {
        match self.http.get(&tile.path(), MAX_HASH_TILE).await {
            Err(FetchError::NotFound { url }) if tile.width < TILE_WIDTH => {
                let full = Tile {
                    width: TILE_WIDTH,
                    ..*tile
                };
                let mut data = match self.http.get(&full.path(), MAX_HASH_TILE).await {
                    Err(FetchError::NotFound { .. }) => return Err(FetchError::NotFound { url }),
                    other => other?,
                };
                data.truncate(tile.width as usize * 32);
                Ok(data)
            }
            other => other,
        }
    }

    /// Fetches an entry bundle, unverified: check each entry's leaf hash against the
    /// authenticated level-0 hashes before trusting it.
    pub async fn entry_bundle_unverified(&self, bundle: &Tile) -> Result<Vec<u8>, FetchError> {
        self.http.get(&bundle.path(), MAX_ENTRY_BUNDLE).await
    }

    /// Looks up the proof for a PyPI file name (`GET /lookup/pypi/<filename>`).
    ///
    /// Returns [`VerifyError::NotLogged`] on 404, [`VerifyError::Malformed`] for an
    /// invalid file name or an unparsable proof, [`VerifyError::Fetch`] otherwise.
    /// The proof is unverified.
    pub async fn lookup(&self, filename: &str) -> Result<TlogProof, VerifyError> {
        let name: Filename = filename
            .parse()
            .map_err(|err| VerifyError::malformed(format!("file name {filename:?}"), err))?;
        let path = format!("lookup/pypi/{}", name.as_str());
        match self.http.get(&path, MAX_LOOKUP).await {
            Ok(bytes) => parse_proof(&bytes, &self.http.url(&path)),
            Err(FetchError::NotFound { .. }) => Err(VerifyError::NotLogged(NoProof::NotInLog {
                log: self.http.base().to_string(),
                filename: filename.to_owned(),
            })),
            Err(err) => Err(err.into()),
        }
    }

    /// Fetches the log's self-declared tlog-policy text (`GET /policy`), unverified.
    pub async fn policy_unverified(&self) -> Result<Vec<u8>, FetchError> {
        self.http.get("policy", MAX_POLICY).await
    }

    /// Returns the stored hashes at `indexes` of the tree of `tree_size` records with
    /// root `root_hash` (from a verified checkpoint), each authenticated against it.
    ///
    /// Full tiles that authenticate are written to `cache` and read from it next
    /// time. Errors: [`ReadError::Unauthenticated`] when the served tiles do not
    /// match the root, [`ReadError::Fetch`], [`ReadError::Tree`] for indexes outside
    /// the tree.
    pub async fn read_hashes(
        &self,
        tree_size: u64,
        root_hash: Hash,
        indexes: &[u64],
        cache: Option<&TileCache>,
    ) -> Result<Vec<Hash>, ReadError> {
        let tiles = tiles_for_hashes(tree_size, indexes).map_err(ReadError::Tree)?;
        let memory = self.fetch_tiles(&tiles, cache).await?;
        TileHashReader::new(tree_size, root_hash, &memory)
            .read_hashes(indexes)
            .map_err(classify)
    }

    /// Returns the RFC 6962 consistency proof from `old_size` to the tree of
    /// `tree_size` records with root `root_hash`, built from authenticated tiles.
    /// Errors as for [`LogReader::read_hashes`].
    pub async fn prove_tree(
        &self,
        tree_size: u64,
        root_hash: Hash,
        old_size: u64,
        cache: Option<&TileCache>,
    ) -> Result<Vec<Hash>, ReadError> {
        let tiles = tiles_for_tree_proof(tree_size, old_size).map_err(ReadError::Tree)?;
        let memory = self.fetch_tiles(&tiles, cache).await?;
        tree::prove_tree(
            tree_size,
            old_size,
            &TileHashReader::new(tree_size, root_hash, &memory),
        )
        .map_err(classify)
    }

    /// Fetches `tiles` (from `cache` when there), up to [`FETCH_CONCURRENCY`] at a
    /// time, into an in-memory [`TileReader`].
    async fn fetch_tiles<'c>(
        &self,
        tiles: &[Tile],
        cache: Option<&'c TileCache>,
    ) -> Result<MemoryTiles<'c>, FetchError> {
        let fetched: Vec<(Tile, Vec<u8>)> = futures::stream::iter(tiles.iter().copied())
            .map(|tile| async move {
                if let Some(data) = cached(cache, &tile) {
                    return Ok((tile, data));
                }
                Ok((tile, self.tile_unverified(&tile).await?))
            })
            .buffer_unordered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(MemoryTiles {
            tiles: Mutex::new(fetched.into_iter().collect()),
            cache,
        })
    }
}

/// A cached full tile holding `tile` (itself, or the full tile a partial one is a
/// prefix of), cut to `tile`'s width. Cache read errors count as a miss.
fn cached(cache: Option<&TileCache>, tile: &Tile) -> Option<Vec<u8>> {
    let TileLevel::Hash(_) = tile.level else {
        return None;
    };
    let full = Tile {
        width: TILE_WIDTH,
        ..*tile
    };
    let mut data = cache?.read(&full.path()).ok()??;
    if data.len() != MAX_HASH_TILE {
        return None;
    }
    data.truncate(tile.width as usize * 32);
    Some(data)
}

/// Sorts tlog's errors: everything about tile contents is the log's fault.
fn classify(err: TreeError) -> ReadError {
    match err {
        TreeError::TileRootMismatch { .. }
        | TreeError::InconsistentTile { .. }
        | TreeError::BadTile { .. }
        | TreeError::Tile(_) => ReadError::Unauthenticated(err),
        other => ReadError::Tree(other),
    }
}

/// Tiles fetched ahead of a `TileHashReader` call. `save_tiles` (called only for
/// authenticated tiles) writes the full ones to the cache.
struct MemoryTiles<'c> {
    /// Owned by this reader alone; the mutex only satisfies `&self` in the trait.
    tiles: Mutex<HashMap<Tile, Vec<u8>>>,
    cache: Option<&'c TileCache>,
}

/// Returned by [`MemoryTiles`] when tlog asks for a tile its plan did not name: a
/// mismatch between `tiles_for_hashes` and `TileHashReader`, i.e. a bug.
#[derive(Debug, thiserror::Error)]
#[error("tile {0} was not fetched ahead of the read")]
struct NotPrefetched(String);

impl TileReader for MemoryTiles<'_> {
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, TreeError> {
        let map = self
            .tiles
            .lock()
            .map_err(|_| TreeError::Reader(Box::new(NotPrefetched("(poisoned)".into()))))?;
        tiles
            .iter()
            .map(|tile| {
                map.get(tile)
                    .cloned()
                    .ok_or_else(|| TreeError::Reader(Box::new(NotPrefetched(tile.path()))))
            })
            .collect()
    }

    fn save_tiles(&self, tiles: &[Tile], data: &[Vec<u8>]) {
        let Some(cache) = self.cache else {
            return;
        };
        for (tile, data) in tiles.iter().zip(data) {
            if tile.is_full() {
                // A cache write failure only costs a refetch next time.
                let _ = cache.write(&tile.path(), data);
            }
        }
    }
}
