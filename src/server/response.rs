//! The v2 shapes of answers: FileDetails, and error bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::expires::describe;
use crate::server::meta::FileRow;

tokio::task_local! {
    /// The base URL of this server as the request's client knows it, for `help` links.
    pub static HELP_BASE: String;
}

/// Where an error code is explained: on this server (`GET /help/api/errors/{code}`).
pub fn help_link(code: &str) -> String {
    let base = HELP_BASE.try_with(Clone::clone).unwrap_or_default();
    format!("{base}/help/api/errors/{code}")
}

/// The page behind [`help_link`]: what an error code means and what to do.
pub fn help_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "BAD_REQUEST" => {
            "The request was not understood: the message says which value or part is wrong and what is accepted."
        }
        "UNAUTHORIZED" => {
            "An API key is needed, or the one sent is not valid here: send 'Authorization: Bearer <API key>' with a key this server's operator gave you."
        }
        "FORBIDDEN" => "The request is not allowed for this key.",
        "FILE_NOT_FOUND" => {
            "No file with this key: it may have expired, been downloaded already, or never existed. One-time links work once."
        }
        "METHOD_NOT_ALLOWED" => {
            "Use POST / to upload, GET /{key} to download, GET / to list, PUT, PATCH or DELETE /{key} to manage."
        }
        "FILE_TOO_LARGE" => {
            "The upload is larger than this server's limit or your remaining storage: GET /me shows both."
        }
        "FORM_TOO_LARGE" => {
            "The form has too many parts or too much besides the file: send the 'file' part and the settings fields (expires, maxDownloads, autoDelete) only."
        }
        "HEADERS_TOO_LARGE" => {
            "The request's headers or the form's part headers are too large: send shorter ones."
        }
        "TOO_MANY_REQUESTS" => {
            "This server limits requests per client: wait the seconds given in Retry-After, then try again."
        }
        "SERVICE_UNAVAILABLE" => {
            "The server cannot reach its storage for now: wait the seconds given in Retry-After, then try again."
        }
        "INTERNAL_ERROR" => {
            "The server failed to handle the request: try again later; the server's log says more."
        }
        _ => return None,
    })
}

/// Seconds a client is told to wait when the storage cannot be reached.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// An error answered in file.io's v2 shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
    /// A v2 code more precise than the status's own.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            code: None,
        }
    }
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "No file with this key: it may have expired, been downloaded already, or never existed.",
        )
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    pub fn internal(err: impl std::fmt::Display) -> Self {
        crate::server::log!("fileio serve: internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server failed to handle this request: try again later.",
        )
    }

    /// A backend that cannot be reached now: 503 with `Retry-After`, the detail in the log.
    pub fn unavailable(err: impl std::fmt::Display) -> Self {
        crate::server::log!("fileio serve: {err}");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server's storage cannot be reached right now: try again in a few seconds.",
        );
        e.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        e
    }

    /// The v2 error code for a status.
    pub fn code(&self) -> &'static str {
        if let Some(code) = self.code {
            return code;
        }
        match self.status.as_u16() {
            400 => "BAD_REQUEST",
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            404 => "FILE_NOT_FOUND",
            405 => "METHOD_NOT_ALLOWED",
            413 => "FILE_TOO_LARGE",
            429 => "TOO_MANY_REQUESTS",
            503 => "SERVICE_UNAVAILABLE",
            431 => "HEADERS_TOO_LARGE",
            _ => "INTERNAL_ERROR",
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::internal(format!("{err:#}"))
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(err: rusqlite::Error) -> Self {
        ApiError::internal(err)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        match crate::server::blobs::Unavailable::find(&err) {
            Some(u) => ApiError::unavailable(u),
            None => ApiError::internal(err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = ErrorBody {
            success: false,
            status: self.status.as_u16(),
            code,
            message: &self.message,
            help: help_link(code),
            key: None,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

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

/// A v2 error body.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    success: bool,
    status: u16,
    code: &'a str,
    message: &'a str,
    help: String,
    key: Option<String>,
}
