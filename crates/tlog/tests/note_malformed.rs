//! Named tables of malformed notes, keys, checkpoints and cosignatures, each rejected
//! with its own error. One test per row, so a failure names the case.

use bintrail_tlog::checkpoint::{Checkpoint, CheckpointError, open_checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::{
    CosignatureError, cosign, verified_cosigners, verify_cosignature,
};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, NoteError, NoteSignature, Signer, Verifier};

// Key, text and signature from golang.org/x/mod/sumdb/note/note_test.go.
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const B64: &str =
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
const ROOT: &str = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";

macro_rules! note_rejects {
    ($($name:ident: $input:expr => $err:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: Vec<u8> = $input.into();
            assert_eq!(Note::parse(&input), Err($err));
        }
    )*};
}

note_rejects! {
    note_empty: "" => NoteError::MissingSignatures;
    note_text_only: TEXT => NoteError::MissingSignatures;
    note_blank_line_but_no_signatures: format!("{TEXT}\n") => NoteError::MissingSignatures;
    note_signature_without_newline: format!("{TEXT}\n{}", SIG.trim_end()) => NoteError::MissingSignatures;
    note_no_blank_line: format!("{TEXT}{SIG}") => NoteError::MissingSignatures;
    note_control_character: format!("\x01{TEXT}\n{SIG}") => NoteError::ControlCharacter { offset: 0 };
    note_tab: format!("a\tb\n\n{SIG}") => NoteError::ControlCharacter { offset: 1 };
    note_carriage_return_line_ending: format!("{TEXT}\n{}\r\n", SIG.trim_end()) => NoteError::ControlCharacter { offset: TEXT.len() + SIG.len() };
    note_invalid_utf8: [b"\xff".as_slice(), TEXT.as_bytes(), b"\n", SIG.as_bytes()].concat() => NoteError::InvalidUtf8 { offset: 0 };
    note_unexpected_line_after_signature: format!("{TEXT}\n{SIG}Unexpected line.\n") => NoteError::SignatureLinePrefix { line: 2 };
    note_hyphen_instead_of_em_dash: format!("{TEXT}\n- PeterNeumann {B64}\n") => NoteError::SignatureLinePrefix { line: 1 };
    note_em_dash_without_space: format!("{TEXT}\n—PeterNeumann {B64}\n") => NoteError::SignatureLinePrefix { line: 1 };
    note_name_with_space: format!("{TEXT}\n— Bad Name {B64}\n") => NoteError::SignatureLineBase64 { line: 1 };
    note_name_with_plus: format!("{TEXT}\n— Peter+Neumann {B64}\n") => NoteError::SignatureLineName { line: 1 };
    note_empty_name: format!("{TEXT}\n—  {B64}\n") => NoteError::SignatureLineName { line: 1 };
    note_name_with_no_break_space: format!("{TEXT}\n— Peter\u{a0}Neumann {B64}\n") => NoteError::SignatureLineName { line: 1 };
    note_two_spaces_before_signature: format!("{TEXT}\n— PeterNeumann  {B64}\n") => NoteError::SignatureLineBase64 { line: 1 };
    note_trailing_space: format!("{TEXT}\n— PeterNeumann {B64} \n") => NoteError::SignatureLineBase64 { line: 1 };
    note_missing_signature: format!("{TEXT}\n— PeterNeumann\n") => NoteError::SignatureLineTooShort { line: 1 };
    note_empty_signature: format!("{TEXT}\n— PeterNeumann \n") => NoteError::SignatureLineTooShort { line: 1 };
    note_signature_only_key_id: format!("{TEXT}\n— PeterNeumann x08gow==\n") => NoteError::SignatureLineTooShort { line: 1 };
    note_unpadded_base64: format!("{TEXT}\n— PeterNeumann AAAAAAE\n") => NoteError::SignatureLineBase64 { line: 1 };
    note_noncanonical_base64_bits: format!("{TEXT}\n— PeterNeumann AAAAAAF=\n") => NoteError::SignatureLineBase64 { line: 1 };
    note_url_safe_base64: format!("{TEXT}\n— PeterNeumann {}\n", B64.replace('/', "_")) => NoteError::SignatureLineBase64 { line: 1 };
    note_bad_second_line: format!("{TEXT}\n{SIG}— x !!!!\n") => NoteError::SignatureLineBase64 { line: 2 };
    note_101_signatures: format!("{TEXT}\n{}", SIG.repeat(101)) => NoteError::TooManySignatures { limit: 100 };
}

#[test]
fn signature_lines_reject_what_notes_reject() {
    // The tlog-witness response body: signature lines only, each ending in a newline.
    assert_eq!(
        NoteSignature::parse_lines(b""),
        Err(NoteError::MissingSignatures)
    );
    assert_eq!(
        NoteSignature::parse_lines(SIG.trim_end().as_bytes()),
        Err(NoteError::MissingSignatures)
    );
    assert_eq!(
        NoteSignature::parse_lines(format!("{SIG}\n").as_bytes()),
        Err(NoteError::SignatureLinePrefix { line: 2 })
    );
    assert_eq!(
        NoteSignature::parse_lines(format!("{SIG}\r").as_bytes()),
        Err(NoteError::ControlCharacter { offset: SIG.len() })
    );
    assert_eq!(
        NoteSignature::parse_lines(SIG.repeat(101).as_bytes()),
        Err(NoteError::TooManySignatures { limit: 100 })
    );
    assert_eq!(
        SIG.parse::<NoteSignature>(),
        Err(NoteError::ControlCharacter {
            offset: SIG.len() - 1
        })
    );
    let sigs = NoteSignature::parse_lines(format!("{SIG}{SIG}").as_bytes()).unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(
        NoteSignature::format_lines(&sigs),
        format!("{SIG}{SIG}").as_bytes()
    );
    assert_eq!(format!("{}\n", sigs[0]), SIG);
    assert_eq!(SIG.trim_end().parse::<NoteSignature>(), Ok(sigs[0].clone()));
}

macro_rules! vkey_rejects {
    ($($name:ident: $input:expr => $err:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!($input.parse::<Verifier>(), Err($err));
        }
    )*};
}

fn bad_name(name: &str) -> NoteError {
    NoteError::InvalidKeyName { name: name.into() }
}

fn bad_id(id: &str) -> NoteError {
    NoteError::KeyIdHex { id: id.into() }
}

vkey_rejects! {
    vkey_empty: "" => NoteError::KeyFormat { expected: "<name>+<hex key ID>+<base64 key>" };
    vkey_name_only: "PeterNeumann" => NoteError::KeyFormat { expected: "<name>+<hex key ID>+<base64 key>" };
    vkey_no_key: "PeterNeumann+c74f20a3" => NoteError::KeyFormat { expected: "<name>+<hex key ID>+<base64 key>" };
    vkey_empty_name: "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_name("");
    vkey_name_with_space: "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_name("Peter Neumann");
    vkey_name_with_control: "Peter\x01+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_name("Peter\x01");
    vkey_short_id: "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_id("c74f20a");
    vkey_long_id: "PeterNeumann+c74f20a33+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_id("c74f20a33");
    vkey_hex_prefix: "PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_id("0xc74f20");
    vkey_non_hex_id: "PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => bad_id("c74f20ag");
    vkey_bad_base64: "PeterNeumann+c74f20a3+!Rpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => NoteError::KeyBase64;
    vkey_empty_key: "PeterNeumann+c74f20a3+" => NoteError::KeyLength { actual: 0 };
    vkey_short_key: "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10Q=" => NoteError::KeyLength { actual: 32 };
    vkey_wrong_id: "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => NoteError::KeyIdMismatch { name: "PeterNeumann".into(), claimed: 0xc74f20a4, computed: 0xc74f20a3 };
    vkey_ecdsa_type: "PeterNeumann+775c2e74+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => NoteError::UnknownKeyType { id: 2 };
    vkey_not_a_curve_point: "PeterNeumann+00000000+AQIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" => NoteError::InvalidPublicKey;
    vkey_same_key_other_type_keeps_old_id: "PeterNeumann+c74f20a3+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" => NoteError::KeyIdMismatch { name: "PeterNeumann".into(), claimed: 0xc74f20a3, computed: 0x18b9780b };
}

#[test]
fn vkey_uppercase_hex_is_accepted_and_printed_lowercase() {
    // Go's strconv.ParseUint accepts either case; the canonical form is lowercase.
    let v: Verifier = PETER_VKEY.replace("c74f20a3", "C74F20A3").parse().unwrap();
    assert_eq!(v.to_string(), PETER_VKEY);
}

#[test]
fn vkey_cosignature_type_gets_its_own_key_id() {
    let v: Verifier = "PeterNeumann+18b9780b+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        .parse()
        .unwrap();
    assert_eq!(v.key_type(), KeyType::CosignatureV1);
    let ed: Verifier = PETER_VKEY.parse().unwrap();
    assert_eq!(v.public_key(), ed.public_key());
}

macro_rules! private_key_rejects {
    ($($name:ident: $input:expr => $err:expr;)*) => {$(
        #[test]
        fn $name() {
            assert_eq!(Signer::from_private_key(&$input).map(|_| ()), Err($err));
        }
    )*};
}

const SKEY_FORMAT: NoteError = NoteError::KeyFormat {
    expected: "PRIVATE+KEY+<name>+<hex key ID>+<base64 key>",
};

private_key_rejects! {
    skey_vkey_instead: PETER_VKEY => SKEY_FORMAT;
    skey_lowercase_prefix: PETER_SKEY.replace("PRIVATE+KEY", "private+key") => SKEY_FORMAT;
    skey_missing_key: "PRIVATE+KEY+PeterNeumann+c74f20a3" => SKEY_FORMAT;
    skey_bad_name: PETER_SKEY.replace("PeterNeumann", "Peter Neumann") => bad_name("Peter Neumann");
    skey_bad_id: PETER_SKEY.replace("c74f20a3", "c74f20a") => bad_id("c74f20a");
    skey_wrong_id: PETER_SKEY.replace("c74f20a3", "00000000") => NoteError::KeyIdMismatch { name: "PeterNeumann".into(), claimed: 0, computed: 0xc74f20a3 };
    skey_unknown_type: "PRIVATE+KEY+PeterNeumann+c74f20a3+BYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" => NoteError::UnknownKeyType { id: 5 };
    skey_short_seed: "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDE=" => NoteError::KeyLength { actual: 32 };
    skey_bad_base64: "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDF" => NoteError::KeyBase64;
}

#[test]
fn signer_debug_does_not_show_the_private_key() {
    let s = Signer::from_private_key(PETER_SKEY).unwrap();
    let debug = format!("{s:?}");
    assert!(debug.contains("PeterNeumann"), "{debug}");
    assert!(!debug.contains("AYEKFALV"), "{debug}");
    assert!(!debug.contains("81, 10"), "{debug}");
}

#[test]
fn sign_rejects_bad_text_and_signers() {
    let s = Signer::from_private_key(PETER_SKEY).unwrap();
    let w = Signer::generate("w", KeyType::CosignatureV1, [1; 32]).unwrap();
    assert_eq!(
        Note::sign("abc", &[&s]),
        Err(NoteError::TextNotNewlineTerminated)
    );
    assert_eq!(
        Note::sign("", &[&s]),
        Err(NoteError::TextNotNewlineTerminated)
    );
    assert_eq!(
        Note::sign("a\rb\n", &[&s]),
        Err(NoteError::ControlCharacter { offset: 1 })
    );
    assert_eq!(Note::sign(TEXT, &[]), Err(NoteError::NoSigners));
    assert_eq!(
        Note::sign(TEXT, &[&w]),
        Err(NoteError::UnsupportedSignerType {
            name: "w".into(),
            key_type: KeyType::CosignatureV1
        })
    );
    assert_eq!(
        Signer::generate("a+b", KeyType::Ed25519, [1; 32]).map(|_| ()),
        Err(bad_name("a+b"))
    );
}

#[test]
fn verify_accepts_a_key_listed_twice_and_ignores_other_keys_with_the_name() {
    // (Two different keys with one name and key ID need a 32-bit collision; the unit
    // tests in note.rs build one to check `AmbiguousVerifier`.)
    let note = Note::parse(format!("{TEXT}\n{SIG}").as_bytes()).unwrap();
    let peter: Verifier = PETER_VKEY.parse().unwrap();
    let other = Signer::generate("PeterNeumann", KeyType::Ed25519, [2; 32])
        .unwrap()
        .verifier();
    let known = [peter.clone(), peter.clone(), other];
    assert_eq!(note.verify(&known), Ok(vec![&known[0]]));
}

#[test]
fn verify_checks_every_duplicate_signature() {
    // x/mod skips repeated signatures by one key; the spec says a known key's signature
    // MUST be verified, so a bad duplicate fails the note.
    let bad = format!("{}ABCD{}", &SIG[..60], &SIG[60..]);
    let note = Note::parse(format!("{TEXT}\n{SIG}{bad}").as_bytes()).unwrap();
    let known = [PETER_VKEY.parse::<Verifier>().unwrap()];
    assert_eq!(
        note.verify(&known),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
}

#[test]
fn verify_ignores_same_name_other_id_and_same_id_other_name() {
    // c2sp.org/signed-note: unknown keys are ignored even if they share a name or ID.
    let known = [PETER_VKEY.parse::<Verifier>().unwrap()];
    let mut note = Note::parse(format!("{TEXT}\n{SIG}").as_bytes()).unwrap();
    note.signatures.push(NoteSignature {
        name: "PeterNeumann".into(),
        key_id: 1,
        signature: vec![0; 64],
    });
    note.signatures.push(NoteSignature {
        name: "Peter".into(),
        key_id: 0xc74f20a3,
        signature: vec![0; 64],
    });
    assert_eq!(note.verify(&known).unwrap().len(), 1);
    assert_eq!(Note::parse(&note.to_bytes()), Ok(note));
}

#[test]
fn add_signature_replaces_same_key_and_appends() {
    let mut note = Note::parse(format!("{TEXT}\n{SIG}").as_bytes()).unwrap();
    let first = note.signatures[0].clone();
    let other = NoteSignature {
        name: "w".into(),
        key_id: 7,
        signature: vec![1; 72],
    };
    note.add_signature(other.clone());
    note.add_signature(first.clone());
    assert_eq!(note.signatures, vec![other, first]);
}

// Checkpoints.

macro_rules! checkpoint_rejects {
    ($($name:ident: $input:expr => $err:expr;)*) => {$(
        #[test]
        fn $name() {
            let input: String = $input.into();
            assert_eq!(input.parse::<Checkpoint>(), Err($err));
        }
    )*};
}

fn bad_size(line: &str) -> CheckpointError {
    CheckpointError::InvalidSize { line: line.into() }
}

fn bad_root(line: &str) -> CheckpointError {
    CheckpointError::InvalidRootHash { line: line.into() }
}

checkpoint_rejects! {
    checkpoint_empty: "" => CheckpointError::MissingFinalNewline;
    checkpoint_no_final_newline: format!("o\n1\n{ROOT}") => CheckpointError::MissingFinalNewline;
    checkpoint_one_line: "o\n" => CheckpointError::TooFewLines { lines: 1 };
    checkpoint_two_lines: "o\n1\n" => CheckpointError::TooFewLines { lines: 2 };
    checkpoint_empty_origin: format!("\n1\n{ROOT}\n") => CheckpointError::EmptyOrigin;
    checkpoint_size_leading_zero: format!("o\n01\n{ROOT}\n") => bad_size("01");
    checkpoint_size_plus: format!("o\n+1\n{ROOT}\n") => bad_size("+1");
    checkpoint_size_negative: format!("o\n-1\n{ROOT}\n") => bad_size("-1");
    checkpoint_size_empty: format!("o\n\n{ROOT}\n") => bad_size("");
    checkpoint_size_space: format!("o\n 1\n{ROOT}\n") => bad_size(" 1");
    checkpoint_size_hex: format!("o\n0x10\n{ROOT}\n") => bad_size("0x10");
    checkpoint_size_underscore: format!("o\n1_000\n{ROOT}\n") => bad_size("1_000");
    checkpoint_size_overflow: format!("o\n18446744073709551616\n{ROOT}\n") => bad_size("18446744073709551616");
    checkpoint_size_double_zero: format!("o\n00\n{ROOT}\n") => bad_size("00");
    checkpoint_root_unpadded: "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n" => bad_root("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I");
    checkpoint_root_noncanonical_bits: "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n" => bad_root("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=");
    checkpoint_root_url_safe: "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n" => bad_root("CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=");
    checkpoint_root_33_bytes: "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n" => bad_root("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA");
    checkpoint_root_hex: "o\n1\n0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62\n" => bad_root("0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62");
    checkpoint_empty_extension: format!("o\n1\n{ROOT}\n\n") => CheckpointError::EmptyExtension { index: 0 };
    checkpoint_empty_second_extension: format!("o\n1\n{ROOT}\next\n\n") => CheckpointError::EmptyExtension { index: 1 };
    checkpoint_tab_in_origin: format!("o\tx\n1\n{ROOT}\n") => CheckpointError::ControlCharacter { offset: 1 };
    checkpoint_crlf: format!("o\r\n1\r\n{ROOT}\r\n") => CheckpointError::ControlCharacter { offset: 1 };
    checkpoint_too_large: format!("o\n1\n{ROOT}\n{}\n", "x".repeat(1_000_000)) => CheckpointError::TooLarge { limit: 1_000_000 };
}

#[test]
fn checkpoint_with_extensions_and_empty_tree_round_trips() {
    let text = format!("example.com/log\n0\n{ROOT}\nextension one\n\u{2014} two\n");
    let cp: Checkpoint = text.parse().unwrap();
    assert_eq!(cp.size, 0);
    assert_eq!(cp.extensions, ["extension one", "\u{2014} two"]);
    assert_eq!(cp.to_string(), text);
    let max = format!("o\n18446744073709551615\n{ROOT}\n");
    assert_eq!(max.parse::<Checkpoint>().unwrap().size, u64::MAX);
}

fn log() -> Signer {
    Signer::generate("example.com/log", KeyType::Ed25519, [5; 32]).unwrap()
}

fn checkpoint(origin: &str) -> Checkpoint {
    Checkpoint {
        origin: origin.into(),
        size: 3,
        root_hash: Hash([9; 32]),
        extensions: vec![],
    }
}

#[test]
fn open_checkpoint_rejects_origin_other_than_key_name() {
    let other = Signer::generate("other.example/log", KeyType::Ed25519, [5; 32]).unwrap();
    let note = Note::sign(&checkpoint("example.com/log").to_string(), &[&other]).unwrap();
    assert_eq!(
        open_checkpoint(&note.to_bytes(), &other.verifier()),
        Err(CheckpointError::OriginMismatch {
            origin: "example.com/log".into(),
            key_name: "other.example/log".into()
        })
    );
}

#[test]
fn open_checkpoint_rejects_unsigned_and_badly_signed_notes() {
    let note = sign_checkpoint(&checkpoint("example.com/log"), &log()).unwrap();
    let stranger = Signer::generate("example.com/log", KeyType::Ed25519, [6; 32]).unwrap();
    assert_eq!(
        open_checkpoint(&note.to_bytes(), &stranger.verifier()),
        Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
    );
    let mut bad = note.clone();
    bad.signatures[0].signature[10] ^= 1;
    assert_eq!(
        open_checkpoint(&bad.to_bytes(), &log().verifier()),
        Err(CheckpointError::Note(NoteError::InvalidSignature {
            name: "example.com/log".into(),
            key_id: log().key_id()
        }))
    );
    assert_eq!(
        open_checkpoint(b"not a note", &log().verifier()),
        Err(CheckpointError::Note(NoteError::MissingSignatures))
    );
}

#[test]
fn open_checkpoint_rejects_a_signed_malformed_body() {
    let note = Note::sign("example.com/log\n01\nAAAA\n", &[&log()]).unwrap();
    assert_eq!(
        open_checkpoint(&note.to_bytes(), &log().verifier()),
        Err(bad_size("01"))
    );
}

#[test]
fn sign_checkpoint_rejects_mismatch_cosigner_key_and_newlines() {
    assert_eq!(
        sign_checkpoint(&checkpoint("other"), &log()),
        Err(CheckpointError::OriginMismatch {
            origin: "other".into(),
            key_name: "example.com/log".into()
        })
    );
    let w = Signer::generate("example.com/log", KeyType::CosignatureV1, [5; 32]).unwrap();
    assert!(matches!(
        sign_checkpoint(&checkpoint("example.com/log"), &w),
        Err(CheckpointError::Note(
            NoteError::UnsupportedSignerType { .. }
        ))
    ));
    let mut cp = checkpoint("example.com/log");
    cp.extensions = vec!["a\nb".into()];
    assert_eq!(
        sign_checkpoint(&cp, &log()),
        Err(CheckpointError::EmbeddedNewline)
    );
    cp.extensions = vec![String::new()];
    assert_eq!(
        sign_checkpoint(&cp, &log()),
        Err(CheckpointError::EmptyExtension { index: 0 })
    );
}

// Cosignatures.

fn witness(seed: u8) -> Signer {
    Signer::generate(
        &format!("witness.example/w{seed}"),
        KeyType::CosignatureV1,
        [seed; 32],
    )
    .unwrap()
}

#[test]
fn cosign_rejects_plain_keys_and_huge_timestamps() {
    let cp = checkpoint("example.com/log");
    assert_eq!(
        cosign(&log(), &cp, 1),
        Err(CosignatureError::WrongKeyType {
            name: "example.com/log".into(),
            key_type: KeyType::Ed25519
        })
    );
    assert_eq!(
        cosign(&witness(1), &cp, 1 << 63),
        Err(CosignatureError::TimestampOutOfRange { timestamp: 1 << 63 })
    );
    assert!(cosign(&witness(1), &cp, (1 << 63) - 1).is_ok());
}

#[test]
fn verify_cosignature_reports_each_failure() {
    let cp = checkpoint("example.com/log");
    let w = witness(1);
    let v = w.verifier();
    let sig = cosign(&w, &cp, 1000).unwrap();
    assert_eq!(verify_cosignature(&v, &cp, &sig), Ok(1000));

    assert!(matches!(
        verify_cosignature(&log().verifier(), &cp, &sig),
        Err(CosignatureError::WrongKeyType { .. })
    ));
    assert!(matches!(
        verify_cosignature(&witness(2).verifier(), &cp, &sig),
        Err(CosignatureError::KeyMismatch { .. })
    ));
    let mut short = sig.clone();
    short.signature.pop();
    assert_eq!(
        verify_cosignature(&v, &cp, &short),
        Err(CosignatureError::MalformedSignature { len: 71 })
    );
    let mut future = sig.clone();
    future.signature[0] = 0x80;
    assert!(matches!(
        verify_cosignature(&v, &cp, &future),
        Err(CosignatureError::TimestampOutOfRange { .. })
    ));
    let bad = CosignatureError::BadSignature {
        name: w.name().into(),
        key_id: w.key_id(),
    };
    let mut retimed = sig.clone();
    retimed.signature[7] ^= 1;
    assert_eq!(verify_cosignature(&v, &cp, &retimed), Err(bad.clone()));
    let mut flipped = sig.clone();
    flipped.signature[40] ^= 1;
    assert_eq!(verify_cosignature(&v, &cp, &flipped), Err(bad.clone()));
    let mut grown = cp.clone();
    grown.size += 1;
    assert_eq!(verify_cosignature(&v, &grown, &sig), Err(bad.clone()));
    let mut extended = cp.clone();
    extended.extensions.push("ext".into());
    assert_eq!(verify_cosignature(&v, &extended, &sig), Err(bad));
}

#[test]
fn verified_cosigners_counts_only_valid_known_witnesses() {
    let cp = checkpoint("example.com/log");
    let mut note = sign_checkpoint(&cp, &log()).unwrap();
    let (w1, w2, w3) = (witness(1), witness(2), witness(3));
    note.add_signature(cosign(&w1, &cp, 10).unwrap());
    let mut broken = cosign(&w2, &cp, 10).unwrap();
    broken.signature[20] ^= 1;
    note.add_signature(broken);
    note.add_signature(cosign(&witness(4), &cp, 10).unwrap());
    let witnesses = [
        w1.verifier(),
        w2.verifier(),
        w3.verifier(),
        log().verifier(),
    ];
    let got = verified_cosigners(&note, &cp, &witnesses);
    assert_eq!(got, vec![&witnesses[0]]);

    // The whole note still opens, and Note::verify checks cosignatures too.
    let (opened, reparsed) = open_checkpoint(&note.to_bytes(), &log().verifier()).unwrap();
    assert_eq!(opened, cp);
    assert_eq!(reparsed, note);
    assert_eq!(note.verify(&witnesses[..1]), Ok(vec![&witnesses[0]]));
    assert!(matches!(
        note.verify(&witnesses[1..2]),
        Err(NoteError::InvalidSignature { .. })
    ));
}
