//! What an interrupted upload needs to go on in a later run, kept in the data directory
//! (`~/.local/share/fileio/resume.db` on Linux) by every service that resumes: FileShot's
//! chunks sent, a tus upload's URL.
//!
//! One row per upload in a small SQLite file (see [`LocalDb`]: a file per upload, created
//! and deleted by every upload, cost seconds on a busy disk mounted with `discard`), keyed
//! by a hash of everything that must match for a rerun to resume it (service, server, the
//! file's identity, a hash of the API key, the options), so that a changed file, another
//! server, key or option starts afresh. A state may hold a capability (a tus upload URL is
//! enough to write to the upload), so the file is 0600 and states are never printed. Each
//! carries its expiry: an expired state is never used, and is removed when any state is
//! next looked up.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::local_db::LocalDb;
use crate::secret::Secret;

/// The file of the states.
fn default_path() -> Option<PathBuf> {
    Some(crate::dirs::project()?.data_dir().join("resume.db"))
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS states (
    id      TEXT PRIMARY KEY,
    expires TEXT NOT NULL,
    state   TEXT NOT NULL
);";

/// One upload's state: its row in the states file.
pub struct ResumeSlot {
    db: LocalDb,
    id: String,
}

impl ResumeSlot {
    /// The state of the upload that `parts` describe (`kind` names the service, and starts
    /// the state's id); `None` where there is no data directory or the file is unusable
    /// (the upload then just cannot be resumed by a later run).
    pub fn new(kind: &str, parts: &[&str]) -> Option<ResumeSlot> {
        ResumeSlot::in_file(&default_path()?, kind, parts)
    }

    fn in_file(path: &Path, kind: &str, parts: &[&str]) -> Option<ResumeSlot> {
        let db = LocalDb::open(path, SCHEMA).ok()?;
        sweep(&db);
        let mut h = Sha256::new();
        for p in parts {
            // Each part's length first, so that no two lists of parts hash alike.
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let id = format!("{kind}-{}", hex(&h.finalize()[..16]));
        Some(ResumeSlot { db, id })
    }

    /// The state kept by an earlier run, if it is there, readable and not expired (an
    /// expired or unreadable one is removed).
    pub fn load<T: DeserializeOwned>(&self) -> Option<T> {
        let (expires, state): (String, String) = self
            .db
            .with(|c| {
                c.query_row(
                    "SELECT expires, state FROM states WHERE id = ?1",
                    params![self.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .ok()
            .flatten()?;
        let fresh = DateTime::parse_from_rfc3339(&expires).is_ok_and(|e| e > crate::clock::now());
        match serde_json::from_str::<T>(&state) {
            Ok(s) if fresh => Some(s),
            _ => {
                self.remove();
                None
            }
        }
    }

    /// Replaces the state. A failure is not an error: a later run only sends more again.
    pub fn save<T: Serialize>(&self, state: &T, expires: DateTime<Utc>) {
        let Ok(json) = serde_json::to_string(state) else {
            return;
        };
        let expires = expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = self.db.with(|c| {
            c.execute(
                "INSERT INTO states (id, expires, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET expires = excluded.expires, state = excluded.state",
                params![self.id, expires, json],
            )
        });
    }

    /// Forgets the state (done, or of no use any more).
    pub fn remove(&self) {
        let _ = self
            .db
            .with(|c| c.execute("DELETE FROM states WHERE id = ?1", params![self.id]));
    }
}

/// What stands for the API key in a state's name: a hash, so that another key does not
/// resume (nor even find) an upload made with this one, and the key is never written.
pub fn key_identity(key: Option<&Secret>) -> String {
    match key {
        Some(k) => {
            let mut h = Sha256::new();
            h.update(b"fileio resume key\n");
            h.update(k.expose().as_bytes());
            hex(&h.finalize()[..16])
        }
        None => "anonymous".into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes the expired states: a run that never came back leaves nothing behind for longer
/// than its upload lives. Expiries are RFC 3339 in UTC with whole seconds, so they sort as
/// text.
fn sweep(db: &LocalDb) {
    let now = crate::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let _ = db.with(|c| c.execute("DELETE FROM states WHERE expires <= ?1", params![now]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        url: String,
    }

    fn rows(f: &ResumeSlot) -> Vec<String> {
        f.db.with(|c| {
            c.prepare("SELECT id FROM states ORDER BY id")?
                .query_map([], |r| r.get(0))?
                .collect()
        })
        .unwrap()
    }

    #[test]
    fn states_are_private_keyed_by_every_part_and_expire() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data/resume.db");
        let f = ResumeSlot::in_file(&path, "tus", &["a", "bc"]).unwrap();
        assert_ne!(
            f.id,
            ResumeSlot::in_file(&path, "tus", &["ab", "c"]).unwrap().id
        );
        assert_eq!(
            f.id,
            ResumeSlot::in_file(&path, "tus", &["a", "bc"]).unwrap().id
        );
        assert!(f.id.starts_with("tus-"));
        assert!(f.load::<S>().is_none());
        let later = Utc::now() + chrono::Duration::hours(1);
        let s = S {
            url: "http://x/tus/1".into(),
        };
        f.save(&s, later);
        assert_eq!(f.load::<S>(), Some(s));
        // Another run's slot for the same upload reads it; another upload's does not.
        let again = ResumeSlot::in_file(&path, "tus", &["a", "bc"]).unwrap();
        assert_eq!(again.load::<S>().unwrap().url, "http://x/tus/1");
        let other = ResumeSlot::in_file(&path, "fileshot", &["a", "bc"]).unwrap();
        assert!(other.load::<S>().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
        }
        // Expired: not used, and gone.
        f.save(
            &S { url: "u".into() },
            Utc::now() - chrono::Duration::seconds(1),
        );
        assert!(f.load::<S>().is_none());
        assert!(rows(&f).is_empty());
        // Swept when any state is next looked up.
        f.save(
            &S { url: "u".into() },
            Utc::now() - chrono::Duration::seconds(1),
        );
        let kept = ResumeSlot::in_file(&path, "tus", &["kept"]).unwrap();
        assert!(rows(&f).is_empty());
        kept.save(&S { url: "k".into() }, later);
        assert_eq!(rows(&f), std::slice::from_ref(&kept.id));
        kept.remove();
        assert!(rows(&f).is_empty());
        // An unreadable state is dropped, not an error.
        kept.db
            .with(|c| {
                c.execute(
                    "INSERT INTO states VALUES (?1, ?2, 'not json')",
                    params![kept.id, later.to_rfc3339()],
                )
            })
            .unwrap();
        assert!(kept.load::<S>().is_none());
        assert!(rows(&f).is_empty());
        // No shared-memory file, nor a file per upload (see `LocalDb`).
        let mut files: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["resume.db", "resume.db-wal"]);
    }

    #[test]
    fn a_key_is_known_by_a_hash_only() {
        let k = Secret::new("sekrit-key");
        let id = key_identity(Some(&k));
        assert!(!id.contains("sekrit"));
        assert_eq!(id, key_identity(Some(&Secret::new("sekrit-key"))));
        assert_ne!(id, key_identity(Some(&Secret::new("other"))));
        assert_eq!(key_identity(None), "anonymous");
    }
}
