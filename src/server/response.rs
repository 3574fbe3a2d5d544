//! The v2 shapes of answers: FileDetails, and error bodies.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::expires::describe;
use crate::server::store::FileRow;

/// An error answered in file.io's v2 shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
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
        eprintln!("fileio serve: internal error: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server failed to handle this request: try again later.",
        )
    }

    /// The v2 error code for a status.
    pub fn code(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "BAD_REQUEST",
            401 => "UNAUTHORIZED",
            403 => "FORBIDDEN",
            404 => "FILE_NOT_FOUND",
            405 => "METHOD_NOT_ALLOWED",
            413 => "FILE_TOO_LARGE",
            429 => "TOO_MANY_REQUESTS",
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
        ApiError::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = json!({
            "success": false,
            "status": self.status.as_u16(),
            "code": code,
            "message": self.message,
            "help": format!("https://file.io/help/api/errors/{code}"),
            "key": Value::Null,
        });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// RFC 3339 with milliseconds and `Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The v2 FileDetails of a stored file, plus the classic `expiry`.
pub fn file_details(row: &FileRow, base: &str) -> Value {
    let now = Utc::now();
    json!({
        "success": true,
        "status": 200,
        "id": row.key,
        "key": row.key,
        "path": "/",
        "nodeType": "file",
        "name": row.name,
        "title": row.name,
        "description": "",
        "link": format!("{base}/{}", row.key),
        "private": false,
        "expires": timestamp(row.expires),
        "expiry": describe(row.expires - now),
        "downloads": row.downloads,
        "maxDownloads": row.max_downloads,
        "autoDelete": row.auto_delete,
        "size": row.size,
        "mimeType": row.mime,
        "screeningStatus": "ok",
        "created": timestamp(row.created),
        "modified": timestamp(row.modified),
    })
}
