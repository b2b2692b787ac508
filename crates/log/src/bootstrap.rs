//! First start: what `bintrail serve` creates when run with no key or tokens file.
//!
//! In the data directory it keeps `log.key` (the private key, 0600), `log.vkey`
//! (the public key), `tokens` (token digests, 0600) and `publish-token` (the one
//! token made on first start, 0600, so the operator can read it once with `cat`).
//! A restart finds them and reuses them; nothing existing is ever replaced, and
//! the token itself is never printed.
//!
//! Keys and tokens given explicitly (`--private-key`, `--tokens`) must exist:
//! bintrail does not guess where an operator meant to keep them.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use bintrail_tlog::note::{KeyType, Signer};
use rand::RngCore;

use crate::auth::{AuthError, add_token};
use crate::config::{DEFAULT_ORIGIN_PREFIX, ServeConfig, default_origin};
use crate::keys::{KeyFileError, generate_signer, read_signer, write_key_pair, write_new};

/// File name of the private key made on first start, inside the data directory.
pub const KEY_FILE: &str = "log.key";
/// File name of the public key made on first start.
pub const VKEY_FILE: &str = "log.vkey";
/// File name of the tokens file made on first start.
pub const TOKENS_FILE: &str = "tokens";
/// File name of the token made on first start (the secret itself, mode 0600).
pub const TOKEN_FILE: &str = "publish-token";
/// The name under which the first-start token is recorded in the tokens file.
pub const FIRST_TOKEN_NAME: &str = "first-start";

/// Errors preparing keys and tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// Returned when the data directory cannot be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// Returned when a key file cannot be read or written.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// Returned when the tokens file cannot be read or written.
    #[error(transparent)]
    Tokens(#[from] AuthError),
    /// Returned when `--origin` differs from the key's name: serving another origin
    /// with this key (or this data) would start a different log.
    #[error("origin {configured:?} does not match the key's name {key_name:?} in {key_path}")]
    OriginMismatch {
        /// The configured origin.
        configured: String,
        /// The name in the key.
        key_name: String,
        /// The key file.
        key_path: PathBuf,
    },
    /// Returned when the data directory path exists but is not a directory.
    #[error(
        "--data {0} is a file, not a directory: pass the directory the log keeps its data in (it is created if missing)"
    )]
    DataNotDirectory(PathBuf),
    /// Returned when the data directory holds another log than the key signs for:
    /// its checkpoints are for another origin.
    #[error(
        "the data directory {data} holds the log {holds:?}, but the key {key_path} is {key_name:?}: \
         start it with that log's key, or use another --data directory for a new log"
    )]
    WrongLog {
        /// The data directory.
        data: PathBuf,
        /// The origin of the directory's checkpoint.
        holds: String,
        /// The key file.
        key_path: PathBuf,
        /// The key's name.
        key_name: String,
    },
    /// Returned when the data directory's checkpoints are for the key's origin but
    /// another key signed them: a log of the same name with another key.
    #[error(
        "the data directory {data} holds the log {holds:?}, but the key {key_path} is {key_name:?} \
         (the same name, but another key signed its checkpoints): \
         start it with that log's key, or use another --data directory for a new log"
    )]
    WrongKey {
        /// The data directory.
        data: PathBuf,
        /// The origin of the directory's checkpoint (the key's name too).
        holds: String,
        /// The key file.
        key_path: PathBuf,
        /// The key's name.
        key_name: String,
    },
    /// Returned when an explicitly given tokens file does not exist.
    #[error(
        "tokens file {0} does not exist; create it with `bintrail token add --tokens {0} NAME`"
    )]
    MissingTokens(PathBuf),
}

/// The key and tokens a server runs with, and what this start created.
#[derive(Debug)]
pub struct Prepared {
    /// The log's signer; its name is the origin.
    pub signer: Signer,
    /// Where the private key is.
    pub key_path: PathBuf,
    /// The tokens file the server reads.
    pub tokens_path: PathBuf,
    /// Set when this start made the key pair (first start).
    pub created_key: bool,
    /// Set when this start made a token: the file that holds it.
    pub created_token: Option<PathBuf>,
}

/// Creates the data directory (0700) and, when not given, the key pair and the
/// first token; otherwise loads what exists. See the module docs for the files.
pub fn prepare(config: &ServeConfig, rng: &mut impl RngCore) -> Result<Prepared, BootstrapError> {
    if config.data.exists() && !config.data.is_dir() {
        return Err(BootstrapError::DataNotDirectory(config.data.clone()));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data)
        .map_err(|source| BootstrapError::DataDir {
            path: config.data.clone(),
            source,
        })?;
    let (signer, key_path, created_key) = prepare_key(config, rng)?;
    if let Some(origin) = &config.origin
        && origin != signer.name()
    {
        return Err(BootstrapError::OriginMismatch {
            configured: origin.clone(),
            key_name: signer.name().to_owned(),
            key_path,
        });
    }
    check_data_matches_key(config, &signer, &key_path)?;
    let (tokens_path, created_token) = prepare_tokens(config, rng)?;
    Ok(Prepared {
        signer,
        key_path,
        tokens_path,
        created_key,
        created_token,
    })
}

fn prepare_key(
    config: &ServeConfig,
    rng: &mut impl RngCore,
) -> Result<(Signer, PathBuf, bool), BootstrapError> {
    if let Some(path) = &config.private_key {
        return Ok((read_signer(path)?, path.clone(), false));
    }
    let path = config.data.join(KEY_FILE);
    if path.exists() {
        return Ok((read_signer(&path)?, path, false));
    }
    let signer = match &config.origin {
        Some(origin) => generate_signer(origin, KeyType::Ed25519, rng)?,
        None => {
            // The name depends on the public key: derive it from the seed, then
            // make the key under that name from the same seed.
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let named = |name: &str| {
                Signer::generate(name, KeyType::Ed25519, seed).map_err(|source| KeyFileError::Key {
                    path: path.clone(),
                    source,
                })
            };
            let public_key = *named(DEFAULT_ORIGIN_PREFIX)?.verifier().public_key();
            let signer = named(&default_origin(&public_key));
            seed.fill(0);
            signer?
        }
    };
    write_key_pair(&signer, &path, &config.data.join(VKEY_FILE))?;
    Ok((signer, path, true))
}

/// Refuses a key that does not sign the log the data directory holds, naming both,
/// before the log's own recovery would fail with a bare signature error.
fn check_data_matches_key(
    config: &ServeConfig,
    signer: &Signer,
    key_path: &std::path::Path,
) -> Result<(), BootstrapError> {
    let Some(bytes) = ["sequenced-checkpoint", "checkpoint"]
        .iter()
        .find_map(|name| fs::read(config.data.join(name)).ok())
    else {
        return Ok(());
    };
    let Ok(note) = bintrail_tlog::note::Note::parse(&bytes) else {
        return Ok(()); // recovery reports a damaged checkpoint in full
    };
    let holds = note.text.lines().next().unwrap_or_default().to_owned();
    let (data, key_path, key_name) = (
        config.data.clone(),
        key_path.to_owned(),
        signer.name().to_owned(),
    );
    if holds != signer.name() {
        Err(BootstrapError::WrongLog {
            data,
            holds,
            key_path,
            key_name,
        })
    } else if note.verify(&[signer.verifier()]).is_err() {
        Err(BootstrapError::WrongKey {
            data,
            holds,
            key_path,
            key_name,
        })
    } else {
        Ok(())
    }
}

fn prepare_tokens(
    config: &ServeConfig,
    rng: &mut impl RngCore,
) -> Result<(PathBuf, Option<PathBuf>), BootstrapError> {
    if let Some(path) = &config.tokens {
        if !path.exists() {
            return Err(BootstrapError::MissingTokens(path.clone()));
        }
        return Ok((path.clone(), None));
    }
    let tokens = config.data.join(TOKENS_FILE);
    if tokens.exists() {
        return Ok((tokens, None));
    }
    let token_file = config.data.join(TOKEN_FILE);
    let token = add_token(&tokens, FIRST_TOKEN_NAME, rng).inspect_err(|_| {
        // The file did not exist: an empty one left by a failed write (a full
        // disk) would hold no token, and nobody could ever write (finding L6).
        let _ = fs::remove_file(&tokens);
    })?;
    if let Err(err) = write_new(
        &token_file,
        format!("{}\n", token.expose()).as_bytes(),
        0o600,
    ) {
        // Without the token file nobody can learn the token; start over next time.
        let _ = fs::remove_file(&tokens);
        return Err(err.into());
    }
    Ok((tokens, Some(token_file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use rand::SeedableRng;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn config(dir: &Path) -> ServeConfig {
        ServeConfig::resolve(Settings {
            data: Some(dir.join("data")),
            ..Settings::default()
        })
        .unwrap()
    }

    #[test]
    fn first_start_creates_then_restart_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let first = prepare(&cfg, &mut rng).unwrap();
        assert!(first.created_key);
        assert_eq!(
            first.signer.name(),
            default_origin(first.signer.verifier().public_key())
        );
        assert!(first.signer.name().starts_with(DEFAULT_ORIGIN_PREFIX));
        let token_file = first.created_token.clone().unwrap();
        for f in [KEY_FILE, TOKENS_FILE, TOKEN_FILE] {
            let mode = fs::metadata(cfg.data.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        let token = fs::read_to_string(&token_file).unwrap();
        let second = prepare(&cfg, &mut rng).unwrap();
        assert!(!second.created_key);
        assert_eq!(second.created_token, None);
        assert_eq!(
            second.signer.verifier().to_string(),
            first.signer.verifier().to_string()
        );
        assert_eq!(fs::read_to_string(&token_file).unwrap(), token);
    }

    #[test]
    fn origin_must_match_the_existing_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        prepare(&cfg, &mut rng).unwrap();
        cfg.origin = Some("other.example/log".into());
        let err = prepare(&cfg, &mut rng).unwrap_err();
        assert!(
            matches!(err, BootstrapError::OriginMismatch { .. }),
            "{err}"
        );
    }

    #[test]
    fn given_tokens_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.tokens = Some(dir.path().join("nope"));
        let err = prepare(&cfg, &mut rand::rngs::StdRng::seed_from_u64(5)).unwrap_err();
        assert!(matches!(err, BootstrapError::MissingTokens(_)), "{err}");
    }
}
