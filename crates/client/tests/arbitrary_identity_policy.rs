//! The identity policy reader of `bintrail proxy --identity-policy` fed arbitrary bytes and mutations of
//! valid policies: no panic, and the law of the fuzz target body in `fuzz/src/client.rs` holds.

#[path = "../../../fuzz/src/client.rs"]
#[allow(dead_code, reason = "each test file uses some of the bodies")]
mod fuzz_bodies;

use proptest::prelude::*;

const SEEDS: [&str; 3] = [
    "[projects.demo]\nidentities = [{ kind = \"GitHub\", repository = \"o/r\", workflow = \"w.yml\" }]\n",
    "[projects.A_1]\n[[projects.A_1.identities]]\nissuer = \"https://token.actions.githubusercontent.com\"\nsubject = 'https://github\\.com/o/r/.*'\n",
    "[projects.a]\nidentities = [{ kind = \"CircleCI\", project_id = \"p\", pipeline_definition_id = \"d\", vcs_ref = \"r\" }, { kind = \"Google\", email = \"e@x\" }]\n",
];

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<usize>(),
        any::<usize>(),
        prop::sample::select(b"[]{}=\"'.,\n#/ a(*".to_vec()),
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
fn seeds_parse_and_hold_the_law() {
    for seed in SEEDS {
        bintrail_client::identity_policy::IdentityPolicy::parse(seed).unwrap();
        fuzz_bodies::identity_policy(seed.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz_bodies::identity_policy(&data);
    }

    #[test]
    fn mutated_policies(data in mutated()) {
        fuzz_bodies::identity_policy(&data);
    }
}
