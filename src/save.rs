//! Saving a download: deciding where its bytes go and opening that before the request that
//! spends a one-time link, then moving the finished file into place without ever overwriting
//! a file the user did not ask to replace, and never throwing a finished download away.
//!
//! The rules, as `download --help` and the README state them:
//! - a new path gets a part file beside it, moved into place only when complete;
//! - an existing regular file is replaced only with `--force`;
//! - a FIFO or a character device (`/dev/null`, a terminal) is written through as it is, and
//!   `/dev/stdout` is our standard output; a block device only with `--force`, also written
//!   through; nothing that is not a regular file is ever replaced by one;
//! - a symbolic link given with `-o` is followed: to a FIFO or device it is written through, to
//!   a regular file that file is replaced with `--force` (the link stays), to nothing it is
//!   refused — it would create a file wherever the link points;
//! - a name the server chose only ever creates, or with `--force` replaces, a regular file:
//!   it never follows a link nor writes into a device.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::{Failure, Kind};

/// Who chose the path: one the user typed is followed through symbolic links; one the server
/// chose is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chooser {
    User,
    Server,
}

/// What to do with a path, decided before anything is downloaded.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Our own standard output (`/dev/stdout` and its aliases).
    Stdout,
    /// An existing FIFO or device: opened and written as it is.
    Through(PathBuf),
    /// A regular file at `target` (created, or replaced with `--force`), written through a
    /// part file beside it. For a followed symbolic link `target` is the file it points to.
    Save { target: PathBuf },
}

/// Decides what saving to `path` means, refusing everything that would make saving fail or
/// clobber something: a directory, an existing file without `force`, a missing directory, a
/// link to nothing.
pub fn plan(path: &Path, force: bool, chooser: Chooser) -> Result<Plan> {
    if chooser == Chooser::User && is_stdout_alias(path) {
        return Ok(Plan::Stdout);
    }
    let shown = path.display();
    let lmeta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            let parent = parent_of(path);
            return match std::fs::metadata(parent) {
                Ok(m) if m.is_dir() => Ok(Plan::Save {
                    target: path.to_path_buf(),
                }),
                Ok(_) => Err(local(format!("{} is not a directory", parent.display()))),
                Err(_) => Err(Failure::new(
                    Kind::LocalFile,
                    format!("directory {} does not exist", parent.display()),
                )
                .hint(format!(
                    "create it first: mkdir -p {}, or give -o another path",
                    parent.display()
                ))
                .into()),
            };
        }
        Err(e) => return Err(local(format!("cannot save to {shown}: {e}"))),
    };
    if lmeta.is_symlink() {
        if chooser == Chooser::Server {
            return Err(Failure::new(
                Kind::LocalFile,
                format!("{shown} is a symbolic link; a name the server chose never follows one"),
            )
            .hint("give -o with the path to save to")
            .into());
        }
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let to = std::fs::read_link(path).unwrap_or_default();
                return Err(Failure::new(
                    Kind::LocalFile,
                    format!(
                        "{shown} is a symbolic link to {}, which does not exist",
                        to.display()
                    ),
                )
                .hint("remove the link, or give -o another path")
                .into());
            }
            Err(e) => return Err(local(format!("cannot save to {shown}: {e}"))),
        };
        return match kind_of(&meta) {
            Entry::File if force => Ok(Plan::Save {
                target: std::fs::canonicalize(path)
                    .map_err(|e| local(format!("cannot save to {shown}: {e}")))?,
            }),
            entry => classify(path, entry, force, chooser),
        };
    }
    classify(path, kind_of(&lmeta), force, chooser)
}

/// What an existing path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File,
    Dir,
    /// A FIFO or a character device: written through with or without `--force`.
    Stream,
    BlockDevice,
    Other,
}

fn kind_of(meta: &std::fs::Metadata) -> Entry {
    let t = meta.file_type();
    if t.is_file() {
        return Entry::File;
    }
    if t.is_dir() {
        return Entry::Dir;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() || t.is_char_device() {
            return Entry::Stream;
        }
        if t.is_block_device() {
            return Entry::BlockDevice;
        }
    }
    Entry::Other
}

fn classify(path: &Path, entry: Entry, force: bool, chooser: Chooser) -> Result<Plan> {
    let shown = path.display();
    match entry {
        Entry::Dir => Err(
            Failure::new(Kind::LocalFile, format!("{shown} is a directory"))
                .hint(format!(
                    "to save in it under the server's name, end the path with /: -o {shown}/"
                ))
                .into(),
        ),
        Entry::File if !force => Err(Failure::new(
            Kind::LocalFile,
            format!("{shown} already exists"),
        )
        .hint("use --force to overwrite it, or -o to save elsewhere")
        .into()),
        Entry::File => Ok(Plan::Save {
            target: path.to_path_buf(),
        }),
        _ if chooser == Chooser::Server => Err(Failure::new(
            Kind::LocalFile,
            format!("{shown} exists and is not a regular file"),
        )
        .hint("give -o with the path to save to")
        .into()),
        Entry::Stream => Ok(Plan::Through(path.to_path_buf())),
        Entry::BlockDevice if force => Ok(Plan::Through(path.to_path_buf())),
        Entry::BlockDevice => Err(Failure::new(
            Kind::LocalFile,
            format!("{shown} is a block device"),
        )
        .hint("use --force to write the download onto the device, or -o to save elsewhere")
        .into()),
        Entry::Other => Err(local(format!(
            "{shown} is neither a file, a FIFO nor a device; nothing can be saved there"
        ))),
    }
}

/// The names of our standard output: written to the descriptor we have (which keeps a
/// shell's `>>` appending), not reopened.
fn is_stdout_alias(path: &Path) -> bool {
    cfg!(unix)
        && [
            Path::new("/dev/stdout"),
            Path::new("/dev/fd/1"),
            Path::new("/proc/self/fd/1"),
        ]
        .contains(&path)
}

/// The directory a path is in; `.` for a bare name.
pub fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Opens an existing FIFO or device for writing. A FIFO waits here for its reader: before
/// the download starts, so nothing is spent if none comes.
pub fn open_through(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| local(format!("cannot write to {}: {e}", path.display())))
}

fn local(msg: String) -> anyhow::Error {
    Failure::new(Kind::LocalFile, msg).into()
}

/// A temporary file beside the target, moved into place only when complete. It is removed
/// on any failure before that (tempfile's `Drop`: a short body, a full disk, Ctrl-C), and
/// kept, with its path said, when only the last step fails: by then a one-time link is spent.
pub struct PartFile {
    file: tempfile::NamedTempFile,
    /// Its path as the user gave the directory (tempfile makes it absolute), for messages.
    shown: PathBuf,
}

/// The longest piece of the target's name put in a part file's name, in bytes, so that the
/// part's name stays within the 255 bytes file systems allow whatever the target's is.
const PART_NAME_BYTES: usize = 100;

impl PartFile {
    /// Creates `.<name>.<random>.fileio-part` in `dir` (exclusively, mode 0600): this is the
    /// check that the directory exists and is writable, made before anything is downloaded.
    pub fn create(dir: &Path, name: &str) -> Result<PartFile> {
        let mut cut = name.len().min(PART_NAME_BYTES);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let file = tempfile::Builder::new()
            .prefix(&format!(".{}.", &name[..cut]))
            .suffix(".fileio-part")
            .rand_bytes(8)
            .tempfile_in(dir)
            .map_err(|e| {
                // tempfile's error names the part's path; the directory is what the user
                // chose, so the message names that and the OS error alone.
                let e = e
                    .get_ref()
                    .and_then(|inner| inner.source())
                    .map_or_else(|| e.to_string(), ToString::to_string);
                Failure::new(
                    Kind::LocalFile,
                    format!("cannot write in {}: {e}", dir.display()),
                )
                .hint("nothing was downloaded: choose a writable place with -o")
            })?;
        let shown = dir.join(file.path().file_name().unwrap_or_default());
        Ok(PartFile { file, shown })
    }

    /// Moves the finished file to `target`. Without `force` never over anything that exists,
    /// even something that appeared while downloading; with it, only over a regular file.
    /// When this fails the part file stays, and the error names it.
    pub fn finish(self, target: &Path, force: bool) -> Result<()> {
        // Closed without fsync, as curl does: fdatasync costs ~1.7 s per GiB on this
        // machine's disk, about what the whole download takes.
        let part = self.file.into_temp_path();
        let result = if force {
            replace(&part, target)
        } else {
            rename_no_clobber(&part, target, Fallback::from_env())
        };
        // Moved, or kept for the user: either way nothing is left for tempfile to remove.
        part.keep()
            .map_err(|e| local(format!("cannot keep the download: {e}")))?;
        let path = self.shown;
        result.map_err(|e| {
            let why = if e.kind() == io::ErrorKind::AlreadyExists {
                "it appeared while downloading, and was not overwritten".to_string()
            } else {
                e.to_string()
            };
            Failure::new(
                Kind::LocalFile,
                format!(
                    "cannot save {}: {why}; the download is kept in {}",
                    target.display(),
                    path.display()
                ),
            )
            .hint("the link may be used up now: keep that file, and rename it to where it belongs")
            .into()
        })
    }
}

/// `rename` over an existing regular file, refusing anything else that took the target's
/// place while downloading (a link, a directory, a device): those are never replaced.
fn replace(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(to) {
        Ok(m) if !m.file_type().is_file() => Err(io::Error::other(
            "it is no longer a regular file, and was not replaced",
        )),
        _ => std::fs::rename(from, to),
    }
}

/// How far down the no-clobber ways to go straight away. Only tests choose (through the
/// hidden `FILEIO_TEST_SAVE_FALLBACK=link|placeholder`), to run the ways a file system
/// without `RENAME_NOREPLACE` or hard links would take, on any file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fallback {
    /// `renameat2(RENAME_NOREPLACE)` first.
    None,
    /// Start at the hard link.
    Link,
    /// Start at the placeholder.
    Placeholder,
}

impl Fallback {
    pub fn from_env() -> Fallback {
        match std::env::var("FILEIO_TEST_SAVE_FALLBACK").as_deref() {
            Ok("link") => Fallback::Link,
            Ok("placeholder") => Fallback::Placeholder,
            _ => Fallback::None,
        }
    }
}

/// Moves `from` to `to` unless `to` exists (then `AlreadyExists`), in the first of three ways
/// the file system supports:
/// 1. `renameat2(RENAME_NOREPLACE)` (Linux; `renameatx_np(RENAME_EXCL)` on macOS): atomic;
///    most local file systems, FAT and exFAT included.
/// 2. A hard link, which fails atomically if `to` exists, then removing `from`: file systems
///    whose rename takes no flags (NFS, many FUSE mounts).
/// 3. Creating `to` exclusively as an empty placeholder, then renaming over it: file systems
///    with neither (FAT through FUSE, some network mounts). The exclusive create is the
///    no-clobber check; the rename only replaces the empty file we made a moment before, and
///    checks it still is that before doing so.
///
/// Hand-written rather than tempfile's `persist_noclobber`, which does 1 and 2 but not 3 and
/// so fails on FAT through FUSE (tested by `saving::root_*`).
pub fn rename_no_clobber(from: &Path, to: &Path, start: Fallback) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    if start == Fallback::None {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            // The kernel or the file system has no such flag: the next way.
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if start <= Fallback::Link {
        match std::fs::hard_link(from, to) {
            Ok(()) => {
                // Both names are the finished file; a failure to drop the part's name loses
                // nothing (the caller's `Drop` tries again).
                let _ = std::fs::remove_file(from);
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            Err(e) if !links_unsupported(&e) => return Err(e),
            Err(_) => {}
        }
    }
    let placeholder = OpenOptions::new().write(true).create_new(true).open(to)?;
    drop(placeholder);
    // Still the empty file made just now? Anything else is someone else's, and stays.
    let ours =
        || std::fs::symlink_metadata(to).is_ok_and(|m| m.file_type().is_file() && m.len() == 0);
    if !ours() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "something took the file's place while it was saved",
        ));
    }
    std::fs::rename(from, to).inspect_err(|_| {
        if ours() {
            let _ = std::fs::remove_file(to);
        }
    })
}

/// Whether a failed hard link means the file system has none (rather than a real problem).
fn links_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    ) || {
        #[cfg(unix)]
        {
            use rustix::io::Errno;
            e.raw_os_error().is_some_and(|n| {
                [Errno::PERM, Errno::NOTSUP, Errno::NOSYS, Errno::MLINK]
                    .iter()
                    .any(|x| x.raw_os_error() == n)
            })
        }
        #[cfg(not(unix))]
        {
            true
        }
    }
}

impl PartFile {
    /// Another handle on the part file, to write it from another thread; the part file
    /// stays where it is, removed on failure as ever.
    pub fn writer(&self) -> Result<File> {
        self.file
            .as_file()
            .try_clone()
            .map_err(|e| local(format!("cannot write the download: {e}")))
    }
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_file_mut().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.as_file_mut().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_file_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_refuses_an_existing_target_and_keeps_both() {
        for way in [Fallback::None, Fallback::Link, Fallback::Placeholder] {
            let dir = tempfile::tempdir().unwrap();
            let (from, to) = (dir.path().join("part"), dir.path().join("target"));
            std::fs::write(&from, "new").unwrap();
            std::fs::write(&to, "old").unwrap();
            let err = rename_no_clobber(&from, &to, way).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{way:?}");
            assert_eq!(std::fs::read_to_string(&to).unwrap(), "old", "{way:?}");
            assert_eq!(std::fs::read_to_string(&from).unwrap(), "new", "{way:?}");

            std::fs::remove_file(&to).unwrap();
            rename_no_clobber(&from, &to, way).unwrap();
            assert_eq!(std::fs::read_to_string(&to).unwrap(), "new", "{way:?}");
            assert!(!from.exists(), "{way:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("part"), dir.path().join("link"));
        std::fs::write(&from, "new").unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &to).unwrap();
        for way in [Fallback::None, Fallback::Link, Fallback::Placeholder] {
            let err = rename_no_clobber(&from, &to, way).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{way:?}");
            assert!(!dir.path().join("nowhere").exists(), "{way:?}");
        }
    }
}
