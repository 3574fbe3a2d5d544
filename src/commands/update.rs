//! `fileio update`: change a file's expiry, download limit, name or contents.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::activity::Activity;
use crate::body::{FileSource, Source};
use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::history::{self, Recording, management_target};
use crate::output::print_record;
use crate::progress::Progress;
use crate::services::{self, Change, Managed, Upload};

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

impl UpdateArgs {
    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--expires", self.expires.is_some()),
            ("--max-downloads", self.max_downloads.is_some()),
            ("--auto-delete", self.auto_delete.is_some()),
            ("--file", self.file.is_some()),
            ("--name", self.name.is_some()),
            ("--replace-all", self.replace_all),
        ]
        .into_iter()
        .filter_map(|(f, yes)| yes.then_some(f))
        .collect()
    }
}

pub async fn run(args: UpdateArgs, settings: &Settings) -> Result<()> {
    let service = settings.service;
    services::check_command(service, &settings.services, "update")?;
    let file_key = services::key_of(&args.target)?;
    crate::expires::check_future(args.expires.as_ref(), crate::clock::now())?;
    services::check_update(service, &settings.services, &args.given())?;
    if args.replace_all && args.file.is_none() {
        return Err(Failure::new(
            Kind::Usage,
            "--replace-all replaces the whole file and needs --file PATH",
        )
        .into());
    }
    // New contents are checked before anything else: a bad file fails before the key does.
    let source = args.file.as_deref().map(FileSource::new).transpose()?;
    let key = settings.key_for_management()?;
    let http = settings.http()?;
    let api = settings.api(&http, key.as_ref());
    let history = history::open_or_warn(settings.quiet);
    let (target, token) = management_target(
        history.as_ref(),
        service.name(),
        &settings.server,
        &args.target,
        &file_key,
    );

    // A byte bar only when bytes are sent: a change of expiry or limit has nothing to show.
    let progress = Progress::new(settings.progress && source.is_some());
    let bar = progress.bar(&file_key, source.as_ref().and_then(|s| s.size()));
    let activity = Activity::default();
    let name = args
        .file
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let upload = source.as_ref().map(|s| Upload {
        name: &name,
        source: s,
        activity: &activity,
        bar: &bar,
        total: None,
        jobs: 1,
    });
    let change = Change {
        expires: args.expires.as_ref(),
        max_downloads: args.max_downloads,
        auto_delete: args.auto_delete,
        name: args.name.as_deref(),
        file: upload.as_ref(),
        replace_all: args.replace_all,
    };
    let managed = Managed {
        key: &file_key,
        target: &target,
        token: token.as_ref(),
    };
    let record = service.update(&api, &managed, &change).await;
    bar.finish_and_clear();
    let mut record = record?;

    // Only files this machine uploaded are in the history.
    let known = history
        .as_ref()
        .map(|h| h.entry(record.service, &settings.server, &record.key))
        .transpose();
    if let (Ok(Some(Some(known))), None) = (&known, &args.file) {
        keep_what_the_host_never_had(&mut record, known);
    }
    print_record(&record, None, settings.json, settings.chatty())?;
    if let Some(h) = history.filter(|_| settings.history) {
        // Keep their entry current.
        if known?.flatten().is_some() {
            let how = Recording {
                server: &settings.server,
                tokens: api.capabilities().tokens,
                quiet: settings.quiet,
            };
            history::remember(&h, &record, None, &how);
        }
    }
    Ok(())
}

/// An encrypted upload's link carries its key and original name in its fragment, and the
/// history its plaintext size: the host never had them, so its answer to a change of expiry
/// or limit lacks them. They are put back, so that the output and the history keep the whole
/// link (the uploader's only copy of the key). New contents (`--file`) are not encrypted,
/// and are not given the old key.
fn keep_what_the_host_never_had(record: &mut crate::record::FileRecord, known: &history::Entry) {
    let Some((_, fragment)) = known.link.split_once('#') else {
        return;
    };
    record.link = format!("{}#{fragment}", services::without_fragment(&record.link));
    record.name = known.name.clone().or(record.name.take());
    record.size = known.size.or(record.size);
}
