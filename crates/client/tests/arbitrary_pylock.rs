//! The pylock.toml reader and editor fed arbitrary bytes and mutations of real lock
//! files: no panic, and every lock that reads takes proofs and reads back the same files
//! (the law is the fuzz target body in `fuzz/src/client.rs`, run here on stable).

#[path = "../../../fuzz/src/client.rs"]
#[allow(dead_code, reason = "each test file uses some of the bodies")]
mod fuzz_bodies;

use proptest::prelude::*;

/// A lock as pip 26 writes it, one with an inline sdist, and one with an URL-named wheel.
const SEEDS: [&str; 3] = [
    "lock-version = \"1.0\"\ncreated-by = \"pip\"\n\n[[packages]]\nname = \"idna\"\nversion = \"3.10\"\n\n[[packages.wheels]]\nname = \"idna-3.10-py3-none-any.whl\"\nurl = \"http://127.0.0.1:1/packages/idna-3.10-py3-none-any.whl\"\n\n[packages.wheels.hashes]\nsha256 = \"946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3\"\n",
    "[[packages]]\nname = \"six\"\nsdist = { url = \"http://x/six-1.16.0.tar.gz\", hashes = { sha256 = \"00\" } }\n[tool.bintrail]\nlog-origin = \"o\"\nlog-vkey = \"k\"\n",
    "[[packages]]\nname='a'\nwheels = [{url = 'https://x/a-1.0-py3-none-any.whl?x=1#y'}]\n[packages.tool.bintrail.proofs]\n'a-1.0-py3-none-any.whl' = 'AAAA'\n",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<usize>(),
        any::<usize>(),
        prop::sample::select(b"[]{}=\"'.,\n#/ a".to_vec()),
    );
    (0..SEEDS.len(), prop::collection::vec(edit, 1..6)).prop_map(|(i, edits)| {
        let mut data = SEEDS[i].as_bytes().to_vec();
        for (kind, pos, byte) in edits {
            let at = pos % (data.len() + 1);
            match kind % 3 {
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
fn seeds_hold_the_law() {
    // The stored proof must itself parse, or the law would hold vacuously.
    let proof = fuzz_bodies::proof();
    assert_eq!(
        bintrail_tlog::proof::TlogProof::parse(&proof.to_bytes()).ok(),
        Some(proof)
    );
    for seed in SEEDS {
        fuzz_bodies::pylock(seed.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz_bodies::pylock(&data);
    }

    #[test]
    fn mutated_locks(data in mutated()) {
        fuzz_bodies::pylock(&data);
    }
}
