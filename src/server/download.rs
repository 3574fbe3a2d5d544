//! `GET /{key}` and `HEAD /{key}`: sending a file.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use crate::server::body::{DownloadStream, Reservation};
use crate::server::config::RequireAuth;
use crate::server::response::ApiError;
use crate::server::store::FileRow;
use crate::server::{App, auth};

/// Reads from disk go out in pieces this large.
const READ_BUFFER: usize = 256 * 1024;

/// What RFC 5987 lets through unencoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"`, with `filename*=UTF-8''…` when the name is not plain ASCII.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fallback == name {
        format!("attachment; filename=\"{name}\"")
    } else {
        format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            utf8_percent_encode(name, ATTR_CHAR)
        )
    }
}

fn headers(row: &FileRow, body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&row.mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(row.size));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&row.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    *resp.status_mut() = StatusCode::OK;
    resp
}

fn download_caller(headers: &HeaderMap, app: &App) -> Result<(), ApiError> {
    if app.config.require_auth == RequireAuth::All {
        auth::require_key(headers, &app.config).map(drop)
    } else {
        auth::caller(headers, &app.config).map(drop)
    }
}

/// Sends a file, streamed from disk; the download counts once it has been sent in full.
pub async fn get(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    req_headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Downloads need no key unless --require-auth=all, but a wrong one is refused rather
    // than ignored.
    download_caller(&req_headers, &app)?;
    let (row, file) = app.store.reserve(&key)?;
    let mut reservation = Reservation::new(app.store.clone(), key, row.blob.clone());
    if row.size == 0 {
        reservation.complete();
    }
    let reader = tokio::fs::File::from_std(file).take(row.size);
    let stream = DownloadStream::new(
        ReaderStream::with_capacity(reader, READ_BUFFER),
        row.size,
        reservation,
    );
    Ok(headers(&row, Body::from_stream(stream)))
}

/// The headers of a download, without the body; never counts.
pub async fn head(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    req_headers: HeaderMap,
) -> Result<Response, ApiError> {
    download_caller(&req_headers, &app)?;
    let row = app.store.peek(&key)?;
    Ok(headers(&row, Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_fall_back_to_ascii() {
        assert_eq!(
            content_disposition("a b.txt"),
            "attachment; filename=\"a b.txt\""
        );
        assert_eq!(
            content_disposition("日本.txt"),
            "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"
        );
        assert_eq!(
            content_disposition("say \"hi\".txt"),
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"
        );
    }
}
