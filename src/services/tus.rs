//! Resumable uploads to file.io-compatible servers that offer tus 1.0 (`fileio serve`): how
//! the fileio service sends a large file so that a dropped connection, or a run cut off and
//! started again, sends only the rest.
//!
//! Discovery: `OPTIONS {base}/` names the endpoint in `Fileio-Tus-Endpoint`; no header (file.io
//! itself, an HTML page, an error) means no tus, and the file goes up in one POST as before.
//! Then `POST endpoint` creates the upload (`Upload-Length`, `Upload-Metadata`), `PATCH` sends
//! the bytes from the server's offset, `HEAD` tells that offset after a cut, and `GET` of the
//! upload URL once complete gives the same JSON as `POST /`. The upload URL is a capability:
//! it is kept only in the 0600 state file ([`crate::resume`]) and redacted in logs.

use std::sync::Arc;

use anyhow::Result;
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Api, FileRecord, Upload, UploadOptions, Uploaded};
use crate::body::ByteStream;
use crate::error::{Failure, Kind, failure_of};
use crate::http::Retry;
use crate::resume::ResumeSlot;

const TUS_RESUMABLE: &str = "Tus-Resumable";
const VERSION: &str = "1.0.0";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

/// How long a state is kept when the server gives no `Upload-Expires` (the contract's
/// default partial-upload lifetime).
const DEFAULT_LIFETIME_HOURS: i64 = 24;

/// The length of `up`, when it should go up through tus: a file (read at any offset, known
/// length) larger than the threshold. Standard input, folders and encrypted uploads are
/// streams that cannot be read again from an offset: they go up in one POST.
pub fn eligible(up: &Upload<'_>, opts: &UploadOptions) -> Option<u64> {
    let len = up.size()?;
    let above = opts.resumable_above?;
    (up.source.seekable() && len > above).then_some(len)
}

/// The server's tus endpoint, asked once a run.
pub async fn endpoint(api: &Api<'_>) -> Option<Url> {
    api.tus_endpoint.get_or_init(|| discover(api)).await.clone()
}

async fn discover(api: &Api<'_>) -> Option<Url> {
    let base = Url::parse(&format!("{}/", api.base())).ok()?;
    let resp = api
        .http
        .send(
            "asking the server about resumable uploads",
            Retry::Never,
            None,
            || {
                Ok(api
                    .request(Method::OPTIONS, base.clone())
                    .header(TUS_RESUMABLE, VERSION))
            },
        )
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let headers = resp.headers();
    if let Some(versions) = header(&resp, "Tus-Version") {
        if !versions.split(',').any(|v| v.trim() == VERSION) {
            return None;
        }
    }
    let named = headers.get("Fileio-Tus-Endpoint")?.to_str().ok()?;
    let endpoint = base.join(named.trim()).ok()?;
    // The key goes wherever uploads go: never to another origin than the one asked.
    if endpoint.origin() != base.origin() {
        if !api.quiet {
            crate::progress::suspend(|| {
                eprintln!(
                    "fileio: note: the server's resumable-upload endpoint is on another origin; uploading in one request instead"
                )
            });
        }
        return None;
    }
    Some(endpoint)
}

/// What a rerun needs: the upload's URL (a capability) and its length.
#[derive(Debug, Serialize, Deserialize)]
struct TusState {
    url: String,
    length: u64,
}

/// What `HEAD` of an upload says.
struct Head {
    offset: u64,
    length: Option<u64>,
    link: Option<String>,
}

/// Sends `up` (of `len` bytes) through the tus endpoint, resuming an earlier run's upload of
/// the same file with the same options, server and key if there is one. The finished
/// upload's JSON (what `POST /` answers) is read as `T`, and made a record by `into_record`.
pub async fn upload<T: DeserializeOwned>(
    api: &Api<'_>,
    endpoint: &Url,
    up: &Upload<'_>,
    opts: &UploadOptions,
    len: u64,
    into_record: fn(T, &str) -> Result<FileRecord>,
) -> Result<Uploaded> {
    let what = format!("uploading {}", up.name);
    let key = crate::resume::key_identity(api.key);
    let options = options_text(opts);
    let slot = up.source.identity().and_then(|identity| {
        ResumeSlot::new(
            "tus",
            &[
                api.base(),
                endpoint.as_str(),
                &identity,
                &key,
                up.name,
                &options,
            ],
        )
    });
    let mut resumed = None;
    if let Some(f) = &slot {
        if let Some(s) = f.load::<TusState>().filter(|s| s.length == len) {
            match resumable(api, endpoint, &s.url).await {
                Ok(Some((url, head))) if head.length == Some(len) && head.offset <= len => {
                    resumed = Some((url, head))
                }
                Ok(_) => {
                    f.remove();
                    note(
                        api,
                        &format!(
                            "the interrupted upload of {} is no longer on the server (expired or removed); starting again",
                            up.name
                        ),
                    );
                }
                Err(e) => return Err(keep_hint(e)),
            }
        }
    }
    let (url, mut offset, mut link) = match resumed {
        Some((url, head)) => {
            note(
                api,
                &format!(
                    "resuming {}: {} of {} were sent before",
                    up.name,
                    crate::size::ByteSize(head.offset),
                    crate::size::ByteSize(len)
                ),
            );
            (url, head.offset, head.link)
        }
        None => {
            let (url, expires) = create(api, endpoint, up, opts, Some(len), &what).await?;
            if let Some(f) = &slot {
                let state = TusState {
                    url: url.to_string(),
                    length: len,
                };
                f.save(&state, expires);
            }
            (url, 0, None)
        }
    };
    if offset < len || link.is_none() {
        link = send_rest(api, &url, up, len, &mut offset, &what)
            .await
            .map_err(|e| match &slot {
                Some(_) => keep_hint(e),
                None => e,
            })?;
    }
    let record = finished(api, &url, link, &what, into_record).await?;
    if let Some(f) = &slot {
        f.remove();
    }
    Ok(Uploaded {
        record,
        token: None,
    })
}

/// The upload an earlier run left, if the server still has it: `None` when it is gone.
async fn resumable(api: &Api<'_>, endpoint: &Url, stored: &str) -> Result<Option<(Url, Head)>> {
    let Some(url) = Url::parse(stored)
        .ok()
        .filter(|u| u.origin() == endpoint.origin())
    else {
        return Ok(None);
    };
    match head(api, &url).await {
        Ok(h) => Ok(Some((url, h))),
        Err(e) if failure_of(&e).is_some_and(|f| matches!(f.kind, Kind::NotFound | Kind::Auth)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `POST endpoint`: a new upload (of `len` bytes, or of a length deferred to a later
/// PATCH), its URL and when it expires.
async fn create(
    api: &Api<'_>,
    endpoint: &Url,
    up: &Upload<'_>,
    opts: &UploadOptions,
    len: Option<u64>,
    what: &str,
) -> Result<(Url, DateTime<Utc>)> {
    let metadata = metadata(up.name, opts);
    let resp = api
        .send(what, Retry::IfNotStored, None, || {
            let r = api
                .request(Method::POST, endpoint.clone())
                .header(TUS_RESUMABLE, VERSION);
            let r = match len {
                Some(len) => r.header("Upload-Length", len),
                None => r.header("Upload-Defer-Length", 1),
            };
            Ok(r.header("Upload-Metadata", &metadata)
                .header(CONTENT_LENGTH, 0))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(api.error(what, resp).await);
    }
    let url = header(&resp, LOCATION.as_str())
        .and_then(|l| endpoint.join(&l).ok())
        .filter(|u| u.origin() == endpoint.origin() && matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                format!("{what}: the server created the upload but gave no usable Location for it"),
            )
            .hint("upload with --resumable-above never to send the file in one request")
        })?;
    Ok((url, expires_of(&resp)))
}

/// `Upload-Expires` (an HTTP date), or the default lifetime from now.
fn expires_of(resp: &Response) -> DateTime<Utc> {
    header(resp, "Upload-Expires")
        .and_then(|v| DateTime::parse_from_rfc2822(&v).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(DEFAULT_LIFETIME_HOURS))
}

/// `HEAD` of the upload: its offset, length and, once complete, its link.
async fn head(api: &Api<'_>, url: &Url) -> Result<Head> {
    let what = "asking the server how much of the upload it has";
    let resp = api
        .send(what, Retry::Safe, None, || {
            Ok(api
                .request(Method::HEAD, url.clone())
                .header(TUS_RESUMABLE, VERSION))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(api.error(what, resp).await);
    }
    let offset = header(&resp, "Upload-Offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                format!("{what}: the answer has no Upload-Offset; this is not a tus server"),
            )
        })?;
    Ok(Head {
        offset,
        length: header(&resp, "Upload-Length").and_then(|v| v.parse().ok()),
        link: header(&resp, "Fileio-Link"),
    })
}

/// `PATCH`es the bytes from `offset` until the server has all of them, picking up from the
/// server's offset after a cut, up to `--retries` times in a row without progress. Returns
/// the link the last PATCH carried, if any.
async fn send_rest(
    api: &Api<'_>,
    url: &Url,
    up: &Upload<'_>,
    len: u64,
    offset: &mut u64,
    what: &str,
) -> Result<Option<String>> {
    let mut attempt = 0u32;
    loop {
        up.bar.set_position(*offset);
        let from = *offset;
        let result = api
            .http
            .send(what, Retry::Never, Some(up.activity), || {
                let body =
                    crate::body::counted(up.source.open_from(from)?, up.bar, up.total, up.activity);
                Ok(api
                    .request(Method::PATCH, url.clone())
                    .header(TUS_RESUMABLE, VERSION)
                    .header("Upload-Offset", from)
                    .header(CONTENT_TYPE, OFFSET_STREAM)
                    .header(CONTENT_LENGTH, len - from)
                    .body(body))
            })
            .await;
        let failed = match result {
            Ok(resp) if resp.status().is_success() => {
                let now = header(&resp, "Upload-Offset").and_then(|v| v.parse::<u64>().ok());
                let link = header(&resp, "Fileio-Link");
                match now {
                    Some(n) if n >= len => return Ok(link),
                    // The server kept only part of the body: send the rest.
                    Some(n) if n > from => {
                        *offset = n;
                        attempt = 0;
                        continue;
                    }
                    _ => {
                        return Err(Failure::new(
                            Kind::BadAnswer,
                            format!("{what}: the server accepted the bytes but says it has not got them (Upload-Offset)"),
                        )
                        .into());
                    }
                }
            }
            other => unsent(api, what, other).await,
        };
        pause_before_retry(api, failed, &mut attempt).await?;
        let head = head(api, url).await.map_err(plain)?;
        if head.length.is_some_and(|l| l != len) || head.offset > len {
            return Err(Failure::new(
                Kind::BadAnswer,
                format!("{what}: the server's upload is no longer this file's length"),
            )
            .into());
        }
        // What went up in the broken try beyond what the server kept is counted again.
        let sent = up.bar.position();
        if let Some(t) = up.total {
            t.set_position(
                t.position()
                    .saturating_sub(sent.saturating_sub(head.offset)),
            );
        }
        if head.offset > *offset {
            attempt = 0;
        }
        *offset = head.offset;
        if head.offset >= len {
            return Ok(head.link);
        }
    }
}

/// How much of a stream (standard input, a folder's archive, an encrypted upload) is kept in
/// memory once read, so that a cut connection resumes from the server's offset within the
/// run: what a cut loses is what was in flight (socket buffers on both ends, a proxy's), a
/// few MiB. The memory stays this much whatever the stream's length.
pub const STREAM_WINDOW: u64 = 32 * 1024 * 1024;

/// The window's size: [`STREAM_WINDOW`], or `FILEIO_TEST_STREAM_WINDOW` bytes (for the tests
/// that provoke a cut larger than the window).
fn stream_window() -> u64 {
    std::env::var("FILEIO_TEST_STREAM_WINDOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(STREAM_WINDOW)
}

/// Whether `up` should go up as a resumable stream: a source of unknown length that cannot
/// be read from an offset (standard input, a folder).
///
/// An encrypted file (a stream of known length) does not: its window would cost 32 MiB
/// where an encrypted upload is to stay within 2 MiB of a plain one (issue 14), and it goes
/// up in one POST as before.
pub fn eligible_stream(up: &Upload<'_>, opts: &UploadOptions) -> bool {
    opts.resumable_above.is_some() && !up.source.seekable() && up.size().is_none()
}

/// A stream's bytes as they are read, the last [`stream_window`] of them kept for a resend.
struct Window {
    /// The source, until it ends.
    stream: Option<ByteStream>,
    /// The last bytes read, from offset `start` to `read`.
    kept: std::collections::VecDeque<Bytes>,
    start: u64,
    read: u64,
    size: u64,
    /// Why reading the source failed, if it did: a local failure, not a cut.
    failed: Option<String>,
}

impl Window {
    fn new(stream: ByteStream, size: u64) -> Window {
        Window {
            stream: Some(stream),
            kept: Default::default(),
            start: 0,
            read: 0,
            size,
            failed: None,
        }
    }

    fn push(&mut self, chunk: &Bytes) {
        // A copy: a small read would otherwise pin the reader's whole buffer while kept.
        self.kept.push_back(Bytes::copy_from_slice(chunk));
        self.read += chunk.len() as u64;
        while let Some(front) = self.kept.front() {
            let len = front.len() as u64;
            if self.read - self.start - len < self.size && self.size > 0 {
                break;
            }
            self.start += len;
            self.kept.pop_front();
        }
    }

    /// The kept bytes from `at` (within the window), up to the end of one kept piece.
    fn kept_from(&self, at: u64) -> Option<Bytes> {
        let mut piece_at = self.start;
        for piece in &self.kept {
            let end = piece_at + piece.len() as u64;
            if at < end && at >= piece_at {
                return Some(piece.slice((at - piece_at) as usize..));
            }
            piece_at = end;
        }
        None
    }
}

/// A request body of the stream from `from` on: what the window kept, then the source.
fn window_body(window: &Arc<tokio::sync::Mutex<Window>>, from: u64) -> ByteStream {
    let state = (window.clone(), from);
    Box::pin(futures_util::stream::unfold(
        state,
        |(window, at)| async move {
            let mut w = window.lock().await;
            if at < w.read {
                let piece = w.kept_from(at).ok_or_else(|| {
                    std::io::Error::other("the bytes to send again are no longer at hand")
                });
                drop(w);
                return Some(match piece {
                    Ok(p) => {
                        let next = at + p.len() as u64;
                        (Ok(p), (window, next))
                    }
                    Err(e) => (Err(e), (window, u64::MAX)),
                });
            }
            let next = w.stream.as_mut()?.next().await;
            match next {
                None => {
                    w.stream = None;
                    None
                }
                Some(Ok(chunk)) => {
                    w.push(&chunk);
                    drop(w);
                    let next = at + chunk.len() as u64;
                    Some((Ok(chunk), (window, next)))
                }
                Some(Err(e)) => {
                    w.failed = Some(e.to_string());
                    w.stream = None;
                    drop(w);
                    Some((Err(e), (window, u64::MAX)))
                }
            }
        },
    ))
}

/// Sends a stream (`up`, not readable from an offset, of unknown length) through the tus
/// endpoint as it is read: one PATCH carries it all, and after a cut the next one resends
/// from the server's offset what the window still holds, within `--retries`. The upload is
/// created with `Upload-Defer-Length: 1` and its length sent in a last, empty PATCH once the
/// stream ended. Nothing is kept across runs: should the
/// upload fail, it is terminated on the server.
pub async fn upload_stream<T: DeserializeOwned>(
    api: &Api<'_>,
    endpoint: &Url,
    up: &Upload<'_>,
    opts: &UploadOptions,
    into_record: fn(T, &str) -> Result<FileRecord>,
) -> Result<Uploaded> {
    let what = format!("uploading {}", up.name);
    let (url, _) = create(api, endpoint, up, opts, None, &what).await?;
    let window = Arc::new(tokio::sync::Mutex::new(Window::new(
        up.source.open()?,
        stream_window(),
    )));
    let sent = send_stream(api, &url, up, &window, &what).await;
    let link = match sent {
        Ok(link) => link,
        Err(e) => {
            terminate(api, &url).await;
            return Err(e);
        }
    };
    let record = finished(api, &url, link, &what, into_record).await?;
    Ok(Uploaded {
        record,
        token: None,
    })
}

/// `DELETE` of an upload that cannot go on, so that its bytes do not wait on the server for
/// the sweep; best effort (the sweep takes it when it expires otherwise).
async fn terminate(api: &Api<'_>, url: &Url) {
    // A broken PATCH may still hold the upload (a DELETE would get 423): HEAD waits for
    // the server to have recorded it.
    let _ = head(api, url).await;
    let _ = api
        .http
        .send("deleting the unfinished upload", Retry::Never, None, || {
            Ok(api
                .request(Method::DELETE, url.clone())
                .header(TUS_RESUMABLE, VERSION))
        })
        .await;
}

/// The PATCHes of a stream: returns the link the server gave for the finished upload, if
/// it gave one.
async fn send_stream(
    api: &Api<'_>,
    url: &Url,
    up: &Upload<'_>,
    window: &Arc<tokio::sync::Mutex<Window>>,
    what: &str,
) -> Result<Option<String>> {
    let mut attempt = 0u32;
    let mut offset = 0u64;
    let ended = |w: &Window| w.stream.is_none() && w.failed.is_none();
    loop {
        up.bar.set_position(offset);
        let from = offset;
        let result = api
            .http
            .send(what, Retry::Never, Some(up.activity), || {
                let body =
                    crate::body::counted(window_body(window, from), up.bar, up.total, up.activity);
                Ok(api
                    .request(Method::PATCH, url.clone())
                    .header(TUS_RESUMABLE, VERSION)
                    .header("Upload-Offset", from)
                    .header(CONTENT_TYPE, OFFSET_STREAM)
                    .body(body))
            })
            .await;
        if let Some(why) = window.lock().await.failed.clone() {
            return Err(Failure::new(
                Kind::LocalFile,
                format!("{what}: cannot read the data to upload: {why}"),
            )
            .into());
        }
        let failed = match result {
            Ok(resp) if resp.status().is_success() => {
                let now = header(&resp, "Upload-Offset").and_then(|v| v.parse::<u64>().ok());
                let w = window.lock().await;
                let read = w.read;
                match now {
                    Some(n) if n == read && ended(&w) => {
                        drop(w);
                        return declare(api, url, read).await;
                    }
                    // The server kept only part of the body: send the rest.
                    Some(n) if n > from && n < read => {
                        offset = n;
                        attempt = 0;
                        continue;
                    }
                    _ => {
                        return Err(Failure::new(
                            Kind::BadAnswer,
                            format!("{what}: the server accepted the bytes but says it has not got them (Upload-Offset)"),
                        )
                        .into());
                    }
                }
            }
            other => unsent(api, what, other).await,
        };
        pause_before_retry(api, failed, &mut attempt).await?;
        let head = head(api, url).await.map_err(plain)?;
        let (start, read) = {
            let w = window.lock().await;
            (w.start, w.read)
        };
        if head.offset > read || head.length.is_some() {
            return Err(Failure::new(
                Kind::BadAnswer,
                format!("{what}: the server's upload is not what was sent (it says it has more than was read)"),
            )
            .into());
        }
        if head.offset < start {
            return Err(not_at_hand(up.name, head.offset, read, start));
        }
        // What went up in the broken try beyond what the server kept is counted again.
        let sent = up.bar.position();
        if let Some(t) = up.total {
            t.set_position(
                t.position()
                    .saturating_sub(sent.saturating_sub(head.offset)),
            );
        }
        if head.offset > offset {
            attempt = 0;
        }
        offset = head.offset;
    }
}

/// The failure of a stream whose lost bytes are no longer at hand: what the server kept,
/// and the fix.
fn not_at_hand(name: &str, kept: u64, read: u64, start: u64) -> anyhow::Error {
    use crate::size::ByteSize;
    Failure::new(
        Kind::Network,
        format!(
            "uploading {name}: the connection broke and the upload cannot resume: the server kept {} of the {} sent, and only the last {} are still at hand (from byte {start}); the unfinished upload is deleted from the server",
            ByteSize(kept),
            ByteSize(read),
            ByteSize(read - start),
        ),
    )
    .hint("save the data to a file and upload the file: a file's upload resumes from where it broke, even in a later run")
    .into()
}

/// The last PATCH of a stream of deferred length: empty, with `Upload-Length` now known.
/// Sent again as it is after a failure (the server takes the same length twice).
async fn declare(api: &Api<'_>, url: &Url, length: u64) -> Result<Option<String>> {
    let what = "finishing the upload";
    let resp = api
        .send(what, Retry::Safe, None, || {
            Ok(api
                .request(Method::PATCH, url.clone())
                .header(TUS_RESUMABLE, VERSION)
                .header("Upload-Offset", length)
                .header("Upload-Length", length)
                .header(CONTENT_TYPE, OFFSET_STREAM)
                .header(CONTENT_LENGTH, 0))
        })
        .await
        .map_err(plain)?;
    if !resp.status().is_success() {
        return Err(plain(api.error(what, resp).await));
    }
    Ok(header(&resp, "Fileio-Link"))
}

/// The finished upload's record: `GET` of its URL gives what `POST /` gives. The link is
/// known before that (the last PATCH or HEAD carried it): should the GET fail, a record
/// with the link is made from it rather than losing it.
async fn finished<T: DeserializeOwned>(
    api: &Api<'_>,
    url: &Url,
    link: Option<String>,
    what: &str,
    into_record: fn(T, &str) -> Result<FileRecord>,
) -> Result<FileRecord> {
    let got: Result<T> = api
        .send_json(what, Retry::Safe, None, || {
            Ok(api
                .request(Method::GET, url.clone())
                .header(TUS_RESUMABLE, VERSION)
                .header("Accept", "application/json"))
        })
        .await;
    let from_get = got.and_then(|w| into_record(w, what));
    match (from_get, link) {
        (Ok(r), _) => Ok(r),
        (Err(e), Some(link)) => {
            let key = super::key_of(&link)?;
            note(
                api,
                &format!(
                    "the upload finished, but its details could not be read ({}); the link is kept",
                    failure_of(&e).map_or_else(|| format!("{e:#}"), |f| f.message.clone())
                ),
            );
            Ok(FileRecord::new("fileio", key, link))
        }
        (Err(e), None) => Err(e),
    }
}

/// `Upload-Metadata`: the name and the options, base64 as tus says.
fn metadata(name: &str, opts: &UploadOptions) -> String {
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let mut pairs = vec![format!("filename {}", b64(name))];
    if let Some(e) = &opts.expires {
        pairs.push(format!("expires {}", b64(&e.to_fileio_param())));
    }
    if let Some(n) = opts.max_downloads {
        pairs.push(format!("maxDownloads {}", b64(&n.to_string())));
    }
    if let Some(a) = opts.auto_delete {
        pairs.push(format!("autoDelete {}", b64(&a.to_string())));
    }
    pairs.join(",")
}

/// The options as one text, part of what a rerun must match to resume.
fn options_text(opts: &UploadOptions) -> String {
    format!(
        "{:?} {:?} {:?}",
        opts.expires.as_ref().map(|e| e.to_fileio_param()),
        opts.max_downloads,
        opts.auto_delete
    )
}

/// A PATCH that was not taken: its error, and whether asking the server where it is and
/// sending from there may help.
async fn unsent(api: &Api<'_>, what: &str, result: Result<Response>) -> (anyhow::Error, bool) {
    match result {
        // Out of step with the server (it got more than it said): ask it where it is.
        Ok(resp) if resp.status() == StatusCode::CONFLICT => (api.error(what, resp).await, true),
        Ok(resp) => {
            // 423: the server is still busy with the broken request's bytes.
            let transient =
                resp.status().is_server_error() || matches!(resp.status().as_u16(), 423 | 429);
            (api.error(what, resp).await, transient)
        }
        Err(e) => {
            let transient = failure_of(&e)
                .is_some_and(|f| f.kind == Kind::Network || f.status.is_some_and(|s| s >= 500));
            (e, transient)
        }
    }
}

/// Gives up with `err` unless it may pass and `--retries` allow another try; else says so
/// and waits the backoff.
async fn pause_before_retry(
    api: &Api<'_>,
    (err, transient): (anyhow::Error, bool),
    attempt: &mut u32,
) -> Result<()> {
    if !transient || *attempt >= api.http.retries() {
        return Err(plain(err));
    }
    let wait = crate::http::backoff(*attempt);
    let why = failure_of(&err).map_or_else(|| format!("{err:#}"), |f| f.message.clone());
    api.http.note_retry(&why, wait, *attempt);
    tokio::time::sleep(wait).await;
    *attempt += 1;
    Ok(())
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

fn note(api: &Api<'_>, text: &str) {
    if !api.quiet {
        let text = crate::terminal_text::inert(text);
        crate::progress::suspend(|| eprintln!("fileio: note: {text}"));
    }
}

/// A failure without the hints of a one-shot upload ("not sent again, may have been
/// stored"), which do not hold for a resumable one.
fn plain(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<Failure>() {
        Ok(mut f) => {
            f.hints.retain(|h| !h.contains("not sent again"));
            f.into()
        }
        Err(e) => e,
    }
}

/// A failure that a rerun can pick up from: says so.
fn keep_hint(e: anyhow::Error) -> anyhow::Error {
    crate::error::add_hint(
        plain(e),
        Kind::Network,
        "run the same command again to send only the rest: the upload is kept on the server until it expires",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_base64_per_tus() {
        let opts = UploadOptions {
            max_downloads: Some(3),
            auto_delete: Some(false),
            ..UploadOptions::default()
        };
        assert_eq!(
            metadata("a b.txt", &opts),
            "filename YSBiLnR4dA==,maxDownloads Mw==,autoDelete ZmFsc2U="
        );
    }
}
