//! `bintrail monitor` end to end (issue 6), through the real binary: against a real `bintrail serve`
//! (clean passes, watched releases, a proxy that alters entry bundles in transit, a second log signing
//! with the same key: a fork), a log written directly with crates/tlog and served from memory (it
//! equivocates, which the real server refuses to do), a real PyPI-compatible index (`pypiserver`,
//! installed by scripts/setup.sh) serving wheels built here, and the continuous mode riding out a log
//! that is not there yet.

mod common;
#[path = "../../monitor/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::LogServer;
use serde_json::Value;

/// What one `bintrail monitor --once` run produced.
struct Run {
    code: i32,
    findings: Vec<Value>,
    stderr: String,
    /// The highest resident set size seen while it ran (polled every 20 ms), KiB.
    peak_rss_kib: u64,
}

/// A run whose resident memory passes this is killed and the test fails: the
/// monitor must work in bounded memory whatever a log signs (issue 19, H1).
const RSS_CEILING_KIB: u64 = 512 * 1024;

/// `VmRSS` of a running process in KiB, from /proc; 0 once it has exited.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

impl Run {
    fn kinds(&self) -> Vec<&str> {
        self.findings
            .iter()
            .map(|f| f["kind"].as_str().unwrap_or("?"))
            .collect()
    }
}

/// Runs `bintrail monitor --once` with `args`, bounded to 120 s.
fn monitor_once(log: &str, policy: &Path, state: &Path, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .arg("monitor")
        .args(["--log", log, "--once"])
        .arg("--policy")
        .arg(policy)
        .arg("--state")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bintrail monitor");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut peak_rss_kib = 0;
    while child.try_wait().expect("wait").is_none() {
        peak_rss_kib = peak_rss_kib.max(rss_kib(child.id()));
        if peak_rss_kib > RSS_CEILING_KIB {
            let _ = child.kill();
            panic!(
                "bintrail monitor grew past {RSS_CEILING_KIB} KiB resident ({peak_rss_kib} KiB)"
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bintrail monitor --once did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let findings = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line {l:?} is not JSON: {e}"))
        })
        .collect();
    Run {
        code: out.status.code().expect("exit code"),
        findings,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        peak_rss_kib,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

/// Adds `filename` with `checksum` (`sha256:<hex>`) to the log, expecting 200.
fn add(rt: &tokio::runtime::Runtime, log: &LogServer, filename: &str, checksum: &str) {
    let (status, body) = rt.block_on(async {
        let resp = common::client()
            .post(log.at("/add"))
            .bearer_auth(log.token())
            .json(&serde_json::json!({ "filename": filename, "checksum": checksum }))
            .send()
            .await
            .expect("POST /add");
        (resp.status(), resp.text().await.unwrap_or_default())
    });
    assert_eq!(status, 200, "POST /add {filename}: {body}");
}

/// A policy file trusting `log`'s key and no witnesses.
fn write_policy(dir: &Path, log: &LogServer) -> PathBuf {
    let path = dir.join("policy");
    std::fs::write(&path, format!("log {}\nquorum none\n", log.vkey())).expect("write policy");
    path
}

#[test]
fn clean_log_passes_and_watched_release_is_reported() {
    let rt = runtime();
    let log = LogServer::start(&[]);
    add(
        &rt,
        &log,
        "other-1.0-py3-none-any.whl",
        &common::checksum("other"),
    );
    add(
        &rt,
        &log,
        "Demo_Pkg-1.0-py3-none-any.whl",
        &common::checksum("demo"),
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), &log);
    let state = dir.path().join("state");

    let run = monitor_once(&log.url, &policy, &state, &["--watch", "^demo-pkg$"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.kinds(), vec!["watched"], "{}", run.stderr);
    let f = &run.findings[0];
    assert_eq!(f["identifier"], "Demo_Pkg-1.0-py3-none-any.whl");
    assert_eq!(f["digests"][0], common::checksum("demo"));
    assert_eq!(f["indices"], serde_json::json!([1]));
    assert_eq!(f["checkpoint"]["size"], 2);

    // A second pass with nothing new is clean and silent.
    let run = monitor_once(&log.url, &policy, &state, &["--watch", "^demo-pkg$"]);
    assert_eq!((run.code, run.findings.len()), (0, 0), "{}", run.stderr);
}

#[test]
fn entry_bundle_altered_in_transit_is_caught() {
    let rt = runtime();
    let log = LogServer::start(&[]);
    for i in 0..5 {
        add(
            &rt,
            &log,
            &format!("pkg-1.{i}-py3-none-any.whl"),
            &common::checksum(&i.to_string()),
        );
    }
    let proxy = rt.block_on(Proxy::start(&log.url));
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), &log);
    let state = dir.path().join("state");

    let run = monitor_once(&proxy.url, &policy, &state, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.kinds(), vec!["malformed"], "{}", run.stderr);
    assert_eq!(
        run.findings[0]["indices"],
        serde_json::json!([4]),
        "the last entry's byte was flipped"
    );

    // Straight from the log, the same state checks out clean.
    let run = monitor_once(&log.url, &policy, &state, &[]);
    assert_eq!((run.code, run.findings.len()), (0, 0), "{}", run.stderr);
}

#[test]
fn forked_checkpoint_is_caught() {
    let rt = runtime();
    let first = LogServer::start(&[]);
    add(
        &rt,
        &first,
        "a-1.0-py3-none-any.whl",
        &common::checksum("a"),
    );
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path(), &first);
    let state = dir.path().join("state");
    let run = monitor_once(&first.url, &policy, &state, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // A second log with the same key and another history: together, a fork.
    let key = first.data.join("log.key");
    let second_data = dir.path().join("second");
    let second = LogServer::start_in(&second_data, &["--private-key", key.to_str().unwrap()]);
    add(
        &rt,
        &second,
        "b-1.0-py3-none-any.whl",
        &common::checksum("b"),
    );
    add(
        &rt,
        &second,
        "c-1.0-py3-none-any.whl",
        &common::checksum("c"),
    );
    let run = monitor_once(&second.url, &policy, &state, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.kinds(), vec!["fork"], "{}", run.stderr);
    let evidence = run.findings[0]["evidence"].as_str().expect("evidence path");
    assert!(Path::new(evidence).exists(), "{evidence}");
}

#[test]
fn equivocating_log_written_with_tlog_is_caught() {
    let rt = runtime();
    let mut log = support::FakeLog::new("example.test/equivocating", 3);
    log.append(support::entry("twice-1.0-py3-none-any.whl", 1));
    log.append(support::entry("fine-1.0-py3-none-any.whl", 2));
    log.append(support::entry("twice-1.0-py3-none-any.whl", 3));
    let dir = tempfile::tempdir().unwrap();
    let (server, policy) = serve_fake_log(&rt, &log, dir.path());

    let run = monitor_once(&server.url, &policy, &dir.path().join("state"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.kinds(), vec!["equivocation"], "{}", run.stderr);
    assert_eq!(run.findings[0]["identifier"], "twice-1.0-py3-none-any.whl");
    assert_eq!(run.findings[0]["indices"], serde_json::json!([0, 2]));
    assert!(
        run.stderr.contains("equivocation"),
        "human summary on stderr: {}",
        run.stderr
    );
}

/// Issue 19, finding H1: a checkpoint signed with the log's key for a huge tree size
/// made the monitor plan every entry bundle up to it before fetching any: at 2^63 - 1
/// it aborted on an ~864 PB allocation, at 2^40 it grew until OOM-killed. Each hostile
/// size must now end in bounded memory with a clear report: a `malformed` finding
/// (exit 1) on a first pass, and no crash when it follows a size already checked.
#[test]
fn h1_hostile_tree_sizes_are_reported_in_bounded_memory() {
    let rt = runtime();
    let mut log = support::FakeLog::new("example.test/huge", 4);
    for i in 0..3 {
        log.append(support::entry(&format!("real{i}-1.0-py3-none-any.whl"), i));
    }
    let honest = log.files();
    let server = rt.block_on(support::FileServer::start(honest.clone()));
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::write(&policy, log.policy_text()).unwrap();
    for (n, size) in [(1u64 << 63) - 1, 1 << 40, 1 << 33, 300_000_000]
        .into_iter()
        .enumerate()
    {
        let hostile = log.checkpoint_claiming(size, [n as u8 + 1; 32]);
        // A first pass, trusting the hostile checkpoint on first use.
        let mut files = honest.clone();
        files.insert("checkpoint".to_string(), hostile.clone());
        server.replace(files.clone());
        let run = monitor_once(
            &server.url,
            &policy,
            &dir.path().join(format!("first{n}")),
            &[],
        );
        assert_eq!(run.code, 1, "size {size}: {}", run.stderr);
        assert_eq!(
            run.kinds(),
            vec!["malformed"],
            "size {size}: {}",
            run.stderr
        );
        let detail = run.findings[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(detail.contains(&format!("tree size {size}")), "{detail}");
        eprintln!("h1: size {size}: peak {} KiB resident", run.peak_rss_kib);

        // After an honest pass at size 3: the jump needs a consistency proof the log cannot give.
        let state = dir.path().join(format!("second{n}"));
        server.replace(honest.clone());
        assert_eq!(monitor_once(&server.url, &policy, &state, &[]).code, 0);
        server.replace(files);
        let run = monitor_once(&server.url, &policy, &state, &[]);
        assert!(matches!(run.code, 1 | 2), "size {size}: {}", run.stderr);
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("memory allocation"),
            "{}",
            run.stderr
        );
        eprintln!(
            "h1: size {size} after 3: exit {}, peak {} KiB",
            run.code, run.peak_rss_kib
        );
    }
}

/// Issue 19, finding H6: a log written by others logged aliases of one file
/// (`alias-1.0.tar.gz`, `Alias-1.00.zip`) with different digests and the monitor said
/// nothing. Aliases with another digest are `equivocation`; with the same digest they
/// are a duplicate, not a finding.
#[test]
fn h6_aliases_with_different_digests_are_equivocation() {
    let rt = runtime();
    let mut log = support::FakeLog::new("example.test/aliases", 5);
    log.append(support::entry("alias-1.0.tar.gz", 1));
    log.append(support::entry("fine-1.0-py3-none-any.whl", 2));
    log.append(support::entry("Alias-1.00.zip", 3));
    log.append(support::entry("Fine-1.0-PY3-none-any.whl", 2));
    let dir = tempfile::tempdir().unwrap();
    let (server, policy) = serve_fake_log(&rt, &log, dir.path());

    let run = monitor_once(&server.url, &policy, &dir.path().join("state"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.kinds(), vec!["equivocation"], "{}", run.stderr);
    let f = &run.findings[0];
    assert_eq!(f["identifier"], "Alias-1.00.zip");
    assert_eq!(f["indices"], serde_json::json!([0, 2]));
    assert!(
        f["detail"]
            .as_str()
            .unwrap()
            .contains("alias of alias-1.0.tar.gz"),
        "{f}"
    );
}

#[test]
fn unreachable_log_cannot_check() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = support::FakeLog::new("example.test/log", 1);
    let policy = dir.path().join("policy");
    std::fs::write(&policy, log.policy_text()).unwrap();
    let run = monitor_once(
        &format!("http://{addr}"),
        &policy,
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.findings.is_empty());
}

#[test]
fn registry_comparison_against_pypiserver() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let names = ["demo-1.0-py3-none-any.whl", "demo-1.1-py3-none-any.whl"];
    let Registry {
        packages,
        server,
        index,
        policy,
        state,
    } = Registry::start(&rt, dir.path(), "example.test/registry", &names);
    let registry = ["--registry", index.url.as_str()];

    let run = monitor_once(&server.url, &policy, &state, &registry);
    assert_eq!((run.code, run.findings.len()), (0, 0), "{}", run.stderr);

    // After logging, the index serves other bytes under a logged name, and a file the log never
    // saw. The project is watched, so it is compared again even with no new entries.
    build_wheel(&packages, names[1], "swapped");
    build_wheel(&packages, "demo-2.0-py3-none-any.whl", "unlogged");
    let args = [&registry[..], &["--watch", "^demo$"]].concat();
    let run = monitor_once(&server.url, &policy, &state, &args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        kinds_and_identifiers(&run),
        vec![
            ("registry_mismatch", "demo-1.1-py3-none-any.whl"),
            ("registry_mismatch", "demo-2.0-py3-none-any.whl"),
        ],
        "{}",
        run.stderr
    );
    let swapped = run
        .findings
        .iter()
        .find(|f| f["identifier"] == names[1])
        .unwrap();
    assert_eq!(swapped["indices"], serde_json::json!([1]));
    assert_eq!(swapped["digests"].as_array().unwrap().len(), 2);
}

#[test]
fn issue_18_registry_sweep_reports_unwatched_swaps_and_unlogged_projects() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "demo-1.0-py3-none-any.whl",
        "demo-1.1-py3-none-any.whl",
        "keep-1.0-py3-none-any.whl",
    ];
    let Registry {
        packages,
        server,
        index,
        policy,
        state,
    } = Registry::start(&rt, dir.path(), "example.test/sweep", &names);
    let registry = ["--registry", index.url.as_str()];
    let sweep = [&registry[..], &["--registry-sweep"]].concat();

    // Everything served is logged with its digest: a clean sweep of both projects.
    let run = monitor_once(&server.url, &policy, &state, &sweep);
    assert_eq!((run.code, run.findings.len()), (0, 0), "{}", run.stderr);
    assert!(
        run.stderr.contains("(2 by the registry sweep)"),
        "{}",
        run.stderr
    );

    // Later the index swaps a logged file of a project nobody watches, and serves a project the
    // log never held. Without the sweep neither is looked at (no new entries, nothing watched).
    build_wheel(&packages, names[1], "swapped");
    build_wheel(&packages, "ghost-1.0-py3-none-any.whl", "never logged");
    let run = monitor_once(&server.url, &policy, &state, &registry);
    assert_eq!((run.code, run.findings.len()), (0, 0), "{}", run.stderr);

    let run = monitor_once(&server.url, &policy, &state, &sweep);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        kinds_and_identifiers(&run),
        vec![
            ("registry_mismatch", "demo-1.1-py3-none-any.whl"),
            ("registry_mismatch", "ghost-1.0-py3-none-any.whl"),
        ],
        "the logged, unchanged files are not reported: {}",
        run.stderr
    );
    let swapped = run
        .findings
        .iter()
        .find(|f| f["identifier"] == names[1])
        .unwrap();
    assert_eq!(swapped["indices"], serde_json::json!([1]));
    assert_eq!(swapped["digests"].as_array().unwrap().len(), 2);
    let ghost = run
        .findings
        .iter()
        .find(|f| f["identifier"] == "ghost-1.0-py3-none-any.whl")
        .unwrap();
    assert!(
        ghost["detail"]
            .as_str()
            .unwrap()
            .contains("the log does not hold it"),
        "{ghost}"
    );

    // A registry that is not there, or whose root is no project list: exit 2, saying which.
    let closed = format!("http://127.0.0.1:{}/simple/", closed_port());
    let run = monitor_once(
        &server.url,
        &policy,
        &dir.path().join("state2"),
        &["--registry", &closed, "--registry-sweep"],
    );
    assert_eq!((run.code, run.findings.len()), (2, 0), "{}", run.stderr);
    assert!(run.stderr.contains(&closed), "{}", run.stderr);
    // The cause is named, not only "error sending request".
    assert!(
        run.stderr.to_lowercase().contains("connect"),
        "{}",
        run.stderr
    );
    let not_simple = format!("{}/nothing-here/", server.url.trim_end_matches('/'));
    let run = monitor_once(
        &server.url,
        &policy,
        &dir.path().join("state3"),
        &["--registry", &not_simple, "--registry-sweep"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 404") && run.stderr.contains(&not_simple),
        "{}",
        run.stderr
    );
}

/// A sweep's place survives `kill -9`: the restarted monitor resumes after the last project the
/// first one compared (saved in the state directory after each slice) instead of starting over.
#[test]
fn issue_18_an_interrupted_registry_sweep_resumes_after_a_restart() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let projects = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    let names: Vec<String> = projects
        .iter()
        .map(|project| format!("{project}-1.0-py3-none-any.whl"))
        .collect();
    let Registry {
        server,
        index,
        policy,
        state,
        ..
    } = Registry::start(&rt, dir.path(), "example.test/resume", &names);
    let saved = state.join("registry-sweep.json");
    // Two registry requests a second, a slice of at most one second per pass: the sweep of eight
    // projects spans several passes, each saving its place.
    let start = |stderr: &Path| {
        Command::new(env!("CARGO_BIN_EXE_bintrail"))
            .args(["monitor", "--log", &server.url, "--interval", "1s"])
            .args([
                "--registry",
                &index.url,
                "--registry-sweep",
                "--sweep-rate",
                "2",
            ])
            .arg("--policy")
            .arg(&policy)
            .arg("--state")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .expect("spawn bintrail monitor")
    };
    let logs = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let wait_for = |what: &str, mut done: Box<dyn FnMut() -> bool + '_>| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "no {what} within 60 s: first run: {}\nsecond run: {}",
                logs("first.stderr"),
                logs("second.stderr")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let first_err = dir.path().join("first.stderr");
    let mut first = start(&first_err);
    let mut place = Value::Null;
    wait_for(
        "saved place with a project compared",
        Box::new(|| {
            place = std::fs::read(&saved)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            place["in_progress"] == true && place["after"].as_str().is_some_and(|a| !a.is_empty())
        }),
    );
    first.kill().unwrap();
    first.wait().unwrap();
    let place: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let after = place["after"].as_str().unwrap().to_string();
    assert!(
        projects.contains(&after.as_str()) && after != "p7",
        "{place}"
    );
    let first_text = std::fs::read_to_string(&first_err).unwrap();
    assert!(
        !first_text.contains("registry sweep finished"),
        "{first_text}"
    );

    let second_err = dir.path().join("second.stderr");
    let mut second = start(&second_err);
    wait_for(
        "finished sweep after the restart",
        Box::new(|| {
            std::fs::read_to_string(&second_err)
                .unwrap_or_default()
                .contains("registry sweep finished")
        }),
    );
    second.kill().unwrap();
    second.wait().unwrap();
    let text = std::fs::read_to_string(&second_err).unwrap();
    let resumed = text
        .lines()
        .find(|l| l.contains("registry sweep resumed"))
        .unwrap_or_else(|| panic!("the restarted monitor did not resume: {text}"));
    // It resumed at the project after the saved one (p<k> is the k-th of the sorted list).
    let next: usize = after[1..].parse::<usize>().unwrap() + 1;
    assert!(
        resumed.contains(&format!("next={next}")),
        "after {after}: {resumed}"
    );
    assert!(!text.contains("registry sweep started"), "{text}");
    let place: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(place["in_progress"], false, "{place}");
}

/// A port on 127.0.0.1 nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::write(&policy, "log not-a-vkey\nquorum none\n").unwrap();
    let run = monitor_once(
        "http://127.0.0.1:9",
        &policy,
        &dir.path().join("state"),
        &[],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("policy"), "{}", run.stderr);
    std::fs::write(
        &policy,
        support::FakeLog::new("example.test/log", 1).policy_text(),
    )
    .unwrap();
    let run = monitor_once(
        "http://127.0.0.1:9",
        &policy,
        &dir.path().join("state"),
        &["--watch", "("],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--watch"), "{}", run.stderr);
    // A sweep needs a registry to sweep, and a rate that is a positive number.
    let cases: [(&[&str], &str); 2] = [
        (&["--registry-sweep"], "--registry"),
        (
            &[
                "--registry",
                "http://127.0.0.1:9/simple/",
                "--registry-sweep",
                "--sweep-rate",
                "0",
            ],
            "--sweep-rate",
        ),
    ];
    for (args, named) in cases {
        let run = monitor_once(
            "http://127.0.0.1:9",
            &policy,
            &dir.path().join("state"),
            args,
        );
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn interval_mode_rides_out_a_missing_log_and_reports_when_it_appears() {
    let rt = runtime();
    let server = rt.block_on(support::FileServer::start(Default::default()));
    let mut log = support::FakeLog::new("example.test/later", 9);
    log.append(support::entry("twice-1.0-py3-none-any.whl", 1));
    log.append(support::entry("twice-1.0-py3-none-any.whl", 2));
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy");
    std::fs::write(&policy, log.policy_text()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["monitor", "--log", &server.url, "--interval", "100ms"])
        .arg("--policy")
        .arg(&policy)
        .arg("--state")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bintrail monitor");
    // The log serves nothing (404) for a while: passes fail, the process keeps going.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "monitor exited on a transient error"
    );
    server.replace(log.files());
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    let finding: Value =
        serde_json::from_str(&line.expect("a finding once the log appears")).unwrap();
    assert_eq!(finding["kind"], "equivocation");
}

/// Writes a minimal valid wheel (a zip with METADATA, WHEEL and RECORD) named `name` into `dir`
/// with Python's zipfile, and returns its `sha256:<hex>`.
fn build_wheel(dir: &Path, name: &str, payload: &str) -> String {
    let script = r#"
import hashlib, sys, zipfile
path, name, payload = sys.argv[1], sys.argv[2], sys.argv[3]
dist, version = name.split("-")[0], name.split("-")[1]
info = f"{dist}-{version}.dist-info"
files = {
    f"{dist}/__init__.py": f"PAYLOAD = {payload!r}\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: bintrail-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
with zipfile.ZipFile(path, "w") as z:
    record = []
    for fname, text in files.items():
        z.writestr(fname, text)
        record.append(f"{fname},,")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
print("sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir.join(name))
        .args([name, payload])
        .output()
        .expect("python3 (scripts/setup.sh) builds the test wheel");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Serves `log` over HTTP; returns the server and a policy trusting the log, written to
/// `dir/policy`.
fn serve_fake_log(
    rt: &tokio::runtime::Runtime,
    log: &support::FakeLog,
    dir: &Path,
) -> (support::FileServer, PathBuf) {
    let server = rt.block_on(support::FileServer::start(log.files()));
    let policy = dir.join("policy");
    std::fs::write(&policy, log.policy_text()).unwrap();
    (server, policy)
}

/// A registry and its log: a log written with crates/tlog holding one wheel per name, each
/// built into `packages`, served over HTTP (`server`); `pypi-server` serving those wheels
/// (`index`); a policy trusting the log and a state directory (not made yet) for the monitor.
struct Registry {
    packages: PathBuf,
    server: support::FileServer,
    index: PypiServer,
    policy: PathBuf,
    state: PathBuf,
}

impl Registry {
    fn start<S: AsRef<str>>(
        rt: &tokio::runtime::Runtime,
        dir: &Path,
        origin: &str,
        names: &[S],
    ) -> Registry {
        let pypi_server = which("pypi-server").unwrap_or_else(|| {
            panic!(
                "pypi-server is not installed: run scripts/setup.sh (it pip-installs pypiserver)"
            )
        });
        let packages = dir.join("packages");
        std::fs::create_dir(&packages).unwrap();
        let mut log = support::FakeLog::new(origin, 5);
        for name in names {
            let checksum = build_wheel(&packages, name.as_ref(), "original");
            log.append(support::entry_with_checksum(name.as_ref(), &checksum));
        }
        let (server, policy) = serve_fake_log(rt, &log, dir);
        let index = PypiServer::start(&pypi_server, &packages);
        Registry {
            packages,
            server,
            index,
            policy,
            state: dir.join("state"),
        }
    }
}

/// The (kind, identifier) of each finding of `run`, sorted.
fn kinds_and_identifiers(run: &Run) -> Vec<(&str, &str)> {
    let mut found: Vec<(&str, &str)> = run
        .findings
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["identifier"].as_str().unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

/// A running `pypi-server` on 127.0.0.1 serving `packages`; killed on drop.
struct PypiServer {
    child: std::process::Child,
    url: String,
}

impl PypiServer {
    fn start(program: &Path, packages: &Path) -> PypiServer {
        // pypiserver cannot report a port it chose, so take a free one and hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--disable-fallback",
            ])
            .arg(packages)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pypi-server");
        let server = PypiServer {
            child,
            url: format!("http://127.0.0.1:{port}/simple/"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pypi-server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A proxy in front of a log that flips one bit in the last byte of every entry bundle it relays.
struct Proxy {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_end_matches('/').to_string();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let upstream = upstream.clone();
            async move {
                let resp = common::client()
                    .get(format!("{upstream}{}", uri.path()))
                    .send()
                    .await
                    .map_err(|_| axum::http::StatusCode::BAD_GATEWAY)?;
                let status = axum::http::StatusCode::from_u16(resp.status().as_u16())
                    .map_err(|_| axum::http::StatusCode::BAD_GATEWAY)?;
                let mut body = resp
                    .bytes()
                    .await
                    .map_err(|_| axum::http::StatusCode::BAD_GATEWAY)?
                    .to_vec();
                if status.is_success()
                    && uri.path().starts_with("/tile/entries/")
                    && let Some(last) = body.last_mut()
                {
                    *last ^= 0x01;
                }
                Ok::<_, axum::http::StatusCode>((status, body))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy {
            url: format!("http://{addr}"),
            task,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
