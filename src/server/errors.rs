//! Errors answered in file.io's v2 shape, with a `help` link to this server's explanation
//! of their code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::io;

use serde::Serialize;

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
        "CONFLICT" => {
            "A resumable upload is not where the request expected it: ask HEAD /tus/{id} for its Upload-Offset and send from there (or, for GET /tus/{id}, wait until it is complete)."
        }
        "PRECONDITION_FAILED" => {
            "Resumable uploads speak tus 1.0.0: send 'Tus-Resumable: 1.0.0' with every request to /tus/."
        }
        "UNSUPPORTED_MEDIA_TYPE" => {
            "A PATCH to a resumable upload carries its bytes as 'Content-Type: application/offset+octet-stream'."
        }
        "LOCKED" => {
            "Another request is writing to this resumable upload: wait for it to end (or its hold to run out), then ask HEAD for the offset and go on."
        }
        "CHECKSUM_MISMATCH" => {
            "The body of a PATCH to a resumable upload does not match its Upload-Checksum: none of it was kept. Send the bytes again from the same Upload-Offset."
        }
        "RANGE_NOT_SATISFIABLE" => {
            "The Range asked for starts at or past the end of the file: Content-Range: bytes */SIZE gives its size. Ask for a range within it, or for the whole file without Range."
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

/// Why a file's link no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneWhy {
    /// Its expiry passed.
    Expired,
    /// It was downloaded as often as allowed.
    UsedUp,
    /// Its owner deleted it.
    Deleted,
}

impl GoneWhy {
    /// Its name in the metadata backends' tombstones.
    pub fn as_str(self) -> &'static str {
        match self {
            GoneWhy::Expired => "expired",
            GoneWhy::UsedUp => "used_up",
            GoneWhy::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<GoneWhy> {
        Some(match s {
            "expired" => GoneWhy::Expired,
            "used_up" => GoneWhy::UsedUp,
            "deleted" => GoneWhy::Deleted,
            _ => return None,
        })
    }
}

/// A file that existed and is gone: why, and since when if known (a spent file kept
/// without autoDelete does not record when its last download was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone {
    pub why: GoneWhy,
    pub at: Option<DateTime<Utc>>,
}

/// An error answered in file.io's v2 shape.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
    /// A v2 code more precise than the status's own.
    pub code: Option<&'static str>,
    /// Set on a 404 for a file that existed and is gone: the browser pages answer those
    /// with 410 and the reason; the API keeps file.io's 404.
    pub gone: Option<Gone>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
            code: None,
            gone: None,
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
    /// A file that existed and is gone. Still 404 `FILE_NOT_FOUND` as file.io answers (its
    /// clients look for that), with a message saying why.
    pub fn gone(gone: Gone) -> Self {
        let message = match gone.why {
            GoneWhy::Expired => "This file has expired: ask the sender for a new link.",
            GoneWhy::UsedUp => {
                "This file was downloaded as often as its sender allowed: ask the sender for a new link."
            }
            GoneWhy::Deleted => "This file was deleted by its owner.",
        };
        let mut e = Self::new(StatusCode::NOT_FOUND, message);
        e.gone = Some(gone);
        e
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
            409 => "CONFLICT",
            412 => "PRECONDITION_FAILED",
            413 => "FILE_TOO_LARGE",
            415 => "UNSUPPORTED_MEDIA_TYPE",
            423 => "LOCKED",
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
        match Unavailable::find(&err) {
            Some(u) => ApiError::unavailable(u),
            None => ApiError::internal(err),
        }
    }
}

/// A blob backend that cannot be reached (or refuses us) for now: answered with 503 and
/// `Retry-After`, unlike a local failure. Carried inside an [`io::Error`].
#[derive(Debug, thiserror::Error)]
#[error("the file store is unavailable: {0}")]
pub struct Unavailable(pub String);

impl Unavailable {
    /// An [`io::Error`] carrying an [`Unavailable`].
    pub fn io(detail: impl std::fmt::Display) -> io::Error {
        io::Error::other(Unavailable(detail.to_string()))
    }

    /// The [`Unavailable`] inside `e`, if that is what it is.
    pub fn find(e: &io::Error) -> Option<&Unavailable> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Unavailable>())
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
