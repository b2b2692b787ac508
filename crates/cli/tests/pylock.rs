//! Lockfiles that carry proofs (issue 14): `pylock.toml` files made by real pip 26
//! (`pip lock`) and uv (`uv export`) against a real pypiserver, proofs stored by `bintrail lock`, then
//! `bintrail verify --lock` passes, and fails naming the file when one hash or one
//! proof is altered, or (with `--dir`) when a downloaded file differs.

mod common;

use std::path::Path;

use common::LogServer;
use common::pypi::{self, INSTALL_TIMEOUT, PypiServer, REQUESTS_SET, bintrail_bounded};
use common::witnesses::p;

/// Logs every file of the requests set with `bintrail add`.
fn log_set(log: &LogServer, pypi: &PypiServer, dir: &Path) {
    std::fs::write(dir.join("token"), log.token()).unwrap();
    let mut args = vec![
        "add".to_owned(),
        "--log".into(),
        log.url.clone(),
        "--token-file".into(),
        p(&dir.join("token")).into(),
        "--policy".into(),
        p(&dir.join("policy")).into(),
        "--state".into(),
        p(&dir.join("add-state")).into(),
        "--out".into(),
        p(&dir.join("proofs")).into(),
    ];
    args.extend(REQUESTS_SET.iter().map(|n| p(&pypi.file(n)).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = bintrail_bounded(&args);
    assert!(out.status.success(), "{}", pypi::output_text(&out));
}

/// `bintrail lock` of `lock` against `log`, with the policy and state of `dir`: it must
/// succeed.
fn bintrail_lock(log: &LogServer, dir: &Path, lock: &Path) {
    let out = bintrail_bounded(&[
        "lock",
        p(lock),
        "--policy",
        p(&dir.join("policy")),
        "--log",
        &log.url,
        "--state",
        p(&dir.join("state")),
    ]);
    assert!(out.status.success(), "lock: {}", pypi::output_text(&out));
}

/// A log, a pypiserver serving the requests set, and a work directory with a policy
/// trusting the log, where every file of the set was logged.
fn logged_set() -> (LogServer, PypiServer, tempfile::TempDir) {
    let log = LogServer::start(&[]);
    let pypi = PypiServer::start(&REQUESTS_SET);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy"),
        format!("log {}\nquorum none\n", log.vkey()),
    )
    .unwrap();
    log_set(&log, &pypi, dir.path());
    (log, pypi, dir)
}

#[test]
fn lock_then_verify_lock_and_tampering_is_named() {
    let (log, pypi, dir) = logged_set();
    let d = dir.path();

    // A lock file made by a real tool.
    let lock = d.join("pylock.toml");
    let out = pypi::run_bounded(
        &pypi::pip(),
        &[
            "lock",
            "--no-cache-dir",
            "--index-url",
            &pypi.simple(),
            "requests==2.32.3",
            "-o",
            p(&lock),
        ],
        &[],
        INSTALL_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "pip lock: {}",
        pypi::output_text(&out)
    );
    let original = std::fs::read_to_string(&lock).unwrap();

    bintrail_lock(&log, d, &lock);
    let locked = std::fs::read_to_string(&lock).unwrap();
    // Every line pip wrote is still there, in order: bintrail only added.
    let mut rest = locked.as_str();
    for line in original.lines() {
        let at = rest.find(line).unwrap_or_else(|| panic!("lost {line:?}"));
        rest = &rest[at + line.len()..];
    }
    assert_eq!(locked.matches("[packages.tool.bintrail.proofs]").count(), 5);
    assert!(locked.contains("[tool.bintrail]"));

    // Offline: the log is stopped; the lock alone (and the key it pins) suffices.
    drop(log);
    let out = bintrail_bounded(&["verify", "--lock", p(&lock)]);
    assert_eq!(out.status.code(), Some(0), "{}", pypi::output_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(": verified")
            .count(),
        5
    );
    let out = bintrail_bounded(&["verify", "--lock", p(&lock), "--dir", p(&pypi.packages)]);
    assert_eq!(out.status.code(), Some(0), "{}", pypi::output_text(&out));

    // One altered hash: exit 1, naming that file.
    let idna_hash = "946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3";
    assert!(locked.contains(idna_hash));
    let bad_hash = locked.replace(idna_hash, &format!("{}0", &idna_hash[..63]));
    let altered = d.join("altered-hash.toml");
    std::fs::write(&altered, bad_hash).unwrap();
    let out = bintrail_bounded(&["verify", "--lock", p(&altered)]);
    assert_eq!(out.status.code(), Some(1), "{}", pypi::output_text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("idna-3.10-py3-none-any.whl: digest-mismatch"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // One altered proof (idna's replaced by certifi's): exit 5, naming idna.
    let doc = lock_proofs(&locked);
    let (idna, certifi) = (
        &doc["idna-3.10-py3-none-any.whl"],
        &doc["certifi-2024.8.30-py3-none-any.whl"],
    );
    let swapped = locked.replacen(idna.as_str(), certifi, 1);
    let altered = d.join("altered-proof.toml");
    std::fs::write(&altered, swapped).unwrap();
    let out = bintrail_bounded(&["verify", "--lock", p(&altered)]);
    assert_eq!(out.status.code(), Some(5), "{}", pypi::output_text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("idna-3.10-py3-none-any.whl: proof-for-another-file"),
        "{stderr}"
    );

    // A downloaded file that differs from the lock: exit 1 with --dir.
    std::fs::write(pypi.file("urllib3-2.2.3-py3-none-any.whl"), b"not urllib3").unwrap();
    let out = bintrail_bounded(&["verify", "--lock", p(&lock), "--dir", p(&pypi.packages)]);
    assert_eq!(out.status.code(), Some(1), "{}", pypi::output_text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("urllib3-2.2.3-py3-none-any.whl: digest-mismatch")
    );
}

/// filename -> stored proof text, read back with a plain TOML parser.
fn lock_proofs(text: &str) -> std::collections::HashMap<String, String> {
    let value: toml::Value = text.parse().unwrap();
    let mut proofs = std::collections::HashMap::new();
    for package in value["packages"].as_array().unwrap() {
        for (name, proof) in package["tool"]["bintrail"]["proofs"].as_table().unwrap() {
            proofs.insert(name.clone(), proof.as_str().unwrap().to_owned());
        }
    }
    proofs
}

#[test]
fn a_lock_exported_by_uv_takes_proofs_and_verifies() {
    let (log, pypi, dir) = logged_set();
    let d = dir.path();

    // A uv project whose lock uv exports as pylock.toml (inline wheel tables, no names).
    let project = d.join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"demo\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"requests==2.32.3\"]\n",
    )
    .unwrap();
    let simple = pypi.simple();
    let uv_args = |command: &str| {
        vec![
            command.to_owned(),
            "--no-config".into(),
            "--no-cache".into(),
            "--python".into(),
            "/opt/bintrail-test-venv/bin/python".into(),
            "--index-url".into(),
            simple.clone(),
            "--directory".into(),
            p(&project).into(),
        ]
    };
    let out = pypi::run_bounded(
        &pypi::uv(),
        &uv_args("lock")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
        INSTALL_TIMEOUT,
    );
    assert!(out.status.success(), "uv lock: {}", pypi::output_text(&out));
    let lock = d.join("pylock.toml");
    let mut export = uv_args("export");
    export.extend([
        "--format".into(),
        "pylock.toml".into(),
        "-o".into(),
        p(&lock).into(),
    ]);
    let out = pypi::run_bounded(
        &pypi::uv(),
        &export.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
        INSTALL_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "uv export: {}",
        pypi::output_text(&out)
    );
    assert!(
        std::fs::read_to_string(&lock)
            .unwrap()
            .contains("created-by = \"uv\"")
    );

    bintrail_lock(&log, d, &lock);
    let out = bintrail_bounded(&["verify", "--lock", p(&lock), "--dir", p(&pypi.packages)]);
    assert_eq!(out.status.code(), Some(0), "{}", pypi::output_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(": verified")
            .count(),
        5
    );
}
