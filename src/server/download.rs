//! `GET /{key}` and `HEAD /{key}`: sending a file.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::server::app::App;
use crate::server::auth;
use crate::server::config::RequireAuth;
use crate::server::errors::ApiError;
use crate::server::meta::FileRow;
use crate::server::store::{Download, Reservation};

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
    let Download {
        row,
        chunks,
        mut reservation,
    } = app.store.reserve(&key).await?;
    if row.size == 0 {
        reservation.complete().await;
    }
    let stream = counted(chunks, row.size, reservation);
    Ok(headers(&row, Body::from_stream(stream)))
}

/// The stream of a download's bytes, settling its reservation: completed before the last
/// chunk is handed over (the server may not poll again once Content-Length bytes are out),
/// released when dropped before that, cut off if its lease was lost.
fn counted(
    inner: impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
    size: u64,
    reservation: Reservation,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    struct State<S> {
        inner: S,
        sent: u64,
        reservation: Option<Reservation>,
    }
    let state = State {
        inner,
        sent: 0,
        reservation: Some(reservation),
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        let reservation = st.reservation.as_mut()?;
        if reservation.is_lost() {
            st.reservation = None;
            return Some((
                Err(std::io::Error::other("the download's lease ran out")),
                st,
            ));
        }
        match st.inner.next().await {
            Some(Ok(chunk)) => {
                st.sent += chunk.len() as u64;
                if st.sent >= size {
                    reservation.complete().await;
                }
                Some((Ok(chunk), st))
            }
            Some(Err(e)) => {
                st.reservation = None;
                Some((Err(e), st))
            }
            None => {
                if st.sent >= size {
                    reservation.complete().await;
                }
                None
            }
        }
    })
}

/// The headers of a download, without the body; never counts.
pub async fn head(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    req_headers: HeaderMap,
) -> Result<Response, ApiError> {
    download_caller(&req_headers, &app)?;
    let row = app.store.peek(&key).await?;
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
