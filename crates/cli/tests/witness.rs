//! End to end: `bintrail witness` as a real process on 127.0.0.1, driven over
//! HTTP with requests built from crates/tlog, as C2SP tlog-witness describes.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::Duration;

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::cosignature::verify_cosignature;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, Signer, Verifier};
use bintrail_tlog::tree::{prove_tree, stored_hashes, tree_hash};
use bintrail_witness::request::AddCheckpointRequest;
use common::witnesses::p as path_str;

const ORIGIN: &str = "example.com/witness-e2e";

/// A `bintrail witness serve` child, killed on drop.
struct WitnessProcess {
    child: Child,
    url: String,
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary witness setup: database, key, and a log it witnesses.
struct Setup {
    dir: tempfile::TempDir,
    witness_key: Signer,
    log: TestLog,
}

/// An in-memory log that signs checkpoints with a real key.
struct TestLog {
    signer: Signer,
    hashes: Vec<Hash>,
    size: u64,
}

impl TestLog {
    fn new(origin: &str, seed: u8) -> Self {
        Self {
            signer: Signer::generate(origin, KeyType::Ed25519, [seed; 32]).expect("log key"),
            hashes: Vec::new(),
            size: 0,
        }
    }

    /// The log of `ORIGIN` under key seed 1 with `size` entries `forked <i>`: a fork of
    /// any other history of that log.
    fn forked(size: u64) -> Self {
        let mut fork = TestLog::new(ORIGIN, 1);
        for i in 0..size {
            let new = stored_hashes(i, format!("forked {i}").as_bytes(), &fork.hashes).expect("h");
            fork.hashes.extend(new);
            fork.size += 1;
        }
        fork
    }

    fn grow_to(&mut self, size: u64) {
        while self.size < size {
            let entry = format!("entry {}", self.size);
            let new = stored_hashes(self.size, entry.as_bytes(), &self.hashes).expect("hashes");
            self.hashes.extend(new);
            self.size += 1;
        }
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        let root = tree_hash(size, &self.hashes).expect("root");
        checkpoint_of(self.signer.name(), size, root)
    }

    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        prove_tree(new, old, &self.hashes).expect("proof")
    }

    fn sign(&self, cp: &Checkpoint) -> Vec<u8> {
        Note::sign(&cp.to_string(), &[&self.signer])
            .expect("sign")
            .to_bytes()
    }

    /// The request body for `old -> new` with a correct proof.
    fn request(&self, old: u64, new: u64) -> Vec<u8> {
        body(
            old,
            &self.proof(old, new),
            &self.sign(&self.checkpoint(new)),
        )
    }
}

fn checkpoint_of(origin: &str, size: u64, root: Hash) -> Checkpoint {
    format!("{origin}\n{size}\n{root}\n")
        .parse()
        .expect("checkpoint")
}

fn body(old: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    AddCheckpointRequest {
        old_size: old,
        proof: proof.to_vec(),
        checkpoint: note.to_vec(),
    }
    .to_bytes()
}

fn bintrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(args)
        .output()
        .expect("run bintrail")
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // The witness key comes from `bintrail keygen --witness`, as operators make it.
        let out = bintrail(&[
            "keygen",
            "--witness",
            "--origin",
            "witness.example/e2e",
            "--private-key",
            path_str(&dir.path().join("witness.key")),
            "--public-key",
            path_str(&dir.path().join("witness.vkey")),
        ]);
        assert!(out.status.success(), "keygen: {out:?}");
        let private = std::fs::read_to_string(dir.path().join("witness.key")).expect("key");
        let witness_key = Signer::from_private_key(private.trim()).expect("witness key");
        let vkey = std::fs::read_to_string(dir.path().join("witness.vkey")).expect("vkey");
        assert_eq!(vkey.trim(), witness_key.verifier().to_string());
        assert_eq!(witness_key.key_type(), KeyType::CosignatureV1);
        let log = TestLog::new(ORIGIN, 1);
        std::fs::write(
            dir.path().join("log.vkey"),
            log.signer.verifier().to_string(),
        )
        .expect("write vkey");
        let setup = Self {
            dir,
            witness_key,
            log,
        };
        let out = bintrail(&[
            "witness",
            "add-log",
            "--db",
            path_str(&setup.db()),
            "--public-key",
            path_str(&setup.dir.path().join("log.vkey")),
        ]);
        assert!(out.status.success(), "add-log: {out:?}");
        setup
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("witness.db")
    }

    fn start(&self) -> WitnessProcess {
        let (child, addr) = common::spawn_witness(
            &self.db(),
            &self.dir.path().join("witness.key"),
            "127.0.0.1:0",
        );
        let url = format!("http://{addr}");
        WitnessProcess { child, url }
    }

    fn witness_verifier(&self) -> Verifier {
        self.witness_key.verifier()
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn post(witness: &WitnessProcess, body: Vec<u8>) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{}/add-checkpoint", witness.url))
        .body(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.bytes().await.expect("body").to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// Checks a 200 answer carries a valid cosignature by `witness` on `cp`.
fn assert_cosigned(answer: &Answer, witness: &Verifier, cp: &Checkpoint) {
    assert_eq!(
        answer.status,
        200,
        "body: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let mut note = cp.to_string().into_bytes();
    note.push(b'\n');
    note.extend_from_slice(&answer.body);
    let note = Note::parse(&note).expect("answer is signature lines");
    let sig = note
        .signatures
        .iter()
        .find(|s| s.name == witness.name() && s.key_id == witness.key_id())
        .expect("a line from the witness key");
    let timestamp = verify_cosignature(witness, cp, sig).expect("cosignature verifies");
    assert!(timestamp > 1_600_000_000, "current time, not {timestamp}");
}

fn assert_conflict(answer: &Answer, size: u64) {
    assert_eq!(answer.status, 409);
    assert_eq!(answer.content_type, "text/x.tlog.size");
    assert_eq!(answer.body, format!("{size}\n").into_bytes());
}

#[tokio::test]
async fn cosignature_verifies_and_state_survives_restart() {
    let mut setup = Setup::new();
    setup.log.grow_to(9);
    let witness = setup.start();
    let answer = post(&witness, setup.log.request(0, 5)).await;
    assert_cosigned(&answer, &setup.witness_verifier(), &setup.log.checkpoint(5));
    drop(witness);

    let witness = setup.start();
    // The restarted witness still knows size 5: the 409 size protocol says so.
    assert_conflict(&post(&witness, setup.log.request(0, 9)).await, 5);
    let answer = post(&witness, setup.log.request(5, 9)).await;
    assert_cosigned(&answer, &setup.witness_verifier(), &setup.log.checkpoint(9));

    let list = bintrail(&["witness", "list", "--db", path_str(&setup.db())]);
    let text = String::from_utf8_lossy(&list.stdout);
    let root = setup.log.checkpoint(9).root_hash.to_string();
    assert!(
        text.contains(&format!("{ORIGIN}\t9\t{root}")),
        "list: {text}"
    );
}

#[tokio::test]
async fn monitoring_endpoint_serves_the_cosigned_checkpoint() {
    let mut setup = Setup::new();
    setup.log.grow_to(3);
    let witness = setup.start();
    // tlog-witness: the origin hash is SHA-256 of the origin, lowercase hex.
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ORIGIN.as_bytes()));
    let url = format!("{}/{hash}/checkpoint", witness.url);
    let before = reqwest::get(&url).await.expect("get");
    assert_eq!(before.status().as_u16(), 404);
    assert_eq!(post(&witness, setup.log.request(0, 3)).await.status, 200);
    let after = reqwest::get(&url).await.expect("get");
    assert_eq!(after.status().as_u16(), 200);
    let note = Note::parse(&after.bytes().await.expect("body")).expect("note");
    let cp = setup.log.checkpoint(3);
    assert_eq!(note.text, cp.to_string());
    note.verify(&[setup.log.signer.verifier()])
        .expect("log signature kept");
    assert!(
        note.signatures
            .iter()
            .any(|s| verify_cosignature(&setup.witness_verifier(), &cp, s).is_ok())
    );
}

#[tokio::test]
async fn size_protocol_and_bad_proof() {
    let mut setup = Setup::new();
    setup.log.grow_to(20);
    let witness = setup.start();
    assert_eq!(post(&witness, setup.log.request(0, 7)).await.status, 200);
    // Old size not the stored one: 409 with the stored size.
    assert_conflict(&post(&witness, setup.log.request(3, 12)).await, 7);
    // A proof with one bit flipped: 422, and the state does not move.
    let mut proof = setup.log.proof(7, 12);
    proof[0].0[0] ^= 1;
    let cp = setup.log.checkpoint(12);
    let bad = body(7, &proof, &setup.log.sign(&cp));
    assert_eq!(post(&witness, bad).await.status, 422);
    // Old 0 with a proof while the witness is at 7: the size check comes first.
    let with_proof = body(0, &setup.log.proof(7, 12), &setup.log.sign(&cp));
    assert_conflict(&post(&witness, with_proof).await, 7);
    let answer = post(&witness, setup.log.request(7, 12)).await;
    assert_cosigned(&answer, &setup.witness_verifier(), &cp);
    // A bad proof is not evidence (issue 19, H2): the proof carries no signature.
    let out = bintrail(&["witness", "evidence", "--db", path_str(&setup.db())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "bintrail: no evidence recorded\n");
}

/// Issue 19, finding H2: the log's public checkpoint with random proof bytes got a
/// 422 and was stored as "bad-consistency-proof" evidence, a new row for every
/// request (the proof defeated the UNIQUE constraint): anyone could fill the table
/// and the disk and pin false misbehaviour records on an honest log. Now no bad
/// proof is stored, and a real fork (validly signed, stored size, other root) is
/// stored once however it is replayed.
#[tokio::test]
async fn h2_random_proofs_store_nothing_and_a_fork_is_stored_once() {
    let mut setup = Setup::new();
    setup.log.grow_to(40);
    let witness = setup.start();
    assert_eq!(post(&witness, setup.log.request(0, 7)).await.status, 200);
    let db_before = db_bytes(&setup);
    let public = setup.log.sign(&setup.log.checkpoint(40));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..300usize {
        let proof: Vec<Hash> = (0..1 + i % 12)
            .map(|_| {
                let mut h = [0u8; 32];
                for b in &mut h {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    *b = (seed >> 56) as u8;
                }
                Hash(h)
            })
            .collect();
        let answer = post(&witness, body(7, &proof, &public)).await;
        assert_eq!(answer.status, 422, "request {i}");
    }
    let out = bintrail(&["witness", "evidence", "--db", path_str(&setup.db())]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "bintrail: no evidence recorded\n"
    );
    let growth = db_bytes(&setup).saturating_sub(db_before);
    assert!(growth < 256 * 1024, "database grew by {growth} bytes");

    // A real fork at the stored size, replayed with extra signature lines.
    let fork = TestLog::forked(7);
    let forked = fork.checkpoint(7);
    for n in 0..20u8 {
        let other = Signer::generate("someone.example", KeyType::Ed25519, [n; 32]).expect("key");
        let note = Note::sign(&forked.to_string(), &[&fork.signer, &other]).expect("sign");
        let answer = post(&witness, body(7, &[], &note.to_bytes())).await;
        assert_eq!(answer.status, 422, "replay {n}");
    }
    let out = bintrail(&["witness", "evidence", "--db", path_str(&setup.db())]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("log example.com/witness-e2e fork").count(),
        1,
        "{text}"
    );
    assert!(text.contains(&forked.root_hash.to_string()), "{text}");
    assert!(
        !text.contains("someone.example"),
        "unverified signatures are not kept: {text}"
    );
    // And the witness still cosigns the real log.
    assert_eq!(post(&witness, setup.log.request(7, 40)).await.status, 200);
}

/// The witness database's size on disk, WAL included.
fn db_bytes(setup: &Setup) -> u64 {
    let db = setup.db();
    ["", "-wal"]
        .iter()
        .map(|suffix| {
            let mut path = db.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(path).map_or(0, |m| m.len())
        })
        .sum()
}

#[tokio::test]
async fn fork_is_refused_and_evidence_printed() {
    let mut setup = Setup::new();
    setup.log.grow_to(4);
    let witness = setup.start();
    assert_eq!(post(&witness, setup.log.request(0, 4)).await.status, 200);
    // Same origin and key, same size, another root.
    let fork = TestLog::forked(4);
    let forked = fork.checkpoint(4);
    assert_ne!(forked.root_hash, setup.log.checkpoint(4).root_hash);
    let answer = post(&witness, body(4, &[], &fork.sign(&forked))).await;
    // C2SP tlog-witness: a root mismatch at the same size is 422.
    assert_eq!(answer.status, 422);
    let out = bintrail(&["witness", "evidence", "--db", path_str(&setup.db())]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("log {ORIGIN} fork")), "{text}");
    assert!(text.contains(&setup.log.checkpoint(4).root_hash.to_string()));
    assert!(text.contains(&forked.root_hash.to_string()));
    // And the witness still cosigns the real log.
    assert_eq!(post(&witness, setup.log.request(4, 4)).await.status, 200);
}

#[tokio::test]
async fn rollback_is_refused() {
    let mut setup = Setup::new();
    setup.log.grow_to(10);
    let witness = setup.start();
    assert_eq!(post(&witness, setup.log.request(0, 10)).await.status, 200);
    let older = setup.log.sign(&setup.log.checkpoint(6));
    assert_eq!(post(&witness, body(10, &[], &older)).await.status, 400);
    assert_conflict(&post(&witness, body(6, &[], &older)).await, 10);
    assert_conflict(&post(&witness, body(0, &[], &older)).await, 10);
}

#[tokio::test]
async fn signature_and_origin_checks() {
    let mut setup = Setup::new();
    setup.log.grow_to(2);
    let witness = setup.start();
    let cp = setup.log.checkpoint(2);
    // Signed by another key with the same name: 403.
    let impostor = TestLog::new(ORIGIN, 2);
    assert_eq!(
        post(&witness, body(0, &[], &impostor.sign(&cp)))
            .await
            .status,
        403
    );
    // A known key's signature that does not verify: 403.
    let mut note = Note::parse(&setup.log.sign(&cp)).expect("note");
    note.signatures[0].signature[5] ^= 0x40;
    assert_eq!(
        post(&witness, body(0, &[], &note.to_bytes())).await.status,
        403
    );
    // Unknown origin: 404.
    let other = TestLog::new("other.example/log", 3);
    let other_cp = checkpoint_of("other.example/log", 2, cp.root_hash);
    let answer = post(&witness, body(0, &[], &other.sign(&other_cp))).await;
    assert_eq!(answer.status, 404);
    let json: serde_json::Value = serde_json::from_slice(&answer.body).expect("json error");
    assert!(
        json["error"]
            .as_str()
            .expect("error")
            .contains("other.example/log")
    );
}

/// The request body of the tlog-witness spec's example, byte for byte.
const SPEC_EXAMPLE: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

#[tokio::test]
async fn spec_example_request_is_understood() {
    let setup = Setup::new();
    let witness = setup.start();
    // Parsed fully: the origin is read, and it is not one this witness knows.
    assert_eq!(post(&witness, SPEC_EXAMPLE.into()).await.status, 404);
    // Once the origin is known under a key that did not sign it: 403, not 400.
    let key =
        Signer::generate("example.com/behind-the-sofa", KeyType::Ed25519, [5; 32]).expect("key");
    let out = bintrail(&[
        "witness",
        "add-log",
        "--db",
        path_str(&setup.db()),
        "--public-key",
        &key.verifier().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(post(&witness, SPEC_EXAMPLE.into()).await.status, 403);

    // A request laid out exactly like the example, signed by a key the witness
    // trusts, is cosigned (old 0 so the proof lines are absent).
    let mut log = TestLog::new("example.com/behind-the-sofa", 5);
    log.grow_to(3);
    let answer = post(&witness, log.request(0, 3)).await;
    assert_cosigned(&answer, &setup.witness_verifier(), &log.checkpoint(3));
}

#[tokio::test]
async fn racing_requests_answer_consistently() {
    let mut setup = Setup::new();
    setup.log.grow_to(16);
    let witness = setup.start();
    let requests: Vec<_> = (1..=16).map(|n| setup.log.request(0, n)).collect();
    let answers = futures::future::join_all(requests.into_iter().map(|b| post(&witness, b))).await;
    let winners: Vec<_> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| a.status == 200)
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one of the racing requests wins");
    for answer in &answers {
        if answer.status != 200 {
            assert_conflict(answer, winners[0]);
        }
    }
}

#[tokio::test]
async fn hostile_input_gets_4xx_and_the_witness_stays_healthy() {
    let mut setup = Setup::new();
    setup.log.grow_to(2);
    let witness = setup.start();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty body", Vec::new(), 400),
        ("garbage", b"\x00\x01\x02".to_vec(), 400),
        ("huge old", b"old 99999999999999999999999\n\n".to_vec(), 400),
        ("negative old", b"old -1\n\n".to_vec(), 400),
        ("invalid utf-8 note", b"old 0\n\n\xff\xfe\n\n".to_vec(), 400),
        ("oversized", vec![b'a'; 1 << 20], 413),
        (
            "too many proof lines",
            {
                let mut b = b"old 1\n".to_vec();
                for _ in 0..64 {
                    b.extend_from_slice(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
                }
                b.push(b'\n');
                b
            },
            400,
        ),
    ];
    for (name, body, status) in cases {
        assert_eq!(post(&witness, body).await.status, status, "case {name}");
    }
    let wrong_method = reqwest::get(format!("{}/add-checkpoint", witness.url))
        .await
        .expect("get");
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(post(&witness, setup.log.request(0, 2)).await.status, 200);
}

#[test]
fn cli_manages_logs() {
    let setup = Setup::new();
    let db = setup.db();
    let db = path_str(&db);
    let vkey = setup.log.signer.verifier().to_string();
    let dup = bintrail(&["witness", "add-log", "--db", db, "--public-key", &vkey]);
    assert!(!dup.status.success(), "duplicate add-log must fail");
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already"));
    let bad = bintrail(&[
        "witness",
        "add-log",
        "--db",
        db,
        "--public-key",
        "not a key",
    ]);
    assert!(!bad.status.success());
    let witness_vkey = setup.witness_verifier().to_string();
    let wrong_type = bintrail(&[
        "witness",
        "add-log",
        "--db",
        db,
        "--public-key",
        &witness_vkey,
    ]);
    assert!(
        !wrong_type.status.success(),
        "a cosignature key is not a log key"
    );

    let list = bintrail(&["witness", "list", "--db", db]);
    assert!(String::from_utf8_lossy(&list.stdout).starts_with(&format!("{ORIGIN}\t0\t")));
    let removed = bintrail(&["witness", "remove-log", "--db", db, "--origin", ORIGIN]);
    assert!(removed.status.success());
    let list = bintrail(&["witness", "list", "--db", db]);
    assert!(list.stdout.is_empty());
    let again = bintrail(&["witness", "remove-log", "--db", db, "--origin", ORIGIN]);
    assert!(!again.status.success());
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut setup = Setup::new();
    setup.log.grow_to(1);
    let witness = setup.start();
    let addr = witness.url.trim_start_matches("http://").to_owned();

    // A body that never finishes: the request timeout answers 408.
    let mut slow_body = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow_body
        .write_all(
            b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nold 0\n",
        )
        .await
        .expect("write");
    // Headers that never finish: the connection is closed.
    let mut slow_headers = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow_headers
        .write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");

    // Meanwhile the witness serves others.
    assert_eq!(post(&witness, setup.log.request(0, 1)).await.status, 200);

    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), slow_body.read_to_end(&mut answer))
        .await
        .expect("slow body cut off in time")
        .expect("read");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), slow_headers.read_to_end(&mut rest))
        .await
        .expect("slow headers cut off in time")
        .expect("read");
}

/// Issue 8: a witness killed with SIGKILL in the middle of updates restarts
/// with a consistent state: the latest checkpoint it serves verifies, is one
/// the log really signed, and is never older than the last one it cosigned.
#[tokio::test]
async fn witness_killed_mid_update_keeps_a_consistent_state() {
    let mut setup = Setup::new();
    setup.log.grow_to(400);
    let log = std::sync::Arc::new(setup.log);
    let origin_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(ORIGIN.as_bytes()));
    let mut acked = 0u64;
    // The log moved into the Arc; the setup keeps the witness key and database.
    let setup = Setup {
        log: TestLog::new(ORIGIN, 1),
        ..setup
    };
    for _round in 0..12 {
        let witness = setup.start();
        // The restarted witness is at least where it said it was.
        let stored = match post(&witness, log.request(0, acked.max(1))).await {
            a if a.status == 409 => String::from_utf8(a.body)
                .expect("utf8")
                .trim()
                .parse()
                .expect("size"),
            a if a.status == 200 => acked.max(1),
            a => panic!("unexpected status {}", a.status),
        };
        assert!(
            stored >= acked,
            "witness lost an acknowledged checkpoint: {stored} < {acked}"
        );
        let served = reqwest::get(format!("{}/{origin_hash}/checkpoint", witness.url))
            .await
            .expect("get");
        if stored > 0 {
            let note = Note::parse(&served.bytes().await.expect("body")).expect("note");
            let cp = log.checkpoint(stored);
            assert_eq!(
                note.text,
                cp.to_string(),
                "the state is a checkpoint the log signed"
            );
            assert!(
                note.signatures.iter().any(|s| verify_cosignature(
                    &setup.witness_verifier(),
                    &cp,
                    s
                )
                .is_ok())
            );
        }
        // Advance one size at a time until killed at a random moment.
        let url = witness.url.clone();
        let log2 = log.clone();
        let updater = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut current = stored;
            let mut last_ack = stored;
            while current < 399 {
                let body = log2.request(current, current + 1);
                let Ok(r) = client
                    .post(format!("{url}/add-checkpoint"))
                    .body(body)
                    .send()
                    .await
                else {
                    break;
                };
                if r.status().as_u16() != 200 {
                    break;
                }
                current += 1;
                last_ack = current;
            }
            last_ack
        });
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 150)).await;
        drop(witness); // SIGKILL
        acked = updater.await.expect("updater");
    }
    assert!(acked > 0, "some updates went through");
}
