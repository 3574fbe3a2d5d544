//! A folder as one upload (issue 14): `fileio upload DIR` streams DIR as a `.tar.gz`, made
//! on a blocking thread into a bounded pipe, with no temporary file.
//!
//! Symbolic links are stored as links (never followed, so nothing outside DIR is read);
//! FIFOs, sockets and devices are skipped with a note. The archive's entries are under
//! DIR's own name, as `tar czf DIR.tar.gz DIR` makes them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use bytes::Bytes;

use crate::body::{ByteStream, Source};
use crate::error::{Failure, Kind};

/// How many compressed pieces may wait between the archiving thread and the upload.
const PIPE_DEPTH: usize = 4;
/// The size of the pieces the archiving thread hands on.
const PIECE: usize = 64 * 1024;

/// A directory, archived afresh for each try.
pub struct DirSource {
    dir: PathBuf,
    /// The name the entries are stored under: the directory's own.
    root: String,
    quiet: bool,
}

impl DirSource {
    pub fn new(dir: &Path, quiet: bool) -> Result<DirSource> {
        std::fs::read_dir(dir).map_err(|e| crate::body::local_error(dir, &e))?;
        let root = std::fs::canonicalize(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "folder".into());
        Ok(DirSource {
            dir: dir.to_path_buf(),
            root,
            quiet,
        })
    }

    /// The upload's name: `DIR.tar.gz`.
    pub fn name(&self) -> String {
        format!("{}.tar.gz", self.root)
    }
}

impl Source for DirSource {
    fn open(&self) -> Result<ByteStream> {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(PIPE_DEPTH);
        let (dir, root, quiet) = (self.dir.clone(), self.root.clone(), self.quiet);
        tokio::task::spawn_blocking(move || {
            let pipe = Pipe {
                tx: tx.clone(),
                buf: Vec::with_capacity(PIECE),
            };
            let gz = flate2::write::GzEncoder::new(pipe, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            tar.follow_symlinks(false);
            let done = add_dir(&mut tar, &dir, Path::new(&root), quiet)
                .and_then(|()| tar.into_inner())
                .and_then(|gz| gz.finish())
                .and_then(|mut pipe| pipe.flush());
            if let Err(e) = done {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let mut rx = rx;
        Ok(Box::pin(futures_util::stream::poll_fn(move |cx| {
            rx.poll_recv(cx)
        })))
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn replayable(&self) -> bool {
        true
    }
}

/// Adds `dir` under `name`, entry by entry in name order, never following a link.
fn add_dir<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    name: &Path,
    quiet: bool,
) -> std::io::Result<()> {
    tar.append_dir(name, dir)?;
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let inside = name.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&path)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            add_dir(tar, &path, &inside, quiet)?;
        } else if kind.is_file() || kind.is_symlink() {
            // With follow_symlinks(false) a link is stored as a link.
            tar.append_path_with_name(&path, &inside)?;
        } else if !quiet {
            eprintln!(
                "fileio: note: skipping {}: not a regular file, directory or link",
                crate::terminal_text::inert(&path.display().to_string())
            );
        }
    }
    Ok(())
}

/// The write end of the bounded pipe: pieces of [`PIECE`] bytes, sent as they fill.
struct Pipe {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Pipe {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE));
        self.tx
            .blocking_send(Ok(Bytes::from(piece)))
            .map_err(|_| std::io::Error::other("the upload stopped reading the archive"))
    }
}

impl Write for Pipe {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Whether `path` names a directory to upload as an archive.
pub fn is_dir(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_dir())
}

/// Unpacks a downloaded `.tar.gz` into `into` as it arrives. Entries go first into a hidden
/// directory beside their target, and are moved into place only once the whole archive
/// unpacked (and, when encrypted, verified): a failure leaves nothing half-extracted in
/// sight. Entries that would land outside `into` (absolute paths, `..`, links pointing out)
/// refuse the whole archive; an existing top-level entry is refused unless `force`.
/// Returns the top-level paths placed.
pub async fn extract(body: ByteStream, into: &Path, force: bool) -> Result<Vec<PathBuf>> {
    use futures_util::TryStreamExt;
    std::fs::create_dir_all(into).map_err(|e| crate::body::local_error(into, &e))?;
    let staging = tempfile::Builder::new()
        .prefix(".fileio-extract-")
        .tempdir_in(into)
        .map_err(|e| crate::body::local_error(into, &e))?;
    let stage = staging.path().to_path_buf();
    // Whether the body itself failed (the network, or decryption): anything else that goes
    // wrong while reading is the archive's own damage.
    let broke = Arc::new(AtomicBool::new(false));
    let b = broke.clone();
    let body = body.inspect_err(move |_| b.store(true, Ordering::SeqCst));
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(body));
    let unpacked = tokio::task::spawn_blocking(move || unpack(reader, &stage)).await?;
    if let Err(e) = unpacked {
        return Err(unpack_failure(e, broke.load(Ordering::SeqCst)));
    }
    // Everything unpacked: check, then move the top-level entries into place.
    let mut tops: Vec<_> = std::fs::read_dir(staging.path())?.collect::<std::io::Result<_>>()?;
    tops.sort_by_key(|e| e.file_name());
    for top in &tops {
        let target = into.join(top.file_name());
        if std::fs::symlink_metadata(&target).is_ok() && !force {
            return Err(Failure::new(
                Kind::LocalFile,
                format!("{} already exists; nothing was extracted", target.display()),
            )
            .hint("use --force to replace it, or --extract another directory")
            .into());
        }
    }
    let mut placed = Vec::new();
    for top in tops {
        let target = into.join(top.file_name());
        if force && std::fs::symlink_metadata(&target).is_ok() {
            if std::fs::symlink_metadata(&target)?.is_dir() {
                std::fs::remove_dir_all(&target)?;
            } else {
                std::fs::remove_file(&target)?;
            }
        }
        std::fs::rename(top.path(), &target).map_err(|e| crate::body::local_error(&target, &e))?;
        placed.push(target);
    }
    Ok(placed)
}

/// Unpacks every entry into `stage`, refusing any that would land outside it.
fn unpack(reader: impl std::io::Read, stage: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    archive.set_preserve_permissions(false);
    archive.set_overwrite(false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let shown = crate::terminal_text::inert(&path.display().to_string()).into_owned();
        let refuse = |why: &str| -> anyhow::Error {
            Failure::new(
                Kind::BadAnswer,
                format!("the archive's entry {shown} {why}; nothing was extracted"),
            )
            .hint("the archive may be hostile: unpack it by hand with care, if at all")
            .into()
        };
        if !inside(&path, Path::new("")) {
            return Err(refuse("would land outside the target directory"));
        }
        if let Some(link) = entry.link_name()? {
            let kind = entry.header().entry_type();
            let base = if kind.is_hard_link() {
                Path::new("")
            } else {
                path.parent().unwrap_or(Path::new(""))
            };
            if !inside(&link, base) {
                return Err(refuse("is a link pointing outside the target directory"));
            }
        }
        if !entry.unpack_in(stage)? {
            return Err(refuse("would land outside the target directory"));
        }
    }
    // Tar stops at its end marker; the rest is read too, so that gzip checks its CRC and
    // age verifies the last chunk before anything is moved into place.
    let mut gz = archive.into_inner();
    std::io::copy(&mut gz, &mut std::io::sink())?;
    std::io::copy(&mut gz.into_inner(), &mut std::io::sink())?;
    Ok(())
}

/// What an unpacking failure is, for the user: a hostile entry (as refused), a decryption
/// refusal or a damaged archive (integrity), the download breaking off (network), or the
/// local disk (a failure the operating system reported while writing).
fn unpack_failure(e: anyhow::Error, broke: bool) -> anyhow::Error {
    let outcome = "nothing was extracted";
    if crate::error::failure_of(&e).is_some() {
        return e;
    }
    if let Some(refused) = crate::crypt::refusal_in(e.as_ref(), outcome) {
        return refused;
    }
    let why = crate::terminal_text::inert(&format!("{e:#}")).into_owned();
    if broke {
        return Failure::new(
            Kind::Network,
            format!("the download broke off ({why}); {outcome}"),
        )
        .hint("not retried: a retry could spend a one-time link. If the link still works, run the command again")
        .into();
    }
    let os_error = e
        .chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.raw_os_error().is_some());
    if os_error {
        return Failure::new(Kind::LocalFile, format!("cannot extract: {why}; {outcome}")).into();
    }
    Failure::new(
        Kind::Integrity,
        format!("the archive is damaged ({why}): it was tampered with or cut short; {outcome}"),
    )
    .hint("if the link allowed one download, that download is spent now; ask the sender to upload it again")
    .into()
}

/// Whether `rel`, taken from `base` (itself relative), stays inside: no root, no prefix, and
/// never more `..` than depth.
fn inside(rel: &Path, base: &Path) -> bool {
    use std::path::Component;
    let mut depth: i64 = 0;
    for c in base.components().chain(rel.components()) {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}
