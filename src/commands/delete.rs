//! `fileio delete`: remove files from the service (and from the local history).

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::error::{Failure, Kind, failure_of};
use crate::http::Http;
use crate::services::fileio;

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Keys or links of the files to delete
    #[arg(value_name = "KEY|LINK", required = true)]
    pub targets: Vec<String>,
}

pub async fn run(args: DeleteArgs, settings: &Settings) -> Result<()> {
    let keys = args
        .targets
        .iter()
        .map(|t| fileio::key_of(t))
        .collect::<Result<Vec<_>>>()?;
    let key = settings.require_api_key()?;
    let http = Http::new(settings)?;
    let history = if settings.history {
        crate::commands::upload::open_history(settings)
    } else {
        None
    };
    let mut failures = Vec::new();
    for file_key in &keys {
        let what = format!("deleting {file_key}");
        let url = format!("{}/{file_key}", settings.server);
        let result = async {
            let resp = http
                .send(&what, true, None, || {
                    Ok(http.client.delete(&url).bearer_auth(key.expose()))
                })
                .await?;
            if !resp.status().is_success() {
                return Err(anyhow::Error::from(
                    crate::http::error_from_response(&what, resp).await,
                ));
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                if let Some(h) = &history {
                    let _ = h.remove_one(settings.service.name(), &settings.server, file_key);
                }
                if settings.json {
                    crate::output::json_line(
                        &serde_json::json!({"key": file_key, "deleted": true}),
                    )?;
                } else if !settings.quiet {
                    eprintln!("Deleted {file_key}.");
                }
            }
            Err(e) => {
                if settings.json {
                    crate::output::json_line(
                        &serde_json::json!({"key": file_key, "deleted": false, "error": format!("{e:#}")}),
                    )?;
                }
                failures.push(e);
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 if keys.len() == 1 => Err(failures.remove(0)),
        n => {
            for e in &failures {
                eprintln!("fileio: error: {e:#}");
            }
            let kind = failure_of(&failures[0]).map_or(Kind::Other, |f| f.kind);
            Err(Failure::new(kind, format!("{n} of {} deletions failed", keys.len())).into())
        }
    }
}
