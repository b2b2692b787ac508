//! The attestation parsers fed arbitrary bytes and mutations of real attestations (the
//! pypi-attestations 0.0.31 test assets): none may panic. The body is the fuzz target's,
//! `fuzz/src/attest.rs`, so the same code runs here on stable and under libFuzzer.

#[path = "../../../fuzz/src/attest.rs"]
mod fuzz_body;

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;

fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let base = std::env::var_os("BINTRAIL_PYPI_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/cache/bintrail-tests/pypi"));
        let dir = base.join("attestations");
        let mut seeds = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", dir.display()))
        {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".attestation") || name.ends_with(".provenance") {
                seeds.push(std::fs::read(&path).unwrap());
            }
        }
        assert!(
            seeds.len() >= 10,
            "expected the pypi-attestations assets in {}",
            dir.display()
        );
        seeds
    })
}

/// A seed with a few bytes changed, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6);
    (0..seeds().len(), edits).prop_map(|(i, edits)| {
        let mut data = seeds()[i].clone();
        for (at, byte, op) in edits {
            let at = at % (data.len() + 1);
            match op {
                0 if at < data.len() => data[at] = byte,
                1 => data.insert(at, byte),
                _ if at < data.len() => {
                    data.remove(at);
                }
                _ => {}
            }
        }
        data
    })
}

#[test]
fn body_accepts_every_seed() {
    for seed in seeds() {
        fuzz_body::attestation(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn attestation_arbitrary(data in prop::collection::vec(any::<u8>(), 0..400)) { fuzz_body::attestation(&data) }
    #[test]
    fn attestation_mutated(data in mutated()) { fuzz_body::attestation(&data) }
}
