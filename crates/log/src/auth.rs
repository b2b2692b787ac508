//! Publish tokens: the bearer secrets that authorize writes to the log.
//!
//! The server never stores a token, only its SHA-256 digest. The tokens file has one
//! line per token, `<name> sha256:<64 lowercase hex>`; blank lines and lines starting
//! with `#` are ignored. A leaked tokens file therefore does not let anyone publish.
//!
//! [`Authenticator`] checks `Authorization: Bearer <token>` by hashing the presented
//! token and comparing it in constant time (`subtle`) against every stored digest, so
//! the time taken does not reveal which digest, or how much of one, matched. It notices
//! changes to the file (size or modification time) and reloads it, so `bintrail token
//! add` takes effect on a running server without a restart.
//!
//! Nothing in this module logs or formats a token; [`Token`] deliberately has no
//! `Debug` that shows the secret.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[cfg(test)]
mod tests;
mod tokens;

pub use tokens::{
    Token, TokenEntry, add_token, parse_tokens, read_tokens, revoke_token, validate_token_name,
};

/// The longest token name accepted, in bytes.
pub const MAX_TOKEN_NAME_LEN: usize = 64;

/// The longest bearer token the server will hash; real tokens are 67 bytes. Bounding
/// it keeps a hostile header from costing more than one small hash.
pub const MAX_TOKEN_LEN: usize = 256;

/// The most tokens one file may hold: each request compares against all of them.
pub const MAX_TOKENS: usize = 10_000;

/// The prefix of every token, so secret scanners and humans can recognize one.
const TOKEN_PREFIX: &str = "bintrail_";

/// Errors from reading, writing and checking tokens files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Returned when the tokens file cannot be read, created or written.
    #[error("tokens file {path}: {source}")]
    Io {
        /// The tokens file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// Returned when a line of the tokens file is not `<name> sha256:<hex>`.
    #[error("tokens file {path} line {line}: {reason}")]
    Malformed {
        /// The tokens file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: TokenLineError,
    },
    /// Returned when a token name is empty, too long, or has characters outside
    /// `A-Z a-z 0-9 . _ -`.
    #[error(
        "invalid token name {name:?}: use 1 to {MAX_TOKEN_NAME_LEN} characters from A-Z a-z 0-9 . _ -"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// Returned when adding a token whose name the file already holds.
    #[error("tokens file {path} already has a token named {name:?}")]
    DuplicateName {
        /// The tokens file.
        path: PathBuf,
        /// The name that is taken.
        name: String,
    },
    /// Returned when revoking a name the tokens file does not hold.
    #[error("tokens file {path} has no token named {name:?}")]
    UnknownName {
        /// The tokens file.
        path: PathBuf,
        /// The name asked for.
        name: String,
    },
    /// Returned when the file holds more than [`MAX_TOKENS`] tokens.
    #[error("tokens file {path} holds more than {MAX_TOKENS} tokens")]
    TooMany {
        /// The tokens file.
        path: PathBuf,
    },
}

/// What is wrong with a line of the tokens file ([`AuthError::Malformed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenLineError {
    /// Returned when the line has no space between the name and the digest.
    #[error("expected `<name> sha256:<hex>`")]
    NoSeparator,
    /// Returned when the name is empty, too long, or has characters outside
    /// `A-Z a-z 0-9 . _ -`.
    #[error(
        "invalid token name {name:?}: use 1 to {MAX_TOKEN_NAME_LEN} characters from A-Z a-z 0-9 . _ -"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// Returned when the digest does not start with `sha256:`.
    #[error("the digest must start with `sha256:`")]
    NotSha256,
    /// Returned when the digest is not 64 hex digits.
    #[error("the digest must be 64 hex digits")]
    BadDigest,
}

/// Extracts the token from an `Authorization` header value of the form
/// `Bearer <token>` (scheme case-insensitive, RFC 9110 section 11.1). Returns `None`
/// for any other shape, or a token longer than [`MAX_TOKEN_LEN`].
pub fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    Some(token)
}

/// Checks bearer tokens against a tokens file, reloading it when it changes.
///
/// Shared by all request handlers; the lock guards the loaded entries and the file
/// stamp they were loaded from. Reads take the read lock; only a reload writes.
#[derive(Debug)]
pub struct Authenticator {
    path: PathBuf,
    state: RwLock<Loaded>,
    /// When the file's stamp was last compared, so a busy server stats it at most once
    /// per [`RECHECK`] when tokens are accepted (a statx per request was measurable).
    checked: Mutex<Instant>,
}

/// How often an accepted token causes a check of the tokens file for changes: a token
/// removed from the file stops working within this long. A token that does not match
/// always causes a check, so a token added to the file works at once.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    entries: Vec<TokenEntry>,
    /// The last reload failed (file missing, unreadable or malformed): `entries` is
    /// empty, so every write is refused until the file is fixed (fail closed).
    unusable: bool,
}

impl Authenticator {
    /// Loads the tokens file at `path`. Fails when it cannot be read or is malformed:
    /// a server that cannot tell who may publish must not start.
    pub fn open(path: &Path) -> Result<Authenticator, AuthError> {
        let stamp = file_stamp(path);
        let entries = read_tokens(path)?;
        Ok(Authenticator {
            path: path.to_owned(),
            state: RwLock::new(Loaded {
                stamp,
                entries,
                unusable: false,
            }),
            checked: Mutex::new(Instant::now()),
        })
    }

    /// The tokens file this authenticator watches.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of tokens currently loaded.
    pub fn len(&self) -> usize {
        self.read_state().entries.len()
    }

    /// Whether no token is loaded (then every write is refused).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the tokens file could not be used at its last reload (deleted,
    /// unreadable or malformed): then no token is accepted until it is fixed.
    pub fn is_unusable(&self) -> bool {
        self.read_state().unusable
    }

    /// Returns the name of the token that `token` is, or `None`.
    ///
    /// Compares the digest against every stored digest in constant time and without
    /// an early exit. Reloads the file when its size or mtime changed, checking that
    /// before every refusal and at most once per second otherwise. A reload that fails
    /// (the file deleted, unreadable or malformed, which would also stop a restart)
    /// drops every token: revocation fails closed (issue 19, finding H4). The error is
    /// logged, never a token; [`Authenticator::is_unusable`] tells callers why.
    pub fn authenticate(&self, token: &[u8]) -> Option<String> {
        let presented = digest(token);
        if self.recheck_due() {
            self.reload_if_changed();
        } else if let Some(name) = self.find(&presented) {
            return Some(name);
        } else {
            // Maybe a token added since the last check.
            self.reload_if_changed();
        }
        self.find(&presented)
    }

    fn find(&self, presented: &[u8; 32]) -> Option<String> {
        let state = self.read_state();
        let mut found: Option<&TokenEntry> = None;
        for entry in &state.entries {
            let equal: bool = entry.digest.ct_eq(presented).into();
            if equal && found.is_none() {
                found = Some(entry);
            }
        }
        found.map(|e| e.name.clone())
    }

    /// True (and the clock restarted) when the file was last compared [`RECHECK`] ago.
    fn recheck_due(&self) -> bool {
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.elapsed() < RECHECK {
            return false;
        }
        *checked = Instant::now();
        true
    }

    /// Reloads the tokens file when its stamp changed: the one place the loaded
    /// tokens are replaced after [`Authenticator::open`].
    fn reload_if_changed(&self) {
        let stamp = file_stamp(&self.path);
        if stamp == self.read_state().stamp {
            return;
        }
        let loaded = read_tokens(&self.path);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Ok(entries) => {
                *state = Loaded {
                    stamp,
                    entries,
                    unusable: false,
                };
                tracing::info!(path = %self.path.display(), tokens = state.entries.len(), "reloaded tokens file");
            }
            Err(err) => {
                // The stamp is remembered so a broken file is reported once, not per
                // request; fixing the file changes the stamp and reloads it.
                *state = Loaded {
                    stamp,
                    entries: Vec::new(),
                    unusable: true,
                };
                tracing::error!(%err, "the tokens file cannot be used: every write is refused until it is fixed");
            }
        }
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        // A panic while holding the lock cannot leave `Loaded` half-written (it is
        // replaced whole), so a poisoned lock is still safe to read.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
