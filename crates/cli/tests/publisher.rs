//! Publisher identities end to end (issue 17) against a real `bintrail serve`: files logged with real PEP 740
//! attestations carry their certificates' publishers; `verify --identity` (on files and with `--index`) and
//! `verify --lock` (PEP 751 `attestation-identities`) pass and fail (exit 14) on the logged publisher; the
//! monitor alerts a `--watch`ing maintainer (exit 1 and webhook) when a project's publisher changes or
//! disappears; `serve` and `add` take another Sigstore trusted root.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::ClientFixture as Fixture;
use common::{LogServer, assert_stderr_has};
use common::{lossy as text, run as bintrail};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const WORKFLOW: &str = "https://github.com/demo/demo/.github/workflows/release.yml@refs/tags/v1.0";

/// What these tests add to the shared fixture.
trait Publishes {
    /// Writes `name` with `contents` and runs `bintrail add` with `extra` flags; returns
    /// the file.
    fn add(&self, name: &str, contents: &[u8], extra: &[&str]) -> (PathBuf, Output);
    /// Writes the real `NAME.publish.attestation` asset into the work directory and returns
    /// its path, as an argument.
    fn attestation(&self, name: &str) -> String;
}

impl Publishes for Fixture {
    fn add(&self, name: &str, contents: &[u8], extra: &[&str]) -> (PathBuf, Output) {
        let file = self.path(name);
        std::fs::write(&file, contents).unwrap();
        let out = self.run_add(extra, &[&file]);
        (file, out)
    }

    fn attestation(&self, name: &str) -> String {
        let file = format!("{name}.publish.attestation");
        let path = self.dir.path().join(&file);
        std::fs::write(&path, attestation_asset(&file)).unwrap();
        path.display().to_string()
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
    assert_stderr_has(&out, "without a publisher");
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
    let (hook_url, delivered) = webhook_receiver();
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
        "--webhook",
        &hook_url,
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
    // The maintainer's webhook received both alerts, as the same JSON objects.
    let posts = delivered.lock().unwrap().clone();
    let kinds: Vec<String> = posts
        .iter()
        .map(|body| {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            v["kind"].as_str().unwrap().to_owned()
        })
        .filter(|k| k != "watched")
        .collect();
    assert_eq!(
        kinds,
        ["publisher_changed", "publisher_dropped"],
        "{posts:?}"
    );
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

/// A webhook endpoint on 127.0.0.1: answers every POST 200 and keeps its bodies. Returns its URL.
fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies)
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
    let attestation_arg = f.attestation(sdist);

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
    assert_stderr_has(&out, "is not the attestation's");
    // The attestation presented for another file is refused as such (by add, before the log is asked).
    let (_, out) = f.add(
        "gitlab_oidc_project-0.0.3.tar.gz",
        &attestation_asset("gitlab_oidc_project-0.0.3.tar.gz"),
        &["--attestation", &attestation_arg],
    );
    assert_exit(&out, 2);
    assert_stderr_has(
        &out,
        "the attestation does not verify: the attestation is for",
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

/// Logs the real sdists `files` with their `.publish.attestation` (so their entries carry the certificates'
/// publishers) and writes them into the fixture's directory.
fn add_attested(f: &Fixture, files: &[&str]) {
    for name in files {
        let arg = f.attestation(name);
        let (_, out) = f.add(name, &attestation_asset(name), &["--attestation", &arg]);
        assert_exit(&out, 0);
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

const SDIST: &str = "pypi_attestations-0.0.19.tar.gz";
const GITLAB_SDIST: &str = "gitlab_oidc_project-0.0.3.tar.gz";

/// A PEP 751 lock pinning the two attested sdists and an unattested one, each package with the
/// `attestation-identities` given (TOML array-of-tables text, may be empty).
fn pylock(identities: [&str; 3], unsigned: &[u8]) -> String {
    let sdist = |name: &str, bytes: &[u8]| {
        format!(
            "sdist = {{ name = \"{name}\", url = \"https://files.example/{name}\", hashes = {{ sha256 = \"{}\" }} }}\n",
            sha256_hex(bytes)
        )
    };
    format!(
        "lock-version = \"1.0\"\ncreated-by = \"hand\"\n\n\
         [[packages]]\nname = \"pypi-attestations\"\nversion = \"0.0.19\"\n{}{}\n\
         [[packages]]\nname = \"gitlab-oidc-project\"\nversion = \"0.0.3\"\n{}{}\n\
         [[packages]]\nname = \"demo\"\nversion = \"2.0\"\n{}{}",
        sdist(SDIST, &attestation_asset(SDIST)),
        identities[0],
        sdist(GITLAB_SDIST, &attestation_asset(GITLAB_SDIST)),
        identities[1],
        sdist("demo-2.0.tar.gz", unsigned),
        identities[2],
    )
}

const GITHUB_ID: &str = "[[packages.attestation-identities]]\nkind = \"GitHub\"\nrepository = \"trailofbits/pypi-attestations\"\nworkflow = \"release.yml\"\nenvironment = \"release\"\n";
const GITLAB_ID: &str = "[[packages.attestation-identities]]\nkind = \"GitLab\"\nrepository = \"facutuesca/gitlab-oidc-project\"\nworkflow_filepath = \".gitlab-ci.yml\"\n";

#[test]
fn verify_lock_requires_each_packages_attestation_identities() {
    let f = Fixture::new();
    add_attested(&f, &[SDIST, GITLAB_SDIST]);
    let unsigned = b"demo 2.0, logged without a publisher";
    let (_, out) = f.add("demo-2.0.tar.gz", unsigned, &[]);
    assert_exit(&out, 0);

    // Proofs stored in a lock whose packages pin the publishers their certificates name.
    let lock = f.dir.path().join("pylock.toml");
    std::fs::write(&lock, pylock([GITHUB_ID, GITLAB_ID, ""], unsigned)).unwrap();
    let (lock_arg, policy, state) = (
        lock.display().to_string(),
        f.arg("policy"),
        f.arg("lock-state"),
    );
    let out = bintrail(&[
        "lock",
        &lock_arg,
        "--policy",
        &policy,
        "--log",
        &f.server.url,
        "--state",
        &state,
    ]);
    assert_exit(&out, 0);
    let locked = std::fs::read_to_string(&lock).unwrap();
    let out = bintrail(&["verify", "--lock", &lock_arg]);
    assert_exit(&out, 0);
    assert_eq!(text(&out.stdout).matches(": verified").count(), 3);

    // Each way the pinned identity can differ from the logged publisher: exit 14, naming the file.
    let variants = [
        // Another workflow of the same repository.
        (
            locked.replace("workflow = \"release.yml\"", "workflow = \"other.yml\""),
            SDIST,
        ),
        // Another repository.
        (
            locked.replace("trailofbits/pypi-attestations", "trailofbits/fork"),
            SDIST,
        ),
        // The right repository and workflow file, under the other kind (GitLab's issuer).
        (
            locked.replacen("kind = \"GitHub\"", "kind = \"GitLab\"\nworkflow_filepath = \"release.yml\"", 1),
            SDIST,
        ),
        // A package logged without a publisher, now pinned to one.
        (
            locked.replace(
                "name = \"demo\"\nversion = \"2.0\"\n",
                "name = \"demo\"\nversion = \"2.0\"\nattestation-identities = [{ kind = \"GitLab\", repository = \"facutuesca/gitlab-oidc-project\", workflow_filepath = \".gitlab-ci.yml\" }]\n",
            ),
            "demo-2.0.tar.gz",
        ),
    ];
    for (i, (text_variant, file)) in variants.iter().enumerate() {
        assert_ne!(text_variant, &locked, "variant {i} changed nothing");
        let path = f.dir.path().join(format!("variant-{i}.toml"));
        std::fs::write(&path, text_variant).unwrap();
        let out = bintrail(&["verify", "--lock", &path.display().to_string()]);
        assert_exit(&out, 14);
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("{file}: identity-mismatch")),
            "variant {i}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "variant {i}: {stderr}");
    }
    // One matching identity among several is enough.
    let two = locked.replacen(GITHUB_ID, &format!("{GITLAB_ID}{GITHUB_ID}"), 1);
    assert_ne!(two, locked);
    std::fs::write(f.dir.path().join("two.toml"), two).unwrap();
    assert_exit(&bintrail(&["verify", "--lock", &f.arg("two.toml")]), 0);
    // An identity of a kind without its required key is a malformed lock (exit 2).
    let broken = locked.replace("workflow_filepath = \".gitlab-ci.yml\"\n", "");
    std::fs::write(f.dir.path().join("broken.toml"), broken).unwrap();
    let out = bintrail(&["verify", "--lock", &f.arg("broken.toml")]);
    assert_exit(&out, 2);
    assert_stderr_has(&out, "workflow_filepath");
    // --identity applies to every file of the lock on top of the lock's own identities.
    let out = bintrail(&[
        "verify",
        "--lock",
        &lock_arg,
        "--identity",
        &format!("{GITHUB}=https://github\\.com/trailofbits/.*"),
    ]);
    assert_exit(&out, 14);
    assert_stderr_has(&out, &format!("{GITLAB_SDIST}: identity-mismatch"));
}

#[test]
fn verify_index_takes_identity_too() {
    let f = Fixture::new();
    add_attested(&f, &[SDIST]);
    // A pinned policy with the log's URL: proofs are looked up in the log, which stands in for the index.
    std::fs::write(
        f.dir.path().join("policy-url"),
        format!("log {} {}\nquorum none\n", f.server.vkey(), f.server.url),
    )
    .unwrap();
    let file = f.dir.path().join(SDIST).display().to_string();
    let (policy, state) = (f.arg("policy-url"), f.arg("index-state"));
    let run = |identity: &str| {
        bintrail(&[
            "verify",
            "--index",
            &f.server.url,
            "--policy",
            &policy,
            "--state",
            &state,
            "--identity",
            identity,
            &file,
        ])
    };
    assert_exit(
        &run(&format!(
            "{GITHUB}=https://github\\.com/trailofbits/pypi-attestations/.*"
        )),
        0,
    );
    let out = run(&format!("{GITHUB}=https://github\\.com/evil/.*"));
    assert_exit(&out, 14);
    assert_stderr_has(&out, "identity-mismatch");
}

/// Sigstore's staging trusted root as bundled in `bintrail-attest` (from the `sigstore` 4.5.1 wheel).
fn staging_root(dir: &Path) -> PathBuf {
    let path = dir.join("staging-trusted-root.json");
    let bundled =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../attest/data/trusted_root.staging.json");
    std::fs::copy(&bundled, &path).unwrap_or_else(|e| panic!("{}: {e}", bundled.display()));
    path
}

#[test]
fn serve_and_add_take_another_sigstore_trusted_root() {
    // A wheel whose real attestation was signed against Sigstore's staging instance.
    let wheel = "rfc8785-0.1.2-py3-none-any.whl";
    let roots = tempfile::tempdir().unwrap();
    let staging = staging_root(roots.path());
    let staging_arg = staging.display().to_string();
    let f = Fixture::with_server(LogServer::start(&["--sigstore-trusted-root", &staging_arg]));
    let attestation_arg = f.attestation(wheel);

    // add checks the attestation itself first: against the default public-good root it is refused before the log
    // is asked.
    let (_, out) = f.add(
        wheel,
        &attestation_asset(wheel),
        &["--attestation", &attestation_arg],
    );
    assert_exit(&out, 2);
    assert_stderr_has(&out, "the attestation does not verify");
    // With the staging root on both sides, it is logged with the certificate's identity.
    let (file, out) = f.add(
        wheel,
        &attestation_asset(wheel),
        &[
            "--attestation",
            &attestation_arg,
            "--sigstore-trusted-root",
            &staging_arg,
        ],
    );
    assert_exit(&out, 0);
    let out = f.verify(&["--json"], &file);
    assert_exit(&out, 0);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        line["publisher"]["issuer"],
        "https://github.com/login/oauth"
    );
    assert_eq!(line["publisher"]["subject"], "william@yossarian.net");

    // A log on the default root refuses what only staging vouches for, although add accepted it.
    let production = Fixture::new();
    let (_, out) = production.add(
        wheel,
        &attestation_asset(wheel),
        &[
            "--attestation",
            &production.attestation(wheel),
            "--sigstore-trusted-root",
            &staging_arg,
        ],
    );
    assert_exit(&out, 2);
    assert_stderr_has(&out, "invalid attestation");

    // A file that is not a trusted root: serve does not start, add stops, each naming the file.
    let bad = roots.path().join("not-a-root.json");
    std::fs::write(&bad, "{\"mediaType\": \"nothing\"}").unwrap();
    let bad_arg = bad.display().to_string();
    let data = roots.path().join("data");
    let err = LogServer::try_start_in(&data, &["--sigstore-trusted-root", &bad_arg])
        .err()
        .expect("serve started with a bad trusted root");
    assert!(err.1.contains("not-a-root.json"), "{}", err.1);
    let (_, out) = f.add(
        wheel,
        &attestation_asset(wheel),
        &[
            "--attestation",
            &attestation_arg,
            "--sigstore-trusted-root",
            &bad_arg,
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert_stderr_has(&out, "not-a-root.json");
}

/// `POST /add` with `body`; the status and the response text.
fn post_add(f: &Fixture, body: serde_json::Value) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = common::client()
            .post(format!("{}/add", f.server.url))
            .bearer_auth(f.server.token())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

#[test]
fn the_log_itself_refuses_an_attestation_that_does_not_hold() {
    // What `bintrail add` already refuses before sending, sent to the log directly: the log checks on its own.
    let f = Fixture::new();
    let attestation: serde_json::Value =
        serde_json::from_slice(&attestation_asset(&format!("{SDIST}.publish.attestation")))
            .unwrap();
    let checksum = |name: &str| format!("sha256:{}", sha256_hex(&attestation_asset(name)));
    // For another file.
    let (status, body) = post_add(
        &f,
        serde_json::json!({"filename": GITLAB_SDIST, "checksum": checksum(GITLAB_SDIST), "attestation": attestation}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains(&format!(
            "invalid attestation: the attestation is for {SDIST}"
        )),
        "{body}"
    );
    // For this file name but other bytes.
    let (status, body) = post_add(
        &f,
        serde_json::json!({"filename": SDIST, "checksum": checksum(GITLAB_SDIST), "attestation": attestation}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("file digest mismatch"), "{body}");
    // With a publisher claim that contradicts the certificate.
    let (status, body) = post_add(
        &f,
        serde_json::json!({
            "filename": SDIST, "checksum": checksum(SDIST), "attestation": attestation,
            "publisher": {"issuer": GITHUB, "subject": WORKFLOW},
        }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("is not the attestation's"), "{body}");
    // The genuine attestation is logged with the certificate's publisher.
    let (status, body) = post_add(
        &f,
        serde_json::json!({"filename": SDIST, "checksum": checksum(SDIST), "attestation": attestation}),
    );
    assert_eq!(status, 200, "{body}");

    // Bulk lines take attestations too, each judged on its own.
    let gitlab: serde_json::Value = serde_json::from_slice(&attestation_asset(&format!(
        "{GITLAB_SDIST}.publish.attestation"
    )))
    .unwrap();
    let lines = format!(
        "{}\n{}\n",
        serde_json::json!({"filename": GITLAB_SDIST, "checksum": checksum(GITLAB_SDIST), "attestation": gitlab}),
        serde_json::json!({"filename": "demo-9.0.tar.gz", "checksum": checksum(SDIST), "attestation": attestation}),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = runtime.block_on(async {
        common::client()
            .post(format!("{}/admin/bulk/append", f.server.url))
            .bearer_auth(f.server.token())
            .header("content-type", "application/x-ndjson")
            .body(lines)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let results: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "result")
        .map(|v| v["result"].clone())
        .collect();
    assert_eq!(results.len(), 2, "{text}");
    assert_eq!(results[0]["status"], "logged", "{text}");
    assert_eq!(results[1]["status"], "error", "{text}");
    assert!(
        results[1]["error"]
            .as_str()
            .unwrap()
            .contains("invalid attestation: the attestation is for"),
        "{text}"
    );
    // The bulk-logged file carries the GitLab pipeline's identity.
    let file = f.dir.path().join(GITLAB_SDIST);
    std::fs::write(&file, attestation_asset(GITLAB_SDIST)).unwrap();
    let (lookup, state) = (f.server.url.clone(), f.arg("bulk-state"));
    let out = bintrail(&[
        "verify",
        "--policy",
        &f.arg("policy"),
        "--log",
        &lookup,
        "--state",
        &state,
        "--json",
        "--identity",
        "https://gitlab.com=https://gitlab\\.com/facutuesca/gitlab-oidc-project//\\.gitlab-ci\\.yml@.*",
        &file.display().to_string(),
    ]);
    assert_exit(&out, 0);
}
