//! The services fileio speaks, one module each, behind one normalized view of a file.
//!
//! Commands call the functions here; each dispatches to the service's module. What a
//! service cannot do is a usage error naming the service and what it supports, raised
//! before anything is sent.

pub mod fiione;
pub mod fileio;
pub mod filepost;
pub mod fileshot;
pub mod zerox0;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::Result;
use indicatif::ProgressBar;
use reqwest::multipart::Part;
use reqwest::{Body, RequestBuilder, Url};
use serde::{Deserialize, Serialize};

use crate::activity::Activity;
use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::http::Http;
use crate::secret::Secret;

pub use fileio::Account;

/// Which dialect to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// file.io and every compatible server, `fileio serve` first among them.
    FileIo,
    FileShot,
    FiiOne,
    FilePost,
    /// 0x0.st ("The Null Pointer") and self-hosted copies.
    ZeroX0,
}

/// What a service can do, for `fileio services` and for refusing what it cannot.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Capabilities {
    pub expires: bool,
    pub max_downloads: bool,
    pub auto_delete: bool,
    pub secret_url: bool,
    pub name: bool,
    pub list: bool,
    pub account: bool,
    pub update: &'static str,
    pub delete: bool,
    pub info: bool,
    pub resumable: bool,
    pub auth: &'static str,
}

impl ServiceKind {
    pub const ALL: &'static [ServiceKind] = &[
        ServiceKind::FileIo,
        ServiceKind::FileShot,
        ServiceKind::FiiOne,
        ServiceKind::FilePost,
        ServiceKind::ZeroX0,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::FileIo => "fileio",
            ServiceKind::FileShot => "fileshot",
            ServiceKind::FiiOne => "fiione",
            ServiceKind::FilePost => "filepost",
            ServiceKind::ZeroX0 => "0x0",
        }
    }

    /// The name people know it by.
    pub fn title(self) -> &'static str {
        match self {
            ServiceKind::FileIo => "file.io (and compatible servers, fileio serve)",
            ServiceKind::FileShot => "FileShot",
            ServiceKind::FiiOne => "fii.one",
            ServiceKind::FilePost => "FilePost",
            ServiceKind::ZeroX0 => "0x0.st (The Null Pointer)",
        }
    }

    /// The public instance, used when neither `--server` nor the config names one.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ServiceKind::FileIo => fileio::DEFAULT_BASE_URL,
            ServiceKind::FileShot => fileshot::DEFAULT_BASE_URL,
            ServiceKind::FiiOne => fiione::DEFAULT_BASE_URL,
            ServiceKind::FilePost => filepost::DEFAULT_BASE_URL,
            ServiceKind::ZeroX0 => zerox0::DEFAULT_BASE_URL,
        }
    }

    pub fn capabilities(self, cfg: &ServiceConfig) -> Capabilities {
        let base = Capabilities {
            expires: false,
            max_downloads: false,
            auto_delete: false,
            secret_url: false,
            name: true,
            list: false,
            account: false,
            update: "-",
            delete: false,
            info: false,
            resumable: false,
            auth: "none",
        };
        match self {
            ServiceKind::FileIo => Capabilities {
                expires: true,
                max_downloads: true,
                auto_delete: true,
                list: true,
                account: true,
                update: "expiry, downloads, contents",
                delete: true,
                info: true,
                auth: "Bearer (optional for upload/download)",
                ..base
            },
            ServiceKind::FileShot => Capabilities {
                expires: true,
                list: true,
                account: true,
                delete: true,
                info: true,
                resumable: true,
                auth: "Bearer",
                ..base
            },
            ServiceKind::FiiOne => Capabilities {
                list: true,
                update: "name",
                delete: true,
                info: true,
                auth: "Bearer",
                ..base
            },
            ServiceKind::FilePost => Capabilities {
                list: cfg.filepost_list_path.is_some(),
                delete: cfg.filepost_delete_path.is_some(),
                auth: "X-API-Key",
                ..base
            },
            ServiceKind::ZeroX0 => Capabilities {
                expires: true,
                secret_url: true,
                update: "expiry (token)",
                delete: true,
                ..base
            },
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceKind {
    type Err = Failure;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace(['.', '-', '_'], "");
        let wanted = match wanted.as_str() {
            "fileio" | "file" => "fileio",
            "0x0" | "0x0st" | "nullpointer" => "0x0",
            "fiione" | "fii" => "fiione",
            other => other,
        }
        .to_string();
        ServiceKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = ServiceKind::ALL.iter().map(|k| k.name()).collect();
                Failure::new(Kind::Usage, format!("unknown service '{s}'"))
                    .hint(format!("services: {}", names.join(", ")))
            })
    }
}

/// The uncertain details of each service, overridable in the config file under
/// `[services.<name>]` so users can follow an API change without a new release.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceConfig {
    /// FileShot's chunk protocol: "init" (the public docs) or "pre-upload" (the vendor's client).
    pub fileshot_chunk_protocol: Option<String>,
    /// FileShot's list path: "/api/files" (docs) or "/api/files/my-files" (vendor client).
    pub fileshot_list_path: Option<String>,
    /// Files at least this large go up in chunks (default 100MB).
    pub fileshot_chunk_threshold: Option<String>,
    /// FilePost's list path (unpublished: not supported until set).
    pub filepost_list_path: Option<String>,
    /// FilePost's delete path, with `{id}` for the file id (unpublished).
    pub filepost_delete_path: Option<String>,
}

/// What every call to a service needs.
pub struct Api<'a> {
    pub http: &'a Http,
    pub settings: &'a Settings,
    pub key: Option<&'a Secret>,
}

impl Api<'_> {
    pub fn kind(&self) -> ServiceKind {
        self.settings.service
    }

    pub fn base(&self) -> &str {
        &self.settings.server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.server)
    }

    /// The key, for a call that cannot work without one.
    pub fn need_key(&self) -> Result<&Secret> {
        self.key
            .ok_or_else(|| crate::credentials::missing_key(&self.settings.server).into())
    }

    /// Adds the service's kind of authentication, when there is a key.
    pub fn auth(&self, req: RequestBuilder) -> RequestBuilder {
        match (self.key, self.kind()) {
            (None, _) | (_, ServiceKind::ZeroX0) => req,
            (Some(k), ServiceKind::FilePost) => req.header("X-API-Key", k.expose()),
            (Some(k), _) => req.bearer_auth(k.expose()),
        }
    }
}

/// What an upload asks of the service besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub expires: Option<Expires>,
    pub max_downloads: Option<u32>,
    pub auto_delete: Option<bool>,
    pub secret: bool,
}

/// One file to send. `body` makes a fresh body for each try (a file is re-opened).
pub struct Upload<'a> {
    pub name: &'a str,
    pub len: Option<u64>,
    /// The file itself, where there is one (chunked uploads read it piece by piece).
    pub path: Option<&'a Path>,
    pub body: &'a (dyn Fn() -> Result<Body> + Sync),
    pub replayable: bool,
    pub activity: &'a Activity,
    pub bar: &'a ProgressBar,
    /// How many pieces may be in flight at once (FileShot's chunks).
    pub jobs: usize,
}

impl Upload<'_> {
    /// How the upload that creates the file may be retried: only where no second copy can
    /// result ([`Retry::IfNotStored`]), and never for a body that cannot be read twice.
    pub fn retry(&self) -> crate::http::Retry {
        if self.replayable {
            crate::http::Retry::IfNotStored
        } else {
            crate::http::Retry::Never
        }
    }

    /// The file as a multipart part, from a fresh body; the bar restarts, as a retry does.
    pub fn part(&self) -> Result<Part> {
        self.bar.set_position(0);
        let body = (self.body)()?;
        let part = match self.len {
            // With a length the whole body gets a Content-Length, which many servers require.
            Some(len) => Part::stream_with_length(body, len),
            None => Part::stream(body),
        };
        Ok(part
            .file_name(self.name.to_string())
            .mime_str("application/octet-stream")?)
    }
}

/// DELETE with the service's authentication; any 2xx is success.
pub async fn delete_at(api: &Api<'_>, what: &str, url: &str) -> Result<()> {
    api.need_key()?;
    let resp = api
        .http
        .send(what, true, None, || {
            Ok(api.auth(api.http.client.delete(url)))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(crate::http::error_from_response(what, resp).await.into());
    }
    Ok(())
}

/// A finished upload: the file, and the management token a service handed out, if any.
pub struct Uploaded {
    pub record: FileRecord,
    pub token: Option<Secret>,
}

/// A usage error for an option the service does not support.
pub fn unsupported(kind: ServiceKind, what: &str, supports: &str) -> Failure {
    Failure::new(
        Kind::Usage,
        format!("{} does not support {what}", kind.title()),
    )
    .hint(format!("{} supports: {supports}", kind.name()))
    .hint("see `fileio services` for what each service can do")
}

/// Refuses, before anything is sent, upload options the service cannot honour.
pub fn check_upload(kind: ServiceKind, opts: &UploadOptions, cfg: &ServiceConfig) -> Result<()> {
    let caps = kind.capabilities(cfg);
    let supports = upload_supports(&caps);
    if opts.expires.is_some() && !caps.expires {
        return Err(unsupported(kind, "an expiry (--expires)", &supports).into());
    }
    if opts.max_downloads.is_some() && !caps.max_downloads {
        return Err(unsupported(kind, "a download limit (--max-downloads)", &supports).into());
    }
    if opts.auto_delete.is_some() && !caps.auto_delete {
        return Err(unsupported(
            kind,
            "keeping files after their last download (--no-auto-delete)",
            &supports,
        )
        .into());
    }
    if opts.secret && !caps.secret_url {
        return Err(unsupported(kind, "secret URLs (--secret)", &supports).into());
    }
    if kind == ServiceKind::FileShot {
        if let Some(e) = &opts.expires {
            fileshot::expiry_days(e)?;
        }
    }
    Ok(())
}

fn upload_supports(c: &Capabilities) -> String {
    let mut v = vec!["--name"];
    if c.expires {
        v.push("--expires");
    }
    if c.max_downloads {
        v.push("--max-downloads");
    }
    if c.auto_delete {
        v.push("--no-auto-delete");
    }
    if c.secret_url {
        v.push("--secret");
    }
    v.join(", ")
}

/// Refuses a command the service has no call for.
pub fn check_command(kind: ServiceKind, cfg: &ServiceConfig, command: &str) -> Result<()> {
    let c = kind.capabilities(cfg);
    let ok = match command {
        "list" => c.list,
        "me" => c.account,
        "delete" => c.delete,
        "info" => c.info,
        "update" => c.update != "-",
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let mut can = vec!["upload", "download"];
    for (name, yes) in [
        ("list", c.list),
        ("me", c.account),
        ("update", c.update != "-"),
        ("delete", c.delete),
        ("info", c.info),
    ] {
        if yes {
            can.push(name);
        }
    }
    Err(unsupported(kind, &format!("`fileio {command}`"), &can.join(", ")).into())
}

/// Sends one file.
pub async fn upload(api: &Api<'_>, up: &Upload<'_>, opts: &UploadOptions) -> Result<Uploaded> {
    match api.kind() {
        ServiceKind::FileIo => fileio::upload(api, up, opts).await,
        ServiceKind::FileShot => fileshot::upload(api, up, opts).await,
        ServiceKind::FiiOne => fiione::upload(api, up).await,
        ServiceKind::FilePost => filepost::upload(api, up).await,
        ServiceKind::ZeroX0 => zerox0::upload(api, up, opts).await,
    }
}

/// Whether the service needs the length before the bytes (standard input is spooled first).
pub fn needs_length(kind: ServiceKind) -> bool {
    kind == ServiceKind::FileShot
}

/// Where to GET a key or link.
pub async fn download_url(api: &Api<'_>, target: &str) -> Result<Url> {
    match api.kind() {
        ServiceKind::FileIo => fileio::download_url(api.base(), target),
        ServiceKind::FileShot => fileshot::download_url(api, target),
        ServiceKind::FiiOne => fiione::download_url(api, target).await,
        ServiceKind::FilePost => filepost::download_url(target),
        ServiceKind::ZeroX0 => zerox0::download_url(api.base(), target),
    }
}

/// How many pages one listing or lookup follows at most (100 files a page: 100,000 files),
/// unless `FILEIO_MAX_PAGES` (undocumented, for tests) says otherwise.
pub const MAX_PAGES: u32 = 1000;

/// Follows pages safely: a server that ignores the offset (the same page again) or never
/// stops cannot make a listing loop forever or grow without bound.
pub struct Pager {
    what: String,
    seen: std::collections::HashSet<String>,
    pages: u32,
    max: u32,
}

impl Pager {
    pub fn new(what: &str) -> Pager {
        let max = std::env::var("FILEIO_MAX_PAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(MAX_PAGES);
        Pager {
            what: what.to_string(),
            seen: Default::default(),
            pages: 0,
            max,
        }
    }

    /// The files of the next page not seen on an earlier one. A page that brings nothing
    /// new, or one page too many, is an error: the server is not paging as it says.
    pub fn take(&mut self, files: Vec<FileRecord>) -> Result<Vec<FileRecord>> {
        self.pages += 1;
        let got = files.len();
        let new: Vec<FileRecord> = files
            .into_iter()
            .filter(|f| self.seen.insert(f.key.clone()))
            .collect();
        if got > 0 && new.is_empty() {
            return Err(Failure::new(
                Kind::BadAnswer,
                format!(
                    "{}: page {} brought only files already listed; the server does not page as it says",
                    self.what, self.pages
                ),
            )
            .hint("list one page at a time with --offset and --limit")
            .into());
        }
        Ok(new)
    }

    /// Whether another page may be fetched; an error once the bound is reached (pages, or
    /// files: 100 a page, however large the server makes its pages).
    pub fn check_more(&self) -> Result<()> {
        if self.pages >= self.max || self.seen.len() >= self.max as usize * 100 {
            return Err(Failure::new(
                Kind::BadAnswer,
                format!(
                    "{}: stopped after {} pages ({} files) and the server still says there are more",
                    self.what,
                    self.pages,
                    self.seen.len()
                ),
            )
            .hint("list one page at a time with --offset and --limit")
            .into());
        }
        Ok(())
    }
}

/// A page of the caller's files.
pub struct Page {
    pub files: Vec<FileRecord>,
    /// How many files match in all, when the service says.
    pub total: Option<u64>,
}

/// What `fileio list` asks for. Only file.io-compatible servers search and sort themselves;
/// for the others `fileio list` does it over the pages it fetched.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub search: Option<String>,
    pub sort: Option<String>,
    pub offset: u64,
    pub limit: Option<u64>,
}

pub async fn list(api: &Api<'_>, q: &ListQuery) -> Result<Page> {
    match api.kind() {
        ServiceKind::FileIo => fileio::list(api, q).await,
        ServiceKind::FileShot => fileshot::list(api, q).await,
        ServiceKind::FiiOne => fiione::list(api, q).await,
        ServiceKind::FilePost => filepost::list(api, q).await,
        ServiceKind::ZeroX0 => {
            Err(check_command(ServiceKind::ZeroX0, &api.settings.services, "list").unwrap_err())
        }
    }
}

/// Deletes a file: `key` for the services that name files by id, `target` (the link, where
/// one is known) and the management token for 0x0, whose files are managed at their URL.
pub async fn delete(api: &Api<'_>, key: &str, target: &str, token: Option<&Secret>) -> Result<()> {
    match api.kind() {
        ServiceKind::FileIo => fileio::delete(api, key).await,
        ServiceKind::FileShot => fileshot::delete(api, key).await,
        ServiceKind::FiiOne => fiione::delete(api, key).await,
        ServiceKind::FilePost => filepost::delete(api, key).await,
        ServiceKind::ZeroX0 => zerox0::delete(api, target, token).await,
    }
}

pub async fn info(api: &Api<'_>, key: &str) -> Result<FileRecord> {
    match api.kind() {
        ServiceKind::FileIo => fileio::info(api, key).await,
        ServiceKind::FileShot => fileshot::info(api, key).await,
        ServiceKind::FiiOne => fiione::info(api, key).await,
        k => Err(check_command(k, &api.settings.services, "info").unwrap_err()),
    }
}

pub async fn me(api: &Api<'_>) -> Result<Account> {
    match api.kind() {
        ServiceKind::FileIo => fileio::me(api).await,
        ServiceKind::FileShot => fileshot::me(api).await,
        k => Err(check_command(k, &api.settings.services, "me").unwrap_err()),
    }
}

/// One file as every service is reported: the same fields whatever the service, with what a
/// service does not say left null.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileRecord {
    pub service: &'static str,
    pub key: String,
    pub link: String,
    pub name: Option<String>,
    pub size: Option<u64>,
    /// RFC 3339, UTC.
    pub expires: Option<String>,
    pub downloads: Option<u64>,
    pub max_downloads: Option<u64>,
    pub auto_delete: Option<bool>,
    /// RFC 3339, UTC.
    pub created: Option<String>,
    /// A direct link to the bytes where the service gives one apart from `link` (fii.one).
    pub direct_link: Option<String>,
}

impl FileRecord {
    pub fn new(service: ServiceKind, key: String, link: String) -> FileRecord {
        FileRecord {
            service: service.name(),
            key,
            link,
            name: None,
            size: None,
            expires: None,
            downloads: None,
            max_downloads: None,
            auto_delete: None,
            created: None,
            direct_link: None,
        }
    }
}

/// A service's timestamp in our one form, `2026-12-06T10:00:00Z`; `None` when unreadable.
pub fn normalize_time(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Epoch milliseconds (possibly fractional, as 0x0 sends them) in our one form.
pub fn epoch_ms_to_time(ms: f64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(ms as i64)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The last non-empty path segment of a link, or the key itself.
pub fn key_of(target: &str) -> Result<String> {
    if target.starts_with("http://") || target.starts_with("https://") {
        let url = Url::parse(target)
            .map_err(|e| Failure::new(Kind::Usage, format!("invalid link '{target}': {e}")))?;
        return url
            .path_segments()
            .and_then(|mut s| s.rfind(|x| !x.is_empty()).map(str::to_owned))
            .ok_or_else(|| {
                Failure::new(Kind::Usage, format!("'{target}' has no key in it")).into()
            });
    }
    if target.is_empty()
        || !target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || target.starts_with('.')
    {
        return Err(Failure::new(
            Kind::Usage,
            format!("'{target}' is neither a key nor a link"),
        )
        .hint("give the key (like Vv7QtVfMVBr2) or the whole link the upload printed")
        .into());
    }
    Ok(target.to_string())
}

/// Reads a JSON answer of a call, with the error handling every service shares.
pub async fn call_json(
    api: &Api<'_>,
    what: &str,
    make: impl FnMut() -> Result<RequestBuilder>,
) -> Result<serde_json::Value> {
    api.http.send_json(what, true, None, make).await
}
