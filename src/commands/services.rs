//! `fileio services`: the services fileio speaks and what each can do.

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::output;
use crate::services::{Capabilities, ServiceKind};

#[derive(Serialize)]
struct Row {
    name: &'static str,
    title: &'static str,
    default_server: &'static str,
    #[serde(flatten)]
    capabilities: Capabilities,
}

pub fn run(settings: &Settings) -> Result<()> {
    let rows: Vec<Row> = ServiceKind::ALL
        .iter()
        .map(|&k| Row {
            name: k.name(),
            title: k.title(),
            default_server: k.default_base_url(),
            capabilities: k.capabilities(&settings.services),
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
