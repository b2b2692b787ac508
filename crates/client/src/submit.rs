//! Submitting entries to a bintrail log (`POST /add`).
//!
//! The request and response shapes follow trailofbits/bt-log's add endpoint, which
//! bintrail's server keeps compatible: the request is
//! `{"filename", "checksum", "publisher"?: {"issuer", "subject"}}`, the response
//! `{"index", "checkpoint", "inclusionProof", "proof"}`. The response is not trusted
//! here: callers verify `proof` (see [`crate::verify`]).

use std::time::Duration;

use tokio::time::Instant;

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
    /// A PEP 740 attestation or provenance object for the file, for the log to verify; the
    /// log then logs the publisher its certificate names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<serde_json::Value>,
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
    /// Returned by [`submit_within`] when the deadline passed after the log had
    /// assigned the entry an index (it is durable and will be published once the
    /// log can publish a checkpoint, typically when its witnesses' quorum is back)
    /// but before a checkpoint covering it was published. The same add later
    /// returns its proof.
    #[error(
        "sequenced at index {index}, not yet published: the log holds the entry but published no \
         checkpoint covering it within {waited:?} (it waits for its witnesses' quorum); run the \
         same add again later to get its proof"
    )]
    Pending {
        /// The index the log assigned.
        index: u64,
        /// How long the submission waited.
        waited: Duration,
    },
    /// Returned by [`submit_within`] when the deadline passed before the log
    /// answered at all.
    #[error("the log did not answer within {0:?}")]
    Timeout(Duration),
    /// Returned for any other transport or HTTP failure.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Returned when a 200 response is not the expected JSON.
    #[error("malformed add response: {0}")]
    MalformedResponse(#[source] serde_json::Error),
    /// Returned when the request cannot be encoded as JSON.
    #[error("malformed add response: encoding request: {0}")]
    EncodeRequest(#[source] serde_json::Error),
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
    submit_until(http, token, request, None).await
}

/// [`submit`] bounded by `timeout` instead of a number of attempts: 503s are
/// retried (as `Retry-After` asks, at most [`MAX_RETRY_DELAY`]) until `timeout`
/// has passed since the call, and a request still in flight then is abandoned.
/// Errors as for [`submit`], and [`SubmitError::Pending`] when the log had named the
/// entry's index in a 503 by then, [`SubmitError::Timeout`] when it had not.
pub async fn submit_within(
    http: &HttpClient,
    token: &str,
    request: &AddRequest,
    timeout: Duration,
) -> Result<AddResponse, SubmitError> {
    submit_until(http, token, request, Some((Instant::now(), timeout))).await
}

async fn submit_until(
    http: &HttpClient,
    token: &str,
    request: &AddRequest,
    deadline: Option<(Instant, Duration)>,
) -> Result<AddResponse, SubmitError> {
    let body = serde_json::to_vec(request).map_err(SubmitError::EncodeRequest)?;
    let mut attempt = 0;
    let mut assigned = None;
    let expired = |assigned: Option<u64>, (start, timeout): (Instant, Duration)| match assigned {
        Some(index) => SubmitError::Pending {
            index,
            waited: start.elapsed(),
        },
        None => SubmitError::Timeout(timeout),
    };
    loop {
        attempt += 1;
        let post = http.post_json("add", body.clone(), Some(token), MAX_ADD_RESPONSE);
        let answer = match deadline {
            Some((start, timeout)) => match tokio::time::timeout_at(start + timeout, post).await {
                Ok(answer) => answer,
                Err(_) => return Err(expired(assigned, (start, timeout))),
            },
            None => post.await,
        };
        match answer {
            Ok(response) => {
                return serde_json::from_slice(&response.body)
                    .map_err(SubmitError::MalformedResponse);
            }
            Err(FetchError::Unavailable {
                retry_after, index, ..
            }) if deadline.is_some() || attempt < MAX_ATTEMPTS => {
                assigned = index.or(assigned);
                let mut delay = retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_RETRY_DELAY);
                if let Some((start, timeout)) = deadline {
                    let left = (start + timeout).saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(expired(assigned, (start, timeout)));
                    }
                    delay = delay.min(left);
                }
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
