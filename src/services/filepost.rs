//! FilePost: `X-API-Key` uploads to permanent CDN URLs. Its list and delete paths are not
//! published: they work once set in the config file (`[services] filepost-list-path`,
//! `filepost-delete-path`), and are reported as unsupported until then.

use anyhow::Result;
use async_trait::async_trait;
use reqwest::multipart::Form;
use reqwest::{Method, Url};
use serde::Deserialize;

use super::{
    Api, AuthScheme, Capabilities, FileRecord, Lenient, ListQuery, Managed, Page, Service,
    ServiceConfig, Upload, UploadOptions, Uploaded, unsupported_command,
};
use crate::error::{Failure, Kind};

pub const DEFAULT_BASE_URL: &str = "https://filepost.dev";

const NAME: &str = "filepost";

#[derive(Debug)]
pub struct FilePost;

#[async_trait]
impl Service for FilePost {
    fn name(&self) -> &'static str {
        NAME
    }

    fn title(&self) -> &'static str {
        "FilePost"
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn capabilities(&self, cfg: &ServiceConfig) -> Capabilities {
        Capabilities {
            list: cfg.filepost_list_path.is_some(),
            delete: cfg.filepost_delete_path.is_some(),
            auth: AuthScheme::Header("X-API-Key"),
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
        let url = api.url("/v1/upload");
        let make = || {
            let part = up.part()?;
            Ok(api
                .request(Method::POST, &url)
                .multipart(Form::new().part("file", part)))
        };
        let answer: WireFile = api
            .send_json(&what, up.retry(), Some(up.activity), make)
            .await?;
        let mut record = answer.into_record().ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                format!(
                    "{what}: FilePost's answer has no file_id or url; the API may have changed"
                ),
            )
        })?;
        record.name.get_or_insert_with(|| up.name.to_string());
        Ok(Uploaded {
            record,
            token: None,
        })
    }

    /// FilePost's links are CDN URLs that cannot be rebuilt from an id.
    async fn download_url(&self, _api: &Api<'_>, target: &str) -> Result<Url> {
        if super::is_link(target) {
            return super::parse_link(target);
        }
        Err(Failure::new(
            Kind::Usage,
            "FilePost files are downloaded by their link, not their id",
        )
        .hint("give the whole URL the upload printed (see `fileio history`)")
        .into())
    }

    async fn list(&self, api: &Api<'_>, q: &ListQuery) -> Result<Page> {
        let Some(path) = api.config.filepost_list_path.clone() else {
            return Err(unsupported_command(api.service, api.config, "list").into());
        };
        api.need_key()?;
        let url = api.url(&path);
        let mut query = vec![("offset", q.offset.to_string())];
        if let Some(l) = q.limit {
            query.push(("limit", l.to_string()));
        }
        let answer: WireList = api
            .send_json("listing files", true, None, || {
                Ok(api.request(Method::GET, &url).query(&query))
            })
            .await?;
        let (items, total) = match answer {
            WireList::Bare(items) => (Some(items), None),
            WireList::Page(p) => (p.files.or(p.data), p.total.0),
        };
        let items = items.ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                "listing files: FilePost's answer has no list of files",
            )
        })?;
        Ok(Page {
            files: items
                .into_iter()
                .filter_map(|i| i.0)
                .filter_map(WireFile::into_record)
                .collect(),
            total,
        })
    }

    async fn delete(&self, api: &Api<'_>, file: &Managed<'_>) -> Result<()> {
        let Some(path) = api.config.filepost_delete_path.clone() else {
            return Err(unsupported_command(api.service, api.config, "delete").into());
        };
        api.need_key()?;
        let url = api.url(&path.replace("{id}", file.key));
        super::delete_at(api, &format!("deleting {}", file.key), &url).await
    }
}

/// A file as it comes over the wire: `file_id` and `url` are always there; `name`, `size`
/// and `content_type` only in newer answers.
#[derive(Debug, Deserialize)]
struct WireFile {
    #[serde(default)]
    file_id: Lenient<String>,
    #[serde(default)]
    id: Lenient<String>,
    #[serde(default)]
    url: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
    #[serde(default)]
    size: Lenient<u64>,
}

impl WireFile {
    fn into_record(self) -> Option<FileRecord> {
        let id = self.file_id.0.or(self.id.0)?;
        let url = self.url.0?;
        Some(FileRecord {
            name: self.name.0,
            size: self.size.0,
            ..FileRecord::new(NAME, id, url)
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
}
