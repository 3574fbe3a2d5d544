//! One module per subcommand, each with its clap arguments and a `run` function.

pub mod auth;
pub mod completions;
pub mod delete;
pub mod download;
pub mod history;
pub mod info;
pub mod list;
pub mod me;
pub mod serve;
pub mod services;
pub mod update;
pub mod upload;

use anyhow::Result;
use clap::Subcommand;

use crate::cli::Cli;
use crate::config::Settings;

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
                .map_err(|e| {
                    crate::error::Failure::new(
                        crate::error::Kind::Other,
                        format!("cannot start: {e}"),
                    )
                })?;
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
