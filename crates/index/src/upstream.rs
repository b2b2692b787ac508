//! The upstream simple index: fetching pages with the client's `Accept`, bounded in
//! size and time, and a small cache that honours the upstream's `Cache-Control`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{ACCEPT, AGE, CACHE_CONTROL, CONTENT_TYPE};
use url::Url;

/// The most pages kept; past it the cache starts over (pages are cheap to refetch).
const MAX_CACHED_PAGES: usize = 4096;

/// A page as the upstream answered it.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub status: u16,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub body: Bytes,
    /// How long the answer may be reused, from its `Cache-Control` and `Age`.
    pub fresh_for: Option<Duration>,
}

/// Why the upstream gave no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The request or the body's transfer failed.
    #[error("the upstream index at {url} did not answer: {source}")]
    Transport {
        /// The URL asked.
        url: String,
        /// The HTTP client's error (without the URL, which `url` holds).
        #[source]
        source: reqwest::Error,
    },
    /// The answer is longer than the caller reads.
    #[error("the upstream index's answer for {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The most bytes read.
        limit: usize,
    },
}

/// One rewritten answer, ready to serve again while fresh.
#[derive(Debug, Clone)]
pub(crate) struct CachedAnswer {
    pub content_type: String,
    pub cache_control: Option<String>,
    pub body: Bytes,
    expires: Instant,
}

/// Rewritten pages by (path, `Accept`), kept while the upstream's headers allow.
#[derive(Debug, Default)]
pub(crate) struct PageCache {
    pages: Mutex<HashMap<(String, String), CachedAnswer>>,
}

impl PageCache {
    pub fn get(&self, path: &str, accept: &str) -> Option<CachedAnswer> {
        let pages = self.pages.lock().ok()?;
        let hit = pages.get(&(path.to_owned(), accept.to_owned()))?;
        (hit.expires > Instant::now()).then(|| hit.clone())
    }

    /// Keeps `answer` for `fresh_for` (nothing when `None` or zero).
    pub fn put(
        &self,
        path: &str,
        accept: &str,
        fresh_for: Option<Duration>,
        content_type: String,
        cache_control: Option<String>,
        body: Bytes,
    ) {
        let Some(ttl) = fresh_for.filter(|d| !d.is_zero()) else {
            return;
        };
        let Ok(mut pages) = self.pages.lock() else {
            return;
        };
        if pages.len() >= MAX_CACHED_PAGES {
            let now = Instant::now();
            pages.retain(|_, p| p.expires > now);
            if pages.len() >= MAX_CACHED_PAGES {
                pages.clear();
            }
        }
        let answer = CachedAnswer {
            content_type,
            cache_control,
            body,
            expires: Instant::now() + ttl,
        };
        pages.insert((path.to_owned(), accept.to_owned()), answer);
    }
}

/// GETs `url` with `accept` (when given), reading at most `limit` bytes of body.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    accept: Option<&str>,
    limit: usize,
) -> Result<Fetched, UpstreamError> {
    let transport = |e: reqwest::Error| UpstreamError::Transport {
        url: url.to_string(),
        source: e.without_url(),
    };
    let mut request = client.get(url.clone());
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.map_err(transport)?;
    let too_large = || UpstreamError::TooLarge {
        url: url.to_string(),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(transport)?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(Fetched {
        status,
        content_type: text(CONTENT_TYPE),
        cache_control: text(CACHE_CONTROL),
        fresh_for: freshness(&headers),
        body: body.into(),
    })
}

/// How long a shared cache may reuse a response (RFC 9111 §4.2.1): `s-maxage`, else
/// `max-age`, less `Age`; `None` with `no-store`, `no-cache`, `private` or no
/// lifetime at all (no heuristic freshness: an index page changes on every upload).
pub(crate) fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    let mut s_maxage = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let value = value.to_str().ok()?;
        for directive in value.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (
                    n.trim().to_owned(),
                    Some(a.trim().trim_matches('"').to_owned()),
                ),
                None => (directive.clone(), None),
            };
            match name.as_str() {
                "no-store" | "no-cache" | "private" => return None,
                "max-age" => max_age = arg.and_then(|a| a.parse::<u64>().ok()),
                "s-maxage" => s_maxage = arg.and_then(|a| a.parse::<u64>().ok()),
                _ => {}
            }
        }
    }
    let lifetime = s_maxage.or(max_age)?;
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some(Duration::from_secs(lifetime.saturating_sub(age)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn cache_control_is_honoured() {
        let secs = |p: &[(&str, &str)]| freshness(&headers(p)).map(|d| d.as_secs());
        assert_eq!(secs(&[]), None);
        assert_eq!(secs(&[("cache-control", "public, max-age=600")]), Some(600));
        assert_eq!(
            secs(&[("cache-control", "max-age=600, s-maxage=60")]),
            Some(60)
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=600"), ("age", "100")]),
            Some(500)
        );
        assert_eq!(
            secs(&[("cache-control", "max-age=60"), ("age", "100")]),
            Some(0)
        );
        assert_eq!(secs(&[("cache-control", "max-age=600, no-cache")]), None);
        assert_eq!(secs(&[("cache-control", "private, max-age=600")]), None);
        assert_eq!(secs(&[("cache-control", "no-store")]), None);
    }
}
