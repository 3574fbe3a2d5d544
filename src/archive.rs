//! A folder as one upload (issue 14): `fileio upload DIR` streams DIR as a `.tar.gz`, made
//! on a blocking thread into a bounded pipe, with no temporary file.
//!
//! Symbolic links are stored as links (never followed, so nothing outside DIR is read);
//! FIFOs, sockets and devices are skipped with a note. The archive's entries are under
//! DIR's own name, as `tar czf DIR.tar.gz DIR` makes them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use bytes::Bytes;

use crate::body::{ByteStream, Source};

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
