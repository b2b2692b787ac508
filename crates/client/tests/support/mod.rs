//! A test log built directly with crates/tlog, and a small HTTP server for it.
//!
//! The server can serve forged tiles and switch to another history signed by the
//! same key (a fork), which a real `bintrail serve` never does. Shared with the CLI's
//! end-to-end tests through `#[path]`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bintrail_tlog::bundle::encode_entry_bundle;
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::cosign;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Checksum, Entry};
use bintrail_tlog::tile::{Tile, TileLevel, read_tile_data};
use bintrail_tlog::tree::{prove_record, stored_hashes, tree_hash};

/// The origin (and log key name) of every test log.
pub const ORIGIN: &str = "test.bintrail.example/log";

/// A log held in memory: its entries and every stored hash.
#[derive(Clone)]
pub struct TestLog {
    pub signer: Signer,
    pub witnesses: Vec<Signer>,
    pub entries: Vec<Vec<u8>>,
    pub hashes: Vec<Hash>,
}

/// A deterministic key: tests must not depend on randomness.
pub fn signer(name: &str, key_type: KeyType, seed: u8) -> Signer {
    Signer::generate(name, key_type, [seed; 32]).unwrap()
}

impl TestLog {
    /// An empty log signed by the key made from `seed`, with `witnesses` witnesses.
    pub fn new(seed: u8, witnesses: usize) -> Self {
        TestLog {
            signer: signer(ORIGIN, KeyType::Ed25519, seed),
            witnesses: (0..witnesses)
                .map(|i| {
                    signer(
                        &format!("witness{i}.example"),
                        KeyType::CosignatureV1,
                        100 + i as u8,
                    )
                })
                .collect(),
            entries: Vec::new(),
            hashes: Vec::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Appends one entry and returns its index.
    pub fn append(&mut self, entry: Vec<u8>) -> u64 {
        let n = self.size();
        let new = stored_hashes(n, &entry, &self.hashes).unwrap();
        self.hashes.extend(new);
        self.entries.push(entry);
        n
    }

    /// Appends `count` distinct filler entries (valid PyPI entries), tagged by `tag`
    /// so two logs can diverge.
    pub fn append_filler(&mut self, count: u64, tag: &str) {
        for _ in 0..count {
            let i = self.size();
            let entry = pypi_entry(
                &format!("filler{tag}-{i}.0-py3-none-any.whl"),
                &[i as u8; 4],
            );
            self.append(entry.to_bytes());
        }
    }

    pub fn root(&self, size: u64) -> Hash {
        tree_hash(size, &self.hashes).unwrap()
    }

    /// The signed checkpoint at `size`, cosigned by the witnesses numbered in
    /// `cosigners`.
    pub fn checkpoint(&self, size: u64, cosigners: &[usize]) -> Vec<u8> {
        let checkpoint = Checkpoint {
            origin: ORIGIN.to_owned(),
            size,
            root_hash: self.root(size),
            extensions: Vec::new(),
        };
        let mut note = sign_checkpoint(&checkpoint, &self.signer).unwrap();
        for &i in cosigners {
            note.add_signature(cosign(&self.witnesses[i], &checkpoint, 1_700_000_000).unwrap());
        }
        note.to_bytes()
    }

    /// The proof of entry `index` against the checkpoint at `size`.
    pub fn proof(&self, index: u64, size: u64, cosigners: &[usize]) -> TlogProof {
        TlogProof {
            extra: Some(self.entries[index as usize].clone()),
            index,
            inclusion_proof: prove_record(size, index, &self.hashes).unwrap(),
            checkpoint: self.checkpoint(size, cosigners),
        }
    }

    /// A tile's data as the log would serve it at tree size `size`, or `None` if
    /// that tree does not hold it.
    pub fn tile(&self, tile: &Tile, size: u64) -> Option<Vec<u8>> {
        let hashes_at_level = |level: u8| size >> (8 * u32::from(level));
        match tile.level {
            TileLevel::Hash(level) => (tile.index * 256 + tile.width <= hashes_at_level(level))
                .then(|| read_tile_data(tile, &self.hashes).unwrap()),
            TileLevel::Entries => {
                let start = (tile.index * 256) as usize;
                let end = start + tile.width as usize;
                (end as u64 <= size).then(|| {
                    encode_entry_bundle(self.entries[start..end].iter().map(Vec::as_slice)).unwrap()
                })
            }
        }
    }

    /// A tlog-policy trusting this log and requiring `quorum` of its witnesses
    /// (`quorum none` for 0).
    pub fn policy(&self, quorum: usize) -> String {
        policy_text(&self.signer, &self.witnesses, quorum)
    }
}

/// A policy for `log` with `witnesses`, requiring `quorum` of them.
pub fn policy_text(log: &Signer, witnesses: &[Signer], quorum: usize) -> String {
    let mut text = format!("log {}\n", log.verifier());
    for (i, w) in witnesses.iter().enumerate() {
        text.push_str(&format!("witness w{i} {}\n", w.verifier()));
    }
    if quorum == 0 {
        text.push_str("quorum none\n");
    } else {
        let names: Vec<String> = (0..witnesses.len()).map(|i| format!("w{i}")).collect();
        text.push_str(&format!("group g {quorum} {}\nquorum g\n", names.join(" ")));
    }
    text
}

/// A PyPI entry for `filename` whose checksum is the SHA-256 of `contents`.
pub fn pypi_entry(filename: &str, contents: &[u8]) -> Entry {
    use sha2::Digest;
    Entry {
        checksum: Checksum::from_digest(sha2::Sha256::digest(contents).into()),
        filename: filename.parse().unwrap(),
        publisher: None,
    }
}

/// What the test server serves; tests change it while it runs.
pub struct Served {
    pub log: TestLog,
    pub size: u64,
    pub cosigners: Vec<usize>,
    /// Tile paths served with these bytes instead of the real ones.
    pub forged: HashMap<String, Vec<u8>>,
    /// Tile paths answered with 404, as a log does for partial tiles once the full
    /// tile exists.
    pub gone: Vec<String>,
    /// Paths requested, in order.
    pub requests: Vec<String>,
}

/// A running test server; dropped with the test's runtime.
pub struct TestServer {
    pub url: String,
    pub served: Arc<Mutex<Served>>,
}

impl TestServer {
    /// Serves `log` at tree size `size` on 127.0.0.1 (port chosen by the OS).
    pub async fn start(log: TestLog, size: u64, cosigners: &[usize]) -> TestServer {
        let served = Arc::new(Mutex::new(Served {
            log,
            size,
            cosigners: cosigners.to_vec(),
            forged: HashMap::new(),
            gone: Vec::new(),
            requests: Vec::new(),
        }));
        let router = Router::new()
            .route("/checkpoint", get(checkpoint))
            .route("/policy", get(policy))
            .route("/lookup/pypi/{name}", get(lookup))
            .route("/tile/{*path}", get(tile))
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        TestServer {
            url: format!("http://{addr}"),
            served,
        }
    }

    /// Replaces a tile's bytes with `data` from now on.
    pub fn forge(&self, path: &str, data: Vec<u8>) {
        self.served
            .lock()
            .unwrap()
            .forged
            .insert(path.to_owned(), data);
    }

    /// Switches to another log (same key or not) at `size`.
    pub fn switch(&self, log: TestLog, size: u64) {
        let mut served = self.served.lock().unwrap();
        served.log = log;
        served.size = size;
        served.forged.clear();
    }

    pub fn requests(&self) -> Vec<String> {
        self.served.lock().unwrap().requests.clone()
    }
}

type Shared = State<Arc<Mutex<Served>>>;

async fn checkpoint(State(served): Shared) -> Vec<u8> {
    let served = served.lock().unwrap();
    served.log.checkpoint(served.size, &served.cosigners)
}

/// The policy requiring every witness of the log.
async fn policy(State(served): Shared) -> String {
    let served = served.lock().unwrap();
    served.log.policy(served.log.witnesses.len())
}

async fn lookup(State(served): Shared, Path(name): Path<String>) -> Response {
    let served = served.lock().unwrap();
    let found = served.log.entries[..served.size as usize]
        .iter()
        .position(|e| Entry::parse(e).is_ok_and(|e| e.filename.as_str() == name));
    match found {
        Some(index) => served
            .log
            .proof(index as u64, served.size, &served.cosigners)
            .to_bytes()
            .into_response(),
        None => (StatusCode::NOT_FOUND, r#"{"error":"not logged"}"#).into_response(),
    }
}

async fn tile(State(served): Shared, Path(path): Path<String>) -> Response {
    let path = format!("tile/{path}");
    let mut served = served.lock().unwrap();
    served.requests.push(path.clone());
    if served.gone.contains(&path) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Some(data) = served.forged.get(&path) {
        return data.clone().into_response();
    }
    let Ok(tile) = Tile::from_path(&path) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match served.log.tile(&tile, served.size) {
        Some(data) => data.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
