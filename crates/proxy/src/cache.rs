//! Verified files and their proofs on disk:
//!
//! ```text
//! <cache>/files/<filename>               the verified file
//! <cache>/proofs/<filename>.tlog-proof   its proof, extra line = the logged entry
//! <cache>/tmp/                           downloads in progress (never served)
//! ```
//!
//! A proof is stored once verified; a file enters `files/` only by a rename after
//! its digest matched that proof's entry; a file is a hit only when both are there. A hit is served without hashing it again (that would cost what the cache
//! saves): the cache directory is trusted like the state directory, and whoever can
//! write it can serve anything.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bintrail_client::state::write_atomic;
use bintrail_tlog::proof::TlogProof;
use bintrail_tlog::pypi::{Entry, Filename};

/// The on-disk cache of verified files.
#[derive(Debug)]
pub(crate) struct FileCache {
    root: PathBuf,
    next: AtomicU64,
}

/// A cache hit: the file's path and its logged entry.
#[derive(Debug)]
pub(crate) struct Hit {
    pub path: PathBuf,
    pub entry: Entry,
}

impl FileCache {
    pub fn open(root: &Path) -> io::Result<FileCache> {
        for sub in ["files", "proofs", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(FileCache {
            root: root.to_owned(),
            next: AtomicU64::new(0),
        })
    }

    /// The verified file named `filename`, if cached with its proof.
    pub fn get(&self, filename: &Filename) -> Option<Hit> {
        let path = self.root.join("files").join(filename.as_str());
        if !path.is_file() {
            return None;
        }
        let (_, entry) = self.proof(filename)?;
        Some(Hit { path, entry })
    }

    /// The verified proof stored for `filename` and the entry it proves.
    pub fn proof(&self, filename: &Filename) -> Option<(TlogProof, Entry)> {
        let proof = fs::read(self.proof_path(filename)).ok()?;
        let proof = TlogProof::parse(&proof).ok()?;
        let entry = Entry::parse(proof.extra.as_deref()?).ok()?;
        (entry.filename == *filename).then_some((proof, entry))
    }

    /// Stores a verified proof (its extra line the logged entry). A proof is not the
    /// file: it is kept even if the download then fails, so a retry costs no proof
    /// traffic.
    pub fn store_proof(&self, filename: &Filename, proof: &TlogProof) -> io::Result<()> {
        write_atomic(&self.proof_path(filename), &proof.to_bytes())
    }

    /// A fresh temporary file for a download in progress.
    pub fn temp(&self) -> io::Result<(PathBuf, File)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()));
        let file = File::create(&path)?;
        Ok((path, file))
    }

    /// Moves a completed download, whose digest matched its stored proof's entry,
    /// into the cache.
    pub fn commit(&self, temp: &Path, filename: &Filename) -> io::Result<()> {
        fs::rename(temp, self.root.join("files").join(filename.as_str()))
    }

    fn proof_path(&self, filename: &Filename) -> PathBuf {
        self.root
            .join("proofs")
            .join(format!("{}.tlog-proof", filename.as_str()))
    }
}
