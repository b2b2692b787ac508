//! A log written directly with crates/tlog (tiles, entry bundles, a signed checkpoint) and a small HTTP
//! server that serves those files from memory. It bypasses everything a real log enforces (notably
//! the one-digest-per-filename guard), so tests can make it equivocate, fork or serve altered bytes.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use bintrail_tlog::bundle::encode_entry_bundle;
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::pypi::{Checksum, Entry};
use bintrail_tlog::tile::{Tile, entry_bundle_tiles, new_tiles, read_tile_data};
use bintrail_tlog::tree::{stored_hashes, tree_hash};

/// A log under construction: entries and their stored hashes, signed by a fixed test key.
pub struct FakeLog {
    signer: Signer,
    entries: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
}

/// The bytes of a `pypi-transparency/v1` entry for `filename` with a digest made from `seed`.
pub fn entry(filename: &str, seed: u64) -> Vec<u8> {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&seed.to_be_bytes());
    digest[31] = 0x5a;
    Entry {
        checksum: Checksum::from_digest(digest),
        filename: filename.parse().expect("test filenames are valid"),
        publisher: None,
    }
    .to_bytes()
}

/// The bytes of a `pypi-transparency/v1` entry for `filename` with `checksum` (`sha256:<hex>`).
pub fn entry_with_checksum(filename: &str, checksum: &str) -> Vec<u8> {
    Entry {
        checksum: checksum.parse().expect("a valid sha256:<hex> checksum"),
        filename: filename.parse().expect("test filenames are valid"),
        publisher: None,
    }
    .to_bytes()
}

impl FakeLog {
    /// An empty log whose key is derived from `seed` (same seed, same key: a second log with the same
    /// key is how a fork is made).
    pub fn new(origin: &str, seed: u8) -> FakeLog {
        FakeLog {
            signer: Signer::generate(origin, KeyType::Ed25519, [seed; 32]).expect("valid origin"),
            entries: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// Appends raw entry bytes (not checked: the point is to log anything).
    pub fn append(&mut self, data: Vec<u8>) {
        let n = self.entries.len() as u64;
        let new = stored_hashes(n, &data, &self.hashes).expect("in-memory hashes");
        self.hashes.extend(new);
        self.entries.push(data);
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// A policy trusting this log's key and no witnesses.
    pub fn policy_text(&self) -> String {
        format!("log {}\nquorum none\n", self.signer.verifier())
    }

    /// The signed checkpoint note at the current size.
    pub fn checkpoint(&self) -> Vec<u8> {
        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size: self.size(),
            root_hash: tree_hash(self.size(), &self.hashes).expect("in-memory hashes"),
            extensions: Vec::new(),
        };
        sign_checkpoint(&cp, &self.signer)
            .expect("origin is the key name")
            .to_bytes()
    }

    /// A checkpoint signed with this log's key for a tree of `size` leaves with `root`,
    /// whatever the log holds: what a log (or its key's thief) can sign.
    pub fn checkpoint_claiming(&self, size: u64, root: [u8; 32]) -> Vec<u8> {
        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root_hash: Hash(root),
            extensions: Vec::new(),
        };
        sign_checkpoint(&cp, &self.signer)
            .expect("origin is the key name")
            .to_bytes()
    }

    /// Every file a tlog-tiles log of this size serves: checkpoint, hash tiles, entry bundles.
    pub fn files(&self) -> HashMap<String, Vec<u8>> {
        let mut files = HashMap::new();
        files.insert("checkpoint".to_string(), self.checkpoint());
        for tile in new_tiles(0, self.size()) {
            let data = read_tile_data(&tile, &self.hashes).expect("in-memory hashes");
            files.insert(tile.path(), data);
        }
        for bundle in entry_bundle_tiles(0, self.size()) {
            let start = (bundle.index * 256) as usize;
            let end = start + bundle.width as usize;
            let data = encode_entry_bundle(&self.entries[start..end]).expect("valid bundle");
            files.insert(bundle.path(), data);
        }
        files
    }
}

/// The path of the entry bundle holding leaf `index` in a tree of `size` leaves.
pub fn bundle_path(index: u64, size: u64) -> String {
    entry_bundle_tiles(index, index + 1)
        .into_iter()
        .map(|t| {
            let width = (size - t.index * 256).min(256);
            Tile { width, ..t }.path()
        })
        .next()
        .expect("one bundle")
}

/// Files served from memory on 127.0.0.1; replace or alter them at any time.
pub struct FileServer {
    pub url: String,
    files: Arc<Files>,
    task: tokio::task::JoinHandle<()>,
}

impl FileServer {
    /// Serves `files` at `http://127.0.0.1:<port>/<path>`.
    pub async fn start(files: HashMap<String, Vec<u8>>) -> FileServer {
        let files = Arc::new(Files(RwLock::new(files)));
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(files.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FileServer {
            url: format!("http://{addr}/"),
            files,
            task,
        }
    }

    /// Replaces every file (a log that moved on, or another log).
    pub fn replace(&self, files: HashMap<String, Vec<u8>>) {
        *self.files.0.write().unwrap() = files;
    }

    /// Applies `f` to the file at `path`, which must exist.
    pub fn alter(&self, path: &str, f: impl FnOnce(&mut Vec<u8>)) {
        let mut files = self.files.0.write().unwrap();
        f(files
            .get_mut(path)
            .unwrap_or_else(|| panic!("no file {path}")));
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The served files by path, shared between the server task and the test.
struct Files(RwLock<HashMap<String, Vec<u8>>>);

async fn serve(State(files): State<Arc<Files>>, uri: Uri) -> Result<Bytes, StatusCode> {
    let path = uri.path().trim_start_matches('/');
    let files = files.0.read().unwrap();
    files
        .get(path)
        .cloned()
        .map(Bytes::from)
        .ok_or(StatusCode::NOT_FOUND)
}
