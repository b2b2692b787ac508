//! The uniqueness index in SQLite: filename -> (leaf index, checksum, publisher).
//!
//! The leaf index is the table's rowid, so appending is an append to the B-tree and
//! truncating beyond a size is a range delete; the filename has a UNIQUE index, which is
//! what makes "one digest per filename" hold even if the sequencer had a bug.
//!
//! WAL mode with `synchronous=NORMAL`: a commit is durable against a process crash at once
//! and against power loss after the next checkpoint of the WAL. That is enough because the
//! entry bundles, fsynced before the index is written, can rebuild any lost rows.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bintrail_tlog::pypi::{Checksum, Entry, Filename, Publisher};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{IndexRecord, StorageError};

/// How many read connections lookups spread over. WAL readers never block the writer.
const READERS: usize = 4;

/// Page cache of the writer, which the sequencer also looks batches up through: the upper
/// levels of the filename index (about 1% of it) stay cached up to tens of millions of rows.
const WRITER_CACHE_KIB: u32 = 64 * 1024;
/// Page cache of each reader (lookups for `GET /lookup`).
const READER_CACHE_KIB: u32 = 4 * 1024;
/// Pages in the WAL before SQLite copies them back: fewer, larger checkpoints write a page
/// changed by several batches once (SQLite's default is 1,000).
const WAL_PAGES: u32 = 8192;

/// The SQLite-backed uniqueness index.
pub(crate) struct SqliteIndex {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl SqliteIndex {
    /// Opens (creating if absent) the index database at `path`.
    pub(crate) fn open(path: &Path) -> Result<SqliteIndex, StorageError> {
        let writer = Connection::open(path).map_err(db_error)?;
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -{WRITER_CACHE_KIB};
                 PRAGMA wal_autocheckpoint = {WAL_PAGES};
                 CREATE TABLE IF NOT EXISTS entries (
                     idx      INTEGER PRIMARY KEY,
                     filename TEXT NOT NULL UNIQUE,
                     checksum BLOB NOT NULL,
                     issuer   TEXT,
                     subject  TEXT
                 );"
            ))
            .map_err(db_error)?;
        let readers = (0..READERS)
            .map(|_| {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(path, flags).map_err(db_error)?;
                conn.execute_batch(&format!(
                    "PRAGMA busy_timeout = 5000; PRAGMA cache_size = -{READER_CACHE_KIB};"
                ))
                .map_err(db_error)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(SqliteIndex {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    pub(crate) fn lookup(
        &self,
        filenames: &[&Filename],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let slot = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lookup_with(&lock(&self.readers[slot]), filenames)
    }

    /// [`SqliteIndex::lookup`] through the writer connection (for the sequencer).
    pub(crate) fn lookup_in_writer(
        &self,
        filenames: &[&Filename],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        lookup_with(&lock(&self.writer), filenames)
    }

    pub(crate) fn size(&self) -> Result<u64, StorageError> {
        let conn = lock(&self.writer);
        let (count, max): (i64, Option<i64>) = conn
            .query_row("SELECT count(*), max(idx) FROM entries", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(db_error)?;
        let expected = max.map_or(0, |m| m + 1);
        if count != expected {
            return Err(StorageError::Corrupt {
                what: "index".into(),
                detail: format!("{count} rows but the highest index is {max:?}"),
            });
        }
        Ok(count as u64)
    }

    pub(crate) fn append(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(db_error)?;
        let next: i64 = tx
            .query_row("SELECT coalesce(max(idx) + 1, 0) FROM entries", [], |r| {
                r.get(0)
            })
            .map_err(db_error)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO entries (idx, filename, checksum, issuer, subject) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(db_error)?;
            for (offset, rec) in records.iter().enumerate() {
                let expected = next as u64 + offset as u64;
                if rec.index != expected {
                    return Err(StorageError::Gap {
                        expected,
                        got: rec.index,
                    });
                }
            }
            // Inserted in filename order: the filename index then takes the batch as one
            // ordered pass over its pages instead of random probes (the rows still get
            // their own consecutive indexes).
            let mut sorted: Vec<&IndexRecord> = records.iter().collect();
            sorted.sort_unstable_by_key(|r| r.entry.filename.as_str());
            for rec in sorted {
                let e = &rec.entry;
                let (issuer, subject) = match &e.publisher {
                    Some(p) => (Some(p.issuer.as_str()), Some(p.subject.as_str())),
                    None => (None, None),
                };
                let sum: &[u8] = e.checksum.digest();
                stmt.execute(params![
                    rec.index as i64,
                    e.filename.as_str(),
                    sum,
                    issuer,
                    subject
                ])
                .map_err(|err| match err.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => StorageError::Duplicate {
                        filename: e.filename.to_string(),
                    },
                    _ => db_error(err),
                })?;
            }
        }
        tx.commit().map_err(db_error)
    }

    pub(crate) fn truncate(&self, size: u64) -> Result<(), StorageError> {
        let conn = lock(&self.writer);
        conn.execute("DELETE FROM entries WHERE idx >= ?1", params![size as i64])
            .map_err(db_error)?;
        Ok(())
    }
}

/// Looks names up in one read transaction: a statement outside a transaction takes and
/// drops SQLite's shared lock and revalidates its page cache every time, which cost more
/// than the lookups themselves.
fn lookup_with(
    conn: &Connection,
    filenames: &[&Filename],
) -> Result<Vec<Option<IndexRecord>>, StorageError> {
    let tx = conn.unchecked_transaction().map_err(db_error)?;
    // In filename order: consecutive probes then share the index pages near each other.
    let mut order: Vec<usize> = (0..filenames.len()).collect();
    order.sort_unstable_by_key(|&i| filenames[i].as_str());
    let mut found: Vec<Option<IndexRecord>> = vec![None; filenames.len()];
    {
        let mut stmt = tx
            .prepare_cached(
                "SELECT idx, checksum, issuer, subject FROM entries WHERE filename = ?1",
            )
            .map_err(db_error)?;
        for i in order {
            let name = filenames[i];
            let row = stmt
                .query_row(params![name.as_str()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })
                .optional()
                .map_err(db_error)?;
            found[i] = row
                .map(|(idx, sum, issuer, subject)| to_record(name, idx, sum, issuer, subject))
                .transpose()?;
        }
    }
    // Read-only: ending it either way releases the snapshot.
    tx.commit().map_err(db_error)?;
    Ok(found)
}

fn to_record(
    name: &Filename,
    idx: i64,
    sum: Vec<u8>,
    issuer: Option<String>,
    subject: Option<String>,
) -> Result<IndexRecord, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        what: format!("index row for {name}"),
        detail,
    };
    let digest: [u8; 32] = sum
        .try_into()
        .map_err(|s: Vec<u8>| corrupt(format!("checksum has {} bytes", s.len())))?;
    let publisher = match (issuer, subject) {
        (Some(issuer), Some(subject)) => Some(Publisher { issuer, subject }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "publisher has an issuer or a subject but not both".into(),
            ));
        }
    };
    let index = u64::try_from(idx).map_err(|_| corrupt(format!("negative index {idx}")))?;
    let entry = Entry {
        checksum: Checksum::from_digest(digest),
        filename: name.clone(),
        publisher,
    };
    Ok(IndexRecord { index, entry })
}

/// Locks a connection. A panic while holding it cannot leave SQLite half-updated (an open
/// transaction is rolled back when its guard drops), so a poisoned lock is still usable.
fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn db_error(e: rusqlite::Error) -> StorageError {
    StorageError::Database(e.to_string())
}
