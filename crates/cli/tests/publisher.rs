//! Publisher identities end to end (issue 17) against a real `bintrail serve`: `verify --identity`
//! passes and fails (exit 14) on the logged publisher.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::LogServer;

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/demo/demo/.github/workflows/release.yml@refs/tags/v1.0";

fn bintrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(args)
        .env_remove("XDG_STATE_HOME")
        .output()
        .expect("run bintrail")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running log, a work directory with its token and a policy trusting it.
struct Fixture {
    server: LogServer,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let server = LogServer::start(&[]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), server.token()).unwrap();
        std::fs::write(
            dir.path().join("policy"),
            format!("log {}\nquorum none\n", server.vkey()),
        )
        .unwrap();
        Fixture { server, dir }
    }

    fn arg(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Writes `name` with `contents` and runs `bintrail add` with `extra` flags; returns the file.
    fn add(&self, name: &str, contents: &[u8], extra: &[&str]) -> (PathBuf, Output) {
        let file = self.dir.path().join(name);
        std::fs::write(&file, contents).unwrap();
        let (token, policy, state) = (self.arg("token"), self.arg("policy"), self.arg("state"));
        let mut args = vec![
            "add",
            "--log",
            &self.server.url,
            "--token-file",
            &token,
            "--policy",
            &policy,
            "--state",
            &state,
        ];
        args.extend(extra);
        let file_arg = file.display().to_string();
        args.push(&file_arg);
        let out = bintrail(&args);
        (file, out)
    }

    fn verify(&self, extra: &[&str], file: &Path) -> Output {
        let policy = self.arg("policy");
        let file = file.display().to_string();
        let mut args = vec!["verify", "--policy", &policy];
        args.extend(extra);
        args.push(&file);
        bintrail(&args)
    }
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn verify_identity_passes_and_fails_on_the_logged_publisher() {
    let f = Fixture::new();
    let (signed, out) = f.add(
        "demo-1.0-py3-none-any.whl",
        b"demo 1.0",
        &[
            "--publisher-issuer",
            GITHUB,
            "--publisher-subject",
            WORKFLOW,
        ],
    );
    assert_exit(&out, 0);
    let (unsigned, out) = f.add("demo-1.1-py3-none-any.whl", b"demo 1.1", &[]);
    assert_exit(&out, 0);

    let exact = format!("{GITHUB}={}", regex_escape(WORKFLOW));
    let any_tag = format!(
        "{GITHUB}=https://github\\.com/demo/demo/\\.github/workflows/release\\.yml@refs/tags/.*"
    );
    let other_repo = format!("{GITHUB}=https://github\\.com/evil/demo/.*");
    let other_issuer = "https://gitlab.com=.*".to_string();

    assert_exit(&f.verify(&["--identity", &exact], &signed), 0);
    assert_exit(&f.verify(&["--identity", &any_tag], &signed), 0);
    // Alternatives: one matching identity is enough.
    assert_exit(
        &f.verify(
            &["--identity", &other_repo, "--identity", &any_tag],
            &signed,
        ),
        0,
    );

    for wrong in [&other_repo, &other_issuer] {
        let out = f.verify(&["--identity", wrong], &signed);
        assert_exit(&out, 14);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("identity-mismatch") && stderr.contains(WORKFLOW),
            "{stderr}"
        );
    }
    // A file logged without a publisher matches no identity; without --identity it verifies.
    let out = f.verify(&["--identity", &any_tag], &unsigned);
    assert_exit(&out, 14);
    assert!(
        text(&out.stderr).contains("without a publisher"),
        "{}",
        text(&out.stderr)
    );
    assert_exit(&f.verify(&[], &unsigned), 0);
    // JSON output names the kind and the exit code.
    let out = f.verify(&["--identity", &other_repo, "--json"], &signed);
    assert_exit(&out, 14);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["kind"], "identity-mismatch");
    assert_eq!(line["exitCode"], 14);
    // A malformed requirement is a usage error.
    assert_exit(&f.verify(&["--identity", "not-an-identity"], &signed), 2);
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}

#[test]
fn monitor_alerts_on_a_watched_project_whose_publisher_changes_or_disappears() {
    let f = Fixture::new();
    let other = "https://github.com/demo/demo/.github/workflows/other.yml@refs/heads/main";
    let releases: [(&str, Option<&str>); 6] = [
        ("demo-1.0.tar.gz", Some(WORKFLOW)),
        ("demo-1.1.tar.gz", Some(WORKFLOW)),
        ("demo-1.2.tar.gz", Some(other)),
        ("demo-1.3.tar.gz", None),
        ("quiet-1.0.tar.gz", Some(WORKFLOW)),
        ("quiet-1.1.tar.gz", Some(other)),
    ];
    for (name, subject) in releases {
        let flags: Vec<&str> = match subject {
            Some(s) => vec!["--publisher-issuer", GITHUB, "--publisher-subject", s],
            None => vec![],
        };
        let (_, out) = f.add(name, name.as_bytes(), &flags);
        assert_exit(&out, 0);
    }
    let (policy, state) = (f.arg("policy"), f.arg("monitor-state"));
    let out = bintrail(&[
        "monitor",
        "--log",
        &f.server.url,
        "--once",
        "--policy",
        &policy,
        "--state",
        &state,
        "--watch",
        "^demo$",
    ]);
    // Publisher drift of a watched project is an alert: exit 1, like an integrity finding.
    assert_exit(&out, 1);
    let findings: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] != "watched")
        .collect();
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0]["kind"], "publisher_changed");
    assert_eq!(findings[0]["identifier"], "demo-1.2.tar.gz");
    assert_eq!(findings[0]["indices"], serde_json::json!([1, 2]));
    assert!(findings[0]["detail"].as_str().unwrap().contains(other));
    assert_eq!(findings[1]["kind"], "publisher_dropped");
    assert_eq!(findings[1]["identifier"], "demo-1.3.tar.gz");
    assert_eq!(findings[1]["indices"], serde_json::json!([2, 3]));
    // The unwatched project's change is not reported; a second pass reports nothing new.
    assert!(
        !text(&out.stdout).contains("quiet-1.1"),
        "{}",
        text(&out.stdout)
    );
    let again = bintrail(&[
        "monitor",
        "--log",
        &f.server.url,
        "--once",
        "--policy",
        &policy,
        "--state",
        &state,
        "--watch",
        "^demo$",
    ]);
    assert_exit(&again, 0);
    assert!(
        text(&again.stdout).trim().is_empty(),
        "{}",
        text(&again.stdout)
    );
}

/// A real sdist and its PEP 740 attestation from the pypi-attestations 0.0.31 test assets
/// (scripts/setup.sh unpacks them).
fn attestation_asset(name: &str) -> Vec<u8> {
    let base = std::env::var_os("BINTRAIL_PYPI_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/bintrail-tests/pypi"));
    let path = base.join("attestations").join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", path.display()))
}

#[test]
fn a_file_added_with_its_attestation_is_logged_with_the_certificate_publisher() {
    let f = Fixture::new();
    let sdist = "pypi_attestations-0.0.19.tar.gz";
    let subject = "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19";
    let attestation = f.dir.path().join("publish.attestation");
    std::fs::write(
        &attestation,
        attestation_asset(&format!("{sdist}.publish.attestation")),
    )
    .unwrap();
    let attestation_arg = attestation.display().to_string();

    // A publisher claim that contradicts the attestation is refused by the log, nothing is logged.
    let (_, out) = f.add(
        sdist,
        &attestation_asset(sdist),
        &[
            "--attestation",
            &attestation_arg,
            "--publisher-issuer",
            GITHUB,
            "--publisher-subject",
            WORKFLOW,
        ],
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("is not the attestation's"),
        "{}",
        text(&out.stderr)
    );
    // The attestation presented for another file is refused as such.
    let (_, out) = f.add(
        "gitlab_oidc_project-0.0.3.tar.gz",
        &attestation_asset("gitlab_oidc_project-0.0.3.tar.gz"),
        &["--attestation", &attestation_arg],
    );
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("invalid attestation"),
        "{}",
        text(&out.stderr)
    );

    // The genuine pair: logged with the certificate's issuer and subject, which verify --identity pins.
    let (file, out) = f.add(
        sdist,
        &attestation_asset(sdist),
        &["--attestation", &attestation_arg],
    );
    assert_exit(&out, 0);
    let out = f.verify(&["--json"], &file);
    assert_exit(&out, 0);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["publisher"]["issuer"], GITHUB);
    assert_eq!(line["publisher"]["subject"], subject);
    let pin = format!("{GITHUB}=https://github\\.com/trailofbits/pypi-attestations/.*");
    assert_exit(&f.verify(&["--identity", &pin], &file), 0);
    assert_exit(
        &f.verify(
            &[
                "--identity",
                &format!("{GITHUB}=https://github\\.com/evil/.*"),
            ],
            &file,
        ),
        14,
    );
}
