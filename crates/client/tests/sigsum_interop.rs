//! Interop: bintrail's witness-gathering client against a real sigsum-witness
//! (Debian's sigsum-go), a C2SP tlog-witness written independently in Go.
//! `scripts/setup.sh` installs it; this test fails, naming that script, if
//! the binaries are missing.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bintrail_client::cosign::gather::{Gatherer, WitnessEndpoint, WitnessFailure};
use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::cosignature::verify_cosignature;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, Signer, Verifier};
use bintrail_tlog::tree::{prove_tree, stored_hashes, tree_hash};
use sha2::{Digest, Sha256};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require_tool(name: &str) {
    let found = Command::new(name)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{name} is not installed: run scripts/setup.sh (it installs sigsum-go from bookworm-backports)"
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run sigsum-key");
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Makes a sigsum witness key and returns its verifier as bintrail sees it.
/// sigsum-witness names its key `sigsum.org/v1/witness/<hex SHA-256 of the key>`.
fn sigsum_witness_key(dir: &Path) -> Verifier {
    let key = dir.join("witness.key");
    run(Command::new("sigsum-key")
        .args(["generate", "-o"])
        .arg(&key));
    let hex_key = run(Command::new("sigsum-key")
        .args(["to-hex", "-k"])
        .arg(dir.join("witness.key.pub")));
    let public: [u8; 32] = hex::decode(hex_key.trim())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let name = format!(
        "sigsum.org/v1/witness/{}",
        hex::encode(Sha256::digest(public))
    );
    Verifier::new(&name, KeyType::CosignatureV1, public).expect("verifier")
}

/// Makes a log key whose origin is the sigsum one for it, and writes its public
/// key in OpenSSH form (what sigsum-witness reads) with `sigsum-key from-hex`.
fn sigsum_log_key(dir: &Path) -> Signer {
    let seed = [42u8; 32];
    let probe = Signer::generate("probe", KeyType::Ed25519, seed).expect("key");
    let public = *probe.verifier().public_key();
    let origin = format!("sigsum.org/v1/tree/{}", hex::encode(Sha256::digest(public)));
    let mut child = Command::new("sigsum-key")
        .args(["from-hex", "-o"])
        .arg(dir.join("log.pub"))
        .stdin(Stdio::piped())
        .spawn()
        .expect("sigsum-key from-hex");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}\n", hex::encode(public)).as_bytes())
        .expect("write hex");
    assert!(child.wait().expect("wait").success());
    Signer::generate(&origin, KeyType::Ed25519, seed).expect("log key")
}

fn start_sigsum_witness(dir: &Path) -> (KillOnDrop, String) {
    // sigsum-witness binds the address itself; take a free port from the OS.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new("sigsum-witness")
        .env("GODEBUG", "httpmuxgo121=0")
        .arg("-k")
        .arg(dir.join("witness.key"))
        .arg("--log-key")
        .arg(dir.join("log.pub"))
        .arg("--state-file")
        .arg(dir.join("state"))
        .arg(&addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sigsum-witness");
    let guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "sigsum-witness did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, format!("http://{addr}"))
}

struct Tree {
    hashes: Vec<Hash>,
}

impl Tree {
    fn new(size: u64) -> Self {
        let mut hashes = Vec::new();
        for i in 0..size {
            let new = stored_hashes(i, format!("leaf {i}").as_bytes(), &hashes).expect("hashes");
            hashes.extend(new);
        }
        Self { hashes }
    }

    fn signed(&self, log: &Signer, size: u64) -> (Checkpoint, Note) {
        let root = tree_hash(size, &self.hashes).expect("root");
        let cp: Checkpoint = format!("{}\n{size}\n{root}\n", log.name())
            .parse()
            .expect("checkpoint");
        let note = Note::sign(&cp.to_string(), &[log]).expect("sign");
        (cp, note)
    }
}

#[tokio::test]
async fn sigsum_witness_cosigns_bintrail_checkpoints() {
    require_tool("sigsum-key");
    require_tool("sigsum-witness");
    let dir = tempfile::tempdir().expect("tempdir");
    let witness = sigsum_witness_key(dir.path());
    let log = sigsum_log_key(dir.path());
    let (_child, url) = start_sigsum_witness(dir.path());
    let tree = Tree::new(12);
    let prover = |old: u64, new: u64| prove_tree(new, old, &tree.hashes).map_err(|e| e.to_string());
    let endpoint = WitnessEndpoint {
        verifier: witness.clone(),
        url,
    };

    // First checkpoint: old 0, no proof.
    let gatherer = Gatherer::new(vec![endpoint.clone()], Duration::from_secs(10));
    let (cp5, note5) = tree.signed(&log, 5);
    let got = gatherer.gather(&cp5, &note5, 0, &prover).await;
    assert!(got.failures.is_empty(), "{:?}", got.failures);
    let (_, sig) = &got.cosignatures[0];
    verify_cosignature(&witness, &cp5, sig).expect("sigsum cosignature verifies with crates/tlog");

    // A fresh client knows nothing: it sends old 0, gets 409 with size 5, and
    // retries with a consistency proof from 5 to 9 built by crates/tlog.
    let gatherer = Gatherer::new(vec![endpoint.clone()], Duration::from_secs(10));
    let (cp9, note9) = tree.signed(&log, 9);
    let got = gatherer.gather(&cp9, &note9, 0, &prover).await;
    assert!(got.failures.is_empty(), "{:?}", got.failures);
    verify_cosignature(&witness, &cp9, &got.cosignatures[0].1).expect("verifies");

    // A wrong proof is refused by sigsum-witness with 422.
    let (cp12, note12) = tree.signed(&log, 12);
    let wrong = |old: u64, new: u64| {
        let mut proof = prove_tree(new, old, &tree.hashes).map_err(|e| e.to_string())?;
        proof[0].0[0] ^= 1;
        Ok::<_, String>(proof)
    };
    let got = gatherer.gather(&cp12, &note12, 9, &wrong).await;
    assert!(got.cosignatures.is_empty());
    assert!(
        matches!(
            got.failures[0].1,
            WitnessFailure::Status { status: 422, .. }
        ),
        "{:?}",
        got.failures
    );
}
