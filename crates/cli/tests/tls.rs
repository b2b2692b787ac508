//! `bintrail serve --tls-cert --tls-key`: HTTPS with HTTP/1.1 and HTTP/2 by ALPN.
//!
//! The certificate in tests/data is self-signed for 127.0.0.1, valid for 100 years,
//! made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
//! -nodes -days 36500 -subj "/CN=bintrail test" -addext
//! "subjectAltName=IP:127.0.0.1,DNS:localhost"`. Test-only; it protects nothing.

mod common;

use std::time::Duration;

use common::{LogServer, checksum, wheel};
use reqwest::StatusCode;
use serde_json::json;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

#[tokio::test]
async fn serves_https_with_h2_and_http1() {
    let cert = format!("{DATA}/tls-cert.pem");
    let key = format!("{DATA}/tls-key.pem");
    let server = LogServer::start(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let root = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    for http1 in [false, true] {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .timeout(Duration::from_secs(60));
        if http1 {
            builder = builder.http1_only();
        }
        let client = builder.build().unwrap();
        let response = client
            .post(server.at("/add"))
            .bearer_auth(server.token())
            .json(&json!({"filename": wheel(if http1 { "one" } else { "two" }, "1.0"), "checksum": checksum("t")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let want = if http1 {
            reqwest::Version::HTTP_11
        } else {
            reqwest::Version::HTTP_2
        };
        assert_eq!(response.version(), want);
    }
}

#[test]
fn missing_tls_key_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bintrail"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .args(["--tls-cert", &format!("{DATA}/tls-cert.pem")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tls-key: required with tls-cert"),
        "{stderr}"
    );
}
