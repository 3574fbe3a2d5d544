//! The v2 shapes of successful answers: FileDetails, the list, me (errors: [`super::errors`]).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::expires::describe;
use crate::server::meta::FileRow;

/// A duration to the nearest second, so that "1d" reads "1 day" although a few
/// milliseconds passed since it was resolved.
fn round_to_second(d: chrono::TimeDelta) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds((d.num_milliseconds() + 500).div_euclid(1000))
}

/// RFC 3339 with milliseconds and `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The v2 FileDetails of a stored file, plus the classic `expiry`, in the card's order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDetails {
    pub success: bool,
    pub status: u16,
    pub id: String,
    pub key: String,
    pub path: &'static str,
    pub node_type: &'static str,
    pub name: String,
    pub title: String,
    pub description: &'static str,
    pub link: String,
    pub private: bool,
    pub expires: String,
    pub expiry: String,
    pub downloads: u32,
    pub max_downloads: u32,
    pub auto_delete: bool,
    pub size: u64,
    pub mime_type: String,
    pub screening_status: &'static str,
    pub created: String,
    pub modified: String,
}

/// The FileDetails of a stored file, with its link under `base`.
pub fn file_details(row: &FileRow, base: &str, now: DateTime<Utc>) -> FileDetails {
    FileDetails {
        success: true,
        status: 200,
        id: row.key.clone(),
        key: row.key.clone(),
        path: "/",
        node_type: "file",
        name: row.name.clone(),
        title: row.name.clone(),
        description: "",
        link: format!("{base}/{}", row.key),
        private: false,
        expires: timestamp(row.expires),
        expiry: describe(round_to_second(row.expires - now)),
        downloads: row.downloads,
        max_downloads: row.max_downloads,
        auto_delete: row.auto_delete,
        size: row.size,
        mime_type: row.mime.clone(),
        screening_status: "ok",
        created: timestamp(row.created),
        modified: timestamp(row.modified),
    }
}

/// The answer of `GET /`.
#[derive(Debug, Serialize)]
pub struct ListAnswer {
    pub success: bool,
    pub status: u16,
    pub nodes: Vec<FileDetails>,
    pub count: u64,
    pub size: u64,
}

/// The answer of `GET /me`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeAnswer {
    pub success: bool,
    pub status: u16,
    pub plan_id: u32,
    pub max_upload_bytes: Option<u64>,
    pub max_storage_bytes: Option<u64>,
    pub used_storage_bytes: u64,
    /// Requests per window, as `60/min`.
    pub rate_limit: Option<String>,
    /// The longest expiry allowed, as a period such as `30d`.
    pub max_expiry: Option<String>,
    pub custom_domain: &'static str,
    pub direct_download: u32,
}

/// `{"success":true,"status":200}`.
#[derive(Debug, Serialize)]
pub struct Done {
    pub success: bool,
    pub status: u16,
}
