//! `fileio upload`: send files (or standard input) and print one link per file.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use futures_util::StreamExt;
use indicatif::ProgressBar;

use crate::activity::Activity;
use crate::body::{FileSource, Source, StdinSource, spool_stdin};
use crate::config::Settings;
use crate::error::{Failure, Kind, failure_of};
use crate::expires::Expires;
use crate::history::{self, Recording};
use crate::output::print_record;
use crate::progress::Progress;
use crate::services::{self, Api, Upload, UploadOptions, Uploaded};

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Files to upload; a folder goes up as one FOLDER.tar.gz, streamed as it is made (links
    /// kept as links, special files skipped); `-` reads standard input, as does no file at
    /// all when input is piped.
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

    /// Also draw each link as a QR code on stderr, for a phone's camera (only when stderr is
    /// a terminal)
    #[arg(long)]
    pub qr: bool,

    /// Encrypt end to end (age): the link printed carries the key in its #fragment, which is
    /// never sent to a server; the service stores only ciphertext under a neutral name.
    /// Decrypt with `fileio download LINK`, or with stock age (see the README)
    #[arg(long, conflicts_with_all = ["to", "to_file"])]
    pub encrypt: bool,

    /// Do not encrypt, even when the config file says `encrypt = true`
    #[arg(long, conflicts_with_all = ["encrypt", "to", "to_file"])]
    pub no_encrypt: bool,

    /// Encrypt to this public key instead (age1…, ssh-ed25519 or ssh-rsa; repeatable): no
    /// secret in the link, and the recipient decrypts with --identity or `age -d -i`
    #[arg(long, value_name = "RECIPIENT")]
    pub to: Vec<String>,

    /// Encrypt to the public keys in this file, one per line, as age's -R reads them
    /// (repeatable)
    #[arg(long, value_name = "FILE")]
    pub to_file: Vec<PathBuf>,

    /// Send files larger than SIZE resumably where the server offers it (tus, as `fileio
    /// serve` does): a dropped connection, or the same command run again after an
    /// interruption, sends only the rest. `0`: every file; `never`: none, and no stream
    /// either. Standard input and folders resume within the run only, from the last 32 MiB
    /// kept in memory; encrypted files go in one POST [default: 64MiB]
    #[arg(long, value_name = "SIZE", env = "FILEIO_RESUMABLE_ABOVE")]
    pub resumable_above: Option<crate::size::Threshold>,
}

/// One thing to upload.
#[derive(Debug)]
enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    fn label(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "standard input".into(),
        }
    }

    /// The argument it came from, as `--json` reports it in `file`.
    fn arg(&self) -> String {
        match self {
            Input::File(p) => p.to_string_lossy().into_owned(),
            Input::Stdin => "-".into(),
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
    let sealing = crate::crypt::Sealing::choose(
        args.encrypt || (settings.default_encrypt && !args.no_encrypt),
        &args.to,
        &args.to_file,
    )?;
    services::check_upload(settings.service, &opts, &settings.services)?;
    let key = settings.api_key()?.map(|(k, _)| k);
    let jobs = args
        .jobs
        .map(usize::from)
        .or(settings.default_jobs)
        .unwrap_or(4)
        .max(1);
    let http = settings.http()?;
    let api = settings.api(&http, key.as_ref());
    let progress = Progress::new(settings.progress);
    let total = (sources.len() > 1).then(|| progress.bar("total", total_len(&sources)));

    let mut history = settings
        .history
        .then(|| history::Opening::start(settings.quiet));
    let recording = Recording {
        server: &settings.server,
        tokens: api.capabilities().tokens,
        quiet: settings.quiet,
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
                    sealing: sealing.as_ref(),
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
                let opened = match &mut history {
                    Some(opening) => opening.get().await,
                    None => None,
                };
                if let Some(h) = opened {
                    history::remember(h, &up.record, up.token.clone(), &recording);
                } else {
                    note_lost_token(&up, settings);
                }
                print_record(
                    &up.record,
                    Some(&source.arg()),
                    settings.json,
                    settings.chatty(),
                )?;
                if args.qr {
                    crate::qr::draw_on_stderr(&up.record.link);
                }
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
fn report_failed(source: &Input, e: &anyhow::Error) {
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

fn sources(args: &UploadArgs) -> Result<Vec<Input>> {
    if args.files.is_empty() {
        if std::io::stdin().is_terminal() {
            return Err(Failure::new(
                Kind::Usage,
                "nothing to upload: name a file, or pipe data in",
            )
            .hint("fileio upload FILE… or: tar cz dir | fileio upload -")
            .into());
        }
        return Ok(vec![Input::Stdin]);
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
                Input::Stdin
            } else {
                Input::File(p.clone())
            }
        })
        .collect())
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

fn options(args: &UploadArgs, settings: &Settings) -> Result<UploadOptions> {
    // Defaults from the config file apply only where the service can honour them.
    let caps = settings.service.capabilities(&settings.services).upload;
    let expires = args
        .expires
        .or(settings.default_expires.filter(|_| caps.expires));
    crate::expires::check_future(expires.as_ref(), crate::clock::now())?;
    Ok(UploadOptions {
        expires,
        max_downloads: args.max_downloads.or(settings
            .default_max_downloads
            .filter(|_| caps.max_downloads)),
        auto_delete: args.no_auto_delete.then_some(false),
        secret: args.secret,
        resumable_above: args
            .resumable_above
            .map_or(settings.resumable_above, |t| t.0),
    })
}

fn total_len(sources: &[Input]) -> Option<u64> {
    sources.iter().try_fold(0u64, |acc, s| match s {
        Input::File(p) => std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| acc + m.len()),
        Input::Stdin => None,
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
    /// How uploads are encrypted, if they are.
    sealing: Option<&'a crate::crypt::Sealing>,
}

async fn upload_one(ctx: Ctx<'_>, name: Option<&str>, source: &Input) -> Result<Uploaded> {
    let Ctx {
        api,
        opts,
        progress,
        total,
        jobs,
        sealing,
    } = ctx;
    // A service that needs the length first gets standard input spooled to a temporary
    // file (never to memory), which also makes it retryable.
    let spooled = match source {
        Input::Stdin if api.service.needs_length() => Some(spool_stdin().await?),
        _ => None,
    };
    let (bytes, name): (Box<dyn Source>, String) = match (source, &spooled) {
        (_, Some(tmp)) => (
            Box::new(FileSource::new(tmp.path())?),
            stdin_name(name, api.quiet),
        ),
        // A folder goes up as one .tar.gz, streamed as it is made.
        (Input::File(p), None) if crate::archive::is_dir(p) => {
            let dir = crate::archive::DirSource::new(p, api.quiet)?;
            let default = dir.name();
            (Box::new(dir), name.map(str::to_owned).unwrap_or(default))
        }
        (Input::File(p), None) => {
            let file = FileSource::new(p)?;
            let default = p
                .file_name()
                .map_or("file".into(), |n| n.to_string_lossy().into_owned());
            (Box::new(file), name.map(str::to_owned).unwrap_or(default))
        }
        (Input::Stdin, None) => (Box::new(StdinSource), stdin_name(name, api.quiet)),
    };
    // Encryption wraps the bytes and hides the name; the link gets both back after.
    let wrapped = crate::crypt::wrap(sealing, bytes, api.service.needs_length()).await?;
    let bytes = wrapped.source();
    let bar = progress.bar(&name, bytes.size());
    let activity = Activity::default();
    let up = Upload {
        name: wrapped.stored_name(&name),
        source: bytes,
        activity: &activity,
        bar: &bar,
        total,
        jobs,
    };
    let result = api.service.upload(api, &up, opts).await.map(|mut up| {
        wrapped.finish(&mut up.record, &name);
        up
    });
    bar.finish_and_clear();
    // Standard input went up as it was read and is not kept past this run (nor past the
    // window a resumable stream keeps): say so rather than suggest a rerun that could
    // resume it, unless the failure says it already.
    let cut = |e: &anyhow::Error| {
        failure_of(e).is_some_and(|f| {
            f.kind == Kind::Network
                && !f
                    .hints
                    .iter()
                    .any(|h| h.contains("save the data to a file"))
        })
    };
    match (result, source) {
        (Err(e), Input::Stdin) if spooled.is_none() && cut(&e) => Err(crate::error::add_hint(
            e,
            Kind::Network,
            "standard input is not kept once sent, so a later run cannot resume it; to upload resumably, save it to a file and upload the file",
        )),
        (result, _) => result,
    }
}

/// The name standard input goes up under: `--name`, or `stdin-<UTC time>` (a name that
/// says what it is and does not collide with the last one), said on stderr.
fn stdin_name(name: Option<&str>, quiet: bool) -> String {
    if let Some(n) = name {
        return n.to_string();
    }
    let n = format!("stdin-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    if !quiet {
        eprintln!(
            "fileio: note: uploading standard input as {n}; name it with --name (e.g. --name dir.tgz)"
        );
    }
    n
}
