//! `GET /files/<project>/<filename>`: verify, then stream, then release the last bytes.
//!
//! 1. The file must be listed on the upstream's project page (the proxy fetches no
//!    other URL for an installer).
//! 2. A cached verified file whose logged SHA-256 is the one the page lists is served
//!    from the cache: no proof traffic. A proof verified earlier (kept in the cache
//!    even when its download did not complete) is not fetched again.
//! 3. Otherwise the proof is fetched and verified against the logged entry before any
//!    byte is sent ([`check`]): the entry must be for this filename, the hash the
//!    page lists (if any) must be the logged one, and the proof must verify
//!    (signature, quorum when a policy is pinned, inclusion, consistency), and the
//!    logged publisher must be one the identity policy accepts for the project. A
//!    failure here is a 403 whose reason phrase and body say why.
//! 4. The file is streamed from upstream while hashed and written to a temporary
//!    file; every byte but the last is forwarded at once (so the response head and
//!    data always reach the installer, even for a file upstream sends in one chunk).
//!    When upstream is done, the digest must be the logged one: then the last byte is
//!    sent and the file and its
//!    proof enter the cache; else the body is aborted (the installer sees a broken
//!    download, never a complete one) and nothing is cached.
//!
//! In `report` mode a failure is reported (stderr JSON line, `/metrics`) and the
//! upstream bytes are passed through unchanged, never cached.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bintrail_client::verify::VerifyError;
use bintrail_tlog::pypi::{Checksum, Entry, Filename};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::pages::{FileInfo, find_file};
use crate::{Mode, Proxy, error_response};

/// A proof verified for a file, before its bytes are seen (the cache keeps the proof).
struct Checked {
    /// The logged entry.
    entry: Entry,
}

/// Serves one file download.
pub(crate) async fn file(proxy: Arc<Proxy>, project: &str, filename: &str) -> Response {
    let Ok(name) = filename.parse::<Filename>() else {
        return error_response(StatusCode::NOT_FOUND, "not a distribution file name");
    };
    let Some(info) = find_file(&proxy, project, filename).await else {
        return error_response(StatusCode::NOT_FOUND, "not listed on the upstream's page");
    };
    if let Some(hit) = proxy.cache.get(&name)
        && info
            .sha256
            .is_none_or(|listed| listed == hit.entry.checksum)
        && proxy
            .config
            .identities
            .check(&name, hit.entry.publisher.as_ref())
            .is_ok()
    {
        Metrics::bump(&proxy.metrics.cached);
        return match cached_body(&hit.path).await {
            Ok((body, length)) => file_response(body, Some(length)),
            Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
        };
    }
    let checked = match check(&proxy, &name, &info).await {
        Ok(checked) => Some(checked),
        Err(err) => {
            complain(&proxy, &name, &err).await;
            if proxy.config.mode == Mode::Enforce {
                return refusal(&name, &err);
            }
            None
        }
    };
    stream(proxy, info, name, checked).await
}

/// Fetches and verifies the file's proof against the logged entry (module doc, 3).
async fn check(proxy: &Proxy, name: &Filename, info: &FileInfo) -> Result<Checked, VerifyError> {
    if let Some((_, entry)) = proxy.cache.proof(name)
        && info.sha256.is_none_or(|listed| listed == entry.checksum)
    {
        return admit(proxy, name, entry);
    }
    let client = &proxy.config.client;
    Metrics::bump(&proxy.metrics.proof_fetches);
    let mut proof = match &info.inclusion_proof {
        Some(url) => client.fetch_answer(url).await?,
        None => client.find_proof(name.as_str()).await?,
    };
    let logged = match (&proof.extra, info.sha256) {
        (Some(extra), _) => {
            Entry::parse(extra)
                .map_err(|e| VerifyError::malformed(format!("proof entry for {name}"), e))?
                .checksum
        }
        (None, Some(listed)) => listed,
        (None, None) => {
            return Err(VerifyError::malformed(
                name.to_string(),
                "neither the proof nor the page says which SHA-256 was logged",
            ));
        }
    };
    if let Some(listed) = info.sha256
        && listed != logged
    {
        return Err(VerifyError::DigestMismatch {
            filename: name.to_string(),
            actual: listed,
            logged,
        });
    }
    let outcome = client
        .verify(name.as_str(), *logged.digest(), &proof)
        .await?;
    if let Some(change) = &outcome.key_change {
        eprintln!("bintrail: {change}");
    }
    proof.extra = Some(outcome.verified.entry.to_bytes());
    // A failed write only costs a proof fetch next time.
    let _ = proxy.cache.store_proof(name, &proof);
    admit(proxy, name, outcome.verified.entry)
}

/// The identity policy's verdict on a verified entry: its logged publisher must be one the
/// policy accepts for the file's project (unlisted projects pass).
fn admit(proxy: &Proxy, name: &Filename, entry: Entry) -> Result<Checked, VerifyError> {
    proxy
        .config
        .identities
        .check(name, entry.publisher.as_ref())?;
    Ok(Checked { entry })
}

/// Streams the upstream file (module doc, 4).
async fn stream(
    proxy: Arc<Proxy>,
    info: FileInfo,
    name: Filename,
    checked: Option<Checked>,
) -> Response {
    let upstream = match proxy.http.get(&info.upstream).send().await {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            Metrics::bump(&proxy.metrics.upstream_error);
            let status = if response.status() == reqwest::StatusCode::NOT_FOUND {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_GATEWAY
            };
            return error_response(status, &format!("upstream answered {}", response.status()));
        }
        Err(err) => {
            Metrics::bump(&proxy.metrics.upstream_error);
            return error_response(StatusCode::BAD_GATEWAY, &format!("upstream: {err}"));
        }
    };
    let length = upstream.content_length();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::spawn(pump(proxy, upstream, name, checked, tx));
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    file_response(Body::from_stream(body), length)
}

type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Forwards the upstream body, holding back its last byte until the digest is known.
async fn pump(
    proxy: Arc<Proxy>,
    mut upstream: reqwest::Response,
    name: Filename,
    checked: Option<Checked>,
    tx: Sender,
) {
    let mut temp = match &checked {
        Some(_) => proxy.cache.temp().ok(),
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut held: Option<Bytes> = None;
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                hasher.update(&chunk);
                if let Some((_, file)) = &mut temp
                    && file.write_all(&chunk).is_err()
                {
                    temp = None;
                }
                if chunk.is_empty() {
                    continue;
                }
                // Hold back only the chunk's last byte, and send the byte held before it
                // ahead of the rest of this chunk.
                let now = chunk.slice(..chunk.len() - 1);
                let previous = held.replace(chunk.slice(chunk.len() - 1..));
                for part in previous.into_iter().chain(Some(now)) {
                    if !part.is_empty() && tx.send(Ok(part)).await.is_err() {
                        return discard(temp);
                    }
                }
            }
            Ok(None) => break,
            Err(err) => {
                Metrics::bump(&proxy.metrics.upstream_error);
                let _ = tx.send(Err(std::io::Error::other(err))).await;
                return discard(temp);
            }
        }
    }
    let actual = Checksum::from_digest(hasher.finalize().into());
    let Some(checked) = checked else {
        // Report mode, already reported: pass the bytes through, cache nothing.
        return release(&tx, held).await;
    };
    if actual != checked.entry.checksum {
        let err = VerifyError::DigestMismatch {
            filename: name.to_string(),
            actual,
            logged: checked.entry.checksum,
        };
        complain(&proxy, &name, &err).await;
        discard(temp);
        if proxy.config.mode == Mode::Enforce {
            settle(&tx).await;
            let _ = tx.send(Err(std::io::Error::other(reason(&err)))).await;
            return;
        }
        return release(&tx, held).await;
    }
    if let Some((path, file)) = temp {
        drop(file);
        if proxy.cache.commit(&path, &name).is_err() {
            let _ = std::fs::remove_file(&path);
        }
    }
    Metrics::bump(&proxy.metrics.verified);
    release(&tx, held).await;
}

/// A cached file as a streamed body (64 KiB reads) and its length.
async fn cached_body(path: &std::path::Path) -> std::io::Result<(Body, u64)> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let length = file.metadata().await?.len();
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            // Stop after an error: the body ends short of its length.
            Err(err) => Some((Err(err), None)),
        }
    });
    Ok((Body::from_stream(chunks), length))
}

/// Waits (at most a second) until the installer's connection has taken every queued chunk,
/// and a moment more, so the bytes already forwarded reach the socket before the body is
/// aborted: the installer then sees the response head and a short body, not a bare reset.
async fn settle(tx: &Sender) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    while tx.capacity() < tx.max_capacity() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
}

async fn release(tx: &Sender, held: Option<Bytes>) {
    if let Some(last) = held {
        let _ = tx.send(Ok(last)).await;
    }
}

fn discard(temp: Option<(std::path::PathBuf, std::fs::File)>) {
    if let Some((path, _)) = temp {
        let _ = std::fs::remove_file(path);
    }
}

fn file_response(body: Body, length: Option<u64>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    if let Some(length) = length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length.into());
    }
    response
}

/// The one-line reason for a refusal: `bintrail refused <file>: <kind>: <message>`.
fn reason(err: &VerifyError) -> String {
    format!("bintrail: {}: {err}", err.kind().label())
}

/// 403 with the reason as the HTTP reason phrase (pip prints it) and in the body
/// (uv prints it).
fn refusal(name: &Filename, err: &VerifyError) -> Response {
    let line = format!("refused {name}: {}", reason(err));
    let mut response = (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{line}\n"),
    )
        .into_response();
    let phrase: String = line
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(400)
        .collect();
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        response.extensions_mut().insert(phrase);
    }
    response
}

/// Counts and reports a failure: a JSON line on stderr, and evidence of log
/// misbehaviour POSTed to the report URL.
async fn complain(proxy: &Proxy, name: &Filename, err: &VerifyError) {
    let enforce = proxy.config.mode == Mode::Enforce;
    let counter: &AtomicU64 = if enforce {
        &proxy.metrics.refused
    } else {
        &proxy.metrics.reported
    };
    Metrics::bump(counter);
    let line = serde_json::json!({
        "event": if enforce { "refused" } else { "reported" },
        "file": name.as_str(),
        "kind": err.kind().label(),
        "error": err.to_string(),
    });
    eprintln!("{line}");
    if let Some(url) = &proxy.config.report_url
        && let Some(evidence) = bintrail_client::report::evidence(err, name.as_str())
        && let Err(e) = bintrail_client::report::post_evidence(url, &evidence).await
    {
        eprintln!("bintrail: reporting evidence to {url} failed: {e}");
    }
}
