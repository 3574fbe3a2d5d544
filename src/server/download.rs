//! `GET /{key}` and `HEAD /{key}`: sending a file.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::server::app::App;
use crate::server::auth;
use crate::server::config::RequireAuth;
use crate::server::errors::ApiError;
use crate::server::meta::FileRow;
use crate::server::store::Reservation;

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

/// A blob's strong validator: a hash of its name, which is fresh for every upload and
/// replacement (and says nothing about how blobs are named).
pub fn etag(row: &FileRow) -> String {
    use sha2::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha2::Sha256::digest(row.blob.as_bytes());
    // Written by hand: a `format!` per byte was 5% of a small download's instructions.
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        tag.push(HEX[usize::from(b >> 4)] as char);
        tag.push(HEX[usize::from(b & 15)] as char);
    }
    tag.push('"');
    tag
}

/// An HTTP date (RFC 9110's IMF-fixdate).
fn http_date(t: DateTime<Utc>) -> String {
    // httpdate (hyper's) rather than chrono's strftime, which parses its pattern each time.
    httpdate::fmt_http_date(std::time::SystemTime::from(t))
}

/// The headers of a file's answer: a whole file (200) unless `part` gives the range sent.
fn headers(row: &FileRow, part: Option<(u64, u64)>, body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&row.mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let len = match part {
        Some((from, to)) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {from}-{to}/{}", row.size)) {
                h.insert(header::CONTENT_RANGE, v);
            }
            to + 1 - from
        }
        None => row.size,
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&etag(row)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(row.modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&row.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    *resp.status_mut() = if part.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    resp
}

/// What a request's `Range` (and `If-Range`) asks of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// The whole file, 200: no Range, one that is ignored (several ranges, bad syntax, an
    /// empty file) or an `If-Range` that does not hold.
    Whole,
    /// Bytes `from..=to`, 206.
    Part { from: u64, to: u64 },
    /// 416, with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

impl Ranged {
    /// A range that stops before the file's last byte: it counts nothing.
    fn stops_short(self, size: u64) -> bool {
        matches!(self, Ranged::Part { to, .. } if to + 1 < size)
    }
}

/// A run of ASCII digits as a number (`u64::from_str` would take a sign too).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// One `Range` value against a file of `size` bytes (RFC 9110 §14.1.2). `None`: ignored.
pub fn parse_range(value: &str, size: u64) -> Option<Ranged> {
    let value = value.trim();
    let (unit, spec) = value.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || size == 0 || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // The last N bytes.
        let n = digits(last)?;
        return Some(if n == 0 {
            Ranged::Unsatisfiable
        } else {
            Ranged::Part {
                from: size - n.min(size),
                to: size - 1,
            }
        });
    }
    let from = digits(first)?;
    let to = if last.is_empty() {
        u64::MAX
    } else {
        digits(last)?
    };
    if to < from {
        return None;
    }
    Some(if from >= size {
        Ranged::Unsatisfiable
    } else {
        Ranged::Part {
            from,
            to: to.min(size - 1),
        }
    })
}

/// What the request asks of `row`; `now` is only consulted for an `If-Range` date.
async fn ranged(req: &HeaderMap, row: &FileRow, app: &App) -> Result<Ranged, ApiError> {
    let Some(range) = req.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(Ranged::Whole);
    };
    let Some(asked) = parse_range(range, row.size) else {
        return Ok(Ranged::Whole);
    };
    if let Some(validator) = req.get(header::IF_RANGE) {
        let Ok(validator) = validator.to_str() else {
            return Ok(Ranged::Whole);
        };
        let validator = validator.trim();
        let holds = if validator.starts_with('"') || validator.starts_with("W/") {
            // Strong comparison: a weak tag never matches.
            validator == etag(row)
        } else {
            // A date is a validator only as strong as a second: it holds when it is the
            // file's Last-Modified and that lies at least a second in the past (RFC 9110
            // §8.8.2.2), so that contents replaced within the same second never splice.
            match DateTime::parse_from_rfc2822(validator) {
                Ok(date) => {
                    let now = app.store.now().await?;
                    date.timestamp() == row.modified.timestamp()
                        && row.modified + chrono::Duration::seconds(1) <= now
                }
                Err(_) => false,
            }
        };
        if !holds {
            return Ok(Ranged::Whole);
        }
    }
    Ok(asked)
}

/// 416 for a range that starts past the end.
fn unsatisfiable(row: &FileRow) -> Response {
    let mut resp = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        format!(
            "The range asked for starts past the end of the file ({} bytes).",
            row.size
        ),
    )
    .with_code("RANGE_NOT_SATISFIABLE")
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", row.size)) {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp.headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp
}

fn download_caller(headers: &HeaderMap, app: &App) -> Result<(), ApiError> {
    if app.config.require_auth == RequireAuth::All {
        auth::require_key(headers, &app.config).map(drop)
    } else {
        auth::caller(headers, &app.config).map(drop)
    }
}

/// Sends a file, or the range of it asked for, streamed from storage. A download counts
/// once the request that delivers its last byte has sent everything it was to send: the
/// whole file, or a range that ends at the last byte, reserved before the first byte goes
/// out like a whole download. A range that stops short of the last byte counts nothing and
/// reserves nothing, and is served only while a download is free (not spent, not all taken
/// by downloads under way): a file whose last download is spent is gone for ranges too.
pub async fn get(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    req_headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Downloads need no key unless --require-auth=all, but a wrong one is refused rather
    // than ignored.
    download_caller(&req_headers, &app)?;
    if req_headers.contains_key(header::RANGE) {
        let row = app.store.available(&key).await?;
        match ranged(&req_headers, &row, &app).await? {
            Ranged::Unsatisfiable => return Ok(unsatisfiable(&row)),
            Ranged::Part { from, to } if to + 1 < row.size => {
                let chunks = app.store.open(&row, from, to + 1 - from).await?;
                return Ok(headers(&row, Some((from, to)), Body::from_stream(chunks)));
            }
            // Counts: reserved below.
            _ => {}
        }
    }
    let (row, mut reservation) = app.store.reserve(&key).await?;
    // Judged again on the reserved row: the file may have been replaced meanwhile (then
    // If-Range no longer holds, or the range means other bytes).
    let asked = ranged(&req_headers, &row, &app).await?;
    let (from, len, part) = match asked {
        Ranged::Whole => (0, row.size, None),
        Ranged::Unsatisfiable => return Ok(unsatisfiable(&row)),
        Ranged::Part { from, to } => (from, to + 1 - from, Some((from, to))),
    };
    let mut chunks = app.store.open(&row, from, len).await?;
    if asked.stops_short(row.size) {
        // Only after a replacement between the two looks: served, never counted.
        drop(reservation);
        return Ok(headers(&row, part, Body::from_stream(chunks)));
    }
    if len == 0 && !reservation.complete().await {
        return Err(ApiError::not_found());
    }
    if reservation.is_unleased() {
        match already_read(chunks, len) {
            Ok(whole) => {
                // Every byte is in hand: counted now, as the stream below would count it
                // before handing its last (here: only) chunk over, and answered as one
                // buffer, which hyper writes with the head in one system call.
                if !reservation.complete().await {
                    return Err(ApiError::not_found());
                }
                return Ok(headers(&row, part, Body::from(whole)));
            }
            Err(rest) => chunks = rest,
        }
    }
    let stream = counted(chunks, len, reservation);
    Ok(headers(&row, part, Body::from_stream(stream)))
}

/// All `len` bytes of `chunks` when they are ready without waiting (a small file read from
/// the page cache comes as one chunk); else the chunks, all still to be sent.
fn already_read(
    mut chunks: crate::server::blobs::BlobChunks,
    len: u64,
) -> Result<Bytes, crate::server::blobs::BlobChunks> {
    use futures_util::FutureExt;
    if len > crate::server::store::DOWNLOAD_CHUNK as u64 {
        return Err(chunks);
    }
    // Polled without a waker: a stream that is not ready keeps its place, and the body
    // polls it again, with one.
    match chunks.next().now_or_never() {
        None => Err(chunks),
        Some(Some(Ok(bytes))) if bytes.len() as u64 == len => Ok(bytes),
        Some(first) => Err(Box::pin(futures_util::stream::iter(first).chain(chunks))),
    }
}

/// The stream of a download's bytes (`size` of them: the file, or the range that ends at its
/// last byte), settling its reservation: completed before the last chunk is handed over
/// (the server may not poll again once Content-Length bytes are out), released when dropped
/// before that, cut off if its lease was lost or its count refused.
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
                if st.sent >= size && !reservation.complete().await {
                    st.reservation = None;
                    return Some((Err(refused()), st));
                }
                Some((Ok(chunk), st))
            }
            Some(Err(e)) => {
                st.reservation = None;
                Some((Err(e), st))
            }
            None => {
                if st.sent >= size && !reservation.complete().await {
                    st.reservation = None;
                    return Some((Err(refused()), st));
                }
                None
            }
        }
    })
}

fn refused() -> std::io::Error {
    std::io::Error::other("the download could not be counted: none is left")
}

/// The headers of a download, without the body; never counts.
pub async fn head(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    req_headers: HeaderMap,
) -> Result<Response, ApiError> {
    download_caller(&req_headers, &app)?;
    let row = app.store.peek(&key).await?;
    Ok(headers(&row, None, Body::empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        use Ranged::*;
        let p = |v: &str| parse_range(v, 100);
        assert_eq!(p("bytes=0-9"), Some(Part { from: 0, to: 9 }));
        assert_eq!(p("bytes=90-"), Some(Part { from: 90, to: 99 }));
        assert_eq!(p("bytes=-10"), Some(Part { from: 90, to: 99 }));
        assert_eq!(p("bytes=-1000"), Some(Part { from: 0, to: 99 }));
        assert_eq!(p("Bytes = 5-500"), Some(Part { from: 5, to: 99 }));
        assert_eq!(p("bytes=99-99"), Some(Part { from: 99, to: 99 }));
        assert_eq!(p("bytes=100-"), Some(Unsatisfiable));
        assert_eq!(p("bytes=100-200"), Some(Unsatisfiable));
        assert_eq!(p("bytes=-0"), Some(Unsatisfiable));
        // Ignored: several ranges, bad syntax, another unit, an empty file.
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=9-1",
            "bytes=+1-2",
            "bytes=a-",
            "bytes=-",
            "bytes=",
            "items=0-1",
            "bytes 0-1",
            "bytes=18446744073709551616-",
        ] {
            assert_eq!(p(ignored), None, "{ignored}");
        }
        assert_eq!(parse_range("bytes=0-", 0), None);
        assert!(Part { from: 0, to: 98 }.stops_short(100));
        assert!(!Part { from: 0, to: 99 }.stops_short(100));
        assert!(!Whole.stops_short(100));
    }

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
