//! What the index's request handlers share: its state, the proof cache and the JSON,
//! error and redirect answers. Below `server` (which builds it) and the handlers
//! (`pages`, `proofs`, `relay`), so none of them imports another's module.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bintrail_client::log::LogReader;
use bintrail_client::state::StateDir;
use bintrail_tlog::policy::Policy;
use url::Url;

use crate::upstream::PageCache;

/// The most answers kept; past it the cache starts over.
const MAX_CACHED_PROOFS: usize = 1 << 18;

/// What every request handler shares.
pub(crate) struct Shared {
    pub upstream: Url,
    pub upstream_origin: Url,
    /// Whether relative file URLs resolve the same from this index's `/simple/` as
    /// from the upstream's base, so that they can stay untouched.
    pub same_layout: bool,
    pub public_url: String,
    pub http: reqwest::Client,
    pub reader: LogReader,
    pub log_url: String,
    pub policy: Policy,
    pub state: StateDir,
    pub info_json: String,
    pub pages: PageCache,
    pub proofs: ProofCache,
}

/// Verified answers by filename: a logged entry never changes, so neither does the
/// fact that it was proven against a checkpoint consistent with all this index saw.
#[derive(Debug, Default)]
pub(crate) struct ProofCache {
    answers: Mutex<HashMap<String, String>>,
}

impl ProofCache {
    pub(crate) fn get(&self, filename: &str) -> Option<String> {
        self.answers.lock().ok()?.get(filename).cloned()
    }

    pub(crate) fn put(&self, filename: &str, answer: String) {
        if let Ok(mut answers) = self.answers.lock() {
            if answers.len() >= MAX_CACHED_PROOFS {
                answers.clear();
            }
            answers.insert(filename.to_owned(), answer);
        }
    }
}

/// A JSON body with a status and a `Cache-Control`.
pub(crate) fn json(status: StatusCode, body: String, cache: &'static str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// `{"error": message}` with `status`, never cached.
pub(crate) fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json(status, body, "no-store")
}

/// A permanent redirect to `to`.
pub(crate) fn redirect_to(to: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
