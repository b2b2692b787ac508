//! `bintrail verify --log` and `bintrail policy` against a test log built with
//! crates/tlog and served in-process, which can do what a real log never should:
//! sign two inconsistent histories (issue 5).

mod common;
#[path = "../../client/tests/support/mod.rs"]
mod support;

use std::path::Path;

use common::{lossy as text, run as bintrail};
use support::{TestLog, TestServer, pypi_entry};

const NAME: &str = "demo-1.0-py3-none-any.whl";
const CONTENTS: &[u8] = b"demo wheel contents";

/// A log whose entry 3 is our file, then `size - 4` filler entries tagged `tag`.
fn log_with_file(base: Option<&TestLog>, size: u64, tag: &str) -> TestLog {
    let mut log = match base {
        Some(base) => {
            let mut log = base.clone();
            log.entries.truncate(5);
            log.hashes
                .truncate(bintrail_tlog::tree::stored_hash_count(5) as usize);
            log
        }
        None => {
            let mut log = TestLog::new(4, 1);
            log.append_filler(3, "");
            log.append(pypi_entry(NAME, CONTENTS).to_bytes());
            log
        }
    };
    let have = log.size();
    log.append_filler(size - have, tag);
    log
}

fn write_proof(dir: &Path, log: &TestLog, size: u64) {
    let proof = log.proof(3, size, &[0]);
    std::fs::write(dir.join(format!("{NAME}.tlog-proof")), proof.to_bytes()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_log_detects_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(NAME);
    std::fs::write(&file, CONTENTS).unwrap();
    let state = dir.path().join("state");
    let policy = dir.path().join("policy");

    let honest = log_with_file(None, 10, "a");
    std::fs::write(&policy, honest.policy(1)).unwrap();
    let server = TestServer::start(honest.clone(), 10, &[0]).await;
    write_proof(dir.path(), &honest, 10);
    let args = [
        "verify",
        "--policy",
        policy.to_str().unwrap(),
        "--log",
        &server.url,
        "--state",
        state.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let out = bintrail(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("first checkpoint seen"),
        "{}",
        text(&out.stdout)
    );

    // The log grows honestly: still fine, and the stored checkpoint advances.
    let grown = {
        let mut log = honest.clone();
        log.append_filler(290, "a2");
        log
    };
    server.switch(grown.clone(), 300);
    write_proof(dir.path(), &grown, 300);
    let out = bintrail(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("10 -> 300"),
        "{}",
        text(&out.stdout)
    );

    // Same key, another history after entry 5: a fork.
    let forked = log_with_file(Some(&grown), 400, "fork");
    server.switch(forked.clone(), 400);
    write_proof(dir.path(), &forked, 400);
    let out = bintrail(&args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "stderr: {stderr}");
    assert!(
        stderr.contains("fork-detected") && stderr.contains("FORK DETECTED"),
        "{stderr}"
    );
    // <state>/<origin>/<key>/fork-*
    let only_child = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    let key_dir = only_child(&only_child(&state));
    let evidence: Vec<_> = std::fs::read_dir(&key_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("fork-")
        })
        .collect();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(
        std::fs::read(evidence[0].join("old.checkpoint")).unwrap(),
        grown.checkpoint(300, &[0])
    );
    assert_eq!(
        std::fs::read(evidence[0].join("new.checkpoint")).unwrap(),
        forked.checkpoint(400, &[0])
    );

    // JSON mode reports the same failure as one object.
    let mut json_args = args.to_vec();
    json_args.insert(1, "--json");
    let out = bintrail(&json_args);
    assert_eq!(out.status.code(), Some(10));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["ok"], false);
    assert_eq!(line["kind"], "fork-detected");
    assert_eq!(line["exitCode"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_log_looks_up_missing_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_file(None, 10, "a");
    let server = TestServer::start(log.clone(), 10, &[0]).await;
    let policy = dir.path().join("policy");
    std::fs::write(&policy, log.policy(1)).unwrap();
    let file = dir.path().join(NAME);
    std::fs::write(&file, CONTENTS).unwrap();
    let absent = dir.path().join("absent-1.0.tar.gz");
    std::fs::write(&absent, b"x").unwrap();
    let state = dir.path().join("state");
    let run = |file: &Path, online: bool| {
        let mut args = vec!["verify", "--json", "--policy", policy.to_str().unwrap()];
        if online {
            args.extend(["--log", &server.url, "--state", state.to_str().unwrap()]);
        }
        args.push(file.to_str().unwrap());
        bintrail(&args)
    };
    let out = run(&file, true);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["ok"], true);
    assert_eq!(line["index"], 3);
    assert_eq!(line["cosigners"], serde_json::json!(["w0"]));
    assert_eq!(line["consistency"], "first");

    let out = run(&absent, true);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let out = run(&file, false);
    assert_eq!(out.status.code(), Some(3), "offline without a proof file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_prints_the_logs_policy() {
    let log = log_with_file(None, 10, "a");
    let server = TestServer::start(log.clone(), 10, &[0]).await;
    let out = bintrail(&["policy", "--log", &server.url]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), log.policy(1));
    assert!(text(&out.stderr).contains("satisfies this policy"));

    // A log whose checkpoint does not meet its own policy is refused.
    server.served.lock().unwrap().cosigners.clear();
    let out = bintrail(&["policy", "--log", &server.url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty());
}
