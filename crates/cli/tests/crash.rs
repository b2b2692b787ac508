//! Issue 8, item 1: a real `bintrail serve` under continuous concurrent load is
//! killed with SIGKILL at random moments and restarted on the same data directory,
//! again and again. After every restart the whole log is re-verified against
//! everything the clients were ever told:
//!
//! 1. every acknowledged add (a 200, or a 503 naming the index it was sequenced
//!    at) is in the log at the same index with the same digest: in the entry
//!    bundles, and through `GET /lookup` with a proof that verifies;
//! 2. every checkpoint ever seen verifies under the log's key and is a prefix of
//!    the newest: checked locally against the tree rebuilt from the served entry
//!    bundles, and with consistency proofs built from the served tiles by
//!    `bintrail_client::log::LogReader`; the newest size is never below a size
//!    seen before (no rollback);
//! 3. re-adding an acknowledged entry returns its index; another digest for it
//!    gets a 409 naming the logged digest;
//! 4. no full tile (hash tile or entry bundle) ever changes a byte;
//! 5. the uniqueness index agrees with the entries: no filename twice, only what
//!    the clients sent, and (at the end) every filename's lookup gives its index.
//!
//! The load: several tasks `POST /add` new entries, re-add acknowledged ones and
//! send conflicting digests for them; one task sends `/admin/bulk/append`
//! batches; one polls `GET /checkpoint`. Each start picks a checkpoint interval of
//! 50-100 ms and sometimes a tiny `--max-batch-entries`, so kills land in every
//! step of the commit sequence; after each kill the data directory is inspected
//! to record where it landed.
//!
//! 50 kills by default; `BINTRAIL_SOAK_KILLS=500` for a soak. The seed is printed;
//! `BINTRAIL_CRASH_SEED=<seed>` replays the same choices (phase lengths, flags,
//! request mix), though not the exact instants the scheduler gives the kills.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_client::fetch::Timeouts;
use bintrail_client::log::LogReader;
use bintrail_tlog::bundle::parse_entry_bundle_with_width;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::note::Verifier;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::Entry;
use bintrail_tlog::tile::{TILE_WIDTH, Tile, TileLevel, read_tile_data};
use bintrail_tlog::tree::{stored_hashes, tree_hash, verify_record, verify_tree};
use common::{LogServer, checksum, wheel};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Kills per default run (issue 8 asks for at least 50 per CI run).
const DEFAULT_KILLS: usize = 50;
/// Set to a number of kills for a longer soak; CI does not set it.
const SOAK_ENV: &str = "BINTRAIL_SOAK_KILLS";
/// Set to replay a run's random choices.
const SEED_ENV: &str = "BINTRAIL_CRASH_SEED";
/// Concurrent `POST /add` tasks.
const ADDERS: usize = 5;
/// Every request of the test is bounded by this (an add waits for a checkpoint).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a load task may take to notice the kill and stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restarted log may take to publish what it had sequenced.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);
/// Adds acknowledged since the last check looked up after a restart (at most).
const FRESH_LOOKUPS: usize = 32;
/// Older acknowledged adds looked up after each restart, besides the new ones.
const LOOKUP_SAMPLE: usize = 16;
/// Concurrent requests of the checks.
const CHECK_CONCURRENCY: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_killed_under_load_keeps_every_acknowledged_add() {
    let kills = match std::env::var(SOAK_ENV) {
        Ok(n) => n
            .parse()
            .unwrap_or_else(|_| panic!("{SOAK_ENV} must be a number, not {n:?}")),
        Err(_) => DEFAULT_KILLS,
    };
    let seed = match std::env::var(SEED_ENV) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_ENV} must be a u64, not {s:?}")),
        Err(_) => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    println!("crash suite: {kills} kills, seed {seed} (replay with {SEED_ENV}={seed})");
    // About 2 s per kill on a loaded 2-core machine; the bound leaves room for 4x that.
    let budget = Duration::from_secs(120 + 8 * kills as u64);
    let started = Instant::now();
    let figures = match tokio::time::timeout(budget, run(kills, seed)).await {
        Ok(figures) => figures,
        Err(_) => panic!("the crash suite did not finish within {budget:?} (seed {seed})"),
    };
    println!(
        "crash suite figures (seed {seed}, {:.1} s):\n{figures}",
        started.elapsed().as_secs_f64()
    );
}

/// Runs the kill loop and the final checks; panics with every failure found.
async fn run(kills: usize, seed: u64) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut server = start(&data, &mut rng).await;
    let vkey = server.vkey();
    let verifier: Verifier = vkey.parse().expect("the log prints a valid vkey");
    let ctx = Arc::new(Ctx {
        token: server.token(),
        verifier,
        seed,
        model: Mutex::new(Model::default()),
        next_name: AtomicU64::new(0),
    });
    let mut state = CheckState::default();
    for kill in 1..=kills {
        let since = SystemTime::now();
        let load = Load::start(&ctx, &server.url, &mut rng);
        let after = Duration::from_millis(rng.gen_range(100..=900));
        tokio::time::sleep(after).await;
        if !server.is_running() {
            panic!(
                "kill {kill}: bintrail serve exited on its own (seed {seed})\nstderr:\n{}",
                tail(&server.stderr.lock().unwrap())
            );
        }
        drop(server); // LogServer's Drop: SIGKILL, then wait.
        load.stop(&ctx).await;
        let landing = Landing::inspect(&data, since, &ctx.verifier);
        state.figures.landed[landing as usize] += 1;
        let restarting = Instant::now();
        server = start(&data, &mut rng).await;
        assert_eq!(server.vkey(), vkey, "kill {kill}: the log key changed");
        let label = format!(
            "kill {kill}/{kills} after {after:?} ({}), restarted in {:?}",
            landing.label(),
            restarting.elapsed()
        );
        check(&ctx, &server, &mut state, &mut rng, Depth::Restart, &label).await;
        state.figures.kills += 1;
    }
    check(&ctx, &server, &mut state, &mut rng, Depth::Final, "final").await;
    let status = server.terminate();
    assert!(status.success(), "SIGTERM after the last check: {status:?}");
    let mut figures = state.figures;
    figures.load = ctx.model.lock().unwrap().counts.clone();
    figures.acked = ctx.model.lock().unwrap().acked.len();
    figures.checkpoints = ctx.model.lock().unwrap().checkpoints.len();
    figures
}

/// Starts `bintrail serve` on `data` with a random checkpoint interval and, one start
/// in three, a small batch limit, so kills land in every step of the commit sequence.
async fn start(data: &Path, rng: &mut StdRng) -> LogServer {
    let interval = format!("{}ms", [50, 75, 100][rng.gen_range(0..3)]);
    let batch = [1, 3, 16][rng.gen_range(0..3)].to_string();
    let mut args = vec!["--checkpoint-interval".to_owned(), interval];
    if rng.gen_range(0..3) == 0 {
        args.extend(["--max-batch-entries".to_owned(), batch]);
    }
    let data = data.to_owned();
    // start_in blocks (bounded) until the server prints its address.
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        LogServer::start_in(&data, &args)
    })
    .await
    .expect("starting bintrail serve")
}

/// The last 4 KiB of a server's stderr, for failure messages.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(4096);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

// ---------------------------------------------------------------------------
// What the clients were told.
// ---------------------------------------------------------------------------

/// Shared by the load tasks and the checks.
struct Ctx {
    token: String,
    verifier: Verifier,
    seed: u64,
    model: Mutex<Model>,
    next_name: AtomicU64,
}

/// Everything the log ever answered, and the failures seen so far.
#[derive(Default)]
struct Model {
    /// filename -> index, for every add answered 200 (or 503 with the index it was
    /// sequenced at: sequenced means committed).
    acked: HashMap<String, u64>,
    /// The keys of `acked`, for picking one at random.
    acked_names: Vec<String>,
    /// Acknowledged since the last check; looked up at the next.
    fresh: Vec<String>,
    /// Every checkpoint seen: tree size -> root hash.
    checkpoints: BTreeMap<u64, Hash>,
    /// Sizes seen since the last consistency proofs.
    unproven: Vec<u64>,
    /// Everything found wrong; the next check fails the test with all of it.
    failures: Vec<String>,
    counts: LoadCounts,
}

/// What the load sent and got.
#[derive(Default, Clone, Debug)]
struct LoadCounts {
    adds_new: u64,
    adds_again: u64,
    adds_conflicting: u64,
    bulk_requests: u64,
    bulk_lines: u64,
    answered_200: u64,
    answered_409: u64,
    answered_503: u64,
    cut_by_kill: u64,
    checkpoint_polls: u64,
}

impl Ctx {
    fn fail(&self, message: String) {
        self.model.lock().unwrap().failures.push(message);
    }

    fn count(&self, f: impl FnOnce(&mut LoadCounts)) {
        f(&mut self.model.lock().unwrap().counts);
    }

    /// A filename never used before in this run.
    fn new_filename(&self) -> String {
        let n = self.next_name.fetch_add(1, Ordering::Relaxed);
        wheel(&format!("crash{n}"), "1.0")
    }

    /// A random acknowledged add, if any.
    fn random_acked(&self, rng: &mut StdRng) -> Option<(String, u64)> {
        let model = self.model.lock().unwrap();
        if model.acked_names.is_empty() {
            return None;
        }
        let name = &model.acked_names[rng.gen_range(0..model.acked_names.len())];
        Some((name.clone(), model.acked[name]))
    }

    /// Records an acknowledgment of `filename` at `index`; the same filename must
    /// never be acknowledged at two indexes.
    fn ack(&self, filename: &str, index: u64, source: &str) {
        let mut model = self.model.lock().unwrap();
        match model.acked.get(filename) {
            Some(&earlier) if earlier != index => {
                let message = format!(
                    "{source}: {filename} acknowledged at index {index}, but earlier at {earlier}"
                );
                model.failures.push(message);
            }
            Some(_) => {}
            None => {
                model.acked.insert(filename.to_owned(), index);
                model.acked_names.push(filename.to_owned());
                model.fresh.push(filename.to_owned());
            }
        }
    }

    /// Verifies a checkpoint note under the log's key and records it. Two
    /// checkpoints of one size with different roots are a fork.
    fn see_checkpoint(&self, note: &[u8], source: &str) -> Option<Checkpoint> {
        let cp = match open_checkpoint(note, &self.verifier) {
            Ok((cp, _)) => cp,
            Err(e) => {
                self.fail(format!(
                    "{source}: checkpoint does not verify under the log key: {e}\n{}",
                    String::from_utf8_lossy(note)
                ));
                return None;
            }
        };
        let mut model = self.model.lock().unwrap();
        match model.checkpoints.get(&cp.size) {
            Some(root) if *root != cp.root_hash => {
                let message = format!(
                    "{source}: fork: two checkpoints of size {} with roots {root} and {}",
                    cp.size, cp.root_hash
                );
                model.failures.push(message);
            }
            Some(_) => {}
            None => {
                model.checkpoints.insert(cp.size, cp.root_hash);
                model.unproven.push(cp.size);
            }
        }
        Some(cp)
    }

    /// Checks an answer's base64 checkpoint and inclusion proof for `filename` at
    /// `index`, recording the checkpoint. Returns whether both verified.
    fn check_proof(
        &self,
        filename: &str,
        index: u64,
        checkpoint: &str,
        proof: &Value,
        source: &str,
    ) -> bool {
        let Ok(note) = BASE64.decode(checkpoint) else {
            self.fail(format!(
                "{source}: checkpoint is not base64: {checkpoint:?}"
            ));
            return false;
        };
        let Some(cp) = self.see_checkpoint(&note, source) else {
            return false;
        };
        let hashes: Option<Vec<Hash>> = proof.as_array().and_then(|a| {
            a.iter()
                .map(|h| h.as_str().and_then(|s| Hash::from_base64(s).ok()))
                .collect()
        });
        let Some(hashes) = hashes else {
            self.fail(format!("{source}: inclusionProof is malformed: {proof}"));
            return false;
        };
        let leaf = leaf_hash(&entry_bytes(filename));
        if let Err(e) = verify_record(&hashes, cp.size, cp.root_hash, index, leaf) {
            self.fail(format!(
                "{source}: inclusion proof of {filename} at {index} in tree {} fails: {e}",
                cp.size
            ));
            return false;
        }
        true
    }
}

/// The digest the load always sends for `filename`.
fn digest_of(filename: &str) -> String {
    checksum(filename)
}

/// A digest that conflicts with the one logged for `filename`.
fn other_digest_of(filename: &str) -> String {
    checksum(&format!("not {filename}"))
}

/// The log entry the load sends for `filename`.
fn entry_bytes(filename: &str) -> Vec<u8> {
    Entry {
        // Both come from this file's own generators, which make valid values.
        checksum: digest_of(filename).parse().expect("valid checksum"),
        filename: filename.parse().expect("valid filename"),
        publisher: None,
    }
    .to_bytes()
}

// ---------------------------------------------------------------------------
// The load.
// ---------------------------------------------------------------------------

/// One server's HTTP endpoints, with a client of its own (connections to a killed
/// server are never reused for the next one).
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Http {
    fn new(url: &str, token: &str) -> Http {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Http {
            client,
            url: url.to_owned(),
            token: token.to_owned(),
        }
    }

    /// `POST /add`: the status and the JSON body (or the body as a JSON string).
    async fn add(&self, filename: &str, digest: &str) -> Result<(u16, Value), reqwest::Error> {
        let response = self
            .client
            .post(format!("{}/add", self.url))
            .bearer_auth(&self.token)
            .json(&json!({"filename": filename, "checksum": digest}))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, value))
    }

    /// `GET <path>`: the body of a 200, or an error naming what came back.
    async fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        let url = format!("{}/{path}", self.url);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if status != reqwest::StatusCode::OK {
            return Err(format!(
                "GET {url}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body.to_vec())
    }
}

/// The load tasks of one server's lifetime.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(ctx: &Arc<Ctx>, url: &str, rng: &mut StdRng) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let http = Http::new(url, &ctx.token);
        let mut tasks = Vec::new();
        for _ in 0..ADDERS {
            let (ctx, http, stop) = (ctx.clone(), http.clone(), stop.clone());
            let rng = StdRng::seed_from_u64(rng.r#gen());
            tasks.push(tokio::spawn(adder(ctx, http, stop, rng)));
        }
        let (c, h, s) = (ctx.clone(), http.clone(), stop.clone());
        let bulk_rng = StdRng::seed_from_u64(rng.r#gen());
        tasks.push(tokio::spawn(bulk_loader(c, h, s, bulk_rng)));
        tasks.push(tokio::spawn(poller(ctx.clone(), http, stop.clone())));
        Load { stop, tasks }
    }

    /// Tells every task to stop and waits for them (bounded); a task that panicked
    /// or hung is a failure.
    async fn stop(self, ctx: &Ctx) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => ctx.fail(format!("a load task panicked: {e}")),
                Err(_) => ctx.fail(format!("a load task did not stop within {STOP_TIMEOUT:?}")),
            }
        }
    }
}

/// `POST /add` in a loop: mostly new entries, some re-adds of acknowledged ones,
/// some other digests for acknowledged names.
async fn adder(ctx: Arc<Ctx>, http: Http, stop: Arc<AtomicBool>, mut rng: StdRng) {
    while !stop.load(Ordering::SeqCst) {
        let roll = rng.gen_range(0..100);
        let acked = if roll >= 80 {
            ctx.random_acked(&mut rng)
        } else {
            None
        };
        match acked {
            Some((filename, index)) if roll >= 90 => {
                conflict(&ctx, &http, &filename, index).await;
            }
            Some((filename, index)) => {
                add_again(&ctx, &http, &filename, index).await;
            }
            None => add_new(&ctx, &http).await,
        }
    }
}

async fn add_new(ctx: &Ctx, http: &Http) {
    let filename = ctx.new_filename();
    ctx.count(|c| c.adds_new += 1);
    let source = format!("POST /add {filename}");
    match http.add(&filename, &digest_of(&filename)).await {
        Err(_) => ctx.count(|c| c.cut_by_kill += 1),
        Ok((200, body)) => {
            ctx.count(|c| c.answered_200 += 1);
            let index = body["index"].as_u64();
            let cp = body["checkpoint"].as_str();
            match (index, cp) {
                (Some(index), Some(cp)) => {
                    if body["existing"] != json!(false) {
                        ctx.fail(format!("{source}: a new entry answered existing: {body}"));
                    }
                    if ctx.check_proof(&filename, index, cp, &body["inclusionProof"], &source) {
                        ctx.ack(&filename, index, &source);
                    }
                }
                _ => ctx.fail(format!("{source}: 200 without index or checkpoint: {body}")),
            }
        }
        // Sequenced (committed) at `index`, but not published within the add
        // timeout: the log promises it is kept.
        Ok((503, body)) => {
            ctx.count(|c| c.answered_503 += 1);
            if let Some(index) = body["index"].as_u64() {
                ctx.ack(&filename, index, &format!("{source} (503 pending)"));
            }
        }
        Ok((status, body)) => ctx.fail(format!("{source}: unexpected {status}: {body}")),
    }
}

/// Re-adds an acknowledged entry; returns false if no answer came (the log was
/// killed meanwhile).
async fn add_again(ctx: &Ctx, http: &Http, filename: &str, index: u64) -> bool {
    ctx.count(|c| c.adds_again += 1);
    let source = format!("POST /add {filename} again");
    match http.add(filename, &digest_of(filename)).await {
        Err(_) => {
            ctx.count(|c| c.cut_by_kill += 1);
            return false;
        }
        Ok((200, body)) => {
            ctx.count(|c| c.answered_200 += 1);
            if body["index"].as_u64() != Some(index) || body["existing"] != json!(true) {
                ctx.fail(format!(
                    "{source}: want index {index}, existing true; got {body}"
                ));
            } else if let Some(cp) = body["checkpoint"].as_str() {
                ctx.check_proof(filename, index, cp, &body["inclusionProof"], &source);
            }
        }
        Ok((status, body)) => ctx.fail(format!(
            "{source}: want 200 with index {index}, got {status}: {body}"
        )),
    }
    true
}

/// Sends another digest for an acknowledged name; returns false if no answer came.
async fn conflict(ctx: &Ctx, http: &Http, filename: &str, index: u64) -> bool {
    ctx.count(|c| c.adds_conflicting += 1);
    let source = format!("POST /add {filename} with another digest");
    match http.add(filename, &other_digest_of(filename)).await {
        Err(_) => {
            ctx.count(|c| c.cut_by_kill += 1);
            return false;
        }
        Ok((409, body)) => {
            ctx.count(|c| c.answered_409 += 1);
            check_conflict(ctx, &body, filename, index, &source);
        }
        Ok((status, body)) => ctx.fail(format!("{source}: want 409, got {status}: {body}")),
    }
    true
}

/// A 409 (or bulk error line) must name the logged index and digest.
fn check_conflict(ctx: &Ctx, body: &Value, filename: &str, index: u64, source: &str) {
    let logged = digest_of(filename);
    if body["index"].as_u64() != Some(index) || body["checksum"].as_str() != Some(&logged) {
        ctx.fail(format!(
            "{source}: the refusal must name index {index} and {logged}: {body}"
        ));
    }
}

/// What a bulk line expects.
enum Expect {
    New,
    Same(u64),
    Conflict(u64),
}

/// `POST /admin/bulk/append` in a loop: new entries, a few re-adds and sometimes
/// a conflicting digest, checked line by line.
async fn bulk_loader(ctx: Arc<Ctx>, http: Http, stop: Arc<AtomicBool>, mut rng: StdRng) {
    while !stop.load(Ordering::SeqCst) {
        let mut lines = Vec::new();
        let mut expect: HashMap<String, Expect> = HashMap::new();
        for _ in 0..rng.gen_range(10..=80) {
            let filename = ctx.new_filename();
            lines.push(json!({"filename": filename, "checksum": digest_of(&filename)}));
            expect.insert(filename, Expect::New);
        }
        for i in 0..3 {
            let Some((filename, index)) = ctx.random_acked(&mut rng) else {
                break;
            };
            if expect.contains_key(&filename) {
                continue;
            }
            let (digest, e) = if i == 0 && rng.gen_bool(0.5) {
                (other_digest_of(&filename), Expect::Conflict(index))
            } else {
                (digest_of(&filename), Expect::Same(index))
            };
            lines.push(json!({"filename": filename, "checksum": digest}));
            expect.insert(filename, e);
        }
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        ctx.count(|c| {
            c.bulk_requests += 1;
            c.bulk_lines += lines.len() as u64;
        });
        let response = http
            .client
            .post(format!("{}/admin/bulk/append", http.url))
            .bearer_auth(&http.token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(_) => {
                ctx.count(|c| c.cut_by_kill += 1);
                continue;
            }
        };
        let status = response.status();
        match response.text().await {
            Err(_) => ctx.count(|c| c.cut_by_kill += 1),
            Ok(text) if status == reqwest::StatusCode::OK => {
                check_bulk(&ctx, &text, &expect, lines.len());
            }
            Ok(text) => ctx.fail(format!("bulk append: unexpected {status}: {text}")),
        }
    }
}

/// Checks a complete bulk response against what each line expects.
fn check_bulk(ctx: &Ctx, text: &str, expect: &HashMap<String, Expect>, count: usize) {
    let mut header: Option<String> = None;
    let mut results = 0;
    let mut complete = None;
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            ctx.fail(format!("bulk append: a line is not JSON: {line:?}"));
            return;
        };
        match record["type"].as_str() {
            Some("checkpoint") => header = record["checkpoint"].as_str().map(str::to_owned),
            Some("result") => {
                results += 1;
                check_bulk_result(ctx, &record["result"], header.as_deref(), expect);
            }
            Some("complete") => complete = record["count"].as_u64(),
            _ => ctx.fail(format!("bulk append: unknown record {line}")),
        }
    }
    if results != count || complete != Some(count as u64) {
        ctx.fail(format!(
            "bulk append: {count} lines sent, {results} results and completion {complete:?}"
        ));
    }
}

fn check_bulk_result(
    ctx: &Ctx,
    result: &Value,
    header: Option<&str>,
    expect: &HashMap<String, Expect>,
) {
    let filename = result["filename"].as_str().unwrap_or_default();
    let source = format!("bulk append {filename}");
    let Some(expected) = expect.get(filename) else {
        ctx.fail(format!(
            "{source}: a result for a line never sent: {result}"
        ));
        return;
    };
    let index = result["index"].as_u64();
    let status = result["status"].as_str();
    let checkpoint = result["checkpoint"].as_str().or(header);
    match (expected, status, index) {
        (Expect::New | Expect::Same(_), Some("logged"), Some(index)) => {
            if let Expect::Same(want) = expected
                && *want != index
            {
                ctx.fail(format!(
                    "{source}: re-add answered index {index}, want {want}"
                ));
                return;
            }
            let Some(cp) = checkpoint else {
                ctx.fail(format!("{source}: logged without a checkpoint: {result}"));
                return;
            };
            if ctx.check_proof(filename, index, cp, &result["inclusionProof"], &source) {
                ctx.ack(filename, index, &source);
            }
        }
        // Sequenced (committed) but not yet published: kept, at this index.
        (Expect::New, Some("pending"), Some(index)) => ctx.ack(filename, index, &source),
        (Expect::Conflict(want), Some("error"), _) => {
            ctx.count(|c| c.answered_409 += 1);
            check_conflict(ctx, result, filename, *want, &source);
        }
        _ => ctx.fail(format!("{source}: unexpected result {result}")),
    }
}

/// Polls `GET /checkpoint`, recording (and verifying) every checkpoint seen.
async fn poller(ctx: Arc<Ctx>, http: Http, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        if let Ok(note) = http.get("checkpoint").await {
            ctx.count(|c| c.checkpoint_polls += 1);
            ctx.see_checkpoint(&note, "GET /checkpoint");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------------------
// Where a kill landed.
// ---------------------------------------------------------------------------

/// Where in the commit sequence a kill landed, read from the data directory.
#[derive(Clone, Copy)]
enum Landing {
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
    fn label(self) -> &'static str {
        match self {
            Landing::BetweenBatches => "between batches",
            Landing::BeforeCommit => "in a batch, before its commit point",
            Landing::BeforePublish => "committed, not yet published",
        }
    }

    fn inspect(data: &Path, since: SystemTime, verifier: &Verifier) -> Landing {
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

// ---------------------------------------------------------------------------
// The checks after each restart.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// After a restart: new things in full, old things by sample where costly.
    Restart,
    /// At the end: everything.
    Final,
}

/// What the checks keep between restarts: the tree rebuilt from the served entry
/// bundles, and every full tile seen.
#[derive(Default)]
struct CheckState {
    /// The entries of the tree, from the served bundles.
    entries: Vec<Vec<u8>>,
    /// Their stored hashes (x/mod tlog's layout), for tree hashes of any prefix.
    stored: Vec<Hash>,
    /// Every full tile seen: path -> bytes.
    tiles: HashMap<String, Vec<u8>>,
    /// The newest checkpoint after the last check.
    newest: Option<(u64, Hash)>,
    figures: Figures,
}

/// The figures RELIABILITY.md records.
#[derive(Default)]
struct Figures {
    kills: usize,
    landed: [usize; 3],
    acked: usize,
    acked_checks: u64,
    checkpoints: usize,
    prefix_checks: u64,
    consistency_proofs: u64,
    tiles_compared: u64,
    tiles_distinct: usize,
    lookups: u64,
    readds_after_restart: u64,
    conflicts_after_restart: u64,
    final_size: u64,
    load: LoadCounts,
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

/// Runs every check against a freshly restarted (or final) server and panics with
/// every failure found, the load's included.
async fn check(
    ctx: &Ctx,
    server: &LogServer,
    state: &mut CheckState,
    rng: &mut StdRng,
    depth: Depth,
    label: &str,
) {
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
        panic!(
            "{label}: {} failure(s) (seed {}):\n- {}\nserver stderr:\n{}",
            failures.len(),
            ctx.seed,
            failures.join("\n- "),
            tail(&server.stderr.lock().unwrap())
        );
    }
    let model = ctx.model.lock().unwrap();
    println!(
        "{label}: tree {}, {} acknowledged, {} checkpoints seen, checked in {:?}",
        state.entries.len(),
        model.acked.len(),
        model.checkpoints.len(),
        checking.elapsed()
    );
}

/// The restarted log's checkpoint: never below a size seen before (no rollback),
/// and, within [`PUBLISH_TIMEOUT`], covering every acknowledged index (a 503
/// "pending" acknowledgment was committed, so recovery publishes it).
async fn newest_checkpoint(ctx: &Ctx, http: &Http, label: &str) -> Option<Checkpoint> {
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
async fn fetch_full_tiles(
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
fn rebuild_tree(
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
async fn check_checkpoints(
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
fn check_acked(ctx: &Ctx, state: &mut CheckState, cp: &Checkpoint) {
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
fn check_uniqueness(ctx: &Ctx, state: &CheckState) {
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
async fn check_lookups(
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

async fn lookup(ctx: &Ctx, http: &Http, filename: &str, index: u64) -> Result<(), String> {
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
async fn check_adds_again(ctx: &Ctx, http: &Http, state: &mut CheckState, rng: &mut StdRng) {
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
