//! Cross-checks against Cloudflare's independent Rust implementation: the `signed_note`
//! crate (c2sp.org/signed-note) and `tlog_tiles` checkpoints, both from
//! github.com/cloudflare/azul. Keys, key IDs, notes and checkpoints must agree both ways.

use bintrail_tlog::checkpoint::Checkpoint;
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, NoteError, Signer, Verifier, key_id};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signed_note::{Note as CfNote, StandardSigner, StandardVerifier, Verifier as _, VerifierList};

const NAMES: [&str; 4] = [
    "example.com/log",
    "PeterNeumann",
    "sum.golang.org",
    "ü.example/ünïcode",
];

fn our_signers(rng: &mut StdRng) -> Vec<Signer> {
    NAMES
        .iter()
        .map(|name| Signer::generate(name, KeyType::Ed25519, rng.r#gen()).unwrap())
        .collect()
}

#[test]
fn keys_made_by_signed_note_parse_identically_here() {
    let mut rng = StdRng::seed_from_u64(1);
    for name in NAMES {
        let (skey, vkey) = signed_note::generate_key(&mut rng, name);
        let signer = Signer::from_private_key(&skey).unwrap();
        let verifier: Verifier = vkey.parse().unwrap();
        assert_eq!(signer.to_private_key(), skey);
        assert_eq!(verifier.to_string(), vkey);
        assert_eq!(signer.verifier(), verifier);
        let cf = StandardVerifier::new(&vkey).unwrap();
        assert_eq!(cf.key_id(), verifier.key_id());
    }
}

#[test]
fn keys_made_here_parse_identically_in_signed_note() {
    let mut rng = StdRng::seed_from_u64(2);
    for signer in our_signers(&mut rng) {
        let vkey = signer.verifier().to_string();
        let cf_verifier = StandardVerifier::new(&vkey).unwrap();
        let cf_signer = StandardSigner::new(&signer.to_private_key()).unwrap();
        assert_eq!(cf_verifier.key_id(), signer.key_id());
        assert_eq!(signed_note::Signer::key_id(&cf_signer), signer.key_id());
        let mut material = vec![0x01];
        material.extend_from_slice(signer.verifier().public_key());
        assert_eq!(
            signed_note::key_id(signer.name(), &material),
            key_id(
                signer.name(),
                KeyType::Ed25519,
                signer.verifier().public_key()
            )
        );
    }
}

fn cf_list(vkeys: &[String]) -> VerifierList {
    VerifierList::new(
        vkeys
            .iter()
            .map(|v| Box::new(StandardVerifier::new(v).unwrap()) as Box<dyn signed_note::Verifier>)
            .collect(),
    )
}

#[test]
fn notes_signed_here_verify_in_signed_note() {
    let mut rng = StdRng::seed_from_u64(3);
    let signers = our_signers(&mut rng);
    let refs: Vec<&Signer> = signers.iter().collect();
    for text in [
        "a\n",
        "two\nlines\n",
        "blank\n\nline inside\n",
        "\n",
        "é — ü\n",
    ] {
        let note = Note::sign(text, &refs).unwrap();
        let bytes = note.to_bytes();
        let cf = CfNote::from_bytes(&bytes).unwrap();
        assert_eq!(cf.to_bytes(), bytes);
        let vkeys: Vec<String> = signers.iter().map(|s| s.verifier().to_string()).collect();
        let (verified, unverified) = cf.verify(&cf_list(&vkeys)).unwrap();
        assert_eq!((verified.len(), unverified.len()), (signers.len(), 0));

        // And both reject the same tampering.
        let mut bad = note.clone();
        bad.signatures[2].signature[0] ^= 0x40;
        let bad_bytes = bad.to_bytes();
        assert!(
            CfNote::from_bytes(&bad_bytes)
                .unwrap()
                .verify(&cf_list(&vkeys))
                .is_err()
        );
        let known: Vec<Verifier> = signers.iter().map(Signer::verifier).collect();
        assert!(matches!(
            Note::parse(&bad_bytes).unwrap().verify(&known),
            Err(NoteError::InvalidSignature { .. })
        ));
    }
}

#[test]
fn notes_signed_by_signed_note_verify_here() {
    let mut rng = StdRng::seed_from_u64(4);
    let keys: Vec<(String, String)> = NAMES
        .iter()
        .map(|name| signed_note::generate_key(&mut rng, name))
        .collect();
    let cf_signers: Vec<StandardSigner> = keys
        .iter()
        .map(|(skey, _)| StandardSigner::new(skey).unwrap())
        .collect();
    let dyn_signers: Vec<&dyn signed_note::Signer> = cf_signers
        .iter()
        .map(|s| s as &dyn signed_note::Signer)
        .collect();
    for text in ["a\n", "two\nlines\n", "blank\n\nline inside\n"] {
        let mut cf = CfNote::new(text.as_bytes(), &[]).unwrap();
        cf.add_sigs(&dyn_signers).unwrap();
        let bytes = cf.to_bytes();
        let note = Note::parse(&bytes).unwrap();
        assert_eq!(note.text, text);
        assert_eq!(note.to_bytes(), bytes);
        let known: Vec<Verifier> = keys.iter().map(|(_, v)| v.parse().unwrap()).collect();
        assert_eq!(note.verify(&known).unwrap().len(), NAMES.len());
        // Ed25519 is deterministic: our signature of the same text is byte-identical.
        let ours: Vec<Signer> = keys
            .iter()
            .map(|(skey, _)| Signer::from_private_key(skey).unwrap())
            .collect();
        let refs: Vec<&Signer> = ours.iter().collect();
        assert_eq!(Note::sign(text, &refs).unwrap().to_bytes(), bytes);
    }
}

#[test]
fn checkpoints_agree_with_tlog_tiles() {
    let mut rng = StdRng::seed_from_u64(5);
    for extensions in [
        vec![],
        vec!["one".to_string()],
        vec!["a b".into(), "c".into()],
    ] {
        let root: [u8; 32] = rng.r#gen();
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: rng.r#gen(),
            root_hash: Hash(root),
            extensions: extensions.clone(),
        };
        let extension: String = extensions.iter().map(|e| format!("{e}\n")).collect();
        let theirs = tlog_tiles::Checkpoint::new(
            "example.com/log",
            cp.size,
            tlog_tiles::Hash(root),
            &extension,
        )
        .unwrap();
        assert_eq!(theirs.to_bytes(), cp.to_string().as_bytes());
        let back: Checkpoint = String::from_utf8(theirs.to_bytes())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(back, cp);
    }
}
