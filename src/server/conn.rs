//! One accepted TCP connection, with the bounds hyper does not give: a connection that moves
//! no bytes for too long is closed, and a refused upload's body is read and thrown away for a
//! short while before the socket closes (a lingering close), so the client reads the answer
//! instead of a reset.
//!
//! The stall bounds live on the socket rather than on request or response bodies because a
//! downloader that stops reading never lets hyper poll the response body again: only a
//! pending write sees it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// How long a lingering close reads and discards at most, in all and without a byte. Bounded
/// by time only, as nginx's lingering_time is: a byte cap is spent in milliseconds on a fast
/// link, and the reset that follows can still beat the answer to the client.
const LINGER_TIME: Duration = Duration::from_secs(5);
const LINGER_IDLE: Duration = Duration::from_secs(2);

/// The stall bounds of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Stall {
    /// Waiting for bytes from the client (a request body that stopped, an idle keep-alive
    /// connection) ends after this long without any progress.
    pub read: Duration,
    /// A response the client does not accept ends after this long without any progress.
    pub write: Duration,
}

/// A TCP stream that times out when stalled, and lingers when dropped.
pub struct Guarded {
    stream: Option<TcpStream>,
    stall: Stall,
    /// The last time a byte went either way.
    progress: Instant,
    timer: Pin<Box<Sleep>>,
    /// The client closed its side: nothing left to linger for.
    read_eof: bool,
    /// The client sent something: a connection that never did has no answer to protect.
    read_any: bool,
    /// Holds a place under --max-connections until the socket is closed, lingering included.
    permit: Option<OwnedSemaphorePermit>,
}

impl Guarded {
    pub fn new(stream: TcpStream, stall: Stall, permit: OwnedSemaphorePermit) -> Guarded {
        let now = Instant::now();
        Guarded {
            stream: Some(stream),
            stall,
            progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + stall.read)),
            read_eof: false,
            read_any: false,
            permit: Some(permit),
        }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("stream taken only on drop"))
    }

    /// Called when an operation is pending: fails once `limit` has passed since the last
    /// progress, else arranges to be woken when it does.
    fn check_stall(&mut self, cx: &mut Context<'_>, limit: Duration, what: &str) -> io::Result<()> {
        let deadline = self.progress + limit;
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no bytes {what} for {} s", limit.as_secs()),
            ));
        }
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        // Registers the waker; the next poll after the deadline fails above.
        let _ = self.timer.as_mut().poll(cx);
        Ok(())
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.stream().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() == before {
                    self.read_eof = true;
                } else {
                    self.progress = Instant::now();
                    self.read_any = true;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let limit = self.stall.read;
                self.check_stall(cx, limit, "received")?;
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream().poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progress = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let limit = self.stall.write;
                self.check_stall(cx, limit, "accepted by the client")?;
                Poll::Pending
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.stream().poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progress = Instant::now();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let limit = self.stall.write;
                self.check_stall(cx, limit, "accepted by the client")?;
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    /// Sends FIN only: the read side stays open so that a client still sending its body
    /// gets no reset before it has read the answer.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let (Some(stream), Some(permit)) = (self.stream.take(), self.permit.take()) else {
            return;
        };
        if self.read_eof || !self.read_any {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(stream, permit));
        }
    }
}

/// Closes our side, then reads and discards what the client still sends, for a bounded time,
/// so that closing with unread data does not reset the connection under an
/// answer the client has not read yet.
async fn linger(mut stream: TcpStream, permit: OwnedSemaphorePermit) {
    use tokio::io::AsyncWriteExt;
    let _ = stream.shutdown().await;
    let mut buf = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while let Ok(Ok(n)) = tokio::time::timeout(LINGER_IDLE, stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    drop(stream);
    drop(permit);
}

/// Raises the soft limit on open files to the hard limit and returns the limit now in force
/// (None where there is no such limit).
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        // rlim_t is not u64 on every unix.
        #[allow(clippy::unnecessary_cast)]
        Some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}
