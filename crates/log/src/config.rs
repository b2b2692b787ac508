//! Settings of `bintrail serve`: from a TOML file, from flags, and resolved with defaults.
//!
//! [`Settings`] is both the TOML file's schema and what the command-line flags fill
//! in; every field is optional so two of them can be layered with
//! [`Settings::overlay`] (flags override the file). [`ServeConfig::resolve`] then
//! applies the defaults and checks the values. The TOML keys are the flag names
//! without the leading `--`, and unknown keys are rejected so a typo cannot silently
//! fall back to a default.
//!
//! ```toml
//! data = "/var/lib/bintrail"
//! listen = "0.0.0.0:8443"
//! origin = "log.example.org/pypi"
//! private-key = "/etc/bintrail/log.key"
//! tokens = "/etc/bintrail/tokens"
//! checkpoint-interval = "1s"
//! add-timeout = "10s"
//! body-timeout = "10s"
//! bulk-body-timeout = "5m"
//! tls-cert = "/etc/bintrail/cert.pem"
//! tls-key = "/etc/bintrail/key.pem"
//! # Object storage and PostgreSQL instead of the data directory (keys and tokens stay there):
//! storage = "s3://bucket/prefix"
//! s3-endpoint = "https://s3.example.org"
//! database = "postgres://bintrail@db.example.org/bintrail"
//! advertise-url = "http://fe1.internal:8080"   # where other frontends forward adds
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::storage::{CloudOptions, DEFAULT_LEASE, S3Location};

/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./bintrail-data";
/// Default listen address: loopback only, so a first run is not exposed.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Prefix of the default origin for a key made on first start, when `--origin`
/// is not given; [`default_origin`] appends a digest of the key, so that two logs
/// started on the defaults (a demo started again, two demos) never share a name.
pub const DEFAULT_ORIGIN_PREFIX: &str = "bintrail.localhost/log-";

/// The default origin of a log whose new key has `public_key`:
/// [`DEFAULT_ORIGIN_PREFIX`] and the first 8 hex digits of its SHA-256.
pub fn default_origin(public_key: &[u8; 32]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(public_key);
    format!("{DEFAULT_ORIGIN_PREFIX}{}", hex::encode(&digest[..4]))
}
/// Default time between sequenced batches and published checkpoints.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// Default bound on one object-store request (retries included): a batch whose store is
/// down fails within it with a 503, instead of holding its adds.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on how long an add waits for a checkpoint that covers it.
pub const DEFAULT_ADD_TIMEOUT: Duration = Duration::from_secs(10);
/// Default number of entries sequenced in one batch.
pub const DEFAULT_MAX_BATCH_ENTRIES: usize = 16384;
/// Default bound on entries waiting to be sequenced before adds fail fast with 503.
pub const DEFAULT_MAX_PENDING_ENTRIES: usize = 200_000;
/// Default bound on lines in one `POST /admin/bulk/append` request.
pub const DEFAULT_MAX_BULK_ENTRIES: usize = 100_000;
/// Default time a `POST /add` body may take to arrive: it is at most 16 KiB.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a bulk append body may take to arrive: up to 256 MiB, so a
/// slow but honest link needs minutes.
pub const DEFAULT_BULK_BODY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a response may wait for a client that takes none of it before the connection
/// is closed, unless configured.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors from loading and resolving settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Returned when the config file cannot be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// Returned when the config file is not valid TOML for [`Settings`] (including an
    /// unknown key or a malformed duration or address).
    #[error("config file {path}: {source}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's error, naming the key and position.
        source: toml::de::Error,
    },
    /// Returned when a setting has a value that cannot work (zero sizes, a TLS
    /// certificate without its key, ...).
    #[error("setting {setting}: {reason}")]
    Invalid {
        /// The setting's flag name, without `--`.
        setting: &'static str,
        /// Why the value is refused.
        reason: &'static str,
    },
    /// Returned when `storage` is not an object-storage location (`s3://bucket/prefix`).
    #[error("setting storage: {source}")]
    InvalidStorage {
        /// What is wrong with the location.
        source: crate::storage::StorageError,
    },
}

/// Every setting of `bintrail serve`, each optional; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Data directory: tiles, entry bundles, checkpoint, index, and (when made on
    /// first start) the key pair and tokens. Default `./bintrail-data`.
    pub data: Option<PathBuf>,
    /// Address to listen on. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub listen: Option<SocketAddr>,
    /// The log's origin (its key name). Default: the name of the existing key, or
    /// `bintrail.localhost/log-<8 hex digits of the key's SHA-256>` for a key made
    /// on first start. Must match the key.
    pub origin: Option<String>,
    /// The log's private key in Go's `PRIVATE+KEY+...` format (made by `bintrail
    /// keygen`). Default: `<data>/log.key`, created on first start.
    pub private_key: Option<PathBuf>,
    /// The tokens file (made by `bintrail token add`). Default: `<data>/tokens`,
    /// created with one token on first start. A given file must exist.
    pub tokens: Option<PathBuf>,
    /// How often a batch is sequenced and a checkpoint published. Default `1s`.
    #[serde(default, deserialize_with = "de_duration")]
    pub checkpoint_interval: Option<Duration>,
    /// Entries per sequenced batch. Default 16384.
    pub max_batch_entries: Option<usize>,
    /// Entries waiting to be sequenced beyond which adds get 503. Default 200000.
    pub max_pending_entries: Option<usize>,
    /// How long an add waits for a published checkpoint before 503. Default `10s`.
    #[serde(default, deserialize_with = "de_duration")]
    pub add_timeout: Option<Duration>,
    /// Lines accepted in one bulk append request. Default 100000.
    pub max_bulk_entries: Option<usize>,
    /// How long a `POST /add` body may take to arrive before a 408. Default `10s`.
    #[serde(default, deserialize_with = "de_duration")]
    pub body_timeout: Option<Duration>,
    /// How long a `POST /admin/bulk/append` body may take to arrive before a 408.
    /// Default `5m`: long enough for 256 MiB on a slow link, short enough that a
    /// client trickling bytes cannot hold a connection for ever.
    #[serde(default, deserialize_with = "de_duration")]
    pub bulk_body_timeout: Option<Duration>,
    /// How long a response may wait for a client that takes none of it (a zero HTTP/2
    /// window, an unread socket) before the connection is closed. Default `30s`.
    #[serde(default, deserialize_with = "de_duration")]
    pub send_timeout: Option<Duration>,
    /// PEM certificate chain; serve TLS (with `tls-key`). Default: cleartext.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// A C2SP tlog-policy file whose witness lines carry URLs: checkpoints are published
    /// only once its quorum cosigned them. Default: no witnesses (`quorum none`).
    pub policy: Option<PathBuf>,
    /// A Sigstore `trusted_root.json` to verify attestations in adds against (e.g.
    /// staging's). Default: the public-good root bundled in `bintrail-attest`.
    pub sigstore_trusted_root: Option<PathBuf>,
    /// `s3://BUCKET[/PREFIX]`: keep tiles, entry bundles and checkpoints in an
    /// S3-compatible bucket (with `database`). Default: the data directory.
    pub storage: Option<String>,
    /// The S3 endpoint of a non-AWS store, like `http://127.0.0.1:3900`. Default: the
    /// `AWS_ENDPOINT` environment variable, else AWS.
    pub s3_endpoint: Option<String>,
    /// `postgres://...`: keep the tree state, the uniqueness index and the sequencing
    /// lease in PostgreSQL (with `storage`). Default: the data directory.
    pub database: Option<String>,
    /// The URL other frontends on the same database forward adds to while this one
    /// sequences. Default: `http(s)://` and the bound listen address.
    pub advertise_url: Option<String>,
}

impl Settings {
    /// Reads a TOML config file. Fails on unreadable files, syntax errors, unknown
    /// keys and malformed values, naming the file.
    ///
    /// Relative paths in the file (`data`, `private-key`, `tokens`, `tls-cert`,
    /// `tls-key`, `policy`, `sigstore-trusted-root`) are relative to the file's directory, not to the working
    /// directory, so a config works wherever the server is started from. Paths
    /// given as flags stay relative to the working directory.
    pub fn from_toml_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let settings: Settings = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Ok(settings.relative_to(base))
    }

    /// Joins every relative path setting onto `base`.
    fn relative_to(self, base: &Path) -> Settings {
        let join = |p: Option<PathBuf>| p.map(|p| base.join(p));
        Settings {
            data: join(self.data),
            private_key: join(self.private_key),
            tokens: join(self.tokens),
            tls_cert: join(self.tls_cert),
            tls_key: join(self.tls_key),
            policy: join(self.policy),
            sigstore_trusted_root: join(self.sigstore_trusted_root),
            ..self
        }
    }

    /// Layers `top` over `self`: each setting `top` has replaces this one's.
    pub fn overlay(self, top: Settings) -> Settings {
        Settings {
            data: top.data.or(self.data),
            listen: top.listen.or(self.listen),
            origin: top.origin.or(self.origin),
            private_key: top.private_key.or(self.private_key),
            tokens: top.tokens.or(self.tokens),
            checkpoint_interval: top.checkpoint_interval.or(self.checkpoint_interval),
            max_batch_entries: top.max_batch_entries.or(self.max_batch_entries),
            max_pending_entries: top.max_pending_entries.or(self.max_pending_entries),
            add_timeout: top.add_timeout.or(self.add_timeout),
            max_bulk_entries: top.max_bulk_entries.or(self.max_bulk_entries),
            body_timeout: top.body_timeout.or(self.body_timeout),
            bulk_body_timeout: top.bulk_body_timeout.or(self.bulk_body_timeout),
            send_timeout: top.send_timeout.or(self.send_timeout),
            tls_cert: top.tls_cert.or(self.tls_cert),
            tls_key: top.tls_key.or(self.tls_key),
            policy: top.policy.or(self.policy),
            sigstore_trusted_root: top.sigstore_trusted_root.or(self.sigstore_trusted_root),
            storage: top.storage.or(self.storage),
            s3_endpoint: top.s3_endpoint.or(self.s3_endpoint),
            database: top.database.or(self.database),
            advertise_url: top.advertise_url.or(self.advertise_url),
        }
    }
}

/// TLS certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Resolved settings: defaults applied, values checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// See [`Settings::data`].
    pub data: PathBuf,
    /// See [`Settings::listen`].
    pub listen: SocketAddr,
    /// See [`Settings::origin`]; `None` means "whatever the key says, or the default".
    pub origin: Option<String>,
    /// See [`Settings::private_key`]; `None` means `<data>/log.key`.
    pub private_key: Option<PathBuf>,
    /// See [`Settings::tokens`]; `None` means `<data>/tokens`.
    pub tokens: Option<PathBuf>,
    /// See [`Settings::checkpoint_interval`].
    pub checkpoint_interval: Duration,
    /// See [`Settings::max_batch_entries`].
    pub max_batch_entries: usize,
    /// See [`Settings::max_pending_entries`].
    pub max_pending_entries: usize,
    /// See [`Settings::add_timeout`].
    pub add_timeout: Duration,
    /// See [`Settings::max_bulk_entries`].
    pub max_bulk_entries: usize,
    /// See [`Settings::body_timeout`].
    pub body_timeout: Duration,
    /// See [`Settings::bulk_body_timeout`].
    pub bulk_body_timeout: Duration,
    /// See [`Settings::send_timeout`].
    pub send_timeout: Duration,
    /// Serve TLS with these files; `None` serves cleartext HTTP/1.1 and h2c.
    pub tls: Option<TlsFiles>,
    /// See [`Settings::policy`]; read and checked by the binary, which owns the witnesses.
    pub policy: Option<PathBuf>,
    /// See [`Settings::sigstore_trusted_root`].
    pub sigstore_trusted_root: Option<PathBuf>,
    /// Object storage and PostgreSQL instead of the data directory; `None` for the
    /// embedded default (files and SQLite under `data`).
    pub cloud: Option<CloudOptions>,
}

impl ServeConfig {
    /// Applies defaults and checks values: durations and counts must be non-zero,
    /// `tls-cert` and `tls-key` come together, an origin must be a valid key name.
    #[allow(clippy::expect_used, reason = "valid default listen address")]
    pub fn resolve(s: Settings) -> Result<ServeConfig, ConfigError> {
        let listen = match s.listen {
            Some(addr) => addr,
            // The constant parses: it is a literal IPv4 socket address.
            None => DEFAULT_LISTEN
                .parse()
                .expect("valid default listen address"),
        };
        let tls = match (s.tls_cert, s.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("tls-key", "required with tls-cert")),
            (None, Some(_)) => return Err(invalid("tls-cert", "required with tls-key")),
        };
        if let Some(origin) = &s.origin {
            check_origin(origin)?;
        }
        let cloud = match (s.storage, s.database) {
            (None, None) => {
                if s.s3_endpoint.is_some() {
                    return Err(invalid("s3-endpoint", "needs storage and database"));
                }
                if s.advertise_url.is_some() {
                    return Err(invalid("advertise-url", "needs storage and database"));
                }
                None
            }
            (Some(_), None) => return Err(invalid("database", "required with storage")),
            (None, Some(_)) => return Err(invalid("storage", "required with database")),
            (Some(storage), Some(database)) => {
                let storage: S3Location = storage
                    .parse()
                    .map_err(|source| ConfigError::InvalidStorage { source })?;
                if !(database.starts_with("postgres://") || database.starts_with("postgresql://")) {
                    return Err(invalid(
                        "database",
                        "must be a postgres:// or postgresql:// URL",
                    ));
                }
                Some(CloudOptions {
                    storage,
                    s3_endpoint: s.s3_endpoint,
                    database,
                    lease: DEFAULT_LEASE,
                    request_timeout: DEFAULT_STORE_TIMEOUT,
                    aws: vec![],
                    advertise: match s.advertise_url {
                        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                            url.trim_end_matches('/').to_owned()
                        }
                        Some(_) => {
                            return Err(invalid(
                                "advertise-url",
                                "must be an http:// or https:// URL",
                            ));
                        }
                        None => String::new(),
                    },
                })
            }
        };
        Ok(ServeConfig {
            data: s.data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen,
            origin: s.origin,
            private_key: s.private_key,
            tokens: s.tokens,
            checkpoint_interval: nonzero_duration(
                "checkpoint-interval",
                s.checkpoint_interval,
                DEFAULT_CHECKPOINT_INTERVAL,
            )?,
            max_batch_entries: nonzero(
                "max-batch-entries",
                s.max_batch_entries,
                DEFAULT_MAX_BATCH_ENTRIES,
            )?,
            max_pending_entries: nonzero(
                "max-pending-entries",
                s.max_pending_entries,
                DEFAULT_MAX_PENDING_ENTRIES,
            )?,
            add_timeout: nonzero_duration("add-timeout", s.add_timeout, DEFAULT_ADD_TIMEOUT)?,
            max_bulk_entries: nonzero(
                "max-bulk-entries",
                s.max_bulk_entries,
                DEFAULT_MAX_BULK_ENTRIES,
            )?,
            body_timeout: nonzero_duration("body-timeout", s.body_timeout, DEFAULT_BODY_TIMEOUT)?,
            bulk_body_timeout: nonzero_duration(
                "bulk-body-timeout",
                s.bulk_body_timeout,
                DEFAULT_BULK_BODY_TIMEOUT,
            )?,
            send_timeout: nonzero_duration("send-timeout", s.send_timeout, DEFAULT_SEND_TIMEOUT)?,
            tls,
            policy: s.policy,
            sigstore_trusted_root: s.sigstore_trusted_root,
            cloud,
        })
    }
}

/// Parses a duration written like `500ms`, `1s`, `2m` or `1h 30m` (humantime).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A signed-note key name may not be empty or contain spaces or `+` (C2SP
/// signed-note); checking here gives the error before any file is touched.
fn check_origin(origin: &str) -> Result<(), ConfigError> {
    let bad = origin.is_empty()
        || origin
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(invalid(
            "origin",
            "must be non-empty, without spaces, control characters or '+'",
        ));
    }
    Ok(())
}

fn nonzero(
    setting: &'static str,
    value: Option<usize>,
    default: usize,
) -> Result<usize, ConfigError> {
    match value {
        Some(0) => Err(invalid(setting, "must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

fn nonzero_duration(
    setting: &'static str,
    value: Option<Duration>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        Some(d) if d.is_zero() => Err(invalid(setting, "must be longer than zero")),
        Some(d) => Ok(d),
        None => Ok(default),
    }
}

fn invalid(setting: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::Invalid { setting, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_settings_resolve_to_defaults() {
        let c = ServeConfig::resolve(Settings::default()).unwrap();
        assert_eq!(c.data, PathBuf::from("./bintrail-data"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.checkpoint_interval, Duration::from_secs(1));
        assert_eq!(c.add_timeout, Duration::from_secs(10));
        assert_eq!(c.body_timeout, Duration::from_secs(10));
        assert_eq!(c.bulk_body_timeout, Duration::from_secs(300));
        assert_eq!(c.send_timeout, Duration::from_secs(30));
        assert_eq!(c.tls, None);
        assert_eq!(c.origin, None);
    }

    #[test]
    fn toml_file_with_every_key() {
        let s = parse(
            r#"
            data = "/d"
            listen = "127.0.0.1:0"
            origin = "example.org/log"
            private-key = "/k"
            tokens = "/t"
            checkpoint-interval = "500ms"
            max-batch-entries = 10
            max-pending-entries = 20
            add-timeout = "2m"
            max-bulk-entries = 30
            body-timeout = "3s"
            bulk-body-timeout = "1m"
            tls-cert = "/c"
            tls-key = "/ck"
            "#,
        )
        .unwrap();
        let c = ServeConfig::resolve(s).unwrap();
        assert_eq!(c.checkpoint_interval, Duration::from_millis(500));
        assert_eq!(c.add_timeout, Duration::from_secs(120));
        assert_eq!(c.max_batch_entries, 10);
        assert_eq!(c.max_pending_entries, 20);
        assert_eq!(c.max_bulk_entries, 30);
        assert_eq!(c.body_timeout, Duration::from_secs(3));
        assert_eq!(c.bulk_body_timeout, Duration::from_secs(60));
        assert_eq!(c.origin.as_deref(), Some("example.org/log"));
        assert_eq!(c.tls.unwrap().key, PathBuf::from("/ck"));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = parse("checkpoint_interval = \"1s\"").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn malformed_duration_is_rejected() {
        let err = parse("add-timeout = \"soon\"").unwrap_err();
        assert!(err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn flags_override_file() {
        let file = parse("data = \"/file\"\nadd-timeout = \"3s\"").unwrap();
        let flags = Settings {
            data: Some("/flag".into()),
            ..Settings::default()
        };
        let merged = file.overlay(flags);
        assert_eq!(merged.data, Some(PathBuf::from("/flag")));
        assert_eq!(merged.add_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn tls_needs_both_files() {
        let s = Settings {
            tls_cert: Some("/c".into()),
            ..Settings::default()
        };
        let err = ServeConfig::resolve(s).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                setting: "tls-key",
                ..
            }
        ));
    }

    #[test]
    fn zero_values_are_rejected() {
        let s = Settings {
            max_batch_entries: Some(0),
            ..Settings::default()
        };
        assert!(ServeConfig::resolve(s).is_err());
        let s = Settings {
            checkpoint_interval: Some(Duration::ZERO),
            ..Settings::default()
        };
        assert!(ServeConfig::resolve(s).is_err());
        let s = Settings {
            bulk_body_timeout: Some(Duration::ZERO),
            ..Settings::default()
        };
        assert!(ServeConfig::resolve(s).is_err());
    }

    #[test]
    fn bad_origins_are_rejected() {
        for origin in ["", "a b", "a+b", "a\nb"] {
            let s = Settings {
                origin: Some(origin.into()),
                ..Settings::default()
            };
            let err = ServeConfig::resolve(s).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        setting: "origin",
                        ..
                    }
                ),
                "{origin:?}"
            );
        }
    }
}
