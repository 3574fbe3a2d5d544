//! `fileio update`: change a file's expiry, download limit, name or contents.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::activity::Activity;
use crate::commands::upload::{self, counted_file, local_error, print_record};
use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::history::management_target;
use crate::http::Http;
use crate::progress::Progress;
use crate::services::{self, Api, FileRecord, ServiceKind, Upload, UploadOptions, fileio};

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

    /// Rename the file (fii.one)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Replace everything (PUT): what is not given returns to its default; needs --file
    #[arg(long)]
    pub replace_all: bool,
}

pub async fn run(args: UpdateArgs, settings: &Settings) -> Result<()> {
    let kind = settings.service;
    services::check_command(kind, &settings.services, "update")?;
    let file_key = services::key_of(&args.target)?;
    upload::check_future(args.expires.as_ref())?;
    check_supported(kind, &args)?;
    let http = Http::new(settings)?;
    let record = match kind {
        ServiceKind::FiiOne => {
            let key = settings.require_api_key()?;
            let api = Api {
                http: &http,
                settings,
                key: Some(&key),
            };
            let name = args
                .name
                .as_deref()
                .expect("checked: fii.one updates a name");
            services::fiione::rename(&api, &file_key, name).await?
        }
        ServiceKind::ZeroX0 => {
            let api = Api {
                http: &http,
                settings,
                key: None,
            };
            let history = upload::open_history(settings);
            let (link, token) = management_target(
                history.as_ref(),
                kind.name(),
                &settings.server,
                &args.target,
                &file_key,
            );
            let expires = args
                .expires
                .as_ref()
                .expect("checked: 0x0 updates an expiry");
            services::zerox0::set_expiry(&api, &link, token.as_ref(), expires).await?;
            let mut r = FileRecord::new(
                kind,
                file_key.clone(),
                services::zerox0::download_url(&settings.server, &link)?.to_string(),
            );
            r.expires = expires
                .resolve(chrono::Utc::now())
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            r
        }
        _ => update_fileio(&args, &file_key, settings, &http).await?,
    };
    print_record(&record, None, settings)?;
    if let Some(h) = upload::open_history(settings).filter(|_| settings.history) {
        // Only files this machine uploaded are in the history; keep their entry current.
        if h.link(record.service, &settings.server, &record.key)?
            .is_some()
        {
            upload::remember(&h, &record, None, settings);
        }
    }
    Ok(())
}

/// Refuses, before anything is sent, what the service cannot change.
fn check_supported(kind: ServiceKind, args: &UpdateArgs) -> Result<()> {
    let given = [
        ("--expires", args.expires.is_some()),
        ("--max-downloads", args.max_downloads.is_some()),
        ("--auto-delete", args.auto_delete.is_some()),
        ("--file", args.file.is_some()),
        ("--name", args.name.is_some()),
        ("--replace-all", args.replace_all),
    ];
    let allowed: &[&str] = match kind {
        ServiceKind::FiiOne => &["--name"],
        ServiceKind::ZeroX0 => &["--expires"],
        _ => &[
            "--expires",
            "--max-downloads",
            "--auto-delete",
            "--file",
            "--replace-all",
        ],
    };
    if let Some((flag, _)) = given.iter().find(|(f, yes)| *yes && !allowed.contains(f)) {
        return Err(
            services::unsupported(kind, &format!("updating {flag}"), &allowed.join(", ")).into(),
        );
    }
    if !given.iter().any(|(_, yes)| *yes) {
        return Err(Failure::new(Kind::Usage, "nothing to update")
            .hint(format!("give {}", allowed.join(", ")))
            .into());
    }
    if args.replace_all && args.file.is_none() {
        return Err(Failure::new(
            Kind::Usage,
            "--replace-all replaces the whole file and needs --file PATH",
        )
        .into());
    }
    Ok(())
}

async fn update_fileio(
    args: &UpdateArgs,
    file_key: &str,
    settings: &Settings,
    http: &Http,
) -> Result<FileRecord> {
    let file = match &args.file {
        Some(p) => {
            let meta = std::fs::metadata(p).map_err(|e| local_error(p, &e))?;
            std::fs::File::open(p).map_err(|e| local_error(p, &e))?;
            Some((p.clone(), meta.len()))
        }
        None => None,
    };
    let key = settings.require_api_key()?;
    let api = Api {
        http,
        settings,
        key: Some(&key),
    };
    let opts = UploadOptions {
        expires: args.expires,
        max_downloads: args.max_downloads,
        auto_delete: args.auto_delete,
        secret: false,
    };
    // A byte bar only when bytes are sent: a change of expiry or limit has nothing to show.
    let progress = Progress::new(settings.progress && file.is_some());
    let bar = progress.bar(file_key, file.as_ref().map(|(_, len)| *len));
    let activity = Activity::default();
    let name = file
        .as_ref()
        .and_then(|(p, _)| p.file_name())
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let body = || -> Result<reqwest::Body> {
        let (path, _) = file.as_ref().expect("a body only with --file");
        let f = std::fs::File::open(path).map_err(|e| local_error(path, &e))?;
        Ok(counted_file(f, &bar, None, &activity))
    };
    let upload = file.as_ref().map(|(path, len)| Upload {
        name: &name,
        len: Some(*len),
        path: Some(path),
        body: &body,
        replayable: true,
        activity: &activity,
        bar: &bar,
        jobs: 1,
    });
    let record = fileio::update(&api, file_key, &opts, upload.as_ref(), args.replace_all).await;
    bar.finish_and_clear();
    record
}
