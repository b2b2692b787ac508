//! Every HTTP error the log returns, and the one place that maps them to statuses.
//!
//! Handlers return `Result<_, ApiError>`; [`ApiError`]'s `IntoResponse` picks the
//! status and writes `{"error": "<message>"}` (plus `index`/`checksum` where a client
//! needs them). Internal details are logged, not sent. The shape follows axum's
//! examples/error-handling; the 409 body with the existing entry follows the issue's
//! contract.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bintrail_tlog::pypi::{Checksum, Entry, Publisher};
use serde_json::json;

use crate::log::AddError;

/// Storage failures of adds, logged once per episode (issue 19, finding H7): a full
/// disk failed every line of a bulk request, and one WARN per line (90,003 lines, 19
/// MB for three requests) flooded the output, perhaps onto the full disk itself.
/// The first failure is logged with its detail; later ones are only counted until an
/// add succeeds, which logs one line with the count.
pub(crate) mod storage_episode {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    /// Set while an episode runs: lets [`succeeded`] skip the lock on every add.
    static ACTIVE: AtomicBool = AtomicBool::new(false);
    /// Failures in the running episode and when it began; `None` between episodes.
    static EPISODE: Mutex<Option<(u64, Instant)>> = Mutex::new(None);

    /// Records one failed add; logs only the first of an episode.
    pub(crate) fn failed(detail: &str) {
        let mut episode = EPISODE.lock().unwrap_or_else(|p| p.into_inner());
        match episode.as_mut() {
            Some((failures, _)) => *failures += 1,
            None => {
                tracing::warn!(%detail, "adds are failing on storage; further failures are counted, not logged, until an add succeeds");
                *episode = Some((1, Instant::now()));
                ACTIVE.store(true, Ordering::Release);
            }
        }
    }

    /// Records a successful add: ends a running episode with one line and its count.
    pub(crate) fn succeeded() {
        if !ACTIVE.load(Ordering::Acquire) {
            return;
        }
        let mut episode = EPISODE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((failures, since)) = episode.take() {
            ACTIVE.store(false, Ordering::Release);
            tracing::warn!(failures, lasted = ?since.elapsed(), "storage works again; adds that failed in this episode");
        }
    }
}

/// The 507 message: whether the batch or only the proof failed, retrying the
/// same add is right (an entry already sequenced gets its index back).
const STORAGE_FAILED: &str =
    "the log could not write to its storage (disk full or I/O error); retry the same add later";

/// The 503 for an add that failed because the process ran out of file descriptors.
const OUT_OF_DESCRIPTORS: &str =
    "the log has too many open files (connections or storage); retry the same add later";

/// The 503 for an add that failed because the log's object store or database did not
/// answer, or this frontend does not hold the sequencing lease.
const BACKEND_UNAVAILABLE: &str = "the log's storage is unavailable (object store, database or sequencing lease); retry the same add later";

/// Whether a batch failed because a backend was unreachable rather than full or broken.
fn unreachable_backend(error: &crate::BatchError) -> bool {
    matches!(
        error.error(),
        crate::LogError::Storage(crate::storage::StorageError::Unavailable(_))
    )
}

/// Whether a batch failed because the process ran out of file descriptors: an I/O error
/// EMFILE or ENFILE anywhere in the error's sources, or SQLite's "unable to open" (the
/// code it reports for the same condition).
fn out_of_descriptors(error: &crate::BatchError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.error());
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            let errno = rustix::io::Errno::from_io_error(io);
            if errno == Some(rustix::io::Errno::MFILE) || errno == Some(rustix::io::Errno::NFILE) {
                return true;
            }
        }
        if e.downcast_ref::<rusqlite::Error>()
            .is_some_and(|s| s.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen))
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// An error answer to an HTTP request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed (JSON, fields, filename, checksum, path).
    #[error("{message}")]
    BadRequest {
        /// The message sent to the client.
        message: String,
    },
    /// 401: no valid `Authorization: Bearer` token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// 404: nothing at this path (or not yet covered by the published tree).
    #[error("{message}")]
    NotFound {
        /// The message sent to the client.
        message: String,
    },
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the client did not send the body in time.
    #[error("request body not received within {0:?}")]
    BodyTimeout(Duration),
    /// 409: the filename, or an alias of it, is logged with another checksum or publisher
    /// or under another spelling.
    #[error("{}", conflict_message(filename, logged, *index, checksum))]
    Conflict {
        /// The requested filename.
        filename: String,
        /// The logged filename: the requested one, or the alias logged first.
        logged: String,
        /// The existing entry's index.
        index: u64,
        /// The existing entry's checksum.
        checksum: Checksum,
        /// The existing entry's publisher (boxed, as `logged`).
        publisher: Option<Box<Publisher>>,
    },
    /// 413: the body or the number of bulk lines is over the limit.
    #[error("{message}")]
    TooLarge {
        /// The message sent to the client.
        message: String,
    },
    /// 415: the `Content-Type` is not the one the endpoint takes.
    #[error("Content-Type must be {0}")]
    UnsupportedMediaType(&'static str),
    /// 503 with `Retry-After`: the log cannot take this add now; `index` is set when
    /// the entry is already sequenced (retrying the same add will return its proof).
    #[error("{message}")]
    Unavailable {
        /// What happened, for the client.
        message: String,
        /// When to retry.
        retry_after: Duration,
        /// The assigned index, for a sequenced but unpublished entry.
        index: Option<u64>,
    },
    /// 507: storage failed (disk full or I/O); nothing was half-written.
    #[error("{message}")]
    InsufficientStorage {
        /// The message sent to the client.
        message: String,
    },
    /// 500: a server fault; the detail is logged, the client gets a generic message.
    #[error("internal error")]
    Internal {
        /// What failed, for the operator's log (never sent to the client).
        detail: String,
    },
}

/// The 409 message: names the logged file, and says so when the add named an alias of it.
fn conflict_message(filename: &str, logged: &str, index: u64, checksum: &Checksum) -> String {
    if filename == logged {
        format!("{filename} is already logged at index {index} with {checksum}")
    } else {
        format!(
            "{filename} is an alias of {logged} (the same project, version and tags), already logged at index {index} with {checksum}"
        )
    }
}

impl ApiError {
    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Maps a failed add of `filename` to its HTTP answer. `retry_after` is the
    /// hint for 503s (about one checkpoint interval).
    pub fn from_add(err: AddError, filename: &str, retry_after: Duration) -> ApiError {
        match err {
            // The core keeps entries opaque; this API speaks PyPI entries, so the logged
            // one is read back as one (it was logged by this API, so it parses).
            AddError::Conflict { index, logged } => match Entry::parse(&logged.bytes) {
                Ok(entry) => ApiError::Conflict {
                    filename: filename.to_owned(),
                    logged: entry.filename.to_string(),
                    index,
                    checksum: entry.checksum,
                    publisher: entry.publisher.map(Box::new),
                },
                Err(e) => ApiError::Internal {
                    detail: format!("the entry logged at index {index} does not parse: {e}"),
                },
            },
            AddError::Pending { index } => ApiError::Unavailable {
                message: format!(
                    "entry sequenced at index {index} but no checkpoint covering it was published in time; retry the same add"
                ),
                retry_after,
                index: Some(index),
            },
            AddError::Overloaded => ApiError::Unavailable {
                message: "too many adds in flight; retry later".to_owned(),
                retry_after,
                index: None,
            },
            AddError::ShuttingDown => ApiError::Unavailable {
                message: "the log is shutting down; retry later".to_owned(),
                retry_after,
                index: None,
            },
            AddError::Storage(error) => {
                // The detail names files under the data directory (finding L3):
                // it goes to the operator's log, the client gets what to do.
                storage_episode::failed(&error.to_string());
                if unreachable_backend(&error) {
                    // An object store, database or sequencing lease that is not there
                    // now: the add may be retried as it is.
                    ApiError::Unavailable {
                        message: BACKEND_UNAVAILABLE.to_owned(),
                        retry_after,
                        index: None,
                    }
                } else if out_of_descriptors(&error) {
                    // Finding H5: EMFILE/ENFILE is the process's limit, not a full disk.
                    ApiError::Unavailable {
                        message: OUT_OF_DESCRIPTORS.to_owned(),
                        retry_after,
                        index: None,
                    }
                } else {
                    ApiError::InsufficientStorage {
                        message: STORAGE_FAILED.to_owned(),
                    }
                }
            }
        }
    }

    /// The JSON body: `{"error": ...}` plus fields a client acts on.
    pub fn body(&self) -> serde_json::Value {
        match self {
            ApiError::Conflict {
                index,
                checksum,
                publisher,
                logged,
                ..
            } => {
                let mut body = json!({
                    "error": self.to_string(),
                    "index": index,
                    "checksum": checksum.to_string(),
                    "filename": logged,
                });
                if let Some(p) = publisher {
                    body["publisher"] = json!({"issuer": p.issuer, "subject": p.subject});
                }
                body
            }
            ApiError::Unavailable {
                index: Some(index), ..
            } => json!({"error": self.to_string(), "index": index}),
            _ => json!({"error": self.to_string()}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal { detail } = &self {
            tracing::error!(%detail, "internal error answering a request");
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable { retry_after, .. } => {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            ApiError::MethodNotAllowed => {}
            _ => {}
        }
        // Errors are about this moment; never let a cache keep one.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum() -> Checksum {
        Checksum::from_digest([0xab; 32])
    }

    fn conflict(filename: &str, index: u64) -> AddError {
        let logged = Entry {
            checksum: checksum(),
            filename: filename.parse().expect("filename"),
            publisher: None,
        };
        AddError::Conflict {
            index,
            logged: crate::storage::StoredEntry::of(&logged),
        }
    }

    #[test]
    fn add_errors_map_to_their_statuses() {
        let retry = Duration::from_millis(1500);
        let cases = [
            (conflict("f-1.0.tar.gz", 3), StatusCode::CONFLICT),
            (
                AddError::Pending { index: 9 },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (AddError::Overloaded, StatusCode::SERVICE_UNAVAILABLE),
            (AddError::ShuttingDown, StatusCode::SERVICE_UNAVAILABLE),
            (
                AddError::from(crate::LogError::Unavailable),
                StatusCode::INSUFFICIENT_STORAGE,
            ),
            (
                AddError::from(crate::LogError::Storage(
                    crate::storage::StorageError::Unavailable(
                        crate::storage::Outage::DatabaseTimeout(Duration::from_secs(10)),
                    ),
                )),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        ];
        for (err, status) in cases {
            let label = err.label();
            assert_eq!(
                ApiError::from_add(err, "f", retry).status(),
                status,
                "{label}"
            );
        }
    }

    /// Finding L3: a full disk answered 507 with the server's file path in it.
    #[test]
    fn l3_storage_failures_do_not_leak_paths() {
        let err = ApiError::from_add(
            AddError::from(crate::LogError::Storage(crate::storage::StorageError::Io {
                op: "write",
                path: "/srv/data/tile/0/002.p/89".into(),
                source: std::io::Error::other("No space left on device"),
            })),
            "f",
            Duration::from_secs(1),
        );
        assert_eq!(err.status(), StatusCode::INSUFFICIENT_STORAGE);
        let body = err.body().to_string();
        assert!(!body.contains("/srv/data"), "{body}");
        assert!(body.contains("disk full"), "{body}");
    }

    /// Finding H5: running out of descriptors is a 503 to retry, not a full disk. The
    /// kind is read from the error itself, not from its text.
    #[test]
    fn descriptor_exhaustion_is_recognized_by_its_errno() {
        let io = |path: &str, errno: i32| {
            AddError::from(crate::LogError::Storage(crate::storage::StorageError::Io {
                op: "open",
                path: path.into(),
                source: std::io::Error::from_raw_os_error(errno),
            }))
        };
        let answer = |err| ApiError::from_add(err, "f", Duration::from_secs(1));
        for errno in [24, 23] {
            let err = answer(io("/srv/data/tile/0/000", errno));
            assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE, "{errno}");
            assert_eq!(err.to_string(), OUT_OF_DESCRIPTORS);
        }
        // ENOSPC is a full disk, even where a path happens to read like EMFILE.
        let err = answer(io("/srv/(os error 24)/tile", 28));
        assert_eq!(err.status(), StatusCode::INSUFFICIENT_STORAGE);
        let sqlite = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            None,
        );
        let err = answer(AddError::from(crate::LogError::Storage(
            crate::storage::StorageError::Database(sqlite),
        )));
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn conflict_body_names_the_existing_entry() {
        let err = ApiError::from_add(
            conflict("a-1.0.tar.gz", 3),
            "a-1.0.tar.gz",
            Duration::from_secs(1),
        );
        let body = err.body();
        assert_eq!(body["index"], 3);
        assert_eq!(body["checksum"], format!("sha256:{}", "ab".repeat(32)));
        assert!(body["error"].as_str().unwrap().contains("a-1.0.tar.gz"));
        assert_eq!(body["filename"], "a-1.0.tar.gz");
    }

    #[test]
    fn pending_carries_index_and_retry_after() {
        let err = ApiError::from_add(
            AddError::Pending { index: 42 },
            "f",
            Duration::from_millis(1500),
        );
        assert_eq!(err.body()["index"], 42);
        let response = err.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
