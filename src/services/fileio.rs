//! The file.io dialect (v2, tolerating classic answers), spoken by file.io and every
//! compatible server such as `fileio serve`.

use anyhow::Result;
use reqwest::Url;
use reqwest::multipart::Form;
use serde_json::Value;

use super::{
    Api, FileRecord, ListQuery, Page, ServiceKind, Upload, UploadOptions, Uploaded, normalize_time,
};
use crate::error::{Failure, Kind};
use crate::http;

pub const DEFAULT_BASE_URL: &str = "https://file.io";

/// The fields of an upload or update, without a file.
pub fn fields_form(opts: &UploadOptions) -> Form {
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

pub async fn upload(api: &Api<'_>, up: &Upload<'_>, opts: &UploadOptions) -> Result<Uploaded> {
    let what = format!("uploading {}", up.name);
    let url = api.url("/");
    let make = || {
        // Fields come before the file so a server can check them before it reads the bytes.
        let form = fields_form(opts).part("file", up.part()?);
        Ok(api
            .auth(api.http.client.post(&url))
            .header("Accept", "application/json")
            .multipart(form))
    };
    let resp = api
        .http
        .send(&what, up.retry(), Some(up.activity), make)
        .await?;
    if !resp.status().is_success() {
        return Err(http::error_from_response(&what, resp).await.into());
    }
    let value = http::read_json(&what, resp).await?;
    Ok(Uploaded {
        record: parse_file(&value, &what)?,
        token: None,
    })
}

/// PATCH (keep what is not given) or, with `replace_all`, PUT (reset it; needs a file).
pub async fn update(
    api: &Api<'_>,
    file_key: &str,
    opts: &UploadOptions,
    file: Option<&Upload<'_>>,
    replace_all: bool,
) -> Result<FileRecord> {
    let key = api.need_key()?;
    let url = api.url(&format!("/{file_key}"));
    let what = format!("updating {file_key}");
    let activity = file.map(|f| f.activity);
    let v = api
        .http
        .send_json(&what, true, activity, || {
            let mut form = fields_form(opts);
            if let Some(f) = file {
                form = form.part("file", f.part()?);
            }
            let req = if replace_all {
                api.http.client.put(&url)
            } else {
                api.http.client.patch(&url)
            };
            Ok(req
                .bearer_auth(key.expose())
                .header("Accept", "application/json")
                .multipart(form))
        })
        .await?;
    parse_file(&v, &what)
}

pub async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    let key = api.need_key()?;
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
    let resp = api
        .http
        .send(what, true, None, || {
            Ok(api
                .http
                .client
                .get(&url)
                .query(&query)
                .bearer_auth(key.expose())
                .header("Accept", "application/json"))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(http::error_from_response(what, resp).await.into());
    }
    let page: WirePage = http::read_typed(what, resp).await?;
    let (files, total) = page.into_files(what)?;
    Ok(Page { files, total })
}

pub async fn delete(api: &Api<'_>, file_key: &str) -> Result<()> {
    let url = api.url(&format!("/{file_key}"));
    super::delete_at(api, &format!("deleting {file_key}"), &url).await
}

/// One file's details: file.io has no such call, so its owner's list is searched.
pub async fn info(api: &Api<'_>, file_key: &str) -> Result<FileRecord> {
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

pub async fn me(api: &Api<'_>) -> Result<Account> {
    let key = api.need_key()?;
    let url = api.url("/me");
    let v = super::call_json(api, "reading the account", || {
        Ok(api
            .http
            .client
            .get(&url)
            .bearer_auth(key.expose())
            .header("Accept", "application/json"))
    })
    .await?;
    Ok(parse_me(&v))
}

/// Reads a v2 FileDetails (or a classic `{success,key,link,expiry}`) answer.
pub fn parse_file(v: &Value, what: &str) -> Result<FileRecord> {
    if v.get("success").and_then(Value::as_bool) == Some(false) {
        let msg = v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the server reported a failure");
        return Err(Failure::new(Kind::BadAnswer, format!("{what}: {msg}")).into());
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    let (Some(key), Some(link)) = (s("key"), s("link")) else {
        return Err(Failure::new(
            Kind::BadAnswer,
            format!("{what}: the server's answer has no key or link; it does not look like the file.io API"),
        )
        .hint("check that --server and --service name a compatible server")
        .into());
    };
    Ok(FileRecord {
        name: s("name"),
        size: n("size"),
        expires: s("expires").as_deref().and_then(normalize_time),
        downloads: n("downloads"),
        max_downloads: n("maxDownloads"),
        auto_delete: v.get("autoDelete").and_then(Value::as_bool),
        created: s("created").as_deref().and_then(normalize_time),
        ..FileRecord::new(ServiceKind::FileIo, key, link)
    })
}

/// The URL of a key or of a link the service handed out.
pub fn download_url(base: &str, target: &str) -> Result<Url> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Url::parse(target).map_err(|e| {
            Failure::new(Kind::Usage, format!("invalid link '{target}': {e}")).into()
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_and_classic_answers() {
        let v2: Value = serde_json::from_str(
            r#"{"success":true,"status":200,"key":"Vv7QtVfMVBr2","link":"https://file.io/Vv7QtVfMVBr2",
            "name":"r.pdf","size":245810,"expires":"2026-12-06T10:00:00.000Z","downloads":0,
            "maxDownloads":1,"autoDelete":true,"created":"2026-11-22T10:00:00.000Z"}"#,
        )
        .unwrap();
        let r = parse_file(&v2, "upload").unwrap();
        assert_eq!(r.expires.as_deref(), Some("2026-12-06T10:00:00Z"));
        assert_eq!(
            (r.size, r.max_downloads, r.auto_delete),
            (Some(245810), Some(1), Some(true))
        );
        let classic: Value = serde_json::from_str(
            r#"{"success":true,"key":"2ojE41","link":"https://file.io/2ojE41","expiry":"14 days"}"#,
        )
        .unwrap();
        let r = parse_file(&classic, "upload").unwrap();
        assert_eq!((r.key.as_str(), r.expires), ("2ojE41", None));
        let failed: Value = serde_json::from_str(r#"{"success":false,"message":"nope"}"#).unwrap();
        assert!(
            parse_file(&failed, "upload")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
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

/// A value of the expected type, or `None` for anything else: a server that sends a size as
/// a string loses that field, not the whole page (as the untyped reading did).
#[derive(Debug, Default)]
struct Lenient<T>(Option<T>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Ok(T),
            Other(serde::de::IgnoredAny),
        }
        Ok(Lenient(match Either::<T>::deserialize(d)? {
            Either::Ok(v) => Some(v),
            Either::Other(_) => None,
        }))
    }
}

/// One file of a list page as it comes over the wire; fields not named are skipped unread.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFile {
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

/// A page of `GET /` (the caller's files) as it comes over the wire.
#[derive(Debug, serde::Deserialize)]
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
            .map(|n| {
                let (Some(key), Some(link)) = (n.key.0, n.link.0) else {
                    return Err(Failure::new(
                        Kind::BadAnswer,
                        format!("{what}: a file in the server's answer has no key or link; it does not look like the file.io API"),
                    )
                    .hint("check that --server and --service name a compatible server")
                    .into());
                };
                Ok(FileRecord {
                    name: n.name.0,
                    size: n.size.0,
                    expires: n.expires.0.as_deref().and_then(normalize_time),
                    downloads: n.downloads.0,
                    max_downloads: n.max_downloads.0,
                    auto_delete: n.auto_delete.0,
                    created: n.created.0.as_deref().and_then(normalize_time),
                    ..FileRecord::new(ServiceKind::FileIo, key, link)
                })
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

/// The account as `GET /me` reports it, in our field names.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Account {
    pub service: &'static str,
    pub plan: Option<Value>,
    pub max_upload_bytes: Option<u64>,
    pub max_storage_bytes: Option<u64>,
    pub used_storage_bytes: Option<u64>,
    pub rate_limit: Option<Value>,
}

impl Account {
    /// The plan as people read it: a name, or "id N" for a number the service does not
    /// explain; `None` when there is no plan to speak of (file.io-compatible servers,
    /// `fileio serve` too, answer `planId: 0` then, and "plan 0" tells a person nothing).
    pub fn plan_text(&self) -> Option<String> {
        match &self.plan {
            Some(Value::Number(n)) if n.as_u64() == Some(0) => None,
            Some(Value::Number(n)) => Some(format!("id {n}")),
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

pub fn parse_me(v: &Value) -> Account {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    // `fileio me` prints these values as they are: made inert here, where they arrive.
    let any = |k: &str| {
        v.get(k)
            .filter(|x| !x.is_null())
            .map(crate::terminal_text::inert_value)
    };
    Account {
        service: "fileio",
        plan: any("planId").or_else(|| any("plan")),
        max_upload_bytes: n("maxUploadBytes"),
        max_storage_bytes: n("maxStorageBytes"),
        used_storage_bytes: n("usedStorageBytes"),
        rate_limit: any("rateLimit"),
    }
}
