//! The command line: global options and the subcommand tree.
//!
//! Doc comments here are the help text users read in `--help` and the man pages.

use std::path::PathBuf;

use clap::builder::FalseyValueParser;
use clap::{Args, Parser};

use crate::commands::Command;

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

/// Options every command takes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do
    #[arg(long, global = true, env = "FILEIO_SERVICE", value_name = "NAME")]
    pub service: Option<String>,

    /// Talk to the server at this base URL instead of the service's own, e.g.
    /// http://127.0.0.1:8080 for `fileio serve`
    #[arg(long, global = true, env = "FILEIO_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Print results as JSON (one object per line)
    #[arg(long, global = true, env = "FILEIO_JSON", value_parser = FalseyValueParser::new())]
    pub json: bool,

    /// Print only the result: no summary, hints or progress
    #[arg(short, long, global = true, env = "FILEIO_QUIET", value_parser = FalseyValueParser::new())]
    pub quiet: bool,

    /// Log requests and responses on stderr, secrets redacted
    #[arg(short, long, global = true, env = "FILEIO_VERBOSE", value_parser = FalseyValueParser::new())]
    pub verbose: bool,

    /// Never draw progress bars
    #[arg(long, global = true, env = "FILEIO_NO_PROGRESS", value_parser = FalseyValueParser::new())]
    pub no_progress: bool,

    /// Give up on a request that makes no progress for this many seconds [default: 30]
    #[arg(long, global = true, env = "FILEIO_TIMEOUT", value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Retry transient failures (connect errors, 429, 502, 503, 504) up to N times [default: 3]
    #[arg(long, global = true, env = "FILEIO_RETRIES", value_name = "N")]
    pub retries: Option<u32>,

    /// Read the API key from the first line of this file (e.g. a CI secret file); beats
    /// FILEIO_API_KEY and the keyring
    #[arg(long, global = true, env = "FILEIO_API_KEY_FILE", value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// Do not record uploads in the local history
    #[arg(long, global = true, env = "FILEIO_NO_HISTORY", value_parser = FalseyValueParser::new())]
    pub no_history: bool,

    /// Read settings from this TOML file instead of config.toml in the user's config directory
    #[arg(long, global = true, env = "FILEIO_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// The exit codes, appended to `fileio --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0 success · 1 other failure · 2 usage · 3 authentication or permission
  4 not found, expired or already downloaded · 5 too large or over quota
  6 rate limited after retries · 7 network · 8 unexpected answer from the server
  9 local file problem · 130 interrupted";
