//! `fileio auth login`: read a key (stdin or a hidden prompt), check it, store it.

use std::io::{IsTerminal, Read};

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::credentials::{StoreChoice, file, keyring};
use crate::error::{Failure, Kind};
use crate::secret::Secret;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Read the key from standard input (for scripts) instead of prompting
    #[arg(long)]
    pub with_token: bool,

    /// Store the key in a 0600 file in the config directory instead of the OS keyring
    #[arg(long)]
    pub insecure_storage: bool,
}

pub async fn run(args: LoginArgs, settings: &Settings) -> Result<()> {
    let key = read_key(args.with_token)?;
    let account = super::status::check_key(settings, &key).await?;
    let choice = if args.insecure_storage {
        StoreChoice::File
    } else {
        settings.credential_store
    };
    let account_name = settings.account();
    let place = store(choice, &account_name, &key)?;
    if !settings.quiet {
        let who = super::status::describe_account(&account);
        eprintln!(
            "Logged in to {} ({}); the key is in {place}.",
            settings.server, who
        );
    }
    Ok(())
}

/// Stores the key where `choice` says; says plainly when falling back to the file.
fn store(choice: StoreChoice, account: &str, key: &Secret) -> Result<String> {
    if choice != StoreChoice::File {
        match keyring::set(account, key) {
            Ok(()) => {
                keyring::set_indexed(account, true);
                // A key left in the file would be found after the keyring's; drop it.
                if let Some(path) = file::path() {
                    let _ = file::delete(&path, account);
                }
                return Ok(format!("the OS keyring ({})", keyring::NAME));
            }
            Err(e) if choice == StoreChoice::Keyring => {
                return Err(Failure::new(Kind::Other, format!("cannot store the key: {e}"))
                    .hint("unlock the keyring and try again, or use --insecure-storage to keep the key in a 0600 file")
                    .into());
            }
            Err(e) => eprintln!(
                "fileio: warning: {e}; storing the key in a file readable only by you instead"
            ),
        }
    }
    let path = file::path()
        .ok_or_else(|| Failure::new(Kind::LocalFile, "no config directory for this user"))?;
    file::set(&path, account, key)?;
    Ok(format!("{} (mode 0600)", path.display()))
}

fn read_key(with_token: bool) -> Result<Secret> {
    let raw = if with_token {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| {
                Failure::new(
                    Kind::LocalFile,
                    format!("cannot read the key from standard input: {e}"),
                )
            })?;
        s
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("API key: ")
            .map_err(|e| Failure::new(Kind::Other, format!("cannot read the key: {e}")))?
    } else {
        return Err(
            Failure::new(Kind::Usage, "no terminal to prompt for the key")
                .hint("pipe it in with --with-token: fileio auth login --with-token < key.txt")
                .into(),
        );
    };
    let key = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::new(
            Kind::Usage,
            "that is not an API key: it is empty or has spaces in it",
        )
        .into());
    }
    Ok(Secret::new(key))
}
