//! `fileio auth logout`: remove the stored key from the keyring and the fallback file.

use anyhow::Result;

use crate::config::Settings;
use crate::credentials::{StoreChoice, file, keyring};
use crate::error::{Failure, Kind};

pub fn run(settings: &Settings) -> Result<()> {
    let account = settings.account();
    let mut removed = Vec::new();
    if settings.credential_store != StoreChoice::File {
        match keyring::delete(&account) {
            Ok(found) => {
                keyring::set_indexed(&account, false);
                if found {
                    removed.push(format!("the OS keyring ({})", keyring::NAME));
                }
            }
            // Unreachable, but login put a key there: it is still there, so say so.
            Err(e)
                if settings.credential_store == StoreChoice::Keyring
                    || keyring::has_entry(&account) =>
            {
                return Err(
                    Failure::new(Kind::Other, format!("cannot remove the key: {e}"))
                        .hint("unlock the keyring and run `fileio auth logout` again")
                        .into(),
                );
            }
            Err(_) => {}
        }
    }
    if let Some(path) = file::path() {
        if file::delete(&path, &account)? {
            removed.push(path.display().to_string());
        }
    }
    if !settings.quiet {
        if removed.is_empty() {
            eprintln!("No key was stored for {}.", settings.server);
        } else {
            eprintln!(
                "Removed the key for {} from {}.",
                settings.server,
                removed.join(" and ")
            );
        }
        if std::env::var_os("FILEIO_API_KEY").is_some() {
            eprintln!("Note: FILEIO_API_KEY is still set in this environment.");
        }
    }
    Ok(())
}
