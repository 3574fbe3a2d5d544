//! The fallback credentials file: TOML, one key per service and server, mode 0600, for
//! machines with no usable keyring (or `auth login --insecure-storage`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{Failure, Kind};
use crate::secret::Secret;

/// `credentials.toml` in the config directory.
pub fn path() -> Option<PathBuf> {
    crate::dirs::project().map(|d| d.config_dir().join("credentials.toml"))
}

fn read(path: &Path) -> Result<BTreeMap<String, String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|_| {
            Failure::new(
                Kind::LocalFile,
                format!("the credentials file {} is not valid TOML", path.display()),
            )
            .hint("remove it and run `fileio auth login` again")
            .into()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Failure::new(
            Kind::LocalFile,
            format!("cannot read {}: {e}", path.display()),
        )
        .into()),
    }
}

/// Replaces the file in one step, created 0600 before any secret is written to it.
fn write(path: &Path, map: &BTreeMap<String, String>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::new(
            Kind::LocalFile,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let text = toml::to_string(map).expect("a map of strings is TOML");
    // tempfile creates it 0600 (exclusively, under a random name) before any secret is
    // written, removes it on failure, and renames it over the old file when complete.
    let result = (|| -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".credentials.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    if let Err(e) = result {
        return Err(Failure::new(
            Kind::LocalFile,
            format!("cannot write {}: {e}", path.display()),
        )
        .into());
    }
    Ok(())
}

pub fn get(path: &Path, account: &str) -> Result<Option<Secret>> {
    Ok(read(path)?.remove(account).map(Secret::new))
}

pub fn set(path: &Path, account: &str, key: &Secret) -> Result<()> {
    let mut map = read(path)?;
    map.insert(account.to_string(), key.expose().to_string());
    write(path, &map)
}

/// Removes the key for `account`; `false` when there was none.
pub fn delete(path: &Path, account: &str) -> Result<bool> {
    let mut map = read(path)?;
    if map.remove(account).is_none() {
        return Ok(false);
    }
    if map.is_empty() {
        std::fs::remove_file(path).map_err(|e| {
            Failure::new(
                Kind::LocalFile,
                format!("cannot remove {}: {e}", path.display()),
            )
        })?;
        return Ok(true);
    }
    write(path, &map)?;
    Ok(true)
}
