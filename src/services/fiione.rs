//! fii.one: uploads in the `image` field, a share page and a direct link, rename and delete.
//! The key goes in the Authorization header, never in `?key=` (URLs end up in logs).

use anyhow::Result;
use async_trait::async_trait;
use reqwest::multipart::Form;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use super::{
    Api, AuthScheme, Capabilities, Change, FileRecord, Lenient, ListQuery, Managed, Page, Service,
    ServiceConfig, UpdateCaps, Upload, UploadOptions, Uploaded, normalize_time,
};
use crate::error::{Failure, Kind};

pub const DEFAULT_BASE_URL: &str = "https://fii.one";

const NAME: &str = "fiione";

#[derive(Debug)]
pub struct FiiOne;

#[async_trait]
impl Service for FiiOne {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["fii.one", "fii"]
    }

    fn title(&self) -> &'static str {
        "fii.one"
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn capabilities(&self, _cfg: &ServiceConfig) -> Capabilities {
        Capabilities {
            list: true,
            update: Some(UpdateCaps {
                name: true,
                ..UpdateCaps::default()
            }),
            delete: true,
            info: true,
            auth: AuthScheme::Bearer { optional: false },
            ..Capabilities::BASIC
        }
    }

    async fn upload(
        &self,
        api: &Api<'_>,
        up: &Upload<'_>,
        _opts: &UploadOptions,
    ) -> Result<Uploaded> {
        api.need_key()?;
        let what = format!("uploading {}", up.name);
        let url = api.url("/api/v1/upload");
        let make = || {
            let part = up.part()?;
            let form = Form::new()
                .text("name", up.name.to_string())
                .part("image", part);
            Ok(api.request(Method::POST, &url).multipart(form))
        };
        let answer: WireFile = api
            .send_json(&what, up.retry(), Some(up.activity), make)
            .await?;
        let record = answer.into_record().ok_or_else(|| bad_answer(&what))?;
        Ok(Uploaded {
            record,
            token: None,
        })
    }

    /// A link is fetched as it is (the direct link); a key is looked up for its direct link.
    async fn download_url(&self, api: &Api<'_>, target: &str) -> Result<Url> {
        if super::is_link(target) {
            return super::parse_link(target);
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

    async fn list(&self, api: &Api<'_>, q: &ListQuery) -> Result<Page> {
        api.need_key()?;
        let limit = q.limit.unwrap_or(50).clamp(1, 100);
        let page = q.offset / limit + 1;
        let url = api.url("/api/v1/files");
        let query = [("page", page.to_string()), ("limit", limit.to_string())];
        let answer: WireList = api
            .send_json("listing files", true, None, || {
                Ok(api.request(Method::GET, &url).query(&query))
            })
            .await?;
        let total = answer
            .total
            .0
            .or(answer.count.0)
            .or_else(|| answer.pagination.and_then(|p| p.0).and_then(|p| p.total.0));
        let items = match answer.data {
            Some(WireData::Files(items)) => Some(items),
            Some(WireData::Page { files }) => files,
            _ => None,
        }
        .or(answer.files)
        .ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                "listing files: fii.one's answer has no list of files",
            )
        })?;
        let files: Vec<FileRecord> = items
            .into_iter()
            .filter_map(|i| i.0)
            .filter_map(WireFile::into_record)
            .collect();
        Ok(Page { files, total })
    }

    async fn info(&self, api: &Api<'_>, id: &str) -> Result<FileRecord> {
        info(api, id).await
    }

    async fn delete(&self, api: &Api<'_>, file: &Managed<'_>) -> Result<()> {
        let url = api.url(&format!("/api/v1/files/{}", file.key));
        super::delete_at(api, &format!("deleting {}", file.key), &url).await
    }

    /// Renames the file (the only change fii.one takes).
    async fn update(
        &self,
        api: &Api<'_>,
        file: &Managed<'_>,
        change: &Change<'_>,
    ) -> Result<FileRecord> {
        api.need_key()?;
        let id = file.key;
        let name = change.name.expect("checked: fii.one updates a name");
        let what = format!("renaming {id}");
        let url = api.url(&format!("/api/v1/files/{id}"));
        let body = json!({"name": name});
        let answer: WireFile = api
            .send_json(&what, true, None, || {
                Ok(api.request(Method::PATCH, &url).json(&body))
            })
            .await?;
        match answer.into_record() {
            Some(r) => Ok(r),
            None => info(api, id).await,
        }
    }
}

async fn info(api: &Api<'_>, id: &str) -> Result<FileRecord> {
    api.need_key()?;
    let what = format!("reading {id}");
    let url = api.url(&format!("/api/v1/files/{id}"));
    let answer: WireFile = api
        .send_json(&what, true, None, || Ok(api.request(Method::GET, &url)))
        .await?;
    answer.into_record().ok_or_else(|| bad_answer(&what))
}

fn bad_answer(what: &str) -> anyhow::Error {
    Failure::new(
        Kind::BadAnswer,
        format!("{what}: fii.one's answer has no file in it; the API may have changed"),
    )
    .into()
}

/// A file object (an answer's `data`, or an item of a list) as it comes over the wire.
#[derive(Debug, Deserialize)]
struct WireFile {
    #[serde(default)]
    data: Option<Box<Lenient<WireFile>>>,
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default)]
    direct_link: Lenient<String>,
    #[serde(default)]
    url: Lenient<String>,
    #[serde(default)]
    share_url: Lenient<String>,
    #[serde(default)]
    title: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
    #[serde(default)]
    size: Lenient<u64>,
    #[serde(default)]
    created_at: Lenient<String>,
}

impl WireFile {
    fn into_record(self) -> Option<FileRecord> {
        let f = match self.data {
            Some(inner) if inner.0.is_some() => inner.0.expect("checked"),
            _ => self,
        };
        let id = f.id.0?;
        let direct = f.direct_link.0.or(f.url.0);
        let link = f.share_url.0.or_else(|| direct.clone())?;
        Some(FileRecord {
            name: f.title.0.or(f.name.0),
            size: f.size.0,
            created: f.created_at.0.as_deref().and_then(normalize_time),
            direct_link: direct,
            ..FileRecord::new(NAME, id, link)
        })
    }
}

/// A page of files: the array in `data`, in `data.files`, or in `files`.
#[derive(Debug, Deserialize)]
struct WireList {
    #[serde(default)]
    data: Option<WireData>,
    #[serde(default)]
    files: Option<Vec<Lenient<WireFile>>>,
    #[serde(default)]
    total: Lenient<u64>,
    #[serde(default)]
    count: Lenient<u64>,
    #[serde(default)]
    pagination: Option<Lenient<WirePagination>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WireData {
    Files(Vec<Lenient<WireFile>>),
    Page {
        #[serde(default)]
        files: Option<Vec<Lenient<WireFile>>>,
    },
    Other(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct WirePagination {
    #[serde(default)]
    total: Lenient<u64>,
}
