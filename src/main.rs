//! The `fileio` binary: parse, run, and turn the outcome into an exit code.
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = fileio::cli::Cli::parse_args();
    match fileio::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => ExitCode::from(fileio::error::report(&err)),
    }
}
