//! `bintrail keygen` through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use bintrail_tlog::note::{KeyType, Signer, Verifier};

fn keygen(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["keygen", "--origin", "example.org/log", "--private-key"])
        .arg(dir.join("log.key"))
        .arg("--public-key")
        .arg(dir.join("log.vkey"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn keygen_writes_go_format_keys_with_owner_only_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygen(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let private = std::fs::read_to_string(dir.path().join("log.key")).unwrap();
    let mode = std::fs::metadata(dir.path().join("log.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let signer = Signer::from_private_key(&private).expect("Go private key format");
    assert_eq!(signer.name(), "example.org/log");
    let vkey = std::fs::read_to_string(dir.path().join("log.vkey")).unwrap();
    let line = vkey.strip_suffix('\n').expect("vkey and a newline");
    let verifier: Verifier = line.parse().unwrap();
    assert_eq!(verifier.key_type(), KeyType::Ed25519);
    assert_eq!(line, signer.verifier().to_string());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        vkey,
        "prints the vkey"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&private));
}

#[test]
fn keygen_refuses_to_overwrite_either_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(keygen(dir.path(), &[]).status.success());
    let before = std::fs::read(dir.path().join("log.key")).unwrap();
    let out = keygen(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(dir.path().join("log.key")).unwrap(), before);

    // Only the public key present: still refused, and no private key is left behind.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("log.vkey"), "x").unwrap();
    let out = keygen(other.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!other.path().join("log.key").exists());
}

#[test]
fn witness_keygen_writes_a_cosignature_v1_vkey() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygen(dir.path(), &["--witness"]);
    assert!(out.status.success());
    let vkey = std::fs::read_to_string(dir.path().join("log.vkey")).unwrap();
    let verifier: Verifier = vkey.trim_end().parse().unwrap();
    assert_eq!(verifier.key_type(), KeyType::CosignatureV1);
}

#[test]
fn keygen_rejects_an_invalid_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["keygen", "--origin", "has space", "--private-key"])
        .arg(dir.path().join("k"))
        .arg("--public-key")
        .arg(dir.path().join("v"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("k").exists());
}
