//! Key files: writing a new signed-note key pair and reading a private key back.
//!
//! The private key file holds Go's `PRIVATE+KEY+<name>+<id>+<base64>` text with no
//! trailing newline, exactly what x/mod's `note.NewSigner` (and so bt-log's
//! `--private-key`) reads. The public key file holds the vkey and a newline.
//! Private keys are created exclusively with mode 0600 and never overwritten
//! (sunlight-keygen's rule: a replaced key would fork the log).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bintrail_tlog::note::{KeyType, NoteError, Signer};
use rand::RngCore;

/// Errors from key files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Returned when a key file to be written already exists; nothing was written.
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Returned when a key file cannot be read, created or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying failure.
        source: io::Error,
    },
    /// Returned when the key name is invalid or the file does not hold a private key
    /// in Go's format. The message never contains key material.
    #[error("key file {path}: {source}")]
    Key {
        /// The file (or the name, when generating).
        path: PathBuf,
        /// What is wrong.
        source: NoteError,
    },
}

/// Makes a new Ed25519 key named `name` from 32 bytes of the caller's randomness
/// (the OS in the binary). `key_type` is [`KeyType::Ed25519`] for a log,
/// [`KeyType::CosignatureV1`] for a witness.
pub fn generate_signer(
    name: &str,
    key_type: KeyType,
    rng: &mut impl RngCore,
) -> Result<Signer, KeyFileError> {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let signer = Signer::generate(name, key_type, seed).map_err(|source| KeyFileError::Key {
        path: PathBuf::from(name),
        source,
    })?;
    seed.fill(0);
    Ok(signer)
}

/// Writes `signer`'s private key (mode 0600) and its vkey plus a newline.
///
/// Refuses with [`KeyFileError::Exists`] when either file exists, checked before
/// anything is written; both are created exclusively, and if the public key cannot
/// be written the new private key file is removed again, so a failure leaves no
/// half pair behind. Both files are synced before returning.
pub fn write_key_pair(
    signer: &Signer,
    private_path: &Path,
    public_path: &Path,
) -> Result<(), KeyFileError> {
    for path in [private_path, public_path] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(KeyFileError::Exists {
                path: path.to_owned(),
            });
        }
    }
    write_new(private_path, signer.to_private_key().as_bytes(), 0o600)?;
    let vkey = format!("{}\n", signer.verifier());
    if let Err(err) = write_new(public_path, vkey.as_bytes(), 0o644) {
        let _ = fs::remove_file(private_path);
        return Err(err);
    }
    Ok(())
}

/// Reads a private key file written by [`write_key_pair`], Go's `note` tools or
/// bt-log's `gen-key` (surrounding whitespace is ignored). Warns when the file is
/// readable by group or others.
pub fn read_signer(path: &Path) -> Result<Signer, KeyFileError> {
    let io_err = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_err)?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "private key file is readable by other users; chmod 600 it");
    }
    let text = fs::read_to_string(path).map_err(io_err)?;
    Signer::from_private_key(text.trim()).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

/// Creates `path` with `mode` holding exactly `data`, durably, and only if it does not
/// exist yet. The bytes go to a temporary file in the same directory first, which is synced
/// and then hard-linked to `path` (a link never replaces an existing file), so `path` either
/// does not exist or is complete, even after a crash or on a full disk: a half-written key
/// or tokens file would be refused on every later start (finding L6). A crash can leave the
/// temporary file behind (`.<name>.partial-<pid>-<nanos>`), which nothing reads.
pub(crate) fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), KeyFileError> {
    let io_err = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        return Err(KeyFileError::Exists {
            path: path.to_owned(),
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| io_err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temp = path.with_file_name(format!(
        ".{}.partial-{}-{nanos}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut file| file.write_all(data).and_then(|()| file.sync_all()))
        .and_then(|()| fs::hard_link(&temp, path));
    // The temporary name is ours (created exclusively) whatever happened.
    let _ = fs::remove_file(&temp);
    match written {
        Ok(()) => {}
        Err(source) if source.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyFileError::Exists {
                path: path.to_owned(),
            });
        }
        Err(source) => return Err(io_err(source)),
    }
    // The new name must survive a crash too.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// `write_new` makes the file complete with its mode, refuses an existing one without
    /// touching it, and leaves no temporary file either way.
    #[test]
    fn write_new_is_complete_exclusive_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        write_new(&path, b"first\n", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first\n");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = write_new(&path, b"second\n", 0o600);
        assert!(
            matches!(again, Err(KeyFileError::Exists { .. })),
            "{again:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"first\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("tokens")]);
    }

    #[test]
    fn key_pair_round_trips_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("k"), dir.path().join("k.pub"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let signer = generate_signer("example.org/log", KeyType::Ed25519, &mut rng).unwrap();
        write_key_pair(&signer, &private, &public).unwrap();
        assert_eq!(
            fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let text = fs::read_to_string(&private).unwrap();
        assert!(text.starts_with("PRIVATE+KEY+example.org/log+") && !text.ends_with('\n'));
        let vkey = fs::read_to_string(&public).unwrap();
        assert_eq!(vkey, format!("{}\n", signer.verifier()));
        let back = read_signer(&private).unwrap();
        assert_eq!(back.verifier().to_string(), signer.verifier().to_string());
    }

    #[test]
    fn existing_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("k"), dir.path().join("k.pub"));
        fs::write(&public, "keep").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let signer = generate_signer("a", KeyType::Ed25519, &mut rng).unwrap();
        let err = write_key_pair(&signer, &private, &public).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err}");
        assert!(!private.exists(), "no half pair");
        assert_eq!(fs::read_to_string(&public).unwrap(), "keep");
    }

    #[test]
    fn garbage_key_file_is_an_error_without_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, "PRIVATE+KEY+x+00000000+c2VjcmV0").unwrap();
        let err = read_signer(&path).unwrap_err().to_string();
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }
}
