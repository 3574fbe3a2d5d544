//! `fileio auth`: keep an API key in the OS keyring, see where the key in use comes from,
//! and remove it.

pub mod login;
pub mod logout;
pub mod status;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::config::Settings;

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store an API key for the service and server, after checking it works
    Login(login::LoginArgs),
    /// Say where the key in use comes from and which account it is (never the key)
    Status,
    /// Remove the stored key for the service and server
    Logout,
}

pub async fn run(args: AuthArgs, settings: &Settings) -> Result<()> {
    match args.command {
        AuthCommand::Login(a) => login::run(a, settings).await,
        AuthCommand::Status => status::run(settings).await,
        AuthCommand::Logout => logout::run(settings),
    }
}
