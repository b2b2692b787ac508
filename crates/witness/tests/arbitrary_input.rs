//! Property: no input makes the witness panic or move its state wrongly.
//! Arbitrary bytes, and valid requests with one byte changed, must get an
//! answer; the stored size only ever grows.

use std::sync::Arc;

use bintrail_tlog::note::{KeyType, Note, Signer};
use bintrail_tlog::tree::{prove_tree, stored_hashes, tree_hash};
use bintrail_witness::Witness;
use bintrail_witness::request::AddCheckpointRequest;
use bintrail_witness::store::Store;
use proptest::prelude::*;

const ORIGIN: &str = "example.com/prop";

fn witness() -> (Witness, Signer) {
    let store = Arc::new(Store::open_in_memory().expect("store"));
    let log = Signer::generate(ORIGIN, KeyType::Ed25519, [1; 32]).expect("key");
    store
        .add_log(ORIGIN, &log.verifier().to_string())
        .expect("add");
    let key = Signer::generate("witness.example/p", KeyType::CosignatureV1, [2; 32]).expect("key");
    (Witness::new(store, key).expect("witness"), log)
}

/// A valid request from `old` to `new` for a log of deterministic leaves.
fn valid_request(log: &Signer, old: u64, new: u64) -> Vec<u8> {
    let mut hashes = Vec::new();
    for i in 0..new {
        let h = stored_hashes(i, &i.to_be_bytes(), &hashes).expect("hashes");
        hashes.extend(h);
    }
    let root = tree_hash(new, &hashes).expect("root");
    let text = format!("{ORIGIN}\n{new}\n{root}\n");
    AddCheckpointRequest {
        old_size: old,
        proof: prove_tree(new, old, &hashes).expect("proof"),
        checkpoint: Note::sign(&text, &[log]).expect("sign").to_bytes(),
    }
    .to_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (witness, _) = witness();
        let _ = witness.add_checkpoint(&body, 1_700_000_000);
    }

    #[test]
    fn arbitrary_after_a_valid_old_line_never_panics(
        old in any::<u64>(),
        lines in proptest::collection::vec("[A-Za-z0-9+/=]{0,50}", 0..70),
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let (witness, _) = witness();
        let mut body = format!("old {old}\n").into_bytes();
        for line in &lines {
            body.extend_from_slice(line.as_bytes());
            body.push(b'\n');
        }
        body.extend_from_slice(&tail);
        prop_assert!(witness.add_checkpoint(&body, 1_700_000_000).is_err());
    }

    #[test]
    fn one_changed_byte_is_refused_or_harmless(index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (witness, log) = witness();
        witness.add_checkpoint(&valid_request(&log, 0, 5), 1_700_000_000).expect("first");
        let mut body = valid_request(&log, 5, 13);
        let i = index.index(body.len());
        let changed = body[i] != byte;
        body[i] = byte;
        let result = witness.add_checkpoint(&body, 1_700_000_000);
        let state = witness.store().log(ORIGIN).expect("read").expect("log");
        match result {
            // Accepted only if the request still proves size 13 (the state moved
            // there); refused otherwise, with the state untouched.
            Ok(_) => prop_assert_eq!(state.size, 13),
            Err(_) => prop_assert_eq!(state.size, 5),
        }
        if !changed {
            prop_assert_eq!(state.size, 13);
        }
    }
}
