//! FileShot: whole-file uploads below a threshold, chunked and resumable above it.
//!
//! The chunk protocol is uncertain (the public docs and the vendor's client differ): both are
//! here, chosen by `[services] fileshot-chunk-protocol` in the config file.

use std::collections::BTreeSet;
use std::sync::Mutex;

use anyhow::Result;
use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Account, Api, AuthScheme, Capabilities, FileRecord, Lenient, ListQuery, Managed, Page, Service,
    ServiceConfig, Upload, UploadCaps, UploadOptions, Uploaded, normalize_time, shown_value,
};
use crate::error::{Failure, Kind, add_hint, failure_of};
use crate::expires::Expires;
use crate::resume::ResumeSlot;
use crate::size::ByteSize;

pub const DEFAULT_BASE_URL: &str = "https://api.fileshot.io";

const NAME: &str = "fileshot";

/// The chunk size the vendor's client uses.
pub const CHUNK_SIZE: u64 = 8 << 20;

/// Files at least this large go up in chunks, unless the config says otherwise.
const DEFAULT_THRESHOLD: u64 = 100_000_000;

#[derive(Debug)]
pub struct FileShot;

#[async_trait]
impl Service for FileShot {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "FileShot"
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn capabilities(&self, _cfg: &ServiceConfig) -> Capabilities {
        Capabilities {
            upload: UploadCaps {
                expires: true,
                ..UploadCaps::default()
            },
            list: true,
            account: true,
            delete: true,
            info: true,
            resumable: true,
            auth: AuthScheme::Bearer { optional: false },
            ..Capabilities::BASIC
        }
    }

    fn needs_length(&self) -> bool {
        true
    }

    fn check_upload(&self, opts: &UploadOptions) -> Result<()> {
        if let Some(e) = &opts.expires {
            expiry_days(e)?;
        }
        Ok(())
    }

    async fn upload(
        &self,
        api: &Api<'_>,
        up: &Upload<'_>,
        opts: &UploadOptions,
    ) -> Result<Uploaded> {
        upload(api, up, opts).await
    }

    async fn download_url(&self, api: &Api<'_>, target: &str) -> Result<Url> {
        let id = super::key_of(target)?;
        Url::parse(&api.url(&format!("/api/files/download/{id}")))
            .map_err(|e| Failure::new(Kind::Usage, format!("invalid server URL: {e}")).into())
    }

    async fn list(&self, api: &Api<'_>, q: &ListQuery) -> Result<Page> {
        list(api, q).await.map_err(tier_hint)
    }

    async fn info(&self, api: &Api<'_>, id: &str) -> Result<FileRecord> {
        info(api, id).await
    }

    async fn me(&self, api: &Api<'_>) -> Result<Account> {
        api.need_key()?;
        let url = api.url("/api/files/usage");
        let usage: WireUsage = api
            .send_json("reading the account", true, None, || {
                Ok(api.request(Method::GET, &url))
            })
            .await
            .map_err(tier_hint)?;
        Ok(Account {
            service: NAME,
            plan: shown_value(usage.tier),
            max_upload_bytes: None,
            max_storage_bytes: usage.limit.0,
            used_storage_bytes: usage.usage.0,
            rate_limit: None,
        })
    }

    async fn delete(&self, api: &Api<'_>, file: &Managed<'_>) -> Result<()> {
        let url = api.url(&format!("/api/files/{}", file.key));
        super::delete_at(api, &format!("deleting {}", file.key), &url).await
    }
}

/// `--expires` as FileShot's whole days, 1 to 365.
pub fn expiry_days(e: &Expires) -> Result<u32> {
    let now = chrono::Utc::now();
    let secs = e
        .resolve(now)
        .map(|t| (t - now).num_seconds())
        .unwrap_or(i64::MAX);
    let days = (secs + 86_399) / 86_400;
    let whole = secs % 86_400 == 0 || matches!(e, Expires::At(_));
    if !whole || !(1..=365).contains(&days) {
        return Err(Failure::new(
            Kind::Usage,
            format!("FileShot keeps files for whole days, 1 to 365; --expires {e} is not"),
        )
        .hint("use a period in days, weeks or months, such as 7d, 2w or 3M")
        .into());
    }
    Ok(days as u32)
}

/// A 403 from FileShot means the key is valid but its tier is too low: the generic "set a
/// valid key" hint would mislead, so this hint takes its place (the others are kept).
fn tier_hint(err: anyhow::Error) -> anyhow::Error {
    let refused = failure_of(&err).is_some_and(|f| f.kind == Kind::Auth && f.status == Some(403));
    if !refused || err.chain().count() > 1 {
        return err;
    }
    match err.downcast::<Failure>() {
        Ok(mut f) => {
            f.hints.retain(|h| h != crate::http::BAD_KEY_HINT);
            f.hints.insert(
                0,
                "FileShot's API needs the Creator tier or above; a key of a lower tier is refused"
                    .into(),
            );
            f.into()
        }
        Err(err) => err,
    }
}

/// A file as FileShot describes it, on its own or in a `file` object, as it comes over the
/// wire. The vendor's client and the docs name some fields differently: both are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFile {
    #[serde(default)]
    file: Option<Box<Lenient<WireFile>>>,
    #[serde(default)]
    file_id: Lenient<String>,
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default)]
    download_url: Lenient<String>,
    #[serde(default)]
    file_name: Lenient<String>,
    #[serde(default)]
    original_file_name: Lenient<String>,
    #[serde(default)]
    file_size: Lenient<u64>,
    #[serde(default)]
    expires_at: Lenient<String>,
    #[serde(default)]
    created_at: Lenient<String>,
}

impl WireFile {
    /// The record, when the answer has an id; `name` is the name sent, where FileShot gives
    /// none back.
    fn into_record(self, api: &Api<'_>, name: Option<&str>) -> Option<FileRecord> {
        let f = match self.file {
            Some(inner) if inner.0.is_some() => inner.0.expect("checked"),
            _ => self,
        };
        let id = f.file_id.0.or(f.id.0)?;
        let link = f
            .download_url
            .0
            .unwrap_or_else(|| api.url(&format!("/api/files/download/{id}")));
        Some(FileRecord {
            name: f
                .file_name
                .0
                .or(f.original_file_name.0)
                .or_else(|| name.map(str::to_owned)),
            size: f.file_size.0,
            expires: f.expires_at.0.as_deref().and_then(normalize_time),
            created: f.created_at.0.as_deref().and_then(normalize_time),
            ..FileRecord::new(NAME, id, link)
        })
    }
}

/// A page of files: a bare array, or an object with the array in `files` or `data`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireList {
    Bare(Vec<Lenient<WireFile>>),
    Page(WirePage),
}

#[derive(Debug, Deserialize)]
struct WirePage {
    #[serde(default)]
    files: Option<Vec<Lenient<WireFile>>>,
    #[serde(default)]
    data: Option<Vec<Lenient<WireFile>>>,
    #[serde(default)]
    total: Lenient<u64>,
    #[serde(default)]
    count: Lenient<u64>,
    #[serde(default)]
    pagination: Option<Lenient<WirePagination>>,
}

#[derive(Debug, Deserialize)]
struct WirePagination {
    #[serde(default)]
    total: Lenient<u64>,
}

/// `GET /api/files/usage` as it comes over the wire.
#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    tier: Option<serde_json::Value>,
    #[serde(default)]
    limit: Lenient<u64>,
    #[serde(default)]
    usage: Lenient<u64>,
}

fn bad_answer(what: &str) -> anyhow::Error {
    Failure::new(
        Kind::BadAnswer,
        format!("{what}: FileShot's answer has no fileId; the API may have changed"),
    )
    .hint("check --server, or the [services] fileshot settings in the config file")
    .into()
}

async fn upload(api: &Api<'_>, up: &Upload<'_>, opts: &UploadOptions) -> Result<Uploaded> {
    api.need_key()?;
    let days = opts.expires.as_ref().map(expiry_days).transpose()?;
    let threshold = match &api.config.fileshot_chunk_threshold {
        Some(t) => {
            t.parse::<ByteSize>()
                .map_err(|e| {
                    Failure::new(
                        Kind::Usage,
                        format!("config: fileshot-chunk-threshold: {e}"),
                    )
                })?
                .0
        }
        None => DEFAULT_THRESHOLD,
    };
    let what = format!("uploading {}", up.name);
    // Pieces need a source that can be read at any offset (a file).
    if let (Some(len), true) = (up.size(), up.source.seekable()) {
        if len >= threshold {
            return chunked(api, up, len, days).await.map_err(tier_hint);
        }
    }
    let url = api.url("/api/files/upload");
    let make = || {
        let part = up.part()?;
        let mut form = Form::new();
        if let Some(d) = days {
            form = form.text("expiryDays", d.to_string());
        }
        form = form.part("file", part);
        Ok(api.request(Method::POST, &url).multipart(form))
    };
    let answer: WireFile = api
        .send_json(&what, up.retry(), Some(up.activity), make)
        .await
        .map_err(tier_hint)?;
    let record = answer
        .into_record(api, Some(up.name))
        .ok_or_else(|| bad_answer(&what))?;
    Ok(Uploaded {
        record,
        token: None,
    })
}

/// What has been sent of a chunked upload, kept in the data directory so that running the
/// same command again resumes it.
#[derive(Debug, Serialize, Deserialize)]
struct ResumeState {
    file_id: String,
    total_chunks: u64,
    done: BTreeSet<u64>,
}

/// How long a chunked upload's state is kept for a rerun: FileShot does not say how long it
/// keeps an unfinished upload, and a rerun after a week is unlikely to find it.
const STATE_LIFETIME_DAYS: i64 = 7;

/// The state of this upload, for this server, key and expiry.
fn state_of(api: &Api<'_>, identity: &str, days: Option<u32>) -> Option<ResumeSlot> {
    let key = crate::resume::key_identity(api.key);
    let days = days.map(|d| d.to_string()).unwrap_or_default();
    ResumeSlot::new(NAME, &[api.base(), identity, &key, &days])
}

fn save_state(slot: &ResumeSlot, state: &ResumeState) {
    slot.save(
        state,
        chrono::Utc::now() + chrono::Duration::days(STATE_LIFETIME_DAYS),
    );
}

fn preupload_protocol(api: &Api<'_>) -> Result<bool> {
    match api
        .config
        .fileshot_chunk_protocol
        .as_deref()
        .unwrap_or("init")
    {
        "init" => Ok(false),
        "pre-upload" => Ok(true),
        other => Err(Failure::new(
            Kind::Usage,
            format!("config: unknown fileshot-chunk-protocol '{other}'"),
        )
        .hint("use \"init\" (the public docs) or \"pre-upload\" (the vendor's client)")
        .into()),
    }
}

async fn chunked(api: &Api<'_>, up: &Upload<'_>, len: u64, days: Option<u32>) -> Result<Uploaded> {
    api.need_key()?;
    let pre = preupload_protocol(api)?;
    let total = len.div_ceil(CHUNK_SIZE).max(1);
    let what = format!("uploading {}", up.name);
    let slot = up
        .source
        .identity()
        .and_then(|identity| state_of(api, &identity, days));
    let previous = slot
        .as_ref()
        .and_then(ResumeSlot::load::<ResumeState>)
        .filter(|s| s.total_chunks == total);
    let state = match previous {
        Some(s) => {
            if !api.quiet {
                crate::progress::suspend(|| {
                    eprintln!(
                        "fileio: resuming {}: {} of {total} chunks were sent before",
                        up.name,
                        s.done.len()
                    )
                });
            }
            s
        }
        None => {
            let mime = mime_guess::from_path(up.name)
                .first_or_octet_stream()
                .to_string();
            let (url, body) = if pre {
                (
                    api.url("/api/files/pre-upload"),
                    json!({"fileName": up.name, "fileSize": len, "originalFileName": up.name,
                           "originalFileSize": len, "originalMimeType": mime, "expirationDays": days,
                           "maxDownloads": null, "customLink": null, "isPasswordProtected": false}),
                )
            } else {
                (
                    api.url("/api/files/init-upload"),
                    json!({"fileName": up.name, "fileSize": len, "expiryDays": days}),
                )
            };
            let started: WireFile = api
                .send_json(&what, true, None, || {
                    Ok(api.request(Method::POST, &url).json(&body))
                })
                .await?;
            let file_id = started.file_id.0.ok_or_else(|| bad_answer(&what))?;
            ResumeState {
                file_id,
                total_chunks: total,
                done: BTreeSet::new(),
            }
        }
    };
    let file_id = state.file_id.clone();
    let already: u64 = state.done.iter().map(|&i| chunk_len(i, len)).sum();
    up.bar.set_position(already);
    let state = Mutex::new(state);
    let todo: Vec<u64> = (0..total)
        .filter(|i| !state.lock().expect("state").done.contains(i))
        .collect();
    let jobs = up.jobs.max(1);
    let results: Vec<Result<()>> = futures_util::stream::iter(todo)
        .map(|i| {
            let (state, slot, file_id, what) = (&state, &slot, &file_id, &what);
            async move {
                // At most CHUNK_SIZE per chunk in flight, whatever the file's size.
                let bytes = up
                    .source
                    .read_at(i * CHUNK_SIZE, chunk_len(i, len) as usize)?;
                let url = api.url(&format!("/api/files/upload-chunk/{file_id}/{i}"));
                let make = || {
                    let req = api.request(Method::POST, &url);
                    Ok(if pre {
                        let part = Part::stream_with_length(bytes.clone(), bytes.len() as u64)
                            .file_name(format!("chunk-{i}"))
                            .mime_str("application/octet-stream")?;
                        req.multipart(
                            Form::new()
                                .text("totalChunks", total.to_string())
                                .part("chunk", part),
                        )
                    } else {
                        req.header("Content-Type", "application/octet-stream")
                            .body(bytes.clone())
                    })
                };
                let chunk_what = format!("{what} (chunk {} of {total})", i + 1);
                let resp = api.send(&chunk_what, true, Some(up.activity), make).await?;
                if !resp.status().is_success() {
                    return Err(api.error(&chunk_what, resp).await);
                }
                up.bar.inc(bytes.len() as u64);
                up.activity.touch();
                let mut s = state.lock().expect("state");
                s.done.insert(i);
                if let Some(p) = slot {
                    save_state(p, &s);
                }
                Ok(())
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(add_hint(
            e,
            Kind::Other,
            "run the same command again to send only the chunks that are missing",
        ));
    }
    let finished: Option<WireFile> = if pre {
        let url = api.url(&format!("/api/files/finalize-upload/{file_id}"));
        Some(
            api.send_json(&what, true, None, || {
                Ok(api.request(Method::POST, &url).json(&json!({})))
            })
            .await?,
        )
    } else {
        None
    };
    let record = match finished.and_then(|f| f.into_record(api, Some(up.name))) {
        Some(r) => r,
        None => info(api, &file_id).await?,
    };
    if let Some(f) = &slot {
        f.remove();
    }
    Ok(Uploaded {
        record,
        token: None,
    })
}

fn chunk_len(i: u64, len: u64) -> u64 {
    CHUNK_SIZE.min(len.saturating_sub(i * CHUNK_SIZE))
}

async fn info(api: &Api<'_>, id: &str) -> Result<FileRecord> {
    let url = api.url(&format!("/api/files/{id}"));
    let what = format!("reading {id}");
    let answer: WireFile = api
        .send_json(&what, true, None, || Ok(api.request(Method::GET, &url)))
        .await
        .map_err(tier_hint)?;
    answer
        .into_record(api, None)
        .ok_or_else(|| bad_answer(&what))
}

async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    api.need_key()?;
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let page = q.offset / limit + 1;
    let path = api
        .config
        .fileshot_list_path
        .clone()
        .unwrap_or_else(|| "/api/files".into());
    let url = api.url(&path);
    let query = [("page", page.to_string()), ("limit", limit.to_string())];
    let answer: WireList = api
        .send_json("listing files", true, None, || {
            Ok(api.request(Method::GET, &url).query(&query))
        })
        .await?;
    let (items, total) = match answer {
        WireList::Bare(items) => (Some(items), None),
        WireList::Page(p) => (
            p.files.or(p.data),
            p.total
                .0
                .or(p.count.0)
                .or_else(|| p.pagination.and_then(|p| p.0).and_then(|p| p.total.0)),
        ),
    };
    let items = items.ok_or_else(|| {
        Failure::new(
            Kind::BadAnswer,
            "listing files: FileShot's answer has no list of files",
        )
        .hint("set [services] fileshot-list-path in the config file if the API moved")
    })?;
    let files = items
        .into_iter()
        .filter_map(|i| i.0)
        .filter_map(|f| f.into_record(api, None))
        .collect();
    Ok(Page { files, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_whole_days() {
        assert_eq!(expiry_days(&"7d".parse().unwrap()).unwrap(), 7);
        assert_eq!(expiry_days(&"2w".parse().unwrap()).unwrap(), 14);
        assert_eq!(expiry_days(&"48h".parse().unwrap()).unwrap(), 2);
        assert!(expiry_days(&"30m".parse().unwrap()).is_err());
        assert!(expiry_days(&"2y".parse().unwrap()).is_err());
    }
}
