//! Catch-up rate: one monitor pass over a local log of 1,000,000 entries (issue 6 target: at least
//! 100,000 entries/s).
//!
//! The log is written with crates/tlog (as in tests/support) and served over HTTP on 127.0.0.1 from
//! memory, so the measurement covers HTTP fetching of every entry bundle and hash tile, tile
//! authentication, one SHA-256 per entry, entry parsing and the SQLite index, but not the log
//! server's disk. Run: `cargo bench -p bintrail-monitor --bench catchup` (BINTRAIL_BENCH_ENTRIES
//! overrides the size).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use bintrail_monitor::{Finding, Monitor, MonitorConfig, ProgressStyle};
use support::{FakeLog, FileServer, entry};

fn main() {
    let entries: u64 = std::env::var("BINTRAIL_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let t = Instant::now();
        let mut log = FakeLog::new("bench.example/log", 1);
        for i in 0..entries {
            log.append(entry(&format!("project{}-1.{i}-py3-none-any.whl", i % 50_000), i));
        }
        let files = log.files();
        eprintln!("built a log of {entries} entries in {:.1?}", t.elapsed());
        let server = FileServer::start(files).await;
        let state = tempfile::tempdir().expect("temp dir");
        let mut monitor = Monitor::new(MonitorConfig {
            log_url: server.url.clone(),
            policy: log.policy_text().parse().expect("policy"),
            state_dir: state.path().to_path_buf(),
            watch: vec![regex::Regex::new("^project7$").expect("regex")],
            registry: None,
            registry_sweep: None,
            webhook: None,
            progress: ProgressStyle::Hidden,
            groups_in_flight: 4,
        })
        .expect("monitor");
        let mut notices = 0u64;
        let t = Instant::now();
        let cpu = cpu_seconds();
        let report = monitor.run_pass(&mut |_: &Finding| notices += 1).await;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        assert!(report.incomplete.is_none(), "{:?}", report.incomplete);
        assert_eq!(report.checked, (0, entries));
        assert_eq!(report.integrity_findings, 0);
        println!(
            "catch-up of {entries} entries: {secs:.2} s wall, {:.0} entries/s; {cpu:.2} s CPU (monitor and \
             in-process server together), {:.0} entries per CPU-second; {notices} watched notices",
            entries as f64 / secs,
            entries as f64 / cpu
        );
    });
}

/// User plus system CPU time of this process so far, from /proc/self/stat (in USER_HZ = 100 ticks/s,
/// fixed by the Linux ABI). Wall time on a shared, loaded machine understates the rate; CPU time
/// says what the work costs.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
