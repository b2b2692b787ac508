//! The witness's SQLite state: the logs it witnesses, the latest checkpoint it
//! cosigned for each, and evidence of split views.
//!
//! Concurrency: one connection behind a mutex, held for one statement at a
//! time. The state update is a compare-and-swap in SQL (`UPDATE … WHERE size = ?
//! AND root_hash = ?`), so two requests that both checked against the same old
//! state cannot both win, and a checkpoint is never replaced by an older one,
//! even across processes sharing the file.
//!
//! Crash safety: the database runs in WAL mode with `synchronous = FULL`, so a
//! cosignature is returned only after the new state is durable (tlog-witness:
//! "The witness MUST persist the new checkpoint before responding").

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use bintrail_tlog::hash::{Hash, empty_tree_hash};
use rusqlite::{Connection, OptionalExtension, params};

/// The stored state of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    /// The log's origin line.
    pub origin: String,
    /// The log's verifier key (vkey) as added by the operator.
    pub vkey: String,
    /// The size of the latest cosigned checkpoint; 0 before the first one.
    pub size: u64,
    /// The root hash of the latest cosigned checkpoint; the empty tree's hash before the first.
    pub root_hash: Hash,
    /// The latest cosigned checkpoint note (log signature and this witness's
    /// cosignature); `None` before the first.
    pub checkpoint: Option<Vec<u8>>,
}

/// Evidence of log misbehaviour: a validly signed checkpoint that the witness
/// found inconsistent with the one it had stored, both kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// Row id, increasing in recording order.
    pub id: i64,
    /// The log's origin line.
    pub origin: String,
    /// When the witness recorded it, seconds since the Unix epoch.
    pub recorded_at: u64,
    /// What was inconsistent (an [`EvidenceKind`] label).
    pub kind: String,
    /// The checkpoint note the witness had stored and cosigned.
    pub stored_checkpoint: Vec<u8>,
    /// The submitted checkpoint note: its signed text and the log's signatures on
    /// it (evidence recorded before issue 19 holds the whole `add-checkpoint`
    /// request body instead).
    pub submitted_request: Vec<u8>,
}

/// The kinds of evidence the witness records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvidenceKind {
    /// Two validly signed checkpoints of the same size with different root
    /// hashes: a proven split view.
    Fork,
    /// A validly signed checkpoint whose consistency proof from the stored
    /// checkpoint does not verify. No longer recorded (issue 19): the proof is
    /// not signed, so anyone can pair the log's public checkpoint with random
    /// bytes; evidence of this kind in older databases is dropped on open.
    BadProof,
}

impl EvidenceKind {
    /// A short stable label, stored in the database and printed by the CLI.
    pub fn label(self) -> &'static str {
        match self {
            EvidenceKind::Fork => "fork",
            EvidenceKind::BadProof => "bad-consistency-proof",
        }
    }
}

mod error;
mod schema;

pub use error::StoreError;
pub use schema::MAX_EVIDENCE_PER_LOG;
use schema::{SCHEMA, decode_log_row, from_sql_size, migrate, raw_log_row, to_sql_size};

/// The witness state database. Cheap to share behind an `Arc`.
pub struct Store {
    /// The one connection; the mutex serializes statements, the SQL
    /// compare-and-swap serializes updates.
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// Opens a private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // WAL lets readers run beside the writer; FULL syncs the WAL on every
        // commit, which is what "persist before responding" needs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-updated (each
        // statement is atomic), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a log at size 0 with the empty tree's root hash.
    /// Fails with [`StoreError::LogExists`] if the origin is present.
    pub fn add_log(&self, origin: &str, vkey: &str) -> Result<(), StoreError> {
        let empty = empty_tree_hash();
        let changed = self.conn().execute(
            "INSERT OR IGNORE INTO logs (origin, vkey, size, root_hash, checkpoint)
             VALUES (?1, ?2, 0, ?3, NULL)",
            params![origin, vkey, empty.0.as_slice()],
        )?;
        if changed == 0 {
            return Err(StoreError::LogExists {
                origin: origin.to_owned(),
            });
        }
        Ok(())
    }

    /// Removes a log and its state (evidence is kept).
    /// Fails with [`StoreError::UnknownLog`] if the origin is absent.
    pub fn remove_log(&self, origin: &str) -> Result<(), StoreError> {
        let changed = self
            .conn()
            .execute("DELETE FROM logs WHERE origin = ?1", params![origin])?;
        if changed == 0 {
            return Err(StoreError::UnknownLog {
                origin: origin.to_owned(),
            });
        }
        Ok(())
    }

    /// The state of one log, or `None` if it is not witnessed.
    pub fn log(&self, origin: &str) -> Result<Option<LogState>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT origin, vkey, size, root_hash, checkpoint FROM logs WHERE origin = ?1",
                params![origin],
                raw_log_row,
            )
            .optional()?;
        row.map(decode_log_row).transpose()
    }

    /// Every witnessed log, ordered by origin.
    pub fn logs(&self) -> Result<Vec<LogState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT origin, vkey, size, root_hash, checkpoint FROM logs ORDER BY origin",
        )?;
        let rows = stmt.query_map([], raw_log_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode_log_row(row?)?);
        }
        Ok(out)
    }

    /// Atomically replaces the state of `origin` if, and only if, it is still
    /// (`old_size`, `old_root`). On [`StoreError::Conflict`] nothing changed and
    /// the error carries the size stored now; [`StoreError::UnknownLog`] if the
    /// log was removed meanwhile.
    pub fn compare_and_swap(
        &self,
        origin: &str,
        old: (u64, &Hash),
        new: (u64, &Hash),
        checkpoint: &[u8],
    ) -> Result<(), StoreError> {
        let old_size = to_sql_size(old.0)?;
        let new_size = to_sql_size(new.0)?;
        let conn = self.conn();
        // The commit point: after this statement the new checkpoint is the
        // witness's view, durable before any cosignature leaves the process.
        let changed = conn.execute(
            "UPDATE logs SET size = ?1, root_hash = ?2, checkpoint = ?3
             WHERE origin = ?4 AND size = ?5 AND root_hash = ?6",
            params![
                new_size,
                new.1.0.as_slice(),
                checkpoint,
                origin,
                old_size,
                old.1.0.as_slice()
            ],
        )?;
        if changed == 1 {
            return Ok(());
        }
        let size: Option<i64> = conn
            .query_row(
                "SELECT size FROM logs WHERE origin = ?1",
                params![origin],
                |row| row.get(0),
            )
            .optional()?;
        match size {
            Some(size) => Err(StoreError::Conflict {
                current_size: from_sql_size(size, origin)?,
            }),
            None => Err(StoreError::UnknownLog {
                origin: origin.to_owned(),
            }),
        }
    }

    /// Records evidence: the stored checkpoint note, the submitted one, and the
    /// submitted checkpoint's signed text (`submitted_body`), the key a replay is
    /// recognized by. Returns whether a row was added: `false` for a repeat of
    /// the same (origin, kind, body), and once the log has
    /// [`MAX_EVIDENCE_PER_LOG`] rows.
    pub fn record_evidence(
        &self,
        origin: &str,
        kind: EvidenceKind,
        recorded_at: u64,
        stored_checkpoint: &[u8],
        submitted_checkpoint: &[u8],
        submitted_body: &[u8],
    ) -> Result<bool, StoreError> {
        let added = self.conn().execute(
            "INSERT OR IGNORE INTO evidence
               (origin, recorded_at, kind, stored_checkpoint, submitted_request, submitted_body)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6
             WHERE (SELECT COUNT(*) FROM evidence WHERE origin = ?1) < ?7",
            params![
                origin,
                to_sql_size(recorded_at)?,
                kind.label(),
                stored_checkpoint,
                submitted_checkpoint,
                submitted_body,
                MAX_EVIDENCE_PER_LOG,
            ],
        )?;
        Ok(added == 1)
    }

    /// How many evidence records are kept (for metrics; reads no blobs).
    pub fn evidence_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM evidence", [], |row| row.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// All recorded evidence, oldest first.
    pub fn evidence(&self) -> Result<Vec<ForkEvidence>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, origin, recorded_at, kind, stored_checkpoint, submitted_request
             FROM evidence ORDER BY id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Vec<u8>>(4)?,
                row.get::<_, Vec<u8>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, origin, recorded_at, kind, stored_checkpoint, submitted_request) = row?;
            out.push(ForkEvidence {
                recorded_at: from_sql_size(recorded_at, &origin)?,
                id,
                origin,
                kind,
                stored_checkpoint,
                submitted_request,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> Hash {
        Hash::from([byte; 32])
    }

    #[test]
    fn add_log_starts_empty_and_refuses_duplicates() {
        let store = Store::open_in_memory().expect("open");
        store.add_log("example.com/log", "vkey").expect("add");
        let state = store
            .log("example.com/log")
            .expect("read")
            .expect("present");
        assert_eq!(state.size, 0);
        assert_eq!(state.root_hash, empty_tree_hash());
        assert_eq!(state.checkpoint, None);
        assert!(matches!(
            store.add_log("example.com/log", "other"),
            Err(StoreError::LogExists { .. })
        ));
    }

    #[test]
    fn compare_and_swap_moves_forward_once() {
        let store = Store::open_in_memory().expect("open");
        store.add_log("o", "k").expect("add");
        let empty = empty_tree_hash();
        store
            .compare_and_swap("o", (0, &empty), (5, &hash(5)), b"cp5")
            .expect("first swap");
        // A second request that checked against the same old state loses.
        let err = store
            .compare_and_swap("o", (0, &empty), (3, &hash(3)), b"cp3")
            .expect_err("stale swap");
        assert!(matches!(err, StoreError::Conflict { current_size: 5 }));
        let state = store.log("o").expect("read").expect("present");
        assert_eq!((state.size, state.root_hash), (5, hash(5)));
        assert_eq!(state.checkpoint.as_deref(), Some(&b"cp5"[..]));
    }

    #[test]
    fn compare_and_swap_checks_the_root_too() {
        let store = Store::open_in_memory().expect("open");
        store.add_log("o", "k").expect("add");
        store
            .compare_and_swap("o", (0, &empty_tree_hash()), (5, &hash(5)), b"cp5")
            .expect("swap");
        let err = store
            .compare_and_swap("o", (5, &hash(6)), (7, &hash(7)), b"cp7")
            .expect_err("wrong root");
        assert!(matches!(err, StoreError::Conflict { current_size: 5 }));
    }

    #[test]
    fn compare_and_swap_on_removed_log() {
        let store = Store::open_in_memory().expect("open");
        let err = store
            .compare_and_swap("gone", (0, &empty_tree_hash()), (1, &hash(1)), b"cp")
            .expect_err("unknown");
        assert!(matches!(err, StoreError::UnknownLog { .. }));
    }

    #[test]
    fn sizes_beyond_i64_are_refused() {
        let store = Store::open_in_memory().expect("open");
        store.add_log("o", "k").expect("add");
        let err = store
            .compare_and_swap("o", (0, &empty_tree_hash()), (u64::MAX, &hash(1)), b"cp")
            .expect_err("too large");
        assert!(matches!(err, StoreError::SizeTooLarge(u64::MAX)));
    }

    #[test]
    fn remove_and_list() {
        let store = Store::open_in_memory().expect("open");
        store.add_log("b", "kb").expect("add");
        store.add_log("a", "ka").expect("add");
        let origins: Vec<_> = store
            .logs()
            .expect("list")
            .into_iter()
            .map(|l| l.origin)
            .collect();
        assert_eq!(origins, ["a", "b"]);
        store.remove_log("a").expect("remove");
        assert!(store.log("a").expect("read").is_none());
        assert!(matches!(
            store.remove_log("a"),
            Err(StoreError::UnknownLog { .. })
        ));
    }

    #[test]
    fn evidence_is_recorded_once() {
        let store = Store::open_in_memory().expect("open");
        assert!(
            store
                .record_evidence("o", EvidenceKind::Fork, 10, b"stored", b"note 1", b"body")
                .expect("record")
        );
        // The same checkpoint body with other signature lines is a replay.
        assert!(
            !store
                .record_evidence("o", EvidenceKind::Fork, 11, b"stored", b"note 2", b"body")
                .expect("record")
        );
        let evidence = store.evidence().expect("read");
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].kind, "fork");
        assert_eq!(evidence[0].recorded_at, 10);
        assert_eq!(evidence[0].submitted_request, b"note 1");
    }

    #[test]
    fn issue_19_evidence_per_log_is_bounded() {
        let store = Store::open_in_memory().expect("open");
        for i in 0..MAX_EVIDENCE_PER_LOG + 5 {
            let body = i.to_string();
            let added = store
                .record_evidence("o", EvidenceKind::Fork, 1, b"s", b"n", body.as_bytes())
                .expect("record");
            assert_eq!(added, i < MAX_EVIDENCE_PER_LOG, "row {i}");
        }
        assert!(
            store
                .record_evidence("other", EvidenceKind::Fork, 1, b"s", b"n", b"0")
                .expect("record"),
            "the bound is per log"
        );
    }

    #[test]
    fn issue_19_version_0_database_keeps_forks_and_drops_bad_proof_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE evidence (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL,
                    recorded_at INTEGER NOT NULL, kind TEXT NOT NULL,
                    stored_checkpoint BLOB NOT NULL, submitted_request BLOB NOT NULL,
                    UNIQUE (origin, kind, submitted_request));
                 INSERT INTO evidence VALUES (1, 'o', 5, 'fork', x'01', x'02');
                 INSERT INTO evidence VALUES (2, 'o', 6, 'bad-consistency-proof', x'01', x'03');
                 INSERT INTO evidence VALUES (3, 'o', 7, 'bad-consistency-proof', x'01', x'04');",
            )
            .expect("old schema");
        }
        let store = Store::open(&path).expect("migrated");
        let evidence = store.evidence().expect("read");
        assert_eq!(evidence.len(), 1);
        assert_eq!((evidence[0].id, evidence[0].kind.as_str()), (1, "fork"));
        assert_eq!(evidence[0].submitted_request, vec![2]);
        drop(store);
        // Opening again migrates nothing twice.
        assert_eq!(
            Store::open(&path)
                .expect("reopen")
                .evidence()
                .expect("read")
                .len(),
            1
        );
    }

    #[test]
    fn state_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.db");
        {
            let store = Store::open(&path).expect("open");
            store.add_log("o", "k").expect("add");
            store
                .compare_and_swap("o", (0, &empty_tree_hash()), (2, &hash(2)), b"cp2")
                .expect("swap");
        }
        let store = Store::open(&path).expect("reopen");
        let state = store.log("o").expect("read").expect("present");
        assert_eq!((state.size, state.root_hash), (2, hash(2)));
    }
}
