//! The database schema, its migration from older versions, and the conversions
//! between rows and [`LogState`].

use bintrail_tlog::hash::Hash;
use rusqlite::Connection;

use super::{LogState, StoreError};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs (
    origin      TEXT PRIMARY KEY NOT NULL,
    vkey        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    root_hash   BLOB NOT NULL,
    checkpoint  BLOB
);
CREATE TABLE IF NOT EXISTS evidence (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    origin             TEXT NOT NULL,
    recorded_at        INTEGER NOT NULL,
    kind               TEXT NOT NULL,
    stored_checkpoint  BLOB NOT NULL,
    submitted_request  BLOB NOT NULL,
    -- The submitted checkpoint's signed text: a checkpoint is recorded once,
    -- however often it is replayed with other proof or signature lines.
    submitted_body     BLOB NOT NULL,
    UNIQUE (origin, kind, submitted_body)
);
PRAGMA user_version = 1;
";

/// Schema version 0 (before issue 19) keyed evidence on the whole request
/// body, so random proof bytes made every request a new row. Version 1 keeps
/// forks only, keyed on the submitted checkpoint's text.
pub(super) const MIGRATE_V0_EVIDENCE: &str = "
BEGIN;
ALTER TABLE evidence RENAME TO evidence_v0;
CREATE TABLE evidence (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    origin             TEXT NOT NULL,
    recorded_at        INTEGER NOT NULL,
    kind               TEXT NOT NULL,
    stored_checkpoint  BLOB NOT NULL,
    submitted_request  BLOB NOT NULL,
    submitted_body     BLOB NOT NULL,
    UNIQUE (origin, kind, submitted_body)
);
INSERT OR IGNORE INTO evidence
    (id, origin, recorded_at, kind, stored_checkpoint, submitted_request, submitted_body)
    SELECT id, origin, recorded_at, kind, stored_checkpoint, submitted_request, submitted_request
    FROM evidence_v0 WHERE kind = 'fork';
DROP TABLE evidence_v0;
PRAGMA user_version = 1;
COMMIT;
";

/// The most evidence rows kept per log. Each needs a checkpoint signed by the
/// log's key, so only the log (or its key's thief) can add them; the bound keeps
/// even that from filling the disk that cosigning needs. Beyond it a fork is
/// still refused (422), only not stored again.
pub const MAX_EVIDENCE_PER_LOG: i64 = 1000;

/// Brings a database of an older schema to the current one, in one
/// transaction. A new database has no tables yet and is left to [`SCHEMA`].
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let has_evidence: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evidence')",
        [],
        |row| row.get(0),
    )?;
    if version == 0 && has_evidence {
        conn.execute_batch(MIGRATE_V0_EVIDENCE)?;
    }
    Ok(())
}

pub(super) type RawLogRow = (String, String, i64, Vec<u8>, Option<Vec<u8>>);

pub(super) fn raw_log_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawLogRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

pub(super) fn decode_log_row(raw: RawLogRow) -> Result<LogState, StoreError> {
    let (origin, vkey, size, root, checkpoint) = raw;
    let root: [u8; 32] = match root.try_into() {
        Ok(root) => root,
        Err(_) => {
            return Err(StoreError::Corrupt {
                origin,
                what: "root hash is not 32 bytes",
            });
        }
    };
    Ok(LogState {
        size: from_sql_size(size, &origin)?,
        origin,
        vkey,
        root_hash: Hash::from(root),
        checkpoint,
    })
}

pub(super) fn to_sql_size(size: u64) -> Result<i64, StoreError> {
    i64::try_from(size).map_err(|_| StoreError::SizeTooLarge(size))
}

pub(super) fn from_sql_size(size: i64, origin: &str) -> Result<u64, StoreError> {
    u64::try_from(size).map_err(|_| StoreError::Corrupt {
        origin: origin.to_owned(),
        what: "negative size",
    })
}
