//! Submitting entries to a bintrail log (`POST /add`).
//!
//! The request and response shapes follow trailofbits/bt-log's add endpoint, which
//! bintrail's server keeps compatible: the request is
//! `{"filename", "checksum", "publisher"?: {"issuer", "subject"}}`, the response
//! `{"index", "checkpoint", "inclusionProof", "proof"}`. The response is not trusted
//! here: callers verify `proof` (see [`crate::verify`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fetch::{FetchError, HttpClient};

/// The largest `POST /add` response accepted: a proof has at most 64 hashes and a
/// checkpoint at most 100 signatures, so 1 MiB is generous.
pub const MAX_ADD_RESPONSE: usize = 1 << 20;

/// How many times a submission answered with 503 is retried before giving up.
pub const MAX_ATTEMPTS: u32 = 5;

/// The longest wait between retries, whatever `Retry-After` asks for.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// One entry to submit: the wire form of a `pypi-transparency/v1` entry.
#[derive(Debug, Clone, Serialize)]
pub struct AddRequest {
    /// The distribution file name, e.g. `pkg-1.0-py3-none-any.whl`.
    pub filename: String,
    /// `sha256:` and the lowercase hex digest of the file.
    pub checksum: String,
    /// The trusted publisher, if the registry attests one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<PublisherJson>,
}

/// A trusted publisher as the add endpoint takes it.
#[derive(Debug, Clone, Serialize)]
pub struct PublisherJson {
    /// The OIDC issuer, e.g. `https://token.actions.githubusercontent.com`.
    pub issuer: String,
    /// The OIDC subject, e.g. `repo:org/proj:ref:refs/tags/v1`.
    pub subject: String,
}

/// A `POST /add` response, unverified.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddResponse {
    /// The entry's index in the log.
    pub index: u64,
    /// The signed checkpoint note, base64.
    pub checkpoint: String,
    /// The inclusion proof hashes, base64 each.
    pub inclusion_proof: Vec<String>,
    /// The `c2sp.org/tlog-proof@v1` text for the entry; what bintrail writes to disk.
    pub proof: String,
}

/// Failures of [`submit`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// Returned for a 409: the file name is already logged with another checksum
    /// or publisher. `message` is the server's explanation.
    #[error("conflict: {message}")]
    Conflict {
        /// What the server said (it names the existing index and checksum).
        message: String,
    },
    /// Returned for a 401: the token is missing or not accepted.
    #[error("the log refused the token: {message}")]
    Unauthorized {
        /// What the server said.
        message: String,
    },
    /// Returned when the log still answered 503 after [`MAX_ATTEMPTS`] attempts.
    #[error("the log is unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// How many requests were made.
        attempts: u32,
        /// The last 503.
        last: FetchError,
    },
    /// Returned for any other transport or HTTP failure.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Returned when a 200 response is not the expected JSON.
    #[error("malformed add response: {0}")]
    MalformedResponse(String),
}

/// Submits `request` with bearer `token` and returns the parsed response.
///
/// A 503 is retried up to [`MAX_ATTEMPTS`] times, waiting what `Retry-After` says
/// (1 s if absent, at most [`MAX_RETRY_DELAY`]); the log's add is idempotent for the
/// same file name, checksum and publisher, so retrying never logs twice.
pub async fn submit(
    http: &HttpClient,
    token: &str,
    request: &AddRequest,
) -> Result<AddResponse, SubmitError> {
    let body = serde_json::to_vec(request)
        .map_err(|err| SubmitError::MalformedResponse(format!("encoding request: {err}")))?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match http
            .post_json("add", body.clone(), Some(token), MAX_ADD_RESPONSE)
            .await
        {
            Ok(response) => {
                return serde_json::from_slice(&response.body)
                    .map_err(|err| SubmitError::MalformedResponse(err.to_string()));
            }
            Err(FetchError::Unavailable { retry_after, .. }) if attempt < MAX_ATTEMPTS => {
                let delay = retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_RETRY_DELAY);
                tokio::time::sleep(delay).await;
            }
            Err(last @ FetchError::Unavailable { .. }) => {
                return Err(SubmitError::Unavailable {
                    attempts: attempt,
                    last,
                });
            }
            Err(FetchError::Status {
                status: 409,
                message,
                ..
            }) => return Err(SubmitError::Conflict { message }),
            Err(FetchError::Status {
                status: 401,
                message,
                ..
            }) => return Err(SubmitError::Unauthorized { message }),
            Err(other) => return Err(other.into()),
        }
    }
}
