//! The uniqueness index in SQLite: filename -> (leaf index, checksum, publisher), unique
//! on each file's canonical identifier.
//!
//! The leaf index is the table's rowid, so appending is an append to the B-tree and
//! truncating beyond a size is a range delete. The canonical identifier
//! ([`Filename::canonical`]) has a UNIQUE index, which is what makes "one digest per file,
//! whatever alias names it" hold even if the sequencer had a bug (issue 19, H6); the
//! filename keeps its own UNIQUE index for exact lookups.
//!
//! Schema versions (`PRAGMA user_version`): 0 was unique on the filename only; 1 adds the
//! canonical identifier. A version-0 index is rebuilt from its rows on open, in one
//! transaction. Rows logged before version 1 that alias an earlier row (two digests for
//! one identifier) keep a NULL identifier: the log starts, and says so at every start.
//!
//! WAL mode with `synchronous=NORMAL`: a commit is durable against a process crash at once
//! and against power loss after the next checkpoint of the WAL. That is enough because the
//! entry bundles, fsynced before the index is written, can rebuild any lost rows.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use bintrail_tlog::pypi::{Checksum, Entry, Filename, Publisher};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{IndexRecord, RestoredRecord, StorageError};

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
        let mut writer = Connection::open(path).map_err(db_error)?;
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA busy_timeout = 5000;
                 PRAGMA cache_size = -{WRITER_CACHE_KIB};
                 PRAGMA wal_autocheckpoint = {WAL_PAGES};
                 "
            ))
            .map_err(db_error)?;
        migrate(&mut writer)?;
        writer.execute_batch(SCHEMA_V1).map_err(db_error)?;
        report_aliases(&writer)?;
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

    /// Looks up exact filenames.
    pub(crate) fn lookup(
        &self,
        filenames: &[&Filename],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let slot = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lookup_with(&lock(&self.readers[slot]), filenames, Key::Filename)
    }

    /// Looks up the rows logged under each filename's canonical identifier, through the
    /// writer connection (for the sequencer).
    pub(crate) fn lookup_in_writer(
        &self,
        filenames: &[&Filename],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        lookup_with(&lock(&self.writer), filenames, Key::Canonical)
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
                    "INSERT INTO entries (idx, filename, canonical, checksum, issuer, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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
                    e.filename.canonical().as_str(),
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

    /// Appends rows recovery rebuilt from committed entry bundles (see
    /// [`Storage::restore_index`](super::Storage::restore_index)): like a version-0
    /// migration, a row whose filename no longer parses, or whose identifier an earlier row
    /// holds, is kept with a NULL identifier and named in the log.
    pub(crate) fn restore(&self, records: &[RestoredRecord]) -> Result<(), StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(db_error)?;
        let mut next: i64 = tx
            .query_row("SELECT coalesce(max(idx) + 1, 0) FROM entries", [], |r| {
                r.get(0)
            })
            .map_err(db_error)?;
        {
            let mut taken = tx
                .prepare_cached("SELECT filename FROM entries WHERE canonical = ?1")
                .map_err(db_error)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO entries (idx, filename, canonical, checksum, issuer, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db_error)?;
            for rec in records {
                if rec.index != next as u64 {
                    return Err(StorageError::Gap {
                        expected: next as u64,
                        got: rec.index,
                    });
                }
                let e = &rec.entry;
                let canonical = match e.canonical() {
                    None => {
                        tracing::warn!(index = rec.index, filename = %e.filename, "a logged filename is no longer accepted; it keeps no canonical identifier");
                        None
                    }
                    Some(c) => {
                        let first: Option<String> = taken
                            .query_row(params![c.as_str()], |r| r.get(0))
                            .optional()
                            .map_err(db_error)?;
                        match first {
                            Some(first) => {
                                tracing::warn!(index = rec.index, filename = %e.filename, alias_of = %first, identifier = %c, "the log holds two entries for one canonical identifier (logged before aliases were refused)");
                                None
                            }
                            None => Some(c.to_string()),
                        }
                    }
                };
                let (issuer, subject) = match &e.publisher {
                    Some(p) => (Some(p.issuer.as_str()), Some(p.subject.as_str())),
                    None => (None, None),
                };
                let sum: &[u8] = e.checksum.digest();
                insert
                    .execute(params![next, e.filename, canonical, sum, issuer, subject])
                    .map_err(|err| match err.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => StorageError::Duplicate {
                            filename: e.filename.clone(),
                        },
                        _ => db_error(err),
                    })?;
                next += 1;
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

/// What [`lookup_with`] matches on.
#[derive(Clone, Copy)]
enum Key {
    Filename,
    Canonical,
}

/// Looks names up in one read transaction: a statement outside a transaction takes and
/// drops SQLite's shared lock and revalidates its page cache every time, which cost more
/// than the lookups themselves. A found row carries its own filename, which for
/// [`Key::Canonical`] may be another spelling of the one looked up.
fn lookup_with(
    conn: &Connection,
    filenames: &[&Filename],
    key: Key,
) -> Result<Vec<Option<IndexRecord>>, StorageError> {
    let tx = conn.unchecked_transaction().map_err(db_error)?;
    let keys: Vec<String> = filenames
        .iter()
        .map(|f| match key {
            Key::Filename => f.as_str().to_owned(),
            Key::Canonical => f.canonical().to_string(),
        })
        .collect();
    // In key order: consecutive probes then share the index pages near each other.
    let mut order: Vec<usize> = (0..filenames.len()).collect();
    order.sort_unstable_by_key(|&i| keys[i].as_str());
    let mut found: Vec<Option<IndexRecord>> = vec![None; filenames.len()];
    {
        let mut stmt = tx
            .prepare_cached(match key {
                Key::Filename => {
                    "SELECT idx, checksum, issuer, subject, filename FROM entries WHERE filename = ?1"
                }
                Key::Canonical => {
                    "SELECT idx, checksum, issuer, subject, filename FROM entries WHERE canonical = ?1"
                }
            })
            .map_err(db_error)?;
        for i in order {
            let row = stmt
                .query_row(params![keys[i]], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get::<_, String>(4)?,
                    ))
                })
                .optional()
                .map_err(db_error)?;
            found[i] = row
                .map(|(idx, sum, issuer, subject, name)| {
                    let name = if name == filenames[i].as_str() {
                        filenames[i].clone()
                    } else {
                        name.parse().map_err(|e| StorageError::Corrupt {
                            what: format!("index row {idx}"),
                            detail: format!("filename {name:?}: {e}"),
                        })?
                    };
                    to_record(&name, idx, sum, issuer, subject)
                })
                .transpose()?;
        }
    }
    // Read-only: ending it either way releases the snapshot.
    tx.commit().map_err(db_error)?;
    Ok(found)
}

/// The current schema (version 1); a no-op on an index already at it.
const SCHEMA_V1: &str = "
    CREATE TABLE IF NOT EXISTS entries (
        idx       INTEGER PRIMARY KEY,
        filename  TEXT NOT NULL UNIQUE,
        canonical TEXT UNIQUE,
        checksum  BLOB NOT NULL,
        issuer    TEXT,
        subject   TEXT
    );
    PRAGMA user_version = 1;";

/// Rebuilds a version-0 index (unique on the filename only) at version 1, in one
/// transaction: each row gets its file's canonical identifier, except a row aliasing an
/// earlier one, which keeps NULL (and is named in the log). A new database is left alone.
fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_error)?;
    let has_entries: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries')",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    if version >= 1 || !has_entries {
        return Ok(());
    }
    let tx = conn.transaction().map_err(db_error)?;
    tx.execute_batch("ALTER TABLE entries RENAME TO entries_v0;")
        .map_err(db_error)?;
    tx.execute_batch(SCHEMA_V1).map_err(db_error)?;
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut rows = 0u64;
    {
        let mut read = tx
            .prepare("SELECT idx, filename, checksum, issuer, subject FROM entries_v0 ORDER BY idx")
            .map_err(db_error)?;
        let mut write = tx
            .prepare("INSERT INTO entries (idx, filename, canonical, checksum, issuer, subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(db_error)?;
        let mut cursor = read.query([]).map_err(db_error)?;
        while let Some(row) = cursor.next().map_err(db_error)? {
            let idx: i64 = row.get(0).map_err(db_error)?;
            let filename: String = row.get(1).map_err(db_error)?;
            let canonical = match filename.parse::<Filename>() {
                Ok(f) => Some(f.canonical().to_string()),
                Err(e) => {
                    tracing::warn!(index = idx, %filename, error = %e, "a logged filename is no longer accepted; it keeps no canonical identifier");
                    None
                }
            };
            let canonical = canonical.filter(|c| match seen.get(c) {
                Some(first) => {
                    tracing::warn!(index = idx, %filename, alias_of = %first, identifier = %c, "the log holds two entries for one canonical identifier (logged before aliases were refused)");
                    false
                }
                None => {
                    seen.insert(c.clone(), filename.clone());
                    true
                }
            });
            let checksum: Vec<u8> = row.get(2).map_err(db_error)?;
            let issuer: Option<String> = row.get(3).map_err(db_error)?;
            let subject: Option<String> = row.get(4).map_err(db_error)?;
            write
                .execute(params![idx, filename, canonical, checksum, issuer, subject])
                .map_err(db_error)?;
            rows += 1;
        }
    }
    tx.execute_batch("DROP TABLE entries_v0;")
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    tracing::info!(
        rows,
        "rebuilt the uniqueness index on canonical identifiers (schema version 1)"
    );
    Ok(())
}

/// Says at every start how many logged entries alias an earlier one.
fn report_aliases(conn: &Connection) -> Result<(), StorageError> {
    let aliases: i64 = conn
        .query_row(
            "SELECT count(*) FROM entries WHERE canonical IS NULL",
            [],
            |r| r.get(0),
        )
        .map_err(db_error)?;
    if aliases > 0 {
        tracing::warn!(
            aliases,
            "entries logged before aliases were refused share a canonical identifier with an earlier entry (or no longer parse); `bintrail monitor` reports them as equivocation"
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Filename {
        s.parse().expect("filename")
    }

    /// Issue 19, H6: a version-0 index that already holds two digests for one canonical
    /// identifier (and a name no longer accepted) must still open, keep every row, and
    /// answer the sequencer's lookups with the first entry under each identifier.
    #[test]
    fn issue_19_version_0_index_with_aliases_is_rebuilt_and_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.sqlite");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE entries (idx INTEGER PRIMARY KEY, filename TEXT NOT NULL UNIQUE,
                     checksum BLOB NOT NULL, issuer TEXT, subject TEXT);",
            )
            .expect("v0 schema");
            for (idx, filename, byte) in [
                (0, "alias-1.0.tar.gz", 1u8),
                (1, "Alias-1.00.zip", 2),
                (2, "other-2.0-py3-none-any.whl", 3),
                (3, "x-1.0.tar.gz.zip", 4),
            ] {
                conn.execute(
                    "INSERT INTO entries VALUES (?1, ?2, ?3, NULL, NULL)",
                    params![idx, filename, vec![byte; 32]],
                )
                .expect("v0 row");
            }
        }
        let index = SqliteIndex::open(&path).expect("a v0 index with aliases opens");
        assert_eq!(index.size().expect("size"), 4);
        let by_alias = index
            .lookup_in_writer(&[
                &name("ALIAS-1.0.tar.gz"),
                &name("Other-2.0-py3-none-any.whl"),
            ])
            .expect("lookup");
        let first = by_alias[0]
            .as_ref()
            .expect("the alias finds the first entry");
        assert_eq!(
            (first.index, first.entry.filename.as_str()),
            (0, "alias-1.0.tar.gz")
        );
        assert_eq!(by_alias[1].as_ref().map(|r| r.index), Some(2));
        let exact = index.lookup(&[&name("Alias-1.00.zip")]).expect("lookup");
        assert_eq!(
            exact[0].as_ref().map(|r| r.index),
            Some(1),
            "exact lookups still find it"
        );
        drop(index);
        // Reopening is a no-op, and new rows are unique on the identifier.
        let index = SqliteIndex::open(&path).expect("reopen");
        let alias = IndexRecord {
            index: 4,
            entry: Entry {
                checksum: Checksum::from_digest([9; 32]),
                filename: name("other-2.0-PY3-none-any.whl"),
                publisher: None,
            },
        };
        assert!(matches!(
            index.append(&[alias]),
            Err(StorageError::Duplicate { .. })
        ));
    }
}
