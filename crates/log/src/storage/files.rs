//! Durable file writes: the syscall sequences that make a write survive a crash.
//!
//! A file's data is durable after `fsync` on the file; its name is durable only after
//! `fsync` on the directory that holds it (and, for a directory created on the way, on that
//! directory's parent). Linux ext4 and xfs follow this; a filesystem that does not honour
//! `fsync` voids every promise made here.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::StorageError;

/// How many threads fsync a batch's files at once. Journaling filesystems merge concurrent
/// fsyncs into one journal commit, so a few in flight cost about as much as one.
const SYNC_THREADS: usize = 8;

/// Writes each `(path, data)` (creating missing directories below `root`), then makes all
/// of them durable: file data, the names of new files and the names of new directories.
pub(crate) fn write_files_durably(
    root: &Path,
    files: &[(PathBuf, &[u8])],
) -> Result<(), StorageError> {
    let mut dirs = BTreeSet::new();
    for (path, _) in files {
        create_parent_dirs(root, path, &mut dirs)?;
    }
    let chunk = files.len().div_ceil(SYNC_THREADS).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|(p, d)| write_synced(p, d))))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(io_error("write", Path::new("(worker)"), panicked())))
        })
    })?;
    dirs.iter().try_for_each(|d| sync_dir(d))
}

/// Replaces `path` atomically: write a temporary file beside it, fsync it, rename it over
/// `path`, fsync the directory. A crash leaves either the old content or the new one.
pub(crate) fn replace_file_atomically(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    write_synced(&tmp, data)?;
    fs::rename(&tmp, path).map_err(|e| io_error("rename", path, e))?;
    sync_dir(dir)
}

/// Reads a whole file, or `None` if it does not exist.
pub(crate) fn read_file(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// Reads a whole file of at most `max` bytes only if that cannot block on the disk:
/// `Some(Ok(Some(data)))` when the page cache held all of it, `Some(Ok(None))` when the file
/// does not exist, and `None` when the caller must read it on a blocking thread (part of it
/// is not cached, it is larger than `max`, or anything unexpected happened; the blocking
/// read then reports the error). Opening the file may still wait for its directory entry,
/// which recently served or written tiles keep cached.
pub(crate) fn read_file_if_cached(
    path: &Path,
    max: usize,
) -> Option<Result<Option<Vec<u8>>, StorageError>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Some(Ok(None)),
        Err(_) => return None,
    };
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    if len > max {
        return None;
    }
    let mut data = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let mut bufs = [std::io::IoSliceMut::new(&mut data[done..])];
        // RWF_NOWAIT: fail with EAGAIN instead of waiting for the disk (Linux 4.14+).
        match rustix::io::preadv2(
            &file,
            &mut bufs,
            done as u64,
            rustix::io::ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) | Err(_) => return None,
            Ok(n) => done += n,
        }
    }
    Some(Ok(Some(data)))
}

/// Creates the missing directories between `root` and `path`'s parent, recording in `dirs`
/// every directory whose entries changed (the file's parent, and each new directory's parent).
fn create_parent_dirs(
    root: &Path,
    path: &Path,
    dirs: &mut BTreeSet<PathBuf>,
) -> Result<(), StorageError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    dirs.insert(parent.to_path_buf());
    if parent.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut dir = parent;
    while !dir.is_dir() && dir.starts_with(root) && dir != root {
        missing.push(dir);
        match dir.parent() {
            Some(up) => dir = up,
            None => break,
        }
    }
    for new_dir in missing.into_iter().rev() {
        match fs::create_dir(new_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("mkdir", new_dir, e)),
        }
        if let Some(up) = new_dir.parent() {
            dirs.insert(up.to_path_buf());
        }
    }
    Ok(())
}

/// Creates or truncates `path`, writes `data` and fsyncs the file.
fn write_synced(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_error("create", path, e))?;
    file.write_all(data)
        .map_err(|e| io_error("write", path, e))?;
    file.sync_all().map_err(|e| io_error("fsync", path, e))
}

/// Fsyncs a directory so that the names in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    let handle = File::open(dir).map_err(|e| io_error("open", dir, e))?;
    handle.sync_all().map_err(|e| io_error("fsync", dir, e))
}

fn panicked() -> std::io::Error {
    std::io::Error::other("a write thread panicked")
}

pub(crate) fn io_error(op: &'static str, path: &Path, source: std::io::Error) -> StorageError {
    StorageError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file just written is in the page cache: read without blocking it is the same bytes.
    /// (A filesystem without RWF_NOWAIT support may answer `None`, meaning "read it on a
    /// blocking thread", which is always allowed.) A missing file is `Some(Ok(None))`, a
    /// file over the limit is `None`.
    #[test]
    fn read_file_if_cached_returns_the_bytes_or_defers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tile");
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        match read_file_if_cached(&path, 1 << 20) {
            Some(read) => assert_eq!(read.unwrap(), Some(data.clone())),
            None => eprintln!("this filesystem does not support RWF_NOWAIT reads"),
        }
        assert!(read_file_if_cached(&path, 100).is_none());
        assert!(matches!(
            read_file_if_cached(&dir.path().join("missing"), 1 << 20),
            Some(Ok(None))
        ));
        let empty = dir.path().join("empty");
        fs::write(&empty, b"").unwrap();
        assert!(matches!(read_file_if_cached(&empty, 1 << 20), Some(Ok(Some(v))) if v.is_empty()));
    }
}
