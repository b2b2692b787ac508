//! Schema versions of the SQLite index (`PRAGMA user_version`) and the migration to the
//! current one, run on open in one transaction.
//!
//! - 0: `entries(idx, filename UNIQUE, checksum, issuer, subject)`, unique on the
//!   filename only.
//! - 1: adds `canonical UNIQUE`, the PyPI canonical identifier (issue 19, H6).
//! - 2 (current): the log's generic index row: `entries(idx, name UNIQUE, identifier
//!   UNIQUE, digest, entry)`, the entry's bytes stored whole so that the index never
//!   needs to know the entry kind.
//!
//! Versions 0 and 1 only ever held `pypi-transparency/v1` entries, so migrating them is
//! the one place this backend knows that format: a row's entry bytes are rebuilt from its
//! columns exactly as `Entry::to_bytes` wrote them when it was logged, and a version-0
//! row gets its file's canonical identifier, except a row aliasing an earlier one, which
//! keeps none (and is named in the log).

use std::collections::HashMap;

use bintrail_tlog::pypi::{Checksum, ENTRY_HEADER, Filename};
use rusqlite::{Connection, params};

use super::db_error;
use crate::storage::StorageError;

/// The current schema (version 2); a no-op on an index already at it.
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS entries (
        idx        INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        identifier TEXT UNIQUE,
        digest     BLOB NOT NULL,
        entry      BLOB NOT NULL
    );
    PRAGMA user_version = 2;";

/// Rebuilds a version-0 or version-1 index at the current version, in one transaction. A
/// new database, or one already current, is left alone.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
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
    if version >= 2 || !has_entries {
        return Ok(());
    }
    let tx = conn.transaction().map_err(db_error)?;
    tx.execute_batch("ALTER TABLE entries RENAME TO entries_old;")
        .map_err(db_error)?;
    tx.execute_batch(SCHEMA).map_err(db_error)?;
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut rows = 0u64;
    {
        // Version 1 keeps its identifiers as they are (NULL stays NULL); version 0 has none.
        let select = if version == 1 {
            "SELECT idx, filename, checksum, issuer, subject, canonical FROM entries_old ORDER BY idx"
        } else {
            "SELECT idx, filename, checksum, issuer, subject, NULL FROM entries_old ORDER BY idx"
        };
        let mut read = tx.prepare(select).map_err(db_error)?;
        let mut write = tx
            .prepare("INSERT INTO entries (idx, name, identifier, digest, entry) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(db_error)?;
        let mut cursor = read.query([]).map_err(db_error)?;
        while let Some(row) = cursor.next().map_err(db_error)? {
            let idx: i64 = row.get(0).map_err(db_error)?;
            let filename: String = row.get(1).map_err(db_error)?;
            let checksum: Vec<u8> = row.get(2).map_err(db_error)?;
            let issuer: Option<String> = row.get(3).map_err(db_error)?;
            let subject: Option<String> = row.get(4).map_err(db_error)?;
            let identifier: Option<String> = if version == 1 {
                row.get(5).map_err(db_error)?
            } else {
                v0_identifier(idx, &filename, &mut seen)
            };
            let entry = pypi_entry_bytes(idx, &filename, &checksum, issuer, subject)?;
            write
                .execute(params![idx, filename, identifier, checksum, entry])
                .map_err(db_error)?;
            rows += 1;
        }
    }
    tx.execute_batch("DROP TABLE entries_old;")
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    tracing::info!(
        rows,
        from = version,
        "rebuilt the uniqueness index at schema version 2 (entries stored whole)"
    );
    Ok(())
}

/// The canonical identifier of a version-0 row, or none for a name no longer accepted or
/// an alias of an earlier row (`seen` maps identifiers to the first filename).
fn v0_identifier(idx: i64, filename: &str, seen: &mut HashMap<String, String>) -> Option<String> {
    let canonical = match filename.parse::<Filename>() {
        Ok(f) => f.canonical().to_string(),
        Err(e) => {
            tracing::warn!(index = idx, %filename, error = %e, "a logged filename is no longer accepted; it keeps no canonical identifier");
            return None;
        }
    };
    match seen.get(&canonical) {
        Some(first) => {
            tracing::warn!(index = idx, %filename, alias_of = %first, identifier = %canonical, "the log holds two entries for one canonical identifier (logged before aliases were refused)");
            None
        }
        None => {
            seen.insert(canonical.clone(), filename.to_owned());
            Some(canonical)
        }
    }
}

/// The `pypi-transparency/v1` bytes a version-0/1 row was logged as (see `Entry::to_bytes`:
/// header, checksum, filename and the optional publisher line, no trailing newline).
fn pypi_entry_bytes(
    idx: i64,
    filename: &str,
    checksum: &[u8],
    issuer: Option<String>,
    subject: Option<String>,
) -> Result<Vec<u8>, StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        what: format!("index row {idx}"),
        detail,
    };
    let digest: [u8; 32] = checksum
        .try_into()
        .map_err(|_| corrupt(format!("checksum has {} bytes", checksum.len())))?;
    let mut text = format!(
        "{ENTRY_HEADER}\n{}\n{filename}",
        Checksum::from_digest(digest)
    );
    match (issuer, subject) {
        (Some(issuer), Some(subject)) => {
            text.push_str(&format!("\npublisher {issuer} {subject}"));
        }
        (None, None) => {}
        _ => {
            return Err(corrupt(
                "publisher has an issuer or a subject but not both".into(),
            ));
        }
    }
    Ok(text.into_bytes())
}
