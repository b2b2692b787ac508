//! `bintrail add` and `bintrail verify` against a real `bintrail serve` (issue 5):
//! add then verify succeeds, and each kind of tampering fails with its own exit
//! code and message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use bintrail_tlog::note::{KeyType, Signer};
use common::ClientFixture as Fixture;
use common::{lossy as text, run as bintrail};

const NAME: &str = "demo-1.0-py3-none-any.whl";
const CONTENTS: &[u8] = b"demo wheel bytes, version 1.0";

/// What these tests add to the shared fixture.
trait Logs {
    /// Writes `name` with `contents` and logs it; returns the file's path.
    fn add(&self, name: &str, contents: &[u8]) -> PathBuf;
}

impl Logs for Fixture {
    fn add(&self, name: &str, contents: &[u8]) -> PathBuf {
        let file = self.path(name);
        std::fs::write(&file, contents).unwrap();
        let out = self.run_add(&[], &[&file]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "add failed: {}",
            text(&out.stderr)
        );
        file
    }
}

/// Asserts exit code `code` and a stderr line naming `label`.
fn assert_fails(out: &Output, code: i32, label: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(": {label}: ")),
        "want {label}, got: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line per failure: {stderr}");
}

fn proof_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tlog-proof");
    PathBuf::from(name)
}

#[test]
fn add_then_verify_succeeds() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    assert!(proof_of(&file).exists());
    let out = f.verify(&[], &file);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("verified: index 0"),
        "{}",
        text(&out.stdout)
    );

    let out = f.verify(&["--json"], &file);
    assert_eq!(out.status.code(), Some(0));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["ok"], true);
    assert_eq!(line["filename"], NAME);
    assert_eq!(line["index"], 0);

    // Online: the proof's checkpoint is the one `add` stored.
    let state = f.arg("state");
    let out = f.verify(&["--log", &f.server.url, "--state", &state], &file);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("same checkpoint"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn add_is_idempotent_and_refuses_conflicts() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let again = f.run_add(&[], &[&file]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "stderr: {}",
        text(&again.stderr)
    );
    assert!(text(&again.stdout).contains("index 0"));
    std::fs::write(&file, b"different bytes, same name").unwrap();
    let out = f.run_add(&[], &[&file]);
    assert_eq!(out.status.code(), Some(2));
    common::assert_stderr_has(&out, "conflict");
}

#[test]
fn add_writes_into_out_dir_with_publisher() {
    let f = Fixture::new();
    let file = f.path(NAME);
    std::fs::write(&file, CONTENTS).unwrap();
    let out_dir = f.arg("proofs");
    let token = f.arg("token");
    let policy = f.arg("policy");
    let file_arg = file.display().to_string();
    let out = bintrail(&[
        "add",
        "--log",
        &f.server.url,
        "--token-file",
        &token,
        "--policy",
        &policy,
        "--publisher-issuer",
        "https://token.actions.githubusercontent.com",
        "--publisher-subject",
        "repo:demo/demo:ref:refs/tags/v1.0",
        "--out",
        &out_dir,
        "--state",
        &f.arg("state"),
        &file_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let proof = f.path("proofs").join(format!("{NAME}.tlog-proof"));
    let proof_arg = proof.display().to_string();
    let out = f.verify(&["--proof", &proof_arg, "--json"], &file);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        line["publisher"]["issuer"],
        "https://token.actions.githubusercontent.com"
    );
}

#[test]
fn flipped_byte_is_a_digest_mismatch() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let mut bytes = CONTENTS.to_vec();
    bytes[3] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    assert_fails(&f.verify(&[], &file), 1, "digest-mismatch");
}

#[test]
fn renamed_file_is_a_name_mismatch() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let renamed = f.path("demo-1.1-py3-none-any.whl");
    std::fs::rename(&file, &renamed).unwrap();
    let proof = proof_of(&file).display().to_string();
    assert_fails(
        &f.verify(&["--proof", &proof], &renamed),
        4,
        "filename-mismatch",
    );
}

#[test]
fn proof_of_another_file() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let other = f.add("other-2.0.tar.gz", b"other bytes");
    let proof = proof_of(&other).display().to_string();
    assert_fails(
        &f.verify(&["--proof", &proof], &file),
        5,
        "proof-for-another-file",
    );
}

#[test]
fn policy_with_another_log_key() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let origin = f.server.vkey().split('+').next().unwrap().to_owned();
    let impostor = Signer::generate(&origin, KeyType::Ed25519, [9; 32]).unwrap();
    std::fs::write(
        f.path("policy"),
        format!("log {}\nquorum none\n", impostor.verifier()),
    )
    .unwrap();
    assert_fails(&f.verify(&[], &file), 6, "unknown-log");
}

#[test]
fn tampered_checkpoint_is_a_bad_signature() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let proof = std::fs::read_to_string(proof_of(&file)).unwrap();
    // The checkpoint's size line follows its origin line; claim one more entry.
    let (head, checkpoint) = proof.split_once("\n\n").unwrap();
    let mut lines: Vec<String> = checkpoint.lines().map(str::to_owned).collect();
    lines[1] = (lines[1].parse::<u64>().unwrap() + 1).to_string();
    std::fs::write(proof_of(&file), format!("{head}\n\n{}\n", lines.join("\n"))).unwrap();
    assert_fails(&f.verify(&[], &file), 7, "bad-log-signature");
}

#[test]
fn unmet_quorum() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let witness = Signer::generate("witness.example", KeyType::CosignatureV1, [5; 32]).unwrap();
    let policy = format!(
        "log {}\nwitness w {}\nquorum w\n",
        f.server.vkey(),
        witness.verifier()
    );
    std::fs::write(f.path("policy"), policy).unwrap();
    assert_fails(&f.verify(&[], &file), 8, "quorum-not-met");
}

#[test]
fn altered_inclusion_proof() {
    let f = Fixture::new();
    f.add("first-1.0.tar.gz", b"first");
    let file = f.add(NAME, CONTENTS);
    let proof = std::fs::read_to_string(proof_of(&file)).unwrap();
    let hash_line = proof
        .lines()
        .find(|l| l.len() == 44 && l.ends_with('='))
        .expect("an inclusion proof hash")
        .to_owned();
    let other = if hash_line.starts_with('A') { "B" } else { "A" };
    let altered = proof.replacen(&hash_line, &format!("{other}{}", &hash_line[1..]), 1);
    std::fs::write(proof_of(&file), altered).unwrap();
    assert_fails(&f.verify(&[], &file), 9, "bad-inclusion-proof");
}

#[test]
fn truncated_proof_is_unusable_input() {
    let f = Fixture::new();
    let file = f.add(NAME, CONTENTS);
    let proof = std::fs::read(proof_of(&file)).unwrap();
    std::fs::write(proof_of(&file), &proof[..proof.len() / 2]).unwrap();
    assert_fails(&f.verify(&[], &file), 2, "unusable-input");
}

#[test]
fn file_never_added_is_not_logged() {
    let f = Fixture::new();
    f.add(NAME, CONTENTS);
    let absent = f.path("absent-3.0.tar.gz");
    std::fs::write(&absent, b"never logged").unwrap();
    let state = f.arg("state");
    assert_fails(
        &f.verify(&["--log", &f.server.url, "--state", &state], &absent),
        3,
        "not-logged",
    );
    assert_fails(&f.verify(&[], &absent), 3, "not-logged");
}

#[test]
fn gravest_failure_sets_the_exit_code() {
    let f = Fixture::new();
    let good = f.add(NAME, CONTENTS);
    let bad = f.add("other-2.0.tar.gz", b"other bytes");
    std::fs::write(&bad, b"tampered").unwrap();
    let absent = f.path("absent-3.0.tar.gz");
    std::fs::write(&absent, b"never logged").unwrap();
    let policy = f.arg("policy");
    let files: Vec<String> = [&good, &bad, &absent]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let out = bintrail(&[
        "verify", "--policy", &policy, &files[0], &files[1], &files[2],
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr).lines().count(), 2);
    assert_eq!(text(&out.stdout).lines().count(), 1);
}
