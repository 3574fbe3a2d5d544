//! The bytes of an upload: a [`Source`] gives them as a fresh stream for each try, with its
//! length where known. A local file ([`FileSource`]) and standard input ([`StdinSource`]) are
//! the sources today; a wrapper that changes the bytes (encryption, an archive) is a
//! `Source` over another one, and no service needs to know.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Result;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use indicatif::ProgressBar;
use reqwest::Body;
use tokio_util::io::ReaderStream;

use crate::activity::Activity;
use crate::error::{Failure, Kind};

/// How much is read from standard input at a time. Large reads keep the per-chunk overhead
/// of the multipart stream low; measured in BENCHMARKS.md.
pub const READ_CHUNK: usize = 256 * 1024;

/// How much of a file [`FileChunks`] reads at a time. 64 KiB pieces upload one file as fast
/// as 256 KiB ones, and 8 at once faster: larger buffers came from the system fresh each
/// time (36,690 page faults a round against 11,928), and they hold more memory in flight;
/// measured in BENCHMARKS.md.
pub const FILE_CHUNK: usize = 64 * 1024;

/// A stream of an upload's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Where an upload's bytes come from.
pub trait Source: Send + Sync {
    /// The bytes from the start, afresh: a retry calls this again.
    fn open(&self) -> Result<ByteStream>;

    /// How many bytes [`Source::open`] yields, where that is known before sending.
    fn size(&self) -> Option<u64>;

    /// Whether [`Source::open`] may be called more than once (a file, not standard input):
    /// only such an upload may be retried.
    fn replayable(&self) -> bool;

    /// Whether [`Source::read_at`] works: services that send a file in pieces (FileShot's
    /// chunks) need it, and send the whole stream otherwise.
    fn seekable(&self) -> bool {
        false
    }

    /// `len` bytes from `offset`, read on their own (only where [`Source::seekable`]).
    fn read_at(&self, _offset: u64, _len: usize) -> Result<Bytes> {
        Err(Failure::new(Kind::Other, "this upload cannot be read in pieces").into())
    }

    /// The bytes from `offset` to the end, as a stream (only where [`Source::seekable`]): a
    /// resumed upload sends the rest.
    fn open_from(&self, _offset: u64) -> Result<ByteStream> {
        Err(Failure::new(Kind::Other, "this upload cannot be read from an offset").into())
    }

    /// What identifies these very bytes across runs (a file's path, size, modification
    /// time, and a hash of its first and last pieces), so that an interrupted upload can be
    /// resumed; `None` when nothing does.
    fn identity(&self) -> Option<String> {
        None
    }
}

/// How much of each end of a file its identity hashes: a file rewritten in place within the
/// same second and at the same size still changes its identity where it changed at an end
/// (headers, trailers, appended logs).
const IDENTITY_PIECE: u64 = 64 * 1024;

/// A local file, re-opened for each try.
pub struct FileSource {
    path: PathBuf,
    len: u64,
}

impl FileSource {
    /// Checks now that `path` is a readable regular file, so that a bad one is reported
    /// before anything is sent.
    pub fn new(path: &Path) -> Result<FileSource> {
        let meta = std::fs::metadata(path).map_err(|e| local_error(path, &e))?;
        if !meta.is_file() {
            return Err(Failure::new(
                Kind::LocalFile,
                format!("{} is not a regular file", path.display()),
            )
            .hint("upload regular files, or a folder (sent as one .tar.gz)")
            .into());
        }
        std::fs::File::open(path).map_err(|e| local_error(path, &e))?;
        Ok(FileSource {
            path: path.to_path_buf(),
            len: meta.len(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the file's first and last [`IDENTITY_PIECE`] bytes, in hex.
    fn hash_of_ends(&self) -> std::io::Result<String> {
        use sha2::{Digest, Sha256};
        let mut f = std::fs::File::open(&self.path)?;
        let mut h = Sha256::new();
        let head = self.len.min(IDENTITY_PIECE);
        let mut buf = vec![0; head as usize];
        f.read_exact(&mut buf)?;
        h.update(&buf);
        let tail_at = self.len.saturating_sub(IDENTITY_PIECE).max(head);
        buf.resize((self.len - tail_at) as usize, 0);
        f.seek(SeekFrom::Start(tail_at))?;
        f.read_exact(&mut buf)?;
        h.update(&buf);
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl Source for FileSource {
    fn open(&self) -> Result<ByteStream> {
        let file = std::fs::File::open(&self.path).map_err(|e| local_error(&self.path, &e))?;
        Ok(Box::pin(FileChunks::new(file, 0)))
    }

    fn size(&self) -> Option<u64> {
        Some(self.len)
    }

    fn replayable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        true
    }

    /// One piece read whole: at most `len` bytes in memory per piece in flight.
    fn read_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let mut f = std::fs::File::open(&self.path).map_err(|e| local_error(&self.path, &e))?;
        let mut buf = vec![0; len];
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| {
                Failure::new(
                    Kind::LocalFile,
                    format!("cannot read {}: {e}", self.path.display()),
                )
            })?;
        Ok(Bytes::from(buf))
    }

    fn identity(&self) -> Option<String> {
        let meta = std::fs::metadata(&self.path).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        let abs = std::fs::canonicalize(&self.path).ok()?;
        let ends = self.hash_of_ends().ok()?;
        Some(format!("{}\n{}\n{mtime}\n{ends}", abs.display(), self.len))
    }

    fn open_from(&self, offset: u64) -> Result<ByteStream> {
        let mut file = std::fs::File::open(&self.path).map_err(|e| local_error(&self.path, &e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| local_error(&self.path, &e))?;
        Ok(Box::pin(FileChunks::new(file, offset)))
    }
}

/// Standard input: read once, as it comes.
pub struct StdinSource;

impl Source for StdinSource {
    fn open(&self) -> Result<ByteStream> {
        Ok(Box::pin(ReaderStream::with_capacity(
            tokio::io::stdin(),
            READ_CHUNK,
        )))
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn replayable(&self) -> bool {
        false
    }
}

/// Copies standard input to a temporary file, in chunks (never to memory), for a service
/// that needs the length before the bytes.
pub async fn spool_stdin() -> Result<tempfile::NamedTempFile> {
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

/// A file's bytes in pieces of up to [`FILE_CHUNK`], read on the runtime's thread: a read
/// of a file in the page cache is short, and `tokio::fs` would hand each one to a blocking
/// thread and copy it once more. So that the pages are there when they are read, the kernel
/// is asked to fetch them [`PREFETCH`] ahead (see [`FileChunks::prefetch`]).
struct FileChunks {
    file: Arc<std::fs::File>,
    /// Buffers whose pieces have been sent, to read the next ones into.
    pool: Pool,
    /// The offset of the next read.
    at: u64,
    /// Where the range the kernel was last asked to fetch ends (Linux only asks).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fetched: u64,
}

/// How far ahead of the upload the kernel fetches the file, in steps of half as much. The
/// pages are the page cache's, not this process's memory.
const PREFETCH: u64 = 16 * 1024 * 1024;

impl FileChunks {
    fn new(file: std::fs::File, at: u64) -> FileChunks {
        FileChunks {
            file: Arc::new(file),
            pool: Pool::default(),
            at,
            fetched: at,
        }
    }

    /// Asks the kernel to read the next stretch of the file into the page cache, on a
    /// blocking thread. A page that is not cached (evicted, or never read) would otherwise
    /// be read when the upload gets to it, 128 KiB at a time, each read waiting its turn
    /// behind whatever the disk is busy with (write-back after a build: seconds for a
    /// 256 MiB file, BENCHMARKS.md) while the connection sits idle. Asked early, those
    /// reads overlap with sending what is already cached. Asking costs little when the
    /// pages are cached; submitting the reads can itself wait for a busy disk's queue, so
    /// it is never done on the runtime's thread.
    fn prefetch(&mut self) {
        #[cfg(target_os = "linux")]
        if self.fetched <= self.at + PREFETCH / 2 {
            let from = self.fetched.max(self.at);
            let len = self.at + PREFETCH - from;
            self.fetched = from + len;
            let file = self.file.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn_blocking(move || {
                    // Linux fetches at most the device's readahead window (128 KiB by
                    // default) per call, whatever the length asked for.
                    let step = 128 * 1024;
                    for at in (from..from + len).step_by(step as usize) {
                        let _ = rustix::fs::fadvise(
                            &*file,
                            at,
                            std::num::NonZeroU64::new(step),
                            rustix::fs::Advice::WillNeed,
                        );
                    }
                });
            }
        }
    }
}

impl Stream for FileChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.prefetch();
        let FileChunks { file, pool, at, .. } = &mut *self;
        let mut buf = pool.take();
        Poll::Ready(match read_into_spare(file, &mut buf) {
            Ok(0) => None,
            Ok(n) => {
                *at += n as u64;
                Some(Ok(Bytes::from_owner(Pooled {
                    buf,
                    pool: pool.clone(),
                })))
            }
            Err(e) => Some(Err(e)),
        })
    }
}

/// The most buffers [`Pool`] keeps: more than are ever in flight at once (the socket's
/// unsent limit is 128 KiB, two pieces).
const POOL_MAX: usize = 8;

/// Buffers of [`FILE_CHUNK`] bytes handed back by the pieces read into them once those are
/// sent. Each fresh buffer costs 16 page faults as the read first touches it, and the
/// allocator gave a freed one back to the system often enough that a 64 MiB upload took
/// ~450 such faults (~2 µs each); reused, they stay in place.
#[derive(Clone, Default)]
struct Pool(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        kept.unwrap_or_else(|| Vec::with_capacity(FILE_CHUNK))
    }
}

/// A piece's bytes, whose buffer goes back to its [`Pool`] when the last `Bytes` of it drops.
struct Pooled {
    buf: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut kept = self.pool.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < POOL_MAX {
            kept.push(buf);
        }
    }
}

/// Reads up to [`FILE_CHUNK`] bytes into `buf`'s spare capacity (it is empty), which is
/// never zeroed first: zeroing cost as much CPU as the read's own copy.
#[cfg(unix)]
fn read_into_spare(file: &std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let spare = &mut buf.spare_capacity_mut()[..FILE_CHUNK];
    let n = loop {
        match rustix::io::read(file, &mut *spare) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok((init, _)) => break init.len(),
        }
    };
    // SAFETY: the read initialized the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(n) };
    Ok(n)
}

#[cfg(not(unix))]
fn read_into_spare(mut file: &std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.resize(FILE_CHUNK, 0);
    let read = loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r,
        }
    };
    buf.truncate(*read.as_ref().unwrap_or(&0));
    read
}

/// A request body of `stream` that counts what it sends on the bars and as activity (for
/// the stall watchdog).
pub fn counted(
    stream: ByteStream,
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

/// A local file that cannot be read, said plainly (exit 9).
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// Which of the file's pages are in the page cache, per 4 KiB page.
    fn resident(file: &std::fs::File, len: usize) -> Vec<bool> {
        use std::os::fd::AsRawFd;
        let page = 4096;
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: a read-only shared mapping of a file this test owns, unmapped below, and
        // mincore writes one byte per page into a vector of that many.
        unsafe {
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(addr, libc::MAP_FAILED);
            assert_eq!(libc::mincore(addr, len, vec.as_mut_ptr()), 0);
            libc::munmap(addr, len);
        }
        vec.iter().map(|b| b & 1 == 1).collect()
    }

    /// A temporary file holding `data`.
    fn written(data: &[u8]) -> tempfile::NamedTempFile {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut tmp, data).unwrap();
        tmp
    }

    /// Runs `f` on a runtime like the client's: one thread.
    fn on_client_runtime<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Pieces are read into a reused buffer that is never zeroed: each is at most
    /// [`FILE_CHUNK`], those still held keep their bytes while later ones are read, and
    /// together they are the file.
    #[test]
    fn pieces_are_the_files_bytes_whether_held_or_let_go() {
        let len = 5 * FILE_CHUNK + 777;
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let tmp = written(&data);
        on_client_runtime(async {
            let mut chunks = FileChunks::new(tmp.reopen().unwrap(), 0);
            let (mut held, mut all) = (Vec::new(), Vec::new());
            while let Some(piece) = chunks.next().await {
                let piece = piece.unwrap();
                assert!(!piece.is_empty() && piece.len() <= FILE_CHUNK);
                all.extend_from_slice(&piece);
                // Every other piece is dropped at once, so its allocation is reused.
                if held.len() * 2 < all.len() / FILE_CHUNK {
                    held.push((all.len() - piece.len(), piece));
                }
            }
            assert!(all == data);
            for (at, piece) in held {
                assert!(
                    piece[..] == data[at..at + piece.len()],
                    "the piece at {at} changed"
                );
            }
        });
    }

    /// A piece's buffer is read into again once the piece is dropped, never while it is
    /// held, and the pool keeps at most [`POOL_MAX`] of them.
    #[test]
    fn a_sent_pieces_buffer_is_read_into_again_and_the_pool_is_bounded() {
        let tmp = written(&vec![7u8; (POOL_MAX + 4) * FILE_CHUNK]);
        on_client_runtime(async {
            let mut chunks = FileChunks::new(tmp.reopen().unwrap(), 0);
            let first = chunks.next().await.unwrap().unwrap();
            let at = first.as_ptr();
            drop(first);
            let second = chunks.next().await.unwrap().unwrap();
            assert_eq!(
                second.as_ptr(),
                at,
                "the dropped piece's buffer was not reused"
            );
            let third = chunks.next().await.unwrap().unwrap();
            assert_ne!(third.as_ptr(), second.as_ptr());
            let mut held = vec![second, third];
            for _ in 0..POOL_MAX + 1 {
                held.push(chunks.next().await.unwrap().unwrap());
            }
            assert!(chunks.pool.0.lock().unwrap().is_empty());
            drop(held);
            assert_eq!(chunks.pool.0.lock().unwrap().len(), POOL_MAX);
        });
    }

    /// Reading the first piece of a file whose pages are not cached has the kernel fetch
    /// the next [`PREFETCH`] too, and the bytes are the file's, from any offset.
    #[test]
    fn a_file_is_fetched_ahead_of_the_upload() {
        let len = 3 * PREFETCH as usize;
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::io::Write::write_all(&mut tmp, &data).unwrap();
        tmp.as_file().sync_all().unwrap();
        let file = tmp.reopen().unwrap();
        // Clean pages once synced: this drops them from the cache.
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        let cached = |from: u64, to: u64| {
            let pages = resident(&file, len);
            pages[(from / 4096) as usize..(to / 4096) as usize]
                .iter()
                .filter(|r| **r)
                .count() as u64
                * 4096
        };
        let ahead = (PREFETCH / 2, PREFETCH);
        if cached(ahead.0, ahead.1) > 0 {
            eprintln!("skipped: this filesystem keeps the pages cached after DONTNEED");
            return;
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut chunks = FileChunks::new(tmp.reopen().unwrap(), 0);
            let first = chunks.next().await.unwrap().unwrap();
            assert_eq!(first[..], data[..first.len()]);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while cached(ahead.0, ahead.1) < ahead.1 - ahead.0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "only {} of the {} bytes ahead were fetched",
                    cached(ahead.0, ahead.1),
                    ahead.1 - ahead.0
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // And from an offset (a resumed upload), to the end.
            let at = PREFETCH + 12345;
            let mut file = tmp.reopen().unwrap();
            file.seek(SeekFrom::Start(at)).unwrap();
            let mut rest = Vec::new();
            let mut chunks = FileChunks::new(file, at);
            while let Some(piece) = chunks.next().await {
                rest.extend_from_slice(&piece.unwrap());
            }
            assert!(rest == data[at as usize..]);
        });
    }
}
