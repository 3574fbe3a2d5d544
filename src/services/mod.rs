//! The services fileio speaks: one file each, behind the one [`Service`] trait, listed once
//! in [`SERVICES`].
//!
//! A service's file holds its wire structs (what its answers look like), its capabilities,
//! its auth scheme and every operation it supports. What it lacks comes from the trait's
//! default methods: the usage error naming the service and what it supports. Commands only
//! ever see `&dyn Service`, so adding a service is one file here, one line in [`SERVICES`],
//! its emulator and its tests.

pub mod fiione;
pub mod fileio;
pub mod filepost;
pub mod fileshot;
pub mod tus;
pub mod zerox0;

use std::fmt;

use anyhow::Result;
use async_trait::async_trait;
use indicatif::ProgressBar;
use reqwest::multipart::Part;
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::Deserialize;

use crate::activity::Activity;
use crate::body::Source;
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::http::{Http, Retry};
use crate::secret::Secret;

pub use crate::record::{Account, FileRecord, epoch_ms_to_time, normalize_time};

/// Every service, in the order `fileio services` lists them; the first is the default.
pub static SERVICES: &[&dyn Service] = &[
    &fileio::FileIo,
    &fileshot::FileShot,
    &fiione::FiiOne,
    &filepost::FilePost,
    &zerox0::ZeroX0,
];

/// The default service: file.io and every compatible server.
pub fn default_service() -> &'static dyn Service {
    SERVICES[0]
}

/// The service `--service` names, by its name or one of its aliases, in any case and with
/// or without dots and dashes (`file.io`, `0x0.st`).
pub fn find(name: &str) -> Result<&'static dyn Service, Failure> {
    let wanted = normal(name);
    SERVICES
        .iter()
        .copied()
        .find(|s| normal(s.name()) == wanted || s.aliases().iter().any(|a| normal(a) == wanted))
        .ok_or_else(|| {
            Failure::new(Kind::Usage, format!("unknown service '{name}'"))
                .hint(format!("services: {}", names().join(", ")))
        })
}

fn normal(name: &str) -> String {
    name.trim()
        .to_ascii_lowercase()
        .replace(['.', '-', '_'], "")
}

/// The services' names, as `--service` takes and completes them.
pub fn names() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name()).collect()
}

/// The help text of `--service`, from the registry.
pub fn service_help() -> String {
    let names = names();
    let (first, rest) = names.split_first().expect("at least one service");
    let (last, middle) = rest.split_last().expect("more than one service");
    format!(
        "Service to talk to: {first} (the default: file.io and compatible servers), {} or {last}; `fileio services` says what each can do",
        middle.join(", ")
    )
}

/// The uncertain details of each service, overridable in the config file under
/// `[services]` so users can follow an API change without a new release.
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

/// How a service takes the account's API key. [`Api::request`] is the one place it is
/// attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// No account keys (0x0: each file has its own management token instead).
    None,
    /// `Authorization: Bearer KEY`; `optional` when uploads and downloads work without one.
    Bearer { optional: bool },
    /// The key as the value of this header.
    Header(&'static str),
}

impl AuthScheme {
    /// Adds `key` to `req` the service's way.
    pub fn apply(self, req: RequestBuilder, key: Option<&Secret>) -> RequestBuilder {
        match (self, key) {
            (AuthScheme::None, _) | (_, None) => req,
            (AuthScheme::Bearer { .. }, Some(k)) => req.bearer_auth(k.expose()),
            (AuthScheme::Header(name), Some(k)) => req.header(name, k.expose()),
        }
    }

    /// As `fileio services` shows it.
    pub fn describe(self) -> &'static str {
        match self {
            AuthScheme::None => "none",
            AuthScheme::Bearer { optional: true } => "Bearer (optional for upload/download)",
            AuthScheme::Bearer { optional: false } => "Bearer",
            AuthScheme::Header(name) => name,
        }
    }
}

/// What an upload can ask of a service besides the bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadCaps {
    pub expires: bool,
    pub max_downloads: bool,
    pub auto_delete: bool,
    pub secret_url: bool,
}

/// What `fileio update` can change on a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpdateCaps {
    pub expires: bool,
    pub max_downloads: bool,
    pub auto_delete: bool,
    /// New contents (`--file`).
    pub file: bool,
    pub name: bool,
    /// PUT semantics (`--replace-all`).
    pub replace_all: bool,
    /// Changes are made with the file's management token from the history, not an API key.
    pub by_token: bool,
}

impl UpdateCaps {
    /// The flags of `fileio update` this service takes, in the order --help gives them.
    pub fn flags(&self) -> Vec<&'static str> {
        [
            ("--expires", self.expires),
            ("--max-downloads", self.max_downloads),
            ("--auto-delete", self.auto_delete),
            ("--file", self.file),
            ("--name", self.name),
            ("--replace-all", self.replace_all),
        ]
        .into_iter()
        .filter_map(|(f, yes)| yes.then_some(f))
        .collect()
    }

    /// As `fileio services` shows it: "expiry, downloads, contents".
    pub fn describe(&self) -> String {
        let what: Vec<&str> = [
            ("expiry", self.expires),
            ("downloads", self.max_downloads),
            ("contents", self.file),
            ("name", self.name),
        ]
        .into_iter()
        .filter_map(|(w, yes)| yes.then_some(w))
        .collect();
        let token = if self.by_token { " (token)" } else { "" };
        format!("{}{token}", what.join(", "))
    }
}

/// What a service can do, for `fileio services` and for refusing what it cannot before
/// anything is sent.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub upload: UploadCaps,
    pub list: bool,
    /// The service searches and sorts a listing itself (otherwise `fileio list` does, over
    /// the pages it fetched).
    pub list_searches: bool,
    /// `fileio me`.
    pub account: bool,
    pub update: Option<UpdateCaps>,
    pub delete: bool,
    pub info: bool,
    /// Large uploads resume where they stopped.
    pub resumable: bool,
    /// Uploads hand out a per-file management token, kept in the history.
    pub tokens: bool,
    pub auth: AuthScheme,
}

impl Capabilities {
    /// A service that uploads and downloads and nothing more, with no account keys.
    pub const BASIC: Capabilities = Capabilities {
        upload: UploadCaps {
            expires: false,
            max_downloads: false,
            auto_delete: false,
            secret_url: false,
        },
        list: false,
        list_searches: false,
        account: false,
        update: None,
        delete: false,
        info: false,
        resumable: false,
        tokens: false,
        auth: AuthScheme::None,
    };

    /// The commands beyond upload and download this service has, as a usage error lists them.
    fn commands(&self) -> Vec<&'static str> {
        let mut can = vec!["upload", "download"];
        for (name, yes) in [
            ("list", self.list),
            ("me", self.account),
            ("update", self.update.is_some()),
            ("delete", self.delete),
            ("info", self.info),
        ] {
            if yes {
                can.push(name);
            }
        }
        can
    }
}

/// One service: who it is, what it can do, and its operations. Operations a service lacks
/// keep the default methods, which refuse with a usage error naming what it supports.
#[async_trait]
pub trait Service: fmt::Debug + Send + Sync {
    /// The name `--service` takes, e.g. `fileio`.
    fn name(&self) -> &'static str;

    /// Other names `--service` accepts (compared without case, dots and dashes).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// The name people know it by.
    fn title(&self) -> &'static str;

    /// The public instance, used when neither `--server` nor the config names one.
    fn default_base_url(&self) -> &'static str;

    fn capabilities(&self, cfg: &ServiceConfig) -> Capabilities;

    /// Whether an upload needs its length before its bytes (standard input is spooled to a
    /// temporary file first).
    fn needs_length(&self) -> bool {
        false
    }

    /// Refuses, before anything is sent, upload options the capabilities allow but this
    /// service cannot take as given (FileShot's whole days).
    fn check_upload(&self, _opts: &UploadOptions) -> Result<()> {
        Ok(())
    }

    /// Sends one file.
    async fn upload(
        &self,
        api: &Api<'_>,
        up: &Upload<'_>,
        opts: &UploadOptions,
    ) -> Result<Uploaded>;

    /// Where to GET a key or link.
    async fn download_url(&self, api: &Api<'_>, target: &str) -> Result<Url>;

    /// A page of the caller's files.
    async fn list(&self, api: &Api<'_>, _q: &ListQuery) -> Result<Page> {
        Err(unsupported_command(api.service, api.config, "list").into())
    }

    /// One file's details.
    async fn info(&self, api: &Api<'_>, _key: &str) -> Result<FileRecord> {
        Err(unsupported_command(api.service, api.config, "info").into())
    }

    /// The caller's account.
    async fn me(&self, api: &Api<'_>) -> Result<Account> {
        Err(unsupported_command(api.service, api.config, "me").into())
    }

    /// Checks a key before `auth login` stores it, and says whose it is: `GET /me` with
    /// the key, answered as file.io answers it. A service with another call overrides it.
    async fn check_key(&self, api: &Api<'_>) -> Result<Account> {
        fileio::me(api).await
    }

    async fn delete(&self, api: &Api<'_>, _file: &Managed<'_>) -> Result<()> {
        Err(unsupported_command(api.service, api.config, "delete").into())
    }

    /// Applies `change` (already checked against [`Capabilities::update`]).
    async fn update(
        &self,
        api: &Api<'_>,
        _file: &Managed<'_>,
        _change: &Change<'_>,
    ) -> Result<FileRecord> {
        Err(unsupported_command(api.service, api.config, "update").into())
    }
}

impl fmt::Display for dyn Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every call to a service needs.
pub struct Api<'a> {
    pub http: &'a Http,
    pub service: &'static dyn Service,
    /// The base URL, without a trailing slash.
    pub server: &'a str,
    pub key: Option<&'a Secret>,
    pub config: &'a ServiceConfig,
    /// No notes on stderr.
    pub quiet: bool,
    /// Where the server takes resumable (tus) uploads, once asked: asked at most once a run,
    /// and only when a file is large enough to need it.
    pub tus_endpoint: tokio::sync::OnceCell<Option<Url>>,
}

impl Api<'_> {
    pub fn base(&self) -> &str {
        self.server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// The key, for a call that cannot work without one.
    pub fn need_key(&self) -> Result<&Secret> {
        self.key
            .ok_or_else(|| crate::credentials::missing_key(self.server).into())
    }

    /// A request with the key attached the service's way, when there is a key.
    pub fn request(&self, method: Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        let req = self.http.client.request(method, url);
        self.capabilities().auth.apply(req, self.key)
    }

    pub fn capabilities(&self) -> Capabilities {
        self.service.capabilities(self.config)
    }

    /// [`Http::send`], its failures marked as this service's.
    pub async fn send(
        &self,
        what: &str,
        retry: impl Into<Retry>,
        activity: Option<&Activity>,
        make: impl FnMut() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        self.http
            .send(what, retry, activity, make)
            .await
            .map_err(|e| crate::error::from_service(e, self.service.name()))
    }

    /// [`Api::send`], then a success answer read into the wire struct `T`.
    pub async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        retry: impl Into<Retry>,
        activity: Option<&Activity>,
        make: impl FnMut() -> Result<RequestBuilder>,
    ) -> Result<T> {
        let resp = self.send(what, retry, activity, make).await?;
        if !resp.status().is_success() {
            return Err(self.error(what, resp).await);
        }
        crate::http::read_typed(what, resp)
            .await
            .map_err(|e| crate::error::from_service(e, self.service.name()))
    }

    /// An error answer as a failure of this service.
    pub async fn error(&self, what: &str, resp: Response) -> anyhow::Error {
        let mut f = crate::http::error_from_response(what, resp).await;
        f.service = Some(self.service.name());
        f.into()
    }
}

/// What an upload asks of the service besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub expires: Option<Expires>,
    pub max_downloads: Option<u32>,
    pub auto_delete: Option<bool>,
    pub secret: bool,
    /// Files larger than this go up resumably where the server offers it (tus); `None`:
    /// never.
    pub resumable_above: Option<u64>,
}

/// One file to send: its name and where its bytes come from, and what shows its progress.
pub struct Upload<'a> {
    pub name: &'a str,
    pub source: &'a dyn Source,
    pub activity: &'a Activity,
    pub bar: &'a ProgressBar,
    /// The bar of the whole run, when several files go up.
    pub total: Option<&'a ProgressBar>,
    /// How many pieces may be in flight at once (FileShot's chunks).
    pub jobs: usize,
}

impl Upload<'_> {
    pub fn size(&self) -> Option<u64> {
        self.source.size()
    }

    /// How the upload that creates the file may be retried: only where no second copy can
    /// result ([`Retry::IfNotStored`]), and never for a body that cannot be read twice.
    pub fn retry(&self) -> Retry {
        if self.source.replayable() {
            Retry::IfNotStored
        } else {
            Retry::Never
        }
    }

    /// The bytes from the start as a request body, counted on the bars; the file's bar
    /// restarts, as a retry does.
    pub fn body(&self) -> Result<reqwest::Body> {
        self.bar.set_position(0);
        Ok(crate::body::counted(
            self.source.open()?,
            self.bar,
            self.total,
            self.activity,
        ))
    }

    /// The file as a multipart part, from a fresh body.
    pub fn part(&self) -> Result<Part> {
        let body = self.body()?;
        let part = match self.size() {
            // With a length the whole body gets a Content-Length, which many servers require.
            Some(len) => Part::stream_with_length(body, len),
            None => Part::stream(body),
        };
        Ok(part
            .file_name(self.name.to_string())
            .mime_str("application/octet-stream")?)
    }
}

/// A finished upload: the file, and the management token a service handed out, if any.
pub struct Uploaded {
    pub record: FileRecord,
    pub token: Option<Secret>,
}

/// A file to manage (delete, update): its key, the link to it (given, or recorded in the
/// history for a key), and its management token where the history has one.
pub struct Managed<'a> {
    pub key: &'a str,
    pub target: &'a str,
    pub token: Option<&'a Secret>,
}

/// What `fileio update` changes.
pub struct Change<'a> {
    pub expires: Option<&'a Expires>,
    pub max_downloads: Option<u32>,
    pub auto_delete: Option<bool>,
    pub name: Option<&'a str>,
    /// New contents.
    pub file: Option<&'a Upload<'a>>,
    /// Replace everything (PUT): what is not given returns to its default.
    pub replace_all: bool,
}

impl Change<'_> {
    /// The fields of the change that an upload could also set.
    pub fn options(&self) -> UploadOptions {
        UploadOptions {
            expires: self.expires.copied(),
            max_downloads: self.max_downloads,
            auto_delete: self.auto_delete,
            secret: false,
            resumable_above: None,
        }
    }
}

/// DELETE with the service's authentication; any 2xx is success.
pub async fn delete_at(api: &Api<'_>, what: &str, url: &str) -> Result<()> {
    api.need_key()?;
    let resp = api
        .send(what, true, None, || Ok(api.request(Method::DELETE, url)))
        .await?;
    if !resp.status().is_success() {
        return Err(api.error(what, resp).await);
    }
    Ok(())
}

/// A usage error for an option the service does not support.
pub fn unsupported(service: &dyn Service, what: &str, supports: &str) -> Failure {
    Failure::new(
        Kind::Usage,
        format!("{} does not support {what}", service.title()),
    )
    .hint(format!("{} supports: {supports}", service.name()))
    .hint("see `fileio services` for what each service can do")
}

/// The usage error for a command the service has no call for.
pub fn unsupported_command(service: &dyn Service, cfg: &ServiceConfig, command: &str) -> Failure {
    let can = service.capabilities(cfg).commands();
    unsupported(service, &format!("`fileio {command}`"), &can.join(", "))
}

/// Refuses a command the service has no call for, before anything else is done.
pub fn check_command(service: &dyn Service, cfg: &ServiceConfig, command: &str) -> Result<()> {
    let c = service.capabilities(cfg);
    let ok = match command {
        "list" => c.list,
        "me" => c.account,
        "delete" => c.delete,
        "info" => c.info,
        "update" => c.update.is_some(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(unsupported_command(service, cfg, command).into())
    }
}

/// Refuses, before anything is sent, upload options the service cannot honour.
pub fn check_upload(
    service: &dyn Service,
    opts: &UploadOptions,
    cfg: &ServiceConfig,
) -> Result<()> {
    let caps = service.capabilities(cfg).upload;
    let supports = upload_supports(&caps);
    if opts.expires.is_some() && !caps.expires {
        return Err(unsupported(service, "an expiry (--expires)", &supports).into());
    }
    if opts.max_downloads.is_some() && !caps.max_downloads {
        return Err(unsupported(service, "a download limit (--max-downloads)", &supports).into());
    }
    if opts.auto_delete.is_some() && !caps.auto_delete {
        return Err(unsupported(
            service,
            "keeping files after their last download (--no-auto-delete)",
            &supports,
        )
        .into());
    }
    if opts.secret && !caps.secret_url {
        return Err(unsupported(service, "secret URLs (--secret)", &supports).into());
    }
    service.check_upload(opts)
}

fn upload_supports(c: &UploadCaps) -> String {
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

/// Refuses, before anything is sent, the `fileio update` flags the service cannot change;
/// `given` are the flags given, in [`UpdateCaps::flags`]' names.
pub fn check_update(service: &dyn Service, cfg: &ServiceConfig, given: &[&str]) -> Result<()> {
    check_command(service, cfg, "update")?;
    let allowed = service
        .capabilities(cfg)
        .update
        .map(|u| u.flags())
        .unwrap_or_default();
    if let Some(flag) = given.iter().find(|f| !allowed.contains(f)) {
        return Err(unsupported(service, &format!("updating {flag}"), &allowed.join(", ")).into());
    }
    if given.is_empty() {
        return Err(Failure::new(Kind::Usage, "nothing to update")
            .hint(format!("give {}", allowed.join(", ")))
            .into());
    }
    Ok(())
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

/// What `fileio list` asks for. Only services that [`Capabilities::list_searches`] search
/// and sort themselves; for the others `fileio list` does it over the pages it fetched.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub search: Option<String>,
    pub sort: Option<String>,
    pub offset: u64,
    pub limit: Option<u64>,
}

/// A whole link, parsed; a usage error when it is not one.
pub fn parse_link(target: &str) -> Result<Url> {
    Url::parse(target).map_err(|e| {
        Failure::new(
            Kind::Usage,
            format!("invalid link '{}': {e}", without_fragment(target)),
        )
        .into()
    })
}

/// A link as it may be shown: an encrypted link's fragment holds its key.
pub fn without_fragment(target: &str) -> &str {
    target.split_once('#').map_or(target, |(t, _)| t)
}

/// Whether `target` is a whole http(s) link rather than a key.
pub fn is_link(target: &str) -> bool {
    target.starts_with("http://") || target.starts_with("https://")
}

/// The last non-empty path segment of a link, or the key itself.
pub fn key_of(target: &str) -> Result<String> {
    // The fragment (an encrypted link's key and name) is never part of the file's key.
    let target = without_fragment(target);
    if is_link(target) {
        let url = parse_link(target)?;
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

/// A value of the expected type, or `None` for anything else: a server that sends a size as
/// a string loses that field, not the whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
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

/// A value shown as the service sent it (a plan, a rate limit), made inert on arrival;
/// `null` is none.
pub fn shown_value(v: Option<serde_json::Value>) -> Option<serde_json::Value> {
    v.filter(|x| !x.is_null())
        .map(|x| crate::terminal_text::inert_value(&x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_finds_services_by_name_and_alias() {
        assert_eq!(find("File.IO").unwrap().name(), "fileio");
        assert_eq!(find("0x0.st").unwrap().name(), "0x0");
        assert_eq!(find("fii").unwrap().name(), "fiione");
        assert!(find("dropbox").is_err());
        assert_eq!(default_service().name(), "fileio");
        assert!(service_help().contains("fileio (the default"));
        assert!(service_help().contains("filepost or 0x0;"));
    }

    #[tokio::test]
    async fn operations_a_service_lacks_refuse_by_default_without_sending() {
        let http = Http::new(&crate::http::HttpOptions {
            timeout: std::time::Duration::from_secs(1),
            retries: 0,
            verbose: false,
            quiet: true,
        })
        .unwrap();
        let cfg = ServiceConfig::default();
        // Nothing listens here: a request sent would fail as a network error, not a usage one.
        let api = |service| Api {
            http: &http,
            service,
            server: "http://127.0.0.1:9",
            key: None,
            config: &cfg,
            quiet: true,
            tus_endpoint: Default::default(),
        };
        let usage = |r: Result<()>, supports: &str| {
            let e = r.unwrap_err();
            let f = crate::error::failure_of(&e).unwrap();
            assert_eq!(f.kind, Kind::Usage, "{e:#}");
            assert_eq!(f.hints[0], supports);
        };
        let zero = api(&zerox0::ZeroX0);
        let supports = "0x0 supports: upload, download, update, delete";
        usage(
            zero.service
                .list(&zero, &ListQuery::default())
                .await
                .map(drop),
            supports,
        );
        usage(zero.service.me(&zero).await.map(drop), supports);
        usage(zero.service.info(&zero, "k").await.map(drop), supports);
        let post = api(&filepost::FilePost);
        let managed = Managed {
            key: "k",
            target: "k",
            token: None,
        };
        let change = Change {
            expires: None,
            max_downloads: None,
            auto_delete: None,
            name: Some("n"),
            file: None,
            replace_all: false,
        };
        let supports = "filepost supports: upload, download";
        usage(
            post.service
                .update(&post, &managed, &change)
                .await
                .map(drop),
            supports,
        );
        usage(post.service.delete(&post, &managed).await, supports);
        usage(
            post.service
                .list(&post, &ListQuery::default())
                .await
                .map(drop),
            supports,
        );
    }

    #[test]
    fn operations_a_service_lacks_are_usage_errors_naming_what_it_supports() {
        let cfg = ServiceConfig::default();
        for s in SERVICES {
            let caps = s.capabilities(&cfg);
            for (command, has) in [
                ("list", caps.list),
                ("me", caps.account),
                ("update", caps.update.is_some()),
                ("delete", caps.delete),
                ("info", caps.info),
            ] {
                let checked = check_command(*s, &cfg, command);
                assert_eq!(checked.is_ok(), has, "{} {command}", s.name());
                if let Err(e) = checked {
                    let f = crate::error::failure_of(&e).unwrap();
                    assert_eq!(f.kind, Kind::Usage);
                    assert!(f.message.contains(s.title()), "{}", f.message);
                    assert!(
                        f.hints[0].starts_with(&format!("{} supports: upload, download", s.name()))
                    );
                }
            }
        }
    }
}
