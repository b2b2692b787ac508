//! [`LocalStorage`]: the embedded default backend, a directory on a local filesystem.
//!
//! Layout under the data directory:
//! - `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`: hash tiles and entry bundles,
//!   at exactly their tlog-tiles URL paths, so the directory can be served as static files.
//! - `checkpoint`: the published checkpoint note (`GET /checkpoint`).
//! - `sequenced-checkpoint`: the latest checkpoint the log signed, not necessarily published.
//! - `index.sqlite` (+ `-wal`, `-shm`): the uniqueness index.
//! - `lock`: held (advisory `flock`) while a process has the log open, so that two processes
//!   never sequence into the same directory, which would fork the log.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use bintrail_tlog::tile::Tile;

use super::files::{
    io_error, read_file, read_file_if_cached, replace_file_atomically, sync_dir,
    write_files_durably,
};
use super::sqlite::SqliteIndex;
use super::{CheckpointKind, IndexRecord, Outage, Storage, StorageError};

/// Tiles larger than this are read on a blocking thread even when cached (a hash tile is
/// 8 KiB; an entry bundle of 256 typical entries about 30 KiB).
const MAX_TILE_FILE: usize = 1 << 20;

/// Files in a data directory plus a SQLite uniqueness index; see the module docs for the layout.
pub struct LocalStorage {
    root: PathBuf,
    index: SqliteIndex,
    /// Holds the advisory lock on `lock` for as long as this value lives.
    _lock: File,
}

impl LocalStorage {
    /// Opens the data directory `root`, creating it (mode 0700 on Unix) if absent, and locks it.
    ///
    /// Returns [`StorageError::Unavailable`] if another process (or another `LocalStorage` in
    /// this process) has it open, and [`StorageError::Io`] / [`StorageError::Database`] if the
    /// directory or the index cannot be created or opened.
    pub fn open(root: &Path) -> Result<LocalStorage, StorageError> {
        create_private_dir(root)?;
        let lock_path = root.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_error("open", &lock_path, e))?;
        lock.try_lock().map_err(|_| {
            StorageError::Unavailable(Outage::Locked {
                path: root.to_path_buf(),
            })
        })?;
        let index = SqliteIndex::open(&root.join("index.sqlite"))?;
        Ok(LocalStorage {
            root: root.to_path_buf(),
            index,
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn checkpoint_path(&self, kind: CheckpointKind) -> PathBuf {
        match kind {
            CheckpointKind::Sequenced => self.root.join("sequenced-checkpoint"),
            CheckpointKind::Published => self.root.join("checkpoint"),
        }
    }
}

impl Storage for LocalStorage {
    fn read_checkpoint(&self, kind: CheckpointKind) -> Result<Option<Vec<u8>>, StorageError> {
        read_file(&self.checkpoint_path(kind))
    }

    fn write_checkpoint(&self, kind: CheckpointKind, note: &[u8]) -> Result<(), StorageError> {
        replace_file_atomically(&self.checkpoint_path(kind), note)
    }

    fn read_tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StorageError> {
        read_file(&self.root.join(tile.path()))
    }

    fn read_tile_if_cached(&self, tile: &Tile) -> Option<Result<Option<Vec<u8>>, StorageError>> {
        read_file_if_cached(&self.root.join(tile.path()), MAX_TILE_FILE)
    }

    fn write_tiles(&self, tiles: &[(Tile, Vec<u8>)]) -> Result<(), StorageError> {
        let files: Vec<(PathBuf, &[u8])> = tiles
            .iter()
            .map(|(t, data)| (self.root.join(t.path()), data.as_slice()))
            .collect();
        write_files_durably(&self.root, &files)
    }

    fn lookup(&self, names: &[&str]) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        self.index.lookup(names)
    }

    fn lookup_for_append(
        &self,
        identifiers: &[&str],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        self.index.lookup_in_writer(identifiers)
    }

    fn index_size(&self) -> Result<u64, StorageError> {
        self.index.size()
    }

    fn append_index(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        self.index.append(records)
    }

    fn restore_index(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        self.index.restore(records)
    }

    fn truncate_index(&self, size: u64) -> Result<(), StorageError> {
        self.index.truncate(size)
    }
}

/// Creates `dir` (and missing parents) owner-only, syncing the parent so the name survives.
fn create_private_dir(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error("mkdir", dir, e))?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}
