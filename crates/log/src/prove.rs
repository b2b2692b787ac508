//! Building proofs from the log's tiles: inclusion proofs for adds and lookups, consistency
//! proofs for cosigners.

use std::sync::Arc;

use bintrail_tlog::hash::Hash;
use bintrail_tlog::tree::{prove_record, prove_tree};

use crate::error::LogError;
use crate::state::{Shared, blocking};
use crate::tiles::{TileCache, TreeReader};

/// At most this many proofs are computed on the async thread (each a few microseconds).
const INLINE_PROOFS: usize = 8;

/// Inclusion proofs of `indexes` (all below `size`, a committed size) in the tree of `size`.
pub(crate) async fn prove_inclusion(
    shared: &Arc<Shared>,
    size: u64,
    indexes: Vec<u64>,
) -> Result<Vec<Vec<Hash>>, LogError> {
    // A few proofs over hot tiles (every add's, since its batch just cached them) cost
    // microseconds: computing them here saves two thread hand-offs per request.
    if indexes.len() <= INLINE_PROOFS
        && let Some(proofs) = prove_cached(&shared.cache, size, &indexes)
    {
        return Ok(proofs);
    }
    let shared = shared.clone();
    blocking(move || prove_stored(&shared, size, &indexes)).await?
}

/// Builds a consistency proof from the tree of `old_size` to the tree of `size`, where `size`
/// must not exceed the sequenced size (cosigners prove checkpoints not yet published):
/// [`LogError::OutOfRange`] otherwise.
pub(crate) async fn prove_consistency(
    shared: &Arc<Shared>,
    size: u64,
    old_size: u64,
) -> Result<Vec<Hash>, LogError> {
    let sequenced = shared.sequenced.borrow().checkpoint.size;
    if size > sequenced || old_size > size {
        return Err(LogError::OutOfRange {
            old_size,
            size,
            sequenced,
        });
    }
    let shared = shared.clone();
    blocking(move || {
        let reader = TreeReader::new(shared.storage.as_ref(), &shared.cache, size);
        prove_tree(size, old_size, &reader).map_err(LogError::Proof)
    })
    .await?
}

/// Proofs from cached tiles only, or `None` if some tile is not cached.
fn prove_cached(cache: &TileCache, size: u64, indexes: &[u64]) -> Option<Vec<Vec<Hash>>> {
    let reader = TreeReader::cached(cache, size);
    indexes
        .iter()
        .map(|&i| prove_record(size, i, &reader).ok())
        .collect()
}

/// Proofs reading tiles from storage where the cache misses (blocking).
pub(crate) fn prove_stored(
    shared: &Shared,
    size: u64,
    indexes: &[u64],
) -> Result<Vec<Vec<Hash>>, LogError> {
    let reader = TreeReader::new(shared.storage.as_ref(), &shared.cache, size);
    indexes
        .iter()
        .map(|&i| prove_record(size, i, &reader).map_err(LogError::Proof))
        .collect()
}
