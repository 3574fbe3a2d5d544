//! What an interrupted upload needs to go on in a later run, kept in the data directory
//! (`~/.local/share/fileio/resume/` on Linux) by every service that resumes: FileShot's
//! chunks sent, a tus upload's URL.
//!
//! One small JSON file per upload, named by a hash of everything that must match for a rerun
//! to resume it (service, server, the file's identity, a hash of the API key, the options),
//! so that a changed file, another server, key or option starts afresh. A state may hold a
//! capability (a tus upload URL is enough to write to the upload), so the files are 0600 in
//! a 0700 directory and never printed. Each carries its expiry: an expired state is never
//! used, and is removed when any state is next looked up.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The directory of the states.
fn dir() -> Option<PathBuf> {
    Some(crate::dirs::project()?.data_dir().join("resume"))
}

/// One upload's state file.
#[derive(Debug, Clone)]
pub struct ResumeFile {
    path: PathBuf,
}

/// A state as it is stored: when it stops being of use, and the service's own state.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    /// RFC 3339.
    expires: DateTime<Utc>,
    state: T,
}

impl ResumeFile {
    /// The state file of the upload that `parts` describe (`kind` names the service, and
    /// starts the file's name); `None` where there is no data directory.
    pub fn new(kind: &str, parts: &[&str]) -> Option<ResumeFile> {
        let dir = dir()?;
        sweep(&dir);
        Some(ResumeFile::in_dir(&dir, kind, parts))
    }

    fn in_dir(dir: &Path, kind: &str, parts: &[&str]) -> ResumeFile {
        let mut h = Sha256::new();
        for p in parts {
            // Each part's length first, so that no two lists of parts hash alike.
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let id = hex(&h.finalize()[..16]);
        ResumeFile {
            path: dir.join(format!("{kind}-{id}.json")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state kept by an earlier run, if it is there, readable and not expired (an
    /// expired or unreadable one is removed).
    pub fn load<T: DeserializeOwned>(&self) -> Option<T> {
        let bytes = std::fs::read(&self.path).ok()?;
        match serde_json::from_slice::<Stored<T>>(&bytes) {
            Ok(s) if s.expires > crate::clock::now() => Some(s.state),
            _ => {
                self.remove();
                None
            }
        }
    }

    /// Replaces the state in one step (a 0600 temporary file beside it, renamed over it). A
    /// failure is not an error: a later run only sends more again.
    pub fn save<T: Serialize>(&self, state: &T, expires: DateTime<Utc>) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        if create_private_dir(dir).is_err() {
            return;
        }
        // NamedTempFile is created 0600 whatever the umask.
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
            return;
        };
        let Ok(json) = serde_json::to_vec(&Stored { expires, state }) else {
            return;
        };
        if std::io::Write::write_all(&mut tmp, &json).is_ok() {
            let _ = tmp.persist(&self.path);
        }
    }

    /// Forgets the state (done, or of no use any more).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
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

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Removes the expired (or unreadable) states in `dir`: a run that never came back leaves
/// nothing behind for longer than its upload lives.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    /// Only the expiry of a state, whatever its service's own part.
    #[derive(Deserialize)]
    struct Expiry {
        expires: DateTime<Utc>,
    }
    let now = crate::clock::now();
    // Bounded: a directory filled by something else costs at most this many reads.
    for entry in entries.flatten().take(1000) {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let expired = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice::<Expiry>(&b).map_or(true, |s| s.expires <= now),
            Err(_) => false,
        };
        if expired {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct S {
        url: String,
    }

    #[test]
    fn states_are_private_keyed_by_every_part_and_expire() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("resume");
        let f = ResumeFile::in_dir(&dir, "tus", &["a", "bc"]);
        assert_ne!(
            f.path(),
            ResumeFile::in_dir(&dir, "tus", &["ab", "c"]).path()
        );
        assert_eq!(
            f.path(),
            ResumeFile::in_dir(&dir, "tus", &["a", "bc"]).path()
        );
        assert!(f.load::<S>().is_none());
        let later = Utc::now() + chrono::Duration::hours(1);
        let s = S {
            url: "http://x/tus/1".into(),
        };
        f.save(&s, later);
        assert_eq!(f.load::<S>(), Some(s));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(f.path()), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        // Expired: not used, and gone.
        f.save(
            &S { url: "u".into() },
            Utc::now() - chrono::Duration::seconds(1),
        );
        assert!(f.load::<S>().is_none());
        assert!(!f.path().exists());
        // Swept with the others when any state is looked up.
        f.save(
            &S { url: "u".into() },
            Utc::now() - chrono::Duration::seconds(1),
        );
        let kept = ResumeFile::in_dir(&dir, "tus", &["kept"]);
        kept.save(&S { url: "k".into() }, later);
        sweep(&dir);
        assert!(!f.path().exists() && kept.path().exists());
        kept.remove();
        assert!(!kept.path().exists());
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
