//! `fileio download`: fetch a key or link into a file, a directory or standard output, never
//! clobbering a file and never leaving a partial one behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use bytes::Bytes;
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, LOCATION};
use reqwest::{Response, StatusCode, Url};

use crate::body::ByteStream;
use crate::config::Settings;
use crate::error::{Failure, Kind};
use crate::filename;
use crate::http::{self, Http};
use crate::progress::Progress;
use crate::save::{self, Chooser, PartFile, Plan};

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The key, or the whole link an upload printed
    #[arg(value_name = "KEY|LINK")]
    pub target: String,

    /// Where to save: a file, a directory (ending in / or existing), or - for standard output.
    /// An existing FIFO or character device (/dev/null, /dev/stdout, a terminal) is written to
    /// as it is; a symbolic link is followed to what it points to
    /// [default: the current directory, under the server's file name]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<String>,

    /// Overwrite an existing file. Only a regular file is ever replaced, and only by the
    /// finished download: given a symbolic link, the file it points to is replaced and the
    /// link stays (a link to nothing is refused); a block device is written onto, never
    /// replaced. A name the server chose never follows a link
    #[arg(short, long)]
    pub force: bool,

    /// Decrypt with this age identity file or SSH private key, as `age -i` takes them (for
    /// files encrypted to a public key with `upload --to`). A link from `upload --encrypt`
    /// carries its key in its #fragment and needs none. An encrypted download that does not
    /// verify to its very end is refused (exit 10) and nothing is saved; with `-o -` the bytes
    /// already written stand, so a pipe trusts the stream only once fileio exits 0
    #[arg(short, long, value_name = "FILE", env = "FILEIO_IDENTITY")]
    pub identity: Option<PathBuf>,

    /// Unpack a .tar.gz (a folder `upload` sent) into DIR [default: the current directory]
    /// as it downloads, decrypting first when encrypted. Entries that would land outside DIR
    /// (absolute, `..`, links pointing out) refuse the archive; nothing is overwritten
    /// without --force, and a failure leaves nothing half-extracted in sight
    #[arg(short = 'x', long, value_name = "DIR", num_args = 0..=1, conflicts_with = "output")]
    pub extract: Option<Option<PathBuf>>,
}

/// Where the bytes go, as the user said it.
enum Dest {
    Stdout,
    File(PathBuf),
    /// A directory, the name to come from the server; `None` is the current directory.
    Dir(Option<PathBuf>),
}

/// What the bytes are written into.
enum Sink {
    Stdout,
    /// An existing FIFO or device, written as it is.
    Through(std::fs::File),
    /// A part file, moved to its target when complete.
    Part(PartFile),
}

/// How many redirects a download follows (file hosts hand off to CDNs).
const MAX_REDIRECTS: usize = 5;

pub async fn run(args: DownloadArgs, settings: &Settings) -> Result<()> {
    // The fragment (an encrypted link's key and name) is split off first: it is never sent,
    // logged or shown.
    let (target, fragment) = crate::crypt::split_target(&args.target)?;
    let keys = crate::crypt::Keys::new(&fragment, args.identity.as_deref())?;
    let what = format!("downloading {target}");
    let http = settings.http()?;
    let key = settings.api_key()?.map(|(k, _)| k);
    let api = settings.api(&http, key.as_ref());
    let url = settings.service.download_url(&api, &target).await?;
    let force = args.force;
    if let Some(into) = &args.extract {
        let into = into.clone().unwrap_or_else(|| PathBuf::from("."));
        needs_no_key(&http, &url, &what, &keys).await?;
        let resp = get(&http, url.clone(), &what).await?;
        let body = resumable(&http, resp, &what);
        let (body, _) = crate::crypt::open(body, keys).await?;
        for placed in crate::archive::extract(body, &into, force).await? {
            println!("{}", placed.display());
        }
        return Ok(());
    }

    // Everything that can make saving fail is checked before the GET: a refusal must not
    // spend a one-time link. `shown` is the path as the user will see it; `plan` is `None`
    // only when the name can come from the GET alone.
    let dest = destination(args.output.as_deref())?;
    let (plan, mut shown) = match &dest {
        Dest::Stdout => (Some(Plan::Stdout), None),
        Dest::File(p) => (Some(save::plan(p, force, Chooser::User)?), Some(p.clone())),
        Dest::Dir(dir) => match match fragment.name.as_deref().and_then(filename::sanitize) {
            Some(n) => Some(n),
            None => match head_name(&http, &url, &what).await? {
                Some(n) => Some(keys.plain_name(n)?),
                None => None,
            },
        } {
            Some(name) => {
                let p = join(dir.as_deref(), &name);
                (Some(save::plan(&p, force, Chooser::Server)?), Some(p))
            }
            None => (None, None),
        },
    };
    if plan == Some(Plan::Stdout) {
        shown = None;
    }
    // Saving into a directory learnt from the name it asked for whether a key is needed.
    if !matches!(dest, Dest::Dir(_)) {
        needs_no_key(&http, &url, &what, &keys).await?;
    }
    // Opening a FIFO waits for its reader; Ctrl-C meanwhile just ends us (nothing to clean).
    let through = match &plan {
        Some(Plan::Through(p)) => Some(save::open_through(p)?),
        _ => None,
    };

    // Whether the bytes go to a part file (removed on failure) rather than straight out.
    let to_part = matches!(plan, None | Some(Plan::Save { .. }));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let work = async {
        // The part file is created first: the proof that the directory takes files.
        let (mut sink, mut target) = match (&plan, through) {
            (_, Some(file)) => (Sink::Through(file), None),
            (Some(Plan::Save { target }), _) => (
                Sink::Part(PartFile::create(
                    save::parent_of(target),
                    &file_name_of(target),
                )?),
                Some(target.clone()),
            ),
            (None, _) => {
                let dir = match &dest {
                    Dest::Dir(Some(d)) => d.as_path(),
                    _ => Path::new("."),
                };
                (Sink::Part(PartFile::create(dir, "download")?), None)
            }
            _ => (Sink::Stdout, None),
        };

        let resp = get(&http, url.clone(), &what).await?;
        if let (None, Dest::Dir(dir)) = (&plan, &dest) {
            let p = join(dir.as_deref(), &keys.plain_name(name_of(&resp, &url))?);
            // Dropping the answer unread gives the download back on servers that count a
            // download only when it was sent in full, as `fileio serve` does.
            match save::plan(&p, force, Chooser::Server)? {
                Plan::Save { target: t } => target = Some(t),
                _ => unreachable!("a server's name only ever plans a regular file"),
            }
            shown = Some(p);
        }
        let len = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let progress = Progress::new(settings.progress);
        let bar = progress.bar(
            shown
                .as_deref()
                .and_then(Path::file_name)
                .map_or("download".into(), |n| n.to_string_lossy())
                .as_ref(),
            len,
        );
        // The body as a plain byte stream, resumed where it broke off: a wrapper that
        // changes the bytes on their way (decryption, unpacking) takes this stream and gives
        // another, and never sees the break.
        let body = resumable(&http, resp, &what);
        let (body, decrypting) = crate::crypt::open(body, keys).await?;
        // The plaintext is shorter than the ciphertext announced; age checks its own end.
        let len = if decrypting { None } else { len };
        if decrypting {
            // Decryption keeps this thread busy: the writes go to a thread of their own.
            let writer: Box<dyn Write + Send> = match &sink {
                Sink::Stdout => Box::new(StdoutSink),
                Sink::Through(file) => {
                    Box::new(file.try_clone().map_err(|e| write_error(e, to_part))?)
                }
                Sink::Part(part) => Box::new(part.writer()?),
            };
            let mut writer = OnThread::start(writer).map_err(|e| write_error(e, to_part))?;
            copy_body(body, &mut writer, len, &bar, to_part).await?;
        } else {
            match &mut sink {
                Sink::Stdout => copy_body(body, &mut StdoutSink, len, &bar, to_part).await?,
                Sink::Through(file) => copy_body(body, file, len, &bar, to_part).await?,
                Sink::Part(part) => copy_body(body, part, len, &bar, to_part).await?,
            }
        }
        if let (Sink::Part(part), Some(target)) = (sink, &target) {
            part.finish(target, force)?;
        }
        bar.finish_and_clear();
        anyhow::Ok(())
    };
    tokio::select! {
        biased;
        // Polled first, which installs the handler before the part file exists: Ctrl-C
        // from then on removes it (dropping `work`) instead of killing us mid-write.
        _ = &mut interrupted => {
            let outcome = outcome(to_part);
            return Err(Failure::new(Kind::Interrupted, format!("interrupted; {outcome}")).into());
        }
        r = work => r?,
    }
    if let Some(p) = shown {
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

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn join(dir: Option<&Path>, name: &str) -> PathBuf {
    match dir {
        Some(d) => d.join(name),
        None => PathBuf::from(name),
    }
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

/// Without a key, learns before the GET whether the file needs one, so that a GET does not
/// spend a one-time link on a file it cannot open: a file whose name says it is an age file
/// (the neutral `file.age` encrypted uploads are stored under, or any `*.age`), by its link's
/// last segment or the name a HEAD answers with, is refused. Anything else (no name, a HEAD
/// the server does not answer) leaves it to the GET, which refuses an age file before saving
/// anything, but may have spent the link by then.
async fn needs_no_key(http: &Http, url: &Url, what: &str, keys: &crate::crypt::Keys) -> Result<()> {
    if !keys.is_empty() {
        return Ok(());
    }
    if let Some(last) = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .and_then(filename::sanitize)
    {
        keys.plain_name(last)?;
    }
    let asked = http
        .send(what, true, None, || Ok(http.client.head(url.clone())))
        .await;
    if let Ok(resp) = asked {
        if resp.status().is_success() && resp.headers().contains_key(CONTENT_DISPOSITION) {
            keys.plain_name(name_of(&resp, url))?;
        }
    }
    Ok(())
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
                format!(
                    "{what}: the link led to a web page ({}), not to the file; the service may have changed",
                    // The server chose this URL: its secrets redacted, its text inert.
                    crate::terminal_text::inert(&http::redact_url(url.as_str()))
                ),
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

/// Streams the body into `sink`, checking it is as long as announced. `part` says whether a
/// failure leaves nothing (a part file, removed) or an incomplete output (stdout, a FIFO).
async fn copy_body(
    mut stream: ByteStream,
    sink: &mut impl Put,
    len: Option<u64>,
    bar: &indicatif::ProgressBar,
    part: bool,
) -> Result<()> {
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                // What came before the failure is written first: with `-o -` the error
                // follows the bytes.
                sink.finish().map_err(|e| write_error(e, part))?;
                if e.get_ref().is_some_and(|i| i.is::<Failure>()) {
                    // A resume that could not go on says why itself.
                    let mut f = *e.into_inner().unwrap().downcast::<Failure>().unwrap();
                    f.message = format!("{}; {}", f.message, outcome(part));
                    return Err(f.into());
                }
                return Err(crate::crypt::refusal(&e, outcome(part))
                    .unwrap_or_else(|| broke_off(got, len, &e.to_string(), part)));
            }
        };
        let n = chunk.len() as u64;
        sink.put(chunk).map_err(|e| write_error(e, part))?;
        got += n;
        bar.inc(n);
    }
    sink.finish().map_err(|e| write_error(e, part))?;
    match len {
        Some(n) if n != got => Err(broke_off(
            got,
            len,
            "the body is shorter than announced",
            part,
        )),
        _ => Ok(()),
    }
}

/// What a failure leaves: nothing, or an output cut short.
fn outcome(part: bool) -> &'static str {
    if part {
        "nothing was saved"
    } else {
        "the output is incomplete"
    }
}

fn broke_off(got: u64, len: Option<u64>, why: &str, part: bool) -> anyhow::Error {
    let of = len.map(|n| format!(" of {n}")).unwrap_or_default();
    let outcome = outcome(part);
    Failure::new(Kind::Network, format!("the download broke off after {got}{of} bytes ({why}); {outcome}"))
        .hint("it could not be resumed (the server offers no ranges, or --retries were used up); if the link still works, run the command again")
        .into()
}

fn write_error(e: std::io::Error, part: bool) -> anyhow::Error {
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
        format!("cannot write the download: {why}; {}", outcome(part)),
    )
    .into()
}

/// Where [`copy_body`] puts the bytes: a writer on this thread, or [`OnThread`].
trait Put {
    fn put(&mut self, chunk: Bytes) -> std::io::Result<()>;
    /// Everything put is written (and flushed) once this returns.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// Plain blocking writes: one consumer, local disk or a pipe; a thread hop per chunk
/// (tokio::fs) would only slow a plain download down, whose thread mostly waits.
impl<W: Write> Put for W {
    fn put(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.write_all(&chunk)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.flush()
    }
}

/// How many pieces may wait for the writing thread, beside the one it writes.
const WRITE_DEPTH: usize = 1;

/// Writes on a thread of its own, for a download whose thread is busy decrypting: the
/// file system's share of a 1 GiB download (~0.4 CPU-s here) then runs beside the cipher.
/// Dropped unfinished (Ctrl-C, a failure), it lets the thread write what it was given and
/// end; the part file itself belongs to the caller, which removes it.
struct OnThread {
    tx: Option<std::sync::mpsc::SyncSender<Bytes>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl OnThread {
    fn start(mut writer: Box<dyn Write + Send>) -> std::io::Result<OnThread> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(WRITE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("fileio-write".into())
            .spawn(move || {
                for chunk in rx {
                    writer.write_all(&chunk)?;
                }
                writer.flush()
            })?;
        Ok(OnThread {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Put for OnThread {
    fn put(&mut self, chunk: Bytes) -> std::io::Result<()> {
        // Blocks while the writer is behind, as a write would.
        if let Some(tx) = &self.tx
            && tx.send(chunk).is_ok()
        {
            return Ok(());
        }
        // The thread stopped: its error says why.
        self.finish()?;
        Err(std::io::Error::other("the writing thread stopped"))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        drop(self.tx.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked"))),
            None => Ok(()),
        }
    }
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

/// A download that broke off, to be continued with `Range` from where it stopped.
struct Resume {
    http: Http,
    /// Where the answer came from (after any redirects).
    url: Url,
    what: String,
    /// `If-Range`: the first answer's strong ETag, else its Last-Modified.
    validator: String,
    etag: Option<String>,
    len: u64,
    got: u64,
    resumes: u32,
    body: ByteStream,
    done: bool,
}

/// The body of a download's answer as a byte stream that, when the connection breaks
/// mid-body, continues with `Range: bytes=N-` and `If-Range` (up to `--retries` times, with
/// the usual backoff) so that the bytes go on where they stopped. Only when the server
/// offered ranges (`Accept-Ranges: bytes`), said the length and gave a validator; a changed
/// file (a 200 instead of a 206, another ETag) or a range other than the one asked for ends
/// the stream with an error, never a splice. Resuming never spends a one-time link twice:
/// servers that count on delivery (ours) count only the request that delivers the end.
fn resumable(http: &Http, resp: Response, what: &str) -> ByteStream {
    let headers = resp.headers();
    let text = |name: reqwest::header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ranges = text(reqwest::header::ACCEPT_RANGES)
        .is_some_and(|v| v.split(',').any(|u| u.trim().eq_ignore_ascii_case("bytes")));
    let etag = text(reqwest::header::ETAG).filter(|t| t.starts_with('"'));
    let validator = etag
        .clone()
        .or_else(|| text(reqwest::header::LAST_MODIFIED));
    let len = text(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    let url = resp.url().clone();
    let body: ByteStream = Box::pin(resp.bytes_stream().map_err(std::io::Error::other));
    let (Some(validator), Some(len), true) = (validator, len, ranges) else {
        return body;
    };
    let state = Resume {
        http: http.clone(),
        url,
        what: what.to_string(),
        validator,
        etag,
        len,
        got: 0,
        resumes: 0,
        body,
        done: false,
    };
    // Fused: the decrypting and unpacking wrappers may poll once more after the end.
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let broke = match st.body.next().await {
                Some(Ok(chunk)) => {
                    st.got += chunk.len() as u64;
                    return Some((Ok(chunk), st));
                }
                None if st.got >= st.len => return None,
                Some(Err(e)) => e,
                None => std::io::Error::other("the body is shorter than announced"),
            };
            if st.resumes >= st.http.retries() {
                st.done = true;
                return Some((Err(broke), st));
            }
            match reopen(&mut st, &broke).await {
                Ok(body) => st.body = body,
                Err(f) => {
                    st.done = true;
                    return Some((Err(std::io::Error::other(f)), st));
                }
            }
        }
    });
    Box::pin(stream.fuse())
}

/// Asks for the rest of the file after a break, within the retries left.
async fn reopen(st: &mut Resume, broke: &std::io::Error) -> Result<ByteStream, Failure> {
    loop {
        let wait = http::backoff(st.resumes);
        st.http.note_retry(
            &format!(
                "the download broke off after {} of {} bytes ({broke}); resuming from there",
                st.got, st.len
            ),
            wait,
            st.resumes,
        );
        st.resumes += 1;
        tokio::time::sleep(wait).await;
        let (url, range, validator) = (
            st.url.clone(),
            format!("bytes={}-", st.got),
            st.validator.clone(),
        );
        let client = st.http.client.clone();
        let resp = st
            .http
            .send(&st.what, true, None, || {
                Ok(client
                    .get(url.clone())
                    .header("Accept", "*/*")
                    .header(reqwest::header::RANGE, range.clone())
                    .header(reqwest::header::IF_RANGE, validator.clone()))
            })
            .await
            .map_err(|e| match e.downcast::<Failure>() {
                Ok(f) => f,
                Err(e) => Failure::new(Kind::Network, format!("{e:#}")),
            })?;
        let status = resp.status();
        if status == StatusCode::PARTIAL_CONTENT {
            let want = format!("bytes {}-{}/{}", st.got, st.len - 1, st.len);
            let range = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let etag = resp
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|v| v.to_str().ok());
            if st.etag.is_some() && etag.is_some() && etag != st.etag.as_deref() {
                return Err(changed(&st.what));
            }
            if range.trim() != want {
                return Err(Failure::new(
                    Kind::BadAnswer,
                    format!(
                        "{}: resuming, the server sent another range ({}) than the one asked for ({want}); nothing was spliced",
                        st.what,
                        crate::terminal_text::inert(range)
                    ),
                ));
            }
            return Ok(Box::pin(resp.bytes_stream().map_err(std::io::Error::other)));
        }
        if status == StatusCode::OK {
            // Dropped unread: servers that count on delivery give the download back.
            return Err(changed(&st.what));
        }
        // Our broken connection's hold on a one-time download may not be given back yet.
        let gone = matches!(status.as_u16(), 404 | 410);
        if gone && st.resumes < st.http.retries() {
            continue;
        }
        return Err(not_found_hint(
            http::error_from_response(&st.what, resp).await,
        ));
    }
}

fn changed(what: &str) -> Failure {
    Failure::new(
        Kind::Integrity,
        format!(
            "{what}: the file behind the link changed while it downloaded, so the rest cannot be joined to what came before"
        ),
    )
    .hint("download it again to get the new contents (a one-time link may be spent by then)")
}
