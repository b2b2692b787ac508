//! Where a migration reads from: a directory laid out like the tlog-tiles URLs (bintrail's
//! own data directory, Tessera's POSIX layout as bt-log writes it), or a tlog-tiles URL.
//!
//! Everything read here is untrusted: [`crate::verify`] authenticates it against the
//! source's signed checkpoint before anything is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use tokio::runtime::Handle;

use crate::error::{MigrateError, SourceError};

/// The largest object read from a source: an entry bundle of 256 entries of at most
/// 65,535 bytes each, with their 2-byte length prefixes.
const MAX_OBJECT: usize = 256 * (2 + 65_535);
/// Objects fetched at once from an HTTP source.
const HTTP_CONCURRENCY: usize = 32;

/// A tlog-tiles log to read: a directory or a base URL.
pub enum Source {
    /// Files under a directory at their tlog-tiles paths.
    Dir(PathBuf),
    /// A tlog-tiles read API (`<base>/checkpoint`, `<base>/tile/...`).
    Http {
        /// The base URL, ending in `/`.
        base: String,
        /// The client, with timeouts.
        client: reqwest::Client,
        /// The runtime the requests run on (the caller is on one of its blocking threads).
        rt: Handle,
    },
}

impl Source {
    /// `URL_OR_DIR`: an `http://` or `https://` URL, or a directory that must exist.
    pub fn open(from: &str, rt: Handle) -> Result<Source, MigrateError> {
        if from.starts_with("http://") || from.starts_with("https://") {
            let mut base = from.to_owned();
            if !base.ends_with('/') {
                base.push('/');
            }
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| MigrateError::Source {
                    path: from.to_owned(),
                    source: SourceError::Http(e),
                })?;
            return Ok(Source::Http { base, client, rt });
        }
        let dir = Path::new(from);
        if !dir.is_dir() {
            return Err(MigrateError::NotADirectory {
                path: dir.to_owned(),
            });
        }
        Ok(Source::Dir(dir.to_owned()))
    }

    /// How this source is named in messages.
    pub fn describe(&self, path: &str) -> String {
        match self {
            Source::Dir(dir) => dir.join(path).display().to_string(),
            Source::Http { base, .. } => format!("{base}{path}"),
        }
    }

    /// Reads one object; `None` when it does not exist.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, MigrateError> {
        let mut all = self.read_many(&[path.to_owned()])?;
        Ok(all.pop().flatten())
    }

    /// Reads objects (concurrently over HTTP), in order; `None` for a missing one.
    pub fn read_many(&self, paths: &[String]) -> Result<Vec<Option<Vec<u8>>>, MigrateError> {
        match self {
            Source::Dir(dir) => paths
                .iter()
                .map(|p| read_file(&dir.join(p)).map_err(|source| self.error(p, source)))
                .collect(),
            Source::Http { base, client, rt } => rt.block_on(
                futures::stream::iter(paths.iter().map(|p| async move {
                    get(client, &format!("{base}{p}"))
                        .await
                        .map_err(|source| self.error(p, source))
                }))
                .buffered(HTTP_CONCURRENCY)
                .try_collect(),
            ),
        }
    }

    fn error(&self, path: &str, source: SourceError) -> MigrateError {
        MigrateError::Source {
            path: self.describe(path),
            source,
        }
    }
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, SourceError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_OBJECT as u64 => return Err(SourceError::TooLarge),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SourceError::Io(e)),
    }
    match std::fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SourceError::Io(e)),
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Option<Vec<u8>>, SourceError> {
    let response = client.get(url).send().await.map_err(SourceError::Http)?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(SourceError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_OBJECT as u64)
    {
        return Err(SourceError::TooLarge);
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(SourceError::Http)?;
        if body.len() + chunk.len() > MAX_OBJECT {
            return Err(SourceError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}
