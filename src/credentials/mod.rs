//! Where the API key in use comes from, and where `auth login` keeps it.
//!
//! Lookup order: `--api-key-file PATH` (a CI secret file), `FILEIO_API_KEY`, the OS keyring,
//! then the 0600 fallback file. A key is never taken from a flag's value: argv is visible to
//! every user of the machine.

pub mod file;
pub mod keyring;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{Failure, Kind};
use crate::secret::Secret;

/// Which store `auth login` writes to (`FILEIO_CREDENTIAL_STORE`, config `credential-store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreChoice {
    /// The OS keyring; when it is unavailable, the 0600 file, with a warning.
    #[default]
    Auto,
    /// The OS keyring only.
    Keyring,
    /// The 0600 file only (no keyring on this machine, or tests).
    File,
}

impl std::str::FromStr for StoreChoice {
    type Err = Failure;
    fn from_str(s: &str) -> Result<Self, Failure> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(StoreChoice::Auto),
            "keyring" => Ok(StoreChoice::Keyring),
            "file" => Ok(StoreChoice::File),
            _ => Err(
                Failure::new(Kind::Usage, format!("unknown credential store '{s}'"))
                    .hint("use auto, keyring or file"),
            ),
        }
    }
}

/// Where a key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    ApiKeyFile(PathBuf),
    Env,
    Keyring,
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::ApiKeyFile(p) => {
                write!(f, "the file given by --api-key-file ({})", p.display())
            }
            KeySource::Env => f.write_str("the FILEIO_API_KEY environment variable"),
            KeySource::Keyring => write!(f, "the OS keyring ({})", keyring::NAME),
            KeySource::File(p) => write!(f, "the credentials file {}", p.display()),
        }
    }
}

/// The account a key is stored under: one entry per service and server.
pub fn account(service: &str, server: &str) -> String {
    format!("{service}:{server}")
}

/// Finds the key to use, and where it came from; `None` when there is none.
pub fn lookup(
    api_key_file: Option<&Path>,
    choice: StoreChoice,
    account: &str,
) -> Result<Option<(Secret, KeySource)>> {
    if let Some(path) = api_key_file {
        return read_key_file(path).map(|k| Some((k, KeySource::ApiKeyFile(path.to_path_buf()))));
    }
    if let Some(k) = std::env::var("FILEIO_API_KEY")
        .ok()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
    {
        return Ok(Some((Secret::new(k), KeySource::Env)));
    }
    // Only where login put a key: asking the keyring costs a D-Bus round trip, or a prompt.
    if choice != StoreChoice::File && keyring::has_entry(account) {
        // An unavailable keyring here is not news: login already said where the key went.
        if let Ok(Some(k)) = keyring::get(account) {
            return Ok(Some((k, KeySource::Keyring)));
        }
    }
    if choice != StoreChoice::Keyring {
        if let Some(path) = file::path() {
            if let Some(k) = file::get(&path, account)? {
                return Ok(Some((k, KeySource::File(path))));
            }
        }
    }
    Ok(None)
}

/// Reads a key from a secret file: its first non-empty line.
fn read_key_file(path: &Path) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            Kind::LocalFile,
            format!("cannot read the API key file {}: {e}", path.display()),
        )
    })?;
    let key = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| {
            Failure::new(
                Kind::Auth,
                format!("the API key file {} is empty", path.display()),
            )
        })?;
    Ok(Secret::new(key))
}

/// The failure for a command that needs a key and has none.
pub fn missing_key(server: &str) -> Failure {
    Failure::new(
        Kind::Auth,
        format!("this needs an API key for {server}, and none is set"),
    )
    .hint("run `fileio auth login`, or set FILEIO_API_KEY (in CI, from the secret store)")
}
