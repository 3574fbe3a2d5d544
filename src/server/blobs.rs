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
    /// Removes what uploads abandoned by a stopped instance left, while this one serves (so
    /// never an upload under way); returns how many. Nothing by default: a local directory
    /// has one server, and its start-up cleans it.
    fn sweep_abandoned(&self) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(async { Ok(0) })
    }
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
            let tmp = TmpFile(self.dir.join("tmp").join(crate::server::ids::random(16)));
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
    /// The one file operation made in place rather than on the blocking pool: an unlink in
    /// our own directory, done before the refusal that dropped it is answered, so that no
    /// partial upload outlives the answer (deferred, a test or a client could see it).
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
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
        s.commit("k-1".into()).await.unwrap();
        let got = read_all(blobs.open("k-1".into()).await.unwrap()).await;
        assert_eq!(&got[..6], b"hello ");
        assert_eq!(got.len(), 6 + (3 << 20));
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
        assert_eq!(blobs.names().await.unwrap(), ["k-1".to_string()].into());
        // An open reader outlives a delete; a deleted blob cannot be opened again.
        let reader = blobs.open("k-1".into()).await.unwrap();
        blobs.delete("k-1".into()).await.unwrap();
        assert_eq!(read_all(reader).await.len(), 6 + (3 << 20));
        let e = blobs.open("k-1".into()).await.err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        blobs.delete("k-1".into()).await.unwrap();
        assert!(blobs.names().await.unwrap().is_empty());
        // Names with a path in them are refused.
        for bad in ["../x", "a/b", ".hidden", ""] {
            assert!(blobs.open(bad.into()).await.is_err(), "{bad}");
            assert!(blobs.delete(bad.into()).await.is_err(), "{bad}");
        }
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
        // Left over from an unclean stop: removed by clean_staging.
        std::fs::write(dir.path().join("tmp").join("partial"), b"x").unwrap();
        assert_eq!(blobs.clean_staging().await.unwrap(), 1);
    }
}
