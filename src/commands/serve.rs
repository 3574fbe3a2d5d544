//! `fileio serve`: the file.io-compatible server (see `crate::server`).

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> Result<()> {
    crate::error::fail(crate::error::Kind::Other, "fileio serve is not built yet")
}
