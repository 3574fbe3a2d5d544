//! fileio: a client for file.io-style file-sharing services, and a file.io-compatible server.
//!
//! The binary is a thin shell around [`run`]; everything lives here so tests and the
//! generators of completions and man pages can reach [`cli::Cli`].

pub mod activity;
pub mod archive;
pub mod body;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod crypt;
pub mod dirs;
pub mod docs;
pub mod error;
pub mod expires;
pub mod filename;
pub mod history;
pub mod http;
pub mod known;
pub mod local_db;
pub mod output;
pub mod progress;
pub mod qr;
pub mod record;
pub mod resume;
pub mod save;
pub mod secret;
pub mod server;
pub mod services;
pub mod size;
pub mod tcp;
pub mod terminal_text;
pub mod tls;

use anyhow::Result;

/// Runs one parsed command line to completion.
pub fn run(cli: cli::Cli) -> Result<()> {
    cli::run(cli)
}
