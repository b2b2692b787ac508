//! The log side against in-process bintrail witnesses: three witnesses, quorum
//! two, witnesses going down, misbehaving and coming back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bintrail_client::cosign::quorum::{QuorumCosigner, QuorumError};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, Signer};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::tree::{prove_tree, stored_hashes, tree_hash};
use bintrail_witness::Witness;
use bintrail_witness::store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const ORIGIN: &str = "example.com/quorum-test";

/// An in-process witness on a fixed port that can be stopped and restarted
/// with the same state.
struct TestWitness {
    witness: Arc<Witness>,
    addr: std::net::SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl TestWitness {
    async fn start(seed: u8, log: &Signer) -> Self {
        let store = Arc::new(Store::open_in_memory().expect("store"));
        store
            .add_log(ORIGIN, &log.verifier().to_string())
            .expect("add log");
        let key = Signer::generate(
            &format!("witness.example/w{seed}"),
            KeyType::CosignatureV1,
            [seed; 32],
        )
        .expect("key");
        let witness = Arc::new(Witness::new(store, key).expect("witness"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut w = Self {
            witness,
            addr,
            task: None,
        };
        w.serve(listener);
        w
    }

    fn serve(&mut self, listener: TcpListener) {
        let router = bintrail_witness::http::router(self.witness.clone());
        self.task = Some(tokio::spawn(async move {
            let _ = bintrail_witness::http::serve(listener, router).await;
        }));
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind same port");
        self.serve(listener);
    }

    fn policy_line(&self, name: &str) -> String {
        format!(
            "witness {name} {} http://{}\n",
            self.witness.verifier(),
            self.addr
        )
    }
}

impl Drop for TestWitness {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Log {
    signer: Signer,
    hashes: Vec<Hash>,
    size: u64,
}

impl Log {
    fn grow(&mut self, n: u64) -> (Checkpoint, Vec<u8>) {
        for _ in 0..n {
            let new = stored_hashes(self.size, &self.size.to_be_bytes(), &self.hashes).expect("h");
            self.hashes.extend(new);
            self.size += 1;
        }
        let root = tree_hash(self.size, &self.hashes).expect("root");
        let cp: Checkpoint = format!("{ORIGIN}\n{}\n{root}\n", self.size)
            .parse()
            .expect("cp");
        let note = Note::sign(&cp.to_string(), &[&self.signer])
            .expect("sign")
            .to_bytes();
        (cp, note)
    }
}

#[tokio::test]
async fn quorum_of_two_out_of_three() {
    let signer = Signer::generate(ORIGIN, KeyType::Ed25519, [1; 32]).expect("log key");
    let mut witnesses = [
        TestWitness::start(11, &signer).await,
        TestWitness::start(12, &signer).await,
        TestWitness::start(13, &signer).await,
    ];
    let mut text = format!("log {}\n", signer.verifier());
    for (i, w) in witnesses.iter().enumerate() {
        text.push_str(&w.policy_line(&format!("w{i}")));
    }
    text.push_str("group main 2 w0 w1 w2\nquorum main\n");
    let policy: Policy = text.parse().expect("policy");
    let cosigner = QuorumCosigner::new(policy.clone(), Duration::from_secs(2)).expect("cosigner");
    let mut log = Log {
        signer,
        hashes: Vec::new(),
        size: 0,
    };
    let mut published = 0;

    // All three up: the published note carries three valid cosignatures.
    let (cp, note) = log.grow(5);
    let hashes = log.hashes.clone();
    let prover = move |old: u64, new: u64| prove_tree(new, old, &hashes).map_err(|e| e.to_string());
    let out = cosigner
        .cosign(&note, &cp, published, &prover)
        .await
        .expect("quorum");
    let verified = policy.verify_checkpoint(&out).expect("policy accepts");
    assert_eq!(verified.witnesses.len(), 3);
    published = cp.size;

    // One down: still published, with two cosignatures.
    witnesses[0].stop();
    let (cp, note) = log.grow(3);
    let hashes = log.hashes.clone();
    let prover = move |old: u64, new: u64| prove_tree(new, old, &hashes).map_err(|e| e.to_string());
    let out = cosigner
        .cosign(&note, &cp, published, &prover)
        .await
        .expect("quorum");
    assert_eq!(
        policy.verify_checkpoint(&out).expect("accepts").witnesses,
        ["w1", "w2"]
    );
    published = cp.size;

    // Two down: refused, within the timeout.
    witnesses[1].stop();
    let (cp, note) = log.grow(4);
    let hashes = log.hashes.clone();
    let prover = move |old: u64, new: u64| prove_tree(new, old, &hashes).map_err(|e| e.to_string());
    let started = Instant::now();
    let err = cosigner
        .cosign(&note, &cp, published, &prover)
        .await
        .expect_err("no quorum");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the timeout"
    );
    assert!(matches!(err, QuorumError::QuorumNotMet { .. }), "{err}");

    // w0 returns (it last saw size 5, the others are further on): the 409
    // protocol brings it up to date and the quorum is met again.
    witnesses[0].restart().await;
    let (cp, note) = log.grow(1);
    let hashes = log.hashes.clone();
    let prover = move |old: u64, new: u64| prove_tree(new, old, &hashes).map_err(|e| e.to_string());
    let out = cosigner
        .cosign(&note, &cp, published, &prover)
        .await
        .expect("recovered");
    assert_eq!(
        policy.verify_checkpoint(&out).expect("accepts").witnesses,
        ["w0", "w2"]
    );
}

#[tokio::test]
async fn cosignatures_by_the_wrong_key_do_not_count() {
    let signer = Signer::generate(ORIGIN, KeyType::Ed25519, [1; 32]).expect("log key");
    let honest = TestWitness::start(21, &signer).await;
    // A witness that answers with a valid cosignature from a key the policy
    // does not list under its name.
    let impostor = TestWitness::start(22, &signer).await;
    let listed =
        Signer::generate("witness.example/w22", KeyType::CosignatureV1, [99; 32]).expect("key");
    let text = format!(
        "log {}\n{}witness liar {} http://{}\ngroup both all honest liar\nquorum both\n",
        signer.verifier(),
        honest.policy_line("honest"),
        listed.verifier(),
        impostor.addr
    );
    let policy: Policy = text.parse().expect("policy");
    let cosigner = QuorumCosigner::new(policy, Duration::from_secs(2)).expect("cosigner");
    let mut log = Log {
        signer,
        hashes: Vec::new(),
        size: 0,
    };
    let (cp, note) = log.grow(2);
    let prover = |_: u64, _: u64| Err::<Vec<Hash>, _>("not needed".to_owned());
    let err = cosigner
        .cosign(&note, &cp, 0, &prover)
        .await
        .expect_err("liar is not counted");
    let QuorumError::QuorumNotMet { .. } = err else {
        panic!("unexpected {err}");
    };
    let detail = err.to_string();
    assert!(detail.contains("honest: cosigned"), "{detail}");
    assert!(detail.contains("liar: no valid cosignature"), "{detail}");
}

#[tokio::test]
async fn policy_without_urls_is_refused_and_quorum_none_asks_no_one() {
    let signer = Signer::generate(ORIGIN, KeyType::Ed25519, [1; 32]).expect("log key");
    let w = Signer::generate("witness.example/x", KeyType::CosignatureV1, [3; 32]).expect("key");
    let text = format!(
        "log {}\nwitness x {}\nquorum x\n",
        signer.verifier(),
        w.verifier()
    );
    let err = QuorumCosigner::new(text.parse().expect("policy"), Duration::from_secs(1));
    assert!(matches!(err, Err(QuorumError::Unreachable { .. })));

    let none: Policy = format!("log {}\nquorum none\n", signer.verifier())
        .parse()
        .expect("policy");
    let cosigner = QuorumCosigner::new(none, Duration::from_secs(1)).expect("cosigner");
    let mut log = Log {
        signer,
        hashes: Vec::new(),
        size: 0,
    };
    let (cp, note) = log.grow(1);
    let prover = |_: u64, _: u64| Err::<Vec<Hash>, _>("not needed".to_owned());
    assert_eq!(
        cosigner.cosign(&note, &cp, 0, &prover).await.expect("none"),
        note
    );
}

/// Serves a fixed answer on /add-checkpoint after `delay`.
async fn fake_witness(
    status: u16,
    content_type: &'static str,
    body: &'static str,
    delay: Duration,
) -> String {
    use axum::http::StatusCode;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move || async move {
            tokio::time::sleep(delay).await;
            (
                StatusCode::from_u16(status).expect("status"),
                [("content-type", content_type)],
                body,
            )
        }),
    );
    tokio::spawn(async move {
        let _ = bintrail_witness::http::serve(listener, router).await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn garbage_slow_and_lying_witnesses_never_count() {
    use bintrail_client::cosign::gather::{Gatherer, WitnessEndpoint, WitnessFailure};
    let signer = Signer::generate(ORIGIN, KeyType::Ed25519, [1; 32]).expect("log key");
    let key = |i: u8| {
        Signer::generate(
            &format!("witness.example/f{i}"),
            KeyType::CosignatureV1,
            [i; 32],
        )
        .expect("key")
        .verifier()
    };
    let cases = [
        (
            fake_witness(
                200,
                "text/plain",
                "\u{2014} witness.example/f1 AAAA\n",
                Duration::ZERO,
            )
            .await,
            "garbage 200",
        ),
        (
            fake_witness(200, "text/plain", "hello", Duration::ZERO).await,
            "not a signature",
        ),
        (
            fake_witness(409, "text/plain", "5\n", Duration::ZERO).await,
            "409 without the size type",
        ),
        (
            fake_witness(409, "text/x.tlog.size", "05\n", Duration::ZERO).await,
            "non-canonical size",
        ),
        (
            fake_witness(409, "text/x.tlog.size", "1000\n", Duration::ZERO).await,
            "witness ahead",
        ),
        (
            fake_witness(500, "text/plain", "oops", Duration::ZERO).await,
            "server error",
        ),
        (
            fake_witness(200, "text/plain", "", Duration::from_secs(30)).await,
            "slow",
        ),
        ("http://127.0.0.1:1".to_owned(), "nothing listening"),
    ];
    let endpoints: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (url, _))| WitnessEndpoint {
            verifier: key(i as u8 + 1),
            url: url.clone(),
        })
        .collect();
    let gatherer = Gatherer::new(endpoints, Duration::from_secs(1));
    let mut log = Log {
        signer,
        hashes: Vec::new(),
        size: 0,
    };
    let (cp, note) = log.grow(3);
    let note = Note::parse(&note).expect("note");
    let prover = |_: u64, _: u64| Ok::<Vec<Hash>, String>(Vec::new());
    let started = Instant::now();
    let got = gatherer.gather(&cp, &note, 0, &prover).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "all asked in parallel, bounded"
    );
    assert!(got.cosignatures.is_empty());
    assert_eq!(got.failures.len(), cases.len());
    let failure = |i: usize| &got.failures[i].1;
    assert!(
        matches!(failure(0), WitnessFailure::BadCosignature(_)),
        "{:?}",
        failure(0)
    );
    assert!(
        matches!(failure(1), WitnessFailure::BadCosignature(_)),
        "{:?}",
        failure(1)
    );
    assert!(
        matches!(failure(2), WitnessFailure::MalformedConflict(_)),
        "{:?}",
        failure(2)
    );
    assert!(
        matches!(failure(3), WitnessFailure::MalformedConflict(_)),
        "{:?}",
        failure(3)
    );
    assert!(
        matches!(
            failure(4),
            WitnessFailure::WitnessAhead {
                witness_size: 1000,
                size: 3
            }
        ),
        "{:?}",
        failure(4)
    );
    assert!(
        matches!(failure(5), WitnessFailure::Status { status: 500, .. }),
        "{:?}",
        failure(5)
    );
    assert!(
        matches!(failure(6), WitnessFailure::Timeout(_)),
        "{:?}",
        failure(6)
    );
    assert!(
        matches!(failure(7), WitnessFailure::Transport(_)),
        "{:?}",
        failure(7)
    );
}
