//! The HTTP transport against a local server: status mapping, size caps, timeouts.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bintrail_client::fetch::{FetchError, HttpClient, Timeouts};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/prefix/")
}

fn router() -> Router {
    Router::new()
        .route("/prefix/small", get(|| async { "hello" }))
        .route("/prefix/big", get(|| async { vec![b'x'; 10_000] }))
        .route(
            // No Content-Length: a streamed body that only the byte count can stop.
            "/prefix/stream",
            get(|| async {
                let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 1000]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route("/prefix/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/prefix/busy",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "3")],
                )
            }),
        )
        .route(
            "/prefix/conflict",
            post(|| async {
                (
                    StatusCode::CONFLICT,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"error":"already logged with another digest"}"#,
                )
            }),
        )
        .route(
            "/prefix/echo-auth",
            post(|headers: HeaderMap, body: String| async move {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                format!("{auth}|{body}").into_response()
            }),
        )
        .route(
            "/prefix/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
}

fn client(base: &str) -> HttpClient {
    HttpClient::new(
        base,
        Timeouts {
            connect: Duration::from_secs(5),
            total: Duration::from_millis(500),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn small_body_within_cap() {
    let c = client(&serve(router()).await);
    assert_eq!(c.get("small", 5).await.unwrap(), b"hello");
}

#[tokio::test]
async fn declared_length_over_cap_is_refused() {
    let c = client(&serve(router()).await);
    let err = c.get("big", 9_999).await.unwrap_err();
    assert!(
        matches!(err, FetchError::TooLarge { limit: 9_999, .. }),
        "{err}"
    );
    assert_eq!(c.get("big", 10_000).await.unwrap().len(), 10_000);
}

#[tokio::test]
async fn streamed_body_over_cap_is_refused() {
    let c = client(&serve(router()).await);
    let err = c.get("stream", 50_000).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err}");
    assert_eq!(c.get("stream", 100_000).await.unwrap().len(), 100_000);
}

#[tokio::test]
async fn statuses_map_to_variants() {
    let c = client(&serve(router()).await);
    let err = c.get("missing", 100).await.unwrap_err();
    assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
    let err = c.get("busy", 100).await.unwrap_err();
    match err {
        FetchError::Unavailable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("expected Unavailable, got {other}"),
    }
    let err = c
        .post_json("conflict", b"{}".to_vec(), None, 100)
        .await
        .unwrap_err();
    match err {
        FetchError::Status {
            status, message, ..
        } => {
            assert_eq!(status, 409);
            assert_eq!(message, "already logged with another digest");
        }
        other => panic!("expected Status, got {other}"),
    }
}

#[tokio::test]
async fn bearer_token_and_body_are_sent() {
    let c = client(&serve(router()).await);
    let response = c
        .post_json("echo-auth", br#"{"a":1}"#.to_vec(), Some("s3cret"), 1000)
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"Bearer s3cret|{"a":1}"#);
}

#[tokio::test]
async fn slow_server_times_out() {
    let c = client(&serve(router()).await);
    let started = std::time::Instant::now();
    let err = c.get("slow", 100).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn refused_connection_is_a_transport_error() {
    // Bind then drop a listener so the port is (almost certainly) closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(&format!("http://127.0.0.1:{port}/"));
    let err = c.get("checkpoint", 100).await.unwrap_err();
    assert!(matches!(err, FetchError::Transport { .. }), "{err}");
}
