//! fii.one: uploads in the `image` field, a share page and a direct link, rename and delete.
//! The key goes in the Authorization header, never in `?key=` (URLs end up in logs).

use anyhow::Result;
use reqwest::Url;
use reqwest::multipart::Form;
use serde_json::{Value, json};

use super::{Api, FileRecord, ListQuery, Page, ServiceKind, Upload, Uploaded, normalize_time};
use crate::error::{Failure, Kind};

pub const DEFAULT_BASE_URL: &str = "https://fii.one";

/// A file object (`data` of an answer, or an item of a list).
fn record_from(v: &Value) -> Option<FileRecord> {
    let v = v.get("data").filter(|d| d.is_object()).unwrap_or(v);
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = s("id")?;
    let direct = s("direct_link").or_else(|| s("url"));
    let link = s("share_url").or_else(|| direct.clone())?;
    Some(FileRecord {
        name: s("title").or_else(|| s("name")),
        size: v.get("size").and_then(Value::as_u64),
        created: s("created_at").as_deref().and_then(normalize_time),
        direct_link: direct,
        ..FileRecord::new(ServiceKind::FiiOne, id, link)
    })
}

fn bad_answer(what: &str) -> anyhow::Error {
    Failure::new(
        Kind::BadAnswer,
        format!("{what}: fii.one's answer has no file in it; the API may have changed"),
    )
    .into()
}

pub async fn upload(api: &Api<'_>, up: &Upload<'_>) -> Result<Uploaded> {
    let key = api.need_key()?;
    let what = format!("uploading {}", up.name);
    let url = api.url("/api/v1/upload");
    let make = || {
        let part = up.part()?;
        let form = Form::new()
            .text("name", up.name.to_string())
            .part("image", part);
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
        .await?;
    let record = record_from(&v).ok_or_else(|| bad_answer(&what))?;
    Ok(Uploaded {
        record,
        token: None,
    })
}

pub async fn info(api: &Api<'_>, id: &str) -> Result<FileRecord> {
    let key = api.need_key()?;
    let what = format!("reading {id}");
    let url = api.url(&format!("/api/v1/files/{id}"));
    let v = super::call_json(api, &what, || {
        Ok(api.http.client.get(&url).bearer_auth(key.expose()))
    })
    .await?;
    record_from(&v).ok_or_else(|| bad_answer(&what))
}

/// A link is fetched as it is (the direct link); a key is looked up for its direct link.
pub async fn download_url(api: &Api<'_>, target: &str) -> Result<Url> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Url::parse(target).map_err(|e| {
            Failure::new(Kind::Usage, format!("invalid link '{target}': {e}")).into()
        });
    }
    let id = super::key_of(target)?;
    let record = info(api, &id).await?;
    let direct = record.direct_link.unwrap_or(record.link);
    Url::parse(&direct).map_err(|e| {
        Failure::new(
            Kind::BadAnswer,
            format!("fii.one gave an invalid link '{direct}': {e}"),
        )
        .into()
    })
}

pub async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    let key = api.need_key()?;
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let page = q.offset / limit + 1;
    let url = api.url("/api/v1/files");
    let query = [("page", page.to_string()), ("limit", limit.to_string())];
    let v = super::call_json(api, "listing files", || {
        Ok(api
            .http
            .client
            .get(&url)
            .query(&query)
            .bearer_auth(key.expose()))
    })
    .await?;
    let items = v
        .get("data")
        .and_then(|d| {
            d.as_array()
                .or_else(|| d.get("files").and_then(Value::as_array))
        })
        .or_else(|| v.get("files").and_then(Value::as_array))
        .ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                "listing files: fii.one's answer has no list of files",
            )
        })?;
    let files: Vec<FileRecord> = items.iter().filter_map(record_from).collect();
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

pub async fn rename(api: &Api<'_>, id: &str, name: &str) -> Result<FileRecord> {
    let key = api.need_key()?;
    let what = format!("renaming {id}");
    let url = api.url(&format!("/api/v1/files/{id}"));
    let body = json!({"name": name});
    let v = super::call_json(api, &what, || {
        Ok(api
            .http
            .client
            .patch(&url)
            .bearer_auth(key.expose())
            .json(&body))
    })
    .await?;
    match record_from(&v) {
        Some(r) => Ok(r),
        None => info(api, id).await,
    }
}

pub async fn delete(api: &Api<'_>, id: &str) -> Result<()> {
    let url = api.url(&format!("/api/v1/files/{id}"));
    super::delete_at(api, &format!("deleting {id}"), &url).await
}
