//! The object-store half of [`super::CloudStorage`]: tiles, entry bundles and the published
//! checkpoint in an S3-compatible bucket, at exactly their tlog-tiles paths under an optional
//! prefix, so the bucket can be served as static files or through a CDN.
//!
//! Headers on every object (tlog-tiles: immutable resources long-lived, the checkpoint
//! "not beyond a few seconds"):
//!
//! | object | `Content-Type` | `Cache-Control` |
//! |---|---|---|
//! | `tile/<L>/<N>`, `tile/entries/<N>` (full) | `application/octet-stream` | `public, max-age=31536000, immutable` |
//! | `…/<N>.p/<W>` (partial) | `application/octet-stream` | `no-cache` |
//! | `checkpoint` | `text/plain; charset=utf-8` | `no-cache` |
//!
//! Full tiles are written create-only (`If-None-Match: *`). A store that honours it refuses
//! a second write; the existing object is then read back, and if it differs (a batch that
//! never committed left it, so it lies beyond every checkpoint) it is replaced after the
//! caller re-checked its fencing token. A store that ignores the condition (Garage 2.5.0
//! does) just overwrites: the fencing in PostgreSQL is what keeps a stale sequencer out.

use std::sync::Arc;
use std::time::Duration;

use bintrail_tlog::tile::Tile;
use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, PutMode, PutOptions,
    PutPayload, RetryConfig,
};

use crate::storage::{Outage, StorageError};

/// Full tiles never change (tlog-tiles): caches may keep them for a year.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Partial tiles and the checkpoint: revalidate every time.
pub(crate) const NO_CACHE: &str = "no-cache";
const OCTETS: &str = "application/octet-stream";
const TEXT: &str = "text/plain; charset=utf-8";

/// Where the log's objects live: `s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl std::str::FromStr for S3Location {
    type Err = StorageError;

    /// Parses `s3://BUCKET[/PREFIX]`.
    fn from_str(url: &str) -> Result<S3Location, StorageError> {
        let bad = |why: &str| StorageError::Corrupt {
            what: "storage URL".into(),
            detail: format!("{url:?}: {why} (want s3://BUCKET[/PREFIX])"),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("only s3:// URLs are supported"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "the bucket name must be 3-63 characters of a-z, 0-9, '-' and '.'",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.chars().any(|c| c.is_control())
        {
            return Err(bad("the prefix must be plain path segments"));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

/// The bucket client.
pub(crate) struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Objects {
    /// A client for `location`, configured from the standard `AWS_*` environment variables
    /// (credentials, region, `AWS_ENDPOINT`), with `endpoint` overriding the endpoint.
    pub(crate) fn new(
        location: &S3Location,
        endpoint: Option<&str>,
        aws: &[(String, String)],
        request_timeout: Duration,
    ) -> Result<Objects, StorageError> {
        let mut builder = AmazonS3Builder::from_env();
        for (name, value) in aws {
            let key: AmazonS3ConfigKey = name.to_ascii_lowercase().parse().map_err(|e| {
                StorageError::Unavailable(Outage::ObjectStoreConfig {
                    what: format!("setting {name}"),
                    source: Box::new(e),
                })
            })?;
            builder = builder.with_config(key, value);
        }
        let mut builder = builder.with_bucket_name(&location.bucket);
        if let Some(endpoint) = endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        // Failures surface within seconds (a batch fails with a clear 503 and is retried by
        // the client) instead of the default three minutes of retries.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: request_timeout,
        };
        // Plain HTTP only when the endpoint (flag or AWS_ENDPOINT) asks for it.
        let http = endpoint
            .map(str::to_owned)
            .or_else(|| std::env::var("AWS_ENDPOINT").ok())
            .or_else(|| {
                aws.iter()
                    .find(|(k, _)| k == "AWS_ENDPOINT")
                    .map(|(_, v)| v.clone())
            })
            .is_some_and(|e| e.starts_with("http://"));
        let client = ClientOptions::new()
            .with_timeout(request_timeout)
            .with_connect_timeout(Duration::from_secs(3))
            .with_allow_http(http);
        let store = builder
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|e| {
                StorageError::Unavailable(Outage::ObjectStoreConfig {
                    what: "configuration".to_owned(),
                    source: Box::new(e),
                })
            })?;
        Ok(Objects {
            store: Arc::new(store),
            prefix: location.prefix.clone(),
        })
    }

    /// The key of `rel` (a tlog-tiles path) under the prefix.
    fn key(&self, rel: &str) -> Result<Path, StorageError> {
        let full = if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        Path::parse(&full).map_err(|e| StorageError::Corrupt {
            what: "object key".into(),
            detail: e.to_string(),
        })
    }

    /// Reads an object; `None` if it does not exist.
    pub(crate) async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = self.key(rel)?;
        match self.store.get(&key).await {
            Ok(found) => match found.bytes().await {
                Ok(bytes) => Ok(Some(bytes.to_vec())),
                Err(e) => Err(store_error("read", rel, e)),
            },
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error("read", rel, e)),
        }
    }

    /// Reads a tile or entry bundle.
    pub(crate) async fn get_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(&tile.path()).await
    }

    /// Writes a tile or entry bundle with its headers: create-only when full. Returns
    /// `false` when a full tile already existed with other bytes (a store that honours the
    /// condition refused the write); the caller then re-checks its lease and calls
    /// [`Objects::overwrite_tile`].
    pub(crate) async fn put_tile(&self, tile: &Tile, data: Bytes) -> Result<bool, StorageError> {
        let rel = tile.path();
        let key = self.key(&rel)?;
        if !tile.is_full() {
            self.put(&key, &rel, data, PutMode::Overwrite, OCTETS, NO_CACHE)
                .await?;
            return Ok(true);
        }
        match self
            .put(&key, &rel, data.clone(), PutMode::Create, OCTETS, IMMUTABLE)
            .await
        {
            Ok(()) => Ok(true),
            Err(PutError::Exists) => Ok(self.get(&rel).await?.as_deref() == Some(&data[..])),
            Err(PutError::Unsupported) => {
                // The store does not do create-only writes at all: overwrite.
                self.put(&key, &rel, data, PutMode::Overwrite, OCTETS, IMMUTABLE)
                    .await?;
                Ok(true)
            }
            Err(PutError::Storage(e)) => Err(e),
        }
    }

    /// Replaces a full tile that [`Objects::put_tile`] found with other bytes.
    pub(crate) async fn overwrite_tile(
        &self,
        tile: &Tile,
        data: Bytes,
    ) -> Result<(), StorageError> {
        let rel = tile.path();
        let key = self.key(&rel)?;
        let cache = if tile.is_full() { IMMUTABLE } else { NO_CACHE };
        Ok(self
            .put(&key, &rel, data, PutMode::Overwrite, OCTETS, cache)
            .await?)
    }

    /// Replaces `checkpoint` (the published checkpoint readers of the bucket see).
    pub(crate) async fn put_checkpoint(&self, note: Bytes) -> Result<(), StorageError> {
        let key = self.key("checkpoint")?;
        Ok(self
            .put(&key, "checkpoint", note, PutMode::Overwrite, TEXT, NO_CACHE)
            .await?)
    }

    async fn put(
        &self,
        key: &Path,
        rel: &str,
        data: Bytes,
        mode: PutMode,
        content_type: &'static str,
        cache: &'static str,
    ) -> Result<(), PutError> {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.into());
        attributes.insert(Attribute::CacheControl, cache.into());
        let opts = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        match self.store.put_opts(key, PutPayload::from(data), opts).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => Err(PutError::Exists),
            Err(object_store::Error::NotImplemented) => Err(PutError::Unsupported),
            Err(e) => Err(PutError::Storage(store_error("write", rel, e))),
        }
    }
}

/// Why a put did not happen.
enum PutError {
    /// A create-only put found an object.
    Exists,
    /// The store does not support the put mode.
    Unsupported,
    Storage(StorageError),
}

impl From<PutError> for StorageError {
    fn from(e: PutError) -> StorageError {
        match e {
            PutError::Exists => StorageError::Unavailable(Outage::ObjectExists),
            PutError::Unsupported => StorageError::Unavailable(Outage::UnsupportedWrite),
            PutError::Storage(e) => e,
        }
    }
}

/// An object store failure: "unavailable", which the HTTP layer answers with a 503.
fn store_error(op: &'static str, rel: &str, e: object_store::Error) -> StorageError {
    StorageError::Unavailable(Outage::ObjectStore {
        op,
        path: rel.to_owned(),
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls() {
        let l: S3Location = "s3://logs".parse().unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("logs", ""));
        let l: S3Location = "s3://logs/pypi/v1/".parse().unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("logs", "pypi/v1"));
        for bad in [
            "logs",
            "gs://logs",
            "s3://",
            "s3://Logs",
            "s3://a",
            "s3://logs/a/../b",
            "s3://logs/a//b",
        ] {
            assert!(bad.parse::<S3Location>().is_err(), "{bad}");
        }
    }
}
