//! `bintrail token add` through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn bintrail() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bintrail"))
}

/// Runs `bintrail token add --tokens TOKENS NAME`.
fn token_add(tokens: &std::path::Path, name: &str) -> std::process::Output {
    bintrail()
        .args(["token", "add", "--tokens"])
        .arg(tokens)
        .arg(name)
        .output()
        .unwrap()
}

#[test]
fn token_add_prints_only_the_token_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let out = token_add(&tokens, "uploader");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(
        !token.contains('\n') && token.starts_with("bintrail_"),
        "{stdout:?}"
    );
    let stored = std::fs::read_to_string(&tokens).unwrap();
    assert!(
        !stored.contains(token),
        "the file must not contain the token"
    );
    assert!(stored.starts_with("uploader sha256:"), "{stored}");
    let mode = std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A second token with another name is appended; a repeated name is refused.
    let out = token_add(&tokens, "second");
    assert!(out.status.success());
    assert_ne!(
        String::from_utf8(out.stdout).unwrap(),
        stdout,
        "tokens are fresh"
    );
    let out = token_add(&tokens, "uploader");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already has a token named \"uploader\""),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&tokens).unwrap().lines().count(), 2);
}

#[test]
fn token_add_rejects_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let out = token_add(&tokens, "has space");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid token name"));
    assert!(!tokens.exists(), "nothing written on error");
}
