//! Entry bundles: round trips and strict parsing.

use bintrail_tlog::bundle::{
    BundleError, encode_entry_bundle, parse_entry_bundle, parse_entry_bundle_with_width,
};
use proptest::prelude::*;

#[test]
fn round_trip_simple() {
    let entries: Vec<&[u8]> = vec![b"a", b"", b"hello", &[0u8; 300]];
    let data = encode_entry_bundle(&entries).expect("encode");
    assert_eq!(&data[..3], &[0, 1, b'a']);
    assert_eq!(&data[3..5], &[0, 0]);
    assert_eq!(parse_entry_bundle(&data).expect("parse"), entries);
}

#[test]
fn zero_length_entries_round_trip() {
    let entries = vec![Vec::<u8>::new(); 256];
    let data = encode_entry_bundle(&entries).expect("encode");
    assert_eq!(data, vec![0u8; 512]);
    let parsed = parse_entry_bundle(&data).expect("parse");
    assert_eq!(parsed.len(), 256);
    assert!(parsed.iter().all(|e| e.is_empty()));
}

#[test]
fn longest_entry_round_trips() {
    let entry = vec![7u8; 65535];
    let data = encode_entry_bundle([&entry]).expect("encode");
    assert_eq!(&data[..2], &[0xff, 0xff]);
    assert_eq!(parse_entry_bundle(&data).expect("parse"), vec![&entry[..]]);
}

#[test]
fn entry_too_long_for_uint16() {
    let entries = [vec![1u8; 3], vec![0u8; 65536]];
    assert_eq!(
        encode_entry_bundle(&entries),
        Err(BundleError::EntryTooLong {
            index: 1,
            len: 65536
        })
    );
}

#[test]
fn more_than_256_entries() {
    let entries = vec![b"x"; 257];
    assert_eq!(
        encode_entry_bundle(&entries),
        Err(BundleError::TooManyEntries)
    );
    let mut data = encode_entry_bundle(&entries[..256]).expect("encode");
    data.extend_from_slice(&[0, 1, b'x']);
    assert_eq!(parse_entry_bundle(&data), Err(BundleError::TooManyEntries));
    // Even a trailing zero-length entry is one entry too many.
    let mut data = vec![0u8; 512];
    data.extend_from_slice(&[0, 0]);
    assert_eq!(parse_entry_bundle(&data), Err(BundleError::TooManyEntries));
}

#[test]
fn empty_bundle() {
    assert_eq!(
        encode_entry_bundle(Vec::<Vec<u8>>::new()),
        Err(BundleError::Empty)
    );
    assert_eq!(parse_entry_bundle(&[]), Err(BundleError::Empty));
}

#[test]
fn truncated_length_prefix() {
    assert_eq!(
        parse_entry_bundle(&[0]),
        Err(BundleError::TruncatedLength { index: 0 })
    );
    assert_eq!(
        parse_entry_bundle(&[0, 1, b'a', 0]),
        Err(BundleError::TruncatedLength { index: 1 })
    );
}

#[test]
fn truncated_entry() {
    assert_eq!(
        parse_entry_bundle(&[0, 5, b'a', b'b']),
        Err(BundleError::TruncatedEntry {
            index: 0,
            len: 5,
            available: 2
        })
    );
}

#[test]
fn trailing_bytes_are_a_truncated_entry() {
    // One stray byte after the last entry cannot be a length prefix.
    assert_eq!(
        parse_entry_bundle(&[0, 1, b'a', 9]),
        Err(BundleError::TruncatedLength { index: 1 })
    );
    // Two or more stray bytes read as a length that overruns the data.
    assert!(matches!(
        parse_entry_bundle(&[0, 1, b'a', 9, 9, 9]),
        Err(BundleError::TruncatedEntry { index: 1, .. })
    ));
}

#[test]
fn width_must_match() {
    let data = encode_entry_bundle([b"a", b"b"]).expect("encode");
    assert_eq!(
        parse_entry_bundle_with_width(&data, 2)
            .expect("parse")
            .len(),
        2
    );
    assert_eq!(
        parse_entry_bundle_with_width(&data, 3),
        Err(BundleError::CountMismatch {
            expected: 3,
            got: 2
        })
    );
}

proptest! {
    #[test]
    fn round_trip(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..=256)) {
        let data = encode_entry_bundle(&entries).expect("encode");
        let parsed = parse_entry_bundle(&data).expect("parse");
        prop_assert_eq!(parsed.len(), entries.len());
        for (p, e) in parsed.iter().zip(&entries) {
            prop_assert_eq!(*p, e.as_slice());
        }
        prop_assert_eq!(parse_entry_bundle_with_width(&data, entries.len() as u64).map(|v| v.len()), Ok(entries.len()));
    }

    #[test]
    fn parse_is_canonical_or_errors(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        // Whatever parses re-encodes to exactly the same bytes.
        if let Ok(entries) = parse_entry_bundle(&data) {
            prop_assert_eq!(encode_entry_bundle(&entries).expect("encode"), data);
        }
    }

    #[test]
    fn truncation_is_an_error(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..50), 1..20), cut in 1..50usize) {
        let data = encode_entry_bundle(&entries).expect("encode");
        let cut = cut.min(data.len());
        let truncated = &data[..data.len() - cut];
        // Cutting can land on an entry boundary; then the parse is shorter, never wrong.
        match parse_entry_bundle(truncated) {
            Ok(parsed) => {
                prop_assert!(parsed.len() < entries.len());
                for (p, e) in parsed.iter().zip(&entries) {
                    prop_assert_eq!(*p, e.as_slice());
                }
            }
            Err(e) => {
                let truncation = matches!(
                    e,
                    BundleError::Empty
                        | BundleError::TruncatedLength { .. }
                        | BundleError::TruncatedEntry { .. }
                );
                prop_assert!(truncation, "unexpected error {:?}", e);
            }
        }
    }
}
