//! `fileio history`: the uploads this machine remembers.

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::history::History;
use crate::output;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Include expired uploads
    #[arg(long)]
    pub all: bool,

    /// Forget the upload with this key (the file stays on the service)
    #[arg(long, value_name = "KEY", conflicts_with_all = ["all", "clear"])]
    pub rm: Option<String>,

    /// Forget every upload (the files stay on the service)
    #[arg(long, conflicts_with = "all")]
    pub clear: bool,
}

pub fn run(args: HistoryArgs, settings: &Settings) -> Result<()> {
    let history = History::open_default()?;
    if let Some(key) = &args.rm {
        if history.remove(key)? == 0 {
            return Err(Failure::new(
                Kind::NotFound,
                format!("no upload with key {key} in the history"),
            )
            .into());
        }
        if !settings.quiet {
            eprintln!("Forgot {key}.");
        }
        return Ok(());
    }
    if args.clear {
        let n = history.clear()?;
        if !settings.quiet {
            eprintln!("Forgot {n} upload{}.", if n == 1 { "" } else { "s" });
        }
        return Ok(());
    }
    let entries = history.list(args.all)?;
    if settings.json {
        return output::json_line(&entries);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                output::time(Some(&e.uploaded)),
                e.key.clone(),
                e.name.clone().unwrap_or_default(),
                output::size(e.size),
                output::time(e.expires.as_deref()),
                e.link.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "UPLOADED (UTC)",
            "KEY",
            "NAME",
            "SIZE",
            "EXPIRES (UTC)",
            "LINK",
        ],
        &rows,
    )?;
    Ok(())
}
