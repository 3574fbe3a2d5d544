//! [`Meta`] on SQLite: `DIR/fileio.db`, in WAL mode.
//!
//! Every call runs on tokio's blocking pool, never on an async worker thread. Writes go
//! through one connection and reads (list, usage, lookups) through another, each behind its
//! own short mutex held only for the statement's duration; a download holds nothing here
//! but its lease row.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::server::auth::Owner;
use crate::server::errors::ApiError;
use crate::server::ids::random;
use crate::server::meta::Clock;
use crate::server::meta::{
    Change, Completed, Garbage, Inserted, LeaseId, ListQuery, Meta, MetaResult, NewFile, Outcome,
    Page, SortField,
};
use crate::size::ByteSize;

pub struct SqliteMeta {
    write: Arc<Mutex<Connection>>,
    read: Arc<Mutex<Connection>>,
    clock: Clock,
}

/// `blob` is NULL in rows written before blobs had their own names: those are named by key.
const COLUMNS: &str = "key, COALESCE(blob, key), owner, name, mime, size, downloads, max_downloads, auto_delete, expires, created, modified";

/// Rows that are gone for good: spent and to be deleted automatically.
const GONE: &str = "auto_delete = 1 AND (expires <= ?1 OR downloads >= max_downloads)";

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<crate::server::meta::FileRow> {
    Ok(crate::server::meta::FileRow {
        key: r.get(0)?,
        blob: r.get(1)?,
        owner: r.get(2)?,
        name: r.get(3)?,
        mime: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        downloads: r.get(6)?,
        max_downloads: r.get(7)?,
        auto_delete: r.get(8)?,
        expires: from_millis(r.get(9)?),
        created: from_millis(r.get(10)?),
        modified: from_millis(r.get(11)?),
    })
}

fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::Name => "name COLLATE NOCASE",
        SortField::Size => "size",
        SortField::Expires => "expires",
        SortField::Created => "created",
        SortField::Modified => "modified",
        SortField::Downloads => "downloads",
    }
}

fn connect(db: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(db)
        .with_context(|| format!("cannot open the database {}", db.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

impl SqliteMeta {
    /// Opens (or creates) the database, private to its owner whatever the umask (SQLite
    /// gives the -wal and -shm files the database's mode). Called at start-up.
    pub fn open(db: &Path, clock: Clock) -> anyhow::Result<SqliteMeta> {
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let file = options
                .open(db)
                .with_context(|| format!("cannot open the database {}", db.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            #[cfg(not(unix))]
            drop(file);
        }
        let conn = connect(db)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS files (
                key TEXT PRIMARY KEY,
                owner TEXT,
                name TEXT NOT NULL,
                mime TEXT NOT NULL,
                size INTEGER NOT NULL,
                downloads INTEGER NOT NULL DEFAULT 0,
                max_downloads INTEGER NOT NULL,
                auto_delete INTEGER NOT NULL,
                expires INTEGER NOT NULL,
                created INTEGER NOT NULL,
                modified INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS files_owner ON files(owner);
            CREATE INDEX IF NOT EXISTS files_expires ON files(expires);
            CREATE TABLE IF NOT EXISTS leases (
                id TEXT PRIMARY KEY,
                key TEXT NOT NULL,
                blob TEXT NOT NULL,
                expires INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS leases_blob ON leases(blob);",
        )
        .context("cannot create the database schema")?;
        let has_blob: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('files') WHERE name = 'blob'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)?;
        if !has_blob {
            conn.execute_batch("ALTER TABLE files ADD COLUMN blob TEXT")
                .context("cannot add the blob column to the database")?;
        }
        let read = connect(db)?;
        Ok(SqliteMeta {
            write: Arc::new(Mutex::new(conn)),
            read: Arc::new(Mutex::new(read)),
            clock,
        })
    }

    /// Runs `f` with a connection and the time, on the blocking pool.
    fn run<T, F>(&self, write: bool, f: F) -> MetaResult<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> Result<T, ApiError> + Send + 'static,
    {
        let conn = if write { &self.write } else { &self.read }.clone();
        let clock = self.clock.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || {
                let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut conn, clock())
            })
            .await
            {
                Ok(r) => r,
                // A panic is a bug: let it surface where it can be seen (a test, the log).
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(ApiError::internal(e)),
            }
        })
    }
}

fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<crate::server::meta::FileRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM files WHERE key = ?1"),
        [key],
        read_row,
    )
    .optional()
}

/// Deletes a row (its leases go with it); returns its blob as garbage.
fn remove(conn: &Connection, key: &str, blob: &str) -> rusqlite::Result<Garbage> {
    conn.execute("DELETE FROM files WHERE key = ?1", [key])?;
    conn.execute("DELETE FROM leases WHERE key = ?1", [key])?;
    Ok(vec![blob.to_string()])
}

fn used(conn: &Connection, owner: &Owner, now: DateTime<Utc>) -> rusqlite::Result<u64> {
    conn.query_row(
        &format!("SELECT COALESCE(SUM(size), 0) FROM files WHERE owner IS ?2 AND NOT ({GONE})"),
        params![millis(now), owner],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

fn check_quota(
    conn: &Connection,
    owner: &Owner,
    freed: u64,
    added: u64,
    max_storage: Option<u64>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(max) = max_storage {
        let used = used(conn, owner, now)?.saturating_sub(freed);
        if used.saturating_add(added) > max {
            return Err(ApiError::too_large(format!(
                "This upload would exceed your storage of {} ({} in use): delete files or upload a smaller one.",
                ByteSize(max),
                ByteSize(used)
            )));
        }
    }
    Ok(())
}

/// A file the caller can download: not spent; a spent auto-delete one is dropped.
fn live(
    conn: &Connection,
    key: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Outcome<crate::server::meta::FileRow>> {
    let Some(row) = get(conn, key)? else {
        return Ok((Err(ApiError::not_found()), vec![]));
    };
    if row.is_spent(now) {
        let garbage = if row.auto_delete {
            remove(conn, key, &row.blob)?
        } else {
            vec![]
        };
        return Ok((Err(ApiError::not_found()), garbage));
    }
    Ok((Ok(row), vec![]))
}

/// Leases of a blob that have not run out.
fn live_leases(conn: &Connection, blob: &str, now: DateTime<Utc>) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM leases WHERE blob = ?1 AND expires > ?2",
        params![blob, millis(now)],
        |r| r.get(0),
    )
}

fn expiry(now: DateTime<Utc>, lease: Duration) -> i64 {
    millis(now) + lease.as_millis().min(i64::MAX as u128) as i64
}

impl Meta for SqliteMeta {
    fn now(&self) -> MetaResult<'_, DateTime<Utc>> {
        let now = (self.clock)();
        Box::pin(async move { Ok(now) })
    }

    fn insert(&self, new: NewFile) -> MetaResult<'_, Inserted> {
        self.run(true, move |conn, now| {
            let created = new.created;
            let tx = conn.transaction()?;
            check_quota(
                &tx,
                &new.owner,
                0,
                new.contents.size,
                new.max_storage,
                now,
            )?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO files (key, blob, owner, name, mime, size, downloads, max_downloads, auto_delete, expires, created, modified)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?10)",
                params![
                    new.key,
                    new.contents.blob,
                    new.owner,
                    new.contents.name,
                    new.contents.mime,
                    new.contents.size as i64,
                    new.settings.max_downloads,
                    new.settings.auto_delete,
                    millis(new.settings.expires),
                    millis(created),
                ],
            )?;
            if inserted == 0 {
                return Ok(Inserted::Taken);
            }
            tx.commit()?;
            Ok(Inserted::Done(crate::server::meta::FileRow {
                key: new.key,
                blob: new.contents.blob,
                owner: new.owner,
                name: new.contents.name,
                mime: new.contents.mime,
                size: new.contents.size,
                downloads: 0,
                max_downloads: new.settings.max_downloads,
                auto_delete: new.settings.auto_delete,
                expires: new.settings.expires,
                created,
                modified: created,
            }))
        })
    }

    fn peek(&self, key: String) -> MetaResult<'_, Outcome<crate::server::meta::FileRow>> {
        self.run(true, move |conn, now| Ok(live(conn, &key, now)?))
    }

    fn update(&self, change: Change) -> MetaResult<'_, Outcome<crate::server::meta::FileRow>> {
        self.run(true, move |conn, now| {
            let tx = conn.transaction()?;
            let Some(mut row) = get(&tx, &change.key)? else {
                return Ok((Err(ApiError::not_found()), vec![]));
            };
            if row.owner.as_deref() != Some(change.owner.as_str()) {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            if row.auto_delete && row.is_spent(now) {
                let garbage = remove(&tx, &change.key, &row.blob)?;
                tx.commit()?;
                return Ok((Err(ApiError::not_found()), garbage));
            }
            let s = match (change.settings)(&row) {
                Ok(s) => s,
                Err(e) => return Ok((Err(e), vec![])),
            };
            let mut garbage = vec![];
            if let Some(c) = &change.contents {
                let owner = Some(change.owner.clone());
                if let Err(e) =
                    check_quota(&tx, &owner, row.size, c.size, change.max_storage, now)
                {
                    return Ok((Err(e), vec![]));
                }
                garbage.push(std::mem::replace(&mut row.blob, c.blob.clone()));
                row.name = c.name.clone();
                row.mime = c.mime.clone();
                row.size = c.size;
            }
            if change.reset_downloads || change.contents.is_some() {
                row.downloads = 0;
            }
            row.expires = s.expires;
            row.max_downloads = s.max_downloads;
            row.auto_delete = s.auto_delete;
            row.modified = now;
            tx.execute(
                "UPDATE files SET name = ?2, mime = ?3, size = ?4, downloads = ?5, max_downloads = ?6,
                    auto_delete = ?7, expires = ?8, modified = ?9, blob = ?10 WHERE key = ?1",
                params![
                    change.key,
                    row.name,
                    row.mime,
                    row.size as i64,
                    row.downloads,
                    row.max_downloads,
                    row.auto_delete,
                    millis(row.expires),
                    millis(row.modified),
                    row.blob,
                ],
            )?;
            tx.commit()?;
            Ok((Ok(row), garbage))
        })
    }

    fn delete(&self, key: String, owner: String) -> MetaResult<'_, Outcome<()>> {
        self.run(true, move |conn, now| {
            let Some(row) = get(conn, &key)? else {
                return Ok((Err(ApiError::not_found()), vec![]));
            };
            if row.owner.as_deref() != Some(owner.as_str()) {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            let garbage = remove(conn, &key, &row.blob)?;
            if row.auto_delete && row.is_spent(now) {
                // Gone already as far as the owner can tell.
                return Ok((Err(ApiError::not_found()), garbage));
            }
            Ok((Ok(()), garbage))
        })
    }

    fn list(&self, q: ListQuery) -> MetaResult<'_, Page> {
        self.run(false, move |conn, now| {
            let now = millis(now);
            let search = q.search.unwrap_or_default().to_lowercase();
            let filter = format!("owner = ?2 AND NOT ({GONE}) AND instr(lower(name), ?3) > 0");
            let (count, size): (i64, i64) = conn.query_row(
                &format!("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE {filter}"),
                params![now, q.owner, search],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let order = match q.sort {
                Some((field, desc)) => format!(
                    "{} {}, key",
                    sort_column(field),
                    if desc { "DESC" } else { "ASC" }
                ),
                None => "created DESC, key".to_string(),
            };
            let limit = q.limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1);
            let mut stmt = conn.prepare(&format!(
                "SELECT {COLUMNS} FROM files WHERE {filter} ORDER BY {order} LIMIT ?4 OFFSET ?5"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        now,
                        q.owner,
                        search,
                        limit,
                        q.offset.min(i64::MAX as u64) as i64
                    ],
                    read_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                rows,
                count: count as u64,
                size: size as u64,
            })
        })
    }

    fn used(&self, owner: Owner) -> MetaResult<'_, u64> {
        self.run(false, move |conn, now| Ok(used(conn, &owner, now)?))
    }

    fn reserve(
        &self,
        key: String,
        lease: Duration,
    ) -> MetaResult<'_, Outcome<(crate::server::meta::FileRow, LeaseId)>> {
        self.run(true, move |conn, now| {
            let tx = conn.transaction()?;
            let (row, garbage) = live(&tx, &key, now)?;
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    tx.commit()?;
                    return Ok((Err(e), garbage));
                }
            };
            tx.execute(
                "DELETE FROM leases WHERE blob = ?1 AND expires <= ?2",
                params![row.blob, millis(now)],
            )?;
            let flying = live_leases(&tx, &row.blob, now)?;
            if row.downloads.saturating_add(flying) >= row.max_downloads {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            let id = random(16);
            tx.execute(
                "INSERT INTO leases (id, key, blob, expires) VALUES (?1, ?2, ?3, ?4)",
                params![id, row.key, row.blob, expiry(now, lease)],
            )?;
            tx.commit()?;
            Ok((Ok((row, LeaseId(id))), vec![]))
        })
    }

    fn renew(&self, id: LeaseId, lease: Duration) -> MetaResult<'_, bool> {
        self.run(true, move |conn, now| {
            let n = conn.execute(
                "UPDATE leases SET expires = ?2 WHERE id = ?1 AND expires > ?3",
                params![id.0, expiry(now, lease), millis(now)],
            )?;
            Ok(n == 1)
        })
    }

    fn complete(&self, id: LeaseId) -> MetaResult<'_, Completed> {
        self.run(true, move |conn, now| {
            let tx = conn.transaction()?;
            let lease: Option<(String, String, i64)> = tx
                .query_row(
                    "SELECT key, blob, expires FROM leases WHERE id = ?1",
                    [&id.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            tx.execute("DELETE FROM leases WHERE id = ?1", [&id.0])?;
            let Some((key, blob, expires)) = lease else {
                tx.commit()?;
                return Ok(Completed::default());
            };
            if expires <= millis(now) {
                // Run out: another download may have been given this one since.
                tx.commit()?;
                return Ok(Completed::default());
            }
            let counted = tx.execute(
                "UPDATE files SET downloads = downloads + 1 WHERE key = ?1 AND COALESCE(blob, key) = ?2",
                params![key, blob],
            )? == 1;
            let mut garbage = vec![];
            if counted {
                if let Some(row) = get(&tx, &key)? {
                    if row.auto_delete && row.downloads >= row.max_downloads {
                        garbage = remove(&tx, &key, &row.blob)?;
                    }
                }
            }
            tx.commit()?;
            Ok(Completed { counted, garbage })
        })
    }

    fn release(&self, id: LeaseId) -> MetaResult<'_, ()> {
        self.run(true, move |conn, _| {
            conn.execute("DELETE FROM leases WHERE id = ?1", [&id.0])?;
            Ok(())
        })
    }

    fn sweep(&self) -> MetaResult<'_, Garbage> {
        self.run(true, move |conn, now| {
            let tx = conn.transaction()?;
            let rows: Vec<(String, String)> = tx
                .prepare(&format!(
                    "SELECT key, COALESCE(blob, key) FROM files WHERE {GONE}"
                ))?
                .query_map([millis(now)], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut garbage = vec![];
            for (key, blob) in &rows {
                garbage.extend(remove(&tx, key, blob)?);
            }
            tx.execute("DELETE FROM leases WHERE expires <= ?1", [millis(now)])?;
            tx.commit()?;
            Ok(garbage)
        })
    }

    fn blob_names(&self) -> MetaResult<'_, HashSet<String>> {
        self.run(false, move |conn, _| {
            let names = conn
                .prepare("SELECT COALESCE(blob, key) FROM files")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(names)
        })
    }

    fn drop_rows_without(&self, present: HashSet<String>) -> MetaResult<'_, usize> {
        self.run(true, move |conn, _| {
            let tx = conn.transaction()?;
            let rows: Vec<(String, String)> = tx
                .prepare("SELECT key, COALESCE(blob, key) FROM files")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut n = 0;
            for (key, blob) in rows {
                if !present.contains(&blob) {
                    remove(&tx, &key, &blob)?;
                    n += 1;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::meta::conformance::{ManualClock, run};

    #[tokio::test]
    async fn sqlite_meets_the_meta_contract_with_two_instances_on_one_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fileio.db");
        let clock = ManualClock::new();
        let a = SqliteMeta::open(&db, clock.clock()).unwrap();
        let b = SqliteMeta::open(&db, clock.clock()).unwrap();
        run(Arc::new(a), Arc::new(b), &clock).await;
    }

    #[tokio::test]
    async fn rows_from_before_blob_names_are_read_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fileio.db");
        {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(
                "CREATE TABLE files (key TEXT PRIMARY KEY, owner TEXT, name TEXT NOT NULL,
                    mime TEXT NOT NULL, size INTEGER NOT NULL, downloads INTEGER NOT NULL DEFAULT 0,
                    max_downloads INTEGER NOT NULL, auto_delete INTEGER NOT NULL,
                    expires INTEGER NOT NULL, created INTEGER NOT NULL, modified INTEGER NOT NULL);
                 INSERT INTO files VALUES ('OldKey000001', NULL, 'a.txt', 'text/plain', 1, 0, 1, 1,
                    99999999999999, 0, 0);",
            )
            .unwrap();
        }
        let clock = ManualClock::new();
        let meta = SqliteMeta::open(&db, clock.clock()).unwrap();
        assert_eq!(
            meta.blob_names().await.unwrap(),
            ["OldKey000001".to_string()].into()
        );
        let (row, _) = meta
            .reserve("OldKey000001".into(), Duration::from_secs(60))
            .await
            .unwrap();
        let (row, lease) = row.unwrap();
        assert_eq!(row.blob, "OldKey000001");
        let done = meta.complete(lease).await.unwrap();
        assert!(done.counted);
        assert_eq!(done.garbage, ["OldKey000001"]);
    }
}
