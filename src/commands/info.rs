//! `fileio info`: what the service says about one file.

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::history;
use crate::output;
use crate::services;
use crate::terminal_text::inert;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The key or link of the file
    #[arg(value_name = "KEY|LINK")]
    pub target: String,
}

pub async fn run(args: InfoArgs, settings: &Settings) -> Result<()> {
    services::check_command(settings.service, &settings.services, "info")?;
    let file_key = services::key_of(&args.target)?;
    let key = settings.api_key()?.map(|(k, _)| k);
    let http = settings.http()?;
    let mut r = settings
        .service
        .info(&settings.api(&http, key.as_ref()), &file_key)
        .await?;
    if settings.history {
        let history = history::open_or_warn(true);
        history::show_as_uploaded(
            history.as_ref(),
            &settings.server,
            std::slice::from_mut(&mut r),
        );
    }
    if settings.json {
        return output::json_line(&r);
    }
    // Every value here is the server's: printed inert.
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let lines = [
        ("key", r.key.clone()),
        ("name", opt(r.name.clone())),
        ("size", output::size(r.size)),
        (
            "downloads",
            match (r.downloads, r.max_downloads) {
                (Some(d), Some(m)) => format!("{d} of {m}"),
                (Some(d), None) => d.to_string(),
                _ => "-".into(),
            },
        ),
        ("expires", output::time(r.expires.as_deref())),
        ("created", output::time(r.created.as_deref())),
        ("link", r.link.clone()),
    ];
    for (label, value) in lines
        .iter()
        .chain(r.direct_link.as_ref().map(|d| ("direct", d.clone())).iter())
    {
        println!("{:<11}{}", format!("{label}:"), inert(value));
    }
    Ok(())
}
