//! Stored files: metadata in SQLite (`DIR/fileio.db`), contents in `DIR/blobs/<key>`.
//!
//! Uploads are streamed to `DIR/tmp/<random>` first and moved into place in the same step
//! that inserts their row, so a crash leaves only leftovers that [`Store::open`] removes.
//! One short std mutex guards the connection and the count of downloads in flight; no await
//! happens under it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::server::auth::Owner;
use crate::server::incoming::Upload;
use crate::server::response::ApiError;
use crate::size::ByteSize;

/// Creates a directory (and its missing parents) that only the owner can enter.
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates a new file readable and writable by the owner only, whatever the umask.
pub async fn create_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

/// The length of generated file keys.
pub const KEY_LEN: usize = 12;

/// One stored file's metadata.
#[derive(Debug, Clone)]
pub struct FileRow {
    pub key: String,
    /// The name of its contents under `blobs/`: new for every upload and replacement, so
    /// that a download of old contents can never count against (or delete) new ones.
    pub blob: String,
    pub owner: Owner,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub downloads: u32,
    pub max_downloads: u32,
    pub auto_delete: bool,
    pub expires: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl FileRow {
    /// Expired or downloaded as often as allowed.
    pub fn is_spent(&self, now: DateTime<Utc>) -> bool {
        self.expires <= now || self.downloads >= self.max_downloads
    }
}

/// What [`Store::open`] removed.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub tmp_files: usize,
    pub orphan_blobs: usize,
    pub orphan_rows: usize,
    /// Things about the data directory the operator should fix.
    pub warnings: Vec<String>,
}

/// The fields of a file that uploads and updates set.
#[derive(Debug, Clone)]
pub struct Settings {
    pub expires: DateTime<Utc>,
    pub max_downloads: u32,
    pub auto_delete: bool,
}

/// Sort orders of the list.
#[derive(Debug, Clone, Copy)]
pub enum SortField {
    Name,
    Size,
    Expires,
    Created,
    Modified,
    Downloads,
}

impl SortField {
    pub fn parse(s: &str) -> Option<SortField> {
        Some(match s {
            "name" | "title" => SortField::Name,
            "size" => SortField::Size,
            "expires" | "expiry" => SortField::Expires,
            "created" => SortField::Created,
            "modified" | "updated" => SortField::Modified,
            "downloads" => SortField::Downloads,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            SortField::Name => "name COLLATE NOCASE",
            SortField::Size => "size",
            SortField::Expires => "expires",
            SortField::Created => "created",
            SortField::Modified => "modified",
            SortField::Downloads => "downloads",
        }
    }
}

/// A page of the list of one owner's files.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<FileRow>,
    pub count: u64,
    pub size: u64,
}

pub struct Store {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    /// Downloads under way per key: reserved, not yet counted.
    in_flight: HashMap<String, u32>,
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

fn read_row(r: &Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
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

/// A fresh blob name for a file's new contents: its key and a random suffix.
fn new_blob(key: &str) -> String {
    format!("{key}-{}", new_key())
}

/// A fresh file key from the thread's CSPRNG (ChaCha, seeded from the OS).
fn new_key() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(KEY_LEN)
        .map(char::from)
        .collect()
}

impl Store {
    /// Opens (or creates) the store under `dir` and removes what a crash left behind.
    pub fn open(dir: &Path) -> Result<(Store, Cleanup)> {
        for sub in ["", "tmp", "blobs"] {
            create_private_dir(&dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let mut warnings = Vec::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warnings.push(format!(
                    "the data directory {} can be read by other users (mode {mode:04o}): restrict it with chmod 700 {}",
                    dir.display(),
                    dir.display()
                ));
            }
        }
        let db = dir.join("fileio.db");
        // The database and its -wal and -shm files (SQLite gives those the database's
        // mode) are the owner's only, whatever the umask.
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            {
                use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
                options.mode(0o600);
                let file = options
                    .open(&db)
                    .with_context(|| format!("cannot open the database {}", db.display()))?;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            #[cfg(not(unix))]
            options
                .open(&db)
                .with_context(|| format!("cannot open the database {}", db.display()))?;
        }
        let conn = Connection::open(&db)
            .with_context(|| format!("cannot open the database {}", db.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
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
            CREATE INDEX IF NOT EXISTS files_expires ON files(expires);",
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
        let store = Store {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                conn,
                in_flight: HashMap::new(),
            }),
        };
        let mut cleanup = store.clean_leftovers()?;
        cleanup.warnings = warnings;
        Ok((store, cleanup))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn blob(&self, name: &str) -> PathBuf {
        self.dir.join("blobs").join(name)
    }

    /// A new, unused path under `tmp/` for an upload in progress.
    pub fn tmp_path(&self) -> PathBuf {
        self.dir.join("tmp").join(new_key())
    }

    fn clean_leftovers(&self) -> Result<Cleanup> {
        let mut cleanup = Cleanup::default();
        for entry in std::fs::read_dir(self.dir.join("tmp"))? {
            let entry = entry?;
            if std::fs::remove_file(entry.path()).is_ok() {
                cleanup.tmp_files += 1;
            }
        }
        let inner = self.lock();
        let rows: Vec<(String, String)> = inner
            .conn
            .prepare("SELECT key, COALESCE(blob, key) FROM files")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let known: std::collections::HashSet<&str> =
            rows.iter().map(|(_, blob)| blob.as_str()).collect();
        for entry in std::fs::read_dir(self.dir.join("blobs"))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !known.contains(name.as_ref()) && std::fs::remove_file(entry.path()).is_ok() {
                cleanup.orphan_blobs += 1;
            }
        }
        for (key, blob) in &rows {
            if !self.blob(blob).is_file() {
                inner
                    .conn
                    .execute("DELETE FROM files WHERE key = ?1", [key])?;
                cleanup.orphan_rows += 1;
            }
        }
        Ok(cleanup)
    }

    fn used_locked(inner: &Inner, owner: &Owner) -> rusqlite::Result<u64> {
        let now = millis(Utc::now());
        inner
            .conn
            .query_row(
                &format!(
                    "SELECT COALESCE(SUM(size), 0) FROM files WHERE owner IS ?2 AND NOT ({GONE})"
                ),
                params![now, owner],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
    }

    /// Bytes stored for an owner (files that are spent but kept count too).
    pub fn used(&self, owner: &Owner) -> Result<u64, ApiError> {
        Ok(Self::used_locked(&self.lock(), owner)?)
    }

    fn check_quota(
        inner: &Inner,
        owner: &Owner,
        freed: u64,
        added: u64,
        max_storage: Option<u64>,
    ) -> Result<(), ApiError> {
        if let Some(max) = max_storage {
            let used = Self::used_locked(inner, owner)?.saturating_sub(freed);
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

    /// Stores a new file: inserts its row and moves its content into place in one step.
    /// On failure nothing stays behind (the upload's temporary file removes itself).
    pub fn insert(
        &self,
        owner: &Owner,
        blob: &Upload,
        settings: &Settings,
        max_storage: Option<u64>,
    ) -> Result<FileRow, ApiError> {
        let mut inner = self.lock();
        Self::check_quota(&inner, owner, 0, blob.size, max_storage)?;
        let now = Utc::now();
        let tx = inner.conn.transaction()?;
        let mut key = new_key();
        let mut blob_name = new_blob(&key);
        let mut tries = 0;
        loop {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO files (key, blob, owner, name, mime, size, downloads, max_downloads, auto_delete, expires, created, modified)
                    VALUES (?1, ?10, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9, ?9)",
                params![
                    key,
                    owner,
                    blob.name,
                    blob.mime,
                    blob.size as i64,
                    settings.max_downloads,
                    settings.auto_delete,
                    millis(settings.expires),
                    millis(now),
                    blob_name,
                ],
            )?;
            if inserted == 1 {
                break;
            }
            tries += 1;
            if tries > 10 {
                return Err(ApiError::internal("could not find a free file key"));
            }
            key = new_key();
            blob_name = new_blob(&key);
        }
        std::fs::rename(blob.tmp.path(), self.blob(&blob_name))?;
        if let Err(e) = tx.commit() {
            let _ = std::fs::remove_file(self.blob(&blob_name));
            return Err(e.into());
        }
        Ok(FileRow {
            key,
            blob: blob_name,
            owner: owner.clone(),
            name: blob.name.clone(),
            mime: blob.mime.clone(),
            size: blob.size,
            downloads: 0,
            max_downloads: settings.max_downloads,
            auto_delete: settings.auto_delete,
            expires: settings.expires,
            created: now,
            modified: now,
        })
    }

    fn get_locked(inner: &Inner, key: &str) -> rusqlite::Result<Option<FileRow>> {
        inner
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM files WHERE key = ?1"),
                [key],
                read_row,
            )
            .optional()
    }

    /// Deletes a row and its blob (an open download keeps reading its already-open file).
    fn remove_locked(&self, inner: &Inner, key: &str, blob: &str) -> rusqlite::Result<()> {
        inner
            .conn
            .execute("DELETE FROM files WHERE key = ?1", [key])?;
        let _ = std::fs::remove_file(self.blob(blob));
        Ok(())
    }

    /// A file the owner can see: theirs, and not gone for good.
    fn owned_locked(&self, inner: &Inner, key: &str, owner: &str) -> Result<FileRow, ApiError> {
        let row = Self::get_locked(inner, key)?.ok_or_else(ApiError::not_found)?;
        if row.owner.as_deref() != Some(owner) {
            return Err(ApiError::not_found());
        }
        if row.auto_delete && row.is_spent(Utc::now()) {
            self.remove_locked(inner, key, &row.blob)?;
            return Err(ApiError::not_found());
        }
        Ok(row)
    }

    /// Updates an owner's file: new settings, and perhaps new content.
    ///
    /// New content resets the download count; so does `reset_downloads` (PUT).
    pub fn update(
        &self,
        key: &str,
        owner: &str,
        blob: Option<Upload>,
        settings: impl FnOnce(&FileRow) -> Result<Settings, ApiError>,
        reset_downloads: bool,
        max_storage: Option<u64>,
    ) -> Result<FileRow, ApiError> {
        let mut inner = self.lock();
        let mut row = self.owned_locked(&inner, key, owner)?;
        let s = settings(&row)?;
        let owner_opt = Some(owner.to_string());
        if let Some(b) = &blob {
            Self::check_quota(&inner, &owner_opt, row.size, b.size, max_storage)?;
            row.name = b.name.clone();
            row.mime = b.mime.clone();
            row.size = b.size;
        }
        if reset_downloads || blob.is_some() {
            row.downloads = 0;
        }
        row.expires = s.expires;
        row.max_downloads = s.max_downloads;
        row.auto_delete = s.auto_delete;
        row.modified = Utc::now();
        let old_blob = row.blob.clone();
        if blob.is_some() {
            row.blob = new_blob(key);
        }
        let tx = inner.conn.transaction()?;
        tx.execute(
            "UPDATE files SET name = ?2, mime = ?3, size = ?4, downloads = ?5, max_downloads = ?6,
                auto_delete = ?7, expires = ?8, modified = ?9, blob = ?10 WHERE key = ?1",
            params![
                key,
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
        if let Some(b) = &blob {
            std::fs::rename(b.tmp.path(), self.blob(&row.blob))?;
            if let Err(e) = tx.commit() {
                let _ = std::fs::remove_file(self.blob(&row.blob));
                return Err(e.into());
            }
            // Downloads of the old contents keep reading their open file.
            let _ = std::fs::remove_file(self.blob(&old_blob));
        } else {
            tx.commit()?;
        }
        Ok(row)
    }

    /// Deletes an owner's file; 404 when it is not theirs or not there.
    pub fn delete(&self, key: &str, owner: &str) -> Result<(), ApiError> {
        let inner = self.lock();
        let row = self.owned_locked(&inner, key, owner)?;
        self.remove_locked(&inner, key, &row.blob)?;
        Ok(())
    }

    /// One page of an owner's files, with the count and total size of all that match.
    pub fn list(
        &self,
        owner: &str,
        search: Option<&str>,
        sort: Option<(SortField, bool)>,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Page, ApiError> {
        let inner = self.lock();
        let now = millis(Utc::now());
        let search = search.unwrap_or("").to_lowercase();
        let filter = format!("owner = ?2 AND NOT ({GONE}) AND instr(lower(name), ?3) > 0");
        let (count, size): (i64, i64) = inner.conn.query_row(
            &format!("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE {filter}"),
            params![now, owner, search],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let order = match sort {
            Some((field, desc)) => {
                format!(
                    "{} {}, key",
                    field.column(),
                    if desc { "DESC" } else { "ASC" }
                )
            }
            None => "created DESC, key".to_string(),
        };
        let limit = limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1);
        let mut stmt = inner.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM files WHERE {filter} ORDER BY {order} LIMIT ?4 OFFSET ?5"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    now,
                    owner,
                    search,
                    limit,
                    offset.min(i64::MAX as u64) as i64
                ],
                read_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page {
            rows,
            count: count as u64,
            size: size as u64,
        })
    }

    /// A downloadable file, for HEAD: not spent. Does not reserve anything.
    pub fn peek(&self, key: &str) -> Result<FileRow, ApiError> {
        let inner = self.lock();
        let row = Self::get_locked(&inner, key)?.ok_or_else(ApiError::not_found)?;
        let now = Utc::now();
        if row.is_spent(now) {
            if row.auto_delete {
                self.remove_locked(&inner, key, &row.blob)?;
            }
            return Err(ApiError::not_found());
        }
        Ok(row)
    }

    /// Reserves one download of a file and opens its content, or 404 when none is left
    /// (counting downloads still under way).
    pub fn reserve(&self, key: &str) -> Result<(FileRow, std::fs::File), ApiError> {
        let mut inner = self.lock();
        let row = Self::get_locked(&inner, key)?.ok_or_else(ApiError::not_found)?;
        let now = Utc::now();
        if row.is_spent(now) {
            if row.auto_delete {
                self.remove_locked(&inner, key, &row.blob)?;
            }
            return Err(ApiError::not_found());
        }
        let flying = inner.in_flight.get(&row.blob).copied().unwrap_or(0);
        if row.downloads.saturating_add(flying) >= row.max_downloads {
            return Err(ApiError::not_found());
        }
        let file = std::fs::File::open(self.blob(&row.blob))?;
        *inner.in_flight.entry(row.blob.clone()).or_insert(0) += 1;
        Ok((row, file))
    }

    fn unreserve(inner: &mut Inner, blob: &str) {
        if let Some(n) = inner.in_flight.get_mut(blob) {
            *n -= 1;
            if *n == 0 {
                inner.in_flight.remove(blob);
            }
        }
    }

    /// A reserved download of `blob` was sent in full: count it, and delete the file when
    /// spent. Nothing is counted when the file has new contents since (or is gone).
    pub fn complete(&self, key: &str, blob: &str) {
        let mut inner = self.lock();
        Self::unreserve(&mut inner, blob);
        let result = (|| -> rusqlite::Result<()> {
            let counted = inner.conn.execute(
                "UPDATE files SET downloads = downloads + 1 WHERE key = ?1 AND COALESCE(blob, key) = ?2",
                [key, blob],
            )?;
            if counted == 0 {
                return Ok(());
            }
            if let Some(row) = Self::get_locked(&inner, key)? {
                if row.auto_delete && row.downloads >= row.max_downloads {
                    self.remove_locked(&inner, key, &row.blob)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            crate::server::log!("fileio serve: cannot count a download: {e}");
        }
    }

    /// A reserved download of `blob` broke off: give it back.
    pub fn release(&self, blob: &str) {
        Self::unreserve(&mut self.lock(), blob);
    }

    /// Deletes the files that expired and are to be deleted automatically.
    pub fn sweep(&self) -> Result<usize> {
        let inner = self.lock();
        let now = millis(Utc::now());
        let rows: Vec<(String, String)> = inner
            .conn
            .prepare(&format!(
                "SELECT key, COALESCE(blob, key) FROM files WHERE {GONE}"
            ))?
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (key, blob) in &rows {
            self.remove_locked(&inner, key, blob)?;
        }
        Ok(rows.len())
    }
}
