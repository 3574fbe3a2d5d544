//! The blob seam: file contents, streamed in and out by name.
//!
//! [`Blobs`] is what a contents backend implements: a local directory ([`LocalBlobs`]) or an
//! S3-compatible object store ([`crate::server::s3::S3Blobs`]). An upload is written to a
//! staging place ([`Staged`]) and becomes a blob only on [`Staged::commit`]; dropping it
//! uncommitted discards it. Blob names are chosen by the caller (or, for S3, by the backend
//! when the upload starts: [`Staged::name`]) and never reused, so a blob is written once and
//! never changes.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

/// Where an upload's bytes are written.
pub trait Sink: AsyncWrite + Send + Unpin {
    /// Writes `bytes`. A backend that can keep them as they are, rather than copy them into
    /// a buffer of its own, does (the local one).
    fn write_bytes(&mut self, bytes: Bytes) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            self.write_all(&bytes).await
        })
    }
}

/// An upload being written; dropped without [`Staged::commit`], it is discarded.
pub trait Staged: Sink {
    /// Makes what was written the blob `name`.
    fn commit(self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>>;

    /// The name this upload must be committed under, when the backend fixes it before the
    /// contents arrive (an object store's multipart upload is created under its final key,
    /// and objects cannot be renamed); `None` lets the caller choose at commit.
    fn name(&self) -> Option<String> {
        None
    }
}

/// Bytes being appended to a resumable upload ([`Blobs::partial_append`]).
pub trait Appending: Sink {
    /// Stores what was written so that it survives a crash, and returns the upload's new
    /// state. `last`: these were the upload's last bytes (an object store sends its last
    /// part, whatever its size).
    fn save(self: Box<Self>, last: bool) -> BoxFuture<'static, io::Result<String>>;
}

/// A blob's contents, read as a stream.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// A blob's contents, read as chunks that are sent as they are.
pub type BlobChunks = futures_util::stream::BoxStream<'static, io::Result<Bytes>>;

/// The contents backend.
pub trait Blobs: Send + Sync + 'static {
    /// A new staging place for an upload.
    fn stage(&self) -> BoxFuture<'_, io::Result<Box<dyn Staged>>>;
    /// A staging place for contents that must become the blob `name` (a migration keeps
    /// each blob's name, so that a migration run again finds what it already copied).
    /// Committing it under `name` replaces a blob of that name: only for names no server
    /// hands out, and only with the same contents.
    fn stage_named(&self, name: String) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        let _ = name;
        self.stage()
    }
    /// Opens a blob for reading. Once open, it can be read in full even if it is deleted.
    fn open(&self, name: String) -> BoxFuture<'_, io::Result<BlobReader>>;
    /// Opens a blob for reading as chunks of `chunk` bytes (the last one shorter), at most
    /// `len` bytes in all from byte `from` on (a ranged download); the same guarantees as
    /// [`Blobs::open`]. The default reads through [`Blobs::open`] and skips to `from`; a
    /// backend that can seek, or read into the chunk it hands out, does better.
    fn open_chunks(
        &self,
        name: String,
        from: u64,
        len: u64,
        chunk: usize,
    ) -> BoxFuture<'_, io::Result<BlobChunks>> {
        Box::pin(async move {
            use tokio::io::AsyncReadExt;
            let mut reader = self.open(name).await?;
            let skipped =
                tokio::io::copy(&mut (&mut reader).take(from), &mut tokio::io::sink()).await?;
            if skipped < from {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the blob is shorter than the range asked for",
                ));
            }
            let stream = tokio_util::io::ReaderStream::with_capacity(reader.take(len), chunk);
            Ok(Box::pin(stream) as BlobChunks)
        })
    }
    /// Deletes a blob; deleting one that is not there is not an error.
    fn delete(&self, name: String) -> BoxFuture<'_, io::Result<()>>;
    /// The names of all blobs (for the start-up cleanup).
    fn names(&self) -> BoxFuture<'_, io::Result<HashSet<String>>>;
    /// Removes what uploads under way at an unclean stop left; returns how many.
    fn clean_staging(&self) -> BoxFuture<'_, io::Result<usize>>;
    /// Removes what uploads abandoned by a stopped instance left, while this one serves (so
    /// never an upload under way); returns how many. Nothing by default: a local directory
    /// has one server, and its start-up cleans it.
    fn sweep_abandoned(&self) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(async { Ok(0) })
    }

    /// The largest resumable upload the backend can hold, if it has a limit of its own.
    fn partial_max(&self) -> Option<u64> {
        None
    }

    /// Starts a resumable upload, whose bytes arrive over many requests, perhaps to other
    /// instances. Returns its *state*: what the backend needs to go on, kept with the
    /// upload's metadata and given back to the calls below.
    fn partial_create(&self) -> BoxFuture<'_, io::Result<String>>;

    /// Appends to a resumable upload of which `offset` bytes were saved with `state`.
    /// Bytes written after `offset` and not saved (a crash mid-request) are overwritten.
    fn partial_append(
        &self,
        state: String,
        offset: u64,
    ) -> BoxFuture<'_, io::Result<Box<dyn Appending>>>;

    /// Deletes what `old` kept that `new` no longer needs (called once `new` is recorded,
    /// or with the two swapped when it could not be).
    fn partial_forget(&self, old: String, new: String) -> BoxFuture<'_, io::Result<()>> {
        let _ = (old, new);
        Box::pin(async { Ok(()) })
    }

    /// A complete resumable upload (saved with `last`), as an upload to commit.
    fn partial_finish(&self, state: String) -> BoxFuture<'_, io::Result<Box<dyn Staged>>>;

    /// Deletes a resumable upload's bytes; one already gone is not an error.
    fn partial_delete(&self, state: String) -> BoxFuture<'_, io::Result<()>>;
}

/// Writes to disk go out in pieces this large: big enough that a 1 GiB upload makes 8,192
/// writes, small enough that a thousand uploads in flight hold 128 MiB at most.
const WRITE_BUFFER: usize = 128 * 1024;

/// How long an upload may wait for its next bytes before what it holds goes to the disk:
/// a stalled upload then holds only hyper's read buffer.
const IDLE_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// `next` (an upload's next bytes), but if it keeps the upload waiting for [`IDLE_FLUSH`],
/// what `out` holds is written first: a stalled upload then holds nothing of its own.
pub async fn next_or_flush<W, T>(out: &mut W, next: impl Future<Output = T>) -> io::Result<T>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    tokio::pin!(next);
    match tokio::time::timeout(IDLE_FLUSH, &mut next).await {
        Ok(got) => Ok(got),
        Err(_) => {
            tokio::io::AsyncWriteExt::flush(out).await?;
            Ok(next.await)
        }
    }
}

/// Pieces smaller than this are copied into a buffer of the upload's own rather than kept:
/// a small slice of what hyper read would keep all of hyper's buffer alive.
const SMALL_PIECE: usize = 8 * 1024;

/// Blobs as files: `DIR/blobs/<name>`, staged in `DIR/tmp/<random>`; all private (0700
/// directories, 0600 files) whatever the umask.
pub struct LocalBlobs {
    dir: PathBuf,
    /// Shared by several instances: a staging file unchanged this long was left by a killed
    /// one, and the sweep removes it (see [`LocalBlobs::shared`]).
    abandoned_after: Option<std::time::Duration>,
    /// Small blobs opened lately, kept open ([`OPEN_FILES`]): a busy small file's download
    /// cost an open and a close per request. Contents never change under a blob's name, and
    /// a blob is dropped from here before it is deleted.
    open_files: std::sync::Mutex<std::collections::HashMap<String, Arc<OpenBlob>>>,
}

/// A blob open for reading. The last close of a file deleted while it was open frees its
/// blocks, and on a disk busy writing back (mounted with `discard`, as many cloud disks are)
/// that close took 0.3–1.4 s: made on an async thread, it held up every connection of the
/// worker. So such a close goes to the blocking pool ([`close_off_thread`]).
struct OpenBlob(Option<std::fs::File>);

impl OpenBlob {
    fn new(file: std::fs::File) -> OpenBlob {
        OpenBlob(Some(file))
    }
}

impl std::ops::Deref for OpenBlob {
    type Target = std::fs::File;

    fn deref(&self) -> &std::fs::File {
        self.0.as_ref().expect("open until dropped")
    }
}

impl Drop for OpenBlob {
    fn drop(&mut self) {
        if let Some(file) = self.0.take() {
            close_off_thread(file);
        }
    }
}

/// Closes `file` on the blocking pool when that may free its blocks (it has no name left),
/// in place otherwise (a close of a file with a name only drops a reference).
fn close_off_thread(file: std::fs::File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if file.metadata().is_ok_and(|m| m.nlink() == 0)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn_blocking(move || drop(file));
            return;
        }
    }
    drop(file);
}

/// The most small blobs [`LocalBlobs`] keeps open (it starts over when full): part of the
/// server's spare file descriptors (`SPARE_FILES`), and at most this many times
/// [`OPEN_INLINE`] of deleted files' space held until then.
pub const OPEN_FILES: usize = 32;

/// How long a staging file in a shared directory may stay unchanged before a sweep takes it
/// for one a killed instance left. An upload under way writes to it every 128 KiB (and one
/// that sends nothing for --body-timeout is dropped, its file with it), so only an upload
/// slower than about 36 bytes a second could be taken for abandoned.
pub const STAGING_ABANDONED: std::time::Duration = std::time::Duration::from_secs(3600);

/// Creates a directory (and its missing parents) that only the owner can enter.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates a new file readable and writable by the owner only, whatever the umask.
fn create_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl LocalBlobs {
    /// Uses (and creates) `dir/tmp` and `dir/blobs`. Called at start-up, before serving.
    pub fn open(dir: &Path) -> io::Result<LocalBlobs> {
        for sub in ["tmp", "blobs", "partial"] {
            create_private_dir(&dir.join(sub))?;
        }
        Ok(LocalBlobs {
            dir: dir.to_path_buf(),
            abandoned_after: None,
            open_files: Default::default(),
        })
    }

    /// The same directory, shared with other instances: nothing is removed at start (another
    /// instance may be writing), and each sweep removes the staging files unchanged for
    /// `abandoned_after` (those of killed instances).
    pub fn shared(mut self, abandoned_after: std::time::Duration) -> LocalBlobs {
        self.abandoned_after = Some(abandoned_after);
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join("blobs").join(name)
    }

    /// A small blob, opened on the calling thread or kept open from a moment ago.
    fn open_small(&self, name: &str) -> io::Result<Arc<OpenBlob>> {
        let mut open = self.open_files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = open.get(name) {
            return Ok(f.clone());
        }
        let file = Arc::new(OpenBlob::new(std::fs::File::open(
            self.path(checked(name)?),
        )?));
        if open.len() >= OPEN_FILES {
            open.clear();
        }
        open.insert(name.to_string(), file.clone());
        Ok(file)
    }

    /// A resumable upload's file: `DIR/partial/<state>`, apart from `tmp/` (which the
    /// start-up cleanup empties) because it outlives a restart.
    fn partial_path(&self, state: &str) -> io::Result<PathBuf> {
        Ok(self.dir.join("partial").join(checked(state)?))
    }
}

/// A file being sent by [`LocalBlobs::open_chunks`]: where its next chunk starts, and how
/// many bytes are left to send.
struct Sending {
    file: Arc<OpenBlob>,
    at: u64,
    left: u64,
}

/// The chunks of a file being sent, from `start` on.
fn chunks(
    start: Option<Sending>,
    chunk: usize,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(start, move |state| async move {
        let Some(s) = state else {
            return Ok(None);
        };
        Ok(read_chunk(s, chunk)
            .await?
            .map(|(bytes, next)| (bytes, Some(next))))
    })
}

/// The next chunk of a file being sent, and what is left after it; None at the end.
async fn read_chunk(s: Sending, chunk: usize) -> io::Result<Option<(Bytes, Sending)>> {
    if s.left == 0 {
        return Ok(None);
    }
    let want = s.left.min(chunk as u64) as usize;
    let (file, buf) = match read_cached(&s.file, s.at, want) {
        Some(buf) => (s.file, buf),
        None => {
            let (file, at) = (s.file, s.at);
            tokio::task::spawn_blocking(move || {
                let buf = read_blocking_at(&file, at, want)?;
                io::Result::Ok((file, buf))
            })
            .await??
        }
    };
    if buf.is_empty() {
        // Shorter than its row says: the receiver sees the body end early.
        return Ok(None);
    }
    let n = buf.len() as u64;
    Ok(Some((
        buf,
        Sending {
            file,
            at: s.at + n,
            left: s.left - n,
        },
    )))
}

/// Files this small are opened on the async thread (a large one is opened on the blocking
/// pool with its first chunk): the open of a file served a moment ago costs microseconds,
/// less than the trip to another thread and back.
const OPEN_INLINE: u64 = 64 * 1024;

/// Up to `want` bytes of `file` from `at`, read on the calling (async) thread if the page
/// cache holds them: `preadv2(RWF_NOWAIT)` answers EAGAIN instead of waiting for the disk.
/// Fewer than `want` when only those were cached or the file ends; None when none were
/// (or the system cannot tell): the blocking pool reads them, and reports any real error.
#[cfg(target_os = "linux")]
fn read_cached(file: &std::fs::File, at: u64, want: usize) -> Option<Bytes> {
    use std::os::fd::AsRawFd;
    // Read into capacity never zeroed: zeroing each chunk first was 4% of the server's CPU
    // sending a large file. rustix's preadv2 takes initialized slices only.
    let mut buf = Vec::<u8>::with_capacity(want);
    while buf.len() < want {
        let spare = buf.spare_capacity_mut();
        let iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: spare.len(),
        };
        let offset = libc::off_t::try_from(at + buf.len() as u64).ok()?;
        // SAFETY: the one iovec is `buf`'s spare capacity, which preadv2 only writes into.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
        match usize::try_from(n) {
            Ok(0) => break,
            // SAFETY: preadv2 wrote these `n` bytes just past the initialized ones.
            Ok(n) => unsafe { buf.set_len(buf.len() + n) },
            Err(_) if !buf.is_empty() => break,
            Err(_) => return None,
        }
    }
    Some(Bytes::from(buf))
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_: &std::fs::File, _: u64, _: usize) -> Option<Bytes> {
    None
}

/// Up to `want` bytes from where the file is; fewer only at its end.
fn read_blocking(file: &std::fs::File, want: usize) -> io::Result<Bytes> {
    use std::io::Read;
    // read_to_end fills the capacity without zeroing it first.
    let mut buf = Vec::with_capacity(want);
    file.take(want as u64).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// Up to `want` bytes from `at`, leaving the file's position alone (a kept-open file is
/// read by several downloads at once); fewer only at its end.
#[cfg(unix)]
fn read_blocking_at(file: &std::fs::File, at: u64, want: usize) -> io::Result<Bytes> {
    use rustix::{buffer::spare_capacity, io::Errno};
    // Into capacity never zeroed, as in `read_cached`.
    let mut buf = Vec::with_capacity(want);
    while buf.len() < want {
        let from = at + buf.len() as u64;
        match rustix::io::pread(file, spare_capacity(&mut buf), from) {
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Bytes::from(buf))
}

#[cfg(not(unix))]
fn read_blocking_at(file: &std::fs::File, at: u64, want: usize) -> io::Result<Bytes> {
    use std::io::Seek;
    // Only one download reads a file here: small ones are kept open on Unix alone.
    (&*file).seek(std::io::SeekFrom::Start(at))?;
    read_blocking(file, want)
}

/// Blob names are ours, but a name with a path in it must never reach the file system.
fn checked(name: &str) -> io::Result<&str> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid blob name {name:?}"),
        ));
    }
    Ok(name)
}

impl Blobs for LocalBlobs {
    fn stage(&self) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        Box::pin(async move {
            // Named before it exists: if this future is dropped, the file goes too.
            let tmp = TmpFile(self.dir.join("tmp").join(crate::server::ids::random(16)));
            let path = tmp.0.clone();
            let file = tokio::task::spawn_blocking(move || create_private(&path)).await??;
            Ok(
                Box::new(LocalStaged::new(file, Some(tmp), self.dir.join("blobs")))
                    as Box<dyn Staged>,
            )
        })
    }

    fn open(&self, name: String) -> BoxFuture<'_, io::Result<BlobReader>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(self.path(checked(&name)?)).await?;
            Ok(Box::new(file) as BlobReader)
        })
    }

    /// Each chunk is read on the blocking pool straight into the buffer that is sent: one
    /// copy fewer than `tokio::fs::File` (which reads into its own buffer first), and no
    /// buffer held between chunks.
    fn open_chunks(
        &self,
        name: String,
        from: u64,
        len: u64,
        chunk: usize,
    ) -> BoxFuture<'_, io::Result<BlobChunks>> {
        Box::pin(async move {
            let path = self.path(checked(&name)?);
            let file = if len <= OPEN_INLINE {
                if cfg!(unix) {
                    self.open_small(&name)?
                } else {
                    Arc::new(OpenBlob::new(std::fs::File::open(&path)?))
                }
            } else {
                // The first chunk is read with the open, in one trip to the blocking pool.
                let want = len.min(chunk as u64) as usize;
                let (file, first) = tokio::task::spawn_blocking(move || {
                    use std::io::Seek;
                    let mut file = std::fs::File::open(path)?;
                    if from > 0 {
                        file.seek(std::io::SeekFrom::Start(from))?;
                    }
                    let first = read_blocking(&file, want)?;
                    io::Result::Ok((file, first))
                })
                .await??;
                let n = first.len() as u64;
                let rest = (n > 0).then_some(Sending {
                    file: Arc::new(OpenBlob::new(file)),
                    at: from + n,
                    left: len - n,
                });
                let first = futures_util::stream::iter((n > 0).then_some(io::Result::Ok(first)));
                let all = futures_util::StreamExt::chain(first, chunks(rest, chunk));
                return Ok(Box::pin(all) as BlobChunks);
            };
            let start = Sending {
                file,
                at: from,
                left: len,
            };
            Ok(Box::pin(chunks(Some(start), chunk)) as BlobChunks)
        })
    }

    fn delete(&self, name: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            self.open_files
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&name);
            match tokio::fs::remove_file(self.path(checked(&name)?)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn names(&self) -> BoxFuture<'_, io::Result<HashSet<String>>> {
        let dir = self.dir.join("blobs");
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut names = HashSet::new();
                for entry in std::fs::read_dir(dir)? {
                    names.insert(entry?.file_name().to_string_lossy().into_owned());
                }
                Ok(names)
            })
            .await?
        })
    }

    fn partial_create(&self) -> BoxFuture<'_, io::Result<String>> {
        Box::pin(async move {
            let state = crate::server::ids::random(24);
            let path = self.partial_path(&state)?;
            tokio::task::spawn_blocking(move || create_private(&path)).await??;
            Ok(state)
        })
    }

    fn partial_append(
        &self,
        state: String,
        offset: u64,
    ) -> BoxFuture<'_, io::Result<Box<dyn Appending>>> {
        Box::pin(async move {
            let path = self.partial_path(&state)?;
            let file = tokio::task::spawn_blocking(move || {
                use std::io::{Seek, SeekFrom};
                let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
                // Bytes past the recorded offset were never acknowledged: overwrite them.
                // Only then: ext4 writes back at its close a file that was truncated to
                // nothing, even when it was empty already.
                if file.metadata()?.len() > offset {
                    file.set_len(offset)?;
                }
                file.seek(SeekFrom::Start(offset))?;
                io::Result::Ok(file)
            })
            .await??;
            Ok(Box::new(LocalAppending {
                writer: LocalStaged::new(file, None, self.dir.join("blobs")),
                state,
            }) as Box<dyn Appending>)
        })
    }

    fn partial_finish(&self, state: String) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        Box::pin(async move {
            Ok(Box::new(LocalFinished {
                from: self.partial_path(&state)?,
                blobs: self.dir.join("blobs"),
            }) as Box<dyn Staged>)
        })
    }

    fn partial_delete(&self, state: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.partial_path(&state)?).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn clean_staging(&self) -> BoxFuture<'_, io::Result<usize>> {
        let dir = self.dir.join("tmp");
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut n = 0;
                for entry in std::fs::read_dir(dir)? {
                    if std::fs::remove_file(entry?.path()).is_ok() {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await?
        })
    }

    fn sweep_abandoned(&self) -> BoxFuture<'_, io::Result<usize>> {
        let dir = self.dir.join("tmp");
        let age = self.abandoned_after;
        Box::pin(async move {
            let Some(age) = age else { return Ok(0) };
            tokio::task::spawn_blocking(move || {
                let mut n = 0;
                for entry in std::fs::read_dir(dir)? {
                    let entry = entry?;
                    let unchanged = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if unchanged.is_some_and(|u| u >= age)
                        && std::fs::remove_file(entry.path()).is_ok()
                    {
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await?
        })
    }
}

/// Appending to a resumable upload's file, through the same one-buffer writer as uploads.
struct LocalAppending {
    writer: LocalStaged,
    state: String,
}

impl Appending for LocalAppending {
    fn save(mut self: Box<Self>, last: bool) -> BoxFuture<'static, io::Result<String>> {
        Box::pin(async move {
            use tokio::io::AsyncWriteExt;
            self.writer.flush().await?;
            let Writer::Idle(Some(file)) =
                std::mem::replace(&mut self.writer.state, Writer::Idle(None))
            else {
                return Err(io::Error::other("an earlier write to the file failed"));
            };
            // A partial upload's offset is acknowledged only after this: a resumed upload
            // must find every byte it was told is stored, even after a crash. The last save
            // makes a file like any `POST /` upload, which is not synced either (an fsync of
            // the whole file cost a 256 MiB upload about 40% of its time here).
            if !last {
                tokio::task::spawn_blocking(move || file.sync_data()).await??;
            } else {
                // A close can wait for the disk (ext4 may start writing the file back).
                tokio::task::spawn_blocking(move || drop(file));
            }
            Ok(self.state)
        })
    }
}

impl Sink for LocalAppending {
    fn write_bytes(&mut self, bytes: Bytes) -> BoxFuture<'_, io::Result<()>> {
        self.writer.write_bytes(bytes)
    }
}

impl AsyncWrite for LocalAppending {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

/// A complete resumable upload: its commit moves the file into place.
struct LocalFinished {
    from: PathBuf,
    blobs: PathBuf,
}

impl Sink for LocalFinished {}

impl Staged for LocalFinished {
    fn commit(self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(async move {
            let to = self.blobs.join(checked(&name)?);
            let from = self.from;
            tokio::task::spawn_blocking(move || std::fs::rename(from, to)).await?
        })
    }
}

impl AsyncWrite for LocalFinished {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::other(
            "a finished upload takes no more bytes",
        )))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A file under `tmp/`, removed when dropped unless it was moved away.
struct TmpFile(PathBuf);

impl Drop for TmpFile {
    /// The one file operation made in place rather than on the blocking pool: an unlink in
    /// our own directory, done before the refusal that dropped it is answered, so that no
    /// partial upload outlives the answer (deferred, a test or a client could see it). The
    /// file is still open then ([`LocalStaged`]'s drop), so its blocks are freed later, by
    /// a close on the blocking pool.
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// An upload being written to its staging file. Pieces are kept as they came (slices of
/// what hyper read; small ones gathered into a buffer of the upload's own) until
/// [`WRITE_BUFFER`] bytes are waiting, then written together on the blocking pool, while
/// the upload waits: an upload holds at most that much besides hyper's own buffer, and its
/// bytes are copied once, into the page cache. Copying into one buffer instead cost a copy
/// of every byte; a `BufWriter` over `tokio::fs::File` held two buffers and copied twice.
struct LocalStaged {
    state: Writer,
    /// Pieces not yet handed to a write, in order.
    queued: Vec<Bytes>,
    queued_len: usize,
    /// Small pieces gathered, after `queued`.
    small: bytes::BytesMut,
    tmp: Option<TmpFile>,
    blobs: PathBuf,
}

type WriteJob = JoinHandle<(std::fs::File, io::Result<()>)>;

enum Writer {
    Idle(Option<std::fs::File>),
    /// A write on the blocking pool: it gives the file back.
    Busy(WriteJob),
}

/// Writes `pieces` in order, with as few calls as the kernel allows.
fn write_pieces(file: &mut std::fs::File, pieces: &[Bytes]) -> io::Result<()> {
    use std::io::{IoSlice, Write};
    let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
    let mut left = &mut slices[..];
    while !left.is_empty() {
        match file.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl LocalStaged {
    fn new(file: std::fs::File, tmp: Option<TmpFile>, blobs: PathBuf) -> Self {
        LocalStaged {
            state: Writer::Idle(Some(file)),
            queued: Vec::new(),
            queued_len: 0,
            small: bytes::BytesMut::new(),
            tmp,
            blobs,
        }
    }

    /// Queues a piece: kept as it is when large, copied when small.
    fn queue(&mut self, piece: Bytes) {
        if piece.len() < SMALL_PIECE {
            return self.queue_copy(&piece);
        }
        self.seal_small();
        self.queued_len += piece.len();
        self.queued.push(piece);
    }

    fn queue_copy(&mut self, piece: &[u8]) {
        if self.small.len() + piece.len() > WRITE_BUFFER {
            self.seal_small();
        }
        self.queued_len += piece.len();
        self.small.extend_from_slice(piece);
    }

    fn seal_small(&mut self) {
        if !self.small.is_empty() {
            self.queued.push(std::mem::take(&mut self.small).freeze());
        }
    }

    /// Everything queued, in order.
    fn take_queued(&mut self) -> Vec<Bytes> {
        self.seal_small();
        self.queued_len = 0;
        std::mem::take(&mut self.queued)
    }

    /// Hands what is queued to a write on the blocking pool.
    fn start_write(&mut self) {
        let Writer::Idle(file) = &mut self.state else {
            return;
        };
        let Some(mut file) = file.take() else {
            return;
        };
        let pieces = self.take_queued();
        self.state = Writer::Busy(tokio::task::spawn_blocking(move || {
            let done = write_pieces(&mut file, &pieces);
            (file, done)
        }));
    }

    /// Waits for the write under way, if any; fails if it did, or if an earlier one did.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Writer::Busy(job) = &mut self.state {
            let (file, done) = match std::task::ready!(Pin::new(job).poll(cx)) {
                Ok(r) => r,
                Err(e) => {
                    self.state = Writer::Idle(None);
                    return Poll::Ready(Err(io::Error::other(e)));
                }
            };
            if let Err(e) = done {
                self.state = Writer::Idle(None);
                return Poll::Ready(Err(e));
            }
            self.state = Writer::Idle(Some(file));
        }
        match &self.state {
            Writer::Idle(Some(_)) => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(io::Error::other("an earlier write to the file failed"))),
        }
    }
}

impl Sink for LocalStaged {
    fn write_bytes(&mut self, bytes: Bytes) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            std::future::poll_fn(|cx| self.poll_idle(cx)).await?;
            self.queue(bytes);
            if self.queued_len >= WRITE_BUFFER {
                // Written while the next bytes arrive; the next piece waits for it.
                self.start_write();
            }
            Ok(())
        })
    }
}

impl Drop for LocalStaged {
    /// An upload given up: its name goes at once, before the refusal is answered (a test or
    /// a client could see it otherwise), and its blocks with the close, off the async
    /// thread. A write under way closes the file on the blocking pool when it ends.
    fn drop(&mut self) {
        drop(self.tmp.take());
        if let Writer::Idle(Some(file)) = std::mem::replace(&mut self.state, Writer::Idle(None)) {
            close_off_thread(file);
        }
    }
}

impl Staged for LocalStaged {
    fn commit(mut self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(async move {
            let name = checked(&name)?.to_string();
            std::future::poll_fn(|cx| self.poll_idle(cx)).await?;
            let Writer::Idle(Some(mut file)) =
                std::mem::replace(&mut self.state, Writer::Idle(None))
            else {
                unreachable!("poll_idle answered Ok: the file is there");
            };
            let rest = self.take_queued();
            let mut tmp = self.tmp.take().expect("committed once");
            let (from, to) = (tmp.0.clone(), self.blobs.join(name));
            // The last bytes, the close and the rename in one trip to the blocking pool (a
            // small upload's only write). Closed before the rename: the blob is complete
            // once it has its name.
            tokio::task::spawn_blocking(move || {
                write_pieces(&mut file, &rest)?;
                drop(file);
                std::fs::rename(from, to)
            })
            .await??;
            tmp.0 = PathBuf::new();
            Ok(())
        })
    }
}

impl AsyncWrite for LocalStaged {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_idle(cx))?;
        let n = buf.len().min(WRITE_BUFFER.saturating_sub(self.queued_len));
        self.queue_copy(&buf[..n]);
        if self.queued_len >= WRITE_BUFFER {
            self.start_write();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_idle(cx))?;
        if self.queued_len == 0 {
            return Poll::Ready(Ok(()));
        }
        self.start_write();
        self.poll_idle(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// What every [`Blobs`] backend must do. A new backend's tests call [`conformance::run`].
#[cfg(test)]
pub(crate) mod conformance {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn read_all(mut r: BlobReader) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        out
    }

    /// `staging` counts what is being staged, where the backend can tell (None elsewhere).
    pub async fn run(blobs: &dyn Blobs, staging: &dyn Fn() -> Option<usize>) {
        assert!(blobs.names().await.unwrap().is_empty());
        // Written, committed, read back.
        let mut s = blobs.stage().await.unwrap();
        s.write_all(b"hello ").await.unwrap();
        s.write_all(&vec![b'x'; 3 << 20]).await.unwrap();
        // An object store names the upload when it starts.
        let k1 = s.name().unwrap_or_else(|| "k-1".to_string());
        s.commit(k1.clone()).await.unwrap();
        let got = read_all(blobs.open(k1.clone()).await.unwrap()).await;
        assert_eq!(&got[..6], b"hello ");
        assert_eq!(got.len(), 6 + (3 << 20));
        // Read as chunks, whole and in ranges (a ranged download): from an offset, for a
        // length, in chunks of the size asked for.
        let total = 6 + (3u64 << 20);
        for (from, len) in [
            (0, total),
            (2, 7),
            (total - 1, 1),
            (1 << 20, total - (1 << 20)),
        ] {
            let chunks = blobs
                .open_chunks(k1.clone(), from, len, 64 * 1024)
                .await
                .unwrap();
            let chunks: Vec<Bytes> = futures_util::TryStreamExt::try_collect(chunks)
                .await
                .unwrap();
            assert!(chunks.iter().all(|c| c.len() <= 64 * 1024));
            let got: Vec<u8> = chunks.concat();
            let want: Vec<u8> = b"hello "
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b'x', 3 << 20))
                .skip(from as usize)
                .take(len as usize)
                .collect();
            assert_eq!(got.len(), want.len(), "from {from}, {len} bytes");
            assert!(got == want, "from {from}, {len} bytes: other bytes");
        }
        // Dropped uncommitted: nothing stays behind.
        let mut s = blobs.stage().await.unwrap();
        s.write_all(b"half").await.unwrap();
        assert_ne!(staging(), Some(0));
        drop(s);
        for _ in 0..100 {
            if staging().unwrap_or(0) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(staging().unwrap_or(0), 0);
        assert_eq!(blobs.names().await.unwrap(), [k1.clone()].into());
        // An open reader outlives a delete; a deleted blob cannot be opened again.
        let reader = blobs.open(k1.clone()).await.unwrap();
        blobs.delete(k1.clone()).await.unwrap();
        assert_eq!(read_all(reader).await.len(), 6 + (3 << 20));
        let e = blobs.open(k1.clone()).await.err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        blobs.delete(k1.clone()).await.unwrap();
        assert!(blobs.names().await.unwrap().is_empty());
        // Names with a path in them are refused.
        for bad in ["../x", "a/b", ".hidden", ""] {
            assert!(blobs.open(bad.into()).await.is_err(), "{bad}");
            assert!(blobs.delete(bad.into()).await.is_err(), "{bad}");
        }
        partial(blobs).await;
    }

    /// Resumable uploads: appended over several requests (the first one more than a part
    /// of an object store, the next ones less), bytes not saved are overwritten, the
    /// finished upload commits as a blob.
    async fn partial(blobs: &dyn Blobs) {
        let big = vec![b'a'; (5 << 20) + 7];
        let state = blobs.partial_create().await.unwrap();
        let mut w = blobs.partial_append(state.clone(), 0).await.unwrap();
        w.write_all(&big).await.unwrap();
        let s1 = w.save(false).await.unwrap();
        blobs.partial_forget(state, s1.clone()).await.unwrap();
        let off = big.len() as u64;
        let mut w = blobs.partial_append(s1.clone(), off).await.unwrap();
        w.write_all(b"bcd").await.unwrap();
        let s2 = w.save(false).await.unwrap();
        blobs.partial_forget(s1, s2.clone()).await.unwrap();
        // Written but never saved (a crash mid-request): gone at the next append.
        let mut w = blobs.partial_append(s2.clone(), off + 3).await.unwrap();
        w.write_all(b"lost").await.unwrap();
        drop(w);
        let mut w = blobs.partial_append(s2.clone(), off + 3).await.unwrap();
        w.write_all(b"end").await.unwrap();
        let s3 = w.save(true).await.unwrap();
        blobs.partial_forget(s2, s3.clone()).await.unwrap();
        let staged = blobs.partial_finish(s3).await.unwrap();
        let name = staged.name().unwrap_or_else(|| "p-1".to_string());
        staged.commit(name.clone()).await.unwrap();
        let got = read_all(blobs.open(name.clone()).await.unwrap()).await;
        assert_eq!(got.len(), big.len() + 6);
        assert_eq!(&got[big.len()..], b"bcdend");
        assert!(got[..big.len()].iter().all(|b| *b == b'a'));
        blobs.delete(name).await.unwrap();
        // A terminated upload's bytes are deleted, twice is fine.
        let state = blobs.partial_create().await.unwrap();
        let mut w = blobs.partial_append(state.clone(), 0).await.unwrap();
        w.write_all(b"xyz").await.unwrap();
        let state = w.save(false).await.unwrap();
        blobs.partial_delete(state.clone()).await.unwrap();
        blobs.partial_delete(state).await.unwrap();
        assert!(blobs.names().await.unwrap().is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_blobs_meet_the_blobs_contract() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let tmp = dir.path().join("tmp");
        let staging = move || Some(std::fs::read_dir(&tmp).unwrap().count());
        conformance::run(&blobs, &staging).await;
        assert_eq!(
            std::fs::read_dir(dir.path().join("partial"))
                .unwrap()
                .count(),
            0
        );
        // Left over from an unclean stop: removed by clean_staging.
        std::fs::write(dir.path().join("tmp").join("partial"), b"x").unwrap();
        assert_eq!(blobs.clean_staging().await.unwrap(), 1);
    }

    /// Large pieces are written as they came, never copied; small ones are gathered (a
    /// slice must not keep hyper's whole buffer alive); everything lands in order.
    #[tokio::test]
    async fn large_pieces_are_kept_as_they_came_and_small_ones_gathered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staged");
        let file = create_private(&path).unwrap();
        let mut s = LocalStaged::new(file, None, dir.path().to_path_buf());
        let big = Bytes::from(vec![1u8; 64 * 1024]);
        let piece = |from: usize, len: usize| big.slice(from..from + len);
        s.write_bytes(Bytes::from_static(b"ab")).await.unwrap();
        s.write_bytes(piece(0, SMALL_PIECE)).await.unwrap();
        s.write_bytes(piece(100, SMALL_PIECE - 1)).await.unwrap();
        assert_eq!(
            s.queued.len(),
            2,
            "the small pieces before the large one, then it"
        );
        assert_eq!(&s.queued[0][..], b"ab");
        assert_eq!(
            s.queued[1].as_ptr(),
            big.as_ptr(),
            "the large piece was copied"
        );
        assert_eq!(s.small.len(), SMALL_PIECE - 1);
        assert!(!std::ptr::eq(s.small.as_ptr(), big[100..].as_ptr()));
        // Past WRITE_BUFFER, what is queued is written; the next piece waits for it.
        let mut want = [
            &b"ab"[..],
            &big[..SMALL_PIECE],
            &big[100..100 + SMALL_PIECE - 1],
        ]
        .concat();
        while want.len() < WRITE_BUFFER {
            s.write_bytes(big.clone()).await.unwrap();
            want.extend_from_slice(&big);
        }
        assert_eq!(s.queued_len, 0);
        s.write_bytes(Bytes::from_static(b"z")).await.unwrap();
        want.push(b'z');
        assert_eq!(std::fs::read(&path).unwrap().len(), want.len() - 1);
        tokio::io::AsyncWriteExt::flush(&mut s).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
        assert!(
            s.queued.is_empty() && s.small.capacity() == 0,
            "a flush keeps nothing"
        );
    }

    /// Chunks the page cache does not hold are read on the blocking pool, from where the
    /// chunks before them (read in place or not) left off.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn chunks_not_in_the_page_cache_are_read_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..700 * 1024u32).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("blobs").join("cold");
        std::fs::write(&path, &data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        file.sync_all().unwrap();
        // Written back, then dropped from the page cache where the file system allows it
        // (ext4 does; where it cannot say what is cached, as tmpfs, nothing is read in
        // place anyway).
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        for (from, len) in [(0, data.len() as u64), (5, 100), (300_000, 400_000)] {
            let chunks = blobs
                .open_chunks("cold".into(), from, len, 128 * 1024)
                .await
                .unwrap();
            let got: Vec<Bytes> = futures_util::TryStreamExt::try_collect(chunks)
                .await
                .unwrap();
            let want = &data[from as usize..(from + len) as usize];
            assert!(got.concat() == want, "from {from}, {len} bytes");
            let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed);
        }
    }

    /// Both reads fill buffers that were never zeroed: each returns exactly the file's
    /// bytes, fewer only where the file ends, and nothing past it.
    #[cfg(target_os = "linux")]
    #[test]
    fn reads_into_unzeroed_buffers_return_the_files_bytes_and_stop_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        for (at, want) in [
            (0, 300_000),
            (1, 4095),
            (77_777, 160 * 1024),
            (299_990, 64),
            (300_000, 10),
        ] {
            let end = (at + want).min(data.len());
            let expect = &data[at.min(data.len())..end];
            let read = read_blocking_at(&file, at as u64, want).unwrap();
            assert!(read[..] == *expect, "blocking read at {at}, {want} bytes");
            // Just written, so cached; a page cache that cannot say answers None.
            if let Some(read) = read_cached(&file, at as u64, want) {
                assert!(read[..] == *expect, "cached read at {at}, {want} bytes");
            }
        }
    }

    /// A small blob stays open for the next downloads, which read it side by side (by
    /// position, never through a shared offset); it is closed before it is deleted, and
    /// the set of open ones never grows past its bound.
    #[cfg(unix)]
    #[tokio::test]
    async fn small_blobs_are_kept_open_read_side_by_side_and_let_go_at_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..60 * 1024u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("blobs").join("small"), &data).unwrap();
        let read = |from: u64, len: u64| {
            let blobs = &blobs;
            async move {
                let chunks = blobs
                    .open_chunks("small".into(), from, len, 4096)
                    .await
                    .unwrap();
                let got: Vec<Bytes> = futures_util::TryStreamExt::try_collect(chunks)
                    .await
                    .unwrap();
                got.concat()
            }
        };
        let ranges = [
            (0, data.len() as u64),
            (7, 50_000),
            (40_000, 20_000),
            (1, 1),
        ];
        let got = futures_util::future::join_all(ranges.map(|(f, l)| read(f, l))).await;
        for ((from, len), got) in ranges.iter().zip(got) {
            assert!(
                got == data[*from as usize..(*from + *len) as usize],
                "{from}+{len}"
            );
        }
        let open = || blobs.open_files.lock().unwrap().len();
        assert_eq!(open(), 1);
        blobs.delete("small".into()).await.unwrap();
        assert_eq!(open(), 0);
        let gone = blobs.open_chunks("small".into(), 0, 10, 4096).await;
        assert_eq!(gone.err().unwrap().kind(), io::ErrorKind::NotFound);
        for i in 0..OPEN_FILES + 5 {
            let name = format!("f{i}");
            std::fs::write(dir.path().join("blobs").join(&name), b"x").unwrap();
            drop(blobs.open_chunks(name, 0, 1, 4096).await.unwrap());
            assert!(open() <= OPEN_FILES);
        }
    }

    /// Closes that free blocks (of a blob deleted while it was being read, of an upload
    /// given up) are made on the blocking pool: they can wait seconds for a busy disk. A
    /// close that frees nothing is made in place, and a given-up upload's name goes at once.
    #[cfg(target_os = "linux")]
    #[test]
    fn closes_that_free_blocks_are_made_on_the_blocking_pool() {
        use std::os::fd::AsRawFd;
        let rt = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let blobs = LocalBlobs::open(dir.path()).unwrap();
            let (deleted, named) = (dir.path().join("deleted"), dir.path().join("named"));
            for path in [&deleted, &named] {
                std::fs::write(path, vec![7u8; 200 * 1024]).unwrap();
            }
            let (deleted_blob, named_blob) = (
                OpenBlob::new(std::fs::File::open(&deleted).unwrap()),
                OpenBlob::new(std::fs::File::open(&named).unwrap()),
            );
            std::fs::remove_file(&deleted).unwrap();
            let mut staged = blobs.stage().await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut staged, b"half an upload")
                .await
                .unwrap();
            let tmp = std::fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            // What each descriptor is open on now, if it still is (another test may get
            // the number once it is closed, but not for these files).
            let open_on = |fd: i32, path: &Path| {
                std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l == path.to_string_lossy() || l == format!("{} (deleted)", path.display())
                })
            };
            let staged_fd = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().to_str()?.parse::<i32>().ok())
                .find(|fd| open_on(*fd, &tmp))
                .expect("the staging file is open");
            let fds = [
                (deleted_blob.as_raw_fd(), deleted.clone()),
                (named_blob.as_raw_fd(), named.clone()),
                (staged_fd, tmp.clone()),
            ];
            // The one blocking thread is held: what is sent there waits.
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (started, start) = tokio::sync::oneshot::channel();
            let blocker = tokio::task::spawn_blocking(move || {
                started.send(()).unwrap();
                held.recv().unwrap();
            });
            start.await.unwrap();
            drop(deleted_blob);
            drop(named_blob);
            drop(staged);
            assert!(
                open_on(fds[0].0, &fds[0].1),
                "a deleted blob was closed in place"
            );
            assert!(
                !open_on(fds[1].0, &fds[1].1),
                "a named blob's close was deferred"
            );
            assert!(!tmp.exists(), "a given-up upload's name outlived it");
            assert!(
                open_on(fds[2].0, &fds[2].1),
                "a given-up upload was closed in place"
            );
            release.send(()).unwrap();
            blocker.await.unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while open_on(fds[0].0, &fds[0].1) || open_on(fds[2].0, &fds[2].1) {
                assert!(std::time::Instant::now() < deadline, "never closed");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
    }
}
