//! `fileio services`: the services fileio speaks and what each can do.

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::output;
use crate::services::{Capabilities, SERVICES};

/// A service as `--json` shows it.
#[derive(Serialize)]
struct Row {
    name: &'static str,
    title: &'static str,
    default_server: &'static str,
    #[serde(flatten)]
    capabilities: Flat,
}

/// The capabilities as `--json` has always shown them: one flat object, `update` and `auth`
/// as words (`-` for no update at all).
#[derive(Serialize)]
struct Flat {
    expires: bool,
    max_downloads: bool,
    auto_delete: bool,
    secret_url: bool,
    /// Every service takes `--name`.
    name: bool,
    list: bool,
    account: bool,
    update: String,
    delete: bool,
    info: bool,
    resumable: bool,
    auth: &'static str,
}

impl From<Capabilities> for Flat {
    fn from(c: Capabilities) -> Flat {
        Flat {
            expires: c.upload.expires,
            max_downloads: c.upload.max_downloads,
            auto_delete: c.upload.auto_delete,
            secret_url: c.upload.secret_url,
            name: true,
            list: c.list,
            account: c.account,
            update: c.update.map_or("-".into(), |u| u.describe()),
            delete: c.delete,
            info: c.info,
            resumable: c.resumable,
            auth: c.auth.describe(),
        }
    }
}

pub fn run(settings: &Settings) -> Result<()> {
    let rows: Vec<Row> = SERVICES
        .iter()
        .map(|s| Row {
            name: s.name(),
            title: s.title(),
            default_server: s.default_base_url(),
            capabilities: s.capabilities(&settings.services).into(),
        })
        .collect();
    if settings.json {
        return output::json_line(&rows);
    }
    let yes = |b: bool| if b { "yes" } else { "-" }.to_string();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let c = &r.capabilities;
            vec![
                r.name.to_string(),
                yes(c.expires),
                yes(c.max_downloads),
                yes(c.list),
                yes(c.account),
                c.update.to_string(),
                yes(c.delete),
                yes(c.info),
                yes(c.resumable),
                c.auth.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "SERVICE",
            "EXPIRES",
            "MAX-DOWNLOADS",
            "LIST",
            "ME",
            "UPDATE",
            "DELETE",
            "INFO",
            "RESUMABLE",
            "AUTH",
        ],
        &table,
    )?;
    Ok(())
}
