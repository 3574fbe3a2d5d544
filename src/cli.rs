//! The command line: global options and the subcommand tree.
//!
//! Doc comments here are the help text users read in `--help` and the man pages.

use std::path::PathBuf;

use std::ffi::OsStr;

use clap::builder::{FalseyValueParser, PossibleValue, StringValueParser, TypedValueParser};
use clap::{Args, Parser};

use crate::commands::Command;
use crate::services::ServiceKind;

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
    #[arg(long, global = true, env = "FILEIO_SERVICE", value_name = "NAME",
          value_parser = Known::services(), hide_possible_values = true)]
    pub service: Option<String>,

    /// Talk to the server at this base URL instead of the service's own, e.g.
    /// http://127.0.0.1:8080 for `fileio serve`
    #[arg(long, global = true, env = "FILEIO_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Print results as JSON on standard output, one value per line: upload and update an
    /// object per file, delete an object per key, list, history and services one array, info,
    /// me and auth status one object (download prints the saved path either way)
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

    /// Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload
    /// is sent again only after a connect error or a 429 or 503, so it is never stored twice
    /// [default: 3]
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

/// A value from a known set, offered by shell completion, and checked by the command that
/// uses it rather than by clap: the set completes, while what is accepted stays what the
/// command's own parser takes (a service's aliases in any case, such as `file.io` or
/// `0x0.st`; any field a file.io-compatible server sorts by), with its own error and hint.
#[derive(Debug, Clone)]
pub struct Known(Vec<&'static str>);

impl Known {
    pub fn new(values: &[&'static str]) -> Known {
        Known(values.to_vec())
    }

    /// The services' names, as `--service` completes them.
    pub fn services() -> Known {
        Known(ServiceKind::ALL.iter().map(|k| k.name()).collect())
    }
}

impl TypedValueParser for Known {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}
