//! FileShot: whole-file uploads below a threshold, chunked and resumable above it.
//!
//! The chunk protocol is uncertain (the public docs and the vendor's client differ): both are
//! here, chosen by `[services] fileshot-chunk-protocol` in the config file.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Url;
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Account, Api, FileRecord, ListQuery, Page, ServiceKind, Upload, UploadOptions, Uploaded,
    normalize_time,
};
use crate::error::{Failure, Kind, failure_of};
use crate::expires::Expires;
use crate::size::ByteSize;

pub const DEFAULT_BASE_URL: &str = "https://api.fileshot.io";

/// The chunk size the vendor's client uses.
pub const CHUNK_SIZE: u64 = 8 << 20;

/// Files at least this large go up in chunks, unless the config says otherwise.
const DEFAULT_THRESHOLD: u64 = 100_000_000;

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

fn tier_hint(err: anyhow::Error) -> anyhow::Error {
    match failure_of(&err) {
        Some(f) if f.kind == Kind::Auth && f.message.contains("(403") => Failure::new(
            Kind::Auth,
            f.message.clone(),
        )
        .hint("FileShot's API needs the Creator tier or above; a key of a lower tier is refused")
        .into(),
        _ => err,
    }
}

fn record_from(api: &Api<'_>, v: &Value, name: Option<&str>) -> Option<FileRecord> {
    let v = v.get("file").filter(|f| f.is_object()).unwrap_or(v);
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = s("fileId").or_else(|| s("id"))?;
    let link = s("downloadUrl").unwrap_or_else(|| api.url(&format!("/api/files/download/{id}")));
    Some(FileRecord {
        name: s("fileName")
            .or_else(|| s("originalFileName"))
            .or_else(|| name.map(str::to_owned)),
        size: v.get("fileSize").and_then(Value::as_u64),
        expires: s("expiresAt").as_deref().and_then(normalize_time),
        created: s("createdAt").as_deref().and_then(normalize_time),
        ..FileRecord::new(ServiceKind::FileShot, id, link)
    })
}

fn bad_answer(what: &str) -> anyhow::Error {
    Failure::new(
        Kind::BadAnswer,
        format!("{what}: FileShot's answer has no fileId; the API may have changed"),
    )
    .hint("check --server, or the [services] fileshot settings in the config file")
    .into()
}

pub async fn upload(api: &Api<'_>, up: &Upload<'_>, opts: &UploadOptions) -> Result<Uploaded> {
    let key = api.need_key()?;
    let days = opts.expires.as_ref().map(expiry_days).transpose()?;
    let threshold = match &api.settings.services.fileshot_chunk_threshold {
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
    if let (Some(path), Some(len)) = (up.path, up.len) {
        if len >= threshold {
            return chunked(api, up, path, len, days).await.map_err(tier_hint);
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
        Ok(api
            .http
            .client
            .post(&url)
            .bearer_auth(key.expose())
            .multipart(form))
    };
    let v = api
        .http
        .send_json(&what, up.retry(), Some(up.activity), make)
        .await
        .map_err(tier_hint)?;
    let record = record_from(api, &v, Some(up.name)).ok_or_else(|| bad_answer(&what))?;
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

fn state_path(api: &Api<'_>, path: &Path, len: u64) -> Option<PathBuf> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let abs = std::fs::canonicalize(path).ok()?;
    let mut h = Sha256::new();
    h.update(format!("{}\n{}\n{len}\n{mtime}", api.base(), abs.display()));
    let id: String = h
        .finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(
        crate::dirs::project()?
            .data_dir()
            .join("resume")
            .join(format!("fileshot-{id}.json")),
    )
}

fn save_state(path: &Path, state: &ResumeState) {
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, serde_json::to_vec(state).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn preupload_protocol(api: &Api<'_>) -> Result<bool> {
    match api
        .settings
        .services
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

async fn chunked(
    api: &Api<'_>,
    up: &Upload<'_>,
    path: &Path,
    len: u64,
    days: Option<u32>,
) -> Result<Uploaded> {
    let key = api.need_key()?;
    let pre = preupload_protocol(api)?;
    let total = len.div_ceil(CHUNK_SIZE).max(1);
    let what = format!("uploading {}", up.name);
    let state_file = state_path(api, path, len);
    let previous = state_file
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<ResumeState>(&b).ok())
        .filter(|s| s.total_chunks == total);
    let state = match previous {
        Some(s) => {
            if !api.settings.quiet {
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
            let v = api
                .http
                .send_json(&what, true, None, || {
                    Ok(api
                        .http
                        .client
                        .post(&url)
                        .bearer_auth(key.expose())
                        .json(&body))
                })
                .await?;
            let file_id = v
                .get("fileId")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_answer(&what))?
                .to_string();
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
            let (state, state_file, file_id, what) = (&state, &state_file, &file_id, &what);
            async move {
                let bytes = read_chunk(path, i, len)?;
                let url = api.url(&format!("/api/files/upload-chunk/{file_id}/{i}"));
                let make = || {
                    let req = api.http.client.post(&url).bearer_auth(key.expose());
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
                let resp = api
                    .http
                    .send(&chunk_what, true, Some(up.activity), make)
                    .await?;
                if !resp.status().is_success() {
                    return Err(crate::http::error_from_response(&chunk_what, resp)
                        .await
                        .into());
                }
                up.bar.inc(bytes.len() as u64);
                up.activity.touch();
                let mut s = state.lock().expect("state");
                s.done.insert(i);
                if let Some(p) = state_file {
                    save_state(p, &s);
                }
                Ok(())
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        let f = Failure::new(
            failure_of(&e).map_or(Kind::Other, |f| f.kind),
            format!("{e:#}"),
        )
        .hint("run the same command again to send only the chunks that are missing");
        return Err(f.into());
    }
    let finished = if pre {
        let url = api.url(&format!("/api/files/finalize-upload/{file_id}"));
        api.http
            .send_json(&what, true, None, || {
                Ok(api
                    .http
                    .client
                    .post(&url)
                    .bearer_auth(key.expose())
                    .json(&json!({})))
            })
            .await?
    } else {
        Value::Null
    };
    let record = match record_from(api, &finished, Some(up.name)) {
        Some(r) => r,
        None => info(api, &file_id).await?,
    };
    if let Some(p) = &state_file {
        let _ = std::fs::remove_file(p);
    }
    Ok(Uploaded {
        record,
        token: None,
    })
}

fn chunk_len(i: u64, len: u64) -> u64 {
    CHUNK_SIZE.min(len.saturating_sub(i * CHUNK_SIZE))
}

/// One chunk read whole: at most `CHUNK_SIZE` per chunk in flight, whatever the file's size.
fn read_chunk(path: &Path, i: u64, len: u64) -> Result<Bytes> {
    let n = chunk_len(i, len) as usize;
    let mut f =
        std::fs::File::open(path).map_err(|e| crate::commands::upload::local_error(path, &e))?;
    let mut buf = vec![0; n];
    f.seek(SeekFrom::Start(i * CHUNK_SIZE))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| {
            Failure::new(
                Kind::LocalFile,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
    Ok(Bytes::from(buf))
}

pub async fn info(api: &Api<'_>, id: &str) -> Result<FileRecord> {
    let url = api.url(&format!("/api/files/{id}"));
    let what = format!("reading {id}");
    let v = super::call_json(api, &what, || Ok(api.auth(api.http.client.get(&url))))
        .await
        .map_err(tier_hint)?;
    record_from(api, &v, None).ok_or_else(|| bad_answer(&what))
}

pub fn download_url(api: &Api<'_>, target: &str) -> Result<Url> {
    let id = super::key_of(target)?;
    Url::parse(&api.url(&format!("/api/files/download/{id}")))
        .map_err(|e| Failure::new(Kind::Usage, format!("invalid server URL: {e}")).into())
}

pub async fn delete(api: &Api<'_>, id: &str) -> Result<()> {
    let url = api.url(&format!("/api/files/{id}"));
    super::delete_at(api, &format!("deleting {id}"), &url).await
}

pub async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    let key = api.need_key()?;
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let page = q.offset / limit + 1;
    let path = api
        .settings
        .services
        .fileshot_list_path
        .clone()
        .unwrap_or_else(|| "/api/files".into());
    let url = api.url(&path);
    let query = [("page", page.to_string()), ("limit", limit.to_string())];
    let v = super::call_json(api, "listing files", || {
        Ok(api
            .http
            .client
            .get(&url)
            .query(&query)
            .bearer_auth(key.expose()))
    })
    .await
    .map_err(tier_hint)?;
    let items = v
        .get("files")
        .or_else(|| v.get("data"))
        .or(Some(&v))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                "listing files: FileShot's answer has no list of files",
            )
            .hint("set [services] fileshot-list-path in the config file if the API moved")
        })?;
    let files = items
        .iter()
        .filter_map(|i| record_from(api, i, None))
        .collect();
    let total = ["total", "count"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_u64))
        .or_else(|| {
            v.get("pagination")
                .and_then(|p| p.get("total"))
                .and_then(Value::as_u64)
        });
    Ok(Page { files, total })
}

pub async fn me(api: &Api<'_>) -> Result<Account> {
    let key = api.need_key()?;
    let url = api.url("/api/files/usage");
    let v = super::call_json(api, "reading the account", || {
        Ok(api.http.client.get(&url).bearer_auth(key.expose()))
    })
    .await
    .map_err(tier_hint)?;
    Ok(Account {
        service: "fileshot",
        plan: v
            .get("tier")
            .filter(|t| !t.is_null())
            .map(crate::terminal_text::inert_value),
        max_upload_bytes: None,
        max_storage_bytes: v.get("limit").and_then(Value::as_u64),
        used_storage_bytes: v.get("usage").and_then(Value::as_u64),
        rate_limit: None,
    })
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
