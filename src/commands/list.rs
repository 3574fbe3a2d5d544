//! `fileio list`: the caller's files on the service.

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::http::Http;
use crate::output;
use crate::services::{self, Api, FileRecord, ListQuery};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show only the files whose name contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,

    /// Sort by this field: name, size, expires or created
    #[arg(long, value_name = "FIELD")]
    pub sort: Option<String>,

    /// Skip the first N files
    #[arg(long, value_name = "N")]
    pub offset: Option<u64>,

    /// Show at most N files
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// List every file, fetching as many pages as it takes
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

/// Page size when following pages with `--all`.
const PAGE: u64 = 100;

pub async fn run(args: ListArgs, settings: &Settings) -> Result<()> {
    services::check_command(settings.service, &settings.services, "list")?;
    let key = settings.require_api_key()?;
    let http = Http::new(settings)?;
    let api = Api {
        http: &http,
        settings,
        key: Some(&key),
    };
    let mut files: Vec<FileRecord> = Vec::new();
    let mut query = ListQuery {
        search: args.search.clone(),
        sort: args.sort.clone(),
        offset: args.offset.unwrap_or(0),
        limit: if args.all { Some(PAGE) } else { args.limit },
    };
    loop {
        let page = services::list(&api, &query).await?;
        let got = page.files.len() as u64;
        files.extend(page.files);
        query.offset += got;
        let more = page.total.map_or(got == PAGE, |t| query.offset < t);
        if !args.all || got == 0 || !more {
            break;
        }
    }
    print(&files, settings)
}

fn print(files: &[FileRecord], settings: &Settings) -> Result<()> {
    if settings.json {
        return output::json_line(&files);
    }
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            vec![
                f.key.clone(),
                f.name.clone().unwrap_or_default(),
                output::size(f.size),
                format!(
                    "{}/{}",
                    f.downloads.map_or("-".into(), |d| d.to_string()),
                    f.max_downloads.map_or("-".into(), |d| d.to_string())
                ),
                output::time(f.expires.as_deref()),
            ]
        })
        .collect();
    output::table(
        &["KEY", "NAME", "SIZE", "DOWNLOADS", "EXPIRES (UTC)"],
        &rows,
    )?;
    Ok(())
}
