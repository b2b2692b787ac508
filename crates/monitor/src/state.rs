//! The monitor's state directory: the last verified checkpoint, the identifier index and fork evidence.
//!
//! Layout (one log per directory):
//! - `checkpoint`: the last checkpoint note that verified (signature, quorum) and was consistent with the
//!   one before it, byte for byte as the log served it. Replaced atomically.
//! - `index.sqlite` (+ WAL files): the identifier index, see [`crate::index`].
//! - `evidence/fork-<old size>-<new size>-<unix seconds>.txt`: both checkpoints of a detected fork.
//!
//! Known limit: the checkpoint file could move into `bintrail-client`'s per-origin state once that
//! offers a state directory the monitor can share; until then this is the monitor's own.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors from the state directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Returned when a file or directory of the state cannot be read, written or synced.
    #[error("state directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A monitor state directory. Only one monitor process should use a directory at a time.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Opens `root`, creating it (mode 0700 on Unix) if absent. Nothing inside is touched.
    pub fn open(root: &Path) -> Result<StateDir, StateError> {
        create_private_dir(root)?;
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the identifier index lives.
    pub fn index_path(&self) -> PathBuf {
        self.root.join("index.sqlite")
    }

    /// The last verified checkpoint note, or `None` before the first verified pass.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.root.join("checkpoint");
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Replaces the stored checkpoint with `note` atomically: a crash leaves either the old or the new
    /// file, never a mix. On error the old file is untouched.
    pub fn save_checkpoint(&self, note: &[u8]) -> Result<(), StateError> {
        write_atomically(&self.root, "checkpoint", note)
    }

    /// Saves the two checkpoints of a fork (and a line of explanation) as evidence and returns the path.
    /// `unix_seconds` is the time of detection; it makes the name unique across detections.
    pub fn save_fork_evidence(
        &self,
        trusted: &[u8],
        conflicting: &[u8],
        explanation: &str,
        sizes: (u64, u64),
        unix_seconds: u64,
    ) -> Result<PathBuf, StateError> {
        let dir = self.root.join("evidence");
        create_private_dir(&dir)?;
        let name = format!("fork-{}-{}-{}.txt", sizes.0, sizes.1, unix_seconds);
        let mut body = Vec::new();
        body.extend_from_slice(b"# bintrail monitor fork evidence\n# ");
        body.extend_from_slice(explanation.replace('\n', " ").as_bytes());
        body.extend_from_slice(b"\n\n## last verified checkpoint\n");
        body.extend_from_slice(trusted);
        body.extend_from_slice(b"\n## conflicting checkpoint\n");
        body.extend_from_slice(conflicting);
        write_atomically(&dir, &name, &body)?;
        Ok(dir.join(name))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

/// Writes `dir/name` by writing a temporary file, syncing it, renaming it over the target and syncing
/// the directory, so the rename itself survives a crash (the sequence Sunlight's durable package uses).
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> Result<(), StateError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, &target).map_err(io_err(&target))?;
    let d = fs::File::open(dir).map_err(io_err(dir))?;
    d.sync_all().map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_is_absent_then_saved_then_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("s")).unwrap();
        assert_eq!(state.checkpoint().unwrap(), None);
        state.save_checkpoint(b"one\n").unwrap();
        assert_eq!(state.checkpoint().unwrap().as_deref(), Some(&b"one\n"[..]));
        state.save_checkpoint(b"two\n").unwrap();
        assert_eq!(state.checkpoint().unwrap().as_deref(), Some(&b"two\n"[..]));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(state.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("checkpoint")]);
    }

    #[cfg(unix)]
    #[test]
    fn state_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(&tmp.path().join("s")).unwrap();
        let mode = fs::metadata(state.root()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn fork_evidence_holds_both_checkpoints() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(tmp.path()).unwrap();
        let path = state
            .save_fork_evidence(
                b"old note\n",
                b"new note\n",
                "roots differ",
                (5, 5),
                1700000000,
            )
            .unwrap();
        assert!(path.ends_with("evidence/fork-5-5-1700000000.txt"));
        let text = fs::read_to_string(path).unwrap();
        assert!(text.contains("old note\n"));
        assert!(text.contains("new note\n"));
        assert!(text.contains("roots differ"));
    }

    #[test]
    fn unwritable_directory_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            StateDir::open(&file.join("sub")),
            Err(StateError::Io { .. })
        ));
    }
}
