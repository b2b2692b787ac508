//! Every parser of outside input, fed arbitrary bytes and mutations of valid inputs:
//! none may panic, and every successful parse must obey its round-trip law.
//!
//! The per-parser checks are the fuzz target bodies in `fuzz/src/lib.rs`, included here
//! as a module so that the same code runs on stable in every test run and under
//! libFuzzer with `cargo +nightly fuzz run <target>`.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_bodies;

use std::sync::OnceLock;

use bintrail_tlog::bundle::{encode_entry_bundle, parse_entry_bundle};
use bintrail_tlog::checkpoint::{Checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::cosign;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::map::{Map, MapKey, MapProof, Terminal, value_for_indices};
use bintrail_tlog::note::{KeyType, Note, NoteSignature, Signer, Verifier};
use bintrail_tlog::policy::Policy;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Checksum, Entry, Filename, Publisher};
use bintrail_tlog::tile::{Tile, hash_from_tile, tile_for_index};
use proptest::prelude::*;

/// Valid inputs for each parser, the starting points for mutation.
struct Seeds {
    note: Vec<Vec<u8>>,
    vkey: Vec<Vec<u8>>,
    private_key: Vec<Vec<u8>>,
    checkpoint: Vec<Vec<u8>>,
    policy: Vec<Vec<u8>>,
    pypi_entry: Vec<Vec<u8>>,
    pypi_canonical: Vec<Vec<u8>>,
    tile_path: Vec<Vec<u8>>,
    entry_bundle: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    tlog_proof: Vec<Vec<u8>>,
    map_proof: Vec<Vec<u8>>,
    signature_lines: Vec<Vec<u8>>,
    tile_data: Vec<Vec<u8>>,
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(make_seeds)
}

fn make_seeds() -> Seeds {
    let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
    let w1 = Signer::generate("w1.example", KeyType::CosignatureV1, [2; 32]).unwrap();
    let w2 = Signer::generate("w2.example", KeyType::CosignatureV1, [3; 32]).unwrap();
    let cp = Checkpoint {
        origin: "example.com/log".into(),
        size: 1234,
        root_hash: Hash([0x5a; 32]),
        extensions: vec!["ext line".into()],
    };
    let mut note = sign_checkpoint(&cp, &log).unwrap();
    note.add_signature(cosign(&w1, &cp, 1_700_000_000).unwrap());
    let policy = format!(
        "# bintrail test policy\n\
         log {} https://log.example/\n\
         witness W1 {}\n\
         witness\tW2 {} https://w2.example/add-checkpoint\n\
         group both all W1 W2\n\
         group one 1 both\n\
         quorum one\n",
        log.verifier(),
        w1.verifier(),
        w2.verifier(),
    );
    let checksum = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let proof = TlogProof {
        extra: Some(b"extra data".to_vec()),
        index: 1000,
        inclusion_proof: vec![Hash([1; 32]), Hash([2; 32]), Hash([3; 32])],
        checkpoint: note.to_bytes(),
    };
    let no_extra = TlogProof {
        extra: None,
        index: 0,
        inclusion_proof: vec![],
        ..proof.clone()
    };
    Seeds {
        note: vec![note.to_bytes(), Note::sign("hello\n", &[&log]).unwrap().to_bytes()],
        vkey: vec![log.verifier().to_string(), w1.verifier().to_string()]
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        private_key: vec![log.to_private_key().into_bytes(), w2.to_private_key().into_bytes()],
        checkpoint: vec![cp.to_string().into_bytes()],
        policy: vec![policy.into_bytes(), b"quorum none\n".to_vec()],
        pypi_entry: vec![
            format!("pypi-transparency/v1\n{checksum}\nnumpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl\npublisher https://token.actions.githubusercontent.com https://github.com/numpy/numpy/.github/workflows/wheels.yml@refs/tags/v2.1.0").into_bytes(),
            format!("pypi-transparency/v1\n{checksum}\nzope.interface-7.0.3.tar.gz").into_bytes(),
            b"python_dateutil-2.9.0.post0-py2.py3-none-any.whl".to_vec(),
        ],
        pypi_canonical: [
            "Alias-1.00.zip",
            "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
            "X-V1!01.0-RC.2_post-3.DEV4+Local_01-007b-PY3.py2-NONE-Any.whl",
        ]
        .map(|f| f.as_bytes().to_vec())
        .to_vec(),
        tile_path: ["tile/0/x001/x234/067.p/5", "tile/entries/000", "tile/63/255"]
            .map(|p| p.as_bytes().to_vec())
            .to_vec(),
        entry_bundle: vec![
            encode_entry_bundle([&b"first"[..], b"", &[0xff; 300]]).unwrap(),
            encode_entry_bundle([b"x"; 256]).unwrap(),
        ],
        hash: vec![Hash([0xa5; 32]).to_base64().into_bytes()],
        tlog_proof: vec![proof.to_bytes(), no_extra.to_bytes()],
        map_proof: map_proof_seeds(),
        tile_data: [1000u64, 5, 255 * 2 + 1].map(tile_data_seed).to_vec(),
        signature_lines: vec![
            NoteSignature::format_lines(&note.signatures),
            note.signatures[0].to_string().into_bytes(),
        ],
    }
}

/// Map proofs of each kind: present, absent at an empty subtree, absent at another leaf.
fn map_proof_seeds() -> Vec<Vec<u8>> {
    let mut map = Map::new();
    for name in ["requests", "numpy", "sampleproject", "flask"] {
        map.insert(MapKey::for_project(name), value_for_indices(&[1, 5]));
    }
    map.root();
    let mut out: Vec<Vec<u8>> = ["requests", "absent-a", "absent-b", "absent-c", "absent-d"]
        .iter()
        .map(|n| map.prove(&MapKey::for_project(n)).to_text())
        .collect();
    out.push(b"bintrail-map-proof/v1\nabsent\n".to_vec());
    out
}

/// Input for the `tile_data` body: no flags, the true tile of `index`, and as many
/// hashes as it is wide.
fn tile_data_seed(index: u64) -> Vec<u8> {
    let width = tile_for_index(index).width;
    let mut data = vec![0, 0, 0];
    data.extend_from_slice(&index.to_be_bytes());
    data.extend((0..width * 32).map(|i| i as u8));
    data
}

/// One edit of a byte string; positions wrap around the current length.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Repeat(usize, usize),
}

/// Bytes that matter to these grammars, so mutations hit separators often.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(b"\n \t+-=/.#_!0129aAfFzZ".to_vec()),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, bit)| Edit::Flip(p, 1 << bit)),
        (any::<usize>(), interesting_byte()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Edit::Repeat(p, n)),
    ]
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for e in edits {
        let len = data.len();
        let at = |p: usize| if len == 0 { 0 } else { p % len };
        match *e {
            Edit::Flip(p, mask) if len > 0 => data[at(p)] ^= mask,
            Edit::Set(p, b) if len > 0 => data[at(p)] = b,
            Edit::Insert(p, b) => data.insert(p % (len + 1), b),
            Edit::Delete(p) if len > 0 => {
                data.remove(at(p));
            }
            Edit::Truncate(p) => data.truncate(p % (len + 1)),
            Edit::Repeat(p, n) if len > 0 => {
                let start = at(p);
                let end = (start + n).min(len);
                let copy = data[start..end].to_vec();
                data.splice(end..end, copy);
            }
            _ => {}
        }
    }
    data
}

/// A seed and a few edits of it.
fn mutated(pick: fn(&Seeds) -> &Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = pick(seeds()).len();
    (0..count, prop::collection::vec(edit(), 1..6))
        .prop_map(move |(i, edits)| mutate(&pick(seeds())[i], &edits))
}

/// Raw bytes, or text from an alphabet close to the formats' own.
fn arbitrary_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        "[ -~\n\t\u{2014}]{0,300}".prop_map(String::into_bytes),
        "([a-z0-9./+=_-]{0,12}[\n +]){0,30}".prop_map(String::into_bytes),
    ]
}

/// The laws on every seed, so each body's success path runs on every test run (random
/// mutations of a vkey almost never keep its key ID valid).
#[test]
fn bodies_accept_every_seed() {
    let s = seeds();
    type Body = fn(&[u8]);
    let cases: [(Body, &Vec<Vec<u8>>); 14] = [
        (fuzz_bodies::note, &s.note),
        (fuzz_bodies::vkey, &s.vkey),
        (fuzz_bodies::private_key, &s.private_key),
        (fuzz_bodies::checkpoint, &s.checkpoint),
        (fuzz_bodies::policy, &s.policy),
        (fuzz_bodies::pypi_entry, &s.pypi_entry),
        (fuzz_bodies::pypi_canonical, &s.pypi_canonical),
        (fuzz_bodies::tile_path, &s.tile_path),
        (fuzz_bodies::entry_bundle, &s.entry_bundle),
        (fuzz_bodies::hash, &s.hash),
        (fuzz_bodies::tlog_proof, &s.tlog_proof),
        (fuzz_bodies::map_proof, &s.map_proof),
        (fuzz_bodies::signature_lines, &s.signature_lines),
        (fuzz_bodies::tile_data, &s.tile_data),
    ];
    for (body, seeds) in cases {
        for seed in seeds {
            body(seed);
        }
    }
    // An uppercase key ID is accepted (as Go does) and formats back in lowercase.
    let vkey = String::from_utf8(s.vkey[0].clone()).unwrap();
    let (name, rest) = vkey.split_once('+').unwrap();
    let (id, key) = rest.split_once('+').unwrap();
    let upper = format!("{name}+{}+{key}", id.to_uppercase());
    assert_ne!(upper, vkey, "the seed's key ID should contain a hex letter");
    fuzz_bodies::vkey(upper.as_bytes());
    assert_eq!(upper.parse::<Verifier>().unwrap().to_string(), vkey);
}

#[test]
fn seeds_are_valid() {
    let s = seeds();
    for data in &s.note {
        assert!(Note::parse(data).is_ok());
    }
    for data in &s.vkey {
        assert!(
            std::str::from_utf8(data)
                .unwrap()
                .parse::<Verifier>()
                .is_ok()
        );
    }
    for data in &s.private_key {
        assert!(Signer::from_private_key(std::str::from_utf8(data).unwrap()).is_ok());
    }
    for data in &s.checkpoint {
        assert!(
            std::str::from_utf8(data)
                .unwrap()
                .parse::<Checkpoint>()
                .is_ok()
        );
    }
    for data in &s.policy {
        assert!(Policy::parse(data).is_ok());
    }
    assert!(Entry::parse(&s.pypi_entry[0]).is_ok());
    assert!(Entry::parse(&s.pypi_entry[1]).is_ok());
    for data in &s.tile_path {
        assert!(Tile::from_path(std::str::from_utf8(data).unwrap()).is_ok());
    }
    for data in &s.entry_bundle {
        assert!(parse_entry_bundle(data).is_ok());
    }
    for data in &s.hash {
        assert!(Hash::from_base64(std::str::from_utf8(data).unwrap()).is_ok());
    }
    for data in &s.tlog_proof {
        assert!(TlogProof::parse(data).is_ok());
    }
    let kinds: std::collections::BTreeSet<&str> = s
        .map_proof
        .iter()
        .map(|data| match MapProof::parse(data).unwrap().terminal {
            Terminal::Present { .. } => "present",
            Terminal::Empty => "empty",
            Terminal::OtherLeaf { .. } => "other leaf",
        })
        .collect();
    assert_eq!(kinds.len(), 3, "map proof seeds cover {kinds:?}");
    assert!(NoteSignature::parse_lines(&s.signature_lines[0]).is_ok());
    for data in &s.tile_data {
        let index = u64::from_be_bytes(data[3..11].try_into().unwrap());
        assert!(hash_from_tile(&tile_for_index(index), &data[11..], index).is_ok());
    }
    assert!(
        std::str::from_utf8(&s.signature_lines[1])
            .unwrap()
            .parse::<NoteSignature>()
            .is_ok()
    );
    assert!(
        std::str::from_utf8(&s.pypi_entry[2])
            .unwrap()
            .parse::<Filename>()
            .is_ok()
    );
}

proptest! {
    // 256 cases per test by default; PROPTEST_CASES=N runs a longer search locally.
    #[test]
    fn note_arbitrary(data in arbitrary_input()) { fuzz_bodies::note(&data) }
    #[test]
    fn note_mutated(data in mutated(|s| &s.note)) { fuzz_bodies::note(&data) }

    #[test]
    fn vkey_arbitrary(data in arbitrary_input()) { fuzz_bodies::vkey(&data) }
    #[test]
    fn vkey_mutated(data in mutated(|s| &s.vkey)) { fuzz_bodies::vkey(&data) }

    #[test]
    fn private_key_arbitrary(data in arbitrary_input()) { fuzz_bodies::private_key(&data) }
    #[test]
    fn private_key_mutated(data in mutated(|s| &s.private_key)) { fuzz_bodies::private_key(&data) }

    #[test]
    fn checkpoint_arbitrary(data in arbitrary_input()) { fuzz_bodies::checkpoint(&data) }
    #[test]
    fn checkpoint_mutated(data in mutated(|s| &s.checkpoint)) { fuzz_bodies::checkpoint(&data) }

    #[test]
    fn policy_arbitrary(data in arbitrary_input()) { fuzz_bodies::policy(&data) }
    #[test]
    fn policy_mutated(data in mutated(|s| &s.policy)) { fuzz_bodies::policy(&data) }

    #[test]
    fn pypi_entry_arbitrary(data in arbitrary_input()) { fuzz_bodies::pypi_entry(&data) }
    #[test]
    fn pypi_entry_mutated(data in mutated(|s| &s.pypi_entry)) { fuzz_bodies::pypi_entry(&data) }

    #[test]
    fn tile_path_arbitrary(data in arbitrary_input()) { fuzz_bodies::tile_path(&data) }
    #[test]
    fn tile_path_mutated(data in mutated(|s| &s.tile_path)) { fuzz_bodies::tile_path(&data) }

    #[test]
    fn entry_bundle_arbitrary(data in arbitrary_input()) { fuzz_bodies::entry_bundle(&data) }
    #[test]
    fn entry_bundle_mutated(data in mutated(|s| &s.entry_bundle)) { fuzz_bodies::entry_bundle(&data) }

    #[test]
    fn hash_arbitrary(data in arbitrary_input()) { fuzz_bodies::hash(&data) }
    #[test]
    fn hash_mutated(data in mutated(|s| &s.hash)) { fuzz_bodies::hash(&data) }

    #[test]
    fn tlog_proof_arbitrary(data in arbitrary_input()) { fuzz_bodies::tlog_proof(&data) }
    #[test]
    fn tlog_proof_mutated(data in mutated(|s| &s.tlog_proof)) { fuzz_bodies::tlog_proof(&data) }

    #[test]
    fn map_proof_arbitrary(data in arbitrary_input()) { fuzz_bodies::map_proof(&data) }
    #[test]
    fn map_proof_mutated(data in mutated(|s| &s.map_proof)) { fuzz_bodies::map_proof(&data) }

    #[test]
    fn signature_lines_arbitrary(data in arbitrary_input()) { fuzz_bodies::signature_lines(&data) }
    #[test]
    fn signature_lines_mutated(data in mutated(|s| &s.signature_lines)) { fuzz_bodies::signature_lines(&data) }

    #[test]
    fn pypi_canonical_arbitrary(data in arbitrary_input()) { fuzz_bodies::pypi_canonical(&data) }
    #[test]
    fn pypi_canonical_mutated(data in mutated(|s| &s.pypi_canonical)) { fuzz_bodies::pypi_canonical(&data) }

    #[test]
    fn records_proof_arbitrary(data in prop::collection::vec(any::<u8>(), 0..400)) {
        fuzz_bodies::records_proof(&data)
    }
    #[test]
    fn records_proof_mutated(data in (1..40u8, prop::collection::btree_set(0..40u8, 0..12), any::<usize>(), any::<u8>())
        .prop_map(|(size, leaves, at, flip)| records_proof_input(size, &leaves, at, flip))) {
        fuzz_bodies::records_proof(&data)
    }

    #[test]
    fn tile_data_arbitrary(data in arbitrary_input()) { fuzz_bodies::tile_data(&data) }
    #[test]
    fn tile_data_mutated(data in mutated(|s| &s.tile_data)) { fuzz_bodies::tile_data(&data) }
}

/// A `records_proof` input holding the honest proof for `leaves` (those below the
/// tree's size) in the tree of `size` records, with one byte then changed by `flip`
/// at `at` (0 keeps the input honest).
fn records_proof_input(
    size: u8,
    leaves: &std::collections::BTreeSet<u8>,
    at: usize,
    flip: u8,
) -> Vec<u8> {
    use bintrail_tlog::tree::{prove_records, stored_hashes};
    let t = u64::from(size);
    let leaves: Vec<u8> = leaves.iter().copied().filter(|&n| n < size).collect();
    let mut stored = Vec::new();
    for n in 0..t {
        let new = stored_hashes(n, &n.to_be_bytes(), &stored).unwrap();
        stored.extend(new);
    }
    let indexes: Vec<u64> = leaves.iter().map(|&n| u64::from(n)).collect();
    let proof = prove_records(t, &indexes, &stored).unwrap();
    let mut data = vec![size - 1, leaves.len() as u8];
    data.extend_from_slice(&leaves);
    for h in proof {
        data.extend_from_slice(&h.0);
    }
    let at = at % data.len();
    data[at] ^= flip;
    data
}

#[test]
fn an_honest_records_proof_input_verifies() {
    use bintrail_tlog::hash::leaf_hash;
    use bintrail_tlog::tree::{tree_hash, verify_records};
    let leaves: std::collections::BTreeSet<u8> = [1, 5, 6, 20].into();
    let data = records_proof_input(30, &leaves, 0, 0);
    fuzz_bodies::records_proof(&data);
    // The input is what the body reads: the honest proof verifies.
    let mut stored = Vec::new();
    for n in 0..30u64 {
        let new = bintrail_tlog::tree::stored_hashes(n, &n.to_be_bytes(), &stored).unwrap();
        stored.extend(new);
    }
    let proof: Vec<Hash> = data[6..]
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().unwrap()))
        .collect();
    assert!(!proof.is_empty());
    let records: Vec<(u64, Hash)> = [1u64, 5, 6, 20]
        .iter()
        .map(|&n| (n, leaf_hash(&n.to_be_bytes())))
        .collect();
    verify_records(&proof, 30, tree_hash(30, &stored).unwrap(), &records).unwrap();
}

const ARCHIVE_EXTENSIONS: [&str; 10] = [
    "whl", "zip", "tar", "gz", "tgz", "bz2", "xz", "egg", "exe", "msi",
];

/// Wheel and sdist names built from valid components.
fn filename() -> impl Strategy<Value = String> {
    let name = "[A-Za-z0-9]([A-Za-z0-9._]{0,10}[A-Za-z0-9])?";
    let version = "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}((a|b|rc|\\.post|\\.dev)[0-9]{1,2})?";
    // No element may be an archive extension (`whl`, `gz`, ...): those are refused.
    let tag = "[a-z0-9_]{1,12}(\\.[a-z0-9_]{1,12}){0,2}".prop_filter("archive extension", |t| {
        t.split('.').all(|one| !ARCHIVE_EXTENSIONS.contains(&one))
    });
    prop_oneof![
        (
            name,
            version,
            proptest::option::of("[0-9][a-z0-9_]{0,3}"),
            tag.clone(),
            tag.clone(),
            tag
        )
            .prop_map(|(n, v, build, py, abi, plat)| match build {
                Some(b) => format!("{n}-{v}-{b}-{py}-{abi}-{plat}.whl"),
                None => format!("{n}-{v}-{py}-{abi}-{plat}.whl"),
            }),
        (name, version, prop::sample::select(vec![".tar.gz", ".zip"]))
            .prop_map(|(n, v, ext)| format!("{n}-{v}{ext}")),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let publisher = ("https://[a-z0-9.-]{1,30}(/[!-~]{0,20})?", "[!-~]{1,60}")
        .prop_map(|(issuer, subject)| Publisher::new(&issuer, &subject).unwrap());
    (
        any::<[u8; 32]>(),
        filename(),
        proptest::option::of(publisher),
    )
        .prop_map(|(digest, filename, publisher)| Entry {
            checksum: Checksum::from_digest(digest),
            filename: filename.parse().unwrap(),
            publisher,
        })
}

proptest! {
    #[test]
    fn pypi_entry_round_trips(entry in entry()) {
        let bytes = entry.to_bytes();
        prop_assert_eq!(Entry::parse(&bytes), Ok(entry));
        fuzz_bodies::pypi_entry(&bytes);
    }

    #[test]
    fn tlog_proof_round_trips(
        extra in proptest::option::of(prop::collection::vec(any::<u8>(), 0..100)),
        index in any::<u64>(),
        hashes in prop::collection::vec(any::<[u8; 32]>(), 0..=64),
        seed in 0usize..2,
    ) {
        let proof = TlogProof {
            extra,
            index,
            inclusion_proof: hashes.into_iter().map(Hash).collect(),
            checkpoint: seeds().note[seed].clone(),
        };
        // The second seed note is not a checkpoint: such a proof must be rejected.
        let parsed = TlogProof::parse(&proof.to_bytes());
        if seed == 0 {
            prop_assert_eq!(parsed, Ok(proof));
        } else {
            prop_assert!(parsed.is_err());
        }
    }

    #[test]
    fn policy_quorum_of_k_any_witnesses(k in 1usize..=5, signed in prop::collection::vec(any::<bool>(), 5)) {
        let signers: Vec<Signer> = (0..5u8)
            .map(|i| Signer::generate(&format!("w{i}.example"), KeyType::CosignatureV1, [i + 1; 32]).unwrap())
            .collect();
        let mut text: String = signers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("witness W{i} {}\n", s.verifier()))
            .collect();
        text.push_str(&format!("group g {k} W0 W1 W2 W3 W4\nquorum g\n"));
        let policy: Policy = text.parse().unwrap();
        let verifiers: Vec<Verifier> = signers.iter().map(Signer::verifier).collect();
        let cosigned: Vec<&Verifier> = verifiers.iter().zip(&signed).filter(|(_, s)| **s).map(|(v, _)| v).collect();
        prop_assert_eq!(policy.quorum_met(&cosigned), cosigned.len() >= k);
        fuzz_bodies::policy(text.as_bytes());
    }
}
