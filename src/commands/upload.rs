//! `fileio upload`: send files (or standard input) and print one link per file.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Result;
use bytes::{Bytes, BytesMut};
use clap::Args;
use futures_util::{Stream, StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::Body;
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

use crate::activity::Activity;
use crate::config::Settings;
use crate::error::{Failure, Kind, failure_of};
use crate::expires::Expires;
use crate::history::{Entry as HistoryEntry, History};
use crate::http::Http;
use crate::progress::Progress;
use crate::secret::Secret;
use crate::services::{self, Api, FileRecord, ServiceKind, Upload, UploadOptions, Uploaded};

/// How much is read from a file at a time. Large reads keep the per-chunk overhead of the
/// multipart stream low; measured in BENCHMARKS.md.
pub const READ_CHUNK: usize = 256 * 1024;

/// How much of a file `FileChunks` reads at a time. Read in place, 64 KiB pieces upload as
/// fast as 256 KiB ones and keep less memory in flight; measured in BENCHMARKS.md.
pub const FILE_CHUNK: usize = 64 * 1024;

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Files to upload; `-` reads standard input, as does no file at all when input is piped.
    /// One line per uploaded file on stdout, in argument order, each as soon as it is done;
    /// with --json each object's `file` is the argument it came from. A failed file is named
    /// on stderr and has no line, so pair results by `file` (--json), not by line number
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// When the file expires: a period (30m, 12h, 7d, 2w, 6M, 1y) or an ISO 8601 date
    #[arg(long, value_name = "WHEN", env = "FILEIO_EXPIRES")]
    pub expires: Option<Expires>,

    /// How many downloads the link allows before the file is gone
    #[arg(long, value_name = "N", env = "FILEIO_MAX_DOWNLOADS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_downloads: Option<u32>,

    /// Keep the file (listed, revivable by `update`) after its last download or expiry
    #[arg(long)]
    pub no_auto_delete: bool,

    /// Ask for a hard-to-guess URL (0x0)
    #[arg(long)]
    pub secret: bool,

    /// Name the upload on the server; one file only (standard input is otherwise
    /// "stdin-<UTC time>", e.g. stdin-20261123-063000)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// How many files (or FileShot chunks) to upload at once [default: 4]
    #[arg(short, long, value_name = "N", env = "FILEIO_JOBS",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

/// One thing to upload.
#[derive(Debug)]
enum Source {
    File(PathBuf),
    Stdin,
}

impl Source {
    fn label(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin => "standard input".into(),
        }
    }

    /// The argument it came from, as `--json` reports it in `file`.
    fn arg(&self) -> String {
        match self {
            Source::File(p) => p.to_string_lossy().into_owned(),
            Source::Stdin => "-".into(),
        }
    }
}

pub async fn run(args: UploadArgs, settings: &Settings) -> Result<()> {
    let sources = sources(&args)?;
    if args.name.is_some() && sources.len() > 1 {
        return Err(Failure::new(
            Kind::Usage,
            "--name names a single upload, but several files were given",
        )
        .hint("upload the files one at a time to name each")
        .into());
    }
    let opts = options(&args, settings)?;
    services::check_upload(settings.service, &opts, &settings.services)?;
    let key = settings.api_key()?.map(|(k, _)| k);
    let jobs = args
        .jobs
        .map(usize::from)
        .or(settings.default_jobs)
        .unwrap_or(4)
        .max(1);
    let http = Http::new(settings)?;
    let api = Api {
        http: &http,
        settings,
        key: key.as_ref(),
    };
    let progress = Progress::new(settings.progress);
    let total = (sources.len() > 1).then(|| progress.bar("total", total_len(&sources)));

    let history = if settings.history {
        open_history(settings)
    } else {
        None
    };
    // `buffered` yields each result as soon as it and every earlier one are done: a link is
    // printed and recorded the moment it can be in argument order, so an interruption or a
    // failure later on loses none of the links (or 0x0 tokens) already made.
    let several = sources.len() > 1;
    let name = args.name.as_deref();
    // Boxed, so that an interruption can drop it (and the uploads in it) there and then.
    let mut results = Box::pin(
        futures_util::stream::iter(sources.iter())
            .map(|source| {
                let ctx = Ctx {
                    api: &api,
                    opts: &opts,
                    progress: &progress,
                    total: total.as_ref(),
                    jobs,
                };
                async move { (source, upload_one(ctx, name, source).await) }
            })
            .buffered(jobs),
    );
    let mut failures: Vec<anyhow::Error> = Vec::new();
    let mut done = 0usize;
    // Ctrl-C ends the run here rather than killing the process mid-draw: the uploads still
    // running are dropped (their bars cleared with them), and every link already printed
    // is already in the history too.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut interrupted => None,
            next = results.next() => Some(next),
        };
        let Some(next) = next else {
            drop(results);
            if let Some(t) = &total {
                t.finish_and_clear();
            }
            drop(progress);
            let message = match done {
                0 => "interrupted; no upload finished".to_string(),
                1 => "interrupted; the link printed above is kept".to_string(),
                n => format!("interrupted; the {n} links printed above are kept"),
            };
            return Err(Failure::new(Kind::Interrupted, message)
                .hint("an upload cut off may still have been stored: check with `fileio list` (or `fileio history`) before uploading it again")
                .into());
        };
        let Some((source, result)) = next else { break };
        match result {
            Ok(up) => {
                if let Some(h) = &history {
                    remember(h, &up.record, up.token.clone(), settings);
                } else {
                    note_lost_token(&up, settings);
                }
                print_record(&up.record, Some(&source.arg()), settings)?;
                done += 1;
            }
            Err(e) if !several => failures.push(e),
            Err(e) => {
                report_failed(source, &e);
                failures.push(e);
            }
        }
    }
    if let Some(t) = &total {
        t.finish_and_clear();
    }
    match failures.len() {
        0 => Ok(()),
        1 if !several => Err(failures.pop().expect("one failure")),
        n => {
            let kind = failure_of(&failures[0]).map_or(Kind::Other, |f| f.kind);
            Err(Failure::new(kind, format!("{n} of {} uploads failed", sources.len())).into())
        }
    }
}

/// One failed file among several, by name, on stderr as soon as its turn comes.
fn report_failed(source: &Source, e: &anyhow::Error) {
    use crate::terminal_text::inert;
    eprintln!(
        "fileio: error: {}: {}",
        inert(&source.label()),
        inert(&format!("{e:#}"))
    );
    for hint in failure_of(e)
        .map(|f| f.hints.as_slice())
        .unwrap_or_default()
    {
        eprintln!("hint: {}", inert(hint));
    }
}

fn sources(args: &UploadArgs) -> Result<Vec<Source>> {
    if args.files.is_empty() {
        if std::io::stdin().is_terminal() {
            return Err(Failure::new(
                Kind::Usage,
                "nothing to upload: name a file, or pipe data in",
            )
            .hint("fileio upload FILE… or: tar cz dir | fileio upload -")
            .into());
        }
        return Ok(vec![Source::Stdin]);
    }
    let stdin_count = args.files.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin_count > 1 {
        return Err(
            Failure::new(Kind::Usage, "standard input (-) can be uploaded only once").into(),
        );
    }
    Ok(args
        .files
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                Source::Stdin
            } else {
                Source::File(p.clone())
            }
        })
        .collect())
}

/// Opens the history, or says why it cannot and goes on: history never fails an upload.
pub fn open_history(settings: &Settings) -> Option<History> {
    match History::open_default() {
        Ok(h) => Some(h),
        Err(e) => {
            if !settings.quiet {
                eprintln!(
                    "fileio: warning: the upload history is unusable ({e:#}); uploads go on unrecorded"
                );
            }
            None
        }
    }
}

/// Records an upload in the history, warning (never failing) when that does not work.
pub fn remember(
    history: &History,
    record: &FileRecord,
    token: Option<Secret>,
    settings: &Settings,
) {
    let had_token = token.is_some();
    if let Err(e) = history.record(&HistoryEntry::from_record(record, &settings.server, token)) {
        if !settings.quiet {
            eprintln!(
                "fileio: warning: could not record {} in the history: {}",
                crate::terminal_text::inert(&record.key),
                crate::terminal_text::inert(&format!("{e:#}"))
            );
        }
        return;
    }
    // 0x0 sends a token only for new content: a re-upload of the same bytes keeps the old one.
    if record.service == ServiceKind::ZeroX0.name() && !had_token && !settings.quiet {
        match history.token(record.service, &settings.server, &record.key) {
            Ok(Some(_)) => eprintln!(
                "fileio: note: 0x0 sent no management token (these bytes were uploaded before); the token from that upload is kept"
            ),
            _ => eprintln!(
                "fileio: warning: 0x0 sent no management token (these bytes were uploaded before) and none is in the history: {} cannot be deleted or changed from here",
                crate::terminal_text::inert(&record.key)
            ),
        }
    }
}

/// Without a history, a management token would be lost: say so.
fn note_lost_token(up: &Uploaded, settings: &Settings) {
    if up.token.is_some() && !settings.quiet {
        eprintln!(
            "fileio: warning: the history is off, so {}'s management token is not kept; it cannot be deleted or changed later",
            crate::terminal_text::inert(&up.record.key)
        );
    }
}

/// Refuses an expiry that is already past, before anything is sent.
pub fn check_future(expires: Option<&Expires>) -> Result<()> {
    if let Some(e) = expires {
        let now = chrono::Utc::now();
        match e.resolve(now) {
            Some(t) if t > now => {}
            _ => {
                return Err(Failure::new(
                    Kind::Usage,
                    format!("--expires {e} is not in the future"),
                )
                .hint("give a period such as 7d, or a date still to come")
                .into());
            }
        }
    }
    Ok(())
}

fn options(args: &UploadArgs, settings: &Settings) -> Result<UploadOptions> {
    // Defaults from the config file apply only where the service can honour them.
    let caps = settings.service.capabilities(&settings.services);
    let expires = args
        .expires
        .or(settings.default_expires.filter(|_| caps.expires));
    check_future(expires.as_ref())?;
    Ok(UploadOptions {
        expires,
        max_downloads: args.max_downloads.or(settings
            .default_max_downloads
            .filter(|_| caps.max_downloads)),
        auto_delete: args.no_auto_delete.then_some(false),
        secret: args.secret,
    })
}

fn total_len(sources: &[Source]) -> Option<u64> {
    sources.iter().try_fold(0u64, |acc, s| match s {
        Source::File(p) => std::fs::metadata(p).ok().map(|m| acc + m.len()),
        Source::Stdin => None,
    })
}

/// What every upload of one run shares.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    api: &'a Api<'a>,
    opts: &'a UploadOptions,
    progress: &'a Progress,
    total: Option<&'a ProgressBar>,
    jobs: usize,
}

async fn upload_one(ctx: Ctx<'_>, name: Option<&str>, source: &Source) -> Result<Uploaded> {
    let Ctx {
        api,
        opts,
        progress,
        total,
        jobs,
    } = ctx;
    // A service that needs the length first gets standard input spooled to a temporary
    // file (never to memory), which also makes it retryable.
    let spooled = match source {
        Source::Stdin if services::needs_length(api.kind()) => Some(spool_stdin().await?),
        _ => None,
    };
    let path: Option<&Path> = match (source, &spooled) {
        (_, Some(tmp)) => Some(tmp.path()),
        (Source::File(p), None) => Some(p),
        (Source::Stdin, None) => None,
    };
    let (len, name) = match path {
        Some(p) => {
            let meta = std::fs::metadata(p).map_err(|e| local_error(p, &e))?;
            if !meta.is_file() {
                return Err(Failure::new(Kind::LocalFile, format!("{} is not a regular file", p.display()))
                    .hint("upload files one by one, or pack a directory first: tar cz DIR | fileio upload - --name DIR.tgz")
                    .into());
            }
            // Opening now reports an unreadable file before anything is sent.
            std::fs::File::open(p).map_err(|e| local_error(p, &e))?;
            let default = match source {
                Source::File(p) => p
                    .file_name()
                    .map_or("file".into(), |n| n.to_string_lossy().into_owned()),
                Source::Stdin => stdin_name(name, api.settings),
            };
            (Some(meta.len()), name.map(str::to_owned).unwrap_or(default))
        }
        None => (None, stdin_name(name, api.settings)),
    };
    let bar = progress.bar(&name, len);
    let activity = Activity::default();
    let body = || -> Result<Body> {
        Ok(match path {
            Some(p) => {
                let file = std::fs::File::open(p).map_err(|e| local_error(p, &e))?;
                counted_file(file, &bar, total, &activity)
            }
            None => counted_body(tokio::io::stdin(), &bar, total, &activity),
        })
    };
    let up = Upload {
        name: &name,
        len,
        path,
        body: &body,
        // Standard input cannot be read twice, so only a file's upload is retried.
        replayable: path.is_some(),
        activity: &activity,
        bar: &bar,
        jobs,
    };
    let result = services::upload(api, &up, opts).await;
    bar.finish_and_clear();
    result
}

/// The name standard input goes up under: `--name`, or `stdin-<UTC time>` (a name that
/// says what it is and does not collide with the last one), said on stderr.
fn stdin_name(name: Option<&str>, settings: &Settings) -> String {
    if let Some(n) = name {
        return n.to_string();
    }
    let n = format!("stdin-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    if !settings.quiet {
        eprintln!(
            "fileio: note: uploading standard input as {n}; name it with --name (e.g. --name dir.tgz)"
        );
    }
    n
}

/// Copies standard input to a temporary file, in chunks.
async fn spool_stdin() -> Result<tempfile::NamedTempFile> {
    let tmp = tempfile::NamedTempFile::new().map_err(|e| {
        Failure::new(
            Kind::LocalFile,
            format!("cannot create a temporary file for standard input: {e}"),
        )
    })?;
    let mut out = tokio::fs::File::from_std(
        tmp.reopen()
            .map_err(|e| Failure::new(Kind::LocalFile, e.to_string()))?,
    );
    tokio::io::copy(&mut tokio::io::stdin(), &mut out)
        .await
        .map_err(|e| Failure::new(Kind::LocalFile, format!("cannot spool standard input: {e}")))?;
    tokio::io::AsyncWriteExt::flush(&mut out).await?;
    Ok(tmp)
}

/// A body that reads in large chunks and counts what it sends on the bars.
fn counted_body<R: AsyncRead + Send + 'static>(
    reader: R,
    bar: &ProgressBar,
    total: Option<&ProgressBar>,
    activity: &Activity,
) -> Body {
    counted(
        ReaderStream::with_capacity(reader, READ_CHUNK),
        bar,
        total,
        activity,
    )
}

/// [`counted_body`] for a file, read in place (see [`FileChunks`]).
pub fn counted_file(
    file: std::fs::File,
    bar: &ProgressBar,
    total: Option<&ProgressBar>,
    activity: &Activity,
) -> Body {
    let stream = FileChunks {
        file,
        buf: BytesMut::new(),
    };
    counted(stream, bar, total, activity)
}

/// A file's bytes in pieces of up to [`FILE_CHUNK`], read on the runtime's thread: a read
/// of a local file is short, and `tokio::fs` would hand each one to a blocking thread and
/// copy it once more.
struct FileChunks {
    file: std::fs::File,
    /// Its allocation is reused once the pieces cut from it have been sent and dropped.
    buf: BytesMut,
}

impl Stream for FileChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let FileChunks { file, buf } = &mut *self;
        buf.reserve(FILE_CHUNK);
        buf.resize(FILE_CHUNK, 0);
        let read = loop {
            match file.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        Poll::Ready(match read {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok(buf.split().freeze()))
            }
            Err(e) => Some(Err(e)),
        })
    }
}

fn counted(
    stream: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    bar: &ProgressBar,
    total: Option<&ProgressBar>,
    activity: &Activity,
) -> Body {
    let (bar, total, activity) = (bar.clone(), total.cloned(), activity.clone());
    let stream = stream.inspect_ok(move |chunk| {
        let n = chunk.len() as u64;
        bar.inc(n);
        if let Some(t) = &total {
            t.inc(n);
        }
        activity.touch();
    });
    Body::wrap_stream(stream)
}

pub fn local_error(path: &Path, e: &std::io::Error) -> anyhow::Error {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    Failure::new(
        Kind::LocalFile,
        format!("cannot read {}: {why}", path.display()),
    )
    .into()
}

/// Prints one result: its link, or with `--json` its record (plus `file`, the argument it
/// came from, when there is one). Everything printed came from the server: made inert.
pub fn print_record(record: &FileRecord, file: Option<&str>, settings: &Settings) -> Result<()> {
    use crate::terminal_text::{inert, inert_json};
    use std::io::Write;
    // Bars of uploads still running are hidden meanwhile: on a terminal, stdout and the bars
    // on stderr share the screen.
    crate::progress::suspend(|| {
        let mut out = std::io::stdout().lock();
        if settings.json {
            #[derive(serde::Serialize)]
            struct WithFile<'a> {
                #[serde(flatten)]
                record: &'a FileRecord,
                #[serde(skip_serializing_if = "Option::is_none")]
                file: Option<&'a str>,
            }
            let json = serde_json::to_string(&WithFile { record, file })?;
            writeln!(out, "{}", inert_json(&json))?;
        } else {
            writeln!(out, "{}", inert(&record.link))?;
        }
        out.flush()?;
        if settings.chatty() && std::io::stderr().is_terminal() {
            eprintln!("{}", inert(&summary(record)));
        }
        Ok(())
    })
}

/// A short line for people: what was uploaded and how long the link lives.
fn summary(r: &FileRecord) -> String {
    let mut parts = Vec::new();
    if let Some(e) = r
        .expires
        .as_deref()
        .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
    {
        let left = e.with_timezone(&chrono::Utc) - chrono::Utc::now();
        parts.push(format!(
            "expires {} (in {})",
            e.format("%Y-%m-%d %H:%M UTC"),
            crate::expires::describe(left)
        ));
    }
    match (r.max_downloads, r.auto_delete) {
        (Some(1), _) => parts.push("1 download allowed".into()),
        (Some(n), _) => parts.push(format!("{n} downloads allowed")),
        _ => {}
    }
    if r.auto_delete == Some(false) {
        parts.push("kept after that (--no-auto-delete)".into());
    }
    let name = r.name.as_deref().unwrap_or(&r.key);
    if parts.is_empty() {
        format!("{name}: uploaded")
    } else {
        format!("{name}: {}", parts.join(", "))
    }
}
