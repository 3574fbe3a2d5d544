//! The client's own small SQLite files (the upload history, the states of uploads to
//! resume), opened so that nothing in them makes an upload wait for the disk. Behind a disk
//! busy writing back (a CI runner that just built something) one fsync, or one freed block,
//! takes from tens of milliseconds to seconds (BENCHMARKS.md, issue 13).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::Connection;
use rusqlite::config::DbConfig;

/// One such file and the tables it holds. Each operation opens its own short connection, so
/// that parallel `fileio` processes wait for each other for milliseconds, never for a whole
/// upload.
pub struct LocalDb {
    path: PathBuf,
    /// `CREATE TABLE IF NOT EXISTS …` statements, run by every connection.
    schema: &'static str,
}

/// How long an operation waits for other processes holding the file.
const PATIENCE: Duration = Duration::from_secs(10);

/// The size past which [`LocalDb::open`] folds the write-ahead log into the database:
/// about 1,000 pages, SQLite's own default; some 500 uploads' history entries.
pub const WAL_LIMIT: u64 = 4 * 1024 * 1024;

impl LocalDb {
    /// Creates the file (0600: it may hold management tokens and upload URLs) and its tables
    /// if needed, and checks that it is a database. Now and then (see [`WAL_LIMIT`]) it folds
    /// the write-ahead log into the database here, before an upload starts (3 syncs).
    pub fn open(path: &Path, schema: &'static str) -> Result<LocalDb> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Created 0600 before SQLite opens it; its -wal file takes the same mode.
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let db = LocalDb {
            path: path.to_owned(),
            schema,
        };
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let long = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT);
        db.with(|conn| {
            if long {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            }
            Ok(())
        })?;
        Ok(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `op` on a fresh connection, closed after it. While another process holds the
    /// file, SQLite answers BUSY at once (see [`connect`]); this tries again after a short,
    /// jittered pause, for up to [`PATIENCE`]. Statements run whole or not at all, so trying
    /// again is safe.
    pub fn with<T>(&self, op: impl Fn(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let give_up = Instant::now() + PATIENCE;
        let mut pause = Duration::from_millis(2);
        loop {
            match connect(&self.path, self.schema).and_then(|c| op(&c)) {
                Err(e) if is_busy(&e) && Instant::now() < give_up => {
                    let jitter = u64::from(std::process::id() % 7);
                    std::thread::sleep(pause + Duration::from_millis(jitter));
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                Err(e) if is_busy(&e) => {
                    anyhow::bail!(
                        "{} is busy: another fileio kept it locked",
                        self.path.display()
                    )
                }
                Err(e @ rusqlite::Error::SqliteFailure(..)) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("{} is not a usable database", self.path.display())));
                }
                other => return Ok(other?),
            }
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        )
    )
}

/// One connection, set up so that it neither syncs nor frees a block on the way of an
/// upload.
fn connect(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // Never wait inside SQLite: with exclusive locking a connection keeps the locks of its
    // earlier statements, so two waiting for each other would both sit out any busy
    // timeout. [`LocalDb::with`] drops the connection, and its locks, before trying again.
    conn.busy_timeout(Duration::ZERO)?;
    // Exclusive locking before the first access keeps WAL's index in this process's memory
    // instead of a shared `-shm` file. The first connection to open a `-shm` truncates it,
    // and on a filesystem mounted with `discard` (as this machine's and many cloud disks
    // are) freeing its blocks waits for a discard queued behind the write-back: 2.5–4 s of
    // a 256 MiB upload on a busy disk. The price is that connections of different
    // processes take turns, which is why each lives only as long as one operation.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    // No syncs while the file is set up: a new file is switched to WAL through a rollback
    // journal, which syncs three times under the default FULL. A power cut at that moment
    // can only cost an empty file.
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(schema)?;
    // In WAL mode NORMAL syncs at checkpoints only, never at a commit: a power cut may
    // lose the last entries but does not corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // And no checkpoint when the connection closes, which SQLite does by default and which
    // syncs twice (and, removing the WAL, frees its blocks): entries stay in the -wal file,
    // where a normal exit keeps them and the next open reads them.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    // The WAL is kept short by [`LocalDb::open`] instead of by SQLite's automatic
    // checkpoint, which runs after a commit, syncing, on whichever upload crosses the limit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}
