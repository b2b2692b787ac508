//! Per-log client state on disk: the latest accepted checkpoint, fork evidence,
//! and the tile cache.
//!
//! A log is its origin *and* its key: a checkpoint signed by another key under a
//! known origin is another log (a demo log started again, a reset log), never a
//! fork of the first, since only the same key signing two inconsistent trees is a
//! fork. So the state is kept per origin, then per key. Layout under the state
//! directory (the origin with every byte outside `[A-Za-z0-9._-]` percent-encoded;
//! `<key>` is the key's note key ID in hex, as in its vkey, a `-`, and the first 8
//! hex digits of the SHA-256 of its public key):
//!
//! ```text
//! <state>/<origin>/<key>/checkpoint     latest accepted checkpoint (signed note, verbatim)
//! <state>/<origin>/<key>/lock           held while a checkpoint is being compared and stored
//! <state>/<origin>/<key>/fork-<unix-seconds>-<old size>-<new size>/
//!                                       old.checkpoint, new.checkpoint, README
//! <state>/<origin>/<key>/tile/<L>/<N>   full hash tiles, authenticated before they were written
//! ```
//!
//! Earlier versions kept `<state>/<origin>/checkpoint` directly; the first use of a
//! log moves such a file under the key that signed it.
//!
//! Files are replaced atomically (write a temporary file, fsync it, rename it over
//! the old one, fsync the directory), so a crash leaves either the old or the new
//! checkpoint, never a torn one.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bintrail_tlog::note::{Note, Verifier};
use sha2::{Digest, Sha256};

/// A state directory holding one subdirectory per log origin.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// The state kept for one log (an origin and a key). Obtained from [`StateDir::log`].
#[derive(Debug, Clone)]
pub struct OriginState {
    dir: PathBuf,
}

/// An exclusive lock on one origin's state, released when dropped.
///
/// Two processes verifying against the same log at once would otherwise both read
/// the old checkpoint and race to replace it.
#[derive(Debug)]
pub struct OriginLock {
    _file: File,
}

impl StateDir {
    /// The default state directory: `$XDG_STATE_HOME/bintrail` when that variable is
    /// set to an absolute path, else `$HOME/.local/state/bintrail`. Returns `None`
    /// when neither variable is usable.
    pub fn default_path() -> Option<PathBuf> {
        default_path_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
    }

    /// Opens (creating it, owner-only, if missing) the state directory at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        create_private_dir(&root)?;
        Ok(StateDir { root })
    }

    /// The directory this state lives in.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Opens (creating it if missing) the state of the log whose origin line is
    /// `origin` and whose checkpoints `key` signs. A checkpoint left by an earlier
    /// version directly under the origin is moved here when `key` signed it.
    pub fn log(&self, origin: &str, key: &Verifier) -> io::Result<OriginState> {
        let origin_dir = self.root.join(origin_dir_name(origin));
        let dir = origin_dir.join(key_dir_name(key));
        create_private_dir(&dir)?;
        let legacy = origin_dir.join("checkpoint");
        if !dir.join("checkpoint").exists()
            && let Ok(note) = fs::read(&legacy)
            && Note::parse(&note).is_ok_and(|n| n.verify(std::slice::from_ref(key)).is_ok())
        {
            fs::rename(&legacy, dir.join("checkpoint"))?;
            File::open(&origin_dir)?.sync_all()?;
        }
        Ok(OriginState { dir })
    }

    /// The other keys this client accepted checkpoints of `origin` from: the names
    /// of their state directories (`<key ID>-<hash>`, or `checkpoint` for a file an
    /// earlier version kept directly under the origin), sorted. Empty when `key` is
    /// the only one.
    pub fn other_keys(&self, origin: &str, key: &Verifier) -> io::Result<Vec<String>> {
        let origin_dir = self.root.join(origin_dir_name(origin));
        let own = key_dir_name(key);
        let mut found = Vec::new();
        let entries = match fs::read_dir(&origin_dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let legacy = name == "checkpoint";
            if legacy || (name != own && entry.path().join("checkpoint").is_file()) {
                found.push(name);
            }
        }
        found.sort();
        Ok(found)
    }
}

/// The directory name of a key under its origin: the key ID in hex (as in the
/// vkey) and the first 8 hex digits of the SHA-256 of the public key, so that two
/// keys sharing a 32-bit key ID still get two directories.
pub fn key_dir_name(key: &Verifier) -> String {
    let digest = Sha256::digest(key.public_key());
    format!("{:08x}-{}", key.key_id(), hex_prefix(&digest[..4]))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl OriginState {
    /// The directory holding this origin's state.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Blocks until this process holds the origin's lock.
    pub fn lock(&self) -> io::Result<OriginLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        file.lock()?;
        Ok(OriginLock { _file: file })
    }

    /// The latest accepted checkpoint, verbatim, or `None` if none was stored yet.
    pub fn checkpoint(&self) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join("checkpoint")) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Atomically replaces the latest accepted checkpoint with `note`.
    ///
    /// The caller must hold [`OriginState::lock`] and must have verified `note` and
    /// its consistency with the previous one. On error the previous file is intact.
    pub fn store_checkpoint(&self, note: &[u8]) -> io::Result<()> {
        write_atomic(&self.dir.join("checkpoint"), note)
    }

    /// Saves two inconsistent checkpoints as fork evidence and returns the
    /// directory holding them. Neither the stored checkpoint nor earlier evidence
    /// is touched.
    pub fn save_fork_evidence(
        &self,
        old: &[u8],
        new: &[u8],
        old_size: u64,
        new_size: u64,
        explanation: &str,
    ) -> io::Result<PathBuf> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut dir = self.dir.join(format!("fork-{now}-{old_size}-{new_size}"));
        let mut n = 1;
        while dir.exists() {
            n += 1;
            dir = self
                .dir
                .join(format!("fork-{now}-{old_size}-{new_size}-{n}"));
        }
        create_private_dir(&dir)?;
        write_atomic(&dir.join("old.checkpoint"), old)?;
        write_atomic(&dir.join("new.checkpoint"), new)?;
        write_atomic(&dir.join("README"), explanation.as_bytes())?;
        Ok(dir)
    }

    /// The on-disk cache of this origin's full hash tiles.
    pub fn tile_cache(&self) -> TileCache {
        TileCache {
            root: self.dir.clone(),
        }
    }
}

/// An on-disk cache of full tiles, keyed by their tlog-tiles path (`tile/<L>/<N>`).
///
/// Only full tiles may be stored: they never change once the log has them, so a
/// cached full tile stays valid forever. Partial tiles are superseded as the log
/// grows and are never cached. Callers must store only tiles they authenticated
/// against a signed root; reads return what was stored, unchecked.
#[derive(Debug, Clone)]
pub struct TileCache {
    root: PathBuf,
}

impl TileCache {
    /// Returns a cache rooted at `root` (tiles go to `root/tile/...`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        TileCache { root: root.into() }
    }

    /// The cached bytes of the tile at `tile_path`, or `None` if absent or if the
    /// path is not a full tile path.
    pub fn read(&self, tile_path: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = self.file(tile_path) else {
            return Ok(None);
        };
        match fs::read(file) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Stores a full tile atomically. Paths of partial tiles (`.p/`) and paths that
    /// are not tile paths are ignored and reported as `Ok(false)`.
    pub fn write(&self, tile_path: &str, data: &[u8]) -> io::Result<bool> {
        let Some(file) = self.file(tile_path) else {
            return Ok(false);
        };
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        write_atomic(&file, data)?;
        Ok(true)
    }

    /// Where a full tile lives, or `None` for partial or malformed paths. Only
    /// `tile/` followed by components made of ASCII digits, `x` and `entries` are
    /// accepted, so no path can escape the cache directory.
    fn file(&self, tile_path: &str) -> Option<PathBuf> {
        let rest = tile_path.strip_prefix("tile/")?;
        let safe = !rest.is_empty()
            && rest.split('/').all(|part| {
                !part.is_empty()
                    && (part == "entries" || part.bytes().all(|b| b.is_ascii_digit() || b == b'x'))
            });
        safe.then(|| self.root.join(tile_path))
    }
}

/// [`StateDir::default_path`] with the environment passed in, so it can be tested.
fn default_path_from(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = xdg {
        return Some(xdg.join("bintrail"));
    }
    let home = home.map(PathBuf::from).filter(|p| p.is_absolute())?;
    Some(home.join(".local/state/bintrail"))
}

/// The directory name for an origin: bytes outside `[A-Za-z0-9._-]` become `%XX`,
/// and a leading `.` is encoded too so no origin maps to `.`, `..` or a hidden file.
pub fn origin_dir_name(origin: &str) -> String {
    let mut name = String::with_capacity(origin.len());
    for (i, byte) in origin.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.');
        if plain && !(i == 0 && byte == b'.') {
            name.push(byte as char);
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.is_empty() {
        name.push('%');
    }
    name
}

/// Replaces `path` with `data`: temporary file in the same directory, fsync,
/// rename over `path`, fsync the directory. The rename is the commit point; before
/// it the old file is untouched, after it the new one is complete.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    // A bare file name's parent is the empty path, which cannot be opened to
    // fsync: that directory is the working directory.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bintrail_tlog::note::{KeyType, Signer};

    fn signer(name: &str, seed: u8) -> Signer {
        Signer::generate(name, KeyType::Ed25519, [seed; 32]).unwrap()
    }

    fn key(name: &str, seed: u8) -> Verifier {
        signer(name, seed).verifier()
    }

    #[test]
    fn keys_of_one_origin_get_their_own_state() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(tmp.path()).unwrap();
        let (a, b) = (key("demo/log", 1), key("demo/log", 2));
        let sa = state.log("demo/log", &a).unwrap();
        let sb = state.log("demo/log", &b).unwrap();
        assert_ne!(sa.path(), sb.path());
        assert!(state.other_keys("demo/log", &b).unwrap().is_empty());
        sa.store_checkpoint(b"a").unwrap();
        assert_eq!(
            state.other_keys("demo/log", &b).unwrap(),
            vec![key_dir_name(&a)]
        );
        assert!(state.other_keys("demo/log", &a).unwrap().is_empty());
        assert_eq!(sb.checkpoint().unwrap(), None);
    }

    #[test]
    fn a_legacy_checkpoint_moves_under_the_key_that_signed_it() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(tmp.path()).unwrap();
        let signer = signer("demo/log", 1);
        let text = "demo/log\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = Note::sign(text, &[&signer]).unwrap().to_bytes();
        let origin_dir = tmp.path().join(origin_dir_name("demo/log"));
        fs::create_dir_all(&origin_dir).unwrap();
        fs::write(origin_dir.join("checkpoint"), &note).unwrap();
        // Another key leaves it where it is, and sees it as another key's.
        let other = key("demo/log", 2);
        assert_eq!(
            state.log("demo/log", &other).unwrap().checkpoint().unwrap(),
            None
        );
        assert_eq!(
            state.other_keys("demo/log", &other).unwrap(),
            vec!["checkpoint"]
        );
        let own = state.log("demo/log", &signer.verifier()).unwrap();
        assert_eq!(own.checkpoint().unwrap(), Some(note));
        assert!(!origin_dir.join("checkpoint").exists());
    }

    #[test]
    fn origin_names_are_escaped() {
        assert_eq!(origin_dir_name("example.com/log"), "example.com%2Flog");
        assert_eq!(origin_dir_name(".."), "%2E.");
        assert_eq!(origin_dir_name(""), "%");
        assert_eq!(origin_dir_name("a b+é"), "a%20b%2B%C3%A9");
    }

    #[test]
    fn checkpoint_round_trip_and_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let state = StateDir::open(tmp.path().join("s")).unwrap();
        let origin = state
            .log("example.com/log", &key("example.com/log", 1))
            .unwrap();
        assert_eq!(origin.checkpoint().unwrap(), None);
        let _lock = origin.lock().unwrap();
        origin.store_checkpoint(b"one").unwrap();
        origin.store_checkpoint(b"two").unwrap();
        assert_eq!(origin.checkpoint().unwrap().as_deref(), Some(&b"two"[..]));
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(origin.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn fork_evidence_keeps_both_and_never_overwrites() {
        let tmp = tempfile::tempdir().unwrap();
        let origin = StateDir::open(tmp.path())
            .unwrap()
            .log("o", &key("o", 1))
            .unwrap();
        let a = origin
            .save_fork_evidence(b"old", b"new", 1, 2, "why")
            .unwrap();
        let b = origin
            .save_fork_evidence(b"old2", b"new2", 1, 2, "why")
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(a.join("old.checkpoint")).unwrap(), b"old");
        assert_eq!(fs::read(a.join("new.checkpoint")).unwrap(), b"new");
        assert_eq!(fs::read(b.join("new.checkpoint")).unwrap(), b"new2");
    }

    #[test]
    fn tile_cache_stores_full_tiles_only() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = TileCache::new(tmp.path());
        assert!(cache.write("tile/0/x001/234", b"full").unwrap());
        assert_eq!(
            cache.read("tile/0/x001/234").unwrap().as_deref(),
            Some(&b"full"[..])
        );
        assert!(!cache.write("tile/0/000.p/7", b"partial").unwrap());
        assert_eq!(cache.read("tile/0/000.p/7").unwrap(), None);
        assert!(!cache.write("tile/../../etc/passwd", b"x").unwrap());
        assert!(!cache.write("checkpoint", b"x").unwrap());
        assert_eq!(cache.read("tile/1/000").unwrap(), None);
    }

    #[test]
    fn default_path_prefers_absolute_xdg() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            default_path_from(os("/x/state"), os("/home/u")),
            Some(PathBuf::from("/x/state/bintrail"))
        );
        assert_eq!(
            default_path_from(os("relative"), os("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/bintrail"))
        );
        assert_eq!(
            default_path_from(None, os("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/bintrail"))
        );
        assert_eq!(default_path_from(None, os("rel")), None);
        assert_eq!(default_path_from(None, None), None);
    }
}
