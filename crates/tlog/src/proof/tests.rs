use super::*;
use crate::checkpoint::sign_checkpoint;
use crate::cosignature::cosign;
use crate::hash::leaf_hash;
use crate::note::{KeyType, Signer};
use crate::policy::CheckpointVerifyError;
use crate::tree::{prove_record, stored_hashes, tree_hash};

/// The hashes of the tlog-proof spec's example, in order.
const SPEC_HASHES: [&str; 5] = [
    "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=",
    "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=",
    "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=",
    "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=",
    "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=",
];
const SPEC_EXTRA: &str = "YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ";

fn fancylog() -> Signer {
    Signer::generate("example.com/fancylog", KeyType::Ed25519, [5; 32]).unwrap()
}

/// The spec example's checkpoint body, signed by a real key standing in for the
/// elided signatures.
fn spec_checkpoint() -> Vec<u8> {
    let cp: Checkpoint =
        "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
            .parse()
            .unwrap();
    sign_checkpoint(&cp, &fancylog()).unwrap().to_bytes()
}

fn spec_example() -> Vec<u8> {
    let mut text = format!("c2sp.org/tlog-proof@v1\nextra {SPEC_EXTRA}\nindex 73894\n");
    for h in SPEC_HASHES {
        text.push_str(h);
        text.push('\n');
    }
    text.push('\n');
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&spec_checkpoint());
    bytes
}

#[test]
fn spec_example_structure() {
    let bytes = spec_example();
    let proof = TlogProof::parse(&bytes).unwrap();
    assert_eq!(
        proof.extra.as_deref().unwrap(),
        &BASE64.decode(SPEC_EXTRA).unwrap()[..]
    );
    assert!(
        proof
            .extra
            .as_deref()
            .unwrap()
            .starts_with(b"age-v1.2.1-darwin-arm64.tar.gz")
    );
    assert_eq!(proof.index, 73894);
    let hashes: Vec<String> = proof.inclusion_proof.iter().map(Hash::to_base64).collect();
    assert_eq!(hashes, SPEC_HASHES);
    assert_eq!(proof.checkpoint, spec_checkpoint());
    assert_eq!(proof.to_bytes(), bytes);
}

#[test]
fn spec_example_with_elided_signatures_is_not_a_note() {
    let mut bytes = spec_example();
    let at = bytes.len() - spec_checkpoint().len();
    bytes.truncate(at);
    bytes.extend_from_slice(
        "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n\u{2014} example.com/fancylog hI2DJw[...]1roloI=\n"
            .as_bytes(),
    );
    assert!(matches!(
        TlogProof::parse(&bytes),
        Err(ProofError::CheckpointNote(_))
    ));
}

#[test]
fn round_trips_without_extra_and_hashes() {
    let proof = TlogProof {
        extra: None,
        index: 0,
        inclusion_proof: vec![],
        checkpoint: spec_checkpoint(),
    };
    let bytes = proof.to_bytes();
    assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nindex 0\n\nexample.com/fancylog\n"));
    assert_eq!(TlogProof::parse(&bytes).unwrap(), proof);
}

/// The writer encodes extra data in 48-byte chunks: every length across several
/// chunk boundaries must give the same text as encoding it whole.
#[test]
fn writer_encodes_extra_of_every_length_whole() {
    let checkpoint = spec_checkpoint();
    for len in 0..=150usize {
        let extra: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let proof = TlogProof {
            extra: Some(extra.clone()),
            index: 1_000_000_007,
            inclusion_proof: vec![Hash([9; 32]); 3],
            checkpoint: checkpoint.clone(),
        };
        let bytes = proof.to_bytes();
        let want = format!("extra {}\nindex 1000000007\n", BASE64.encode(&extra));
        assert!(
            bytes[PROOF_HEADER.len() + 1..].starts_with(want.as_bytes()),
            "{len}"
        );
        assert_eq!(TlogProof::parse(&bytes).unwrap(), proof, "{len}");
    }
}

#[test]
fn round_trips_empty_extra() {
    let proof = TlogProof {
        extra: Some(vec![]),
        index: u64::MAX,
        inclusion_proof: vec![Hash([7; 32]); MAX_PROOF_HASHES],
        checkpoint: spec_checkpoint(),
    };
    let bytes = proof.to_bytes();
    assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nextra \nindex 18446744073709551615\n"));
    assert_eq!(TlogProof::parse(&bytes).unwrap(), proof);
}

/// Replaces the header (everything before the checkpoint) of the spec example.
fn with_header(header: &str) -> Vec<u8> {
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&spec_checkpoint());
    bytes
}

macro_rules! invalid_proofs {
    ($($test:ident => $bytes:expr, $err:pat,)*) => {$(
        #[test]
        fn $test() {
            let bytes: Vec<u8> = $bytes;
            let got = TlogProof::parse(&bytes);
            assert!(matches!(got, Err($err)), "{:?} gave {got:?}", String::from_utf8_lossy(&bytes));
        }
    )*};
}

const H: &str = "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=";

invalid_proofs! {
    empty => vec![], ProofError::Truncated,
    wrong_version => with_header("c2sp.org/tlog-proof@v2\nindex 0\n\n"), ProofError::BadHeader,
    header_with_space => with_header("c2sp.org/tlog-proof@v1 \nindex 0\n\n"), ProofError::BadHeader,
    crlf => with_header("c2sp.org/tlog-proof@v1\r\nindex 0\r\n\r\n"), ProofError::BadHeader,
    header_only => b"c2sp.org/tlog-proof@v1\n".to_vec(), ProofError::Truncated,
    missing_index => with_header(&format!("c2sp.org/tlog-proof@v1\n{H}\n\n")), ProofError::InvalidIndex { line: 2 },
    index_leading_zero => with_header("c2sp.org/tlog-proof@v1\nindex 01\n\n"), ProofError::InvalidIndex { line: 2 },
    index_negative => with_header("c2sp.org/tlog-proof@v1\nindex -1\n\n"), ProofError::InvalidIndex { .. },
    index_plus => with_header("c2sp.org/tlog-proof@v1\nindex +1\n\n"), ProofError::InvalidIndex { .. },
    index_overflow => with_header("c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\n"), ProofError::InvalidIndex { .. },
    index_two_spaces => with_header("c2sp.org/tlog-proof@v1\nindex  1\n\n"), ProofError::InvalidIndex { .. },
    index_empty => with_header("c2sp.org/tlog-proof@v1\nindex \n\n"), ProofError::InvalidIndex { .. },
    index_before_extra => with_header("c2sp.org/tlog-proof@v1\nindex 1\nextra AA==\n\n"), ProofError::InvalidHash { line: 3 },
    extra_twice => with_header("c2sp.org/tlog-proof@v1\nextra AA==\nextra AA==\nindex 1\n\n"), ProofError::InvalidIndex { line: 3 },
    extra_bad_base64 => with_header("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\n"), ProofError::InvalidExtra { line: 2 },
    extra_non_canonical => with_header("c2sp.org/tlog-proof@v1\nextra AB==\nindex 1\n\n"), ProofError::InvalidExtra { line: 2 },
    extra_unpadded => with_header("c2sp.org/tlog-proof@v1\nextra AA\nindex 1\n\n"), ProofError::InvalidExtra { line: 2 },
    hash_short => with_header("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\n"), ProofError::InvalidHash { line: 3 },
    hash_trailing_space => with_header(&format!("c2sp.org/tlog-proof@v1\nindex 1\n{H} \n\n")), ProofError::InvalidHash { line: 3 },
    hash_url_safe => with_header("c2sp.org/tlog-proof@v1\nindex 1\nB95lDa8R83lS8n0eG-o0buTxRKQTYFi__1U8anccXmA=\n\n"), ProofError::InvalidHash { line: 3 },
    too_many_hashes => with_header(&format!("c2sp.org/tlog-proof@v1\nindex 1\n{}\n", format!("{H}\n").repeat(MAX_PROOF_HASHES + 1))), ProofError::TooManyHashes,
    no_blank_line => format!("c2sp.org/tlog-proof@v1\nindex 1\n{H}").into_bytes(), ProofError::Truncated,
    missing_checkpoint => b"c2sp.org/tlog-proof@v1\nindex 1\n\n".to_vec(), ProofError::CheckpointNote(_),
    unsigned_checkpoint => b"c2sp.org/tlog-proof@v1\nindex 1\n\nexample.com/fancylog\n1\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n".to_vec(), ProofError::CheckpointNote(_),
    checkpoint_not_a_checkpoint => {
        let mut b = b"c2sp.org/tlog-proof@v1\nindex 1\n\n".to_vec();
        b.extend_from_slice(&Note::sign("hello\n", &[&fancylog()]).unwrap().to_bytes());
        b
    }, ProofError::Checkpoint(_),
    not_utf8_index => with_header("c2sp.org/tlog-proof@v1\nindex \u{0}\n\n").into_iter().map(|b| if b == 0 { 0xff } else { b }).collect(), ProofError::NotUtf8 { line: 2 },
    too_large => vec![b'x'; MAX_PROOF_SIZE + 1], ProofError::TooLarge { .. },
}

/// A 7-entry log, its leaf hashes and a signed, cosigned checkpoint of it.
struct Fixture {
    leaves: Vec<Hash>,
    stored: Vec<Hash>,
    policy: Policy,
    checkpoint: Vec<u8>,
}

fn fixture(cosigned: bool) -> Fixture {
    let log = Signer::generate("example.com/log", KeyType::Ed25519, [1; 32]).unwrap();
    let witness = Signer::generate("w.example", KeyType::CosignatureV1, [2; 32]).unwrap();
    let mut stored: Vec<Hash> = Vec::new();
    let mut leaves = Vec::new();
    for i in 0..7u64 {
        let data = format!("entry {i}");
        leaves.push(leaf_hash(data.as_bytes()));
        let new = stored_hashes(i, data.as_bytes(), &stored).unwrap();
        stored.extend(new);
    }
    let cp = Checkpoint {
        origin: "example.com/log".into(),
        size: 7,
        root_hash: tree_hash(7, &stored).unwrap(),
        extensions: vec![],
    };
    let mut note = sign_checkpoint(&cp, &log).unwrap();
    if cosigned {
        note.add_signature(cosign(&witness, &cp, 1_700_000_000).unwrap());
    }
    let policy = format!(
        "log {}\nwitness W {}\nquorum W\n",
        log.verifier(),
        witness.verifier()
    )
    .parse()
    .unwrap();
    Fixture {
        leaves,
        stored,
        policy,
        checkpoint: note.to_bytes(),
    }
}

fn proof_for(f: &Fixture, index: u64) -> TlogProof {
    TlogProof {
        extra: Some(b"context".to_vec()),
        index,
        inclusion_proof: prove_record(7, index, &f.stored).unwrap(),
        checkpoint: f.checkpoint.clone(),
    }
}

#[test]
fn verifies_every_index_after_a_round_trip() {
    let f = fixture(true);
    for index in 0..7 {
        let proof = TlogProof::parse(&proof_for(&f, index).to_bytes()).unwrap();
        let verified = proof.verify(&f.policy, f.leaves[index as usize]).unwrap();
        assert_eq!(verified.witnesses, ["W"]);
        assert_eq!(verified.checkpoint.size, 7);
    }
}

#[test]
fn rejects_wrong_leaf_and_wrong_index() {
    let f = fixture(true);
    let proof = proof_for(&f, 3);
    assert!(matches!(
        proof.verify(&f.policy, f.leaves[4]),
        Err(ProofVerifyError::InclusionProofInvalid {
            index: 3,
            size: 7,
            ..
        })
    ));
    let moved = TlogProof { index: 2, ..proof };
    assert!(matches!(
        moved.verify(&f.policy, f.leaves[3]),
        Err(ProofVerifyError::InclusionProofInvalid { .. })
    ));
}

#[test]
fn rejects_every_single_bit_flip_in_the_proof() {
    let f = fixture(true);
    let proof = proof_for(&f, 5);
    // Three bits per hash (first, middle, last): each verify checks two Ed25519
    // signatures, too slow in debug builds for all 256.
    for (i, bit) in (0..proof.inclusion_proof.len()).flat_map(|i| [0, 133, 255].map(|b| (i, b))) {
        let mut bad = proof.clone();
        bad.inclusion_proof[i].0[bit / 8] ^= 1 << (bit % 8);
        assert!(
            bad.verify(&f.policy, f.leaves[5]).is_err(),
            "hash {i} bit {bit}"
        );
    }
}

#[test]
fn rejects_index_out_of_range_and_wrong_length() {
    let f = fixture(true);
    let mut proof = proof_for(&f, 6);
    proof.index = 7;
    assert_eq!(
        proof.verify(&f.policy, f.leaves[6]),
        Err(ProofVerifyError::IndexOutOfRange { index: 7, size: 7 })
    );
    let mut short = proof_for(&f, 0);
    let expected = short.inclusion_proof.len();
    short.inclusion_proof.pop();
    assert_eq!(
        short.verify(&f.policy, f.leaves[0]),
        Err(ProofVerifyError::InclusionProofLength {
            index: 0,
            size: 7,
            expected,
            got: expected - 1
        })
    );
}

#[test]
fn rejects_checkpoint_without_quorum() {
    let f = fixture(false);
    assert!(matches!(
        proof_for(&f, 1).verify(&f.policy, f.leaves[1]),
        Err(ProofVerifyError::Checkpoint(
            CheckpointVerifyError::QuorumNotMet { .. }
        ))
    ));
}
