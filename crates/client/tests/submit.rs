//! `POST /add` submission against a local server: retries on 503, typed refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bintrail_client::fetch::{HttpClient, Timeouts};
use bintrail_client::submit::{AddRequest, PublisherJson, SubmitError, submit};

async fn serve(router: Router) -> HttpClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    HttpClient::new(&format!("http://{addr}"), Timeouts::default()).unwrap()
}

fn request() -> AddRequest {
    AddRequest {
        filename: "demo-1.0-py3-none-any.whl".into(),
        checksum: format!("sha256:{}", "ab".repeat(32)),
        publisher: Some(PublisherJson {
            issuer: "https://issuer.example".into(),
            subject: "repo:x".into(),
        }),
        attestation: None,
    }
}

const OK_BODY: &str = r#"{"index":7,"checkpoint":"Y3A=","inclusionProof":["aGFzaA=="],"proof":"c2sp.org/tlog-proof@v1\n"}"#;

/// Answers 503 (Retry-After: 0) `busy` times, then 200; records the body it saw.
fn flaky(busy: usize, seen: Arc<std::sync::Mutex<String>>) -> Router {
    let calls = Arc::new(AtomicUsize::new(0));
    Router::new().route(
        "/add",
        post(move |headers: HeaderMap, body: String| {
            let calls = calls.clone();
            let seen = seen.clone();
            async move {
                assert_eq!(headers[header::AUTHORIZATION], "Bearer tok");
                *seen.lock().unwrap() = body;
                if calls.fetch_add(1, Ordering::SeqCst) < busy {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "0")],
                    )
                        .into_response();
                }
                OK_BODY.into_response()
            }
        }),
    )
}

#[tokio::test]
async fn retries_503_then_succeeds() {
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let http = serve(flaky(2, seen.clone())).await;
    let response = submit(&http, "tok", &request()).await.unwrap();
    assert_eq!(response.index, 7);
    assert_eq!(response.inclusion_proof, vec!["aGFzaA==".to_owned()]);
    let body: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()).unwrap();
    assert_eq!(body["filename"], "demo-1.0-py3-none-any.whl");
    assert_eq!(body["publisher"]["issuer"], "https://issuer.example");
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let http = serve(flaky(100, seen)).await;
    let err = submit(&http, "tok", &request()).await.unwrap_err();
    assert!(
        matches!(err, SubmitError::Unavailable { attempts: 5, .. }),
        "{err}"
    );
}

fn status(code: StatusCode, message: &'static str) -> Router {
    Router::new().route(
        "/add",
        post(move || async move {
            Response::builder()
                .status(code)
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(format!(
                    r#"{{"error":"{message}"}}"#
                )))
                .unwrap()
        }),
    )
}

#[tokio::test]
async fn conflict_and_unauthorized_are_typed() {
    let http = serve(status(StatusCode::CONFLICT, "logged with sha256:00")).await;
    match submit(&http, "tok", &request()).await.unwrap_err() {
        SubmitError::Conflict { message } => assert_eq!(message, "logged with sha256:00"),
        other => panic!("expected Conflict, got {other}"),
    }
    let http = serve(status(StatusCode::UNAUTHORIZED, "bad token")).await;
    let err = submit(&http, "tok", &request()).await.unwrap_err();
    assert!(matches!(err, SubmitError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn malformed_success_body_is_an_error() {
    let http = serve(Router::new().route("/add", post(|| async { "not json" }))).await;
    let err = submit(&http, "tok", &request()).await.unwrap_err();
    assert!(matches!(err, SubmitError::MalformedResponse(_)), "{err}");
}
