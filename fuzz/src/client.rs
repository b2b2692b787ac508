//! Fuzz target bodies for the parsers of outside input in `bintrail-client`: lock files
//! (`pylock.toml`) that `bintrail lock` edits and `bintrail verify --lock` reads (with their
//! `attestation-identities`), and the identity policy files of `bintrail proxy`.
//!
//! Included with `#[path]` by `fuzz_targets/pylock.rs` (libFuzzer) and
//! `crates/client/tests/arbitrary_pylock.rs` (stable, every test run).

use bintrail_client::identity_policy::IdentityPolicy;
use bintrail_client::pylock::PyLock;
use bintrail_tlog::note::{KeyType, Note, Signer};
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Filename, Publisher};

/// A well-formed proof to store (its contents are never verified here).
pub fn proof() -> TlogProof {
    let signer = Signer::generate("o.example/log", KeyType::Ed25519, [5; 32]).expect("key");
    let body = "o.example/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    TlogProof {
        extra: None,
        index: 0,
        inclusion_proof: vec![],
        checkpoint: Note::sign(body, &[&signer]).expect("sign").to_bytes(),
    }
}

/// Any bytes: no panic. A lock that parses lists its files; storing a proof for each
/// and printing gives a lock that parses back with the same files and those proofs.
pub fn pylock(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut lock) = PyLock::parse(text) else {
        return;
    };
    let _ = lock.log();
    let Ok(files) = lock.files() else {
        return;
    };
    for file in &files {
        let _ = lock.proof(file);
        // Identities never depend on the proofs stored below.
        if let Ok(identities) = lock.attestation_identities(file.package) {
            for identity in &identities {
                assert!(!identity.to_string().is_empty());
            }
        }
    }
    let proof = proof();
    for file in &files {
        if lock.set_proof(file, &proof).is_err() {
            return;
        }
    }
    let printed = lock.to_string();
    let back = PyLock::parse(&printed).expect("an edited lock must parse");
    let again = back.files().expect("an edited lock must list its files");
    assert_eq!(again, files);
    for file in &again {
        assert_eq!(back.proof(file).expect("stored proof"), Some(proof.clone()));
    }
}

/// Any bytes: no panic. A policy that parses answers for every project it lists, and a file of
/// a project it does not list always passes; its answer never changes on asking again.
pub fn identity_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = IdentityPolicy::parse(text) else {
        return;
    };
    let publisher = Publisher::new(
        "https://token.actions.githubusercontent.com",
        "https://github.com/o/r/.github/workflows/w.yml@refs/tags/v1",
    )
    .expect("a valid publisher");
    let unlisted: Filename = "zz-not-listed-anywhere-1.0.tar.gz"
        .parse()
        .expect("a filename");
    if policy.accepted("zz-not-listed-anywhere").is_none() {
        assert!(policy.check(&unlisted, None).is_ok());
    }
    for file in ["a-1.0.tar.gz", "demo-1.0-py3-none-any.whl"] {
        let file: Filename = file.parse().expect("a filename");
        let first = policy.check(&file, Some(&publisher)).is_ok();
        assert_eq!(first, policy.check(&file, Some(&publisher)).is_ok());
        // Nothing logged never satisfies a listed project.
        if policy.accepted(&file.project_name()).is_some() {
            assert!(policy.check(&file, None).is_err());
        }
    }
}
