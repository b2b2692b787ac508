//! The verifiable index's parsers of outside input (the lookup answer, the project name of
//! a lookup path, the map-root entry) fed arbitrary bytes and mutations of valid inputs:
//! no panic, and the laws of the fuzz target bodies in `fuzz/src/vindex.rs`, run here on
//! stable in every test run.

#[path = "../../../fuzz/src/vindex.rs"]
mod fuzz_bodies;

use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::entry::EntryKind;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::map::{Map, MapKey, value_for_indices};
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::vindex::MapRoot;
use bintrail_vindex::answer::{AnswerEntry, LOOKUP_VERSION, LOOKUP_VERSION_V2, LookupAnswer};
use proptest::prelude::*;

fn note(origin: &str, size: u64) -> Vec<u8> {
    let key = Signer::generate(origin, KeyType::Ed25519, [4; 32]).unwrap();
    let cp = Checkpoint {
        origin: origin.into(),
        size,
        root_hash: Hash([8; 32]),
        extensions: vec![],
    };
    sign_checkpoint(&cp, &key).unwrap().to_bytes()
}

/// Valid inputs: an answer shaped as the index writes it, a map-root entry, names.
fn seeds() -> Vec<Vec<u8>> {
    let root = MapRoot::new(Hash([3; 32]), &note("example.com/in", 9)).unwrap();
    let mut map = Map::new();
    let key = MapKey::for_project("demo");
    map.insert(key, value_for_indices(&[1, 4]));
    map.insert(MapKey::for_project("other"), value_for_indices(&[2]));
    map.root();
    let answer = LookupAnswer {
        version: LOOKUP_VERSION.into(),
        project: "demo".into(),
        checkpoint: String::from_utf8(note("example.com/idx", 1)).unwrap(),
        leaf_index: 0,
        leaf: String::from_utf8(root.to_bytes()).unwrap(),
        leaf_proof: vec![],
        map_proof: String::from_utf8(map.prove(&key).to_text()).unwrap(),
        entries: vec![AnswerEntry {
            index: 1,
            entry: format!("pypi-transparency/v1\nsha256:{:064x}\ndemo-1.0.tar.gz", 1),
            proof: Some(vec![Hash([5; 32]); 4]),
        }],
        entries_proof: None,
    };
    let mut v2 = answer.clone();
    v2.version = LOOKUP_VERSION_V2.into();
    v2.entries[0].proof = None;
    v2.entries_proof = Some(vec![Hash([6; 32]); 3]);
    vec![
        answer.to_json(),
        v2.to_json(),
        root.to_bytes(),
        b"Foo.Bar__baz".to_vec(),
        b"a".to_vec(),
    ]
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<usize>(),
        any::<usize>(),
        prop::sample::select(b"{}[]\":,\n -_.a0A=/".to_vec()),
    );
    (0..5usize, prop::collection::vec(edit, 1..6)).prop_map(|(i, edits)| {
        let mut data = seeds()[i].clone();
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
fn seeds_are_accepted() {
    let s = seeds();
    assert!(LookupAnswer::parse(&s[0]).is_ok());
    assert!(LookupAnswer::parse(&s[1]).is_ok());
    assert!(MapRoot::parse(&s[2]).is_ok());
    for seed in &s {
        fuzz_bodies::lookup_answer(seed);
        fuzz_bodies::project_name(seed);
        fuzz_bodies::map_root(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        fuzz_bodies::lookup_answer(&data);
        fuzz_bodies::project_name(&data);
        fuzz_bodies::map_root(&data);
    }

    #[test]
    fn mutations_of_valid_inputs(data in mutated()) {
        fuzz_bodies::lookup_answer(&data);
        fuzz_bodies::project_name(&data);
        fuzz_bodies::map_root(&data);
    }
}
