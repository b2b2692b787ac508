//! Everything that is not an index route goes to the same path on the upstream's
//! origin, streamed, so the upstream's relative and absolute file URLs keep working.

use axum::body::Body;
use axum::http::{HeaderName, Method, StatusCode, Uri, header};
use axum::response::Response;

use crate::shared::{Shared, error};

/// Response headers passed through from the upstream.
const PASSED: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CACHE_CONTROL,
    header::ETAG,
    header::LAST_MODIFIED,
    header::CONTENT_DISPOSITION,
];

/// Relays `GET`/`HEAD` of the request's path and query to the upstream's origin.
pub(crate) async fn relay(shared: &Shared, method: Method, uri: Uri) -> Response {
    let mut url = shared.upstream_origin.clone();
    url.set_path(uri.path());
    url.set_query(uri.query());
    let upstream = match shared.http.request(method, url.clone()).send().await {
        Ok(response) => response,
        Err(err) => {
            return error(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the upstream index did not answer {}: {}",
                    url.path(),
                    err.without_url()
                ),
            );
        }
    };
    if upstream.status() == reqwest::StatusCode::NOT_FOUND {
        return error(
            StatusCode::NOT_FOUND,
            format!("no such file or page: {}", url.path()),
        );
    }
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    for name in PASSED {
        if let Some(value) = upstream.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    // The body is streamed, never held whole: a file of any size passes in bounded memory.
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .unwrap_or_else(|_| error(StatusCode::BAD_GATEWAY, "bad upstream headers".to_owned()))
}
