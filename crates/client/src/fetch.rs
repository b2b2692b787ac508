//! HTTP transport with timeouts and response size caps.
//!
//! Everything a log serves is untrusted until verified, including how much it
//! sends and how slowly: each request has a connect timeout and a total timeout,
//! and each body is read against a cap chosen per resource (a full tile is exactly
//! 8,192 bytes; a checkpoint fits in a few kilobytes). A body over its cap is
//! refused as soon as the `Content-Length` header or the bytes received so far
//! exceed it, without reading the rest.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

/// Timeouts applied to every request made by an [`HttpClient`].
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long establishing a connection (TCP and TLS) may take.
    pub connect: Duration,
    /// How long a whole request may take, from sending it to the last body byte.
    pub total: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 60 s in total: a full entry bundle is at most ~16 MiB, which
    /// a slow but working link still delivers in a minute.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            total: Duration::from_secs(60),
        }
    }
}

/// Failures of one HTTP exchange. Each names the URL it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Returned when the base URL, or the URL built from it, does not parse or
    /// is not `http`/`https`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The offending URL text.
        url: String,
        /// Why it was refused.
        #[source]
        reason: UrlError,
    },
    /// Returned when a connect or total timeout expired.
    #[error("{url}: timed out")]
    Timeout {
        /// The requested URL.
        url: String,
    },
    /// Returned when the connection failed or broke (DNS, TCP, TLS, HTTP framing).
    #[error("{url}: request failed")]
    Transport {
        /// The requested URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// Returned for a 404 response: the resource does not exist (for a lookup, the
    /// identifier is not logged).
    #[error("{url}: not found")]
    NotFound {
        /// The requested URL.
        url: String,
    },
    /// Returned for a 503 response; `retry_after` is the server's `Retry-After`
    /// header in seconds, if it sent a valid one.
    #[error("{url}: service unavailable{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Unavailable {
        /// The requested URL.
        url: String,
        /// The delay the server asked for.
        retry_after: Option<Duration>,
        /// The `index` of a JSON body: a bintrail log's `/add` names the index it
        /// assigned to an entry that is sequenced but not yet published.
        index: Option<u64>,
    },
    /// Returned for any other non-2xx response. `message` is the `error` field of a
    /// JSON error body, or the start of the body as text.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The requested URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// What the server said, truncated to 200 characters.
        message: String,
    },
    /// Returned when the response body is larger than the cap for that resource.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// The requested URL.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
}

/// Why a URL was refused ([`FetchError::InvalidUrl`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Returned when the text does not parse as a URL.
    #[error(transparent)]
    Unparsable(url::ParseError),
    /// Returned when the scheme is neither `http` nor `https`.
    #[error("the scheme must be http or https")]
    NotHttp,
    /// Returned when an index URL has a query or a fragment.
    #[error("an index URL has no query or fragment")]
    QueryOrFragment,
}

/// A client for one HTTP(S) prefix, such as a log's tlog-tiles prefix.
///
/// Cloning is cheap and shares the connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    /// The prefix without trailing slashes; resource paths are appended after a `/`.
    base: String,
}

/// A successful response: status, headers and the whole (capped) body.
#[derive(Debug)]
pub struct Response {
    /// The 2xx status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, at most the cap passed to the request.
    pub body: Vec<u8>,
}

impl HttpClient {
    /// Returns a client for `base` (an `http://` or `https://` URL prefix).
    ///
    /// Returns [`FetchError::InvalidUrl`] if `base` does not parse or has another
    /// scheme, and [`FetchError::Transport`] if the TLS stack cannot be set up.
    pub fn new(base: &str, timeouts: Timeouts) -> Result<Self, FetchError> {
        let parsed = Url::parse(base).map_err(|err| FetchError::InvalidUrl {
            url: base.to_owned(),
            reason: UrlError::Unparsable(err),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl {
                url: base.to_owned(),
                reason: UrlError::NotHttp,
            });
        }
        let inner = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(concat!("bintrail/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| FetchError::Transport {
                url: base.to_owned(),
                source,
            })?;
        Ok(HttpClient {
            inner,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The prefix this client was made for, without trailing slashes.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Returns the URL of `path` (relative, without a leading slash) under the prefix;
    /// an empty `path` is the prefix itself.
    pub fn url(&self, path: &str) -> String {
        if path.is_empty() {
            return self.base.clone();
        }
        format!("{}/{}", self.base, path)
    }

    /// GETs `path` under the prefix and returns its body, refusing bodies over
    /// `limit` bytes. Non-2xx statuses become the matching [`FetchError`].
    pub async fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        let url = self.url(path);
        Ok(self.send(Method::GET, url, None, None, limit).await?.body)
    }

    /// GETs the absolute `url` (which need not be under the prefix, e.g. a link an
    /// index served) with this client's timeouts, refusing bodies over `limit` bytes.
    /// Only `http` and `https` URLs are fetched.
    pub async fn get_url(&self, url: &str, limit: usize) -> Result<Response, FetchError> {
        self.send(Method::GET, url.to_owned(), None, None, limit)
            .await
    }

    /// POSTs `body` as `application/json` to `path`, with `Authorization: Bearer
    /// <token>` when `token` is given, and returns the response (2xx only).
    pub async fn post_json(
        &self,
        path: &str,
        body: Vec<u8>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<Response, FetchError> {
        let url = self.url(path);
        self.send(Method::POST, url, Some(body), token, limit).await
    }

    async fn send(
        &self,
        method: Method,
        url: String,
        body: Option<Vec<u8>>,
        token: Option<&str>,
        limit: usize,
    ) -> Result<Response, FetchError> {
        let parsed = Url::parse(&url).map_err(|err| FetchError::InvalidUrl {
            url: url.clone(),
            reason: UrlError::Unparsable(err),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::InvalidUrl {
                url,
                reason: UrlError::NotHttp,
            });
        }
        let mut request = self.inner.request(method, parsed);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error(&url, err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(&url, response, limit).await;
        if !status.is_success() {
            return Err(status_error(
                url,
                status,
                &headers,
                body.unwrap_or_default(),
            ));
        }
        Ok(Response {
            status: status.as_u16(),
            headers,
            body: body?,
        })
    }
}

fn transport_error(url: &str, source: reqwest::Error) -> FetchError {
    if source.is_timeout() {
        FetchError::Timeout {
            url: url.to_owned(),
        }
    } else {
        FetchError::Transport {
            url: url.to_owned(),
            source,
        }
    }
}

/// Reads the body, stopping with [`FetchError::TooLarge`] as soon as it exceeds
/// `limit`: first by the declared length, then by the bytes actually received
/// (the header may be absent or lie).
async fn read_capped(
    url: &str,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |len| len as usize).min(limit);
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport_error(url, err))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn status_error(url: String, status: StatusCode, headers: &HeaderMap, body: Vec<u8>) -> FetchError {
    match status {
        StatusCode::NOT_FOUND => FetchError::NotFound { url },
        StatusCode::SERVICE_UNAVAILABLE => FetchError::Unavailable {
            url,
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
            index: serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| value.get("index")?.as_u64()),
        },
        _ => FetchError::Status {
            url,
            status: status.as_u16(),
            message: error_message(&body),
        },
    }
}

/// The `error` field of a JSON error body (`{"error": "..."}`), else the body as
/// lossy text; at most 200 characters, control characters replaced, so a hostile
/// server cannot flood or restyle the user's terminal.
fn error_message(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    text.trim()
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_must_be_http() {
        let err = HttpClient::new("ftp://example.com/log", Timeouts::default()).unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err}");
        let err = HttpClient::new("not a url", Timeouts::default()).unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err}");
    }

    #[test]
    fn urls_join_with_one_slash() {
        let client = HttpClient::new("http://127.0.0.1:1/log//", Timeouts::default()).unwrap();
        assert_eq!(
            client.url("checkpoint"),
            "http://127.0.0.1:1/log/checkpoint"
        );
        assert_eq!(client.base(), "http://127.0.0.1:1/log");
    }

    #[test]
    fn json_error_messages_are_extracted() {
        assert_eq!(error_message(br#"{"error": "bad token"}"#), "bad token");
        assert_eq!(error_message(b"plain\x1b[31m text\n"), "plain [31m text");
        assert_eq!(error_message(&[b'x'; 500]).len(), 200);
    }
}
