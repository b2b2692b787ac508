//! The uniqueness index in SQLite: one row per logged entry, unique on its name and on its
//! identifier, holding its digest and its bytes.
//!
//! The leaf index is the table's rowid, so appending is an append to the B-tree and
//! truncating beyond a size is a range delete. The identifier (for PyPI the canonical
//! identifier, `Filename::canonical`) has a UNIQUE index, which is what makes "one digest
//! per file, whatever alias names it" hold even if the sequencer had a bug (issue 19, H6);
//! the name keeps its own UNIQUE index for exact lookups. The index never parses an entry:
//! the bytes are stored whole and returned as stored.
//!
//! Schema versions and their migration are in `migrate.rs`. Rows logged before version 1
//! that alias an earlier row (two digests for one identifier) keep a NULL identifier: the
//! log starts, and says so at every start.
//!
//! WAL mode with `synchronous=NORMAL`: a commit is durable against a process crash at once
//! and against power loss after the next checkpoint of the WAL. That is enough because the
//! entry bundles, fsynced before the index is written, can rebuild any lost rows.

mod migrate;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{IndexRecord, StorageError, StoredEntry};

/// How many read connections lookups spread over. WAL readers never block the writer.
const READERS: usize = 4;

/// Page cache of the writer, which the sequencer also looks batches up through: the upper
/// levels of the name and identifier indexes (about 1% of them) stay cached up to tens of millions of rows.
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
        migrate::migrate(&mut writer)?;
        writer.execute_batch(migrate::SCHEMA).map_err(db_error)?;
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

    /// Looks up exact names.
    pub(crate) fn lookup(&self, names: &[&str]) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        let slot = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        lookup_with(&lock(&self.readers[slot]), names, Key::Name)
    }

    /// Looks up the rows logged under each identifier, through the writer connection (for
    /// the sequencer).
    pub(crate) fn lookup_in_writer(
        &self,
        identifiers: &[&str],
    ) -> Result<Vec<Option<IndexRecord>>, StorageError> {
        lookup_with(&lock(&self.writer), identifiers, Key::Identifier)
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
                    "INSERT INTO entries (idx, name, identifier, digest, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
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
            // Inserted in name order: the name index then takes the batch as one ordered
            // pass over its pages instead of random probes (the rows still get their own
            // consecutive indexes).
            let mut sorted: Vec<&IndexRecord> = records.iter().collect();
            sorted.sort_unstable_by_key(|r| r.entry.name.as_str());
            for rec in sorted {
                let e = &rec.entry;
                stmt.execute(params![
                    rec.index as i64,
                    e.name,
                    e.identifier,
                    e.digest,
                    e.bytes
                ])
                .map_err(|err| match err.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => StorageError::Duplicate {
                        name: e.name.clone(),
                    },
                    _ => db_error(err),
                })?;
            }
        }
        tx.commit().map_err(db_error)
    }

    /// Appends rows recovery rebuilt from committed entry bundles (see
    /// [`Storage::restore_index`](super::Storage::restore_index)): like a version-0
    /// migration, a row without an identifier, or whose identifier an earlier row holds, is
    /// kept with a NULL identifier and named in the log.
    pub(crate) fn restore(&self, records: &[IndexRecord]) -> Result<(), StorageError> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction().map_err(db_error)?;
        let mut next: i64 = tx
            .query_row("SELECT coalesce(max(idx) + 1, 0) FROM entries", [], |r| {
                r.get(0)
            })
            .map_err(db_error)?;
        {
            let mut taken = tx
                .prepare_cached("SELECT name FROM entries WHERE identifier = ?1")
                .map_err(db_error)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO entries (idx, name, identifier, digest, entry) VALUES (?1, ?2, ?3, ?4, ?5)",
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
                let identifier = match &e.identifier {
                    None => {
                        tracing::warn!(index = rec.index, name = %e.name, "a logged entry is no longer accepted; it keeps no identifier");
                        None
                    }
                    Some(id) => {
                        let first: Option<String> = taken
                            .query_row(params![id], |r| r.get(0))
                            .optional()
                            .map_err(db_error)?;
                        match first {
                            Some(first) => {
                                tracing::warn!(index = rec.index, name = %e.name, alias_of = %first, identifier = %id, "the log holds two entries for one identifier (logged before aliases were refused)");
                                None
                            }
                            None => Some(id.as_str()),
                        }
                    }
                };
                insert
                    .execute(params![next, e.name, identifier, e.digest, e.bytes])
                    .map_err(|err| match err.sqlite_error_code() {
                        Some(rusqlite::ErrorCode::ConstraintViolation) => StorageError::Duplicate {
                            name: e.name.clone(),
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
    Name,
    Identifier,
}

/// Looks keys up in one read transaction: a statement outside a transaction takes and
/// drops SQLite's shared lock and revalidates its page cache every time, which cost more
/// than the lookups themselves. A found row carries its own name, which for
/// [`Key::Identifier`] may be another spelling of the same artifact.
fn lookup_with(
    conn: &Connection,
    keys: &[&str],
    key: Key,
) -> Result<Vec<Option<IndexRecord>>, StorageError> {
    let tx = conn.unchecked_transaction().map_err(db_error)?;
    // In key order: consecutive probes then share the index pages near each other.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by_key(|&i| keys[i]);
    let mut found: Vec<Option<IndexRecord>> = vec![None; keys.len()];
    {
        let mut stmt = tx
            .prepare_cached(match key {
                Key::Name => {
                    "SELECT idx, name, identifier, digest, entry FROM entries WHERE name = ?1"
                }
                Key::Identifier => {
                    "SELECT idx, name, identifier, digest, entry FROM entries WHERE identifier = ?1"
                }
            })
            .map_err(db_error)?;
        for i in order {
            let row = stmt
                .query_row(params![keys[i]], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                    ))
                })
                .optional()
                .map_err(db_error)?;
            found[i] = row
                .map(|(idx, name, identifier, digest, bytes)| {
                    let index = u64::try_from(idx).map_err(|_| StorageError::Corrupt {
                        what: format!("index row for {name}"),
                        detail: format!("negative index {idx}"),
                    })?;
                    Ok::<_, StorageError>(IndexRecord {
                        index,
                        entry: StoredEntry {
                            bytes,
                            name,
                            identifier,
                            digest,
                        },
                    })
                })
                .transpose()?;
        }
    }
    // Read-only: ending it either way releases the snapshot.
    tx.commit().map_err(db_error)?;
    Ok(found)
}

/// Says at every start how many logged entries alias an earlier one.
fn report_aliases(conn: &Connection) -> Result<(), StorageError> {
    let aliases: i64 = conn
        .query_row(
            "SELECT count(*) FROM entries WHERE identifier IS NULL",
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

/// Locks a connection. A panic while holding it cannot leave SQLite half-updated (an open
/// transaction is rolled back when its guard drops), so a poisoned lock is still usable.
fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn db_error(e: rusqlite::Error) -> StorageError {
    StorageError::Database(e)
}

#[cfg(test)]
mod tests {
    use bintrail_tlog::pypi::{Checksum, Entry, Filename, Publisher};

    use super::*;

    fn name(s: &str) -> Filename {
        s.parse().expect("filename")
    }

    fn id(s: &str) -> String {
        name(s).canonical().to_string()
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
            .lookup_in_writer(&[&id("ALIAS-1.0.tar.gz"), &id("Other-2.0-py3-none-any.whl")])
            .expect("lookup");
        let first = by_alias[0]
            .as_ref()
            .expect("the alias finds the first entry");
        assert_eq!(
            (first.index, first.entry.name.as_str()),
            (0, "alias-1.0.tar.gz")
        );
        let logged = Entry {
            checksum: Checksum::from_digest([1; 32]),
            filename: name("alias-1.0.tar.gz"),
            publisher: None,
        };
        assert_eq!(first.entry.bytes, logged.to_bytes(), "the bytes as logged");
        assert_eq!(by_alias[1].as_ref().map(|r| r.index), Some(2));
        let exact = index.lookup(&["Alias-1.00.zip"]).expect("lookup");
        let alias = exact[0].as_ref().expect("exact lookups still find it");
        assert_eq!((alias.index, alias.entry.identifier.as_deref()), (1, None));
        drop(index);
        // Reopening is a no-op, and new rows are unique on the identifier.
        let index = SqliteIndex::open(&path).expect("reopen");
        let alias = Entry {
            checksum: Checksum::from_digest([9; 32]),
            filename: name("other-2.0-PY3-none-any.whl"),
            publisher: None,
        };
        let alias = IndexRecord {
            index: 4,
            entry: StoredEntry::of(&alias),
        };
        assert!(matches!(
            index.append(&[alias]),
            Err(StorageError::Duplicate { .. })
        ));
    }

    /// A version-1 index (PyPI columns, canonical identifiers) opens at version 2 with
    /// every row's bytes exactly as logged, its identifiers kept (NULL stays NULL).
    #[test]
    fn version_1_index_is_rebuilt_with_entries_as_logged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index.sqlite");
        let with_publisher = Entry {
            checksum: Checksum::from_digest([7; 32]),
            filename: name("Pkg-2.0-py3-none-any.whl"),
            publisher: Some(
                Publisher::new("https://token.actions.githubusercontent.com", "repo:o/r")
                    .expect("publisher"),
            ),
        };
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE entries (idx INTEGER PRIMARY KEY, filename TEXT NOT NULL UNIQUE,
                     canonical TEXT UNIQUE, checksum BLOB NOT NULL, issuer TEXT, subject TEXT);
                 PRAGMA user_version = 1;",
            )
            .expect("v1 schema");
            let p = with_publisher.publisher.as_ref().expect("publisher");
            conn.execute(
                "INSERT INTO entries VALUES (0, ?1, ?2, ?3, ?4, ?5)",
                params![
                    with_publisher.filename.as_str(),
                    with_publisher.filename.canonical().as_str(),
                    with_publisher.checksum.digest().to_vec(),
                    p.issuer,
                    p.subject
                ],
            )
            .expect("v1 row");
            conn.execute(
                "INSERT INTO entries VALUES (1, 'pkg-2.00-py3-none-any.whl', NULL, ?1, NULL, NULL)",
                params![vec![8u8; 32]],
            )
            .expect("v1 alias row");
        }
        let index = SqliteIndex::open(&path).expect("a v1 index opens");
        let version: i64 = lock(&index.writer)
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, 2);
        let found = index
            .lookup_in_writer(&[&id("pkg-2.0-py3-none-any.whl")])
            .expect("lookup");
        let row = found[0].as_ref().expect("found by identifier");
        assert_eq!(row.entry, StoredEntry::of(&with_publisher));
        let alias = index
            .lookup(&["pkg-2.00-py3-none-any.whl"])
            .expect("lookup");
        assert_eq!(
            alias[0].as_ref().map(|r| r.entry.identifier.clone()),
            Some(None)
        );
    }
}
