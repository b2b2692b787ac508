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

#[path = "crash/checks.rs"]
mod checks;
mod common;
#[path = "crash/landing.rs"]
mod landing;
#[path = "crash/load.rs"]
mod load;
#[path = "crash/model.rs"]
mod model;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bintrail_tlog::tile::TILE_WIDTH;
use checks::{CheckState, Depth, Figures, check};
use common::LogServer;
use landing::Landing;
use load::Load;
use model::{Ctx, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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

/// A test of the test: a full entry bundle changed on disk while the log is down
/// (one digit of its first entry's digest) must be reported, by the tile
/// comparison and by the rebuilt tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tile_changed_while_the_log_is_down_is_caught() {
    let budget = Duration::from_secs(300);
    let outcome = tokio::time::timeout(budget, async {
        let mut run = Run::start(8).await;
        // At most 40 phases to log the first 256 entries (about five, usually).
        for kill in 1..=40 {
            run.load_and_kill().await;
            let label = format!("kill {kill}");
            if run.state.entries.len() as u64 >= TILE_WIDTH {
                change_a_digest(&run.data.join("tile/entries/000"));
                return run.restart_and_check(&label).await;
            }
            if let Err(e) = run.restart_and_check(&label).await {
                panic!("{e}");
            }
        }
        panic!("no full entry bundle after 40 load phases");
    })
    .await;
    let failures = match outcome {
        Ok(Err(failures)) => failures,
        Ok(Ok(())) => panic!("the changed entry bundle was not noticed"),
        Err(_) => panic!("did not finish within {budget:?}"),
    };
    // The change is caught either by the checker comparing bytes, or (since issue 19 item 8
    // the log checks each entry bundle against the tree before serving it) by the log itself
    // refusing to serve the corrupt bundle. Passing unnoticed is the only failure.
    let by_checker = ["full tile tile/entries/000 changed", "entry 0 changed"]
        .iter()
        .all(|want| failures.contains(want));
    let by_log = failures.contains("/tile/entries/000: 500")
        && failures.contains("corrupt tile/entries/000");
    assert!(
        by_checker || by_log,
        "neither the checker nor the log named the changed bundle:\n{failures}"
    );
}

/// Changes one hex digit of the first digest in the entry bundle at `path`; the
/// entry still parses, with another digest.
fn change_a_digest(path: &Path) {
    let mut data = std::fs::read(path).expect("the full entry bundle is on disk");
    let at = data
        .windows(7)
        .position(|w| w == b"sha256:")
        .expect("the bundle holds a digest")
        + 7;
    data[at] = if data[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(path, data).expect("rewrite the entry bundle");
}

/// Runs the kill loop and the final checks; panics with every failure found.
async fn run(kills: usize, seed: u64) -> Figures {
    let mut run = Run::start(seed).await;
    for kill in 1..=kills {
        let landing = run.load_and_kill().await;
        let label = format!("kill {kill}/{kills} ({})", landing.label());
        if let Err(e) = run.restart_and_check(&label).await {
            panic!("{e}");
        }
    }
    run.finish().await
}

/// One log's data directory across its restarts, and what the checks keep.
struct Run {
    /// Holds `data`; removed when the run is dropped.
    _dir: tempfile::TempDir,
    data: PathBuf,
    rng: StdRng,
    ctx: Arc<Ctx>,
    state: CheckState,
    /// `None` between a kill and the restart.
    server: Option<LogServer>,
    vkey: String,
}

impl Run {
    /// Starts a new log in a fresh temporary directory.
    async fn start(seed: u64) -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut rng = StdRng::seed_from_u64(seed);
        let server = start(&data, &mut rng).await;
        let vkey = server.vkey();
        let ctx = Arc::new(Ctx {
            token: server.token(),
            verifier: vkey.parse().expect("the log prints a valid vkey"),
            seed,
            model: Mutex::new(Model::default()),
            next_name: AtomicU64::new(0),
        });
        Run {
            _dir: dir,
            data,
            rng,
            ctx,
            state: CheckState::default(),
            server: Some(server),
            vkey,
        }
    }

    /// Runs the load for 100-900 ms, kills the log with SIGKILL, stops the load and
    /// reads where in the commit sequence the kill landed.
    async fn load_and_kill(&mut self) -> Landing {
        let mut server = self.server.take().expect("a running log");
        let since = SystemTime::now();
        let load = Load::start(&self.ctx, &server.url, &mut self.rng);
        let after = Duration::from_millis(self.rng.gen_range(100..=900));
        tokio::time::sleep(after).await;
        if !server.is_running() {
            panic!(
                "bintrail serve exited on its own (seed {})\nstderr:\n{}",
                self.ctx.seed,
                tail(&server.stderr.lock().unwrap())
            );
        }
        drop(server); // LogServer's Drop: SIGKILL, then wait.
        load.stop(&self.ctx).await;
        let landing = Landing::inspect(&self.data, since, &self.ctx.verifier);
        self.state.figures.landed[landing as usize] += 1;
        self.state.figures.kills += 1;
        landing
    }

    /// Restarts the log on its data directory and runs every check; the error lists
    /// every failure found since the last check.
    async fn restart_and_check(&mut self, label: &str) -> Result<(), String> {
        let restarting = Instant::now();
        let server = start(&self.data, &mut self.rng).await;
        assert_eq!(server.vkey(), self.vkey, "{label}: the log key changed");
        let label = format!("{label}, restarted in {:?}", restarting.elapsed());
        let (ctx, state, rng) = (&self.ctx, &mut self.state, &mut self.rng);
        let result = check(ctx, &server, state, rng, Depth::Restart, &label).await;
        self.server = Some(server);
        result
    }

    /// The final checks (every lookup, every consistency proof), a clean SIGTERM,
    /// and the figures.
    async fn finish(mut self) -> Figures {
        let server = self.server.take().expect("a running log");
        let (ctx, state, rng) = (&self.ctx, &mut self.state, &mut self.rng);
        if let Err(e) = check(ctx, &server, state, rng, Depth::Final, "final").await {
            panic!("{e}");
        }
        let status = server.terminate();
        assert!(status.success(), "SIGTERM after the last check: {status:?}");
        let model = self.ctx.model.lock().unwrap();
        let mut figures = std::mem::take(&mut self.state.figures);
        figures.load = model.counts.clone();
        figures.acked = model.acked.len();
        figures.checkpoints = model.checkpoints.len();
        figures
    }
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
