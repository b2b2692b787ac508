//! tlog-proof interop with Go, both ways: proofs bintrail writes (with and without
//! extra data and cosignatures, every index of a 13-entry log) verify in a Go verifier
//! built on golang.org/x/mod/sumdb/note and tlog; a proof Go writes parses, re-encodes
//! byte for byte, and verifies here against a policy.
//!
//! The Go program (tests/go/tlogproof.go) is built in GOPATH mode against the x/mod
//! sources Debian installs; `scripts/setup.sh` installs Go and them. Without Go this
//! test fails, naming that script.

mod go_common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::cosign;
use bintrail_tlog::hash::{Hash, leaf_hash};
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::tree::{prove_record, stored_hashes, tree_hash};

const SIZE: u64 = 13;

fn record(i: u64) -> Vec<u8> {
    format!("bintrail record {i}").into_bytes()
}

#[test]
fn go_and_bintrail_verify_each_others_tlog_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = go_common::build(
        dir.path(),
        "bintrailtlogproof",
        include_str!("go/tlogproof.go"),
    );
    let log = Signer::generate("example.com/proof-log", KeyType::Ed25519, [21; 32]).unwrap();
    let witness = Signer::generate("w.example", KeyType::CosignatureV1, [22; 32]).unwrap();

    let mut stored: Vec<Hash> = Vec::new();
    for i in 0..SIZE {
        let new = stored_hashes(i, &record(i), &stored).unwrap();
        stored.extend(new);
    }
    let cp = Checkpoint {
        origin: log.name().into(),
        size: SIZE,
        root_hash: tree_hash(SIZE, &stored).unwrap(),
        extensions: vec![],
    };
    let mut note = sign_checkpoint(&cp, &log).unwrap();
    note.add_signature(cosign(&witness, &cp, 1_700_000_000).unwrap());
    let checkpoint = note.to_bytes();

    let mut input = vec![
        ("log_vkey".to_owned(), log.verifier().to_string()),
        ("log_skey".to_owned(), log.to_private_key()),
    ];
    for index in 0..SIZE {
        let proof = TlogProof {
            extra: (index % 2 == 0).then(|| format!("extra {index}").into_bytes()),
            index,
            inclusion_proof: prove_record(SIZE, index, &stored).unwrap(),
            checkpoint: checkpoint.clone(),
        };
        input.push((format!("proof_{index:02}"), BASE64.encode(proof.to_bytes())));
        input.push((format!("leaf_{index:02}"), BASE64.encode(record(index))));
        // The same proof for another record's data must fail in Go too.
        input.push((
            format!("proof_wrong{index:02}"),
            BASE64.encode(proof.to_bytes()),
        ));
        input.push((
            format!("leaf_wrong{index:02}"),
            BASE64.encode(record((index + 1) % SIZE)),
        ));
    }
    let got = go_common::run_key_values(&bin, &input);

    for index in 0..SIZE {
        assert_eq!(got[&format!("verify_{index:02}")], "ok", "index {index}");
        assert!(
            got[&format!("verify_wrong{index:02}")].starts_with("error"),
            "Go accepted index {index} for the wrong record"
        );
    }

    // Go -> bintrail.
    let go_proof = BASE64.decode(&got["go_proof"]).unwrap();
    let go_leaf = BASE64.decode(&got["go_leaf"]).unwrap();
    let parsed = TlogProof::parse(&go_proof).unwrap();
    assert_eq!(parsed.to_bytes(), go_proof);
    assert_eq!(parsed.index, 6);
    assert_eq!(parsed.extra.as_deref(), Some(&b"go extra"[..]));
    let policy: Policy = format!("log {}\nquorum none\n", log.verifier())
        .parse()
        .unwrap();
    let verified = parsed.verify(&policy, leaf_hash(&go_leaf)).unwrap();
    assert_eq!(verified.checkpoint.size, 10);
    assert!(parsed.verify(&policy, leaf_hash(b"go record 5")).is_err());
}
