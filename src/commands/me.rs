//! `fileio me`: the account's plan, storage and limits.

use anyhow::Result;

use crate::config::Settings;
use crate::services;
use crate::size::ByteSize;
use crate::terminal_text::inert;

pub async fn run(settings: &Settings) -> Result<()> {
    services::check_command(settings.service, &settings.services, "me")?;
    let key = settings.require_api_key()?;
    let http = settings.http()?;
    let a = settings
        .service
        .me(&settings.api(&http, Some(&key)))
        .await?;
    if settings.json {
        return crate::output::json_line(&a);
    }
    let bytes = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| ByteSize(n).to_string());
    // Everything shown came from the server: made inert before it reaches the terminal.
    let plain = |v: &Option<serde_json::Value>| match v {
        None => "none".to_string(),
        Some(serde_json::Value::String(s)) => inert(s).into_owned(),
        Some(other) => inert(&other.to_string()).into_owned(),
    };
    if let Some(plan) = a.plan_text() {
        println!("plan:              {}", inert(&plan));
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
