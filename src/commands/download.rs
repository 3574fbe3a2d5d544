//! `fileio download`: fetch a key or link into a file, a directory or standard output, never
//! clobbering a file and never leaving a partial one behind.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, LOCATION};
use reqwest::{Response, StatusCode, Url};

use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::filename;
use crate::http::{self, Http};
use crate::progress::Progress;
use crate::services::{self, Api};

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The key, or the whole link an upload printed
    #[arg(value_name = "KEY|LINK")]
    pub target: String,

    /// Where to save: a file, a directory (ending in / or existing), or - for standard output
    /// [default: the current directory, under the server's file name]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<String>,

    /// Overwrite an existing file
    #[arg(short, long)]
    pub force: bool,
}

/// Where the bytes go.
enum Dest {
    Stdout,
    File(PathBuf),
    /// A directory, the name to come from the server; `None` is the current directory.
    Dir(Option<PathBuf>),
}

/// How many redirects a download follows (file hosts hand off to CDNs).
const MAX_REDIRECTS: usize = 5;

pub async fn run(args: DownloadArgs, settings: &Settings) -> Result<()> {
    let what = format!("downloading {}", args.target);
    let http = Http::new(settings)?;
    let key = settings.api_key()?.map(|(k, _)| k);
    let api = Api {
        http: &http,
        settings,
        key: key.as_ref(),
    };
    let url = services::download_url(&api, &args.target).await?;
    // Polled beside the copy below (tokio installs the handler on first poll): Ctrl-C while
    // writing then removes the part file instead of killing us mid-write.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);

    let dest = destination(args.output.as_deref())?;
    // The overwrite check comes before the GET: a refusal must not spend a one-time link.
    let mut path = match &dest {
        Dest::Stdout => None,
        Dest::File(p) => Some(check_target(p.clone(), args.force)?),
        Dest::Dir(dir) => match head_name(&http, &url, &what).await? {
            Some(name) => Some(check_target(join(dir.as_deref(), &name), args.force)?),
            None => None,
        },
    };

    let resp = get(&http, url.clone(), &what).await?;
    if let (None, Dest::Dir(dir)) = (&path, &dest) {
        let name = name_of(&resp, &url);
        // Dropping the answer unread gives the download back on servers that count a
        // download only when it was sent in full, as `fileio serve` does.
        path = Some(check_target(join(dir.as_deref(), &name), args.force)?);
    }
    let len = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let progress = Progress::new(settings.progress);
    let bar = progress.bar(
        path.as_deref()
            .and_then(Path::file_name)
            .map_or("download".into(), |n| n.to_string_lossy())
            .as_ref(),
        len,
    );

    let copy = async {
        match &path {
            None => copy_body(resp, &mut StdoutSink, len, &bar).await,
            Some(p) => {
                let mut part = PartFile::create(p)?;
                copy_body(resp, &mut part, len, &bar).await?;
                part.persist(p, args.force)
            }
        }
    };
    tokio::select! {
        r = copy => r?,
        _ = &mut interrupted => {
            return Err(Failure::new(Kind::Interrupted, "interrupted; nothing was saved").into());
        }
    }
    bar.finish_and_clear();
    if let Some(p) = path {
        println!("{}", p.display());
    }
    Ok(())
}

fn destination(output: Option<&str>) -> Result<Dest> {
    Ok(match output {
        None => Dest::Dir(None),
        Some("-") => Dest::Stdout,
        Some(o) => {
            let p = PathBuf::from(o);
            if o.ends_with('/') || o.ends_with(std::path::MAIN_SEPARATOR) || p.is_dir() {
                if !p.is_dir() {
                    return Err(Failure::new(
                        Kind::LocalFile,
                        format!("directory {o} does not exist"),
                    )
                    .hint(format!("create it first: mkdir -p {o}"))
                    .into());
                }
                Dest::Dir(Some(p))
            } else {
                Dest::File(p)
            }
        }
    })
}

fn join(dir: Option<&Path>, name: &str) -> PathBuf {
    match dir {
        Some(d) => d.join(name),
        None => PathBuf::from(name),
    }
}

/// Refuses an existing target unless `--force`, and a target whose directory is missing.
fn check_target(path: PathBuf, force: bool) -> Result<PathBuf> {
    if path.exists() && !force {
        return Err(Failure::new(
            Kind::LocalFile,
            format!("{} already exists", path.display()),
        )
        .hint("use --force to overwrite it, or -o to save elsewhere")
        .into());
    }
    if path.is_dir() {
        return Err(Failure::new(
            Kind::LocalFile,
            format!("{} is a directory", path.display()),
        )
        .into());
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Failure::new(
            Kind::LocalFile,
            format!("directory {} does not exist", parent.display()),
        )
        .into());
    }
    Ok(path)
}

/// Asks for the file's name with HEAD, which never counts as a download. `None` when the
/// server does not answer HEAD usefully; a missing file is reported right away.
async fn head_name(http: &Http, url: &Url, what: &str) -> Result<Option<String>> {
    let resp = http
        .send(what, true, None, || Ok(http.client.head(url.clone())))
        .await?;
    match resp.status() {
        s if s.is_success() => Ok(resp
            .headers()
            .get(CONTENT_DISPOSITION)
            .is_some()
            .then(|| name_of(&resp, url))),
        StatusCode::NOT_FOUND
        | StatusCode::GONE
        | StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN => {
            Err(not_found_hint(http::error_from_response(what, resp).await).into())
        }
        _ => Ok(None),
    }
}

/// GETs the file, following redirects to another host (a CDN), retrying transient failures
/// only until the first byte of the body: after that a retry could spend a one-time link.
async fn get(http: &Http, mut url: Url, what: &str) -> Result<Response> {
    let mut redirected = false;
    for _ in 0..=MAX_REDIRECTS {
        let u = url.clone();
        let resp = http
            .send(what, true, None, || {
                Ok(http.client.get(u.clone()).header("Accept", "*/*"))
            })
            .await?;
        let status = resp.status();
        if status.is_redirection() {
            if let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
            {
                url = next;
                redirected = true;
                continue;
            }
        }
        if !status.is_success() {
            return Err(not_found_hint(http::error_from_response(what, resp).await).into());
        }
        let ct = http::content_type(resp.headers());
        let attachment = resp.headers().contains_key(CONTENT_DISPOSITION);
        if ct.contains("text/html") && !attachment && redirected {
            return Err(Failure::new(
                Kind::BadAnswer,
                format!("{what}: the link led to a web page ({url}), not to the file; the service may have changed"),
            )
            .hint("open the link in a browser, or point --server at a compatible server")
            .into());
        }
        return Ok(resp);
    }
    Err(Failure::new(
        Kind::BadAnswer,
        format!("{what}: more than {MAX_REDIRECTS} redirects"),
    )
    .into())
}

fn not_found_hint(f: Failure) -> Failure {
    if f.kind == Kind::NotFound {
        f.hint("the link may have expired, or been used up: a one-time link is gone after one download")
    } else {
        f
    }
}

/// The server's file name, made safe; the key (last path segment) when it gives none.
fn name_of(resp: &Response, url: &Url) -> String {
    resp.headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(filename::from_content_disposition)
        .and_then(|n| filename::sanitize(&n))
        .or_else(|| {
            url.path_segments()?
                .rev()
                .find(|s| !s.is_empty())
                .and_then(filename::sanitize)
        })
        .unwrap_or_else(|| "download".into())
}

/// Streams the body into `sink`, checking it is as long as announced.
async fn copy_body(
    resp: Response,
    sink: &mut impl Write,
    len: Option<u64>,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    let mut stream = resp.bytes_stream();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| broke_off(got, len, &e.to_string()))?;
        // Plain blocking writes: one consumer, local disk or a pipe; a thread hop per chunk
        // (tokio::fs) would only slow it down.
        sink.write_all(&chunk).map_err(write_error)?;
        got += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    sink.flush().map_err(write_error)?;
    match len {
        Some(n) if n != got => Err(broke_off(got, len, "the body is shorter than announced")),
        _ => Ok(()),
    }
}

fn broke_off(got: u64, len: Option<u64>, why: &str) -> anyhow::Error {
    let of = len.map(|n| format!(" of {n}")).unwrap_or_default();
    Failure::new(Kind::Network, format!("the download broke off after {got}{of} bytes ({why}); nothing was saved"))
        .hint("not retried: a retry could spend a one-time link. If the link still works, run the command again")
        .into()
}

fn write_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return e.into();
    }
    let why = if e.raw_os_error() == Some(28) {
        "the disk is full".to_string()
    } else {
        e.to_string()
    };
    Failure::new(
        Kind::LocalFile,
        format!("cannot write the download: {why}; nothing was saved"),
    )
    .into()
}

struct StdoutSink;

impl Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        std::io::stdout().lock().write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

/// A temporary file beside the target, renamed into place only when complete and removed on
/// any failure (its `Drop`), Ctrl-C included.
struct PartFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl PartFile {
    fn create(target: &Path) -> Result<PartFile> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!(".{name}.{:08x}.fileio-part", rand::random::<u32>()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                Failure::new(
                    Kind::LocalFile,
                    format!("cannot write in {}: {e}", dir.display()),
                )
            })?;
        Ok(PartFile {
            path,
            file: Some(file),
        })
    }

    /// Moves the finished file into place; without `force`, never over an existing file,
    /// even one that appeared while downloading.
    fn persist(mut self, target: &Path, force: bool) -> Result<()> {
        drop(self.file.take());
        let result = if force {
            std::fs::rename(&self.path, target)
        } else {
            // A hard link fails if the target exists, atomically; then the part is removed.
            std::fs::hard_link(&self.path, target).and_then(|()| std::fs::remove_file(&self.path))
        };
        result.map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "it appeared while downloading; nothing was overwritten".to_string()
            } else {
                e.to_string()
            };
            Failure::new(
                Kind::LocalFile,
                format!("cannot save {}: {why}", target.display()),
            )
        })?;
        Ok(())
    }
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.as_mut().expect("open").write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        // After persist the part is gone (renamed or unlinked); this only cleans a failure.
        let _ = std::fs::remove_file(&self.path);
    }
}
