//! The local history of uploads: file.io's free tier cannot list what you uploaded, so the
//! client remembers it. SQLite in the data directory, mode 0600 (it may hold management
//! tokens); SQLite's locking lets several `fileio` processes record at once without loss.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::local_db::LocalDb;
use crate::record::FileRecord;
use crate::secret::Secret;

/// One recorded upload.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub service: String,
    pub server: String,
    pub key: String,
    pub link: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    /// RFC 3339, UTC.
    pub expires: Option<String>,
    /// When it was uploaded, RFC 3339, UTC.
    pub uploaded: String,
    /// A per-file management token, where the service hands one out. Never printed.
    #[serde(skip)]
    pub token: Option<Secret>,
}

impl Entry {
    pub fn from_record(r: &FileRecord, server: &str, token: Option<Secret>) -> Entry {
        Entry {
            service: r.service.to_string(),
            server: server.to_string(),
            key: r.key.clone(),
            link: r.link.clone(),
            name: r.name.clone(),
            size: r.size,
            expires: r.expires.clone(),
            uploaded: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            token,
        }
    }

    pub fn is_expired(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.expires
            .as_deref()
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
            .is_some_and(|e| e <= now)
    }
}

/// Where to manage a file and with what: a link given stays; a bare key becomes the link the
/// history recorded for it. The token is the one recorded at upload, if any.
pub fn management_target(
    history: Option<&History>,
    service: &str,
    server: &str,
    target: &str,
    key: &str,
) -> (String, Option<Secret>) {
    let token = history.and_then(|h| h.token(service, server, key).ok().flatten());
    let link = if target.contains("://") {
        None
    } else {
        history.and_then(|h| h.link(service, server, key).ok().flatten())
    };
    (link.unwrap_or_else(|| target.to_string()), token)
}

/// The columns [`entry_of_row`] reads, in its order.
const COLUMNS: &str = "service, server, key, link, name, size, expires, uploaded, token";

fn entry_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        service: r.get(0)?,
        server: r.get(1)?,
        key: r.get(2)?,
        link: r.get(3)?,
        name: r.get(4)?,
        size: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
        expires: r.get(6)?,
        uploaded: r.get(7)?,
        token: r.get::<_, Option<String>>(8)?.map(Secret::new),
    })
}

/// Opens the history, or says why it cannot and goes on: history never fails an upload.
pub fn open_or_warn(quiet: bool) -> Option<History> {
    usable(History::open_default(), quiet)
}

fn usable(opened: Result<History>, quiet: bool) -> Option<History> {
    match opened {
        Ok(h) => Some(h),
        Err(e) => {
            if !quiet {
                eprintln!(
                    "fileio: warning: the upload history is unusable ({e:#}); uploads go on unrecorded"
                );
            }
            None
        }
    }
}

/// The history, opened on a blocking thread while the uploads get under way: an open
/// reads the file, and now and then folds a long WAL into it (three syncs), and a busy
/// disk can make either wait. An upload's first result waits for it, not its first byte.
pub struct Opening {
    task: Option<tokio::task::JoinHandle<Result<History>>>,
    opened: Option<History>,
    quiet: bool,
}

impl Opening {
    pub fn start(quiet: bool) -> Opening {
        Opening {
            task: Some(tokio::task::spawn_blocking(History::open_default)),
            opened: None,
            quiet,
        }
    }

    /// The history once open; None, after one warning, when it cannot be used.
    pub async fn get(&mut self) -> Option<&History> {
        if let Some(task) = self.task.take() {
            let opened = task
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("opening it failed: {e}")));
            self.opened = usable(opened, self.quiet);
        }
        self.opened.as_ref()
    }
}

/// How a result is recorded: on which server, whether the service hands out management
/// tokens, and whether notes may be printed.
pub struct Recording<'a> {
    pub server: &'a str,
    /// The service hands out a management token per upload (0x0).
    pub tokens: bool,
    pub quiet: bool,
}

/// Records an upload in the history, warning (never failing) when that does not work.
pub fn remember(history: &History, record: &FileRecord, token: Option<Secret>, how: &Recording) {
    let had_token = token.is_some();
    if let Err(e) = history.record(&Entry::from_record(record, how.server, token)) {
        if !how.quiet {
            eprintln!(
                "fileio: warning: could not record {} in the history: {}",
                crate::terminal_text::inert(&record.key),
                crate::terminal_text::inert(&format!("{e:#}"))
            );
        }
        return;
    }
    // 0x0 sends a token only for new content: a re-upload of the same bytes keeps the old one.
    if how.tokens && !had_token && !how.quiet {
        let service = record.service;
        match history.token(service, how.server, &record.key) {
            Ok(Some(_)) => eprintln!(
                "fileio: note: {service} sent no management token (these bytes were uploaded before); the token from that upload is kept"
            ),
            _ => eprintln!(
                "fileio: warning: {service} sent no management token (these bytes were uploaded before) and none is in the history: {} cannot be deleted or changed from here",
                crate::terminal_text::inert(&record.key)
            ),
        }
    }
}

/// Shows files this client uploaded encrypted as they were before encryption: the service
/// knows only the ciphertext, under a neutral name and a little larger, while the history
/// has the name and size the recipient gets. An encrypted upload's recorded link carries a
/// fragment (the name, and the key for `--encrypt`); other files, and files the history
/// does not know, stay as the service reports them.
pub fn show_as_uploaded(history: Option<&History>, server: &str, files: &mut [FileRecord]) {
    let Some(history) = history else { return };
    let Some(first) = files.first() else { return };
    let Ok(entries) = history.entries_on(first.service, server) else {
        return;
    };
    let encrypted: std::collections::HashMap<&str, &Entry> = entries
        .iter()
        .filter(|e| e.link.contains('#'))
        .map(|e| (e.key.as_str(), e))
        .collect();
    for f in files {
        if let Some(e) = encrypted.get(f.key.as_str()) {
            if e.name.is_some() {
                f.name.clone_from(&e.name);
            }
            if e.size.is_some() {
                f.size = e.size;
            }
        }
    }
}

/// `history.db` in the data directory.
pub fn default_path() -> Option<PathBuf> {
    crate::dirs::project().map(|d| d.data_dir().join("history.db"))
}

/// The history file (see [`LocalDb`] for how it is opened).
pub struct History {
    db: LocalDb,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS uploads (
    service  TEXT NOT NULL,
    server   TEXT NOT NULL,
    key      TEXT NOT NULL,
    link     TEXT NOT NULL,
    name     TEXT,
    size     INTEGER,
    expires  TEXT,
    uploaded TEXT NOT NULL,
    token    TEXT,
    PRIMARY KEY (service, server, key)
);";

impl History {
    pub fn open_default() -> Result<History> {
        let path = default_path().context("no data directory for this user")?;
        History::open(&path)
    }

    pub fn open(path: &Path) -> Result<History> {
        Ok(History {
            db: LocalDb::open(path, SCHEMA)?,
        })
    }

    fn with<T>(&self, op: impl Fn(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.db.with(op)
    }

    /// Records an upload. A re-upload of the same key (0x0 answers identical bytes with the
    /// same URL and no token) keeps the token already recorded.
    pub fn record(&self, e: &Entry) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO uploads (service, server, key, link, name, size, expires, uploaded, token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (service, server, key) DO UPDATE SET
                    link = excluded.link, name = excluded.name, size = excluded.size,
                    expires = excluded.expires, uploaded = excluded.uploaded,
                    token = COALESCE(excluded.token, uploads.token)",
                params![
                    e.service,
                    e.server,
                    e.key,
                    e.link,
                    e.name,
                    e.size.map(|s| s as i64),
                    e.expires,
                    e.uploaded,
                    e.token.as_ref().map(Secret::expose),
                ],
            )
        })?;
        Ok(())
    }

    /// Entries, newest first; expired ones only with `all`.
    pub fn list(&self, all: bool) -> Result<Vec<Entry>> {
        let entries = self.with(|c| {
            c.prepare(&format!(
                "SELECT {COLUMNS} FROM uploads ORDER BY uploaded DESC, rowid DESC"
            ))?
            .query_map([], entry_of_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let now = crate::clock::now();
        Ok(entries
            .into_iter()
            .filter(|e| all || !e.is_expired(now))
            .collect())
    }

    /// The entries of one service and server, in one read.
    fn entries_on(&self, service: &str, server: &str) -> Result<Vec<Entry>> {
        self.with(|c| {
            c.prepare(&format!(
                "SELECT {COLUMNS} FROM uploads WHERE service = ?1 AND server = ?2"
            ))?
            .query_map(params![service, server], entry_of_row)?
            .collect()
        })
    }

    /// Forgets the entries of `key` (on any server); how many there were.
    pub fn remove(&self, key: &str) -> Result<usize> {
        self.with(|c| c.execute("DELETE FROM uploads WHERE key = ?1", params![key]))
    }

    /// Forgets the entry of `key` on one service and server.
    pub fn remove_one(&self, service: &str, server: &str, key: &str) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "DELETE FROM uploads WHERE service = ?1 AND server = ?2 AND key = ?3",
                params![service, server, key],
            )
        })
    }

    pub fn clear(&self) -> Result<usize> {
        self.with(|c| c.execute("DELETE FROM uploads", []))
    }

    /// The entry recorded for a key, if any.
    pub fn entry(&self, service: &str, server: &str, key: &str) -> Result<Option<Entry>> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM uploads WHERE service = ?1 AND server = ?2 AND key = ?3"
                ),
                params![service, server, key],
                entry_of_row,
            )
            .optional()
        })
    }

    /// The link recorded for a key, if any.
    pub fn link(&self, service: &str, server: &str, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT link FROM uploads WHERE service = ?1 AND server = ?2 AND key = ?3",
                params![service, server, key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The management token recorded for a file, if any.
    pub fn token(&self, service: &str, server: &str, key: &str) -> Result<Option<Secret>> {
        let t: Option<Option<String>> = self.with(|c| {
            c.query_row(
                "SELECT token FROM uploads WHERE service = ?1 AND server = ?2 AND key = ?3",
                params![service, server, key],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(t.flatten().map(Secret::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Parallel uploads in a CI step open a history that does not exist yet all at once;
    /// each must get it (one such race in about thirty used to be told "database is
    /// locked"). Processes, not threads: SQLite's locks between the connections of one process
    /// do not race that way. This test runs itself as each of them, timed to start together.
    #[test]
    fn many_processes_opening_a_new_history_at_once_all_get_it() {
        const TEST: &str =
            "history::tests::many_processes_opening_a_new_history_at_once_all_get_it";
        // Only the test's own child processes read these (not the product: fileio.1 lists
        // the variables the product reads).
        const DB: &str = "HISTORY_RACE_DB";
        const AT: &str = "HISTORY_RACE_AT";
        if let (Ok(path), Ok(at)) = (std::env::var(DB), std::env::var(AT)) {
            let at = std::time::UNIX_EPOCH + Duration::from_micros(at.parse().unwrap());
            if let Ok(wait) = at.duration_since(std::time::SystemTime::now()) {
                std::thread::sleep(wait);
            }
            let h = History::open(Path::new(&path)).unwrap();
            h.record(&entry(&std::process::id().to_string(), None, None))
                .unwrap();
            return;
        }
        let me = std::env::current_exe().unwrap();
        for round in 0..15 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("history.db");
            let at = std::time::SystemTime::now() + Duration::from_millis(300);
            let at = at
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros();
            let children: Vec<_> = (0..12)
                .map(|_| {
                    std::process::Command::new(&me)
                        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
                        .env(DB, &path)
                        .env(AT, at.to_string())
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for c in children {
                let out = c.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "round {round}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert_eq!(History::open(&path).unwrap().list(true).unwrap().len(), 12);
        }
    }

    fn entry(key: &str, expires: Option<&str>, token: Option<&str>) -> Entry {
        Entry {
            service: "fileio".into(),
            server: "http://s".into(),
            key: key.into(),
            link: format!("http://s/{key}"),
            name: Some("n".into()),
            size: Some(1),
            expires: expires.map(str::to_owned),
            uploaded: "2026-01-01T00:00:00Z".into(),
            token: token.map(Secret::new),
        }
    }

    #[test]
    fn records_lists_and_keeps_tokens_across_reuploads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/history.db");
        let h = History::open(&path).unwrap();
        h.record(&entry("a", Some("2099-01-01T00:00:00Z"), Some("tok")))
            .unwrap();
        h.record(&entry("a", Some("2099-01-01T00:00:00Z"), None))
            .unwrap();
        h.record(&entry("old", Some("2001-01-01T00:00:00Z"), None))
            .unwrap();
        assert_eq!(h.list(false).unwrap().len(), 1);
        assert_eq!(h.list(true).unwrap().len(), 2);
        assert_eq!(
            h.token("fileio", "http://s", "a")
                .unwrap()
                .unwrap()
                .expose(),
            "tok"
        );
        assert_eq!(h.remove("a").unwrap(), 1);
        assert_eq!(h.clear().unwrap(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn entries_outlive_the_connection_and_the_wal_is_folded_in_now_and_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let wal_len = || {
            std::fs::metadata(dir.path().join("history.db-wal"))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        // Each entry from its own connection, as each upload is.
        let (mut checkpoints, mut last, mut longest) = (0, 0, 0);
        for i in 0..1200 {
            let h = History::open(&path).unwrap();
            h.record(&entry(&format!("k{i}"), None, None)).unwrap();
            drop(h);
            // Closing did not checkpoint: the entry is in the WAL, which closing would fold
            // into the database and remove.
            let len = wal_len();
            assert!(len > 0, "entry {i}: the close checkpointed the WAL away");
            checkpoints += usize::from(len < last);
            longest = longest.max(len);
            last = len;
        }
        // Two checkpoints for 1,200 entries of two pages each: not one per upload, and the
        // WAL stays near its limit.
        assert_eq!(checkpoints, 2, "checkpoints in 1,200 uploads");
        // And no shared-memory file, whose truncation by each new process waited for the
        // disk (see `connect`).
        assert!(!dir.path().join("history.db-shm").exists());
        assert!(
            longest < crate::local_db::WAL_LIMIT + 64 * 1024,
            "the WAL grew to {longest} bytes"
        );
        let h = History::open(&path).unwrap();
        assert_eq!(h.list(true).unwrap().len(), 1200);
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        std::fs::write(
            &path,
            "this is not sqlite, just some text long enough to matter".repeat(50),
        )
        .unwrap();
        assert!(History::open(&path).is_err());
    }
}
