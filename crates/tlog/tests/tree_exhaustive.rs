//! Exhaustive small-N checks in the manner of x/mod sumdb/tlog's TestTree: every
//! inclusion and consistency proof of every tree up to size 100 (and around
//! power-of-two boundaries) is compared with RFC 6962 written plainly, verified,
//! and corrupted.

mod tree_common;

use bintrail_tlog::hash::{Hash, empty_tree_hash};
use bintrail_tlog::tree::{
    TreeError, prove_record, prove_tree, stored_hash_count, tree_hash, verify_record, verify_tree,
};
use tree_common::{TestLog, reference_consistency, reference_mth, reference_path};

const SMALL: u64 = 100;

#[test]
fn tree_hashes_match_reference_for_every_small_size() {
    let log = TestLog::with_size(SMALL + 1);
    for n in 0..=SMALL + 1 {
        let reference = reference_mth(&log.leaves[..n as usize]);
        assert_eq!(log.roots[n as usize], reference, "size {n}");
        assert_eq!(tree_hash(n, &log.hashes).expect("tree_hash"), reference);
    }
}

#[test]
fn stored_hash_count_matches_appended_hashes() {
    let mut log = TestLog::new();
    for n in 0..=300u64 {
        assert_eq!(stored_hash_count(n), log.hashes.len() as u64, "size {n}");
        log.append();
    }
}

#[test]
fn every_inclusion_proof_up_to_100() {
    let log = TestLog::with_size(SMALL + 1);
    for t in 1..=SMALL {
        check_all_inclusion_proofs(&log, t);
    }
}

#[test]
fn every_consistency_proof_up_to_100() {
    let log = TestLog::with_size(SMALL + 1);
    for t in 1..=SMALL {
        check_all_consistency_proofs(&log, t);
    }
}

#[test]
fn every_proof_near_tile_and_power_of_two_boundaries() {
    let log = TestLog::with_size(1026);
    for t in [
        127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025,
    ] {
        assert_eq!(
            log.roots[t as usize],
            reference_mth(&log.leaves[..t as usize])
        );
        check_all_inclusion_proofs(&log, t);
        check_all_consistency_proofs(&log, t);
    }
}

#[test]
fn proofs_at_65536_boundary() {
    let log = TestLog::with_size(65537);
    let sizes = [65535u64, 65536, 65537];
    for &t in &sizes {
        let th = tree_hash(t, &log.hashes).expect("tree_hash");
        for n in [0, 1, 255, 256, 257, 32767, 32768, 65534, t - 1] {
            let proof = prove_record(t, n, &log.hashes).expect("prove_record");
            verify_record(&proof, t, th, n, log.leaves[n as usize]).expect("verify_record");
            assert!(verify_record(&proof, t, th, n, log.leaves[(n as usize + 1) % 65537]).is_err());
        }
        for n in [1, 2, 255, 256, 257, 32768, 65535, 65536, t] {
            if n > t {
                continue;
            }
            let h = tree_hash(n, &log.hashes).expect("tree_hash");
            let proof = prove_tree(t, n, &log.hashes).expect("prove_tree");
            verify_tree(&proof, t, th, n, h).expect("verify_tree");
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i].0[31] ^= 0x80;
                assert!(verify_tree(&bad, t, th, n, h).is_err(), "t={t} n={n} i={i}");
            }
        }
    }
}

#[test]
fn size_zero_and_one() {
    let log = TestLog::with_size(1);
    let empty = empty_tree_hash();
    assert_eq!(tree_hash(0, &log.hashes).expect("tree_hash"), empty);
    assert_eq!(tree_hash(1, &log.hashes).expect("tree_hash"), log.leaves[0]);
    // No record is in the empty tree.
    assert!(matches!(
        prove_record(0, 0, &log.hashes),
        Err(TreeError::IndexOutOfRange { index: 0, size: 0 })
    ));
    assert!(matches!(
        verify_record(&[], 0, empty, 0, log.leaves[0]),
        Err(TreeError::IndexOutOfRange { .. })
    ));
    // Size 1: the proof is empty and the leaf is the root.
    assert_eq!(
        prove_record(1, 0, &log.hashes).expect("prove"),
        Vec::<Hash>::new()
    );
    verify_record(&[], 1, log.leaves[0], 0, log.leaves[0]).expect("verify size 1");
    assert!(matches!(
        verify_record(&[], 1, log.leaves[0], 0, empty),
        Err(TreeError::InvalidProof)
    ));
    // Consistency from the empty tree: empty proof, old hash must be the empty hash.
    assert_eq!(
        prove_tree(1, 0, &log.hashes).expect("prove"),
        Vec::<Hash>::new()
    );
    verify_tree(&[], 1, log.leaves[0], 0, empty).expect("0 -> 1");
    verify_tree(&[], 0, empty, 0, empty).expect("0 -> 0");
    assert!(matches!(
        verify_tree(&[], 0, log.leaves[0], 0, empty),
        Err(TreeError::InvalidProof)
    ));
    assert!(matches!(
        verify_tree(&[], 1, log.leaves[0], 0, log.leaves[0]),
        Err(TreeError::InvalidProof)
    ));
    assert!(matches!(
        verify_tree(&[log.leaves[0]], 1, log.leaves[0], 0, empty),
        Err(TreeError::ProofLength {
            expected: 0,
            got: 1
        })
    ));
    verify_tree(&[], 1, log.leaves[0], 1, log.leaves[0]).expect("1 -> 1");
    assert!(matches!(
        verify_tree(&[], 0, empty, 1, log.leaves[0]),
        Err(TreeError::InvalidTreeSizes { old: 1, new: 0 })
    ));
}

/// Compare with the quadratic reference and flip bits for every proof of small
/// trees, and for a spread of proofs in larger ones (all of them take minutes in
/// debug builds); every proof is still generated and verified.
fn against_reference(t: u64, n: u64) -> bool {
    t <= SMALL || n < 3 || n + 3 > t || n.is_multiple_of(17) || n.is_power_of_two()
}

fn check_all_inclusion_proofs(log: &TestLog, t: u64) {
    let leaves = &log.leaves[..t as usize];
    let th = log.roots[t as usize];
    let next_th = log.roots[t as usize + 1];
    let prev_th = log.roots[t as usize - 1];
    for n in 0..t {
        let h = leaves[n as usize];
        let proof = prove_record(t, n, &log.hashes).expect("prove_record");
        if against_reference(t, n) {
            assert_eq!(proof, reference_path(n as usize, leaves), "t={t} n={n}");
        }
        verify_record(&proof, t, th, n, h).expect("verify_record");
        // Single-bit flips in every proof hash fail.
        for i in 0..proof.len() {
            if !against_reference(t, n) {
                break;
            }
            for bit in [0, 7, 255] {
                let mut bad = proof.clone();
                bad[i].0[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    matches!(
                        verify_record(&bad, t, th, n, h),
                        Err(TreeError::InvalidProof)
                    ),
                    "t={t} n={n} i={i} bit={bit}"
                );
            }
        }
        // Wrong leaf, wrong root, wrong index, wrong size, wrong length fail.
        let mut bad_h = h;
        bad_h.0[0] ^= 1;
        assert!(verify_record(&proof, t, th, n, bad_h).is_err());
        let mut bad_th = th;
        bad_th.0[0] ^= 1;
        assert!(verify_record(&proof, t, bad_th, n, h).is_err());
        if t > 1 {
            let other = (n + 1) % t;
            assert!(
                verify_record(&proof, t, th, other, h).is_err(),
                "t={t} n={n}"
            );
        }
        // The proof does not fit the neighbouring trees. (Claiming another size
        // with the same root can verify when both sizes give the proof the same
        // shape: RFC 6962 proofs authenticate the root, and the checkpoint
        // authenticates the size with it.)
        assert!(
            verify_record(&proof, t + 1, next_th, n, h).is_err(),
            "t={t} n={n}"
        );
        if n < t - 1 {
            assert!(
                verify_record(&proof, t - 1, prev_th, n, h).is_err(),
                "t={t} n={n}"
            );
        }
        let mut longer = proof.clone();
        longer.push(th);
        assert!(matches!(
            verify_record(&longer, t, th, n, h),
            Err(TreeError::ProofLength { .. })
        ));
        if !proof.is_empty() {
            assert!(matches!(
                verify_record(&proof[1..], t, th, n, h),
                Err(TreeError::ProofLength { .. })
            ));
        }
    }
    assert!(matches!(
        prove_record(t, t, &log.hashes),
        Err(TreeError::IndexOutOfRange { .. })
    ));
}

fn check_all_consistency_proofs(log: &TestLog, t: u64) {
    let leaves = &log.leaves[..t as usize];
    let th = log.roots[t as usize];
    let next_th = log.roots[t as usize + 1];
    for n in 1..=t {
        let h = log.roots[n as usize];
        let proof = prove_tree(t, n, &log.hashes).expect("prove_tree");
        if against_reference(t, n) {
            assert_eq!(
                proof,
                reference_consistency(n as usize, leaves),
                "t={t} n={n}"
            );
        }
        verify_tree(&proof, t, th, n, h).expect("verify_tree");
        for i in 0..proof.len() {
            if !against_reference(t, n) {
                break;
            }
            for bit in [0, 100, 255] {
                let mut bad = proof.clone();
                bad[i].0[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    matches!(verify_tree(&bad, t, th, n, h), Err(TreeError::InvalidProof)),
                    "t={t} n={n} i={i} bit={bit}"
                );
            }
        }
        let mut bad_h = h;
        bad_h.0[5] ^= 4;
        assert!(verify_tree(&proof, t, th, n, bad_h).is_err(), "t={t} n={n}");
        let mut bad_th = th;
        bad_th.0[5] ^= 4;
        assert!(verify_tree(&proof, t, bad_th, n, h).is_err(), "t={t} n={n}");
        // The same proof claimed between neighbouring trees fails.
        if n > 1 {
            let prev_h = log.roots[n as usize - 1];
            assert!(
                verify_tree(&proof, t, th, n - 1, prev_h).is_err(),
                "t={t} n={n}"
            );
        }
        if n < t {
            assert!(
                verify_tree(&proof, t + 1, next_th, n, h).is_err(),
                "t={t} n={n}"
            );
        }
    }
    assert!(matches!(
        prove_tree(t, t + 1, &log.hashes),
        Err(TreeError::InvalidTreeSizes { .. })
    ));
}
