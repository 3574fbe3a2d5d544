//! The services fileio speaks, one module each, behind one normalized view of a file.

pub mod fileio;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Failure, Kind};

/// Which dialect to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// file.io and every compatible server, `fileio serve` first among them.
    FileIo,
}

impl ServiceKind {
    pub const ALL: &'static [ServiceKind] = &[ServiceKind::FileIo];

    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::FileIo => "fileio",
        }
    }

    /// The public instance, used when neither `--server` nor the config names one.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ServiceKind::FileIo => fileio::DEFAULT_BASE_URL,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceKind {
    type Err = Failure;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace(['.', '-', '_'], "");
        ServiceKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = ServiceKind::ALL.iter().map(|k| k.name()).collect();
                Failure::new(Kind::Usage, format!("unknown service '{s}'"))
                    .hint(format!("services: {}", names.join(", ")))
            })
    }
}

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
}

/// A service's timestamp in our one form, `2026-12-06T10:00:00Z`; `None` when unreadable.
pub fn normalize_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}
