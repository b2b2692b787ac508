//! The load generator against an in-process server on 127.0.0.1:0 that mimics the
//! log's answers: both transports, both loops, the bounds and the loopback guard.
//! (The run against the real `bintrail serve` is in crates/cli/tests/loadgen.rs.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use bintrail_loadgen::{Config, LoadError, Mode, Protocol, Scenario, run};

const TOKEN: &str = "test-token";

/// Serves /healthz, and /add and /admin/bulk/append answering like the log (401
/// without the token, 400 for a filename the log would reject). Returns the base URL.
async fn fake_log() -> String {
    let counter = Arc::new(AtomicU64::new(0));
    let add_counter = counter.clone();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/add",
            post(move |headers: HeaderMap, body: String| {
                let counter = add_counter.clone();
                async move {
                    if !authorized(&headers) {
                        return (StatusCode::UNAUTHORIZED, String::new());
                    }
                    if !valid_entry(&body) {
                        return (StatusCode::BAD_REQUEST, String::new());
                    }
                    let index = counter.fetch_add(1, Ordering::Relaxed);
                    (StatusCode::OK, format!(r#"{{"index":{index},"checkpoint":""}}"#))
                }
            }),
        )
        .route(
            "/admin/bulk/append",
            post(|headers: HeaderMap, body: String| async move {
                if !authorized(&headers) {
                    return (StatusCode::UNAUTHORIZED, String::new());
                }
                let mut out = String::new();
                let mut count = 0;
                for line in body.lines() {
                    let status = if valid_entry(line) { "logged" } else { "error" };
                    out.push_str(&format!(
                        r#"{{"type":"result","result":{{"filename":"","index":{count},"status":"{status}"}}}}"#
                    ));
                    out.push('\n');
                    count += 1;
                }
                out.push_str(&format!(r#"{{"type":"complete","count":{count}}}"#));
                (StatusCode::OK, out)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer test-token")
}

/// The checks the log makes on a line: JSON with a valid filename and checksum.
fn valid_entry(json: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return false;
    };
    let filename = v["filename"].as_str().unwrap_or("");
    let checksum = v["checksum"].as_str().unwrap_or("");
    filename.parse::<bintrail_tlog::pypi::Filename>().is_ok()
        && checksum.parse::<bintrail_tlog::pypi::Checksum>().is_ok()
}

fn config(url: &str, scenario: Scenario, mode: Mode) -> Config {
    let mut c = Config::new(url, scenario, mode);
    c.token = Some(TOKEN.to_owned());
    c.duration = Duration::from_secs(5);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_http1_adds_count_every_request() {
    let url = fake_log().await;
    let mut c = config(&url, Scenario::Add, Mode::Closed { concurrency: 8 });
    c.max_requests = Some(400);
    let report = run(c).await.unwrap();
    assert_eq!(report.requests, 400);
    assert_eq!(report.successes, 400, "{report}");
    assert_eq!(report.entries, 400);
    assert!(report.errors.is_empty(), "{report}");
    assert!(report.latency_ms.max > 0.0 && report.latency_ms.p50 <= report.latency_ms.p99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_http2_bulk_counts_entries() {
    let url = fake_log().await;
    let mut c = config(
        &url,
        Scenario::Bulk { lines: 50 },
        Mode::Closed { concurrency: 16 },
    );
    c.protocol = Protocol::Http2 { connections: 2 };
    c.max_requests = Some(40);
    let report = run(c).await.unwrap();
    assert_eq!((report.successes, report.entries), (40, 2000), "{report}");
    assert!(report.errors.is_empty(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_keeps_its_rate_and_duration() {
    let url = fake_log().await;
    let mut c = config(&url, Scenario::Healthz, Mode::Open { rate: 200 });
    c.duration = Duration::from_millis(1000);
    let report = run(c).await.unwrap();
    // 200/s for 1 s: requests 0..199 are due before the end.
    assert_eq!(report.requests, 200, "{report}");
    assert_eq!(report.successes, 200);
    assert!(
        report.elapsed_secs >= 0.99 && report.elapsed_secs < 3.0,
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_status() {
    let url = fake_log().await;
    let mut c = config(&url, Scenario::Add, Mode::Closed { concurrency: 2 });
    c.token = Some("wrong".to_owned());
    c.max_requests = Some(10);
    let report = run(c).await.unwrap();
    assert_eq!(report.successes, 0);
    assert_eq!(report.errors.get("401"), Some(&10), "{report}");
}

#[tokio::test]
async fn refuses_remote_targets_and_bad_settings() {
    let remote = Config::new(
        "http://192.0.2.1:80",
        Scenario::Healthz,
        Mode::Closed { concurrency: 1 },
    );
    assert!(matches!(
        run(remote).await,
        Err(LoadError::RemoteTarget { .. })
    ));
    let https = Config::new(
        "https://127.0.0.1:1",
        Scenario::Healthz,
        Mode::Open { rate: 1 },
    );
    assert!(matches!(
        run(https).await,
        Err(LoadError::InvalidUrl { .. })
    ));
    let no_token = Config::new("http://127.0.0.1:1", Scenario::Add, Mode::Open { rate: 1 });
    assert!(matches!(
        run(no_token).await,
        Err(LoadError::MissingToken { .. })
    ));
    let zero = Config::new(
        "http://127.0.0.1:1",
        Scenario::Healthz,
        Mode::Open { rate: 0 },
    );
    assert!(matches!(
        run(zero).await,
        Err(LoadError::Zero { what: "rate" })
    ));
}
