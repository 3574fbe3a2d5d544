//! The command line: global options and the subcommand tree.
//!
//! Doc comments here are the help text users read in `--help` and the man pages.

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{
    auth, completions, delete, download, history, info, list, me, serve, services, update, upload,
};
use crate::config::Settings;
use crate::error::{Failure, Kind};

pub use crate::config::GlobalArgs;
pub use crate::known::Known;

/// Share a file with one command: upload it to file.io or a compatible service and get a link;
/// download a link; or run your own file.io-compatible server.
///
/// `fileio upload FILE` prints the link on standard output and everything else (progress,
/// notes, errors) on standard error, so `link=$(fileio upload FILE)` just works; `--json`
/// gives the same fields for every service. Uploads and downloads need no account; list, me,
/// update and delete need an API key: `fileio auth login` keeps one in the OS keyring, CI
/// jobs set FILEIO_API_KEY. A flag beats its FILEIO_* environment variable, which beats the
/// config file. `fileio serve` runs a compatible server, to self-host or to try it all offline.
#[derive(Debug, Parser)]
#[command(
    name = "fileio",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_help = crate::cli::EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments, exiting with 2 on a usage error.
    pub fn parse_args() -> Self {
        Cli::parse()
    }
}

/// The exit codes, appended to `fileio --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0 success · 1 other failure · 2 usage · 3 authentication or permission
  4 not found, expired or already downloaded · 5 too large or over quota
  6 rate limited after retries · 7 network · 8 unexpected answer from the server
  9 local file problem · 10 download did not verify or changed · 130 interrupted";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload files or standard input and print one link per file
    Upload(upload::UploadArgs),
    /// Download a key or link to a file, a directory or standard output
    Download(download::DownloadArgs),
    /// List your files on the service
    List(list::ListArgs),
    /// Show your account: plan, storage used, limits
    Me,
    /// Change a file's expiry, download limit, name or contents
    Update(update::UpdateArgs),
    /// Delete files from the service
    Delete(delete::DeleteArgs),
    /// Show what the service says about one file
    Info(info::InfoArgs),
    /// List the services fileio speaks and what each can do
    Services,
    /// Log in with an API key, check it, or log out
    Auth(auth::AuthArgs),
    /// List the uploads made from this machine
    History(history::HistoryArgs),
    /// Run a file.io-compatible server: self-host, try the client offline, test against it
    Serve(Box<serve::ServeArgs>),
    /// Print the completion script for bash, zsh, fish, PowerShell or elvish
    Completions(completions::CompletionsArgs),
}

/// Dispatches a parsed command line to its subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let Cli { global, command } = cli;
    match command {
        // The server builds its own runtime, sized for serving.
        Command::Serve(args) => serve::run(*args),
        // Needs no settings: works whatever the config file says.
        Command::Completions(args) => completions::run(args),
        command => {
            let settings = Settings::resolve(&global)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::new(Kind::Other, format!("cannot start: {e}")))?;
            runtime.block_on(async {
                match command {
                    Command::Upload(args) => upload::run(args, &settings).await,
                    Command::Download(args) => download::run(args, &settings).await,
                    Command::List(args) => list::run(args, &settings).await,
                    Command::Me => me::run(&settings).await,
                    Command::Update(args) => update::run(args, &settings).await,
                    Command::Delete(args) => delete::run(args, &settings).await,
                    Command::Auth(args) => auth::run(args, &settings).await,
                    Command::History(args) => history::run(args, &settings),
                    Command::Info(args) => info::run(args, &settings).await,
                    Command::Services => services::run(&settings),
                    Command::Serve(_) | Command::Completions(_) => unreachable!("handled above"),
                }
            })
        }
    }
}
