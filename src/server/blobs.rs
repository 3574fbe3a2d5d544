//! The blob seam: file contents, streamed in and out by name.
//!
//! [`Blobs`] is what a contents backend implements: a local directory ([`LocalBlobs`]) or an
//! S3-compatible object store ([`crate::server::s3::S3Blobs`]). An upload is written to a
//! staging place ([`Staged`]) and becomes a blob only on [`Staged::commit`]; dropping it
//! uncommitted discards it. Blob names are chosen by the caller (or, for S3, by the backend
//! when the upload starts: [`Staged::name`]) and never reused, so a blob is written once and
//! never changes.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};

/// An upload being written; dropped without [`Staged::commit`], it is discarded.
pub trait Staged: AsyncWrite + Send + Unpin {
    /// Makes what was written the blob `name`.
    fn commit(self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>>;

    /// The name this upload must be committed under, when the backend fixes it before the
    /// contents arrive (an object store's multipart upload is created under its final key,
    /// and objects cannot be renamed); `None` lets the caller choose at commit.
    fn name(&self) -> Option<String> {
        None
    }
}

/// A blob backend that cannot be reached (or refuses us) for now: answered with 503 and
/// `Retry-After`, unlike a local failure. Carried inside an [`io::Error`].
#[derive(Debug, thiserror::Error)]
#[error("the file store is unavailable: {0}")]
pub struct Unavailable(pub String);

impl Unavailable {
    /// An [`io::Error`] carrying an [`Unavailable`].
    pub fn io(detail: impl std::fmt::Display) -> io::Error {
        io::Error::other(Unavailable(detail.to_string()))
    }

    /// The [`Unavailable`] inside `e`, if that is what it is.
    pub fn find(e: &io::Error) -> Option<&Unavailable> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Unavailable>())
    }
}

/// A blob's contents, read as a stream.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// The contents backend.
pub trait Blobs: Send + Sync + 'static {
    /// A new staging place for an upload.
    fn stage(&self) -> BoxFuture<'_, io::Result<Box<dyn Staged>>>;
    /// Opens a blob for reading. Once open, it can be read in full even if it is deleted.
    fn open(&self, name: String) -> BoxFuture<'_, io::Result<BlobReader>>;
    /// Deletes a blob; deleting one that is not there is not an error.
    fn delete(&self, name: String) -> BoxFuture<'_, io::Result<()>>;
    /// The names of all blobs (for the start-up cleanup).
    fn names(&self) -> BoxFuture<'_, io::Result<HashSet<String>>>;
    /// Removes what uploads under way at an unclean stop left; returns how many.
    fn clean_staging(&self) -> BoxFuture<'_, io::Result<usize>>;
}

/// Writes to disk go out in pieces this large.
const WRITE_BUFFER: usize = 1 << 20;

/// Blobs as files: `DIR/blobs/<name>`, staged in `DIR/tmp/<random>`; all private (0700
/// directories, 0600 files) whatever the umask.
pub struct LocalBlobs {
    dir: PathBuf,
}

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
async fn create_private(path: &Path) -> io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

impl LocalBlobs {
    /// Uses (and creates) `dir/tmp` and `dir/blobs`. Called at start-up, before serving.
    pub fn open(dir: &Path) -> io::Result<LocalBlobs> {
        for sub in ["tmp", "blobs"] {
            create_private_dir(&dir.join(sub))?;
        }
        Ok(LocalBlobs {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join("blobs").join(name)
    }
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
            let tmp = TmpFile(
                self.dir
                    .join("tmp")
                    .join(crate::server::store::random_name()),
            );
            let file = create_private(&tmp.0).await?;
            Ok(Box::new(LocalStaged {
                out: BufWriter::with_capacity(WRITE_BUFFER, file),
                tmp: Some(tmp),
                blobs: self.dir.join("blobs"),
            }) as Box<dyn Staged>)
        })
    }

    fn open(&self, name: String) -> BoxFuture<'_, io::Result<BlobReader>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(self.path(checked(&name)?)).await?;
            Ok(Box::new(file) as BlobReader)
        })
    }

    fn delete(&self, name: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
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
}

/// A file under `tmp/`, removed when dropped unless it was moved away.
struct TmpFile(PathBuf);

impl Drop for TmpFile {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.0);
        if path.as_os_str().is_empty() {
            return;
        }
        // Off the async threads when there are some.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || std::fs::remove_file(path));
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

struct LocalStaged {
    out: BufWriter<tokio::fs::File>,
    tmp: Option<TmpFile>,
    blobs: PathBuf,
}

impl Staged for LocalStaged {
    fn commit(mut self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(async move {
            let name = checked(&name)?.to_string();
            self.out.flush().await?;
            let mut tmp = self.tmp.take().expect("committed once");
            tokio::fs::rename(&tmp.0, self.blobs.join(name)).await?;
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
        Pin::new(&mut self.out).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.out).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.out).poll_shutdown(cx)
    }
}
