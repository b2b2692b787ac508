//! [`Vindex`]: the follower, the map and the output log of map roots, kept in step.
//!
//! One step: verify the input checkpoint; check and apply its new leaves; compare the
//! input tree rebuilt from them with the signed root; append `(map root, input
//! checkpoint)` to the output log, whose identifier is the input size, so the log's
//! uniqueness rule means no second root is ever published for one input size. Lookups
//! are answered only while the map is the one the latest published leaf commits to.
//!
//! Restart: the map is rebuilt from the input log (it is a pure function of it) up to
//! the input size of the output log's last leaf, and must give that leaf's map root and
//! input root again before anything new is published.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bintrail_log::storage::LocalStorage;
use bintrail_log::{AddError, Cosigner, Log, LogError, LogOptions};
use bintrail_monitor::catchup;
use bintrail_tlog::bundle::{BundleError, parse_entry_bundle_with_width};
use bintrail_tlog::checkpoint::CheckpointError;
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{Note, NoteError, Signer};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileError, TileLevel};
use bintrail_tlog::vindex::{MapRoot, MapRootError};
use tokio::sync::watch;

use crate::follow::{FollowError, Follower, InputCheckpoint};
use crate::state::{ApplyError, IndexState, Published};

/// How a verifiable index runs.
pub struct VindexOptions {
    /// The input log's tlog-tiles URL.
    pub log_url: String,
    /// The policy the input log's checkpoints must meet.
    pub policy: Policy,
    /// The data directory: `output/` holds the output log, `input-state/` the last
    /// verified input checkpoint (and fork evidence).
    pub data_dir: PathBuf,
    /// The output log's signing key; its name is the output log's origin.
    pub signer: Signer,
    /// How often the output log sequences (each step waits for one).
    pub checkpoint_interval: Duration,
}

/// Why the index stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VindexError {
    /// Following the input log failed.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// The output log failed.
    #[error("the output log: {0}")]
    Output(#[from] LogError),
    /// Appending to the output log failed for a reason retrying does not fix.
    #[error("appending to the output log: {0}")]
    Add(#[source] AddError),
    /// The output log holds an entry that is not a map root.
    #[error("the output log's last leaf: {0}")]
    Leaf(#[from] MapRootError),
    /// Applying leaves failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The rebuilt map or input tree is not what was published or signed: the input
    /// log changed under the index, or the index's data was altered.
    #[error("{0}")]
    Diverged(#[source] Divergence),
    /// The input log's checkpoint is smaller than what the index already published.
    #[error(
        "the input log's checkpoint has {size} leaves, fewer than the {published} the index published a map for"
    )]
    Shrunk {
        /// The input checkpoint's size.
        size: u64,
        /// The input size of the last published leaf.
        published: u64,
    },
}

/// What the rebuilt or logged state disagrees with ([`VindexError::Diverged`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Divergence {
    /// The input tree rebuilt from the checked leaves is not the signed one.
    #[error(
        "the input tree rebuilt from {size} checked leaves has root {rebuilt}, not the signed {signed}"
    )]
    InputRoot {
        /// The input checkpoint's size.
        size: u64,
        /// The root rebuilt from the leaves.
        rebuilt: Hash,
        /// The signed root.
        signed: Hash,
    },
    /// The map rebuilt on restart does not give the output log's last leaf.
    #[error(
        "rebuilt from the input log's first {size} leaves, the input root is {input_root} and the \
         map root {map_root}, but the published leaf {leaf_index} says {leaf_input_root} and {leaf_map_root}"
    )]
    Rebuilt {
        /// The input size the leaf records.
        size: u64,
        /// The rebuilt input root.
        input_root: Hash,
        /// The rebuilt map root.
        map_root: Hash,
        /// The leaf's index in the output log.
        leaf_index: u64,
        /// The input root the leaf records.
        leaf_input_root: Hash,
        /// The map root the leaf records.
        leaf_map_root: Hash,
    },
    /// The output log already holds another map root for this input size.
    #[error(
        "the output log already holds map root {logged} for input size {input_size}, \
         not {new}; a second root is never published"
    )]
    SecondRoot {
        /// The input size.
        input_size: u64,
        /// The map root logged earlier.
        logged: Hash,
        /// The map root that was to be published.
        new: Hash,
    },
    /// The output log's own checkpoint does not parse.
    #[error("{0}")]
    Note(#[source] NoteError),
    /// The output log's checkpoint text is not a checkpoint.
    #[error("{0}")]
    Checkpoint(#[source] CheckpointError),
    /// The last leaf's tile coordinates are invalid.
    #[error("{0}")]
    Tile(#[source] TileError),
    /// The output log does not serve the tile holding its last leaf.
    #[error("the output log does not serve {path}")]
    NotServed {
        /// The tile's path.
        path: String,
    },
    /// The entry bundle holding the last leaf does not parse.
    #[error("{0}")]
    Bundle(#[source] BundleError),
    /// The entry bundle holding the last leaf is empty.
    #[error("empty entry bundle")]
    EmptyBundle,
}

impl VindexError {
    /// Whether the next step may succeed without anyone fixing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            VindexError::Follow(e) => e.is_transient(),
            VindexError::Output(LogError::Storage(_)) => true,
            _ => false,
        }
    }
}

/// What the follower and the HTTP handlers share.
pub(crate) struct Shared {
    pub(crate) state: RwLock<IndexState>,
    pub(crate) output: Log<MapRoot>,
    /// The input size of the latest published leaf, for lookups waiting on a step.
    pub(crate) published: watch::Sender<u64>,
    follower: Follower,
    /// The output log's last leaf at start, until the map was rebuilt to it.
    resume: std::sync::Mutex<Option<(u64, MapRoot)>>,
    /// Lookup answers rendered for the latest published leaf.
    pub(crate) answers: std::sync::Mutex<crate::server::AnswerCache>,
}

/// A running verifiable index; cheap to clone.
#[derive(Clone)]
pub struct Vindex {
    pub(crate) shared: Arc<Shared>,
}

impl Vindex {
    /// Opens the output log in `opts.data_dir/output` (crash recovery included), reads
    /// its last leaf, and prepares to follow the input log. Nothing is fetched yet.
    pub async fn open<C: Cosigner>(
        opts: VindexOptions,
        cosigner: C,
    ) -> Result<Vindex, VindexError> {
        let out_dir = opts.data_dir.join("output");
        let dir = out_dir.clone();
        let storage = tokio::task::spawn_blocking(move || LocalStorage::open(&dir))
            .await
            .map_err(|_| LogError::Closed)?
            .map_err(LogError::from)?;
        let log_opts = LogOptions {
            data_dir: out_dir,
            signer: opts.signer,
            checkpoint_interval: opts.checkpoint_interval,
            max_batch_entries: 64,
            max_pending_entries: 64,
            add_timeout: Duration::from_secs(30),
        };
        let output = Log::<MapRoot>::open_with(log_opts, Arc::new(storage), cosigner).await?;
        let resume = last_leaf(&output).await?;
        let follower = Follower::new(
            &opts.log_url,
            opts.policy,
            &opts.data_dir.join("input-state"),
        )?;
        Ok(Vindex {
            shared: Arc::new(Shared {
                state: RwLock::new(IndexState::default()),
                output,
                published: watch::Sender::new(0),
                follower,
                resume: std::sync::Mutex::new(resume),
                answers: std::sync::Mutex::new(crate::server::AnswerCache::default()),
            }),
        })
    }

    /// The output log (for its checkpoint and tiles).
    pub fn output(&self) -> &Log<MapRoot> {
        &self.shared.output
    }

    /// Runs one step (see the module docs). Returns the input size the published map
    /// now stands at, or `None` when the input log showed nothing new.
    pub async fn step(&self) -> Result<Option<u64>, VindexError> {
        let Some(input) = self.shared.follower.checkpoint().await? else {
            return Ok(None);
        };
        let resume = lock_resume(&self.shared.resume).clone();
        if let Some((leaf_index, leaf)) = resume {
            self.rebuild(&input, leaf_index, &leaf).await?;
            *lock_resume(&self.shared.resume) = None;
        }
        let published = self.read().published.as_ref().map(|p| p.input_size);
        match published {
            Some(p) if input.checkpoint.size < p => {
                return Err(VindexError::Shrunk {
                    size: input.checkpoint.size,
                    published: p,
                });
            }
            Some(p) if input.checkpoint.size == p => return Ok(None),
            _ => {}
        }
        self.catch_up(&input, input.checkpoint.size).await?;
        let root = {
            let mut state = self.write();
            let tree = state.tree_hash();
            if tree != input.checkpoint.root_hash {
                return Err(VindexError::Diverged(Divergence::InputRoot {
                    size: input.checkpoint.size,
                    rebuilt: tree,
                    signed: input.checkpoint.root_hash,
                }));
            }
            state.map_root()
        };
        let entry = MapRoot::new(root, &input.note)?;
        let published = self.publish(entry, input.checkpoint.size).await?;
        self.write().published = Some(published);
        self.shared.published.send_replace(input.checkpoint.size);
        Ok(Some(input.checkpoint.size))
    }

    /// Applies input leaves from where the map stands up to `to`.
    async fn catch_up(&self, input: &InputCheckpoint, to: u64) -> Result<(), VindexError> {
        let from = self.read().size();
        for (start, end) in catchup::groups(from, to) {
            let leaves = self.shared.follower.group(input.tree(), start, end).await?;
            self.write().apply(&leaves)?;
        }
        Ok(())
    }

    /// Rebuilds the map up to the output log's last leaf and checks it gives that leaf.
    async fn rebuild(
        &self,
        input: &InputCheckpoint,
        leaf_index: u64,
        leaf: &MapRoot,
    ) -> Result<(), VindexError> {
        let size = leaf.checkpoint.size;
        if input.checkpoint.size < size {
            return Err(VindexError::Shrunk {
                size: input.checkpoint.size,
                published: size,
            });
        }
        tracing::info!(size, "rebuilding the map from the input log");
        self.catch_up(input, size).await?;
        let (tree, root) = {
            let mut state = self.write();
            (state.tree_hash(), state.map_root())
        };
        if tree != leaf.checkpoint.root_hash || root != leaf.map_root {
            return Err(VindexError::Diverged(Divergence::Rebuilt {
                size,
                input_root: tree,
                map_root: root,
                leaf_index,
                leaf_input_root: leaf.checkpoint.root_hash,
                leaf_map_root: leaf.map_root,
            }));
        }
        let published = self.publish(leaf.clone(), size).await?;
        self.write().published = Some(published);
        self.shared.published.send_replace(size);
        tracing::info!(size, "map rebuilt; it matches the published root");
        Ok(())
    }

    /// Appends `entry` to the output log (or finds it there) and waits until a published
    /// checkpoint covers it. The log refuses a second leaf for one input size
    /// ([`AddError::Conflict`]): the logged leaf is used when its root is the same (its
    /// input note may carry other cosignatures), and another root stops the index.
    async fn publish(&self, mut entry: MapRoot, input_size: u64) -> Result<Published, VindexError> {
        let mut wait = Duration::from_millis(100);
        loop {
            match self.shared.output.add(entry.clone()).await {
                Ok(added) => {
                    return Ok(Published {
                        leaf_index: added.index,
                        leaf: added.entry,
                        input_size,
                        checkpoint: added.checkpoint.to_vec(),
                        proof: added.inclusion_proof,
                    });
                }
                Err(AddError::Pending { .. } | AddError::Overloaded) => {
                    tracing::warn!("the output log has not published the map root yet; waiting");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(AddError::Conflict { logged, .. }) => {
                    // A leaf for this input size is already logged (sequenced before a crash,
                    // perhaps with the input checkpoint's note cosigned differently): the same
                    // root is that leaf, anything else is never published.
                    let existing = MapRoot::parse(&logged.bytes)?;
                    if existing.map_root != entry.map_root {
                        return Err(VindexError::Diverged(Divergence::SecondRoot {
                            input_size,
                            logged: existing.map_root,
                            new: entry.map_root,
                        }));
                    }
                    entry = existing;
                }
                Err(e) => return Err(VindexError::Add(e)),
            }
        }
    }

    /// Runs steps every `interval` until `stop` resolves. Transient failures are logged
    /// and retried; others end the loop with the error.
    pub async fn follow(
        &self,
        interval: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), VindexError> {
        tokio::pin!(stop);
        loop {
            match self.step().await {
                Ok(Some(size)) => tracing::info!(input_size = size, "published the map root"),
                Ok(None) => {}
                Err(e) if e.is_transient() => tracing::warn!(error = %e, "step failed; retrying"),
                Err(e) => return Err(e),
            }
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Stops the output log (what it pooled is published first).
    pub async fn shutdown(&self) {
        self.shared.output.shutdown().await;
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, IndexState> {
        // A panic while holding the lock is a bug; the state is still usable for reads.
        self.shared.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, IndexState> {
        self.shared.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn lock_resume(
    m: &std::sync::Mutex<Option<(u64, MapRoot)>>,
) -> std::sync::MutexGuard<'_, Option<(u64, MapRoot)>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The output log's last published leaf and its index, `None` for an empty log.
async fn last_leaf(output: &Log<MapRoot>) -> Result<Option<(u64, MapRoot)>, VindexError> {
    let note = output.checkpoint();
    let diverged = VindexError::Diverged;
    let note = Note::parse(&note).map_err(|e| diverged(Divergence::Note(e)))?;
    let checkpoint: bintrail_tlog::checkpoint::Checkpoint = note
        .text
        .parse()
        .map_err(|e| diverged(Divergence::Checkpoint(e)))?;
    let Some(last) = checkpoint.size.checked_sub(1) else {
        return Ok(None);
    };
    let width = last % TILE_WIDTH + 1;
    let tile = Tile::new(TileLevel::Entries, last / TILE_WIDTH, width)
        .map_err(|e| diverged(Divergence::Tile(e)))?;
    let data = output
        .read_tile(&tile)
        .await?
        .ok_or_else(|| diverged(Divergence::NotServed { path: tile.path() }))?;
    let entries =
        parse_entry_bundle_with_width(&data, width).map_err(|e| diverged(Divergence::Bundle(e)))?;
    let bytes = entries.last().ok_or(diverged(Divergence::EmptyBundle))?;
    Ok(Some((last, MapRoot::parse(bytes)?)))
}
