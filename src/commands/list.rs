//! `fileio list`: the caller's files on the service.

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::history;
use crate::output;
use crate::services::{self, FileRecord, ListQuery};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show only the files whose name contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,

    /// Sort by this field: name, size, expires or created (services other than fileio:
    /// sorted here, over the files listed)
    #[arg(long, value_name = "FIELD", value_parser = crate::known::Known::new(SORTS),
          hide_possible_values = true)]
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
    let http = settings.http()?;
    let api = settings.api(&http, Some(&key));
    // file.io-compatible servers search and sort; for the others it is done here, so that
    // neither option is silently ignored.
    let server_side = api.capabilities().list_searches;
    if let (false, Some(field)) = (server_side, args.sort.as_deref()) {
        if !SORTS.contains(&field) {
            return Err(
                Failure::new(Kind::Usage, format!("cannot sort by '{field}'"))
                    .hint(format!("sort by {}", SORTS.join(", ")))
                    .into(),
            );
        }
    }
    let mut files: Vec<FileRecord> = Vec::new();
    let mut query = ListQuery {
        search: args.search.clone().filter(|_| server_side),
        sort: args.sort.clone().filter(|_| server_side),
        offset: args.offset.unwrap_or(0),
        limit: if args.all { Some(PAGE) } else { args.limit },
    };
    // Bounded: a server that repeats a page or never ends is an error, not a loop.
    let mut pager = services::Pager::new("listing files");
    loop {
        let page = settings.service.list(&api, &query).await?;
        let got = page.files.len() as u64;
        files.extend(pager.take(page.files)?);
        query.offset += got;
        let more = page.total.map_or(got == PAGE, |t| query.offset < t);
        if !args.all || got == 0 || !more {
            break;
        }
        pager.check_more()?;
    }
    if settings.history {
        let history = history::open_or_warn(true);
        history::show_as_uploaded(history.as_ref(), &settings.server, &mut files);
    }
    if !server_side {
        if let Some(text) = &args.search {
            files.retain(|f| f.name.as_deref().is_some_and(|n| n.contains(text.as_str())));
        }
        match args.sort.as_deref() {
            Some("name") => files.sort_by(|a, b| a.name.cmp(&b.name)),
            Some("size") => files.sort_by_key(|f| f.size),
            Some("expires") => files.sort_by(|a, b| a.expires.cmp(&b.expires)),
            Some("created") => files.sort_by(|a, b| a.created.cmp(&b.created)),
            _ => {}
        }
    }
    print(&files, settings)
}

/// The fields `--sort` takes where fileio sorts itself (RFC 3339 UTC strings sort as times).
const SORTS: &[&str] = &["name", "size", "expires", "created"];

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
