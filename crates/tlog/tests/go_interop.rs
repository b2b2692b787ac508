//! Interop with Go's reference implementation, golang.org/x/mod/sumdb/note, both ways:
//! notes, checkpoints and cosignatures signed by bintrail open with Go's `note.Open`;
//! notes signed by Go's `note.Sign` with a `note.GenerateKey` key verify here; vkey and
//! private key strings parse on both sides.
//!
//! The Go program (tests/go/interop.go) is built in GOPATH mode against the x/mod
//! sources Debian installs; `scripts/setup.sh` installs Go and them. Without Go this
//! test fails, naming that script.

mod go_common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bintrail_tlog::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use bintrail_tlog::cosignature::{cosign, verified_cosigners};
use bintrail_tlog::hash::Hash;
use bintrail_tlog::note::{KeyType, Note, Signer, Verifier};

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    BASE64.decode(s).unwrap()
}

#[test]
fn go_and_bintrail_read_each_others_notes_keys_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let bin = go_common::build(dir.path(), "bintrailinterop", include_str!("go/interop.go"));

    let log = Signer::generate("example.com/interop-log", KeyType::Ed25519, [11; 32]).unwrap();
    let witness = Signer::generate("witness.example/w1", KeyType::CosignatureV1, [12; 32]).unwrap();
    let stranger = Signer::generate("stranger.example", KeyType::Ed25519, [13; 32]).unwrap();

    let text = "bintrail interop\n\nwith a blank line and ünïcode — dash\n";
    let note = Note::sign(text, &[&log, &stranger]).unwrap();
    let mut tampered_note = note.clone();
    tampered_note.signatures[0].signature[5] ^= 1;

    let cp = Checkpoint {
        origin: log.name().into(),
        size: 20852163,
        root_hash: Hash([0xab; 32]),
        extensions: vec!["an extension line".into()],
    };
    let mut cp_note = sign_checkpoint(&cp, &log).unwrap();
    cp_note.add_signature(cosign(&witness, &cp, 1_700_000_000).unwrap());
    let mut tampered_cosignature = cp_note.clone();
    tampered_cosignature.signatures[1].signature[3] ^= 1; // timestamp byte

    let got = go_common::run_key_values(
        &bin,
        &[
            ("log_vkey", log.verifier().to_string()),
            ("log_skey", log.to_private_key()),
            ("witness_vkey", witness.verifier().to_string()),
            ("note", b64(&note.to_bytes())),
            ("checkpoint", b64(&cp_note.to_bytes())),
            ("tampered_note", b64(&tampered_note.to_bytes())),
            (
                "tampered_cosignature",
                b64(&tampered_cosignature.to_bytes()),
            ),
            ("text", b64(text.as_bytes())),
        ],
    );

    // bintrail -> Go: the note, the checkpoint and its cosignature verify in Go.
    let id = |s: &Signer| format!("{}+{:08x}", s.name(), s.key_id());
    assert_eq!(got["note_verified"], id(&log));
    assert_eq!(got["note_unverified"], id(&stranger));
    assert_eq!(unb64(&got["note_text"]), text.as_bytes());
    assert_eq!(
        got["checkpoint_verified"],
        format!("{},{}", id(&log), id(&witness))
    );
    assert_eq!(unb64(&got["checkpoint_text"]), cp.to_string().as_bytes());
    assert_eq!(got["tampered_note"], "true");
    assert_eq!(got["tampered_cosignature"], "true");

    // bintrail's private key string works in Go: same deterministic signature.
    assert_eq!(
        unb64(&got["signed_with_bintrail_key"]),
        Note::sign(text, &[&log]).unwrap().to_bytes()
    );

    // Go -> bintrail: Go's key strings parse and print back; Go's note verifies.
    let go_signer = Signer::from_private_key(&got["go_skey"]).unwrap();
    let go_verifier: Verifier = got["go_vkey"].parse().unwrap();
    assert_eq!(go_signer.to_private_key(), got["go_skey"]);
    assert_eq!(go_verifier.to_string(), got["go_vkey"]);
    assert_eq!(go_signer.verifier(), go_verifier);
    let go_note_bytes = unb64(&got["go_note"]);
    let go_note = Note::parse(&go_note_bytes).unwrap();
    assert_eq!(go_note.text, text);
    assert_eq!(go_note.to_bytes(), go_note_bytes);
    let known = [go_verifier.clone(), log.verifier()];
    let verified = go_note.verify(&known).unwrap();
    assert_eq!(verified, vec![&known[0], &known[1]]);
    assert_eq!(
        Note::sign(text, &[&go_signer, &log]).unwrap().to_bytes(),
        go_note_bytes
    );

    // And the bintrail-made checkpoint still opens here with its cosigner.
    let (opened, reopened) = open_checkpoint(&cp_note.to_bytes(), &log.verifier()).unwrap();
    assert_eq!(opened, cp);
    let witnesses = [witness.verifier()];
    assert_eq!(verified_cosigners(&reopened, &opened, &witnesses).len(), 1);
}
