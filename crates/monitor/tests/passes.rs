//! Monitor passes against logs written directly with crates/tlog and served from memory: clean logs,
//! watched releases, equivocation, forks, and bundles or tiles altered on the way.

mod support;

use std::path::Path;

use bintrail_monitor::{Finding, FindingKind, Monitor, MonitorConfig, PassReport, ProgressStyle};
use support::{FakeLog, FileServer, bundle_path, entry};

const ORIGIN: &str = "example.test/fake-log";

fn config(url: &str, policy: &str, state: &Path, watch: &[&str]) -> MonitorConfig {
    MonitorConfig {
        log_url: url.to_string(),
        policy: policy.parse().expect("test policy parses"),
        state_dir: state.to_path_buf(),
        watch: watch
            .iter()
            .map(|w| regex::Regex::new(w).unwrap())
            .collect(),
        registry: None,
        registry_sweep: None,
        webhook: None,
        progress: ProgressStyle::Hidden,
        groups_in_flight: 3,
    }
}

async fn pass(monitor: &mut Monitor) -> (PassReport, Vec<Finding>) {
    let mut found = Vec::new();
    let report = monitor
        .run_pass(&mut |f: &Finding| found.push(f.clone()))
        .await;
    (report, found)
}

fn kinds(found: &[Finding]) -> Vec<FindingKind> {
    found.iter().map(|f| f.kind).collect()
}

/// A log of `n` distinct files of projects `proj0`..`proj9`.
fn clean_log(n: u64) -> FakeLog {
    let mut log = FakeLog::new(ORIGIN, 7);
    for i in 0..n {
        log.append(entry(&format!("proj{}-1.{i}-py3-none-any.whl", i % 10), i));
    }
    log
}

#[tokio::test]
async fn clean_log_passes_and_second_pass_checks_only_new_entries() {
    let mut log = clean_log(600);
    let server = FileServer::start(log.files()).await;
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (report, found) = pass(&mut m).await;
    assert!(found.is_empty(), "{found:?}");
    assert!(report.incomplete.is_none(), "{:?}", report.incomplete);
    assert_eq!(report.checked, (0, 600));
    assert_eq!(report.exit_code(), 0);

    for i in 600..1000 {
        log.append(entry(&format!("late-{i}.tar.gz"), i));
    }
    server.replace(log.files());
    let (report, found) = pass(&mut m).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(report.checked, (600, 1000));
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test]
async fn watched_releases_are_notices() {
    let mut log = clean_log(20);
    log.append(entry("Demo_Pkg-2.0-py3-none-any.whl", 99));
    let server = FileServer::start(log.files()).await;
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(
        &server.url,
        &log.policy_text(),
        state.path(),
        &["^demo-pkg$"],
    ))
    .unwrap();
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Watched]);
    assert_eq!(
        found[0].identifier.as_deref(),
        Some("Demo_Pkg-2.0-py3-none-any.whl")
    );
    assert_eq!(found[0].indices, vec![20]);
    assert_eq!(report.notices, 1);
    assert_eq!(report.exit_code(), 0, "notices do not fail a pass");
    // The next pass does not repeat it.
    let (_, found) = pass(&mut m).await;
    assert!(found.is_empty());
}

#[tokio::test]
async fn equivocating_log_is_caught() {
    let mut log = clean_log(300);
    log.append(entry("proj3-1.3-py3-none-any.whl", 12345)); // leaf 3 had seed 3
    let server = FileServer::start(log.files()).await;
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Equivocation]);
    let f = &found[0];
    assert_eq!(f.identifier.as_deref(), Some("proj3-1.3-py3-none-any.whl"));
    assert_eq!(f.indices, vec![3, 300]);
    assert_eq!(f.digests.len(), 2);
    assert_ne!(f.digests[0], f.digests[1]);
    assert_eq!(f.checkpoint.as_ref().unwrap().size, 301);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn fork_is_caught_and_evidence_saved() {
    let log = clean_log(10);
    let server = FileServer::start(log.files()).await;
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    assert_eq!(pass(&mut m).await.0.exit_code(), 0);

    // The same key signs a different history of 12 entries.
    let mut other = FakeLog::new(ORIGIN, 7);
    for i in 0..12 {
        other.append(entry(&format!("other-{i}.tar.gz"), i));
    }
    server.replace(other.files());
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Fork]);
    let evidence = found[0].evidence.as_ref().expect("evidence path");
    assert!(Path::new(evidence).exists(), "{evidence}");
    assert_eq!(report.exit_code(), 1);
    // The fork is not accepted: the next pass still fails, without repeating the finding...
    let (report, found) = pass(&mut m).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(report.exit_code(), 1);
    // ...and a new process (fresh monitor, same state) reports it again.
    let mut again =
        Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (_, found) = pass(&mut again).await;
    assert_eq!(kinds(&found), vec![FindingKind::Fork]);
}

#[tokio::test]
async fn same_size_other_root_is_a_fork() {
    let log = clean_log(10);
    let server = FileServer::start(log.files()).await;
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    pass(&mut m).await;
    let mut other = FakeLog::new(ORIGIN, 7);
    for i in 0..10 {
        other.append(entry(&format!("other-{i}.tar.gz"), i));
    }
    server.replace(other.files());
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Fork]);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn altered_entry_bundle_is_caught_and_rechecked_later() {
    let log = clean_log(700);
    let server = FileServer::start(log.files()).await;
    let path = bundle_path(300, 700);
    let original = log.files()[&path].clone();
    server.alter(&path, |b| {
        let last = b.len() - 1;
        b[last] ^= 0x01; // the last byte of leaf 511's filename
    });
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Malformed]);
    assert_eq!(found[0].indices, vec![511]);
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.checked.1, 511, "catch-up stops before the bad leaf");

    server.alter(&path, |b| *b = original);
    let (report, found) = pass(&mut m).await;
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(report.checked, (511, 700));
}

#[tokio::test]
async fn truncated_entry_bundle_is_caught() {
    let log = clean_log(40);
    let server = FileServer::start(log.files()).await;
    server.alter(&bundle_path(0, 40), |b| b.truncate(b.len() - 3));
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Malformed]);
    assert_eq!(report.checked.1, 0);
}

#[tokio::test]
async fn forged_hash_tile_is_caught() {
    // At size 70,000 the level-0 tile 0 is a full, non-rightmost tile authenticated through level 1.
    let log = clean_log(70_000);
    let server = FileServer::start(log.files()).await;
    server.alter("tile/0/000", |t| t[5] ^= 0x80);
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (report, found) = pass(&mut m).await;
    assert!(
        found.iter().any(|f| f.kind == FindingKind::Malformed),
        "{found:?}"
    );
    assert_eq!(report.exit_code(), 1);
    assert_eq!(
        report.checked.1, 0,
        "nothing is indexed from an unauthenticated tile"
    );
}

#[tokio::test]
async fn unparsable_entry_in_the_tree_is_reported_once() {
    let mut log = clean_log(5);
    log.append(b"pypi-transparency/v1\nnot a checksum\nx.whl".to_vec());
    log.append(entry("after-1.0.tar.gz", 1));
    let server = FileServer::start(log.files()).await;
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(&server.url, &log.policy_text(), state.path(), &[])).unwrap();
    let (report, found) = pass(&mut m).await;
    assert_eq!(kinds(&found), vec![FindingKind::Malformed]);
    assert_eq!(found[0].indices, vec![5]);
    assert_eq!(report.checked.1, 7, "a committed bad entry is passed over");
    let (_, found) = pass(&mut m).await;
    assert!(found.is_empty());
}

#[tokio::test]
async fn wrong_log_key_cannot_check() {
    let log = clean_log(5);
    let server = FileServer::start(log.files()).await;
    let impostor = FakeLog::new(ORIGIN, 8);
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(
        &server.url,
        &impostor.policy_text(),
        state.path(),
        &[],
    ))
    .unwrap();
    let (report, found) = pass(&mut m).await;
    assert!(found.is_empty());
    assert_eq!(report.exit_code(), 2, "{:?}", report.incomplete);
}

#[tokio::test]
async fn unreachable_log_cannot_check_and_is_transient() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = clean_log(1);
    let state = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(config(
        &format!("http://{addr}/"),
        &log.policy_text(),
        state.path(),
        &[],
    ))
    .unwrap();
    let (report, _) = pass(&mut m).await;
    assert_eq!(report.exit_code(), 2);
    assert!(report.incomplete.as_ref().unwrap().is_transient());
}
