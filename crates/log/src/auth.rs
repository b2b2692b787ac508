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

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
        reason: String,
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

/// A freshly generated bearer token: the secret the operator hands to a publisher.
///
/// Its `Debug` prints `Token(<redacted>)`; only [`Token::expose`] reveals it.
pub struct Token(String);

impl Token {
    /// Makes a token from 32 bytes of the caller's randomness (the OS, in the binary).
    pub fn generate(rng: &mut impl RngCore) -> Token {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        Token(format!("{TOKEN_PREFIX}{}", hex::encode(secret)))
    }

    /// The secret itself, to print once for the operator.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest that the tokens file stores for this token.
    pub fn digest(&self) -> [u8; 32] {
        digest(self.0.as_bytes())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// One line of a tokens file: a name and the digest of its token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// The operator's label for the token, logged when it authorizes a write.
    pub name: String,
    /// SHA-256 of the token.
    pub digest: [u8; 32],
}

impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not the secret, but there is no reason to spread it either.
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Checks that `name` is a valid token name (see [`AuthError::InvalidName`]).
pub fn validate_token_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TOKEN_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Parses the text of a tokens file. `path` only names the file in errors.
///
/// Returns every entry in file order, or the first problem: a malformed line, an
/// invalid or repeated name, or more than [`MAX_TOKENS`] entries.
pub fn parse_tokens(path: &Path, text: &str) -> Result<Vec<TokenEntry>, AuthError> {
    let mut entries: Vec<TokenEntry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let malformed = |reason: &str| AuthError::Malformed {
            path: path.to_owned(),
            line: i + 1,
            reason: reason.to_owned(),
        };
        let (name, hash) = line
            .split_once(' ')
            .ok_or_else(|| malformed("expected `<name> sha256:<hex>`"))?;
        validate_token_name(name).map_err(|e| malformed(&e.to_string()))?;
        let hex_digest = hash
            .strip_prefix("sha256:")
            .ok_or_else(|| malformed("the digest must start with `sha256:`"))?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut digest)
            .map_err(|_| malformed("the digest must be 64 hex digits"))?;
        if entries.iter().any(|e| e.name == name) {
            return Err(AuthError::DuplicateName {
                path: path.to_owned(),
                name: name.to_owned(),
            });
        }
        if entries.len() == MAX_TOKENS {
            return Err(AuthError::TooMany {
                path: path.to_owned(),
            });
        }
        entries.push(TokenEntry {
            name: name.to_owned(),
            digest,
        });
    }
    Ok(entries)
}

/// Reads and parses a tokens file (see [`parse_tokens`]).
pub fn read_tokens(path: &Path) -> Result<Vec<TokenEntry>, AuthError> {
    let text = fs::read_to_string(path).map_err(|source| AuthError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_tokens(path, &text)
}

/// Generates a token named `name` and appends its digest to the tokens file at `path`,
/// creating the file with mode 0600 when absent. Returns the token, which exists
/// nowhere else: the caller must show it to the operator now.
///
/// Fails, leaving the file untouched, when the name is invalid or taken or the
/// existing file is malformed. Two processes adding at the same instant are not
/// serialized against each other; run one `token add` at a time.
pub fn add_token(path: &Path, name: &str, rng: &mut impl RngCore) -> Result<Token, AuthError> {
    validate_token_name(name)?;
    let io_err = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    let existing = match fs::read_to_string(path) {
        Ok(text) => parse_tokens(path, &text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(e)),
    };
    if existing.iter().any(|e| e.name == name) {
        return Err(AuthError::DuplicateName {
            path: path.to_owned(),
            name: name.to_owned(),
        });
    }
    if existing.len() >= MAX_TOKENS {
        return Err(AuthError::TooMany {
            path: path.to_owned(),
        });
    }
    let token = Token::generate(rng);
    let line = format!("{name} sha256:{}\n", hex::encode(token.digest()));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err)?;
    file.write_all(line.as_bytes()).map_err(io_err)?;
    // The token is about to be shown once and never again: make sure the file
    // that makes it valid survives a crash before the caller prints it.
    file.sync_all().map_err(io_err)?;
    Ok(token)
}

/// Removes the token named `name` from the tokens file at `path` (comments and
/// other lines kept as they are). The file is replaced atomically (a 0600
/// temporary file renamed over it), so a running server, which rereads the file
/// when it changes, never sees half of it; from then on the token authorizes
/// nothing. Errors: [`AuthError::UnknownName`] when no token has that name, and
/// those of [`read_tokens`].
pub fn revoke_token(path: &Path, name: &str) -> Result<(), AuthError> {
    let io_err = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    let text = fs::read_to_string(path).map_err(io_err)?;
    let entries = parse_tokens(path, &text)?;
    if !entries.iter().any(|e| e.name == name) {
        return Err(AuthError::UnknownName {
            path: path.to_owned(),
            name: name.to_owned(),
        });
    }
    let kept: String = text
        .lines()
        .filter(|line| line.trim().split_once(' ').map(|(n, _)| n) != Some(name))
        .map(|line| format!("{line}\n"))
        .collect();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.revoke-{}",
        path.file_name()
            .map_or("tokens".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(kept.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn rng() -> rand::rngs::StdRng {
        use rand::SeedableRng;
        rand::rngs::StdRng::seed_from_u64(7)
    }

    /// A token added to the file works at once; one removed from it stops working within
    /// RECHECK, although accepted tokens no longer stat the file on every request.
    #[test]
    fn added_tokens_work_at_once_and_removed_ones_stop_within_the_recheck_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let first = add_token(&path, "first", &mut rng()).unwrap();
        let auth = Authenticator::open(&path).unwrap();
        assert_eq!(
            auth.authenticate(first.expose().as_bytes()).as_deref(),
            Some("first")
        );
        let mut other = {
            use rand::SeedableRng;
            rand::rngs::StdRng::seed_from_u64(8)
        };
        let second = add_token(&path, "second", &mut other).unwrap();
        assert_eq!(
            auth.authenticate(second.expose().as_bytes()).as_deref(),
            Some("second")
        );
        // Remove `first` (keep only the line of `second`).
        let text = fs::read_to_string(&path).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| l.starts_with("second "))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(&path, kept).unwrap();
        std::thread::sleep(RECHECK + Duration::from_millis(100));
        assert_eq!(auth.authenticate(first.expose().as_bytes()), None);
        assert_eq!(
            auth.authenticate(second.expose().as_bytes()).as_deref(),
            Some("second")
        );
    }

    #[test]
    fn add_then_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let token = add_token(&path, "pypi", &mut rng()).unwrap();
        assert!(token.expose().starts_with("bintrail_"));
        assert_eq!(token.expose().len(), 9 + 64);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(token.expose()),
            "the file must not hold the token"
        );
        let auth = Authenticator::open(&path).unwrap();
        assert_eq!(
            auth.authenticate(token.expose().as_bytes()).as_deref(),
            Some("pypi")
        );
        assert_eq!(auth.authenticate(b"bintrail_00"), None);
    }

    #[test]
    fn duplicate_name_is_refused_and_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        add_token(&path, "a", &mut rng()).unwrap();
        let before = fs::read(&path).unwrap();
        let err = add_token(&path, "a", &mut rng()).unwrap_err();
        assert!(matches!(err, AuthError::DuplicateName { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn invalid_names_are_refused() {
        for name in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            let err = validate_token_name(name).unwrap_err();
            assert!(matches!(err, AuthError::InvalidName { .. }), "{name:?}");
        }
        validate_token_name("ci-upload_2.prod").unwrap();
    }

    #[test]
    fn second_token_is_picked_up_without_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let first = add_token(&path, "first", &mut rng()).unwrap();
        let auth = Authenticator::open(&path).unwrap();
        // Different content length guarantees a different stamp even within one mtime tick.
        let second = add_token(&path, "second", &mut rand::rngs::OsRng).unwrap();
        assert_eq!(
            auth.authenticate(second.expose().as_bytes()).as_deref(),
            Some("second")
        );
        assert_eq!(
            auth.authenticate(first.expose().as_bytes()).as_deref(),
            Some("first")
        );
        assert_eq!(auth.len(), 2);
    }

    #[test]
    fn issue_19_broken_reload_refuses_every_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let token = add_token(&path, "keep", &mut rng()).unwrap();
        let auth = Authenticator::open(&path).unwrap();
        let good = fs::read(&path).unwrap();
        for broken in [
            b"garbage line without digest that is longer\n".to_vec(),
            [b"\xef\xbb\xbf".as_slice(), &good].concat(),
            good.iter()
                .map(|&b| if b == b' ' { b'\t' } else { b })
                .collect(),
        ] {
            fs::write(&path, &broken).unwrap();
            recheck_now(&auth);
            assert_eq!(auth.authenticate(token.expose().as_bytes()), None);
            assert!(auth.is_unusable());
            fs::write(&path, &good).unwrap();
            assert_eq!(
                auth.authenticate(token.expose().as_bytes()).as_deref(),
                Some("keep"),
                "a fixed file is picked up again"
            );
            assert!(!auth.is_unusable());
        }
        fs::remove_file(&path).unwrap();
        recheck_now(&auth);
        assert_eq!(auth.authenticate(token.expose().as_bytes()), None);
        assert!(auth.is_unusable());
    }

    /// Makes the next accepted token recheck the file, as [`RECHECK`] later would.
    fn recheck_now(auth: &Authenticator) {
        let mut checked = auth.checked.lock().unwrap();
        *checked = Instant::now().checked_sub(RECHECK).unwrap_or(*checked);
    }

    #[test]
    fn malformed_lines_are_reported_with_line_numbers() {
        let p = Path::new("t");
        let cases = [
            ("noname\n", 1),
            ("# c\n\nx sha1:00\n", 3),
            ("x sha256:zz\n", 1),
            ("bad/name sha256:00\n", 1),
        ];
        for (text, line) in cases {
            match parse_tokens(p, text) {
                Err(AuthError::Malformed { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bear"), None);
        let long = [b"Bearer ".as_slice(), &[b'a'; MAX_TOKEN_LEN + 1]].concat();
        assert_eq!(bearer_token(&long), None);
    }

    #[test]
    fn token_debug_is_redacted() {
        let token = Token::generate(&mut rng());
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }

    // Issue 8: a property run over the Authorization header parser.
    proptest::proptest! {
        #[test]
        fn bearer_token_takes_any_header(header in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Some(token) = bearer_token(&header) {
                // A token is what follows the scheme, trimmed, never empty.
                proptest::prop_assert!(header.len() > 7);
                proptest::prop_assert!(header[..7].eq_ignore_ascii_case(b"bearer "));
                proptest::prop_assert!(!token.is_empty());
                proptest::prop_assert_eq!(token, header[7..].trim_ascii());
            }
        }
    }
}
