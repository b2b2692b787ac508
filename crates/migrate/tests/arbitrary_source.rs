//! `bintrail migrate` reading a source with one file replaced by arbitrary bytes or a
//! mutation of itself: no panic, a refusal writes no checkpoint, and a migration that
//! succeeds copied exactly the original log (the law of `fuzz/src/migrate.rs`).

#[path = "../../../fuzz/src/migrate.rs"]
mod fuzz_bodies;

use proptest::prelude::*;

#[test]
fn the_unchanged_log_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = fuzz_bodies::write_log(dir.path());
    for (i, (_, data)) in files.iter().enumerate() {
        let mut input = vec![i as u8];
        input.extend_from_slice(data);
        fuzz_bodies::migrate_source(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz_bodies::migrate_source(&data);
    }

    #[test]
    fn one_byte_changed(pick in any::<u8>(), at in any::<usize>(), xor in 1u8..) {
        let dir = tempfile::tempdir().unwrap();
        let (_, files) = fuzz_bodies::write_log(dir.path());
        let (_, data) = &files[usize::from(pick) % files.len()];
        let mut changed = data.clone();
        let at = at % changed.len();
        changed[at] ^= xor;
        let mut input = vec![pick];
        input.extend_from_slice(&changed);
        // A changed byte must be refused: the law's "succeeds only on the original".
        fuzz_bodies::migrate_source(&input);
    }
}
