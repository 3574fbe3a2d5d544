//! `fileio me`: the account's plan, storage and limits.

use anyhow::Result;

use crate::config::Settings;
use crate::http::Http;
use crate::services::{self, Api};
use crate::size::ByteSize;

pub async fn run(settings: &Settings) -> Result<()> {
    services::check_command(settings.service, &settings.services, "me")?;
    let key = settings.require_api_key()?;
    let http = Http::new(settings)?;
    let a = services::me(&Api {
        http: &http,
        settings,
        key: Some(&key),
    })
    .await?;
    if settings.json {
        return crate::output::json_line(&a);
    }
    let bytes = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| ByteSize(n).to_string());
    let plain = |v: &Option<serde_json::Value>| match v {
        None => "none".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match &a.plan {
        // file.io-compatible servers (`fileio serve` too) answer `planId: 0` when there is
        // no plan to speak of; "plan: 0" tells a person nothing, so there is no plan line.
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(0) => {}
        // A number the service does not explain is an id, and said to be one.
        Some(serde_json::Value::Number(n)) => println!("plan:              id {n}"),
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
            println!("plan:              {s}")
        }
        _ => {}
    }
    println!(
        "storage:           {} used of {}",
        a.used_storage_bytes
            .map_or("-".into(), |n| ByteSize(n).to_string()),
        bytes(a.max_storage_bytes)
    );
    println!("upload size limit: {}", bytes(a.max_upload_bytes));
    println!("rate limit:        {}", plain(&a.rate_limit));
    Ok(())
}
