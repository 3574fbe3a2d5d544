//! One module per subcommand, each with its clap arguments and a `run` function.

pub mod serve;

use anyhow::Result;
use clap::Subcommand;

use crate::cli::Cli;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a file.io-compatible server: self-host, try the client offline, test against it
    Serve(serve::ServeArgs),
}

/// Dispatches a parsed command line to its subcommand.
pub fn run(cli: Cli) -> Result<()> {
    let Cli { global, command } = cli;
    let _ = &global;
    match command {
        Command::Serve(args) => serve::run(args),
    }
}
