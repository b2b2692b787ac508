//! Load generator for the log core (no HTTP): bulk appends, then concurrent single adds.
//!
//! `cargo run --release -p bintrail-log --example log_load -- [BULK] [SINGLES] [CONCURRENCY] [DIR]`
//! prints throughput, latency percentiles and the process's peak RSS. BENCHMARKS.md records
//! its results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bintrail_log::{Log, LogOptions};
use bintrail_tlog::note::{KeyType, Signer};
use bintrail_tlog::pypi::{Checksum, Entry};

fn entry(i: u64) -> Entry {
    let mut digest = [0x5a; 32];
    digest[..8].copy_from_slice(&i.to_be_bytes());
    Entry {
        checksum: Checksum::from_digest(digest),
        filename: format!("loadtest{i}-1.0-py3-none-any.whl")
            .parse()
            .expect("valid filename"),
        publisher: None,
    }
}

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?")
        .to_string()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (bulk, singles, concurrency) = (arg(1, 100_000), arg(2, 20_000), arg(3, 2_000));
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(4)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let opts = LogOptions {
        data_dir: dir,
        signer: Signer::generate("example.com/load", KeyType::Ed25519, [1; 32])?,
        checkpoint_interval: Duration::from_secs(1),
        max_batch_entries: 100_000,
        max_pending_entries: 1_000_000,
        add_timeout: Duration::from_secs(60),
    };
    let log = Log::<Entry>::open(opts).await?;
    let start = log.stats().sequenced_size;

    let started = Instant::now();
    let mut done = 0u64;
    while done < bulk {
        let n = (bulk - done).min(100_000);
        let results = log
            .add_many((start + done..start + done + n).map(entry).collect())
            .await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(failed, 0, "bulk adds failed");
        done += n;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "bulk: {bulk} entries in {secs:.2}s = {:.0} entries/s",
        bulk as f64 / secs
    );

    let log = Arc::new(log);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(start + bulk));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (log, next) = (log.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= start + bulk + singles {
                        return latencies;
                    }
                    let t = Instant::now();
                    log.add(entry(i)).await.expect("add failed");
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    println!(
        "single adds: {singles} with {concurrency} in flight in {secs:.2}s = {:.0} adds/s; latency p50 {:?} p99 {:?}",
        singles as f64 / secs,
        pct(0.5),
        pct(0.99)
    );
    println!("tree size {}; {}", log.stats().tree_size, peak_rss_mib());
    log.shutdown().await;
    Ok(())
}
