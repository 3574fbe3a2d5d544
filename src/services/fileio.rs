//! The file.io dialect (v2, tolerating classic answers), spoken by file.io and every
//! compatible server such as `fileio serve`.

use anyhow::Result;
use async_trait::async_trait;
use reqwest::multipart::Form;
use reqwest::{Method, Url};
use serde::Deserialize;

use super::{
    Account, Api, AuthScheme, Capabilities, Change, FileRecord, Lenient, ListQuery, Managed, Page,
    Service, ServiceConfig, UpdateCaps, Upload, UploadCaps, UploadOptions, Uploaded,
    normalize_time, shown_value,
};
use crate::error::{Failure, Kind};

pub const DEFAULT_BASE_URL: &str = "https://file.io";

const NAME: &str = "fileio";

/// file.io and every compatible server, `fileio serve` first among them.
#[derive(Debug)]
pub struct FileIo;

#[async_trait]
impl Service for FileIo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["file.io", "file"]
    }

    fn title(&self) -> &'static str {
        "file.io (and compatible servers, fileio serve)"
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn capabilities(&self, _cfg: &ServiceConfig) -> Capabilities {
        Capabilities {
            upload: UploadCaps {
                expires: true,
                max_downloads: true,
                auto_delete: true,
                secret_url: false,
            },
            list: true,
            list_searches: true,
            account: true,
            update: Some(UpdateCaps {
                expires: true,
                max_downloads: true,
                auto_delete: true,
                file: true,
                replace_all: true,
                ..UpdateCaps::default()
            }),
            delete: true,
            info: true,
            auth: AuthScheme::Bearer { optional: true },
            ..Capabilities::BASIC
        }
    }

    async fn upload(
        &self,
        api: &Api<'_>,
        up: &Upload<'_>,
        opts: &UploadOptions,
    ) -> Result<Uploaded> {
        // A large file goes up resumably where the server offers it (tus).
        if let Some(len) = super::tus::eligible(up, opts) {
            if let Some(endpoint) = super::tus::endpoint(api).await {
                return super::tus::upload(api, &endpoint, up, opts, len, WireFile::into_record)
                    .await;
            }
        }
        // A stream (standard input, a folder) too: it resumes within the run from what it
        // keeps of the bytes it sent.
        if super::tus::eligible_stream(up, opts) {
            if let Some(endpoint) = super::tus::endpoint(api).await {
                return super::tus::upload_stream(api, &endpoint, up, opts, WireFile::into_record)
                    .await;
            }
        }
        let what = format!("uploading {}", up.name);
        let url = api.url("/");
        let make = || {
            // Fields come before the file so a server can check them before it reads the bytes.
            let form = fields_form(opts).part("file", up.part()?);
            Ok(api
                .request(Method::POST, &url)
                .header("Accept", "application/json")
                .multipart(form))
        };
        let answer: WireFile = api
            .send_json(&what, up.retry(), Some(up.activity), make)
            .await?;
        Ok(Uploaded {
            record: answer.into_record(&what)?,
            token: None,
        })
    }

    async fn download_url(&self, api: &Api<'_>, target: &str) -> Result<Url> {
        download_url(api.base(), target)
    }

    async fn list(&self, api: &Api<'_>, q: &ListQuery) -> Result<Page> {
        list(api, q).await
    }

    /// One file's details: file.io has no such call, so its owner's list is searched.
    async fn info(&self, api: &Api<'_>, file_key: &str) -> Result<FileRecord> {
        let mut offset = 0;
        let mut pager = super::Pager::new(&format!("looking for {file_key}"));
        loop {
            let page = list(
                api,
                &ListQuery {
                    offset,
                    limit: Some(100),
                    ..ListQuery::default()
                },
            )
            .await?;
            let n = page.files.len() as u64;
            let files = pager.take(page.files)?;
            if let Some(f) = files.into_iter().find(|f| f.key == file_key) {
                return Ok(f);
            }
            offset += n;
            let done = n == 0 || page.total.is_some_and(|t| offset >= t);
            if !done {
                pager.check_more()?;
            }
            if done {
                return Err(Failure::new(
                    Kind::NotFound,
                    format!("no file with key {file_key} among your files"),
                )
                .hint("only your own files (uploaded with your API key) can be described")
                .into());
            }
        }
    }

    async fn me(&self, api: &Api<'_>) -> Result<Account> {
        me(api).await
    }

    async fn delete(&self, api: &Api<'_>, file: &Managed<'_>) -> Result<()> {
        let url = api.url(&format!("/{}", file.key));
        super::delete_at(api, &format!("deleting {}", file.key), &url).await
    }

    /// PATCH (keep what is not given) or, with `replace_all`, PUT (reset it; needs a file).
    async fn update(
        &self,
        api: &Api<'_>,
        file: &Managed<'_>,
        change: &Change<'_>,
    ) -> Result<FileRecord> {
        api.need_key()?;
        let file_key = file.key;
        let url = api.url(&format!("/{file_key}"));
        let what = format!("updating {file_key}");
        let opts = change.options();
        let activity = change.file.map(|f| f.activity);
        let method = if change.replace_all {
            Method::PUT
        } else {
            Method::PATCH
        };
        let answer: WireFile = api
            .send_json(&what, true, activity, || {
                let mut form = fields_form(&opts);
                if let Some(f) = change.file {
                    form = form.part("file", f.part()?);
                }
                Ok(api
                    .request(method.clone(), &url)
                    .header("Accept", "application/json")
                    .multipart(form))
            })
            .await?;
        answer.into_record(&what)
    }
}

/// The fields of an upload or update, without a file.
fn fields_form(opts: &UploadOptions) -> Form {
    let mut form = Form::new();
    if let Some(e) = &opts.expires {
        form = form.text("expires", e.to_fileio_param());
    }
    if let Some(n) = opts.max_downloads {
        form = form.text("maxDownloads", n.to_string());
    }
    if let Some(a) = opts.auto_delete {
        form = form.text("autoDelete", a.to_string());
    }
    form
}

async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    api.need_key()?;
    let what = "listing files";
    let mut query: Vec<(&str, String)> = vec![("offset", q.offset.to_string())];
    if let Some(l) = q.limit {
        query.push(("limit", l.to_string()));
    }
    if let Some(s) = &q.search {
        query.push(("search", s.clone()));
    }
    if let Some(s) = &q.sort {
        query.push(("sort", s.clone()));
    }
    let url = api.url("/");
    let page: WirePage = api
        .send_json(what, true, None, || {
            Ok(api
                .request(Method::GET, &url)
                .query(&query)
                .header("Accept", "application/json"))
        })
        .await?;
    let (files, total) = page.into_files(what)?;
    Ok(Page { files, total })
}

/// `GET /me`: the account, as file.io answers it (also how `auth login` checks a key).
pub(super) async fn me(api: &Api<'_>) -> Result<Account> {
    api.need_key()?;
    let url = api.url("/me");
    let answer: WireMe = api
        .send_json("reading the account", true, None, || {
            Ok(api
                .request(Method::GET, &url)
                .header("Accept", "application/json"))
        })
        .await?;
    Ok(answer.into_account())
}

/// The URL of a key or of a link the service handed out.
pub fn download_url(base: &str, target: &str) -> Result<Url> {
    if super::is_link(target) {
        return super::parse_link(target);
    }
    if target.is_empty()
        || !target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Failure::new(
            Kind::Usage,
            format!("'{target}' is neither a key nor a link"),
        )
        .hint("give the key (like Vv7QtVfMVBr2) or the whole link the upload printed")
        .into());
    }
    Url::parse(&format!("{base}/{target}"))
        .map_err(|e| Failure::new(Kind::Usage, format!("invalid server URL: {e}")).into())
}

/// A v2 FileDetails (an upload's or update's answer, or one file of a list page), or a
/// classic `{success,key,link,expiry}` answer, as it comes over the wire; fields not named
/// are skipped unread, and a field of the wrong type is lost alone ([`Lenient`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFile {
    #[serde(default)]
    success: Lenient<bool>,
    #[serde(default)]
    message: Lenient<String>,
    #[serde(default)]
    key: Lenient<String>,
    #[serde(default)]
    link: Lenient<String>,
    #[serde(default)]
    name: Lenient<String>,
    #[serde(default)]
    size: Lenient<u64>,
    #[serde(default)]
    expires: Lenient<String>,
    #[serde(default)]
    downloads: Lenient<u64>,
    #[serde(default)]
    max_downloads: Lenient<u64>,
    #[serde(default)]
    auto_delete: Lenient<bool>,
    #[serde(default)]
    created: Lenient<String>,
}

impl WireFile {
    fn into_record(self, what: &str) -> Result<FileRecord> {
        if self.success.0 == Some(false) {
            let msg = self
                .message
                .0
                .unwrap_or_else(|| "the server reported a failure".into());
            return Err(Failure::new(Kind::BadAnswer, format!("{what}: {msg}")).into());
        }
        let (Some(key), Some(link)) = (self.key.0, self.link.0) else {
            return Err(no_key_or_link(what, "the server's answer"));
        };
        Ok(FileRecord {
            name: self.name.0,
            size: self.size.0,
            expires: self.expires.0.as_deref().and_then(normalize_time),
            downloads: self.downloads.0,
            max_downloads: self.max_downloads.0,
            auto_delete: self.auto_delete.0,
            created: self.created.0.as_deref().and_then(normalize_time),
            ..FileRecord::new(NAME, key, link)
        })
    }
}

fn no_key_or_link(what: &str, whose: &str) -> anyhow::Error {
    Failure::new(
        Kind::BadAnswer,
        format!("{what}: {whose} has no key or link; it does not look like the file.io API"),
    )
    .hint("check that --server and --service name a compatible server")
    .into()
}

/// A page of `GET /` (the caller's files) as it comes over the wire.
#[derive(Debug, Deserialize)]
struct WirePage {
    #[serde(default)]
    success: Lenient<bool>,
    #[serde(default)]
    message: Lenient<String>,
    #[serde(default)]
    nodes: Option<Vec<WireFile>>,
    #[serde(default)]
    count: Lenient<u64>,
}

impl WirePage {
    /// The files, and how many match in all.
    fn into_files(self, what: &str) -> Result<(Vec<FileRecord>, Option<u64>)> {
        if self.success.0 == Some(false) {
            let msg = self
                .message
                .0
                .unwrap_or_else(|| "the server reported a failure".into());
            return Err(Failure::new(Kind::BadAnswer, format!("{what}: {msg}")).into());
        }
        let nodes = self.nodes.ok_or_else(|| {
            Failure::new(
                Kind::BadAnswer,
                format!("{what}: the server's answer has no list of files (nodes)"),
            )
            .hint("check that --server and --service name a compatible server")
        })?;
        let files = nodes
            .into_iter()
            .map(|mut n| {
                // A node's own `success` or `message` means nothing: only the page's does.
                n.success = Lenient(None);
                n.into_record(what)
                    .map_err(|_| no_key_or_link(what, "a file in the server's answer"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((files, self.count.0))
    }
}

/// A page of `GET /` read from its text (for tests and callers holding the bytes).
pub fn parse_list(body: &[u8], what: &str) -> Result<(Vec<FileRecord>, Option<u64>)> {
    let page: WirePage = serde_json::from_slice(body).map_err(|e| {
        Failure::new(
            Kind::BadAnswer,
            format!("{what}: the server's answer is not a list of files ({e})"),
        )
    })?;
    page.into_files(what)
}

/// `GET /me` as it comes over the wire.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMe {
    #[serde(default)]
    plan_id: Option<serde_json::Value>,
    #[serde(default)]
    plan: Option<serde_json::Value>,
    #[serde(default)]
    max_upload_bytes: Lenient<u64>,
    #[serde(default)]
    max_storage_bytes: Lenient<u64>,
    #[serde(default)]
    used_storage_bytes: Lenient<u64>,
    #[serde(default)]
    rate_limit: Option<serde_json::Value>,
}

impl WireMe {
    fn into_account(self) -> Account {
        Account {
            service: NAME,
            // `fileio me` prints these values as they are: made inert here, where they arrive.
            plan: shown_value(self.plan_id).or_else(|| shown_value(self.plan)),
            max_upload_bytes: self.max_upload_bytes.0,
            max_storage_bytes: self.max_storage_bytes.0,
            used_storage_bytes: self.used_storage_bytes.0,
            rate_limit: shown_value(self.rate_limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_file(body: &str, what: &str) -> Result<FileRecord> {
        serde_json::from_str::<WireFile>(body)
            .unwrap()
            .into_record(what)
    }

    #[test]
    fn reads_v2_and_classic_answers() {
        let r = parse_file(
            r#"{"success":true,"status":200,"key":"Vv7QtVfMVBr2","link":"https://file.io/Vv7QtVfMVBr2",
            "name":"r.pdf","size":245810,"expires":"2026-12-06T10:00:00.000Z","downloads":0,
            "maxDownloads":1,"autoDelete":true,"created":"2026-11-22T10:00:00.000Z"}"#,
            "upload",
        )
        .unwrap();
        assert_eq!(r.expires.as_deref(), Some("2026-12-06T10:00:00Z"));
        assert_eq!(
            (r.size, r.max_downloads, r.auto_delete),
            (Some(245810), Some(1), Some(true))
        );
        let r = parse_file(
            r#"{"success":true,"key":"2ojE41","link":"https://file.io/2ojE41","expiry":"14 days"}"#,
            "upload",
        )
        .unwrap();
        assert_eq!((r.key.as_str(), r.expires), ("2ojE41", None));
        assert!(
            parse_file(r#"{"success":false,"message":"nope"}"#, "upload")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
        // A size sent as a string loses the size, not the answer.
        let r = parse_file(r#"{"key":"k","link":"https://x.test/k","size":"12"}"#, "u").unwrap();
        assert_eq!(r.size, None);
    }

    #[test]
    fn reads_an_account_with_a_plan_id_or_name() {
        let me: WireMe = serde_json::from_str(
            r#"{"success":true,"planId":0,"maxUploadBytes":100,"usedStorageBytes":1,"rateLimit":null}"#,
        )
        .unwrap();
        let a = me.into_account();
        assert_eq!(a.plan, Some(serde_json::json!(0)));
        assert_eq!(a.plan_text(), None);
        assert_eq!((a.max_upload_bytes, a.rate_limit), (Some(100), None));
        let me: WireMe = serde_json::from_str(r#"{"plan":"pro"}"#).unwrap();
        assert_eq!(me.into_account().plan_text().as_deref(), Some("pro"));
    }

    #[test]
    fn keys_and_links() {
        assert_eq!(
            download_url("http://h:1", "abc123").unwrap().as_str(),
            "http://h:1/abc123"
        );
        assert_eq!(
            download_url("http://h:1", "https://x.test/k")
                .unwrap()
                .as_str(),
            "https://x.test/k"
        );
        assert!(download_url("http://h:1", "../etc/passwd").is_err());
        assert!(download_url("http://h:1", "").is_err());
    }
}
