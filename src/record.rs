//! What services report, in one normalized form whatever the service: a file, and an
//! account. Services build these from their wire formats; commands print them.

use serde::Serialize;

/// One file as every service is reported: the same fields whatever the service, with what a
/// service does not say left null.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileRecord {
    pub service: &'static str,
    pub key: String,
    pub link: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    /// RFC 3339, UTC.
    pub expires: Option<String>,
    pub downloads: Option<u64>,
    pub max_downloads: Option<u64>,
    pub auto_delete: Option<bool>,
    /// RFC 3339, UTC.
    pub created: Option<String>,
    /// A direct link to the bytes where the service gives one apart from `link` (fii.one).
    pub direct_link: Option<String>,
}

impl FileRecord {
    /// A record with only what every service gives: whose, the key and the link.
    pub fn new(service: &'static str, key: String, link: String) -> FileRecord {
        FileRecord {
            service,
            key,
            link,
            name: None,
            size: None,
            expires: None,
            downloads: None,
            max_downloads: None,
            auto_delete: None,
            created: None,
            direct_link: None,
        }
    }
}

/// The account as a service reports it, in our field names. `plan` and `rate_limit` are
/// shown as the service sent them (a number, a name, an object), made inert on arrival.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Account {
    pub service: &'static str,
    pub plan: Option<serde_json::Value>,
    pub max_upload_bytes: Option<u64>,
    pub max_storage_bytes: Option<u64>,
    pub used_storage_bytes: Option<u64>,
    pub rate_limit: Option<serde_json::Value>,
}

impl Account {
    /// The plan as people read it: a name, or "id N" for a number the service does not
    /// explain; `None` when there is no plan to speak of (file.io-compatible servers,
    /// `fileio serve` too, answer `planId: 0` then, and "plan 0" tells a person nothing).
    pub fn plan_text(&self) -> Option<String> {
        use serde_json::Value;
        match &self.plan {
            Some(Value::Number(n)) if n.as_u64() == Some(0) => None,
            Some(Value::Number(n)) => Some(format!("id {n}")),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

/// A service's timestamp in our one form, `2026-12-06T10:00:00Z`; `None` when unreadable.
pub fn normalize_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Epoch milliseconds (possibly fractional, as 0x0 sends them) in our one form.
pub fn epoch_ms_to_time(ms: f64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(ms as i64)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
