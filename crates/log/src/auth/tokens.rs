//! The tokens file: one `<name> sha256:<hex>` line per publish token, and the
//! operations on it (read, add, revoke). Writes go through a temporary file and a rename,
//! so a reader never sees half a file.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rand::RngCore;

use super::{AuthError, MAX_TOKEN_NAME_LEN, MAX_TOKENS, TOKEN_PREFIX, TokenLineError, digest};

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
        let malformed = |reason| AuthError::Malformed {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        let (name, hash) = line
            .split_once(' ')
            .ok_or_else(|| malformed(TokenLineError::NoSeparator))?;
        validate_token_name(name).map_err(|_| {
            malformed(TokenLineError::InvalidName {
                name: name.to_owned(),
            })
        })?;
        let hex_digest = hash
            .strip_prefix("sha256:")
            .ok_or_else(|| malformed(TokenLineError::NotSha256))?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut digest)
            .map_err(|_| malformed(TokenLineError::BadDigest))?;
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
