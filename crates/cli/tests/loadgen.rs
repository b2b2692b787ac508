//! `bintrail loadgen` against the real `bintrail serve` on 127.0.0.1:0: brief runs of
//! a few hundred requests whose JSON reports must count every success and no error.

mod common;

use std::process::Command;

use common::LogServer;

/// Runs `bintrail loadgen --json` with `args` and returns its report.
fn loadgen(server: &LogServer, args: &[&str]) -> serde_json::Value {
    let token_file = server.data.join("publish-token");
    let output = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["loadgen", "--json", "--url", &server.url, "--token-file"])
        .arg(&token_file)
        .args(args)
        .output()
        .expect("run bintrail loadgen");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}"))
}

fn assert_clean(report: &serde_json::Value, successes: u64, entries: u64) {
    assert_eq!(report["successes"], successes, "{report}");
    assert_eq!(report["entries"], entries, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert!(
        report["latency_ms"]["max"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn loadgen_writes_and_reads_a_real_log_without_errors() {
    let server = LogServer::start(&[]);
    // Closed loop over HTTP/1.1: 300 single adds, each a new valid PyPI file.
    let adds = loadgen(
        &server,
        &[
            "--scenario",
            "add",
            "--concurrency",
            "50",
            "--max-requests",
            "300",
            "--duration",
            "30s",
        ],
    );
    assert_clean(&adds, 300, 300);
    // Bulk over h2c: 4 requests of 50 lines.
    let bulk = loadgen(
        &server,
        &[
            "--scenario",
            "bulk",
            "--bulk-lines",
            "50",
            "--concurrency",
            "2",
            "--http2",
            "--connections",
            "1",
            "--max-requests",
            "4",
            "--duration",
            "30s",
        ],
    );
    assert_clean(&bulk, 4, 200);
    // The log now holds 500 entries; reads stay within its checkpoint.
    let tiles = loadgen(
        &server,
        &[
            "--scenario",
            "tiles",
            "--concurrency",
            "8",
            "--http2",
            "--max-requests",
            "300",
        ],
    );
    assert_clean(&tiles, 300, 0);
    let lookups = loadgen(
        &server,
        &[
            "--scenario",
            "lookup",
            "--concurrency",
            "4",
            "--max-requests",
            "100",
        ],
    );
    assert_clean(&lookups, 100, 0);
    // Open loop for one second at 200/s against the HTTP ceiling endpoint.
    let healthz = loadgen(
        &server,
        &["--scenario", "healthz", "--rate", "200", "--duration", "1s"],
    );
    assert_clean(&healthz, 200, 0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let checkpoint = runtime.block_on(common::get_text(&server.at("/checkpoint")));
    assert_eq!(checkpoint.lines().nth(1), Some("500"), "{checkpoint}");
}

#[test]
fn loadgen_refuses_a_remote_target() {
    let output = Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["loadgen", "--scenario", "healthz", "--concurrency", "1"])
        .args(["--url", "http://192.0.2.7:8080"])
        .output()
        .expect("run bintrail loadgen");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}
