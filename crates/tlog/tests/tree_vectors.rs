//! Known-answer tests: the RFC 6962 / Certificate Transparency 8-leaf vectors.
//!
//! Source: transparency-dev/merkle proof/verify_test.go (the vectors originate in
//! google/certificate-transparency's C++ merkle tree tests). Their leaf indexes
//! are 1-based; here they are converted to 0-based.

use bintrail_tlog::hash::{Hash, empty_tree_hash, leaf_hash};
use bintrail_tlog::tree::{
    TreeError, prove_record, prove_tree, stored_hashes, tree_hash, verify_record, verify_tree,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Root hashes of the trees of sizes 1 to 8.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (0-based leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    let bytes = hex::decode(s).expect("test vector is hex");
    Hash(bytes.try_into().expect("test vector is 32 bytes"))
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

/// The stored hashes of the 8-leaf tree, built as a log would.
fn storage() -> Vec<Hash> {
    let mut stored = Vec::new();
    for (i, leaf) in LEAVES.iter().enumerate() {
        let data = hex::decode(leaf).expect("hex");
        let new = stored_hashes(i as u64, &data, &stored).expect("stored_hashes");
        stored.extend(new);
    }
    stored
}

fn leaf(i: u64) -> Hash {
    leaf_hash(&hex::decode(LEAVES[i as usize]).expect("hex"))
}

#[test]
fn empty_root() {
    assert_eq!(
        empty_tree_hash(),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
}

#[test]
fn roots_for_sizes_1_to_8() {
    let stored = storage();
    for (i, root) in ROOTS.iter().enumerate() {
        let size = i as u64 + 1;
        assert_eq!(
            tree_hash(size, &stored).expect("tree_hash"),
            h(root),
            "size {size}"
        );
    }
}

#[test]
fn inclusion_proofs() {
    let stored = storage();
    for (index, size, path) in INCLUSION {
        let want = hashes(path);
        assert_eq!(
            prove_record(size, index, &stored).expect("prove_record"),
            want,
            "index {index} size {size}"
        );
        let root = h(ROOTS[size as usize - 1]);
        verify_record(&want, size, root, index, leaf(index)).expect("verify_record");
        // Probes after transparency-dev/merkle's corruptInclusionProof.
        let bad = |proof: &[Hash], size: u64, index: u64, root: Hash, leaf: Hash| {
            verify_record(proof, size, root, index, leaf).is_err()
        };
        let l = leaf(index);
        assert!(bad(&want, size, index.wrapping_sub(1), root, l));
        assert!(bad(&want, size, index + 1, root, l));
        assert!(bad(&want, size, index ^ 2, root, l));
        assert!(bad(&want, size * 2, index, root, l));
        assert!(bad(&want, size / 2, index, root, l));
        assert!(bad(&want, size, index, root, leaf_hash(b"WrongLeaf")));
        assert!(bad(&want, size, index, empty_tree_hash(), l));
        let mut longer = want.clone();
        longer.push(root);
        assert!(bad(&longer, size, index, root, l));
        let mut prefixed = vec![root];
        prefixed.extend(&want);
        assert!(bad(&prefixed, size, index, root, l));
        assert!(bad(&want[..want.len() - 1], size, index, root, l));
        for i in 0..want.len() {
            let mut flipped = want.clone();
            flipped[i].0[0] ^= 8;
            assert!(bad(&flipped, size, index, root, l));
        }
    }
}

#[test]
fn consistency_proofs() {
    let stored = storage();
    for (old, new, path) in CONSISTENCY {
        let want = hashes(path);
        assert_eq!(
            prove_tree(new, old, &stored).expect("prove_tree"),
            want,
            "{old} -> {new}"
        );
        let (r1, r2) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
        verify_tree(&want, new, r2, old, r1).expect("verify_tree");
        // Probes after transparency-dev/merkle's corruptConsistencyProof.
        let bad = |proof: &[Hash], new: u64, r2: Hash, old: u64, r1: Hash| {
            verify_tree(proof, new, r2, old, r1).is_err()
        };
        assert!(bad(&want, new, r2, old - 1, r1));
        assert!(bad(&want, new, r2, old + 1, r1));
        assert!(bad(&want, new, r2, old ^ 2, r1));
        assert!(bad(&want, new * 2, r2, old, r1));
        assert!(bad(&want, new / 2, r2, old, r1));
        assert!(bad(&want, new, r2, old, leaf_hash(b"WrongRoot")));
        assert!(bad(&want, new, leaf_hash(b"WrongRoot"), old, r1));
        assert!(bad(&want, new, r1, old, r2));
        assert!(bad(&[], new, r2, old, r1));
        for extra in [r1, r2, want[0]] {
            let mut longer = want.clone();
            longer.push(extra);
            assert!(bad(&longer, new, r2, old, r1));
            let mut prefixed = vec![extra];
            prefixed.extend(&want);
            assert!(bad(&prefixed, new, r2, old, r1));
        }
        assert!(bad(&want[..want.len() - 1], new, r2, old, r1));
        for i in 0..want.len() {
            let mut flipped = want.clone();
            flipped[i].0[0] ^= 16;
            assert!(bad(&flipped, new, r2, old, r1));
        }
    }
}

#[test]
fn trivial_consistency() {
    let r = h(ROOTS[0]);
    let e = empty_tree_hash();
    verify_tree(&[], 1, r, 1, r).expect("1 -> 1");
    verify_tree(&[], 0, e, 0, e).expect("0 -> 0");
    verify_tree(&[], 1, r, 0, e).expect("0 -> 1");
    assert!(matches!(
        verify_tree(&[], 1, r, 1, e),
        Err(TreeError::InvalidProof)
    ));
    assert!(matches!(
        verify_tree(&[e], 1, r, 1, r),
        Err(TreeError::ProofLength { .. })
    ));
    assert!(matches!(
        verify_tree(&[], 1, r, 2, r),
        Err(TreeError::InvalidTreeSizes { .. })
    ));
    assert!(matches!(
        verify_tree(&[], 2, r, 1, r),
        Err(TreeError::ProofLength {
            expected: 1,
            got: 0
        })
    ));
}
