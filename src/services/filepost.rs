//! FilePost: `X-API-Key` uploads to permanent CDN URLs. Its list and delete paths are not
//! published: they work once set in the config file (`[services] filepost-list-path`,
//! `filepost-delete-path`), and are reported as unsupported until then.

use anyhow::Result;
use reqwest::Url;
use reqwest::multipart::Form;
use serde_json::Value;

use super::{Api, FileRecord, ListQuery, Page, ServiceKind, Upload, Uploaded, check_command};
use crate::error::{Failure, Kind};

pub const DEFAULT_BASE_URL: &str = "https://filepost.dev";

/// `file_id` and `url` are always there; `name`, `size` and `content_type` only in newer answers.
fn record_from(v: &Value) -> Option<FileRecord> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = s("file_id").or_else(|| s("id"))?;
    let url = s("url")?;
    Some(FileRecord {
        name: s("name"),
        size: v.get("size").and_then(Value::as_u64),
        ..FileRecord::new(ServiceKind::FilePost, id, url)
    })
}

pub async fn upload(api: &Api<'_>, up: &Upload<'_>) -> Result<Uploaded> {
    let key = api.need_key()?;
    let what = format!("uploading {}", up.name);
    let url = api.url("/v1/upload");
    let make = || {
        let part = up.part()?;
        Ok(api
            .http
            .client
            .post(&url)
            .header("X-API-Key", key.expose())
            .multipart(Form::new().part("file", part)))
    };
    let v = api
        .http
        .send_json(&what, up.retry(), Some(up.activity), make)
        .await?;
    let mut record = record_from(&v).ok_or_else(|| {
        Failure::new(
            Kind::BadAnswer,
            format!("{what}: FilePost's answer has no file_id or url; the API may have changed"),
        )
    })?;
    record.name.get_or_insert_with(|| up.name.to_string());
    Ok(Uploaded {
        record,
        token: None,
    })
}

/// FilePost's links are CDN URLs that cannot be rebuilt from an id.
pub fn download_url(target: &str) -> Result<Url> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Url::parse(target).map_err(|e| {
            Failure::new(Kind::Usage, format!("invalid link '{target}': {e}")).into()
        });
    }
    Err(Failure::new(
        Kind::Usage,
        "FilePost files are downloaded by their link, not their id",
    )
    .hint("give the whole URL the upload printed (see `fileio history`)")
    .into())
}

pub async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    let Some(path) = api.settings.services.filepost_list_path.clone() else {
        return Err(
            check_command(ServiceKind::FilePost, &api.settings.services, "list").unwrap_err(),
        );
    };
    let key = api.need_key()?;
    let url = api.url(&path);
    let mut query = vec![("offset", q.offset.to_string())];
    if let Some(l) = q.limit {
        query.push(("limit", l.to_string()));
    }
    let v = super::call_json(api, "listing files", || {
        Ok(api
            .http
            .client
            .get(&url)
            .query(&query)
            .header("X-API-Key", key.expose()))
    })
    .await?;
    let items = v
        .as_array()
        .or_else(|| v.get("files").and_then(Value::as_array))
        .or_else(|| v.get("data").and_then(Value::as_array))
        .ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                "listing files: FilePost's answer has no list of files",
            )
        })?;
    Ok(Page {
        files: items.iter().filter_map(record_from).collect(),
        total: v.get("total").and_then(Value::as_u64),
    })
}

pub async fn delete(api: &Api<'_>, id: &str) -> Result<()> {
    let Some(path) = api.settings.services.filepost_delete_path.clone() else {
        return Err(
            check_command(ServiceKind::FilePost, &api.settings.services, "delete").unwrap_err(),
        );
    };
    let key = api.need_key()?;
    let what = format!("deleting {id}");
    let url = api.url(&path.replace("{id}", id));
    let resp = api
        .http
        .send(&what, true, None, || {
            Ok(api
                .http
                .client
                .delete(&url)
                .header("X-API-Key", key.expose()))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(crate::http::error_from_response(&what, resp).await.into());
    }
    Ok(())
}
