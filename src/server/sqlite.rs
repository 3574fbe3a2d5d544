//! [`Meta`] on SQLite: `DIR/fileio.db`, in WAL mode.
//!
//! Writes go through one connection on a thread of their own, reads (list, usage, lookups)
//! through a few others ([`READERS`]) on tokio's blocking pool, each behind a short mutex
//! held only for the statement's duration; a download holds nothing here but its lease
//! row. The one exception is the lookup of a download with plenty left
//! ([`SqliteMeta::read_now`]), run on the async thread: one indexed read of pages the OS
//! has cached.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::server::auth::Owner;
use crate::server::errors::{ApiError, Gone, GoneWhy};
use crate::server::ids::random;
use crate::server::meta::{
    Change, Completed, Garbage, Inserted, LeaseId, ListQuery, Meta, MetaResult, NewFile, Outcome,
    Page, SortField, Tally, TusLock, TusRow, tus_locked, tus_not_found,
};
use crate::server::meta::{Clock, tombstone_horizon};
use crate::size::ByteSize;

pub struct SqliteMeta {
    /// Writes go to the writer thread ([`writer`]); it ends when this is dropped.
    write: std::sync::mpsc::Sender<Job>,
    read: Arc<[Mutex<Connection>]>,
    clock: Clock,
    /// Bumped by the writer after every commit, before it answers: a row read at an
    /// earlier generation may be out of date. The writer thread is the database's only
    /// writer (the data directory belongs to one server).
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// Rows of files downloaded with plenty left, with their live leases, as read at a
    /// generation: while it holds, a download of a busy file reads nothing (the lookup was
    /// the largest part of a small download's CPU time after its count).
    hot: Mutex<std::collections::HashMap<String, Hot>>,
}

struct Hot {
    generation: u64,
    row: crate::server::meta::FileRow,
    leases: u32,
}

/// The most rows [`SqliteMeta::hot`] keeps; it starts over when full.
const HOT_ROWS: usize = 1024;

/// Read connections: one for each of tokio's worker threads on a two-core machine, and
/// one more for the blocking pool's reads (lists), so that a lookup on an async thread
/// seldom finds them all busy and goes to the pool (two thread wake-ups).
const READERS: usize = 3;

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

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

fn connect(db: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(db)
        .with_context(|| format!("cannot open the database {}", db.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000
    // pages (some 60 uploads here), and it syncs twice: on a disk busy writing back, that
    // stalled every request waiting for the writer thread for 0.4 s to seconds
    // (BENCHMARKS.md). The [`checkpointer`] thread does it instead, beside the writer.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Every statement a step runs stays prepared (rusqlite keeps 16 by default, fewer
    // than the steps use between them: the rest were parsed again and again).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl SqliteMeta {
    /// Opens (or creates) the database, private to its owner whatever the umask (SQLite
    /// gives the -wal and -shm files the database's mode). Called at start-up.
    pub fn open(db: &Path, clock: Clock) -> anyhow::Result<SqliteMeta> {
        SqliteMeta::open_with(db, clock, CHECKPOINT_PAGES)
    }

    /// [`SqliteMeta::open`] with the WAL's length, in pages, that calls the [`checkpointer`].
    fn open_with(db: &Path, clock: Clock, checkpoint_pages: i32) -> anyhow::Result<SqliteMeta> {
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
            CREATE INDEX IF NOT EXISTS leases_blob ON leases(blob);
            CREATE TABLE IF NOT EXISTS tus_uploads (
                id TEXT PRIMARY KEY,
                owner TEXT,
                length INTEGER NOT NULL,
                received INTEGER NOT NULL,
                name TEXT NOT NULL,
                mime TEXT NOT NULL,
                fields TEXT NOT NULL,
                state TEXT NOT NULL,
                expires INTEGER NOT NULL,
                created INTEGER NOT NULL,
                done TEXT,
                lock_id TEXT,
                lock_until INTEGER
            );
            CREATE INDEX IF NOT EXISTS tus_uploads_expires ON tus_uploads(expires);
            CREATE TABLE IF NOT EXISTS gone (
                key TEXT PRIMARY KEY,
                why TEXT NOT NULL,
                at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS gone_at ON gone(at);",
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
        let read = (0..READERS)
            .map(|_| connect(db).map(Mutex::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (jobs, queue) = std::sync::mpsc::channel();
        let writer_clock = clock.clone();
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let bump = generation.clone();
        // One call waiting is enough: it folds in whatever the WAL holds when it runs.
        let (checkpoint, calls) = std::sync::mpsc::sync_channel(1);
        let checkpoint_conn = connect(db)?;
        std::thread::Builder::new()
            .name("fileio-db-checkpoint".into())
            .spawn(move || checkpointer(checkpoint_conn, calls))
            .context("cannot start the database checkpoint thread")?;
        let wal = Wal {
            checkpoint,
            pages: checkpoint_pages,
        };
        std::thread::Builder::new()
            .name("fileio-db-writer".into())
            .spawn(move || writer(conn, writer_clock, queue, &bump, wal))
            .context("cannot start the database writer thread")?;
        Ok(SqliteMeta {
            write: jobs,
            read: read.into(),
            clock,
            generation,
            hot: Mutex::default(),
        })
    }

    /// Up to `limit` rows whose keys sort after `after`, in key order: how `fileio serve
    /// migrate` reads every file without holding them all.
    pub fn rows_after(
        &self,
        after: String,
        limit: u32,
    ) -> MetaResult<'_, Vec<crate::server::meta::FileRow>> {
        self.run(false, move |conn, _| {
            let rows = conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM files WHERE key > ?1 ORDER BY key LIMIT ?2"
                ))?
                .query_map(params![after, limit], read_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Runs `f` with a connection and the time: a write on the writer thread, committed
    /// with the others waiting; a read on the blocking pool.
    fn run<T, F>(&self, write: bool, f: F) -> MetaResult<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> Result<T, ApiError> + Send + 'static,
    {
        if write {
            return self.write(f);
        }
        let conns = self.read.clone();
        let clock = self.clock.clone();
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || {
                let mut conn = match free_reader(&conns) {
                    Some(c) => c,
                    None => conns[0].lock().unwrap_or_else(|e| e.into_inner()),
                };
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

    /// A short read on the calling (async) thread when the read connection is free, else
    /// on the blocking pool as [`SqliteMeta::run`] does. For a lookup by key the trip to
    /// the blocking pool and back (two thread wake-ups) cost more than the read: a 10 KiB
    /// download took ~250 µs of CPU with it, ~150 µs with this and the file read in place
    /// (`blobs::read_cached`). A WAL reader never waits for the writer, so what can hold
    /// this thread is a page the OS no longer caches.
    fn read_now<T, F>(&self, f: F) -> MetaResult<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> Result<T, ApiError> + Send + 'static,
    {
        if let Some(mut conn) = free_reader(&self.read) {
            let r = f(&mut conn, (self.clock)());
            drop(conn);
            return Box::pin(std::future::ready(r));
        }
        self.run(false, f)
    }

    fn write<T, F>(&self, f: F) -> MetaResult<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, DateTime<Utc>) -> Result<T, ApiError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn, now| {
            let r = step(conn, now, f);
            Box::new(move |committed| {
                let r = match r {
                    Ok(Ok(_)) if !committed => {
                        Ok(Err(ApiError::internal("the database did not commit")))
                    }
                    r => r,
                };
                let _ = tx.send(r);
            })
        });
        let sent = self.write.send(job).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(ApiError::internal("the database writer has stopped"));
            }
            match rx.await {
                Ok(Ok(r)) => r,
                // A panic is a bug: let it surface where it can be seen (a test, the log).
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                Err(_) => Err(ApiError::internal("the database writer has stopped")),
            }
        })
    }
}

/// A read connection no one is using, if there is one.
fn free_reader(conns: &[Mutex<Connection>]) -> Option<std::sync::MutexGuard<'_, Connection>> {
    conns.iter().find_map(|c| match c.try_lock() {
        Ok(c) => Some(c),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    })
}

/// A write waiting for the writer thread: it runs its step and returns what hands the
/// answer over once the batch it ran in has been committed (true) or not (false).
type Job = Box<dyn FnOnce(&mut Connection, DateTime<Utc>) -> Deliver + Send>;
type Deliver = Box<dyn FnOnce(bool) + Send>;

/// The most steps committed together.
const BATCH: usize = 64;

/// The writer thread: takes the writes waiting, runs each in its own savepoint, commits
/// them in one transaction, and only then answers each (group commit). One commit, with
/// its WAL append and file locks, then serves up to [`BATCH`] steps (a download makes
/// two: reserve and complete), where each step made its own before. Each step still
/// sees the ones before it, so a one-time file is reserved once; an answer is never given
/// for a step that was not committed.
fn writer(
    mut conn: Connection,
    clock: Clock,
    jobs: std::sync::mpsc::Receiver<Job>,
    generation: &std::sync::atomic::AtomicU64,
    wal: Wal,
) {
    conn.wal_hook(Some(note_wal_pages));
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Should the batch's transaction not begin (the database busy beyond its timeout),
        // each step's savepoint is a transaction of its own, committed or not by itself.
        let begun = run_cached(&conn, "BEGIN IMMEDIATE").is_ok();
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            answers.push(job(&mut conn, clock()));
        }
        let committed = !begun || run_cached(&conn, "COMMIT").is_ok();
        if !committed && !conn.is_autocommit() {
            let _ = run_cached(&conn, "ROLLBACK");
        }
        // Before any answer: whoever hears of this write never reads a row from before it.
        generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        for answer in answers {
            answer(committed);
        }
        if WAL_PAGES.get() >= wal.pages {
            // Full: a call is already waiting.
            let _ = wal.checkpoint.try_send(());
        }
    }
}

/// The [`writer`]'s way to the [`checkpointer`].
struct Wal {
    checkpoint: std::sync::mpsc::SyncSender<()>,
    /// The WAL's length, in pages, that calls for a checkpoint.
    pages: i32,
}

thread_local! {
    /// The pages in the WAL after the writer thread's last commit.
    static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// SQLite's WAL hook on the writer's connection (it replaces the automatic checkpoint):
/// SQLite calls it after each commit, on the committing thread, with no room for state.
fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// The WAL's length, in pages, past which the [`checkpointer`] folds it into the database
/// (16 MiB; SQLite's own checkpoint runs at 1,000 pages). After a checkpoint the writer's
/// next commit starts the WAL over and syncs its header: the one sync left on the writer's
/// way, made rarer by a longer WAL (an upload and its download write ~15 pages).
const CHECKPOINT_PAGES: i32 = 4096;

/// Folds the WAL into the database when the writer calls, off the way of every request: a
/// passive checkpoint neither holds the writer or a reader up nor waits for them (a reader
/// still using some frames leaves them for the next call, which the writer's next commit
/// makes), and its syncs (the WAL's, then the database's) wait for a busy disk here alone.
/// Ends with the writer; closing the last connection folds in the rest.
fn checkpointer(conn: Connection, calls: std::sync::mpsc::Receiver<()>) {
    // Said once for a run of failures, not at every call.
    let mut failing = false;
    for () in calls {
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                crate::server::log!("fileio serve: cannot checkpoint the database: {e}");
            }
            Err(_) => {}
        }
    }
}

/// Runs one step in its own savepoint: a step that fails half-way leaves nothing behind.
fn step<T>(
    conn: &mut Connection,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut Connection, DateTime<Utc>) -> Result<T, ApiError>,
) -> std::thread::Result<Result<T, ApiError>> {
    if let Err(e) = run_cached(conn, "SAVEPOINT step") {
        return Ok(Err(e.into()));
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn, now)));
    let ended = if matches!(r, Ok(Ok(_))) {
        run_cached(conn, "RELEASE step")
    } else {
        run_cached(conn, "ROLLBACK TO step").and_then(|()| run_cached(conn, "RELEASE step"))
    };
    match ended {
        Ok(()) => r,
        Err(e) => Ok(Err(e.into())),
    }
}

/// A transaction-control statement, prepared once: `execute_batch` parsed these four per
/// step and batch again each time, ~18% of a small download's instructions.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// Runs a statement, prepared once per connection: most steps are a few short statements,
/// and preparing them each time cost as much as running them.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<crate::server::meta::FileRow>> {
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {COLUMNS} FROM files WHERE key = ?1"));
    conn.prepare_cached(&SQL)?
        .query_row([key], read_row)
        .optional()
}

/// Deletes a row (its leases go with it); returns its blob as garbage.
fn remove(conn: &Connection, key: &str, blob: &str) -> rusqlite::Result<Garbage> {
    exec(conn, "DELETE FROM files WHERE key = ?1", [key])?;
    exec(conn, "DELETE FROM leases WHERE key = ?1", [key])?;
    Ok(vec![blob.to_string()])
}

/// Deletes a row for good, leaving its tombstone; returns its blob as garbage.
fn bury(
    conn: &Connection,
    key: &str,
    blob: &str,
    gone: Gone,
    now: DateTime<Utc>,
) -> rusqlite::Result<Garbage> {
    exec(
        conn,
        "INSERT OR REPLACE INTO gone (key, why, at) VALUES (?1, ?2, ?3)",
        params![key, gone.why.as_str(), millis(gone.at.unwrap_or(now))],
    )?;
    remove(conn, key, blob)
}

/// What a lookup of a key with no row answers: gone while its tombstone lives, else 404.
fn missing(conn: &Connection, key: &str, now: DateTime<Utc>) -> rusqlite::Result<ApiError> {
    let found: Option<(String, i64)> = conn
        .prepare_cached("SELECT why, at FROM gone WHERE key = ?1 AND at > ?2")?
        .query_row(params![key, millis(tombstone_horizon(now))], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    Ok(
        match found.and_then(|(why, at)| Some((GoneWhy::parse(&why)?, at))) {
            Some((why, at)) => ApiError::gone(Gone {
                why,
                at: Some(from_millis(at)),
            }),
            None => ApiError::not_found(),
        },
    )
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
        return Ok((Err(missing(conn, key, now)?), vec![]));
    };
    if row.is_spent(now) {
        let mut gone = row.gone(now);
        let garbage = if row.auto_delete {
            // Its last download's time is not kept: it went now, as far as anyone can tell.
            gone.at.get_or_insert(now);
            bury(conn, key, &row.blob, gone, now)?
        } else {
            vec![]
        };
        return Ok((Err(ApiError::gone(gone)), garbage));
    }
    Ok((Ok(row), vec![]))
}

/// Leases of a blob that have not run out.
fn live_leases(conn: &Connection, blob: &str, now: DateTime<Utc>) -> rusqlite::Result<u32> {
    conn.prepare_cached("SELECT COUNT(*) FROM leases WHERE blob = ?1 AND expires > ?2")?
        .query_row(params![blob, millis(now)], |r| r.get(0))
}

fn expiry(now: DateTime<Utc>, lease: Duration) -> i64 {
    millis(now) + lease.as_millis().min(i64::MAX as u128) as i64
}

const TUS_COLUMNS: &str =
    "id, owner, length, received, name, mime, fields, state, expires, created, done";

fn read_tus(r: &Row<'_>) -> rusqlite::Result<TusRow> {
    Ok(TusRow {
        id: r.get(0)?,
        owner: r.get(1)?,
        length: length_of(r.get(2)?),
        offset: r.get::<_, i64>(3)? as u64,
        name: r.get(4)?,
        mime: r.get(5)?,
        fields: r.get(6)?,
        state: r.get(7)?,
        expires: from_millis(r.get(8)?),
        created: from_millis(r.get(9)?),
        done: r.get(10)?,
    })
}

/// The `length` column: -1 while the length is deferred.
fn length_of(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

fn get_tus(conn: &Connection, id: &str, now: DateTime<Utc>) -> rusqlite::Result<Option<TusRow>> {
    conn.prepare_cached(&format!(
        "SELECT {TUS_COLUMNS} FROM tus_uploads WHERE id = ?1 AND expires > ?2"
    ))?
    .query_row(params![id, millis(now)], read_tus)
    .optional()
}

impl Meta for SqliteMeta {
    fn now(&self) -> MetaResult<'_, DateTime<Utc>> {
        let now = (self.clock)();
        Box::pin(async move { Ok(now) })
    }

    fn insert(&self, new: NewFile) -> MetaResult<'_, Inserted> {
        self.run(true, move |conn, now| {
            let created = new.created;
            let tx = conn.savepoint()?;
            let buried = tx
                .prepare_cached("SELECT 1 FROM gone WHERE key = ?1")?
                .exists([&new.key])?;
            if buried {
                return Ok(Inserted::Taken);
            }
            check_quota(
                &tx,
                &new.owner,
                0,
                new.contents.size,
                new.max_storage,
                now,
            )?;
            let inserted = exec(&tx,
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

    fn available(&self, key: String) -> MetaResult<'_, Outcome<crate::server::meta::FileRow>> {
        self.run(true, move |conn, now| {
            let (row, garbage) = live(conn, &key, now)?;
            let row = match row {
                Ok(row) => row,
                Err(e) => return Ok((Err(e), garbage)),
            };
            let flying = live_leases(conn, &row.blob, now)?;
            if row.downloads.saturating_add(flying) >= row.max_downloads {
                return Ok((Err(ApiError::not_found()), garbage));
            }
            Ok((Ok(row), garbage))
        })
    }

    fn update(&self, change: Change) -> MetaResult<'_, Outcome<crate::server::meta::FileRow>> {
        self.run(true, move |conn, now| {
            let tx = conn.savepoint()?;
            let Some(mut row) = get(&tx, &change.key)? else {
                return Ok((Err(ApiError::not_found()), vec![]));
            };
            if row.owner.as_deref() != Some(change.owner.as_str()) {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            if row.auto_delete && row.is_spent(now) {
                let mut gone = row.gone(now);
                gone.at.get_or_insert(now);
                let garbage = bury(&tx, &change.key, &row.blob, gone, now)?;
                tx.commit()?;
                return Ok((Err(ApiError::gone(gone)), garbage));
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
            exec(&tx,
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
            if row.auto_delete && row.is_spent(now) {
                // Gone already as far as the owner can tell.
                let mut gone = row.gone(now);
                gone.at.get_or_insert(now);
                let garbage = bury(conn, &key, &row.blob, gone, now)?;
                return Ok((Err(ApiError::gone(gone)), garbage));
            }
            let deleted = Gone {
                why: GoneWhy::Deleted,
                at: Some(now),
            };
            Ok((Ok(()), bury(conn, &key, &row.blob, deleted, now)?))
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
            let tx = conn.savepoint()?;
            let (row, garbage) = live(&tx, &key, now)?;
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    tx.commit()?;
                    return Ok((Err(e), garbage));
                }
            };
            exec(
                &tx,
                "DELETE FROM leases WHERE blob = ?1 AND expires <= ?2",
                params![row.blob, millis(now)],
            )?;
            let flying = live_leases(&tx, &row.blob, now)?;
            if row.downloads.saturating_add(flying) >= row.max_downloads {
                return Ok((Err(ApiError::not_found()), vec![]));
            }
            let id = random(16);
            exec(
                &tx,
                "INSERT INTO leases (id, key, blob, expires) VALUES (?1, ?2, ?3, ?4)",
                params![id, row.key, row.blob, expiry(now, lease)],
            )?;
            tx.commit()?;
            Ok((Ok((row, LeaseId(id))), vec![]))
        })
    }

    /// On the read connection: a download of a file with plenty left writes once, when it
    /// is counted, instead of three times (lease, count and lease gone, two batches).
    fn reserve_plenty(
        &self,
        key: String,
        headroom: u32,
    ) -> MetaResult<'_, Option<crate::server::meta::FileRow>> {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let cached = {
            let hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
            hot.get(&key)
                .filter(|h| h.generation == generation)
                .map(|h| (h.row.clone(), h.leases))
        };
        let found = move |row: crate::server::meta::FileRow, flying: u32, now| {
            if row.is_spent(now) {
                return None;
            }
            let left = row
                .max_downloads
                .saturating_sub(row.downloads)
                .saturating_sub(flying);
            (left > headroom).then_some(row)
        };
        if let Some((row, flying)) = cached {
            // Leases that ran out since only make it look fuller: never more downloads.
            return Box::pin(std::future::ready(Ok(found(row, flying, (self.clock)()))));
        }
        let remember = move |row: &crate::server::meta::FileRow, leases: u32| {
            let mut hot = self.hot.lock().unwrap_or_else(|e| e.into_inner());
            if hot.len() >= HOT_ROWS {
                hot.clear();
            }
            hot.insert(
                row.key.clone(),
                Hot {
                    generation,
                    row: row.clone(),
                    leases,
                },
            );
        };
        let looked_up = self.read_now(move |conn, now| {
            // One statement, so one read transaction (each takes and drops file locks).
            static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                format!(
                    "SELECT {COLUMNS}, (SELECT COUNT(*) FROM leases
                        WHERE blob = COALESCE(files.blob, files.key) AND expires > ?2)
                    FROM files WHERE key = ?1"
                )
            });
            conn.prepare_cached(&SQL)?
                .query_row(params![key, millis(now)], |r| {
                    Ok((read_row(r)?, r.get::<_, u32>(12)?))
                })
                .optional()
                .map_err(ApiError::from)
        });
        Box::pin(async move {
            let Some((row, flying)) = looked_up.await? else {
                return Ok(None);
            };
            remember(&row, flying);
            Ok(found(row, flying, (self.clock)()))
        })
    }

    fn count(&self, key: String, blob: String, n: u32, keep: u32) -> MetaResult<'_, Tally> {
        self.run(true, move |conn, now| {
            // One statement, on the one writer: the check and the count cannot be split by
            // another step, of this instance or (through SQLite's write lock) of another.
            let spent: Option<bool> = conn
                .prepare_cached(
                    "UPDATE files SET downloads = downloads + ?4
                        WHERE key = ?1 AND COALESCE(blob, key) = ?2
                        AND downloads + ?4 + ?5
                            + (SELECT COUNT(*) FROM leases WHERE blob = ?2 AND expires > ?3)
                            <= max_downloads
                        RETURNING auto_delete AND downloads >= max_downloads",
                )?
                .query_row(params![key, blob, millis(now), n, keep], |r| r.get(0))
                .optional()?;
            match spent {
                Some(true) => {
                    let used_up = Gone {
                        why: GoneWhy::UsedUp,
                        at: Some(now),
                    };
                    Ok(Tally::Counted(bury(conn, &key, &blob, used_up, now)?))
                }
                Some(false) => Ok(Tally::Counted(vec![])),
                None if get(conn, &key)?.is_some_and(|row| row.blob == blob) => Ok(Tally::Refused),
                None => Ok(Tally::Stale),
            }
        })
    }

    fn uncount(&self, key: String, blob: String, n: u32) -> MetaResult<'_, ()> {
        self.run(true, move |conn, _| {
            exec(
                conn,
                "UPDATE files SET downloads = downloads - ?3
                    WHERE key = ?1 AND COALESCE(blob, key) = ?2 AND downloads >= ?3",
                params![key, blob, n],
            )?;
            Ok(())
        })
    }

    fn renew(&self, id: LeaseId, lease: Duration) -> MetaResult<'_, bool> {
        self.run(true, move |conn, now| {
            let n = exec(
                conn,
                "UPDATE leases SET expires = ?2 WHERE id = ?1 AND expires > ?3",
                params![id.0, expiry(now, lease), millis(now)],
            )?;
            Ok(n == 1)
        })
    }

    fn complete(&self, id: LeaseId) -> MetaResult<'_, Completed> {
        self.run(true, move |conn, now| {
            let tx = conn.savepoint()?;
            let lease: Option<(String, String, i64)> = tx
                .prepare_cached("SELECT key, blob, expires FROM leases WHERE id = ?1")?
                .query_row([&id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            exec(&tx, "DELETE FROM leases WHERE id = ?1", [&id.0])?;
            let Some((key, blob, expires)) = lease else {
                tx.commit()?;
                return Ok(Completed::default());
            };
            if expires <= millis(now) {
                // Run out: another download may have been given this one since.
                tx.commit()?;
                return Ok(Completed::default());
            }
            let counted = exec(&tx,
                "UPDATE files SET downloads = downloads + 1 WHERE key = ?1 AND COALESCE(blob, key) = ?2",
                params![key, blob],
            )? == 1;
            let mut garbage = vec![];
            if counted {
                if let Some(row) = get(&tx, &key)? {
                    if row.auto_delete && row.downloads >= row.max_downloads {
                        let used_up = Gone {
                            why: GoneWhy::UsedUp,
                            at: Some(now),
                        };
                        garbage = bury(&tx, &key, &row.blob, used_up, now)?;
                    }
                }
            }
            tx.commit()?;
            Ok(Completed { counted, garbage })
        })
    }

    fn release(&self, id: LeaseId) -> MetaResult<'_, ()> {
        self.run(true, move |conn, _| {
            exec(conn, "DELETE FROM leases WHERE id = ?1", [&id.0])?;
            Ok(())
        })
    }

    fn sweep(&self) -> MetaResult<'_, Garbage> {
        self.run(true, move |conn, now| {
            let tx = conn.savepoint()?;
            let rows: Vec<crate::server::meta::FileRow> = tx
                .prepare(&format!("SELECT {COLUMNS} FROM files WHERE {GONE}"))?
                .query_map([millis(now)], read_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut garbage = vec![];
            for row in &rows {
                garbage.extend(bury(&tx, &row.key, &row.blob, row.gone(now), now)?);
            }
            exec(&tx, "DELETE FROM leases WHERE expires <= ?1", [millis(now)])?;
            exec(
                &tx,
                "DELETE FROM gone WHERE at <= ?1",
                [millis(tombstone_horizon(now))],
            )?;
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

    fn tus_create(&self, row: TusRow) -> MetaResult<'_, ()> {
        self.run(true, move |conn, _| {
            exec(
                conn,
                "INSERT INTO tus_uploads (id, owner, length, received, name, mime, fields, state, expires, created, done)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    row.id,
                    row.owner,
                    row.length.map_or(-1, |l| l as i64),
                    row.offset as i64,
                    row.name,
                    row.mime,
                    row.fields,
                    row.state,
                    millis(row.expires),
                    millis(row.created),
                    row.done,
                ],
            )?;
            Ok(())
        })
    }

    fn tus_get(&self, id: String) -> MetaResult<'_, TusRow> {
        self.run(false, move |conn, now| {
            get_tus(conn, &id, now)?.ok_or_else(tus_not_found)
        })
    }

    fn tus_pending(&self, owner: Owner) -> MetaResult<'_, u64> {
        self.run(false, move |conn, now| {
            let n: i64 = conn.query_row(
                "SELECT COALESCE(SUM(CASE WHEN length < 0 THEN received ELSE length END), 0) FROM tus_uploads
                    WHERE owner IS ?1 AND done IS NULL AND expires > ?2",
                params![owner, millis(now)],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
    }

    fn tus_lock(&self, id: String, lease: Duration) -> MetaResult<'_, (TusRow, TusLock)> {
        self.run(true, move |conn, now| {
            let row = match get_tus(conn, &id, now)? {
                Some(row) if row.done.is_none() => row,
                _ => return Err(tus_not_found()),
            };
            let lock = random(16);
            let n = exec(
                conn,
                "UPDATE tus_uploads SET lock_id = ?2, lock_until = ?3
                    WHERE id = ?1 AND (lock_until IS NULL OR lock_until <= ?4)",
                params![id, lock, expiry(now, lease), millis(now)],
            )?;
            if n == 0 {
                return Err(tus_locked());
            }
            Ok((row, TusLock(lock)))
        })
    }

    fn tus_renew(&self, id: String, lock: TusLock, lease: Duration) -> MetaResult<'_, bool> {
        self.run(true, move |conn, now| {
            let n = exec(
                conn,
                "UPDATE tus_uploads SET lock_until = ?3 WHERE id = ?1 AND lock_id = ?2",
                params![id, lock.0, expiry(now, lease)],
            )?;
            Ok(n == 1)
        })
    }

    fn tus_advance(
        &self,
        id: String,
        lock: TusLock,
        offset: u64,
        state: String,
    ) -> MetaResult<'_, bool> {
        self.run(true, move |conn, _| {
            let n = exec(
                conn,
                "UPDATE tus_uploads SET received = ?3, state = ?4 WHERE id = ?1 AND lock_id = ?2",
                params![id, lock.0, offset as i64, state],
            )?;
            Ok(n == 1)
        })
    }

    fn tus_declare(&self, id: String, lock: TusLock, length: u64) -> MetaResult<'_, bool> {
        self.run(true, move |conn, _| {
            let n = exec(
                conn,
                "UPDATE tus_uploads SET length = ?3 WHERE id = ?1 AND lock_id = ?2 AND length < 0",
                params![id, lock.0, length as i64],
            )?;
            Ok(n == 1)
        })
    }

    fn tus_finish(&self, id: String, lock: TusLock, done: String) -> MetaResult<'_, bool> {
        self.run(true, move |conn, _| {
            let n = exec(
                conn,
                "UPDATE tus_uploads SET done = ?3, lock_id = NULL, lock_until = NULL
                    WHERE id = ?1 AND lock_id = ?2",
                params![id, lock.0, done],
            )?;
            Ok(n == 1)
        })
    }

    fn tus_unlock(&self, id: String, lock: TusLock) -> MetaResult<'_, ()> {
        self.run(true, move |conn, _| {
            exec(
                conn,
                "UPDATE tus_uploads SET lock_id = NULL, lock_until = NULL WHERE id = ?1 AND lock_id = ?2",
                params![id, lock.0],
            )?;
            Ok(())
        })
    }

    fn tus_delete(&self, id: String) -> MetaResult<'_, Option<String>> {
        self.run(true, move |conn, now| {
            let tx = conn.savepoint()?;
            let row: Option<(String, Option<String>, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT state, done, lock_until FROM tus_uploads WHERE id = ?1 AND expires > ?2",
                )?
                .query_row(params![id, millis(now)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((state, done, lock_until)) = row else {
                return Err(tus_not_found());
            };
            if lock_until.is_some_and(|t| t > millis(now)) {
                return Err(tus_locked());
            }
            exec(&tx, "DELETE FROM tus_uploads WHERE id = ?1", [&id])?;
            tx.commit()?;
            Ok(done.is_none().then_some(state))
        })
    }

    fn tus_sweep(&self) -> MetaResult<'_, Vec<String>> {
        self.run(true, move |conn, now| {
            let tx = conn.savepoint()?;
            let gone = "expires <= ?1 AND (lock_until IS NULL OR lock_until <= ?1)";
            let states: Vec<String> = tx
                .prepare(&format!(
                    "SELECT state FROM tus_uploads WHERE {gone} AND done IS NULL"
                ))?
                .query_map([millis(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            exec(
                &tx,
                &format!("DELETE FROM tus_uploads WHERE {gone}"),
                [millis(now)],
            )?;
            tx.commit()?;
            Ok(states)
        })
    }

    fn drop_rows_without(&self, present: HashSet<String>) -> MetaResult<'_, usize> {
        self.run(true, move |conn, _| {
            let tx = conn.savepoint()?;
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

    /// Holds the writer thread for a moment, so that what is sent meanwhile is committed
    /// as one batch.
    fn hold_writer(meta: &SqliteMeta) -> MetaResult<'_, ()> {
        meta.write(|_, _| {
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        })
    }

    #[tokio::test]
    async fn steps_committed_together_stay_exactly_once_and_atomic_each() {
        use crate::server::meta::conformance::file;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fileio.db");
        let clock = ManualClock::new();
        let meta = Arc::new(SqliteMeta::open(&db, clock.clock()).unwrap());
        for (key, max) in [("once", 1), ("thrice", 3)] {
            match meta
                .insert(file(key, key, None, max, &clock))
                .await
                .unwrap()
            {
                Inserted::Done(_) => {}
                Inserted::Taken => panic!("taken"),
            }
        }
        let held = hold_writer(&meta);
        // In the batch after the hold: 20 reservations of each file, a step that writes
        // and then fails, a step that panics, and an insert.
        let reserves: Vec<_> = (0..40)
            .map(|i| {
                let key = if i % 2 == 0 { "once" } else { "thrice" };
                meta.reserve(key.into(), Duration::from_secs(60))
            })
            .collect();
        let failing = meta.write(|conn, _| {
            exec(conn, "DELETE FROM files WHERE key = 'thrice'", [])?;
            Err::<(), _>(ApiError::internal("failed half-way"))
        });
        let panicking = {
            let meta = meta.clone();
            tokio::spawn(async move {
                meta.write(|conn, _| {
                    exec(conn, "DELETE FROM files WHERE key = 'once'", [])?;
                    let bug = true;
                    if bug {
                        panic!("a bug in a step");
                    }
                    Ok(())
                })
                .await
            })
        };
        let inserted = meta.insert(file("later", "later", None, 1, &clock));
        let (_, reserved, failed, inserted) = tokio::join!(
            held,
            futures_util::future::join_all(reserves),
            failing,
            inserted
        );
        assert!(panicking.await.unwrap_err().is_panic());
        assert!(failed.is_err());
        assert!(matches!(inserted.unwrap(), Inserted::Done(_)));
        let granted = |key: &str| {
            reserved
                .iter()
                .filter(|r| matches!(&r.as_ref().unwrap().0, Ok((row, _)) if row.key == key))
                .count()
        };
        assert_eq!(granted("once"), 1);
        assert_eq!(granted("thrice"), 3);
        // Neither the failed step nor the panicked one left anything behind, and everything
        // answered is in the database, as a new instance reads it.
        drop(meta);
        let again = SqliteMeta::open(&db, clock.clock()).unwrap();
        assert_eq!(
            again.blob_names().await.unwrap(),
            ["once", "thrice", "later"].map(String::from).into()
        );
        let leases: u32 = again.read[0]
            .lock()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM leases", [], |r| r.get(0))
            .unwrap();
        assert_eq!(leases, 4);
    }

    /// The rows in the database file itself, without its WAL (none before the tables are).
    fn rows_in_main_file(db: &Path) -> i64 {
        let conn = Connection::open_with_flags(
            format!("file:{}?immutable=1", db.display()),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        conn.query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// The commits that pass SQLite's 1,000-page mark leave the WAL alone (a checkpoint
    /// there syncs while every request waits for the writer); the checkpoint thread folds
    /// it in soon after, with nobody waiting.
    #[tokio::test]
    async fn the_wal_is_folded_in_beside_the_writer_never_by_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let wal_pages = |db: &Path| {
            std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len() / 4096)
        };
        for (name, pages) in [("never", i32::MAX), ("soon", 200)] {
            let db = dir.path().join(format!("{name}.db"));
            let meta = SqliteMeta::open_with(&db, clock.clock(), pages).unwrap();
            for i in 0..300 {
                insert_new(&meta, &format!("k{i}"), &format!("b{i}"), 1, &clock).await;
            }
            if name == "never" {
                assert!(wal_pages(&db) > 1000, "{} pages", wal_pages(&db));
                assert_eq!(rows_in_main_file(&db), 0, "a commit checkpointed");
                continue;
            }
            // Folded in each time the WAL passes 200 pages (~60 inserts): the inserts after
            // the last time may stay in the WAL (which starts over after a complete
            // checkpoint, so it may end below the mark), whatever the timing.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while rows_in_main_file(&db) < 200 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "not folded in: {} rows",
                    rows_in_main_file(&db)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Nothing is lost for a reader of the database either way.
            assert_eq!(meta.blob_names().await.unwrap().len(), 300);
        }
    }

    /// Inserts a new file `key` with contents `blob` allowing `max` downloads.
    async fn insert_new(meta: &SqliteMeta, key: &str, blob: &str, max: u32, clock: &ManualClock) {
        use crate::server::meta::conformance::file;
        match meta
            .insert(file(key, blob, None, max, clock))
            .await
            .unwrap()
        {
            Inserted::Done(_) => {}
            Inserted::Taken => panic!("taken"),
        }
    }

    /// A download without a lease is counted only while one is left beyond the live
    /// leases, in one step even when many are committed together.
    #[tokio::test]
    async fn unleased_counts_stop_at_the_last_download_not_taken_by_a_lease() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let meta =
            Arc::new(SqliteMeta::open(&dir.path().join("fileio.db"), clock.clock()).unwrap());
        insert_new(&meta, "three", "three-1", 3, &clock).await;
        let plenty = |headroom| meta.reserve_plenty("three".into(), headroom);
        assert_eq!(plenty(2).await.unwrap().unwrap().blob, "three-1");
        assert!(plenty(3).await.unwrap().is_none());
        // No such file: the lease path answers (404, or 410 while a tombstone says why).
        assert!(
            meta.reserve_plenty("none".into(), 0)
                .await
                .unwrap()
                .is_none()
        );
        let (leased, _) = meta
            .reserve("three".into(), Duration::from_secs(60))
            .await
            .unwrap();
        let (_, lease) = leased.unwrap();
        assert!(plenty(2).await.unwrap().is_none());
        assert!(plenty(1).await.unwrap().is_some());
        // Two left beyond the lease: of many counts committed together, two pass.
        let held = hold_writer(&meta);
        let counts: Vec<_> = (0..20)
            .map(|_| meta.count("three".into(), "three-1".into(), 1, 0))
            .collect();
        let (_, counts) = tokio::join!(held, futures_util::future::join_all(counts));
        let counts: Vec<Tally> = counts.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            counts
                .iter()
                .filter(|t| **t == Tally::Counted(vec![]))
                .count(),
            2
        );
        assert_eq!(counts.iter().filter(|t| **t == Tally::Refused).count(), 18);
        // The lease keeps its download, and the last one drops the file.
        let done = meta.complete(lease).await.unwrap();
        assert!(done.counted);
        assert_eq!(done.garbage, ["three-1"]);
        assert_eq!(
            meta.count("three".into(), "three-1".into(), 1, 0)
                .await
                .unwrap(),
            Tally::Stale
        );
        // Counted to the end without a lease, the file goes with the last count.
        insert_new(&meta, "two", "two-1", 2, &clock).await;
        let count = || meta.count("two".into(), "two-1".into(), 1, 0);
        assert_eq!(count().await.unwrap(), Tally::Counted(vec![]));
        assert_eq!(count().await.unwrap(), Tally::Counted(vec!["two-1".into()]));
        assert_eq!(count().await.unwrap(), Tally::Stale);
        // Other contents than the ones opened: nothing counted.
        insert_new(&meta, "new", "new-2", 2, &clock).await;
        assert_eq!(
            meta.count("new".into(), "new-1".into(), 1, 0)
                .await
                .unwrap(),
            Tally::Stale
        );
        assert!(
            meta.reserve_plenty("new".into(), 1)
                .await
                .unwrap()
                .is_some()
        );
    }

    /// A block of downloads is counted only with `keep` more to spare beyond it and the
    /// live leases, and what was counted ahead goes back only against the same contents.
    #[tokio::test]
    async fn blocks_counted_ahead_leave_the_rest_to_spare_and_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let meta = SqliteMeta::open(&dir.path().join("fileio.db"), clock.clock()).unwrap();
        insert_new(&meta, "ten", "ten-1", 10, &clock).await;
        let downloads = || {
            meta.read[0]
                .lock()
                .unwrap()
                .query_row("SELECT downloads FROM files", [], |r| r.get::<_, u32>(0))
                .unwrap()
        };
        let count = |n, keep| meta.count("ten".into(), "ten-1".into(), n, keep);
        assert_eq!(count(4, 6).await.unwrap(), Tally::Counted(vec![]));
        assert_eq!(downloads(), 4);
        let (leased, _) = meta
            .reserve("ten".into(), Duration::from_secs(60))
            .await
            .unwrap();
        leased.unwrap();
        // 4 counted and 1 leased: 5 left, so 4 with 1 to spare, but not with 2.
        assert_eq!(count(4, 2).await.unwrap(), Tally::Refused);
        assert_eq!(downloads(), 4);
        assert_eq!(count(4, 1).await.unwrap(), Tally::Counted(vec![]));
        assert_eq!(downloads(), 8);
        meta.uncount("ten".into(), "ten-1".into(), 3).await.unwrap();
        assert_eq!(downloads(), 5);
        // Never below zero, never against other contents.
        meta.uncount("ten".into(), "ten-1".into(), 6).await.unwrap();
        meta.uncount("ten".into(), "ten-0".into(), 1).await.unwrap();
        assert_eq!(downloads(), 5);
        assert_eq!(count(4, 1).await.unwrap(), Tally::Refused);
        assert_eq!(count(4, 0).await.unwrap(), Tally::Counted(vec![]));
        assert_eq!(downloads(), 9);
    }

    /// The rows kept for busy downloads never outnumber [`HOT_ROWS`], and a kept row is
    /// not used once a write has been answered.
    #[tokio::test]
    async fn rows_kept_for_downloads_are_bounded_and_dropped_by_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new();
        let meta = SqliteMeta::open(&dir.path().join("fileio.db"), clock.clock()).unwrap();
        for i in 0..HOT_ROWS + 10 {
            let key = format!("k{i}");
            insert_new(&meta, &key, &key, 10, &clock).await;
            assert!(meta.reserve_plenty(key, 0).await.unwrap().is_some());
            assert!(meta.hot.lock().unwrap().len() <= HOT_ROWS);
        }
        let last = format!("k{}", HOT_ROWS + 9);
        let plenty = || meta.reserve_plenty(last.clone(), 5);
        assert_eq!(plenty().await.unwrap().unwrap().downloads, 0);
        let counted = meta.count(last.clone(), last.clone(), 5, 0).await;
        assert_eq!(counted.unwrap(), Tally::Counted(vec![]));
        assert!(plenty().await.unwrap().is_none(), "5 left: not more than 5");
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
