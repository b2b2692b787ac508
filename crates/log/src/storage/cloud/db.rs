//! The PostgreSQL half of [`super::CloudStorage`]: the tree state (both checkpoints), the
//! sequencing lease with its fencing token, and the uniqueness index.
//!
//! Schema (created on first open, under an advisory lock so that several frontends starting
//! at once do not race):
//!
//! - `bintrail_log`, one row: `sequenced_note`/`sequenced_size` (the commit point),
//!   `published_note`/`published_size`, and the lease: `fence` (the fencing token, raised by
//!   every new holder), `holder`, `holder_url` (where the holder takes adds other frontends
//!   forward to it) and `lease_expires` (database time).
//! - `bintrail_entries`: `idx` (primary key, the leaf index), `key` (the canonical identifier,
//!   `UNIQUE`: the database itself refuses a second digest for one file; NULL only for
//!   history logged under older rules), `name` (the exact filename, `UNIQUE`, for lookups),
//!   `digest` (the artifact's digest) and `entry` (the logged entry's bytes).
//!
//! Every write runs in a transaction that first locks the `bintrail_log` row and checks that
//! the caller's fencing token is the current one and its lease has not expired
//! ([`Db::check_fence`]). A sequencer that lost its lease (paused past it, cut off from the
//! database) therefore cannot change the index or either checkpoint, whatever it believes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row, Transaction};

use crate::storage::{CheckpointKind, Outage, StorageError};

/// Bound on one database round trip (or transaction), so a database that stopped answering
/// fails a batch instead of hanging the sequencer.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// An advisory lock key for schema creation ("bintrail" in ASCII).
const SCHEMA_LOCK: i64 = 0x6269_6e74_7261_696c;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bintrail_log (
    id smallint PRIMARY KEY CHECK (id = 1),
    sequenced_note bytea,
    sequenced_size bigint,
    published_note bytea,
    published_size bigint,
    fence bigint NOT NULL DEFAULT 0,
    holder text,
    lease_expires timestamptz
);
INSERT INTO bintrail_log (id) VALUES (1) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS bintrail_entries (
    idx bigint PRIMARY KEY CHECK (idx >= 0),
    key text UNIQUE,
    name text NOT NULL UNIQUE,
    digest bytea NOT NULL,
    entry bytea NOT NULL
);
ALTER TABLE bintrail_log ADD COLUMN IF NOT EXISTS holder_url text;
";

/// Runs `$body` in a transaction on the writer connection (`$tx` names it), bounded by
/// [`OP_TIMEOUT`]; a failed or timed-out attempt drops the connection, so the next call
/// starts from a fresh one.
macro_rules! transaction {
    ($db:expr, $tx:ident => $body:block) => {
        transaction!($db, writer, $tx => $body)
    };
    ($db:expr, $slot:ident, $tx:ident => $body:block) => {{
        let mut slot = $db.$slot.lock().await;
        let result = match connected(&$db.url, &mut slot).await {
            Err(e) => Err(e),
            Ok(client) => tokio::time::timeout(OP_TIMEOUT, async {
                let $tx = client.transaction().await.map_err(db_error)?;
                let value = $body;
                $tx.commit().await.map_err(db_error)?;
                Ok::<_, StorageError>(value)
            })
            .await
            .unwrap_or_else(|_| Err(timeout_error())),
        };
        if result.is_err() {
            *slot = None;
        }
        result
    }};
}

/// A row to append: leaf index, canonical identifier (`None` only for history logged under
/// older rules), exact filename, digest and entry bytes.
pub(crate) type NewRow = (i64, Option<String>, String, Vec<u8>, Vec<u8>);

/// Who holds the lease, as another frontend sees it.
pub(crate) struct Holder {
    /// The holder's name (process, host, random tag).
    pub(crate) name: String,
    /// Seconds its lease still runs by the database's clock (negative: expired or free).
    pub(crate) left: f64,
    /// Where it takes forwarded adds.
    pub(crate) url: Option<String>,
}

/// One row of the index as stored: leaf index and entry bytes.
pub(crate) struct Row2 {
    pub(crate) index: u64,
    pub(crate) entry: Vec<u8>,
    pub(crate) name: String,
    pub(crate) key: Option<String>,
    pub(crate) digest: Vec<u8>,
}

/// Connections to the log's database: one for the sequencer's transactions, one for the
/// lease (so a renewal never queues behind a batch), one shared by concurrent reads. Each
/// reconnects on its next use after the server went away.
pub(crate) struct Db {
    url: String,
    writer: Mutex<Option<Client>>,
    lease: Mutex<Option<Client>>,
    reader: Mutex<Option<Arc<Client>>>,
}

impl Db {
    /// Connects and creates the schema if absent.
    pub(crate) async fn open(url: &str) -> Result<Db, StorageError> {
        let db = Db {
            url: url.to_owned(),
            writer: Mutex::new(None),
            lease: Mutex::new(None),
            reader: Mutex::new(None),
        };
        transaction!(db, tx => {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(db_error)?;
            tx.batch_execute(SCHEMA).await.map_err(db_error)?;
        })?;
        Ok(db)
    }

    /// A client for reads.
    async fn reader(&self) -> Result<Arc<Client>, StorageError> {
        let mut slot = self.reader.lock().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(client.clone());
        }
        let client = Arc::new(connect(&self.url).await?);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Runs one read query.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StorageError> {
        let client = self.reader().await?;
        bounded(client.query(sql, params)).await
    }

    /// Takes the lease if it is free or expired, raising the fencing token and recording
    /// `url` (where this frontend takes forwarded adds); returns the new token, or the
    /// current holder.
    pub(crate) async fn try_acquire(
        &self,
        holder: &str,
        url: &str,
        lease: Duration,
    ) -> Result<Result<i64, Holder>, StorageError> {
        let secs = lease.as_secs_f64();
        transaction!(self, lease, tx => {
            let row = tx
                .query_one(
                    "SELECT coalesce(holder, ''),
                            coalesce(extract(epoch FROM lease_expires - clock_timestamp())::float8, -1),
                            holder_url
                     FROM bintrail_log WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .await
                .map_err(db_error)?;
            let current = Holder {
                name: get(&row, 0)?,
                left: get(&row, 1)?,
                url: get(&row, 2)?,
            };
            if current.left > 0.0 {
                Err(current)
            } else {
                let row = tx
                    .query_one(
                        "UPDATE bintrail_log SET fence = fence + 1, holder = $1, holder_url = $3,
                             lease_expires = clock_timestamp() + make_interval(secs => $2)
                         WHERE id = 1 RETURNING fence",
                        &[&holder, &secs, &url],
                    )
                    .await
                    .map_err(db_error)?;
                Ok(get::<i64>(&row, 0)?)
            }
        })
    }

    /// Extends the lease of token `fence`; `false` if it is no longer this token's (taken
    /// over, or expired: an expired lease is never extended, since another frontend may
    /// already have been told it was free).
    pub(crate) async fn renew(&self, fence: i64, lease: Duration) -> Result<bool, StorageError> {
        let secs = lease.as_secs_f64();
        let rows = transaction!(self, lease, tx => {
            tx.execute(
                "UPDATE bintrail_log
                 SET lease_expires = clock_timestamp() + make_interval(secs => $2)
                 WHERE id = 1 AND fence = $1 AND lease_expires > clock_timestamp()",
                &[&fence, &secs],
            )
            .await
            .map_err(db_error)?
        })?;
        Ok(rows == 1)
    }

    /// Gives the lease up (on shutdown), so another frontend takes over at once.
    pub(crate) async fn release(&self, fence: i64) -> Result<(), StorageError> {
        transaction!(self, lease, tx => {
            tx.execute(
                "UPDATE bintrail_log SET lease_expires = NULL, holder = NULL, holder_url = NULL
                 WHERE id = 1 AND fence = $1",
                &[&fence],
            )
            .await
            .map_err(db_error)?
        })?;
        Ok(())
    }

    /// Checks, inside a transaction, that `fence` holds the lease; locks the state row until
    /// the transaction ends, so a takeover waits for it.
    pub(crate) async fn check_fence(tx: &Transaction<'_>, fence: i64) -> Result<(), StorageError> {
        let row = tx
            .query_one(
                "SELECT fence, coalesce(lease_expires > clock_timestamp(), false)
                 FROM bintrail_log WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await
            .map_err(db_error)?;
        let (current, valid): (i64, bool) = (get(&row, 0)?, get(&row, 1)?);
        if current != fence || !valid {
            return Err(StorageError::Unavailable(Outage::LeaseLost {
                fence,
                current,
                expired: !valid,
            }));
        }
        Ok(())
    }

    /// Fails unless `fence` still holds the lease and the database's sequenced tree has
    /// exactly `size` entries (checked before writing objects, which the store cannot fence).
    pub(crate) async fn ensure_tree(&self, fence: i64, size: u64) -> Result<(), StorageError> {
        let size = to_i64(size)?;
        transaction!(self, tx => {
            Db::check_fence(&tx, fence).await?;
            let row = tx
                .query_one(
                    "SELECT coalesce(sequenced_size, 0) FROM bintrail_log WHERE id = 1",
                    &[],
                )
                .await
                .map_err(db_error)?;
            let stored: i64 = get(&row, 0)?;
            if stored != size {
                return Err(StorageError::Unavailable(Outage::TreeMoved { stored, size }));
            }
        })
    }

    /// The checkpoint note of `kind`.
    pub(crate) async fn read_checkpoint(
        &self,
        kind: CheckpointKind,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let sql = match kind {
            CheckpointKind::Sequenced => "SELECT sequenced_note FROM bintrail_log WHERE id = 1",
            CheckpointKind::Published => "SELECT published_note FROM bintrail_log WHERE id = 1",
        };
        let rows = self.query(sql, &[]).await?;
        match rows.first() {
            Some(row) => get(row, 0),
            None => Ok(None),
        }
    }

    /// Replaces the checkpoint of `kind` if `fence` holds the lease and `size` does not go
    /// below the stored one (a compare-and-swap checked by the database). For the sequenced
    /// checkpoint this is the commit point.
    pub(crate) async fn write_checkpoint(
        &self,
        fence: i64,
        kind: CheckpointKind,
        note: &[u8],
        size: u64,
    ) -> Result<(), StorageError> {
        let (note, size) = (note.to_vec(), to_i64(size)?);
        let sql = match kind {
            CheckpointKind::Sequenced => {
                "UPDATE bintrail_log SET sequenced_note = $1, sequenced_size = $2
                 WHERE id = 1 AND coalesce(sequenced_size, 0) <= $2"
            }
            CheckpointKind::Published => {
                "UPDATE bintrail_log SET published_note = $1, published_size = $2
                 WHERE id = 1 AND coalesce(published_size, 0) <= $2
                   AND $2 <= coalesce(sequenced_size, -1)"
            }
        };
        let updated = transaction!(self, tx => {
            Db::check_fence(&tx, fence).await?;
            tx.execute(sql, &[&note, &size]).await.map_err(db_error)?
        })?;
        if updated != 1 {
            return Err(StorageError::Corrupt {
                what: "tree state".into(),
                detail: format!(
                    "refusing to replace the {kind:?} checkpoint with one of size {size}: the database holds a larger tree"
                ),
            });
        }
        Ok(())
    }

    /// Rows for exact filenames, keyed by filename.
    pub(crate) async fn lookup_names(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, Row2)>, StorageError> {
        let rows = self
            .query(
                "SELECT name, idx, entry, name, key, digest FROM bintrail_entries WHERE name = ANY($1)",
                &[&names],
            )
            .await?;
        rows.iter().map(|r| Ok((get(r, 0)?, row2(r, 1)?))).collect()
    }

    /// Rows for canonical identifiers, keyed by identifier.
    pub(crate) async fn lookup_keys(
        &self,
        keys: &[String],
    ) -> Result<Vec<(String, Row2)>, StorageError> {
        let rows = self
            .query(
                "SELECT key, idx, entry, name, key, digest FROM bintrail_entries WHERE key = ANY($1)",
                &[&keys],
            )
            .await?;
        rows.iter().map(|r| Ok((get(r, 0)?, row2(r, 1)?))).collect()
    }

    /// The number of rows (which hold the indexes `0..n`).
    pub(crate) async fn index_size(&self) -> Result<u64, StorageError> {
        let rows = self
            .query(
                "SELECT count(*), coalesce(max(idx) + 1, 0) FROM bintrail_entries",
                &[],
            )
            .await?;
        let row = rows.first().ok_or_else(timeout_error)?;
        let (count, next): (i64, i64) = (get(row, 0)?, get(row, 1)?);
        if count != next {
            return Err(StorageError::Corrupt {
                what: "index".into(),
                detail: format!("{count} rows but the next index is {next}"),
            });
        }
        Ok(count as u64)
    }

    /// Appends rows `(idx, key, name, entry)` continuing the index, fenced, in one transaction.
    pub(crate) async fn append(&self, fence: i64, rows: Vec<NewRow>) -> Result<(), StorageError> {
        let Some(first) = rows.first().map(|r| r.0) else {
            return Ok(());
        };
        let (mut idx, mut keys, mut names, mut digests, mut entries) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (i, (index, key, name, digest, entry)) in rows.into_iter().enumerate() {
            let expected = first + i as i64;
            if index != expected {
                return Err(StorageError::Gap {
                    expected: expected as u64,
                    got: index as u64,
                });
            }
            idx.push(index);
            keys.push(key);
            names.push(name);
            digests.push(digest);
            entries.push(entry);
        }
        transaction!(self, tx => {
                Db::check_fence(&tx, fence).await?;
                let row = tx
                    .query_one(
                        "SELECT coalesce(max(idx) + 1, 0) FROM bintrail_entries",
                        &[],
                    )
                    .await
                    .map_err(db_error)?;
                let next: i64 = get(&row, 0)?;
                if next != first {
                    return Err(StorageError::Gap {
                        expected: next as u64,
                        got: first as u64,
                    });
                }
                tx.execute(
                    "INSERT INTO bintrail_entries (idx, key, name, digest, entry)
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::bytea[])",
                    &[&idx, &keys, &names, &digests, &entries],
                )
                .await
                .map_err(|e| {
                    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                        StorageError::Duplicate {
                            name: duplicate_name(&e, &names),
                        }
                    } else {
                        db_error(e)
                    }
                })?;
        })
    }

    /// Deletes rows with `idx >= size`, fenced.
    pub(crate) async fn truncate(&self, fence: i64, size: u64) -> Result<(), StorageError> {
        let size = to_i64(size)?;
        transaction!(self, tx => {
            Db::check_fence(&tx, fence).await?;
            tx.execute("DELETE FROM bintrail_entries WHERE idx >= $1", &[&size])
                .await
                .map_err(db_error)?;
        })
    }
}

/// The filename a unique violation names, for the error (the whole batch is refused).
fn duplicate_name(e: &tokio_postgres::Error, names: &[String]) -> String {
    let detail = e
        .as_db_error()
        .and_then(|d| d.detail())
        .unwrap_or_default()
        .to_owned();
    names
        .iter()
        .find(|n| detail.contains(n.as_str()))
        .cloned()
        .unwrap_or(detail)
}

/// Connects, spawning the connection's task.
async fn connect(url: &str) -> Result<Client, StorageError> {
    let (client, connection) = bounded(tokio_postgres::connect(url, NoTls)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "database connection ended");
        }
    });
    // A frontend paused inside a transaction (SIGSTOP, a long GC-like stall) must not hold
    // the state row's lock for ever: the server ends such a session, and a takeover then
    // goes ahead. Lock waits and statements are bounded for the same reason.
    bounded(client.batch_execute(
        "SET idle_in_transaction_session_timeout = 2000;
         SET lock_timeout = 5000;
         SET statement_timeout = 10000;",
    ))
    .await?;
    Ok(client)
}

/// The client in `slot`, connecting first if there is none or it was closed.
async fn connected<'a>(
    url: &str,
    slot: &'a mut Option<Client>,
) -> Result<&'a mut Client, StorageError> {
    if slot.as_ref().is_none_or(Client::is_closed) {
        *slot = Some(connect(url).await?);
    }
    slot.as_mut().ok_or_else(timeout_error)
}

/// Runs one database future under [`OP_TIMEOUT`].
async fn bounded<T>(
    f: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StorageError> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(r) => r.map_err(db_error),
        Err(_) => Err(timeout_error()),
    }
}

fn row2(row: &Row, at: usize) -> Result<Row2, StorageError> {
    let idx: i64 = get(row, at)?;
    Ok(Row2 {
        index: idx as u64,
        entry: get(row, at + 1)?,
        name: get(row, at + 2)?,
        key: get(row, at + 3)?,
        digest: get(row, at + 4)?,
    })
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    at: usize,
) -> Result<T, StorageError> {
    row.try_get(at).map_err(db_error)
}

fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::Corrupt {
        what: "tree size".into(),
        detail: format!("{v} does not fit the database's bigint"),
    })
}

/// A database failure: "unavailable", which the HTTP layer answers with a 503 (and logs
/// the detail for the operator); the batch is retried by the client.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StorageError {
    StorageError::Unavailable(Outage::Database(e))
}

fn timeout_error() -> StorageError {
    StorageError::Unavailable(Outage::DatabaseTimeout(OP_TIMEOUT))
}
