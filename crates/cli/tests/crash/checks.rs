//! The checks after each restart, and the figures they count.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_tlog::bundle::parse_entry_bundle_with_width;
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel, read_tile_data};
use bintrail_tlog::tree::{stored_hashes, tree_hash, verify_record, verify_tree};
use futures::StreamExt;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::common::LogServer;
use crate::load::{Http, add_again, conflict};
use crate::model::{Ctx, LoadCounts, entry_bytes};
use crate::{
    CHECK_CONCURRENCY, FRESH_LOOKUPS, LOOKUP_SAMPLE, PUBLISH_TIMEOUT, REQUEST_TIMEOUT, tail,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// After a restart: new things in full, old things by sample where costly.
    Restart,
    /// At the end: everything.
    Final,
}

/// What the checks keep between restarts: the tree rebuilt from the served entry
/// bundles, and every full tile seen.
#[derive(Default)]
pub(crate) struct CheckState {
    /// The entries of the tree, from the served bundles.
    pub(crate) entries: Vec<Vec<u8>>,
    /// Their stored hashes (x/mod tlog's layout), for tree hashes of any prefix.
    pub(crate) stored: Vec<Hash>,
    /// Every full tile seen: path -> bytes.
    pub(crate) tiles: HashMap<String, Vec<u8>>,
    /// The newest checkpoint after the last check.
    pub(crate) newest: Option<(u64, Hash)>,
    pub(crate) figures: Figures,
}

/// The figures RELIABILITY.md records.
#[derive(Default)]
pub(crate) struct Figures {
    pub(crate) kills: usize,
    pub(crate) landed: [usize; 3],
    pub(crate) acked: usize,
    pub(crate) acked_checks: u64,
    pub(crate) checkpoints: usize,
    pub(crate) prefix_checks: u64,
    pub(crate) consistency_proofs: u64,
    pub(crate) tiles_compared: u64,
    pub(crate) tiles_distinct: usize,
    pub(crate) lookups: u64,
    pub(crate) readds_after_restart: u64,
    pub(crate) conflicts_after_restart: u64,
    pub(crate) final_size: u64,
    pub(crate) load: LoadCounts,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "  kills: {} ({} between batches, {} in a batch before its commit point, {} committed not yet published)",
            self.kills, self.landed[0], self.landed[1], self.landed[2]
        )?;
        writeln!(f, "  entries in the final tree: {}", self.final_size)?;
        writeln!(
            f,
            "  acknowledged adds: {} (checked {} times in all)",
            self.acked, self.acked_checks
        )?;
        writeln!(
            f,
            "  checkpoints seen: {} (prefix checks {}, consistency proofs {})",
            self.checkpoints, self.prefix_checks, self.consistency_proofs
        )?;
        writeln!(
            f,
            "  full tiles: {} distinct, {} re-fetches compared byte for byte",
            self.tiles_distinct, self.tiles_compared
        )?;
        writeln!(f, "  lookups verified: {}", self.lookups)?;
        writeln!(
            f,
            "  after restarts: {} re-adds, {} conflicting adds",
            self.readds_after_restart, self.conflicts_after_restart
        )?;
        write!(f, "  load: {:?}", self.load)
    }
}

/// Runs every check against a freshly restarted (or final) server. The error lists
/// every failure found since the last check, the load's included.
pub(crate) async fn check(
    ctx: &Ctx,
    server: &LogServer,
    state: &mut CheckState,
    rng: &mut StdRng,
    depth: Depth,
    label: &str,
) -> Result<(), String> {
    let checking = Instant::now();
    let http = Http::new(&server.url, &ctx.token);
    if let Some(cp) = newest_checkpoint(ctx, &http, label).await {
        let tiles = fetch_full_tiles(ctx, &http, state, cp.size).await;
        if rebuild_tree(ctx, state, &cp, tiles) {
            check_checkpoints(ctx, state, &server.url, &cp, depth).await;
            check_acked(ctx, state, &cp);
            check_uniqueness(ctx, state);
            check_lookups(ctx, &http, state, rng, depth).await;
            check_adds_again(ctx, &http, state, rng).await;
        }
        state.newest = Some((cp.size, cp.root_hash));
        state.figures.final_size = cp.size;
    }
    let failures = std::mem::take(&mut ctx.model.lock().unwrap().failures);
    if !failures.is_empty() {
        return Err(format!(
            "{label}: {} failure(s) (seed {}):\n- {}\nserver stderr:\n{}",
            failures.len(),
            ctx.seed,
            failures.join("\n- "),
            tail(&server.stderr.lock().unwrap())
        ));
    }
    let model = ctx.model.lock().unwrap();
    println!(
        "{label}: tree {}, {} acknowledged, {} checkpoints seen, checked in {:?}",
        state.entries.len(),
        model.acked.len(),
        model.checkpoints.len(),
        checking.elapsed()
    );
    Ok(())
}

/// The restarted log's checkpoint: never below a size seen before (no rollback),
/// and, within [`PUBLISH_TIMEOUT`], covering every acknowledged index (a 503
/// "pending" acknowledgment was committed, so recovery publishes it).
pub(crate) async fn newest_checkpoint(ctx: &Ctx, http: &Http, label: &str) -> Option<Checkpoint> {
    let (seen, needed) = {
        let model = ctx.model.lock().unwrap();
        let seen = model.checkpoints.keys().next_back().copied().unwrap_or(0);
        let needed = model.acked.values().max().map_or(0, |i| i + 1);
        (seen, needed)
    };
    let deadline = Instant::now() + PUBLISH_TIMEOUT;
    let mut first = true;
    loop {
        let note = match http.get("checkpoint").await {
            Ok(note) => note,
            Err(e) => {
                ctx.fail(format!("{label}: {e}"));
                return None;
            }
        };
        let cp = ctx.see_checkpoint(&note, &format!("{label}: GET /checkpoint"))?;
        if first && cp.size < seen {
            ctx.fail(format!(
                "{label}: rollback: the restarted log serves size {} but size {seen} was seen before",
                cp.size
            ));
        }
        first = false;
        if cp.size >= needed.max(seen) {
            return Some(cp);
        }
        if Instant::now() > deadline {
            ctx.fail(format!(
                "{label}: the log serves size {} after {PUBLISH_TIMEOUT:?}; acknowledged adds need {needed}",
                cp.size
            ));
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fetches every full tile (hash tiles and entry bundles) of the tree of `size`,
/// and its partial entry bundle; compares each full tile with the bytes it had
/// when first seen. Returns the tiles fetched.
pub(crate) async fn fetch_full_tiles(
    ctx: &Ctx,
    http: &Http,
    state: &mut CheckState,
    size: u64,
) -> Vec<(Tile, Vec<u8>)> {
    let mut wanted = Vec::new();
    for level in 0..=63u8 {
        let full = size.checked_shr(8 * u32::from(level)).unwrap_or(0) / TILE_WIDTH;
        if full == 0 {
            break;
        }
        wanted.extend((0..full).map(|index| Tile {
            level: TileLevel::Hash(level),
            index,
            width: TILE_WIDTH,
        }));
    }
    wanted.extend((0..size / TILE_WIDTH).map(|index| Tile {
        level: TileLevel::Entries,
        index,
        width: TILE_WIDTH,
    }));
    if !size.is_multiple_of(TILE_WIDTH) {
        wanted.push(Tile {
            level: TileLevel::Entries,
            index: size / TILE_WIDTH,
            width: size % TILE_WIDTH,
        });
    }
    let fetched: Vec<(Tile, Result<Vec<u8>, String>)> = futures::stream::iter(wanted)
        .map(|tile| async move { (tile, http.get(&tile.path()).await) })
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await;
    let mut tiles = Vec::new();
    for (tile, data) in fetched {
        let data = match data {
            Ok(data) => data,
            Err(e) => {
                ctx.fail(e);
                continue;
            }
        };
        if tile.is_full() {
            match state.tiles.get(&tile.path()) {
                Some(before) => {
                    state.figures.tiles_compared += 1;
                    if *before != data {
                        ctx.fail(format!(
                            "full tile {} changed: {} bytes, first byte that differs at {:?}",
                            tile.path(),
                            data.len(),
                            before.iter().zip(&data).position(|(a, b)| a != b)
                        ));
                    }
                }
                None => {
                    state.tiles.insert(tile.path(), data.clone());
                }
            }
        }
        tiles.push((tile, data));
    }
    state.figures.tiles_distinct = state.tiles.len();
    tiles.sort_by_key(|(t, _)| (t.level, t.index));
    tiles
}

/// Extends the local tree with the served entries (the ones already there must be
/// served unchanged) and checks it hashes to `cp` and reproduces every served hash
/// tile. Returns false (after recording why) if the tree cannot be rebuilt.
pub(crate) fn rebuild_tree(
    ctx: &Ctx,
    state: &mut CheckState,
    cp: &Checkpoint,
    tiles: Vec<(Tile, Vec<u8>)>,
) -> bool {
    let (bundles, hash_tiles): (Vec<_>, Vec<_>) = tiles
        .into_iter()
        .partition(|(t, _)| t.level == TileLevel::Entries);
    for (tile, data) in &bundles {
        let entries = match parse_entry_bundle_with_width(data, tile.width) {
            Ok(entries) => entries,
            Err(e) => {
                ctx.fail(format!("entry bundle {} does not parse: {e}", tile.path()));
                return false;
            }
        };
        for (j, entry) in entries.into_iter().enumerate() {
            let index = tile.index * TILE_WIDTH + j as u64;
            let known = state.entries.len() as u64;
            if index < known {
                if state.entries[index as usize] != entry {
                    ctx.fail(format!(
                        "entry {index} changed: was {:?}, now {:?}",
                        String::from_utf8_lossy(&state.entries[index as usize]),
                        String::from_utf8_lossy(entry)
                    ));
                }
                continue;
            }
            if index != known {
                ctx.fail(format!("entry bundle {} skips entry {known}", tile.path()));
                return false;
            }
            match stored_hashes(index, entry, &state.stored) {
                Ok(hashes) => state.stored.extend(hashes),
                Err(e) => {
                    ctx.fail(format!("stored hashes of entry {index}: {e}"));
                    return false;
                }
            }
            state.entries.push(entry.to_vec());
        }
    }
    if state.entries.len() as u64 != cp.size {
        ctx.fail(format!(
            "the bundles hold {} entries, the checkpoint says {}",
            state.entries.len(),
            cp.size
        ));
        return false;
    }
    match tree_hash(cp.size, &state.stored) {
        Ok(root) if root == cp.root_hash => {}
        other => {
            ctx.fail(format!(
                "the served entries of tree {} hash to {other:?}, the checkpoint says {}",
                cp.size, cp.root_hash
            ));
            return false;
        }
    }
    for (tile, data) in hash_tiles {
        match read_tile_data(&tile, &state.stored) {
            Ok(want) if want == data => {}
            other => ctx.fail(format!(
                "hash tile {} is not the tree's: want {:?}",
                tile.path(),
                other.map(|w| w.len())
            )),
        }
    }
    true
}

/// Every checkpoint ever seen is a prefix of the newest: its root is the rebuilt
/// tree's hash at its size (all of them, every time), and a consistency proof built
/// from the served tiles verifies (for those new since the last check, the previous
/// newest, and at the end all of them).
pub(crate) async fn check_checkpoints(
    ctx: &Ctx,
    state: &mut CheckState,
    url: &str,
    cp: &Checkpoint,
    depth: Depth,
) {
    let (all, unproven) = {
        let mut model = ctx.model.lock().unwrap();
        let all: Vec<(u64, Hash)> = model.checkpoints.iter().map(|(s, r)| (*s, *r)).collect();
        (all, std::mem::take(&mut model.unproven))
    };
    for &(size, root) in &all {
        state.figures.prefix_checks += 1;
        if size > cp.size {
            ctx.fail(format!(
                "a checkpoint of size {size} was seen, the restarted log serves {}",
                cp.size
            ));
            continue;
        }
        match tree_hash(size, &state.stored) {
            Ok(r) if r == root => {}
            other => ctx.fail(format!(
                "fork: the checkpoint of size {size} (root {root}) is not a prefix of the tree of size {}: its prefix hashes to {other:?}",
                cp.size
            )),
        }
    }
    let roots: HashMap<u64, Hash> = all.iter().copied().collect();
    let mut sizes: Vec<u64> = match depth {
        Depth::Final => roots.keys().copied().collect(),
        Depth::Restart => unproven,
    };
    sizes.extend(state.newest.map(|(s, _)| s));
    sizes.sort_unstable();
    sizes.dedup();
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        total: REQUEST_TIMEOUT,
    };
    let reader = LogReader::new(url, timeouts).expect("the log's URL is http");
    let proofs: Vec<Result<(), String>> = futures::stream::iter(sizes)
        .filter_map(|old| {
            let root = roots.get(&old).copied();
            async move { root.map(|r| (old, r)) }
        })
        .map(|(old, old_root)| {
            let reader = &reader;
            async move {
                let proof = reader
                    .prove_tree(cp.size, cp.root_hash, old, None)
                    .await
                    .map_err(|e| format!("consistency proof {old} -> {}: {e}", cp.size))?;
                verify_tree(&proof, cp.size, cp.root_hash, old, old_root).map_err(|e| {
                    format!(
                        "consistency proof {old} -> {} does not verify: {e}",
                        cp.size
                    )
                })
            }
        })
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await;
    for proof in proofs {
        state.figures.consistency_proofs += 1;
        if let Err(e) = proof {
            ctx.fail(e);
        }
    }
}

/// Every acknowledged add is in the rebuilt tree at its index, with its digest.
pub(crate) fn check_acked(ctx: &Ctx, state: &mut CheckState, cp: &Checkpoint) {
    let acked: Vec<(String, u64)> = {
        let model = ctx.model.lock().unwrap();
        model.acked.iter().map(|(f, i)| (f.clone(), *i)).collect()
    };
    for (filename, index) in acked {
        state.figures.acked_checks += 1;
        let want = entry_bytes(&filename);
        match state.entries.get(index as usize) {
            Some(got) if *got == want => {}
            Some(got) => ctx.fail(format!(
                "acknowledged {filename} at index {index} is replaced by {:?}",
                String::from_utf8_lossy(got)
            )),
            None => ctx.fail(format!(
                "acknowledged {filename} at index {index} is lost: the tree has {} entries",
                cp.size
            )),
        }
    }
}

/// The entries hold each filename once, and only what the load sent (the digest
/// it always sends for that name: no conflicting digest ever got in).
pub(crate) fn check_uniqueness(ctx: &Ctx, state: &CheckState) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, bytes) in state.entries.iter().enumerate() {
        let entry = match Entry::parse(bytes) {
            Ok(entry) => entry,
            Err(e) => {
                ctx.fail(format!("entry {index} does not parse: {e}"));
                continue;
            }
        };
        let filename = entry.filename.to_string();
        if *bytes != entry_bytes(&filename) {
            ctx.fail(format!(
                "entry {index} is not what the load sent for {filename}: {:?}",
                String::from_utf8_lossy(bytes)
            ));
        }
        if let Some(first) = seen.insert(filename.clone(), index) {
            ctx.fail(format!(
                "{filename} is logged twice: at {first} and {index}"
            ));
        }
    }
}

/// `GET /lookup` gives each filename's index, its entry and a proof that verifies:
/// after a restart for a sample of the adds acknowledged since the last check and
/// of older ones, at the end for every entry of the tree.
pub(crate) async fn check_lookups(
    ctx: &Ctx,
    http: &Http,
    state: &mut CheckState,
    rng: &mut StdRng,
    depth: Depth,
) {
    let wanted: Vec<(String, u64)> = {
        let mut model = ctx.model.lock().unwrap();
        let mut fresh = std::mem::take(&mut model.fresh);
        // The bundles already showed every one of them at its index; the lookups
        // sample, since each costs a proof from a debug-build server.
        fresh.shuffle(rng);
        fresh.truncate(FRESH_LOOKUPS);
        let mut wanted: HashSet<String> = fresh.into_iter().collect();
        for _ in 0..LOOKUP_SAMPLE.min(model.acked_names.len()) {
            wanted.insert(model.acked_names[rng.gen_range(0..model.acked_names.len())].clone());
        }
        wanted
            .into_iter()
            .map(|f| (f.clone(), model.acked[&f]))
            .collect()
    };
    let wanted = match depth {
        Depth::Restart => wanted,
        Depth::Final => state
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, bytes)| {
                let entry = Entry::parse(bytes).ok()?;
                Some((entry.filename.to_string(), i as u64))
            })
            .collect(),
    };
    let results: Vec<Result<(), String>> = futures::stream::iter(wanted)
        .map(|(filename, index)| async move { lookup(ctx, http, &filename, index).await })
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await;
    for result in results {
        state.figures.lookups += 1;
        if let Err(e) = result {
            ctx.fail(e);
        }
    }
}

pub(crate) async fn lookup(
    ctx: &Ctx,
    http: &Http,
    filename: &str,
    index: u64,
) -> Result<(), String> {
    let body = http.get(&format!("lookup/pypi/{filename}")).await?;
    let proof = TlogProof::parse(&body).map_err(|e| format!("lookup {filename}: {e}"))?;
    let entry = entry_bytes(filename);
    if proof.index != index || proof.extra.as_deref() != Some(&entry[..]) {
        return Err(format!(
            "lookup {filename}: index {} and entry {:?}, want index {index} and the sent entry",
            proof.index,
            proof.extra.as_deref().map(String::from_utf8_lossy)
        ));
    }
    let source = format!("lookup {filename}");
    let cp = ctx
        .see_checkpoint(&proof.checkpoint, &source)
        .ok_or_else(|| format!("{source}: its checkpoint does not verify"))?;
    verify_record(
        &proof.inclusion_proof,
        cp.size,
        cp.root_hash,
        index,
        leaf_hash(&entry),
    )
    .map_err(|e| format!("{source}: the inclusion proof fails: {e}"))
}

/// Re-adding acknowledged entries after the restart returns their index; another
/// digest for them is refused with a 409 naming the logged one.
pub(crate) async fn check_adds_again(
    ctx: &Ctx,
    http: &Http,
    state: &mut CheckState,
    rng: &mut StdRng,
) {
    for _ in 0..2 {
        if let Some((filename, index)) = ctx.random_acked(rng) {
            if !add_again(ctx, http, &filename, index).await {
                ctx.fail(format!(
                    "re-adding {filename} after the restart got no answer"
                ));
            }
            state.figures.readds_after_restart += 1;
        }
        if let Some((filename, index)) = ctx.random_acked(rng) {
            if !conflict(ctx, http, &filename, index).await {
                ctx.fail(format!(
                    "a conflicting add of {filename} after the restart got no answer"
                ));
            }
            state.figures.conflicts_after_restart += 1;
        }
    }
}
