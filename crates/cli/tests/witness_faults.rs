//! Issue 8, witness faults seen from the log: `bintrail serve --policy` whose
//! witnesses misbehave. One real `bintrail witness serve` (`h`) and two fake
//! witnesses written here (`f1`, `f2`) whose behaviour the test switches; any
//! two of the three make a quorum.
//!
//! In each phase the fault leaves at most one valid cosigner: a witness killed,
//! slow (answering after the log's round timeout), answering garbage (a 200
//! that is no cosignature, JSON, a truncated line, a 409 of the wrong content
//! type), or answering a well-formed cosignature made with a wrong key or for
//! another checkpoint. Throughout, a watcher fetches `GET /checkpoint` and
//! every checkpoint the log publishes (there and in add answers) must meet the
//! policy with valid cosignatures and carry no other signature line; while the
//! fault lasts adds answer 503 with their index and `Retry-After` and nothing
//! new is published; once the witnesses behave again the log publishes and the
//! same add returns its proof. At the end every acknowledged entry is provable.
//!
//! `crates/witness/tests/quorum.rs` classifies each bad answer in-process (the
//! gatherer); `witnessed_log.rs` covers witnesses stopping and coming back.
//! This file checks what a client of the log sees under each bad answer.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint};
use bintrail_tlog::cosignature::cosign;
use bintrail_tlog::hash::leaf_hash;
use bintrail_tlog::note::{KeyType, Note, Signer};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::tree::verify_record;
use bintrail_witness::request::AddCheckpointRequest;
use common::witnesses::{WitnessNode, log_keygen, p};
use common::{LogServer, checksum, client, wheel};
use serde_json::{Value, json};

const ORIGIN: &str = "example.com/witness-faults";
/// The log's `--add-timeout`; each witness round gets half of it.
const ADD_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a slow fake waits before answering: well past the 1 s round.
const SLOW: Duration = Duration::from_secs(5);

/// What a fake witness answers to `POST /add-checkpoint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// A valid cosignature of the checkpoint, by its own key.
    Honest,
    /// The honest answer, after [`SLOW`].
    Slow,
    /// 200 with a text body that is no signature line.
    NotACosignature,
    /// 200 with a JSON body carrying the signature.
    Json,
    /// 200 with the first half of its signature line.
    Truncated,
    /// 409 with a size but `text/plain`, not `text/x.tlog.size`.
    ConflictWrongType,
    /// A well-formed cosignature under its name, made with another key.
    WrongKey,
    /// A cosignature by its own key, of another checkpoint (one more entry).
    OtherCheckpoint,
}

/// A fake witness on 127.0.0.1:0; dropping it does not stop the server task,
/// which ends with the test's runtime.
struct FakeWitness {
    key: Signer,
    behaviour: Arc<Mutex<Behaviour>>,
    url: String,
}

struct FakeState {
    key: Signer,
    impostor: Signer,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl FakeWitness {
    async fn start(n: u8) -> FakeWitness {
        let name = format!("witness.example/f{n}");
        let key = Signer::generate(&name, KeyType::CosignatureV1, [n; 32]).expect("key");
        // Same name, another key: its lines look right but cannot verify.
        let impostor = Signer::generate(&name, KeyType::CosignatureV1, [n + 100; 32]).expect("key");
        let behaviour = Arc::new(Mutex::new(Behaviour::Honest));
        let state = Arc::new(FakeState {
            key: key.clone(),
            impostor,
            behaviour: behaviour.clone(),
        });
        let router = axum::Router::new()
            .route("/add-checkpoint", axum::routing::post(answer))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeWitness {
            key,
            behaviour,
            url,
        }
    }

    fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().expect("behaviour") = behaviour;
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn line(key: &Signer, checkpoint: &Checkpoint) -> String {
    format!("{}\n", cosign(key, checkpoint, now()).expect("cosign"))
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn answer(State(state): State<Arc<FakeState>>, body: axum::body::Bytes) -> Response {
    let behaviour = *state.behaviour.lock().expect("behaviour");
    // The log is trusted here: the fake checks nothing it sends.
    let request = AddCheckpointRequest::parse(&body).expect("the log sends a valid request");
    let note = Note::parse(&request.checkpoint).expect("a note");
    let checkpoint: Checkpoint = note.text.parse().expect("a checkpoint");
    let text = "text/plain; charset=utf-8";
    match behaviour {
        Behaviour::Honest => reply(StatusCode::OK, text, line(&state.key, &checkpoint)),
        Behaviour::Slow => {
            tokio::time::sleep(SLOW).await;
            reply(StatusCode::OK, text, line(&state.key, &checkpoint))
        }
        Behaviour::NotACosignature => reply(StatusCode::OK, text, "cosigned, trust me\n".into()),
        Behaviour::Json => reply(
            StatusCode::OK,
            "application/json",
            json!({"cosignature": line(&state.key, &checkpoint)}).to_string(),
        ),
        Behaviour::Truncated => {
            let full = line(&state.key, &checkpoint);
            reply(StatusCode::OK, text, full[..full.len() / 2].to_owned())
        }
        Behaviour::ConflictWrongType => reply(
            StatusCode::CONFLICT,
            text,
            format!("{}\n", request.old_size),
        ),
        Behaviour::WrongKey => reply(StatusCode::OK, text, line(&state.impostor, &checkpoint)),
        Behaviour::OtherCheckpoint => {
            let other = Checkpoint {
                size: checkpoint.size + 1,
                root_hash: leaf_hash(checkpoint.root_hash.0.as_slice()),
                ..checkpoint
            };
            reply(StatusCode::OK, text, line(&state.key, &other))
        }
    }
}

/// The log, its honest witness, the two fakes and the policy a verifier uses.
struct Deployment {
    _dir: tempfile::TempDir,
    honest: WitnessNode,
    fakes: [FakeWitness; 2],
    log: LogServer,
    policy: Arc<Policy>,
}

async fn deploy() -> Deployment {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log_key, log_vkey) = log_keygen(dir.path(), ORIGIN);
    let honest = WitnessNode::new(dir.path(), 0, &log_vkey);
    let fakes = [FakeWitness::start(1).await, FakeWitness::start(2).await];
    let mut text = format!("witness h {} http://{}\n", honest.vkey, honest.addr);
    for (n, fake) in fakes.iter().enumerate() {
        text.push_str(&format!(
            "witness f{} {} {}\n",
            n + 1,
            fake.key.verifier(),
            fake.url
        ));
    }
    text.push_str("group two-of-three 2 h f1 f2\nquorum two-of-three\n");
    let policy_file = dir.path().join("policy");
    std::fs::write(&policy_file, &text).expect("write policy");
    let log = LogServer::start(&[
        "--private-key",
        p(&log_key),
        "--policy",
        p(&policy_file),
        "--add-timeout",
        &format!("{}s", ADD_TIMEOUT.as_secs()),
    ]);
    let log_line = std::fs::read_to_string(&log_vkey).expect("vkey");
    let policy: Policy = format!("log {}\n{text}", log_line.trim())
        .parse()
        .expect("policy");
    Deployment {
        _dir: dir,
        honest,
        fakes,
        log,
        policy: Arc::new(policy),
    }
}

/// Checks a checkpoint note the log published: it meets the policy, and every
/// signature line on it is the log's or a valid cosignature of a policy
/// witness (nothing a misbehaving witness sent is passed on). Returns the size
/// and the witnesses that cosigned.
///
/// The one exception is the empty tree of a new log, which the log publishes
/// signed only by itself (by design, `crates/log/src/recovery.rs`: it commits
/// to nothing, so it can show no split view).
fn check_published(policy: &Policy, note: &[u8], seen_at: &str) -> (u64, Vec<String>) {
    if let Ok((empty, _)) = open_checkpoint(note, &policy.logs[0].verifier)
        && empty.size == 0
    {
        return (0, Vec::new());
    }
    let verified = policy.verify_checkpoint(note).unwrap_or_else(|e| {
        panic!(
            "{seen_at}: a published checkpoint misses the quorum ({e}):\n{}",
            String::from_utf8_lossy(note)
        )
    });
    assert_eq!(
        verified.note.signatures.len(),
        1 + verified.witnesses.len(),
        "{seen_at}: a signature line that is not a valid cosignature:\n{}",
        String::from_utf8_lossy(note)
    );
    assert!(verified.witnesses.len() >= 2, "{seen_at}: {verified:?}");
    (verified.checkpoint.size, verified.witnesses)
}

/// Fetches `GET /checkpoint` every 50 ms until stopped, checking each with
/// [`check_published`] and that the size never goes backwards.
struct Watcher {
    stop: Arc<AtomicBool>,
    checked: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    fn start(d: &Deployment) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let checked = Arc::new(AtomicU64::new(0));
        let url = d.log.at("/checkpoint");
        let policy = d.policy.clone();
        let (stop2, checked2) = (stop.clone(), checked.clone());
        let task = tokio::spawn(async move {
            let mut last = 0;
            while !stop2.load(Ordering::SeqCst) {
                let note = common::get_bytes(&url).await;
                let (size, _) = check_published(&policy, &note, "GET /checkpoint");
                assert!(size >= last, "the checkpoint went from {last} to {size}");
                last = size;
                checked2.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Watcher {
            stop,
            checked,
            task,
        }
    }

    /// Stops the watcher; fails the test if any check failed. Returns how many
    /// checkpoints it checked.
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.task.await {
            std::panic::resume_unwind(e.into_panic());
        }
        self.checked.load(Ordering::SeqCst)
    }
}

async fn published_size(d: &Deployment) -> u64 {
    let note = common::get_bytes(&d.log.at("/checkpoint")).await;
    check_published(&d.policy, &note, "GET /checkpoint").0
}

/// Checks a 200 add answer: its checkpoint is published properly and its proof
/// binds the entry. Returns its index.
fn check_logged(d: &Deployment, name: &str, body: &Value) -> u64 {
    let note = BASE64
        .decode(body["checkpoint"].as_str().expect("checkpoint"))
        .expect("base64");
    check_published(&d.policy, &note, name);
    let checkpoint: Checkpoint = Note::parse(&note)
        .expect("note")
        .text
        .parse()
        .expect("checkpoint");
    let index = body["index"].as_u64().expect("index");
    let entry = format!(
        "pypi-transparency/v1\n{}\n{}",
        checksum(name),
        wheel(name, "1.0")
    );
    verify_record(
        &common::inclusion_proof(body),
        checkpoint.size,
        checkpoint.root_hash,
        index,
        leaf_hash(entry.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("{name}: inclusion proof: {e}"));
    index
}

/// Under a fault: the add answers 503 with its index and `Retry-After` within
/// the add timeout, and the published size stays put for several rounds.
/// Returns the index the 503 named.
async fn refused_while_faulty(d: &Deployment, fault: &str, name: &str) -> u64 {
    let before = published_size(d).await;
    let started = Instant::now();
    let answer = d.log.add_wheel(name).await;
    let waited = started.elapsed();
    assert_eq!(
        answer.status().as_u16(),
        503,
        "{fault}: {name} was answered"
    );
    assert!(
        answer.headers().contains_key(header::RETRY_AFTER),
        "{fault}: 503 without Retry-After"
    );
    let body: Value = answer.json().await.expect("JSON 503");
    assert!(body["error"].is_string(), "{fault}: {body}");
    let index = body["index"]
        .as_u64()
        .unwrap_or_else(|| panic!("{fault}: the 503 names no index: {body}"));
    assert!(
        index >= before,
        "{fault}: index {index} below the tree {before}"
    );
    // The add timeout, plus slack for a loaded machine.
    assert!(
        waited < ADD_TIMEOUT + Duration::from_secs(4),
        "{fault}: the 503 took {waited:?}"
    );
    // Several more rounds: still nothing new is published.
    tokio::time::sleep(ADD_TIMEOUT).await;
    assert_eq!(
        published_size(d).await,
        before,
        "{fault}: published without a quorum"
    );
    index
}

/// After the fault: retrying the same add gets its proof at the same index.
async fn logged_after(d: &Deployment, fault: &str, name: &str, index: u64) -> Duration {
    let started = Instant::now();
    loop {
        let answer = d.log.add_wheel(name).await;
        let status = answer.status().as_u16();
        if status == 200 {
            let body: Value = answer.json().await.expect("json");
            assert_eq!(check_logged(d, name, &body), index, "{fault}: {name} moved");
            return started.elapsed();
        }
        assert_eq!(status, 503, "{fault}: {name} while recovering");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{fault}: publishing did not resume within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `POST /admin/bulk/append` of `names`; checks the checkpoint record with
/// [`check_published`] and returns the result records, in order.
async fn bulk(d: &Deployment, names: &[&str]) -> Vec<Value> {
    let body: String = names
        .iter()
        .map(|name| {
            format!(
                "{}\n",
                json!({"filename": wheel(name, "1.0"), "checksum": checksum(name)})
            )
        })
        .collect();
    let answer = d.log.post_bulk(body).await;
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.expect("body");
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(records[0]["type"], "checkpoint", "{text}");
    let note = BASE64
        .decode(records[0]["checkpoint"].as_str().expect("checkpoint"))
        .expect("base64");
    check_published(&d.policy, &note, "bulk append checkpoint record");
    // A result without its own checkpoint is proved against the header's.
    let results: Vec<Value> = records
        .iter()
        .filter(|r| r["type"] == "result")
        .map(|r| {
            let mut result = r["result"].clone();
            if result.get("checkpoint").is_none() {
                result["checkpoint"] = records[0]["checkpoint"].clone();
            }
            result
        })
        .collect();
    assert_eq!(results.len(), names.len(), "{text}");
    results
}

#[tokio::test]
async fn misbehaving_witnesses_never_make_a_quorum_and_the_log_recovers() {
    use Behaviour::*;
    let mut d = deploy().await;
    let watcher = Watcher::start(&d);
    let mut logged: BTreeMap<String, u64> = BTreeMap::new();

    // All behave: published with valid cosignatures.
    let answer = d.log.add_wheel("first").await;
    assert_eq!(answer.status().as_u16(), 200);
    let index = check_logged(&d, "first", &answer.json().await.expect("json"));
    logged.insert("first".into(), index);

    // Each fault leaves only `h` cosigning validly; then the fakes behave again.
    let faults = [
        ("slow", Slow, Slow),
        ("garbage", NotACosignature, Truncated),
        ("wrong content type", Json, ConflictWrongType),
        ("wrong key", WrongKey, OtherCheckpoint),
    ];
    let mut figures = Vec::new();
    for (fault, f1, f2) in faults {
        d.fakes[0].set(f1);
        d.fakes[1].set(f2);
        let name = fault.replace(' ', "_");
        let index = refused_while_faulty(&d, fault, &name).await;
        // A bulk append meanwhile: each line "pending" with its index, and its
        // checkpoint record the last published one.
        let bulk_names = [format!("{name}_bulk1"), format!("{name}_bulk2")];
        let bulk_names: Vec<&str> = bulk_names.iter().map(String::as_str).collect();
        let pending: Vec<u64> = bulk(&d, &bulk_names)
            .await
            .iter()
            .map(|r| {
                assert_eq!(r["status"], "pending", "{fault}: bulk line {r}");
                r["index"].as_u64().expect("pending index")
            })
            .collect();
        d.fakes[0].set(Honest);
        d.fakes[1].set(Honest);
        figures.push((fault, logged_after(&d, fault, &name, index).await));
        logged.insert(name, index);
        // The same bulk append again: logged at the same indexes, with proofs.
        for ((result, bulk_name), index) in bulk(&d, &bulk_names)
            .await
            .iter()
            .zip(&bulk_names)
            .zip(pending)
        {
            assert_eq!(result["status"], "logged", "{fault}: {result}");
            assert_eq!(
                check_logged(&d, bulk_name, result),
                index,
                "{fault}: {bulk_name} moved"
            );
            logged.insert((*bulk_name).to_owned(), index);
        }
    }

    // The real witness killed, one fake lying: one valid cosigner. Then the
    // witness restarts from its database and the quorum is met again.
    d.honest.stop();
    d.fakes[1].set(WrongKey);
    let index = refused_while_faulty(&d, "witness killed", "killed").await;
    d.honest.start();
    figures.push((
        "witness killed",
        logged_after(&d, "witness killed", "killed", index).await,
    ));
    logged.insert("killed".into(), index);
    d.fakes[1].set(Honest);

    // Every acknowledged entry is provable against the newest checkpoint.
    for (name, index) in &logged {
        let answer = client()
            .get(d.log.at(&format!("/lookup/pypi/{}", wheel(name, "1.0"))))
            .send()
            .await
            .expect("lookup");
        assert_eq!(answer.status().as_u16(), 200, "{name}");
        let proof = TlogProof::parse(&answer.bytes().await.expect("body")).expect("proof");
        assert_eq!(proof.index, *index, "{name}");
        let entry = format!(
            "pypi-transparency/v1\n{}\n{}",
            checksum(name),
            wheel(name, "1.0")
        );
        proof
            .verify(&d.policy, leaf_hash(entry.as_bytes()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let checked = watcher.finish().await;
    eprintln!(
        "witness_faults: {checked} published checkpoints checked; recovery after each fault: {figures:?}"
    );
    assert!(checked > 20, "the watcher ran: {checked}");
    assert!(
        !d.log.stderr.lock().expect("stderr").contains("panicked"),
        "the log panicked"
    );
}
