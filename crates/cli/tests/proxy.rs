//! `bintrail proxy` with real installers (issue 14): pip 26 and uv install the
//! requests set through the proxy in front of a real pypiserver, every file verified
//! through a real `bintrail serve` with a witness (lookup by filename: pypiserver
//! serves no proofs, the policy names the log). Tampering, unlogged files, report
//! mode and a forking log behind the proxy.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::LogServer;
use common::pypi::{
    self, Daemon, PypiServer, REQUESTS_SET, bintrail_bounded, http_get, output_text, pip_install,
    uv_install,
};
use common::witnesses::{WitnessNode, log_keygen, p};

const ORIGIN: &str = "proxy.test/log";
const SIX: &str = "six-1.16.0-py2.py3-none-any.whl";
/// A wheel with a real PEP 740 attestation made by CircleCI (pypi-attestations 0.0.31 test assets): served by
/// every stack, logged (with its attestation) only by the identity test.
const CIRCLECI: &str = "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl";
const CIRCLECI_FIXTURE: &str =
    "attestations/circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl";

/// A log (witnessed, or not) holding the requests set, pypiserver serving it (and
/// six, unlogged), and the client policy (log key and URL, witness, quorum).
struct Stack {
    dir: tempfile::TempDir,
    _witness: Option<WitnessNode>,
    log: LogServer,
    pypi: PypiServer,
    log_key: PathBuf,
}

impl Stack {
    fn new(witnessed: bool) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (log_key, log_vkey) = log_keygen(d, ORIGIN);
        let witness = witnessed.then(|| WitnessNode::new(d, 0, &log_vkey));
        let witness_lines = match &witness {
            Some(w) => w.policy(),
            None => "quorum none\n".to_owned(),
        };
        std::fs::write(d.join("log-policy"), &witness_lines).unwrap();
        let log = LogServer::start(&[
            "--private-key",
            p(&log_key),
            "--policy",
            p(&d.join("log-policy")),
        ]);
        let vkey = std::fs::read_to_string(&log_vkey).unwrap();
        let policy = format!("log {} {}\n{witness_lines}", vkey.trim(), log.url);
        std::fs::write(d.join("policy"), policy).unwrap();
        let mut names = REQUESTS_SET.to_vec();
        names.push(SIX);
        names.push(CIRCLECI_FIXTURE);
        let pypi = PypiServer::start(&names);
        let stack = Stack {
            dir,
            _witness: witness,
            log,
            pypi,
            log_key,
        };
        stack.add(&stack.log, &REQUESTS_SET);
        stack
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Logs the fixture files `names` in `log` with `bintrail add`.
    fn add(&self, log: &LogServer, names: &[&str]) {
        std::fs::write(self.path("token"), log.token()).unwrap();
        let files: Vec<PathBuf> = names.iter().map(|n| pypi::fixtures().join(n)).collect();
        // One add state per log: a second log under the same key is another history.
        let port = log.url.rsplit(':').next().unwrap_or_default();
        let (token, proofs, state) = (
            self.path("token"),
            self.path("proofs"),
            self.path(&format!("add-state-{port}")),
        );
        let mut args = vec![
            "add",
            "--log",
            &log.url,
            "--token-file",
            p(&token),
            "--out",
            p(&proofs),
            "--state",
            p(&state),
        ];
        args.extend(files.iter().map(|f| p(f)));
        let out = bintrail_bounded(&args);
        assert!(out.status.success(), "add: {}", output_text(&out));
    }

    /// Starts a proxy in front of pypiserver with the pinned policy and `extra` flags;
    /// `tag` names its cache and state directories.
    fn proxy(&self, tag: &str, extra: &[&str]) -> Daemon {
        let cache = self.path(&format!("cache-{tag}"));
        let state = self.path(&format!("state-{tag}"));
        let simple = self.pypi.simple();
        let policy = self.path("policy");
        let mut args = vec![
            "proxy",
            "--index",
            &simple,
            "--policy",
            p(&policy),
            "--listen",
            "127.0.0.1:0",
            "--cache",
            p(&cache),
            "--state",
            p(&state),
        ];
        args.extend_from_slice(extra);
        Daemon::start(&args)
    }

    fn target(&self, name: &str) -> PathBuf {
        self.path(&format!("target-{name}"))
    }
}

/// A `/metrics` counter's value.
fn metric(proxy: &Daemon, name: &str) -> u64 {
    let root = proxy.url.trim_end_matches("simple/");
    let (status, body) = http_get(&format!("{root}metrics")).expect("GET /metrics");
    assert_eq!(status, 200);
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

const VERIFIED: &str = "bintrail_proxy_files_total{outcome=\"verified\"}";
const CACHED: &str = "bintrail_proxy_files_total{outcome=\"cached\"}";
const REFUSED: &str = "bintrail_proxy_files_total{outcome=\"refused\"}";
const REPORTED: &str = "bintrail_proxy_files_total{outcome=\"reported\"}";
const PROOF_FETCHES: &str = "bintrail_proxy_proof_fetches_total";

fn installed(target: &Path, module: &str) -> bool {
    target.join(module).join("__init__.py").exists()
}

#[test]
fn pip_then_uv_install_through_the_proxy_and_the_second_install_costs_no_proof_traffic() {
    let stack = Stack::new(true);
    let proxy = stack.proxy("a", &[]);

    let out = pip_install(&proxy.url, &stack.target("pip"), &["requests==2.32.3"]);
    assert!(out.status.success(), "pip: {}", output_text(&out));
    for module in [
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset_normalizer",
    ] {
        assert!(
            installed(&stack.target("pip"), module),
            "{module} not installed"
        );
    }
    assert_eq!(metric(&proxy, VERIFIED), 5);
    assert_eq!(metric(&proxy, PROOF_FETCHES), 5);
    // Every download went through the proxy, none to pypiserver directly.
    assert!(
        output_text(&out).contains(&format!("{}files/", proxy.url.trim_end_matches("simple/")))
    );

    let out = uv_install(&proxy.url, &stack.target("uv"), &["requests==2.32.3"]);
    assert!(out.status.success(), "uv: {}", output_text(&out));
    assert!(installed(&stack.target("uv"), "requests"));
    // uv reads wheel metadata with extra requests: each is served from the cache.
    assert!(metric(&proxy, CACHED) >= 5, "{}", proxy.stderr_text());
    assert_eq!(metric(&proxy, VERIFIED), 5);
    assert_eq!(
        metric(&proxy, PROOF_FETCHES),
        5,
        "the warm install fetched proofs"
    );
    assert_eq!(metric(&proxy, REFUSED), 0);
}

#[test]
fn a_wheel_swapped_after_logging_fails_pip_and_uv_with_the_proxys_reason() {
    let stack = Stack::new(true);
    // idna's name, six's bytes: pypiserver now lists (and serves) another digest.
    let idna = "idna-3.10-py3-none-any.whl";
    std::fs::copy(pypi::fixtures().join(SIX), stack.pypi.file(idna)).unwrap();
    let proxy = stack.proxy("swap", &[]);

    let out = pip_install(&proxy.url, &stack.target("pip"), &["requests==2.32.3"]);
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(text.contains("403"), "{text}");
    assert!(
        text.contains(&format!("refused {idna}: bintrail: digest-mismatch")),
        "{text}"
    );
    assert!(!installed(&stack.target("pip"), "idna"));

    let out = uv_install(&proxy.url, &stack.target("uv"), &["requests==2.32.3"]);
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains(&format!("refused {idna}: bintrail: digest-mismatch")),
        "{text}"
    );

    let log = proxy.stderr_text();
    assert!(
        log.contains(r#""event":"refused""#) && log.contains(r#""kind":"digest-mismatch""#),
        "{log}"
    );
    assert!(metric(&proxy, REFUSED) >= 2);
    // Nothing of the refused file was cached.
    assert!(!stack.path("cache-swap").join("files").join(idna).exists());
}

#[test]
fn an_unlogged_file_is_refused_and_report_mode_installs_and_reports_it() {
    let stack = Stack::new(true);
    let enforce = stack.proxy("enforce", &[]);
    let out = pip_install(&enforce.url, &stack.target("enforce"), &["six==1.16.0"]);
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains(&format!("refused {SIX}: bintrail: not-logged")),
        "{text}"
    );
    let out = uv_install(&enforce.url, &stack.target("enforce-uv"), &["six==1.16.0"]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("not-logged"),
        "{}",
        output_text(&out)
    );

    let report = stack.proxy("report", &["--mode", "report"]);
    let out = pip_install(&report.url, &stack.target("report"), &["six==1.16.0"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(stack.target("report").join("six.py").exists());
    let log = report.stderr_text();
    assert!(
        log.lines().any(|l| l.contains(r#""event":"reported""#)
            && l.contains(r#""kind":"not-logged""#)
            && l.contains(SIX)),
        "{log}"
    );
    assert_eq!(metric(&report, REPORTED), 1);
    assert_eq!(metric(&report, VERIFIED), 0);
    // Unverified bytes are never cached.
    assert!(!stack.path("cache-report").join("files").join(SIX).exists());
}

#[test]
fn a_log_that_forks_behind_the_proxy_is_refused_with_evidence_saved_and_reported() {
    let stack = Stack::new(false);
    let receiver = EvidenceReceiver::start();
    let first = stack.proxy("fork", &["--report-url", &receiver.url]);
    let out = pip_install(&first.url, &stack.target("first"), &["idna==3.10"]);
    assert!(out.status.success(), "{}", output_text(&out));
    drop(first);

    // The same key signs another history: a second log, the same five files in
    // another order. Same origin and tree size, another root hash.
    let lines = std::fs::read_to_string(stack.path("log-policy")).unwrap();
    let other = LogServer::start(&[
        "--private-key",
        p(&stack.log_key),
        "--policy",
        p(&stack.path("log-policy")),
    ]);
    let mut reversed = REQUESTS_SET.to_vec();
    reversed.reverse();
    stack.add(&other, &reversed);
    let vkey = std::fs::read_to_string(stack.path("log.vkey")).unwrap();
    let policy = format!("log {} {}\n{lines}", vkey.trim(), other.url);
    std::fs::write(stack.path("policy"), policy).unwrap();
    let proxy = stack.proxy("fork", &["--report-url", &receiver.url]);
    let out = pip_install(&proxy.url, &stack.target("second"), &["certifi==2024.8.30"]);
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(text.contains("fork-detected"), "{text}");
    let forks: Vec<_> = walk(&stack.path("state-fork"))
        .into_iter()
        .filter(|p| p.ends_with("new.checkpoint") || p.ends_with("old.checkpoint"))
        .collect();
    assert_eq!(forks.len(), 2, "evidence: {forks:?}");
    let posted = receiver.wait();
    assert!(posted.contains("\"kind\":\"fork-detected\""), "{posted}");
    assert!(
        posted.contains("old_checkpoint") && posted.contains(ORIGIN),
        "{posted}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A one-request HTTP server that keeps the body POSTed to it.
struct EvidenceReceiver {
    url: String,
    body: std::sync::mpsc::Receiver<String>,
}

impl EvidenceReceiver {
    fn start() -> EvidenceReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/evidence", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = stream
                            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
                        let _ = tx.send(body.to_owned());
                        return;
                    }
                }
            }
        });
        EvidenceReceiver { url, body: rx }
    }

    fn wait(&self) -> String {
        self.body
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("no evidence was POSTed")
    }
}

/// `bintrail index` in front of pypiserver, on `port` (0: any), for `log`.
fn index(stack: &Stack, log: &LogServer, port: u16, tag: &str) -> Daemon {
    let listen = format!("127.0.0.1:{port}");
    let state = stack.path(&format!("index-state-{tag}"));
    let simple = stack.pypi.simple();
    Daemon::start_with(
        &[
            "index",
            "--upstream",
            &simple,
            "--log",
            &log.url,
            "--listen",
            &listen,
            "--state",
            p(&state),
        ],
        "bintrail: index listening on ",
    )
}

#[test]
fn through_bintrail_index_the_key_is_discovered_and_a_changed_key_is_refused() {
    let stack = Stack::new(false);
    let first = index(&stack, &stack.log, 0, "first");
    let root = format!("{}/", first.url.trim_end_matches('/'));
    let port: u16 = root
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let simple = format!("{root}simple/");

    // No --policy: the key comes from the index's tlog-info, cached under --state.
    let proxy_args = |tag: &str, extra: &[&str]| {
        let mut args: Vec<String> = ["proxy", "--index", &simple, "--listen", "127.0.0.1:0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend([
            "--cache".into(),
            p(&stack.path(&format!("cache-{tag}"))).into(),
        ]);
        args.extend(["--state".into(), p(&stack.path("proxy-state")).into()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let args = proxy_args("one", &[]);
    let proxy = Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = pip_install(&proxy.url, &stack.target("pip"), &["requests==2.32.3"]);
    assert!(out.status.success(), "pip: {}", output_text(&out));
    assert_eq!(metric(&proxy, VERIFIED), 5, "{}", proxy.stderr_text());
    assert!(
        walk(&stack.path("proxy-state"))
            .iter()
            .any(|f| f.ends_with("tlog-info"))
    );

    // verify --index: the draft's algorithm from the command line.
    let files: Vec<PathBuf> = REQUESTS_SET.iter().map(|n| stack.pypi.file(n)).collect();
    let verify_state = stack.path("verify-state");
    let mut args = vec!["verify", "--index", &root, "--state", p(&verify_state)];
    args.extend(files.iter().map(|f| p(f)));
    let out = bintrail_bounded(&args);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let tampered = stack.path("idna-3.10-py3-none-any.whl");
    std::fs::copy(pypi::fixtures().join(SIX), &tampered).unwrap();
    let out = bintrail_bounded(&[
        "verify",
        "--index",
        &simple,
        "--state",
        p(&stack.path("verify-state")),
        p(&tampered),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));

    // The index now announces another log (another key and origin) on the same URL.
    drop(proxy);
    drop(first);
    let other = LogServer::start(&[]);
    stack.add(&other, &REQUESTS_SET);
    let _second = index(&stack, &other, port, "second");
    let args = proxy_args("two", &[]);
    let proxy = Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = pip_install(&proxy.url, &stack.target("changed"), &["idna==3.10"]);
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains("key-changed") && text.contains("announcements"),
        "{text}"
    );
    let out = bintrail_bounded(&[
        "verify",
        "--index",
        &root,
        "--state",
        p(&stack.path("verify-state")),
        p(&files[2]),
    ]);
    assert_eq!(out.status.code(), Some(12), "{}", output_text(&out));

    // Accepted explicitly: installs, and says loudly that the key changed.
    drop(proxy);
    let args = proxy_args("three", &["--accept-new-key"]);
    let proxy = Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let out = pip_install(&proxy.url, &stack.target("accepted"), &["idna==3.10"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        proxy.stderr_text().contains("CHANGED"),
        "{}",
        proxy.stderr_text()
    );
}

#[test]
fn a_file_swapped_between_page_and_download_never_completes() {
    let stack = Stack::new(false);
    let proxy = stack.proxy("stream", &[]);
    let root = proxy.url.trim_end_matches("simple/").to_owned();
    // The page (honest at this moment) is read through the proxy...
    let (status, page) = http_get(&format!("{}idna/", proxy.url)).expect("page");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("/files/idna/idna-3.10-py3-none-any.whl#sha256=946d"),
        "{page}"
    );
    // ...then the index swaps the file before the download: the proof verifies (the
    // page listed the logged hash), so the proxy streams, and the digest fails at the end.
    let idna = "idna-3.10-py3-none-any.whl";
    let logged = std::fs::read(pypi::fixtures().join(idna)).unwrap();
    let mut swapped = logged.clone();
    let last = swapped.len() - 1;
    swapped[last] ^= 1;
    std::fs::write(stack.pypi.file(idna), &swapped).unwrap();
    let answer = raw_get(&format!("{root}files/idna/{idna}"));
    let text = String::from_utf8_lossy(&answer);
    let (head, _) = text.split_once("\r\n\r\n").expect("a response head");
    assert!(head.contains(" 200 OK"), "{head}");
    let body_len = answer.len() - head.len() - 4;
    assert!(
        body_len < swapped.len(),
        "the whole swapped file was sent ({body_len} bytes)"
    );
    // The length announced is the whole file's, so the installer sees a short read.
    assert!(
        head.contains(&format!("content-length: {}", swapped.len())),
        "{head}"
    );
    assert!(!stack.path("cache-stream").join("files").join(idna).exists());
    // The proxy printed the line before aborting the body, but the thread that collects its stderr may not have
    // read it yet: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut log = proxy.stderr_text();
    while !log.contains(r#""kind":"digest-mismatch""#) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        log = proxy.stderr_text();
    }
    assert!(log.contains(r#""kind":"digest-mismatch""#), "{log}");
}

/// `GET url` over HTTP/1.0, returning every byte received until the server closed.
fn raw_get(url: &str) -> Vec<u8> {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// The identity policy accepting CircleCI's pipeline for the attested wheel (the project and pipeline of its
/// certificate), with `idna` pinned to a GitHub workflow when `pin_idna`.
fn identity_policy(pipeline: &str, pin_idna: bool) -> String {
    let mut text = format!(
        "[projects.circleci-sign-publish-example]\nidentities = [\n  \
         {{ kind = \"CircleCI\", project_id = \"fdd9283f-e619-46af-8f9c-851f7d3e8b2b\", pipeline_definition_id = \"{pipeline}\" }},\n]\n"
    );
    if pin_idna {
        text.push_str(
            "\n[projects.IDNA]\n[[projects.IDNA.identities]]\nissuer = \"https://token.actions.githubusercontent.com\"\nsubject = 'https://github\\.com/kjd/idna/\\.github/workflows/deploy\\.yml@.*'\n",
        );
    }
    text
}

const PIPELINE: &str = "8e4f8ab2-8d7c-4827-9f15-de076d6d647f";

#[test]
fn an_identity_policy_refuses_files_whose_logged_publisher_it_does_not_accept() {
    let stack = Stack::new(false);
    // The wheel logged with its attestation: the entry carries the certificate's CircleCI publisher.
    let attestation = pypi::fixtures().join(format!("{CIRCLECI_FIXTURE}.publish.attestation"));
    let out = bintrail_bounded(&[
        "add",
        "--log",
        &stack.log.url,
        "--token-file",
        p(&stack.path("token")),
        "--out",
        p(&stack.path("proofs")),
        "--state",
        p(&stack.path("add-state-attested")),
        "--attestation",
        p(&attestation),
        p(&pypi::fixtures().join(CIRCLECI_FIXTURE)),
    ]);
    assert!(out.status.success(), "add: {}", output_text(&out));

    // The policy accepts the wheel's publisher: pip and uv install it through the proxy.
    std::fs::write(
        stack.path("identities-ok.toml"),
        identity_policy(PIPELINE, false),
    )
    .unwrap();
    let ok = stack.proxy(
        "id",
        &["--identity-policy", p(&stack.path("identities-ok.toml"))],
    );
    let out = pip_install(
        &ok.url,
        &stack.target("id-pip"),
        &["--no-deps", "circleci-sign-publish-example"],
    );
    assert!(out.status.success(), "pip: {}", output_text(&out));
    assert!(installed(
        &stack.target("id-pip"),
        "circleci_sign_publish_example"
    ));
    let out = uv_install(
        &ok.url,
        &stack.target("id-uv"),
        &["--no-deps", "circleci-sign-publish-example"],
    );
    assert!(out.status.success(), "uv: {}", output_text(&out));
    assert_eq!(metric(&ok, VERIFIED), 1);
    drop(ok);

    // Another pipeline is required, and idna must come from a GitHub workflow although it was logged without a
    // publisher: both are refused with the reason, even the wheel now in the cache (same cache as above).
    std::fs::write(
        stack.path("identities-strict.toml"),
        identity_policy("00000000-0000-0000-0000-000000000000", true),
    )
    .unwrap();
    let strict = stack.proxy(
        "id",
        &[
            "--identity-policy",
            p(&stack.path("identities-strict.toml")),
        ],
    );
    let out = pip_install(
        &strict.url,
        &stack.target("strict-pip"),
        &["--no-deps", "circleci-sign-publish-example"],
    );
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(text.contains("403"), "{text}");
    assert!(
        text.contains(&format!("refused {CIRCLECI}: bintrail: identity-mismatch"))
            && text.contains("https://oidc.circleci.com"),
        "{text}"
    );
    assert!(!installed(
        &stack.target("strict-pip"),
        "circleci_sign_publish_example"
    ));
    let idna = "idna-3.10-py3-none-any.whl";
    let out = uv_install(
        &strict.url,
        &stack.target("strict-uv"),
        &["requests==2.32.3"],
    );
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(
        text.contains(&format!("refused {idna}: bintrail: identity-mismatch"))
            && text.contains("without a publisher"),
        "{text}"
    );
    let out = pip_install(
        &strict.url,
        &stack.target("strict-pip2"),
        &["requests==2.32.3"],
    );
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains(&format!("refused {idna}: bintrail: identity-mismatch")),
        "{}",
        output_text(&out)
    );
    let log = strict.stderr_text();
    for file in [CIRCLECI, idna] {
        assert!(
            log.lines().any(|l| l.contains(r#""event":"refused""#)
                && l.contains(r#""kind":"identity-mismatch""#)
                && l.contains(file)),
            "{file}: {log}"
        );
    }
    // Report mode lets the same files through and reports them.
    drop(strict);
    let report = stack.proxy(
        "id-report",
        &[
            "--mode",
            "report",
            "--identity-policy",
            p(&stack.path("identities-strict.toml")),
        ],
    );
    let out = pip_install(
        &report.url,
        &stack.target("report-pip"),
        &["--no-deps", "circleci-sign-publish-example"],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        report.stderr_text().contains(r#""event":"reported""#),
        "{}",
        report.stderr_text()
    );

    // A malformed policy stops the proxy at start, naming the problem.
    std::fs::write(
        stack.path("identities-bad.toml"),
        "[projects.x]\nidentities = [{ issuer = \"https://x\" }]\n",
    )
    .unwrap();
    let out = bintrail_bounded(&[
        "proxy",
        "--index",
        &stack.pypi.simple(),
        "--policy",
        p(&stack.path("policy")),
        "--listen",
        "127.0.0.1:0",
        "--cache",
        p(&stack.path("cache-bad")),
        "--state",
        p(&stack.path("state-bad")),
        "--identity-policy",
        p(&stack.path("identities-bad.toml")),
    ]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("projects.x.identities[0]"),
        "{}",
        output_text(&out)
    );
}
