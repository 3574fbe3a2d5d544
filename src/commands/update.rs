//! `fileio update`: change a file's expiry, download limit or contents.

use anyhow::Result;
use clap::Args;

use std::path::PathBuf;

use crate::activity::Activity;
use crate::commands::upload::{self, counted_body, local_error, print_record};
use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::http::Http;
use crate::progress::Progress;
use crate::services::fileio::{self, UploadOptions};

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The key or link of the file
    #[arg(value_name = "KEY|LINK")]
    pub target: String,

    /// New expiry: a period (30m, 12h, 7d, 2w, 6M, 1y) or an ISO 8601 date
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<Expires>,

    /// New number of downloads allowed
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_downloads: Option<u32>,

    /// Whether the file is deleted after its last download or expiry (true or false)
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub auto_delete: Option<bool>,

    /// Upload PATH as the file's new contents, under the same key
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Replace everything (PUT): what is not given returns to its default; needs --file
    #[arg(long)]
    pub replace_all: bool,
}

pub async fn run(args: UpdateArgs, settings: &Settings) -> Result<()> {
    let file_key = fileio::key_of(&args.target)?;
    upload::check_future(args.expires.as_ref())?;
    if args.replace_all && args.file.is_none() {
        return Err(Failure::new(
            Kind::Usage,
            "--replace-all replaces the whole file and needs --file PATH",
        )
        .into());
    }
    if args.file.is_none()
        && args.expires.is_none()
        && args.max_downloads.is_none()
        && args.auto_delete.is_none()
    {
        return Err(Failure::new(Kind::Usage, "nothing to update")
            .hint("give --expires, --max-downloads, --auto-delete or --file")
            .into());
    }
    let file = match &args.file {
        Some(p) => {
            let meta = std::fs::metadata(p).map_err(|e| local_error(p, &e))?;
            std::fs::File::open(p).map_err(|e| local_error(p, &e))?;
            Some((p.clone(), meta.len()))
        }
        None => None,
    };
    let key = settings.require_api_key()?;
    let http = Http::new(settings)?;
    let opts = UploadOptions {
        expires: args.expires,
        max_downloads: args.max_downloads,
        auto_delete: args.auto_delete,
    };
    let url = format!("{}/{file_key}", settings.server);
    let what = format!("updating {file_key}");
    let progress = Progress::new(settings.progress);
    let bar = progress.bar(&file_key, file.as_ref().map(|(_, len)| *len));
    let activity = Activity::default();
    let v = http
        .send_json(&what, true, Some(&activity), || {
            let mut form = fileio::fields_form(&opts);
            if let Some((path, len)) = &file {
                bar.set_position(0);
                let f = std::fs::File::open(path).map_err(|e| local_error(path, &e))?;
                let body = counted_body(tokio::fs::File::from_std(f), &bar, None, &activity);
                let name = path
                    .file_name()
                    .map_or("file".into(), |n| n.to_string_lossy().into_owned());
                form = fileio::with_file(form, &name, body, Some(*len));
            }
            let req = if args.replace_all {
                http.client.put(&url)
            } else {
                http.client.patch(&url)
            };
            Ok(req
                .bearer_auth(key.expose())
                .header("Accept", "application/json")
                .multipart(form))
        })
        .await?;
    bar.finish_and_clear();
    let record = fileio::parse_file(&v, &what)?;
    print_record(&record, settings)?;
    if settings.history {
        if let Some(h) = upload::open_history(settings) {
            if h.token(record.service, &settings.server, &record.key)?
                .is_some()
                || h.list(true)?.iter().any(|e| e.key == record.key)
            {
                upload::remember(&h, &record, settings);
            }
        }
    }
    Ok(())
}
