//! `--webhook`: POST each finding as JSON, retrying transient failures with exponential backoff.

use std::time::Duration;

use crate::finding::Finding;

/// Errors from delivering a finding to the webhook.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// Returned when the endpoint answered with a status that retrying cannot fix (4xx other than 408/429).
    #[error("webhook {url} refused the finding: HTTP {status}")]
    Refused {
        /// The webhook URL.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// Returned when every attempt failed with a transient error; `last` says the last one.
    #[error("webhook {url} unreachable after {attempts} attempts: {last}")]
    GaveUp {
        /// The webhook URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// Delivers findings to one URL. Cheap to clone (the HTTP client is shared).
#[derive(Clone, Debug)]
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    attempts: u32,
    first_delay: Duration,
}

impl WebhookSender {
    /// A sender to `url` making up to 5 attempts, waiting 500 ms, 1 s, 2 s, 4 s between them, each
    /// request bounded to 10 s.
    pub fn new(url: &str) -> WebhookSender {
        WebhookSender::with_retries(url, 5, Duration::from_millis(500))
    }

    /// A sender with an explicit attempt count (at least 1) and first backoff delay (doubling each time).
    pub fn with_retries(url: &str, attempts: u32, first_delay: Duration) -> WebhookSender {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        WebhookSender {
            client,
            url: url.to_string(),
            attempts: attempts.max(1),
            first_delay,
        }
    }

    /// POSTs `finding` as `application/json` (the same object as its JSON line).
    ///
    /// Succeeds on any 2xx. Retries connection errors, timeouts, 408, 429 and 5xx; returns
    /// [`WebhookError::Refused`] at once on other statuses and [`WebhookError::GaveUp`] when attempts run out.
    pub async fn send(&self, finding: &Finding) -> Result<(), WebhookError> {
        let body = finding.to_json_line();
        let mut delay = self.first_delay;
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            let result = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match result {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if !(status == 408 || status == 429 || resp.status().is_server_error()) {
                        return Err(WebhookError::Refused {
                            url: self.url.clone(),
                            status,
                        });
                    }
                    last = format!("HTTP {status}");
                }
                Err(e) => last = e.to_string(),
            }
            if attempt < self.attempts {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
        Err(WebhookError::GaveUp {
            url: self.url.clone(),
            attempts: self.attempts,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;
    use crate::finding::FindingKind;

    /// Serves POST / answering `statuses[n]` to the n-th request (the last one repeated), recording bodies.
    async fn server(
        statuses: Vec<u16>,
    ) -> (String, Arc<AtomicU32>, Arc<std::sync::Mutex<Vec<String>>>) {
        let count = Arc::new(AtomicU32::new(0));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, b) = (count.clone(), bodies.clone());
        let app = axum::Router::new().route(
            "/",
            post(move |body: String| {
                let n = c.fetch_add(1, Ordering::SeqCst) as usize;
                b.lock().unwrap().push(body);
                let status = statuses[n.min(statuses.len() - 1)];
                async move { StatusCode::from_u16(status).unwrap() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/"), count, bodies)
    }

    fn finding() -> Finding {
        Finding::new(FindingKind::Watched, "new release").with_identifier("demo-1.0.tar.gz")
    }

    #[tokio::test]
    async fn retries_server_errors_then_delivers() {
        let (url, count, bodies) = server(vec![503, 500, 200]).await;
        let sender = WebhookSender::with_retries(&url, 5, Duration::from_millis(1));
        sender.send(&finding()).await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3);
        let got: Finding = serde_json::from_str(&bodies.lock().unwrap()[2]).unwrap();
        assert_eq!(got, finding());
    }

    #[tokio::test]
    async fn client_error_is_not_retried() {
        let (url, count, _) = server(vec![400]).await;
        let sender = WebhookSender::with_retries(&url, 5, Duration::from_millis(1));
        let err = sender.send(&finding()).await.unwrap_err();
        assert!(
            matches!(err, WebhookError::Refused { status: 400, .. }),
            "{err}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts() {
        let (url, count, _) = server(vec![503]).await;
        let sender = WebhookSender::with_retries(&url, 3, Duration::from_millis(1));
        let err = sender.send(&finding()).await.unwrap_err();
        assert!(
            matches!(err, WebhookError::GaveUp { attempts: 3, .. }),
            "{err}"
        );
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn unreachable_endpoint_gives_up() {
        // Bind then drop a listener so the port is (very likely) closed.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let sender =
            WebhookSender::with_retries(&format!("http://{addr}/"), 2, Duration::from_millis(1));
        assert!(matches!(
            sender.send(&finding()).await,
            Err(WebhookError::GaveUp { attempts: 2, .. })
        ));
    }
}
