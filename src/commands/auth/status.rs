//! `fileio auth status`, and the check of a key against the service that login uses too.

use anyhow::Result;

use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::secret::Secret;
use crate::services::Account;
use crate::size::ByteSize;

/// Asks the service who the key belongs to (`GET /me`); a refused key is exit 3.
pub async fn check_key(settings: &Settings, key: &Secret) -> Result<Account> {
    let http = settings.http()?;
    let api = settings.api(&http, Some(key));
    settings
        .service
        .check_key(&api)
        .await
        .map_err(|e| match crate::error::failure_of(&e) {
            Some(f) if f.kind == Kind::Auth => Failure::new(
                Kind::Auth,
                format!("{}: the server refused this key", settings.server),
            )
            .hint(refused_key_hint(settings))
            .into(),
            _ => e,
        })
}

/// What to do about a refused key: the public service's account settings, or, for a
/// self-hosted server, the keys its operator gave it.
fn refused_key_hint(settings: &Settings) -> String {
    let public = settings.service.default_base_url().trim_end_matches('/');
    if settings.server.trim_end_matches('/') == public {
        format!("check the key, or create a new one in your account settings at {public}")
    } else {
        format!(
            "check the key: {} accepts the keys its operator set (for `fileio serve`: --api-key, --api-keys-file or FILEIO_SERVE_API_KEYS)",
            settings.server
        )
    }
}

/// "plan creator, 1.2 MiB of 10.0 GiB used"; a plan id of 0 (no plan to speak of) is left
/// out, as `fileio me` leaves it out.
pub fn describe_account(a: &Account) -> String {
    let plan = a
        .plan_text()
        .map(|p| format!("plan {}", crate::terminal_text::inert(&p)));
    let storage = match (a.used_storage_bytes, a.max_storage_bytes) {
        (Some(u), Some(m)) => Some(format!("{} of {} used", ByteSize(u), ByteSize(m))),
        (Some(u), None) => Some(format!("{} used", ByteSize(u))),
        _ => None,
    };
    let parts: Vec<String> = plan.into_iter().chain(storage).collect();
    if parts.is_empty() {
        "no plan or usage given".into()
    } else {
        parts.join(", ")
    }
}

pub async fn run(settings: &Settings) -> Result<()> {
    let Some((key, source)) = settings.api_key()? else {
        return Err(
            Failure::new(Kind::Auth, format!("not logged in to {}", settings.server))
                .hint("run `fileio auth login`, or set FILEIO_API_KEY")
                .into(),
        );
    };
    let account = check_key(settings, &key).await?;
    if settings.json {
        crate::output::json_line(&serde_json::json!({
            "service": settings.service.name(),
            "server": settings.server,
            "source": source.to_string(),
            "account": account,
        }))?;
    } else {
        println!(
            "Logged in to {} with the key from {source}: {}.",
            settings.server,
            describe_account(&account)
        );
    }
    Ok(())
}
