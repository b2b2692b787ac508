//! Property tests against RFC 6962 written plainly (tree_common's reference_*):
//! random sizes up to a few thousand, random indexes, random corruptions.

mod tree_common;

use bintrail_tlog::hash::Hash;
use bintrail_tlog::tile::{Tile, TileLevel};
use bintrail_tlog::tree::{
    prove_record, prove_tree, split_stored_hash_index, stored_hash_index, tree_hash, verify_record,
    verify_tree,
};
use proptest::prelude::*;
use std::sync::OnceLock;
use tree_common::{TestLog, reference_consistency, reference_mth, reference_path};

const MAX: u64 = 3000;

/// One shared log of MAX records; building it per case would dominate the run.
fn log() -> &'static TestLog {
    static LOG: OnceLock<TestLog> = OnceLock::new();
    LOG.get_or_init(|| TestLog::with_size(MAX))
}

/// A size and an index below it.
fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX).prop_flat_map(|t| (Just(t), 0..t))
}

/// A size and an old size at most it.
fn size_and_old() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX).prop_flat_map(|t| (Just(t), 1..=t))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tree_hash_matches_reference(t in 0..=MAX) {
        let log = log();
        prop_assert_eq!(
            tree_hash(t, &log.hashes).expect("tree_hash"),
            reference_mth(&log.leaves[..t as usize])
        );
    }

    #[test]
    fn inclusion_proof_matches_reference_and_verifies((t, n) in size_and_index()) {
        let log = log();
        let leaves = &log.leaves[..t as usize];
        let proof = prove_record(t, n, &log.hashes).expect("prove_record");
        prop_assert_eq!(&proof, &reference_path(n as usize, leaves));
        let th = log.roots[t as usize];
        prop_assert!(verify_record(&proof, t, th, n, leaves[n as usize]).is_ok());
    }

    #[test]
    fn inclusion_proof_fails_after_any_bit_flip(
        (t, n) in (2..=MAX).prop_flat_map(|t| (Just(t), 0..t)),
        which in any::<prop::sample::Index>(),
        bit in 0..256usize,
    ) {
        let log = log();
        let mut proof = prove_record(t, n, &log.hashes).expect("prove_record");
        let i = which.index(proof.len());
        proof[i].0[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_record(&proof, t, log.roots[t as usize], n, log.leaves[n as usize]).is_err());
    }

    #[test]
    fn inclusion_proof_fails_for_wrong_index((t, n) in size_and_index(), other in 0..MAX) {
        prop_assume!(other != n && other < t);
        let log = log();
        let proof = prove_record(t, n, &log.hashes).expect("prove_record");
        let th = log.roots[t as usize];
        // The right leaf at the wrong index, and the wrong leaf at the right index.
        prop_assert!(verify_record(&proof, t, th, other, log.leaves[n as usize]).is_err());
        prop_assert!(verify_record(&proof, t, th, n, log.leaves[other as usize]).is_err());
    }

    #[test]
    fn inclusion_proof_fails_for_another_tree((t, n) in size_and_index(), other in 1..=MAX) {
        prop_assume!(other != t && n < other);
        let log = log();
        let proof = prove_record(t, n, &log.hashes).expect("prove_record");
        prop_assert!(verify_record(&proof, other, log.roots[other as usize], n, log.leaves[n as usize]).is_err());
    }

    #[test]
    fn consistency_proof_matches_reference_and_verifies((t, n) in size_and_old()) {
        let log = log();
        let proof = prove_tree(t, n, &log.hashes).expect("prove_tree");
        prop_assert_eq!(&proof, &reference_consistency(n as usize, &log.leaves[..t as usize]));
        prop_assert!(verify_tree(&proof, t, log.roots[t as usize], n, log.roots[n as usize]).is_ok());
    }

    #[test]
    fn consistency_proof_fails_after_any_bit_flip(
        (t, n) in size_and_old(),
        which in any::<prop::sample::Index>(),
        bit in 0..256usize,
    ) {
        let log = log();
        let mut proof = prove_tree(t, n, &log.hashes).expect("prove_tree");
        prop_assume!(!proof.is_empty());
        let i = which.index(proof.len());
        proof[i].0[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_tree(&proof, t, log.roots[t as usize], n, log.roots[n as usize]).is_err());
    }

    #[test]
    fn consistency_proof_fails_for_other_sizes((t, n) in size_and_old(), t2 in 1..=MAX, n2 in 1..=MAX) {
        prop_assume!(n < t);
        let log = log();
        let proof = prove_tree(t, n, &log.hashes).expect("prove_tree");
        if n2 != n && n2 <= t {
            prop_assert!(verify_tree(&proof, t, log.roots[t as usize], n2, log.roots[n2 as usize]).is_err());
        }
        if t2 != t && n <= t2 {
            prop_assert!(verify_tree(&proof, t2, log.roots[t2 as usize], n, log.roots[n as usize]).is_err());
        }
    }

    #[test]
    fn verification_never_panics(
        proof in prop::collection::vec(any::<[u8; 32]>().prop_map(Hash), 0..70),
        t in any::<u64>(),
        n in any::<u64>(),
        h in any::<[u8; 32]>().prop_map(Hash),
        th in any::<[u8; 32]>().prop_map(Hash),
    ) {
        let _ = verify_record(&proof, t, th, n, h);
        let _ = verify_tree(&proof, t, th, n, h);
    }
}

proptest! {
    #[test]
    fn split_inverts_stored_hash_index(level in 0u8..63, n in any::<u64>()) {
        // Keep (n + 1) << level within 2^63, the largest tree.
        let n = n >> (level + 1);
        let index = stored_hash_index(level, n);
        prop_assert_eq!(split_stored_hash_index(index), (level, n));
    }

    #[test]
    fn stored_hash_index_inverts_split(index in 0..(u64::MAX / 2)) {
        let (level, n) = split_stored_hash_index(index);
        prop_assert_eq!(stored_hash_index(level, n), index);
    }

    #[test]
    fn tile_path_round_trips(
        level in prop_oneof![(0u8..=63).prop_map(TileLevel::Hash), Just(TileLevel::Entries)],
        index in prop_oneof![any::<u64>(), 0..2000u64],
        width in 1..=256u64,
    ) {
        let tile = Tile { level, index, width };
        prop_assert_eq!(Tile::from_path(&tile.path()), Ok(tile));
    }

    #[test]
    fn tile_path_parser_never_panics(path in "tile/[0-9a-z./x]{0,40}") {
        if let Ok(tile) = Tile::from_path(&path) {
            prop_assert_eq!(tile.path(), path);
        }
    }
}
