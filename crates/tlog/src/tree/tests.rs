use super::*;

#[test]
fn stored_hash_index_small_values() {
    // Layout for 4 records: leaf0, leaf1, node(0..2), leaf2, leaf3, node(2..4), node(0..4).
    assert_eq!(stored_hash_index(0, 0), 0);
    assert_eq!(stored_hash_index(0, 1), 1);
    assert_eq!(stored_hash_index(1, 0), 2);
    assert_eq!(stored_hash_index(0, 2), 3);
    assert_eq!(stored_hash_index(0, 3), 4);
    assert_eq!(stored_hash_index(1, 1), 5);
    assert_eq!(stored_hash_index(2, 0), 6);
    assert_eq!(stored_hash_count(4), 7);
}

#[test]
fn split_inverts_for_every_small_index() {
    for index in 0..100_000u64 {
        let (level, n) = split_stored_hash_index(index);
        assert_eq!(stored_hash_index(level, n), index, "index {index}");
    }
}

#[test]
fn split_at_the_top_of_the_range() {
    let top = stored_hash_index(63, 0);
    assert_eq!(split_stored_hash_index(top), (63, 0));
    let last_leaf = stored_hash_index(0, MAX_TREE_SIZE);
    assert_eq!(split_stored_hash_index(last_leaf), (0, MAX_TREE_SIZE));
    // Every u64 splits without panicking.
    let _ = split_stored_hash_index(u64::MAX);
}

#[test]
fn split_point_is_largest_power_below() {
    assert_eq!(split_point(2), 1);
    assert_eq!(split_point(3), 2);
    assert_eq!(split_point(4), 2);
    assert_eq!(split_point(5), 4);
    assert_eq!(split_point(1 << 63), 1 << 62);
    assert_eq!(split_point(u64::MAX), 1 << 63);
}

#[test]
fn in_memory_reader_reports_missing_index() {
    let hashes = vec![leaf_hash(b"a")];
    assert!(matches!(
        hashes.read_hashes(&[1]),
        Err(TreeError::HashNotInTree { index: 1, size: 1 })
    ));
}

#[test]
fn short_reader_is_caught() {
    struct Short;
    impl HashReader for Short {
        fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, TreeError> {
            Ok(vec![])
        }
    }
    assert!(matches!(
        tree_hash(3, &Short),
        Err(TreeError::ShortRead {
            requested: 2,
            got: 0
        })
    ));
}

#[test]
fn oversized_trees_are_errors_not_panics() {
    let empty: Vec<Hash> = Vec::new();
    assert!(matches!(
        tree_hash(u64::MAX, &empty),
        Err(TreeError::TreeSizeTooLarge { .. })
    ));
    assert!(matches!(
        prove_record(u64::MAX, 0, &empty),
        Err(TreeError::TreeSizeTooLarge { .. })
    ));
    assert!(matches!(
        prove_tree(u64::MAX, 1, &empty),
        Err(TreeError::TreeSizeTooLarge { .. })
    ));
    assert!(matches!(
        stored_hashes(MAX_TREE_SIZE, b"x", &empty),
        Err(TreeError::TreeSizeTooLarge { .. })
    ));
    // Verification needs no stored indexes, so any sizes are fine there.
    assert!(matches!(
        verify_record(&[], u64::MAX, Hash::default(), 0, Hash::default()),
        Err(TreeError::ProofLength {
            expected: 64,
            got: 0
        })
    ));
}
