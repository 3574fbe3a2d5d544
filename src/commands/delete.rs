//! `fileio delete`: remove files from the service (and from the local history).

use anyhow::Result;
use clap::Args;

use crate::config::Settings;
use crate::error::{Failure, Kind, failure_of};
use crate::history::{self, management_target};
use crate::services::{self, Managed};

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Keys or links of the files to delete
    #[arg(value_name = "KEY|LINK", required = true)]
    pub targets: Vec<String>,
}

pub async fn run(args: DeleteArgs, settings: &Settings) -> Result<()> {
    services::check_command(settings.service, &settings.services, "delete")?;
    let keys = args
        .targets
        .iter()
        .map(|t| services::key_of(t))
        .collect::<Result<Vec<_>>>()?;
    // 0x0 needs no account key: each file has its own token, kept in the history.
    let key = settings.key_for_management()?;
    let http = settings.http()?;
    let api = settings.api(&http, key.as_ref());
    let history = history::open_or_warn(settings.quiet);
    let service = settings.service.name();
    let mut failures = Vec::new();
    for (target, file_key) in args.targets.iter().zip(&keys) {
        let (target, token) = management_target(
            history.as_ref(),
            service,
            &settings.server,
            target,
            file_key,
        );
        let managed = Managed {
            key: file_key,
            target: &target,
            token: token.as_ref(),
        };
        let result = settings.service.delete(&api, &managed).await;
        match result {
            Ok(()) => {
                if let Some(h) = &history {
                    let _ = h.remove_one(service, &settings.server, file_key);
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
                eprintln!(
                    "fileio: error: {}",
                    crate::terminal_text::inert(&format!("{e:#}"))
                );
            }
            let kind = failure_of(&failures[0]).map_or(Kind::Other, |f| f.kind);
            Err(Failure::new(kind, format!("{n} of {} deletions failed", keys.len())).into())
        }
    }
}
