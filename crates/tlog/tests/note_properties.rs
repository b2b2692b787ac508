//! Property tests: parse/format round trips, parsers never panic and accept only
//! canonical encodings, signatures verify and fail after any one-bit change.

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::cosignature::{MAX_TIMESTAMP, cosign, verify_cosignature};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, NoteError, NoteSignature, Signer, Verifier};
use proptest::prelude::*;

fn key_name() -> impl Strategy<Value = String> {
    "[a-z0-9./_ü-]{1,24}"
}

/// A text line: anything but control characters (so no newline), possibly empty.
fn line() -> impl Strategy<Value = String> {
    "[^\\x00-\\x1f]{0,24}"
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 1..6).prop_map(|lines| lines.join("\n") + "\n")
}

fn signature() -> impl Strategy<Value = NoteSignature> {
    (
        key_name(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..100),
    )
        .prop_map(|(name, key_id, signature)| NoteSignature {
            name,
            key_id,
            signature,
        })
}

fn key_type() -> impl Strategy<Value = KeyType> {
    prop_oneof![Just(KeyType::Ed25519), Just(KeyType::CosignatureV1)]
}

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        "[^\\x00-\\x1f]{1,30}",
        any::<u64>(),
        any::<[u8; 32]>(),
        prop::collection::vec("[^\\x00-\\x1f]{1,20}", 0..3),
    )
        .prop_map(|(origin, size, root, extensions)| Checkpoint {
            origin,
            size,
            root_hash: Hash(root),
            extensions,
        })
}

proptest! {
    #[test]
    fn note_parse_inverts_to_bytes(text in text(), sigs in prop::collection::vec(signature(), 1..5)) {
        let note = Note { text, signatures: sigs };
        prop_assert_eq!(Note::parse(&note.to_bytes()), Ok(note));
    }

    #[test]
    fn signature_lines_parse_inverts_format(sigs in prop::collection::vec(signature(), 1..5)) {
        let lines = NoteSignature::format_lines(&sigs);
        prop_assert_eq!(NoteSignature::parse_lines(&lines), Ok(sigs.clone()));
        for sig in sigs {
            prop_assert_eq!(sig.to_string().parse::<NoteSignature>(), Ok(sig));
        }
    }

    #[test]
    fn note_parse_never_panics_and_accepts_only_canonical_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(note) = Note::parse(&bytes) {
            prop_assert_eq!(note.to_bytes(), bytes);
        }
    }

    #[test]
    fn mutated_notes_never_panic_and_stay_canonical(
        text in text(),
        sigs in prop::collection::vec(signature(), 1..3),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = Note { text, signatures: sigs }.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(note) = Note::parse(&bytes) {
            prop_assert_eq!(note.to_bytes(), bytes);
        }
    }

    #[test]
    fn checkpoint_parse_inverts_display(cp in checkpoint()) {
        let text = cp.to_string();
        prop_assert_eq!(text.parse::<Checkpoint>(), Ok(cp));
    }

    #[test]
    fn checkpoint_parse_never_panics_and_accepts_only_canonical_text(s in "[0-9a-zA-Z+/=\\n -]{0,80}") {
        if let Ok(cp) = s.parse::<Checkpoint>() {
            prop_assert_eq!(cp.to_string(), s);
        }
    }
}

proptest! {
    // Ed25519 is slow in debug builds: fewer cases for the signing properties.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn keys_round_trip_through_strings(name in key_name(), kind in key_type(), seed in any::<[u8; 32]>()) {
        let signer = Signer::generate(&name, kind, seed).unwrap();
        let vkey = signer.verifier().to_string();
        prop_assert_eq!(vkey.parse::<Verifier>(), Ok(signer.verifier()));
        let back = Signer::from_private_key(&signer.to_private_key()).unwrap();
        prop_assert_eq!(back.verifier(), signer.verifier());
        prop_assert_eq!(back.to_private_key(), signer.to_private_key());
    }

    #[test]
    fn signed_notes_verify_and_fail_after_any_bit_flip(
        name in key_name(),
        seed in any::<[u8; 32]>(),
        text in text(),
        bit in 0usize..(64 * 8),
    ) {
        let signer = Signer::generate(&name, KeyType::Ed25519, seed).unwrap();
        let known = [signer.verifier()];
        let note = Note::parse(&Note::sign(&text, &[&signer]).unwrap().to_bytes()).unwrap();
        prop_assert_eq!(note.verify(&known), Ok(vec![&known[0]]));
        let mut bad = note.clone();
        bad.signatures[0].signature[bit / 8] ^= 1 << (bit % 8);
        let is_invalid = matches!(bad.verify(&known), Err(NoteError::InvalidSignature { .. }));
        prop_assert!(is_invalid);
        let mut other = note.clone();
        other.text.insert(0, 'x');
        let is_invalid = matches!(other.verify(&known), Err(NoteError::InvalidSignature { .. }));
        prop_assert!(is_invalid);
    }

    #[test]
    fn cosignatures_verify_and_fail_after_any_bit_flip(
        seed in any::<[u8; 32]>(),
        cp in checkpoint(),
        timestamp in 0..=MAX_TIMESTAMP,
        bit in 0usize..(72 * 8),
    ) {
        let witness = Signer::generate("witness.example/w", KeyType::CosignatureV1, seed).unwrap();
        let sig = cosign(&witness, &cp, timestamp).unwrap();
        prop_assert_eq!(verify_cosignature(&witness.verifier(), &cp, &sig), Ok(timestamp));
        let mut bad = sig.clone();
        bad.signature[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_cosignature(&witness.verifier(), &cp, &bad).is_err());
    }
}
