//! Issue 15: the log on object storage (a real Garage) and PostgreSQL (a real server), with
//! frontends that take the sequencing lease from each other.
//!
//! - the real binary on `--storage s3://... --database postgres://...`: adds, proofs,
//!   lookups and conflicts; the bucket holds the tlog-tiles layout with the spec's cache
//!   headers and can be served as a static website; a SIGKILLed frontend is replaced by
//!   another that takes the lease within seconds and keeps every acknowledged add and the
//!   uniqueness guarantee;
//! - fencing, in-process: a backend whose lease was taken over can neither append to the
//!   index nor move either checkpoint, checked by the database;
//! - a frontend paused (SIGSTOP) past its lease while another takes over publishes nothing
//!   after it is resumed;
//! - three frontends all taking adds (the ones without the lease forward them to the
//!   sequencer) under concurrent load while the sequencing one is SIGKILLed four times at
//!   random points (the seed is printed; `BINTRAIL_KILL_SEED` replays it): every
//!   acknowledged add is at its index with its digest, no index is given
//!   twice, every checkpoint any frontend served is a prefix of the last (checked with
//!   golang.org/x/mod's tlog over the served tiles), and a conflicting digest is refused
//!   whichever frontend receives it.

mod common;
#[path = "../../tlog/tests/go_common/mod.rs"]
mod go_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bintrail_log::storage::{
    CheckpointKind, CloudOptions, CloudStorage, IndexRecord, S3Location, Storage,
};
use bintrail_tlog::checkpoint::open_checkpoint;
use bintrail_tlog::note::Verifier;
use bintrail_tlog::proof::TlogProof;
use common::servers::{Garage, Postgres, frontend_args, start_frontend};
use common::{LogServer, checksum, client, wheel};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a frontend may take to take the lease over from a dead one: the 3 s lease,
/// the 1.5 s takeover grace, and a slow machine.
const TAKEOVER: Duration = Duration::from_secs(30);

fn kill(server: &LogServer, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
}

async fn add(server: &LogServer, token: &str, name: &str, sum: &str) -> (StatusCode, Value) {
    let response = common::post_add(
        &server.at("/add"),
        token,
        &json!({"filename": name, "checksum": sum}),
    )
    .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GET `key` from the bucket through Garage's static website endpoint, as a CDN would.
async fn from_bucket(garage: &Garage, key: &str) -> reqwest::Response {
    client()
        .get(format!("http://127.0.0.1:{}/{key}", garage.web_port))
        .header("Host", format!("{}.web.garage.localhost", garage.bucket))
        .send()
        .await
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Opens `note` with the log's key and returns (size, root).
fn open(note: &[u8], vkey: &str) -> (u64, bintrail_tlog::hash::Hash) {
    let verifier: Verifier = vkey.parse().expect("vkey");
    let (cp, _) = open_checkpoint(note, &verifier).expect("checkpoint verifies");
    (cp.size, cp.root_hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_postgres_log_end_to_end_with_takeover() {
    let pg = Postgres::start();
    let garage = Garage::start();
    garage.cli(&["bucket", "website", "--allow", &garage.bucket]);
    let dir = tempfile::tempdir().unwrap();
    let a_data = dir.path().join("a");
    let a = start_frontend(&a_data, &frontend_args(&garage, &pg, None), &garage);
    let (token, vkey) = (a.token(), a.vkey());

    // 300 adds, 20 at a time: one full tile and bundle (256) and a partial one.
    let mut acked: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for chunk in 0..15 {
        let adds = (0..20).map(|i| {
            let name = wheel(&format!("cloud{}", chunk * 20 + i), "1.0");
            let sum = checksum(&name);
            let (a, token) = (&a, &token);
            async move {
                let (status, body) = add(a, token, &name, &sum).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                (name, body["index"].as_u64().unwrap(), sum)
            }
        });
        for (name, index, sum) in futures::future::join_all(adds).await {
            acked.insert(name, (index, sum));
        }
    }
    let mut indexes: Vec<u64> = acked.values().map(|v| v.0).collect();
    indexes.sort();
    assert_eq!(
        indexes,
        (0..300).collect::<Vec<_>>(),
        "no index twice, none skipped"
    );

    // The published checkpoint: the same bytes from the frontend and from the bucket.
    let note = checkpoint_note(&a.url).await;
    let (size, _) = open(&note, &vkey);
    assert_eq!(size, 300);
    let object = from_bucket(&garage, "log/checkpoint").await;
    assert_eq!(object.status(), StatusCode::OK);
    assert_eq!(header(&object, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(header(&object, "cache-control"), "no-cache");
    assert_eq!(object.bytes().await.unwrap(), note);

    // Tiles and bundles at their tlog-tiles paths, immutable ones cacheable for a year.
    for (key, width, cache) in [
        (
            "log/tile/0/000",
            8192,
            "public, max-age=31536000, immutable",
        ),
        ("log/tile/0/001.p/44", 44 * 32, "no-cache"),
        ("log/tile/1/000.p/1", 32, "no-cache"),
    ] {
        let object = from_bucket(&garage, key).await;
        assert_eq!(object.status(), StatusCode::OK, "{key}");
        assert_eq!(header(&object, "content-type"), "application/octet-stream");
        assert_eq!(header(&object, "cache-control"), cache, "{key}");
        let from_bucket = object.bytes().await.unwrap();
        assert_eq!(from_bucket.len(), width, "{key}");
        let path = key.strip_prefix("log").unwrap();
        let from_log = client().get(a.at(path)).send().await.unwrap();
        assert_eq!(from_log.bytes().await.unwrap(), from_bucket, "{key}");
    }
    let bundle = from_bucket(&garage, "log/tile/entries/000").await;
    assert_eq!(
        header(&bundle, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(bundle.bytes().await.unwrap().len() > 256 * 40);

    // The uniqueness index lives in PostgreSQL, one row per entry.
    assert_eq!(pg.psql("SELECT count(*) FROM bintrail_entries"), "300");
    let (first, (first_index, _)) = acked.iter().next().unwrap();
    let (status, body) = add(&a, &token, first, &checksum("another file")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["index"].as_u64(), Some(*first_index));

    // SIGKILL the sequencing frontend; a second one on the same bucket and database takes
    // the lease over and has everything.
    kill(&a, "-KILL");
    let started = Instant::now();
    let b = start_frontend(
        &dir.path().join("b"),
        &frontend_args(&garage, &pg, Some(&a_data)),
        &garage,
    );
    assert_eq!(b.vkey(), vkey, "the same log");
    // B serves at once; its adds get 503s until A's lease ran out and B took it.
    let name = wheel("aftertakeover", "1.0");
    let body = add_until_ok(&b, &token, &name, TAKEOVER).await;
    assert_eq!(body["index"].as_u64(), Some(300));
    assert!(
        started.elapsed() < TAKEOVER,
        "took {:?} to take over",
        started.elapsed()
    );
    for (name, (index, sum)) in acked.iter().step_by(7) {
        lookup_at(&b.url, name, *index).await;
        let (status, body) = add(&b, &token, name, sum).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["index"].as_u64(), Some(*index));
        assert_eq!(body["existing"], true);
    }
    let (status, body) = add(&b, &token, first, &checksum("yet another")).await;
    assert_eq!(status, StatusCode::CONFLICT, "across frontends: {body}");

    // B says it sequences, on its health endpoint and in its metrics.
    let health = client()
        .get(b.at("/healthz/sequencer"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "sequencing\n");
    let metrics = common::get_text(&b.at("/metrics")).await;
    assert!(
        metrics.contains("\nbintrail_storage_sequencer 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bintrail_storage_lease_taken_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bintrail_storage_call_seconds_count{backend=\"database\"}"),
        "{metrics}"
    );

    // The new checkpoint extends the old one (proved from the bucket's tiles).
    let (size_b, root_b) = checkpoint_of(&b, &vkey).await;
    assert_eq!(size_b, 301);
    let reader =
        bintrail_client::log::LogReader::new(&b.url, bintrail_client::fetch::Timeouts::default())
            .unwrap();
    let proof = reader.prove_tree(size_b, root_b, 300, None).await.unwrap();
    let (_, root_a) = open(&note, &vkey);
    bintrail_tlog::tree::verify_tree(&proof, size_b, root_b, 300, root_a)
        .expect("the new checkpoint is consistent with the old");
}

fn cloud_options(garage: &Garage, pg: &Postgres) -> CloudOptions {
    CloudOptions {
        storage: S3Location {
            bucket: garage.bucket.clone(),
            prefix: "fenced".into(),
        },
        s3_endpoint: Some(garage.endpoint()),
        database: pg.url(),
        lease: Duration::from_secs(3),
        request_timeout: Duration::from_secs(5),
        aws: garage.env(),
        advertise: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_lost_its_lease_cannot_write() {
    let pg = Postgres::start();
    let garage = Garage::start();
    let opts = cloud_options(&garage, &pg);
    // A long lease: the old backend renews only every 20 s, so it does not notice the
    // takeover below and only the database can stop it.
    let long = CloudOptions {
        lease: Duration::from_secs(60),
        ..opts.clone()
    };
    let old = Arc::new(CloudStorage::open(&long).await.unwrap());
    let old_fence = old.fence().expect("holds the lease");
    let signer = bintrail_tlog::note::Signer::generate(
        "example.org/fenced",
        bintrail_tlog::note::KeyType::Ed25519,
        rand::random(),
    )
    .unwrap();
    let empty = bintrail_tlog::checkpoint::sign_checkpoint(
        &bintrail_tlog::checkpoint::Checkpoint {
            origin: "example.org/fenced".into(),
            size: 0,
            root_hash: bintrail_tlog::hash::empty_tree_hash(),
            extensions: vec![],
        },
        &signer,
    )
    .unwrap()
    .to_bytes();
    let o = old.clone();
    let e = empty.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(o.read_checkpoint(CheckpointKind::Sequenced).unwrap(), None);
        o.write_checkpoint(CheckpointKind::Sequenced, &e).unwrap();
    })
    .await
    .unwrap();

    // The lease runs out in the database (as if the old holder had been paused), and a
    // second backend takes it with a higher fencing token.
    pg.psql("UPDATE bintrail_log SET lease_expires = clock_timestamp() - interval '1 second'");
    let new = CloudStorage::open(&opts).await.unwrap();
    assert!(new.fence().unwrap() > old_fence);

    // The old one still believes it holds the lease (its local deadline has not passed),
    // so only the database stands between it and the log: every write is refused.
    let record = IndexRecord {
        index: 0,
        entry: bintrail_log::storage::StoredEntry::of(
            &bintrail_tlog::pypi::Entry::parse(
                format!(
                    "pypi-transparency/v1\n{}\n{}",
                    checksum("stale"),
                    wheel("stale", "1.0")
                )
                .as_bytes(),
            )
            .unwrap(),
        ),
    };
    let o = old.clone();
    tokio::task::spawn_blocking(move || {
        let err = o.append_index(&[record]).unwrap_err().to_string();
        assert!(err.contains("lost the sequencing lease"), "{err}");
        let err = o
            .write_checkpoint(CheckpointKind::Sequenced, &empty)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lost the sequencing lease"), "{err}");
        let err = o
            .write_checkpoint(CheckpointKind::Published, &empty)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lost the sequencing lease"), "{err}");
        let err = o.truncate_index(0).unwrap_err().to_string();
        assert!(err.contains("lost the sequencing lease"), "{err}");
    })
    .await
    .unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM bintrail_entries"), "0");
    assert_eq!(
        pg.psql("SELECT coalesce(published_size::text, 'none') FROM bintrail_log"),
        "none"
    );
}

/// Adds `name` with its own checksum, retrying 503s until `deadline`; the final answer.
async fn add_until_ok(server: &LogServer, token: &str, name: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = add(server, token, name, &checksum(name)).await;
        if status == StatusCode::OK {
            return body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "{name} still refused: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The checkpoint note the frontend at `url` serves.
async fn checkpoint_note(url: &str) -> Vec<u8> {
    common::get_bytes(&format!("{url}/checkpoint"))
        .await
        .to_vec()
}

/// (size, root) of the checkpoint `server` serves, opened with the log's key.
async fn checkpoint_of(server: &LogServer, vkey: &str) -> (u64, bintrail_tlog::hash::Hash) {
    open(&checkpoint_note(&server.url).await, vkey)
}

/// Waits (bounded) until the log is quiet, all it sequenced published as the database
/// says: adds a client gave up on at a stop may still have been pooled.
async fn wait_until_all_published(pg: &Postgres) {
    let deadline = Instant::now() + TAKEOVER;
    while pg.psql("SELECT published_size = sequenced_size FROM bintrail_log") != "t" {
        assert!(
            Instant::now() < deadline,
            "the last adds were never published"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (size, root) of the checkpoint the frontend at `url` serves once its size is
/// `published()` (bounded wait): it follows the published checkpoint within a few
/// checkpoint intervals.
async fn checkpoint_following(
    url: &str,
    vkey: &str,
    published: impl Fn() -> String,
) -> (u64, bintrail_tlog::hash::Hash) {
    let deadline = Instant::now() + TAKEOVER;
    loop {
        let last = open(&checkpoint_note(url).await, vkey);
        if last.0.to_string() == published() {
            return last;
        }
        assert!(Instant::now() < deadline, "{url} stays at {}", last.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The tlog-proof the frontend at `url` answers for a lookup of `name`, which must be at
/// `index`.
async fn lookup_at(url: &str, name: &str, index: u64) -> TlogProof {
    let r = client()
        .get(format!("{url}/lookup/pypi/{name}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{name} on {url}");
    let proof = TlogProof::parse(&r.bytes().await.unwrap()).expect("a tlog-proof");
    assert_eq!(proof.index, index, "{name}");
    proof
}

/// Checks that the tree `server` serves at (size, root) extends (old_size, old_root).
async fn assert_extends(
    server: &LogServer,
    (size, root): (u64, bintrail_tlog::hash::Hash),
    (old_size, old_root): (u64, bintrail_tlog::hash::Hash),
) {
    let reader = bintrail_client::log::LogReader::new(
        &server.url,
        bintrail_client::fetch::Timeouts::default(),
    )
    .unwrap();
    let proof = reader.prove_tree(size, root, old_size, None).await.unwrap();
    bintrail_tlog::tree::verify_tree(&proof, size, root, old_size, old_root)
        .unwrap_or_else(|e| panic!("{size} does not extend {old_size}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_sequencer_publishes_nothing_after_a_takeover() {
    let pg = Postgres::start();
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let a_data = dir.path().join("a");
    let a = start_frontend(&a_data, &frontend_args(&garage, &pg, None), &garage);
    let (token, vkey) = (a.token(), a.vkey());
    for i in 0..5 {
        add_until_ok(&a, &token, &wheel(&format!("before{i}"), "1.0"), TAKEOVER).await;
    }
    let before = checkpoint_of(&a, &vkey).await;
    assert_eq!(before.0, 5);

    // Pause A past its lease; B takes over and appends.
    kill(&a, "-STOP");
    let b = start_frontend(
        &dir.path().join("b"),
        &frontend_args(&garage, &pg, Some(&a_data)),
        &garage,
    );
    for i in 0..5 {
        let body = add_until_ok(&b, &token, &wheel(&format!("during{i}"), "1.0"), TAKEOVER).await;
        assert!(body["index"].as_u64().unwrap() >= 5, "{body}");
    }
    let with_b = checkpoint_of(&b, &vkey).await;
    assert_eq!(with_b.0, 10);
    let db_state = pg.psql("SELECT sequenced_size, published_size, fence FROM bintrail_log");

    // An add waits in A's accept queue; A resumes believing it sequences.
    let stale = {
        let url = a.at("/add");
        let token = token.clone();
        let name = wheel("stale", "1.0");
        tokio::spawn(async move {
            let r = client()
                .post(url)
                .bearer_auth(&token)
                .json(&json!({"filename": name, "checksum": checksum(&name)}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill(&a, "-CONT");
    let (status, body) = stale.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    // A knows it is not the sequencer.
    let deadline = Instant::now() + TAKEOVER;
    loop {
        let health = client()
            .get(a.at("/healthz/sequencer"))
            .send()
            .await
            .unwrap();
        if health.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(health.text().await.unwrap(), "standby\n");
            break;
        }
        assert!(Instant::now() < deadline, "A still claims to sequence");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A wrote nothing the database accepted: the tree state is B's.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        pg.psql("SELECT sequenced_size, published_size, fence FROM bintrail_log"),
        db_state
    );
    assert_eq!(pg.psql("SELECT count(*) FROM bintrail_entries"), "10");
    let object = checkpoint_note(&b.url).await;
    assert_eq!(open(&object, &vkey), with_b);
    // A's readers see an older checkpoint of the same tree, never another tree.
    assert_extends(&b, with_b, checkpoint_of(&a, &vkey).await).await;

    // B dies; A takes the lease again, re-reads the tree B extended, and appends after it.
    kill(&b, "-KILL");
    let body = add_until_ok(&a, &token, &wheel("after", "1.0"), TAKEOVER).await;
    assert_eq!(body["index"].as_u64(), Some(10), "{body}");
    let after = checkpoint_of(&a, &vkey).await;
    assert_eq!(after.0, 11);
    assert_extends(&a, after, with_b).await;
    for i in 0..5 {
        let name = wheel(&format!("during{i}"), "1.0");
        let (status, body) = add(&a, &token, &name, &checksum("other")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_database_outages_answer_503_and_lose_nothing() {
    let pg = Postgres::start();
    let mut garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let a = start_frontend(
        &dir.path().join("a"),
        &frontend_args(&garage, &pg, None),
        &garage,
    );
    let (token, vkey) = (a.token(), a.vkey());
    let mut acked = BTreeMap::new();
    for i in 0..10 {
        let name = wheel(&format!("up{i}"), "1.0");
        let body = add_until_ok(&a, &token, &name, TAKEOVER).await;
        acked.insert(name, body["index"].as_u64().unwrap());
    }

    // Load from four tasks for the whole test: each add is acknowledged (200 with its
    // index) or refused with a JSON 503, never anything else; a refused add is retried
    // (same name, same digest) until acknowledged.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refusals = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut load = Vec::new();
    for t in 0..4 {
        let (url, token, stop) = (a.at("/add"), token.clone(), stop.clone());
        let refusals = refusals.clone();
        load.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let name = wheel(&format!("load{t}x{n}"), "1.0");
                n += 1;
                loop {
                    let r = client()
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"filename": name, "checksum": checksum(&name)}))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    match status {
                        StatusCode::OK => {
                            ok.push((name, body["index"].as_u64().unwrap()));
                            break;
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(body["error"].is_string(), "{body}");
                            refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        other => panic!("{name}: {other} {body}"),
                    }
                }
            }
            ok
        }));
    }
    // A reader keeps every checkpoint the frontend serves meanwhile.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let reader = {
        let (url, stop, seen) = (a.at("/checkpoint"), stop.clone(), seen.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(r) = client().get(&url).send().await
                    && r.status() == StatusCode::OK
                    && let Ok(note) = r.bytes().await
                {
                    seen.lock().unwrap().push(note.to_vec());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The object store goes away under that load: adds get a JSON 503 within the request
    // timeout, for as long as it is away.
    garage.stop();
    let before = refusals.load(std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    let name = wheel("storedown", "1.0");
    let (status, body) = add(&a, &token, &name, &checksum(&name)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("storage is unavailable"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // The load's adds that were already waiting when the store went away are refused
    // once their own add timeout (10 s, plus as long again for a covering checkpoint)
    // runs out, which can be well after this add's refusal on a busy machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while refusals.load(std::sync::atomic::Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "the load saw no 503 in the 30 s after the store went away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the load's first 503 came {:?} after the store went away",
        started.elapsed()
    );
    garage.start_again();
    let body = add_until_ok(&a, &token, &name, TAKEOVER).await;
    acked.insert(name, body["index"].as_u64().unwrap());

    // The database restarts under the same load.
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start_again();
    // Recovered: an add goes through again.
    let name = wheel("dbback", "1.0");
    let body = add_until_ok(&a, &token, &name, TAKEOVER).await;
    acked.insert(name, body["index"].as_u64().unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in load {
        acked.extend(task.await.unwrap());
    }
    reader.await.unwrap();
    eprintln!(
        "{} adds acknowledged across a store outage and a database restart; {} answered 503 meanwhile",
        acked.len(),
        refusals.load(std::sync::atomic::Ordering::SeqCst)
    );

    // Nothing acknowledged is lost, no index is given twice, the tree is one tree.
    let mut given = std::collections::HashSet::new();
    for index in acked.values() {
        assert!(given.insert(*index), "index {index} given twice");
    }
    wait_until_all_published(&pg).await;
    let (size, root) = checkpoint_following(&a.url, &vkey, || {
        pg.psql("SELECT published_size FROM bintrail_log")
    })
    .await;
    assert_eq!(
        pg.psql("SELECT count(*) FROM bintrail_entries"),
        size.to_string()
    );
    let mut records = Vec::new();
    for (name, index) in &acked {
        let entry = lookup_at(&a.url, name, *index)
            .await
            .extra
            .expect("the entry");
        assert!(
            String::from_utf8_lossy(&entry).contains(name.as_str()),
            "{name}"
        );
        records.push((*index, entry));
    }
    // golang.org/x/mod's tlog: every checkpoint served across both outages is a prefix of
    // the last, and every acknowledged entry is its record at its index.
    let checked = go_verify(&a.url, &vkey, (size, root), &seen.lock().unwrap(), &records);
    assert!(checked > 2, "only {checked} distinct checkpoints seen");
}

/// The frontend of `urls` that says it sequences, waiting for one (bounded).
async fn sequencer_of(urls: &[String], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        for (i, url) in urls.iter().enumerate() {
            let answer = client()
                .get(format!("{url}/healthz/sequencer"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no frontend took the lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One add through the frontend at `url`: `Some((index, proof))` when acknowledged, `None`
/// for a 503 or a failed connection (the add may or may not have been sequenced: retry).
async fn try_add(url: &str, token: &str, name: &str, sum: &str) -> Option<(u64, String)> {
    let answer = client()
        .post(format!("{url}/add"))
        .bearer_auth(token)
        .json(&json!({"filename": name, "checksum": sum}))
        .send()
        .await
        .ok()?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    match status {
        StatusCode::OK => Some((
            body["index"].as_u64().expect("index"),
            body["proof"].as_str().expect("proof").to_owned(),
        )),
        StatusCode::SERVICE_UNAVAILABLE => {
            assert!(body["error"].is_string(), "{body}");
            None
        }
        other => panic!("{name} through {url}: {other} {body}"),
    }
}

/// golang.org/x/mod's tlog (GOPATH mode, `tests/go/consistency.go`) over the hash tiles
/// the frontend at `url` serves: the tree `last` hashes to its root, every checkpoint note
/// in `seen` is a prefix of it (none is beyond it), and each `(index, entry)` of `records`
/// is its record at that index. Returns how many distinct checkpoints it checked.
fn go_verify(
    url: &str,
    vkey: &str,
    last: (u64, bintrail_tlog::hash::Hash),
    seen: &[Vec<u8>],
    records: &[(u64, Vec<u8>)],
) -> usize {
    let go = tempfile::tempdir().unwrap();
    let bin = go_common::build(
        go.path(),
        "bintrailconsistency",
        include_str!("go/consistency.go"),
    );
    let mut queries = vec![
        format!("log {url}"),
        format!("latest {} {}", last.0, last.1.to_base64()),
    ];
    let mut sizes = std::collections::BTreeSet::new();
    for note in seen {
        let (size, root) = open(note, vkey);
        assert!(
            size <= last.0,
            "a checkpoint of {size} beyond the last {}",
            last.0
        );
        if size > 0 && sizes.insert((size, root.to_base64())) {
            queries.push(format!("old {size} {}", root.to_base64()));
        }
    }
    for (index, entry) in records {
        queries.push(format!(
            "record {index} {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, entry)
        ));
    }
    let out = go_common::run(&bin, &(queries.join("\n") + "\n"));
    assert_eq!(out.lines().count(), queries.len(), "{out}");
    sizes.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_frontends_take_adds_while_the_sequencer_is_killed() {
    let pg = Postgres::start();
    let garage = Garage::start();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("fe0");
    let mut servers = vec![start_frontend(
        &keys,
        &frontend_args(&garage, &pg, None),
        &garage,
    )];
    let (token, vkey) = (servers[0].token(), servers[0].vkey());
    for i in 1..3 {
        let server = start_frontend(
            &dir.path().join(format!("fe{i}")),
            &frontend_args(&garage, &pg, Some(&keys)),
            &garage,
        );
        assert_eq!(server.vkey(), vkey, "the same log");
        servers.push(server);
    }
    let urls = Arc::new(std::sync::Mutex::new(
        servers.iter().map(|s| s.url.clone()).collect::<Vec<_>>(),
    ));
    let initial = urls.lock().unwrap().clone();
    let first = sequencer_of(&initial, TAKEOVER).await;
    // Every frontend takes adds, the two without the lease included.
    for (i, url) in initial.iter().enumerate() {
        let name = wheel(&format!("through{i}"), "1.0");
        let deadline = Instant::now() + TAKEOVER;
        while try_add(url, &token, &name, &checksum(&name))
            .await
            .is_none()
        {
            assert!(Instant::now() < deadline, "{url} never took an add");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let health = client()
            .get(format!("{url}/healthz/sequencer"))
            .send()
            .await
            .unwrap();
        let expected = if i == first {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        assert_eq!(health.status(), expected, "{url}");
        if i != first {
            let metrics = common::get_text(&format!("{url}/metrics")).await;
            assert!(
                !metrics.contains("bintrail_forwarded_writes_total{outcome=\"relayed\"} 0\n"),
                "{metrics}"
            );
            assert!(
                metrics.contains("\nbintrail_storage_sequencer 0\n"),
                "{metrics}"
            );
        }
    }

    // Load: six clients, each add through the next live frontend, every add retried
    // (same name, same digest) until acknowledged.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for t in 0..6 {
        let (urls, token, stop) = (urls.clone(), token.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut n = 0usize;
            let mut turn = t;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let name = wheel(&format!("fe{t}x{n}"), "1.0");
                let sum = checksum(&name);
                n += 1;
                loop {
                    let url = {
                        let urls = urls.lock().unwrap();
                        turn += 1;
                        urls[turn % urls.len()].clone()
                    };
                    if let Some((index, proof)) = try_add(&url, &token, &name, &sum).await {
                        acked.push((name, sum, index, proof));
                        break;
                    }
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            acked
        }));
    }
    // A reader collects every checkpoint any frontend serves meanwhile.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let reader = {
        let (urls, stop, seen) = (urls.clone(), stop.clone(), seen.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let current = urls.lock().unwrap().clone();
                for url in current {
                    if let Ok(r) = client().get(format!("{url}/checkpoint")).send().await
                        && r.status() == StatusCode::OK
                        && let Ok(note) = r.bytes().await
                    {
                        seen.lock().unwrap().push(note.to_vec());
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    // Kill the sequencer four times, each after a random 0.5 to 4 s of load (so at a
    // random point of its batches: between them, while one is written, while one is
    // published); each time another frontend takes over and the killed one comes back as
    // a new frontend. BINTRAIL_KILL_SEED replays a run's timings.
    let seed: u64 = std::env::var("BINTRAIL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill timings: BINTRAIL_KILL_SEED={seed}");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let mut takeovers = Vec::new();
    for round in 0..4 {
        let pause = rand::Rng::gen_range(&mut rng, 500..4000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let current = urls.lock().unwrap().clone();
        let victim = sequencer_of(&current, TAKEOVER).await;
        kill(&servers[victim], "-KILL");
        let killed = Instant::now();
        let others: Vec<String> = current
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, u)| u.clone())
            .collect();
        sequencer_of(&others, TAKEOVER).await;
        takeovers.push(killed.elapsed());
        let server = start_frontend(
            &dir.path().join(format!("again{round}")),
            &frontend_args(&garage, &pg, Some(&keys)),
            &garage,
        );
        urls.lock().unwrap()[victim] = server.url.clone();
        servers[victim] = server;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked = Vec::new();
    for task in load {
        acked.extend(task.await.unwrap());
    }
    reader.await.unwrap();
    eprintln!(
        "{} adds acknowledged through 3 frontends; takeovers after SIGKILL took {takeovers:?} \
         (BINTRAIL_KILL_SEED={seed})",
        acked.len()
    );
    assert!(acked.len() >= 30, "only {} adds went through", acked.len());

    // No index given twice; every acknowledged add is at its index with its digest, as its
    // own proof and a fresh lookup on another frontend say.
    let mut by_index = BTreeMap::new();
    for (name, _, index, _) in &acked {
        if let Some(other) = by_index.insert(*index, name.clone()) {
            panic!("index {index} given to {other} and {name}");
        }
    }
    let urls_now = urls.lock().unwrap().clone();
    let latest = sequencer_of(&urls_now, TAKEOVER).await;
    // Once the log is quiet, every frontend follows the last published tree.
    wait_until_all_published(&pg).await;
    let final_size = pg.psql("SELECT published_size FROM bintrail_log");
    let mut last = (0, bintrail_tlog::hash::empty_tree_hash());
    for url in &urls_now {
        last = checkpoint_following(url, &vkey, || final_size.clone()).await;
    }
    assert_eq!(
        pg.psql("SELECT count(*) FROM bintrail_entries"),
        final_size,
        "one row per entry"
    );
    let mut records = Vec::new();
    for (i, (name, sum, index, proof)) in acked.iter().enumerate() {
        let proof = TlogProof::parse(proof.as_bytes()).expect("a tlog-proof");
        assert_eq!(proof.index, *index, "{name}");
        let url = &urls_now[i % urls_now.len()];
        let entry = lookup_at(url, name, *index).await.extra.expect("the entry");
        let text = String::from_utf8_lossy(&entry);
        assert!(
            text.contains(sum.as_str()) && text.contains(name.as_str()),
            "{text}"
        );
        records.push((*index, entry));
    }

    // golang.org/x/mod's tlog, over the tiles a frontend that does not sequence serves.
    let checked = go_verify(
        &urls_now[(latest + 1) % urls_now.len()],
        &vkey,
        last,
        &seen.lock().unwrap(),
        &records,
    );
    assert!(checked > 3, "only {checked} distinct checkpoints seen");
    eprintln!(
        "x/mod's tlog: tree of {} entries from a frontend's tiles, {checked} distinct checkpoints \
         served during the run are prefixes of it, {} acknowledged entries at their indexes",
        last.0,
        acked.len()
    );

    // A conflicting digest is refused by every frontend, and of two different digests for
    // one new file sent at once to two frontends exactly one is logged.
    let (name, _, index, _) = &acked[0];
    for url in &urls_now {
        let r = client()
            .post(format!("{url}/add"))
            .bearer_auth(&token)
            .json(&json!({"filename": name, "checksum": checksum("not it")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{url}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["index"].as_u64(), Some(*index), "{body}");
    }
    let contested = wheel("contested", "1.0");
    let tries = urls_now.iter().take(2).enumerate().map(|(i, url)| {
        let (url, token, contested) = (url.clone(), token.clone(), contested.clone());
        async move {
            let deadline = Instant::now() + TAKEOVER;
            loop {
                let r = client()
                    .post(format!("{url}/add"))
                    .bearer_auth(&token)
                    .json(&json!({"filename": contested, "checksum": checksum(&format!("digest {i}"))}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body: Value = r.json().await.unwrap();
                if status != StatusCode::SERVICE_UNAVAILABLE || Instant::now() > deadline {
                    return (status, body);
                }
            }
        }
    });
    let answers = futures::future::join_all(tries).await;
    let mut statuses: Vec<StatusCode> = answers.iter().map(|(s, _)| *s).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{answers:?}"
    );
    assert_eq!(answers[0].1["index"], answers[1].1["index"], "{answers:?}");

    // A bulk append through a frontend that does not sequence is forwarded too.
    let follower = &urls_now[(latest + 1) % urls_now.len()];
    let lines: String = (0..3)
        .map(|i| {
            let name = wheel(&format!("bulkvia{i}"), "1.0");
            format!(
                "{}\n",
                json!({"filename": name, "checksum": checksum(&name)})
            )
        })
        .collect();
    let deadline = Instant::now() + TAKEOVER;
    let text = loop {
        let r = client()
            .post(format!("{follower}/admin/bulk/append"))
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(lines.clone())
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break r.text().await.unwrap();
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "bulk through {follower} refused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let logged = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "result" && v["result"]["status"] == "logged")
        .count();
    assert_eq!(logged, 3, "{text}");
}
