//! One module per subcommand, each with its clap arguments and a `run` function.

pub mod download;
pub mod serve;
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
    /// Run a file.io-compatible server: self-host, try the client offline, test against it
    Serve(serve::ServeArgs),
}

/// Dispatches a parsed command line to its subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let Cli { global, command } = cli;
    match command {
        // The server builds its own runtime, sized for serving.
        Command::Serve(args) => serve::run(args),
        command => {
            let settings = Settings::resolve(&global)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
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
                    Command::Serve(_) => unreachable!("handled above"),
                }
            })
        }
    }
}
