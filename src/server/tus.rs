//! Resumable uploads: tus 1.0.0 (core, creation, creation-with-upload, termination,
//! expiration, creation-defer-length, checksum) under `/tus/`, announced by `OPTIONS /` in `Fileio-Tus-Endpoint`.
//!
//! An upload's state lives in the metadata backend and its bytes in the blob backend
//! ([`crate::server::store::TusHold`]), so any instance sharing them serves any request of
//! an upload. A complete upload becomes a file through [`crate::server::store::Store::insert`],
//! as `POST /` stores one; its answer (the JSON of `POST /`) is kept with the upload until
//! the upload expires, and its link is given in `Fileio-Link`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{head, post};
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::server::app::App;
use crate::server::auth::{self, Owner};
use crate::server::errors::ApiError;
use crate::server::fields::Fields;
use crate::server::handlers::{base_url, check_may_upload};
use crate::server::incoming::{Limit, mime_for, sanitize_name};
use crate::server::meta::{Settings, TusRow, tus_not_found};
use crate::server::response::file_details;
use crate::server::store::{BodyEnd, TusHold};
use crate::size::ByteSize;

/// The one version spoken.
pub const VERSION: &str = "1.0.0";
/// The extensions implemented.
pub const EXTENSIONS: &str =
    "creation,creation-with-upload,termination,expiration,creation-defer-length,checksum";
/// The content type of a PATCH body (and of a creation that carries the first bytes).
pub const OFFSET_STREAM: &str = "application/offset+octet-stream";
/// The length of upload ids: about 190 bits of letters and digits.
const ID_LEN: usize = 32;

pub const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
pub const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
pub const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
pub const UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
pub const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
pub const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
/// The link of the file a finished upload became.
pub const FILEIO_LINK: HeaderName = HeaderName::from_static("fileio-link");
/// On `OPTIONS /`: where resumable uploads go.
pub const FILEIO_TUS_ENDPOINT: HeaderName = HeaderName::from_static("fileio-tus-endpoint");

/// The headers a browser's tus client sends (CORS).
pub const REQUEST_HEADERS: [HeaderName; 7] = [
    TUS_RESUMABLE,
    UPLOAD_LENGTH,
    UPLOAD_OFFSET,
    UPLOAD_METADATA,
    UPLOAD_DEFER_LENGTH,
    UPLOAD_CONCAT,
    UPLOAD_CHECKSUM,
];

/// The headers a browser's tus client reads (CORS).
pub const RESPONSE_HEADERS: [HeaderName; 13] = [
    header::LOCATION,
    TUS_RESUMABLE,
    TUS_VERSION,
    TUS_EXTENSION,
    TUS_MAX_SIZE,
    TUS_CHECKSUM_ALGORITHM,
    UPLOAD_DEFER_LENGTH,
    UPLOAD_OFFSET,
    UPLOAD_LENGTH,
    UPLOAD_METADATA,
    UPLOAD_EXPIRES,
    FILEIO_LINK,
    FILEIO_TUS_ENDPOINT,
];

/// The checksum extension's algorithms, hashed as the body streams in.
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256,sha512";

/// A digest under way.
enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn of(algorithm: &str) -> Option<Hasher> {
        use sha2::Digest;
        Some(match algorithm {
            "sha1" => Hasher::Sha1(sha1::Sha1::new()),
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            _ => return None,
        })
    }

    fn len(&self) -> usize {
        match self {
            Hasher::Sha1(_) => 20,
            Hasher::Sha256(_) => 32,
            Hasher::Sha512(_) => 64,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::Sha1(h) => h.update(bytes),
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>`, if given: the hasher and the digest the
/// body must have.
fn checksum(headers: &HeaderMap) -> Result<Option<(Hasher, Vec<u8>)>, ApiError> {
    let Some(v) = headers.get(UPLOAD_CHECKSUM) else {
        return Ok(None);
    };
    let invalid = || {
        bad(format!(
            "The Upload-Checksum header is not valid: send an algorithm ({CHECKSUM_ALGORITHMS}) and the body's digest in base64, such as 'sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk='."
        ))
    };
    let (algorithm, digest) = v
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .ok_or_else(invalid)?;
    let hasher = Hasher::of(algorithm).ok_or_else(|| {
        bad(format!(
            "The checksum algorithm in Upload-Checksum is not supported: use one of {CHECKSUM_ALGORITHMS}."
        ))
    })?;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| invalid())?;
    if expected.len() != hasher.len() {
        return Err(invalid());
    }
    Ok(Some((hasher, expected)))
}

/// A body that does not match its `Upload-Checksum` (460, as the extension says).
fn mismatch() -> ApiError {
    ApiError::new(
        StatusCode::from_u16(460).expect("a valid status"),
        "The body does not match its Upload-Checksum: none of it was kept; send it again from the same Upload-Offset.",
    )
    .with_code("CHECKSUM_MISMATCH")
}

/// The routes under `/tus/`.
pub fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/tus", post(create).options(options))
        .route("/tus/", post(create).options(options))
        .route(
            "/tus/{id}",
            head(head_upload)
                .get(get_upload)
                .patch(patch)
                .delete(terminate)
                .options(options),
        )
        .layer(middleware::from_fn_with_state(app, resumable))
}

/// Every answer says `Tus-Resumable`; a request other than OPTIONS without it (or with
/// another version) is refused with 412.
async fn resumable(State(_app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let speaks = req
        .headers()
        .get(TUS_RESUMABLE)
        .is_some_and(|v| v.as_bytes() == VERSION.as_bytes());
    let mut resp = if speaks || req.method() == Method::OPTIONS {
        next.run(req).await
    } else {
        let mut r = ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "This endpoint speaks tus {VERSION}: send 'Tus-Resumable: {VERSION}' with every request."
            ),
        )
        .into_response();
        r.headers_mut()
            .insert(TUS_VERSION, HeaderValue::from_static(VERSION));
        r
    };
    resp.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
    resp
}

/// `OPTIONS /tus/`: what this server speaks.
async fn options(State(app): State<Arc<App>>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(TUS_VERSION, HeaderValue::from_static(VERSION));
    h.insert(TUS_EXTENSION, HeaderValue::from_static(EXTENSIONS));
    h.insert(
        TUS_CHECKSUM_ALGORITHM,
        HeaderValue::from_static(CHECKSUM_ALGORITHMS),
    );
    if let Some(max) = app.config.max_size {
        h.insert(TUS_MAX_SIZE, HeaderValue::from(max));
    }
    resp
}

/// `OPTIONS /`: the discovery of resumable uploads by fileio's client.
pub async fn discovery(State(app): State<Arc<App>>, req: Request) -> Result<Response, ApiError> {
    let base = base_url(&app, req.headers(), req.uri())?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(TUS_RESUMABLE, HeaderValue::from_static(VERSION));
    h.insert(TUS_VERSION, HeaderValue::from_static(VERSION));
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/tus/")) {
        h.insert(FILEIO_TUS_ENDPOINT, v);
    }
    Ok(resp)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(message)
}

/// A header holding a whole number of bytes.
fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| *n <= i64::MAX as u64)
        .map(Some)
        .ok_or_else(|| {
            bad(format!(
                "The {name} header is not valid: send a whole number of bytes."
            ))
        })
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
fn metadata(headers: &HeaderMap) -> Result<Vec<(String, String)>, ApiError> {
    let Some(v) = headers.get(UPLOAD_METADATA) else {
        return Ok(vec![]);
    };
    let invalid = || {
        bad(
            "The Upload-Metadata header is not valid: send comma-separated pairs of a key and its value in base64, such as 'filename bm90ZXMudHh0'.",
        )
    };
    let v = v.to_str().map_err(|_| invalid())?;
    let mut pairs = vec![];
    for item in v.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = item.split_once(' ').unwrap_or((item, ""));
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        let value = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| invalid())?;
        let value = String::from_utf8(value).map_err(|_| invalid())?;
        pairs.push((key.to_string(), value));
    }
    Ok(pairs)
}

fn last<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| names.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
}

/// The settings fields among the metadata, as the form fields of `POST /`.
fn settings_fields(pairs: &[(String, String)]) -> Fields {
    Fields(
        pairs
            .iter()
            .filter(|(k, _)| ["expires", "maxDownloads", "autoDelete"].contains(&k.as_str()))
            .cloned()
            .collect(),
    )
}

/// An HTTP date (RFC 7231).
fn http_date(t: DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .expect("a formatted date is a valid header")
}

/// The upload, if the caller may see it: the key that created it, or anyone with the URL
/// of an anonymous one. Others get the same 404 as for an upload that is not there.
async fn owned(app: &App, headers: &HeaderMap, id: &str) -> Result<(TusRow, Owner), ApiError> {
    let owner = auth::caller(headers, &app.config)?;
    let row = app.store.tus_get(id).await?;
    if row.owner.is_some() && row.owner != owner {
        return Err(tus_not_found());
    }
    Ok((row, owner))
}

/// The link in a finished upload's answer.
fn link_of(done: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(done)
        .ok()?
        .get("link")?
        .as_str()
        .map(str::to_string)
}

/// Headers every answer about an upload carries.
fn describe(resp: &mut Response, row: &TusRow) {
    let h = resp.headers_mut();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(row.offset));
    match row.length {
        Some(length) => h.insert(UPLOAD_LENGTH, HeaderValue::from(length)),
        None => h.insert(UPLOAD_DEFER_LENGTH, HeaderValue::from_static("1")),
    };
    h.insert(UPLOAD_EXPIRES, http_date(row.expires));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(link) = row.done.as_deref().and_then(link_of) {
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.insert(FILEIO_LINK, v);
        }
    }
}

/// `POST /tus/`: creates an upload (creation), perhaps with its first bytes
/// (creation-with-upload). Everything `POST /` checks is checked here, against
/// `Upload-Length`, before a byte is stored.
async fn create(State(app): State<Arc<App>>, req: Request) -> Result<Response, ApiError> {
    let headers = req.headers().clone();
    let owner = auth::caller(&headers, &app.config)?;
    let base = base_url(&app, &headers, req.uri())?;
    check_may_upload(&app, &owner)?;
    if headers.contains_key(UPLOAD_CONCAT) {
        return Err(bad(
            "Concatenation is not supported: send the whole upload as one, from the start.",
        ));
    }
    let deferred = match headers.get(UPLOAD_DEFER_LENGTH) {
        None => false,
        Some(v) if v.as_bytes() == b"1" => true,
        Some(_) => return Err(bad("The Upload-Defer-Length header is not valid: send 1.")),
    };
    let length = match (number(&headers, &UPLOAD_LENGTH)?, deferred) {
        (Some(_), true) => {
            return Err(bad(
                "Send either Upload-Length or Upload-Defer-Length: 1 at creation, not both.",
            ));
        }
        (None, false) => {
            return Err(bad(
                "The Upload-Length header is missing: send the upload's size in bytes, or Upload-Defer-Length: 1 and the size in a later PATCH.",
            ));
        }
        (length, _) => length,
    };
    if let (Some(max), Some(length)) = (app.config.max_size, length) {
        if length > max {
            return Err(Limit {
                bytes: max,
                quota: false,
            }
            .error());
        }
    }
    let pairs = metadata(&headers)?;
    let fields = settings_fields(&pairs);
    let now = app.store.now().await?;
    fields.validate(&app.config, now)?;
    if let Some(max) = app.config.max_storage {
        let used = app.store.used(&owner).await? + app.store.tus_pending(&owner).await?;
        let left = max.saturating_sub(used);
        // A deferred upload is bounded again by every PATCH (see `deferred`); here it needs
        // room for one byte at least.
        if length.map_or(left == 0, |l| l > left) {
            return Err(Limit {
                bytes: left,
                quota: true,
            }
            .error());
        }
    }
    let name = sanitize_name(last(&pairs, &["filename", "name"]).unwrap_or("file"));
    let mime = mime_for(&name, last(&pairs, &["filetype", "type"]));
    let expires = now
        + chrono::Duration::from_std(app.config.tus_expiry).unwrap_or(chrono::Duration::days(1));
    let row = TusRow {
        id: crate::server::ids::random(ID_LEN),
        owner,
        length,
        offset: 0,
        name,
        mime,
        fields: serde_json::to_string(&fields.0).map_err(ApiError::internal)?,
        state: String::new(),
        expires,
        created: now,
        done: None,
    };
    let mut row = app.store.tus_create(row).await?;
    let location = format!("{base}/tus/{}", row.id);
    let with_bytes = content_type_is_stream(&headers);
    if with_bytes || length == Some(0) {
        let hold = app.store.tus_hold(&row.id).await?;
        row = write(&app, hold, req.into_body(), &headers, &base).await?;
    }
    let mut resp = StatusCode::CREATED.into_response();
    describe(&mut resp, &row);
    resp.headers_mut().remove(header::CACHE_CONTROL);
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

fn content_type_is_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_STREAM))
}

/// Appends a body under `hold`, completes the upload when it is whole, and lets the hold
/// go; returns the upload as it is then.
async fn write(
    app: &App,
    mut hold: TusHold,
    body: Body,
    headers: &HeaderMap,
    base: &str,
) -> Result<TusRow, ApiError> {
    let limit = if hold.row.length.is_none() {
        match deferred(app, &mut hold, headers).await {
            Ok(limit) => limit,
            Err(e) => {
                hold.release().await;
                return Err(e);
            }
        }
    } else {
        None
    };
    let left = hold
        .row
        .length
        .unwrap_or(hold.bound)
        .saturating_sub(hold.row.offset);
    let too_long = |left| limit.as_ref().map_or_else(|| too_long(left), Limit::error);
    if let Some(len) = number(headers, &header::CONTENT_LENGTH)? {
        if len > left {
            hold.release().await;
            return Err(too_long(left));
        }
    }
    let body = body.into_data_stream();
    let body = match checksum(headers) {
        Ok(None) => futures_util::future::Either::Left(body),
        Ok(Some((hasher, expected))) => {
            // Hashed as it streams in; checked by the hold before anything is recorded.
            let hasher = Arc::new(std::sync::Mutex::new(Some(hasher)));
            let fed = hasher.clone();
            hold.verify = Some(Box::new(move |whole| {
                let got = hasher
                    .lock()
                    .expect("not poisoned")
                    .take()
                    .map(Hasher::finish);
                if !whole {
                    return Err(bad(
                        "The body did not arrive whole, so its Upload-Checksum cannot be checked: none of it was kept; send it again from the same Upload-Offset.",
                    ));
                }
                match got {
                    Some(got) if got == expected => Ok(()),
                    _ => Err(mismatch()),
                }
            }));
            futures_util::future::Either::Right(futures_util::TryStreamExt::inspect_ok(
                body,
                move |b| {
                    if let Some(h) = fed.lock().expect("not poisoned").as_mut() {
                        h.update(b);
                    }
                },
            ))
        }
        Err(e) => {
            hold.release().await;
            return Err(e);
        }
    };
    let end = match hold.append(body).await {
        Ok(end) => end,
        Err(e) => {
            hold.release().await;
            return Err(e);
        }
    };
    match end {
        BodyEnd::Done => {}
        BodyEnd::Broken(why) => {
            hold.release().await;
            return Err(bad(format!("The request body could not be read: {why}.")));
        }
        BodyEnd::TooLong => {
            hold.release().await;
            return Err(too_long(left));
        }
    }
    if hold.row.length != Some(hold.row.offset) {
        let row = hold.row.clone();
        hold.release().await;
        return Ok(row);
    }
    let mut row = hold.row.clone();
    let now = app.store.now().await?;
    let settings = settings_of(app, &row, now)?;
    let done = hold
        .complete(&settings, app.config.max_storage, now, |file| {
            serde_json::to_string(&file_details(file, base, now)).unwrap_or_default()
        })
        .await?;
    row.done = Some(done);
    Ok(row)
}

/// A deferred upload's length, when this request declares it in `Upload-Length` (checked
/// against `--max-size` and the quota as at creation, then recorded); otherwise the bound
/// its bytes must keep within, set on the hold, and the limit that sets it.
///
/// The quota counts a deferred upload's received bytes as pending (not a length it does
/// not have yet), so the bound is what the quota leaves besides the owner's files and other
/// pending uploads: two deferred uploads racing for the last bytes of a quota may both be
/// received, and the second to complete is refused then, as `Store::insert` checks.
async fn deferred(
    app: &App,
    hold: &mut TusHold,
    headers: &HeaderMap,
) -> Result<Option<Limit>, ApiError> {
    let owner = hold.row.owner.clone();
    let quota = match app.config.max_storage {
        Some(max) => {
            let others = (app.store.used(&owner).await? + app.store.tus_pending(&owner).await?)
                .saturating_sub(hold.row.offset);
            Some(max.saturating_sub(others))
        }
        None => None,
    };
    // --max-size, or what the blob backend can hold in one upload if that is less.
    let max_size = [app.config.max_size, app.store.tus_max()]
        .into_iter()
        .flatten()
        .min()
        .map(|bytes| Limit {
            bytes,
            quota: false,
        });
    let quota = quota.map(|bytes| Limit { bytes, quota: true });
    if let Some(length) = number(headers, &UPLOAD_LENGTH)? {
        if length < hold.row.offset {
            return Err(bad(format!(
                "The Upload-Length {length} is less than what the upload holds already ({} bytes): send the whole upload's size.",
                hold.row.offset
            )));
        }
        for limit in [&max_size, &quota].into_iter().flatten() {
            if length > limit.bytes {
                return Err(limit.error());
            }
        }
        hold.declare(length).await?;
        return Ok(None);
    }
    let limit = [max_size, quota]
        .into_iter()
        .flatten()
        .min_by_key(|l| l.bytes);
    hold.bound = limit.as_ref().map_or(u64::MAX, |l| l.bytes);
    Ok(limit)
}

fn too_long(left: u64) -> ApiError {
    ApiError::too_large(format!(
        "The body is longer than what the upload has left ({} bytes): send at most Upload-Length minus Upload-Offset bytes.",
        left
    ))
}

/// The settings a finished upload's file gets: those its metadata asked for, resolved now
/// (a period runs from the end of the upload, as for `POST /`), or as of the upload's
/// start should they no longer be valid now (a date that has passed since).
fn settings_of(app: &App, row: &TusRow, now: DateTime<Utc>) -> Result<Settings, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&row.fields).map_err(ApiError::internal)?;
    let fields = Fields(pairs);
    fields
        .settings(&app.config, None, now)
        .or_else(|_| fields.settings(&app.config, None, row.created))
}

/// `PATCH /tus/{id}`: appends bytes at `Upload-Offset`.
async fn patch(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let headers = req.headers().clone();
    if !content_type_is_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("A PATCH carries the upload's bytes as 'Content-Type: {OFFSET_STREAM}'."),
        ));
    }
    let offset = number(&headers, &UPLOAD_OFFSET)?.ok_or_else(|| {
        bad("The Upload-Offset header is missing: send the offset the bytes start at (HEAD tells it).")
    })?;
    let base = base_url(&app, &headers, req.uri())?;
    let (row, _) = owned(&app, &headers, &id).await?;
    if let (Some(length), Some(asked)) = (row.length, number(&headers, &UPLOAD_LENGTH)?) {
        // Said again as it is (a retried last PATCH), it changes nothing.
        if asked != length {
            return Err(bad(format!(
                "The upload's length is set already ({length} bytes) and cannot change: send Upload-Length once, to an upload created with Upload-Defer-Length: 1."
            )));
        }
    }
    if row.done.is_some() {
        if Some(offset) == row.length {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            describe(&mut resp, &row);
            return Ok(resp);
        }
        return Err(conflict(offset, row.offset));
    }
    if offset != row.offset {
        return Err(conflict(offset, row.offset));
    }
    let hold = app.store.tus_hold(&id).await?;
    if hold.row.offset != offset {
        let now_at = hold.row.offset;
        hold.release().await;
        return Err(conflict(offset, now_at));
    }
    let row = write(&app, hold, req.into_body(), &headers, &base).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    describe(&mut resp, &row);
    Ok(resp)
}

fn conflict(asked: u64, at: u64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "The Upload-Offset {asked} is not where the upload is ({at} bytes stored): ask HEAD for the offset and send from there."
        ),
    )
}

/// `HEAD /tus/{id}`: how far the upload is (and its link once it is complete).
async fn head_upload(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (row, _) = owned(&app, &headers, &id).await?;
    let row = if row.done.is_none() {
        app.store.tus_settled(&id).await?
    } else {
        row
    };
    let mut resp = StatusCode::OK.into_response();
    describe(&mut resp, &row);
    Ok(resp)
}

/// `GET /tus/{id}`: a finished upload's answer, as `POST /` gives it; 409 before.
async fn get_upload(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (row, _) = owned(&app, &headers, &id).await?;
    let Some(done) = row.done.clone() else {
        let of = match row.length {
            Some(length) => format!("of {length} bytes, {}", ByteSize(length)),
            None => "bytes; its length is not declared yet".to_string(),
        };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "The upload is not complete ({} {of}): send the rest with PATCH first.",
                row.offset
            ),
        ));
    };
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        done,
    )
        .into_response();
    describe(&mut resp, &row);
    Ok(resp)
}

/// `DELETE /tus/{id}`: termination.
async fn terminate(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    owned(&app, &headers, &id).await?;
    app.store.tus_terminate(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
