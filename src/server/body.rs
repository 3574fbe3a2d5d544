//! A response body that logs its request when done.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// What the access log says about a request, printed when its response body is dropped.
pub struct LogLine {
    pub client: Option<SocketAddr>,
    pub method: String,
    /// The path only: query strings may hold anything and are never logged.
    pub path: String,
    pub status: u16,
    pub start: Instant,
}

/// A response body that counts its bytes and logs one line when dropped.
pub struct LoggedBody {
    inner: Body,
    bytes: u64,
    line: LogLine,
}

impl LoggedBody {
    pub fn wrap(inner: Body, line: LogLine) -> Body {
        Body::new(LoggedBody {
            inner,
            bytes: 0,
            line,
        })
    }
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        use std::fmt::Write as _;
        let l = &self.line;
        let mut line = String::with_capacity(96);
        let _ = write!(line, "fileio serve: ");
        let _ = match l.client {
            Some(c) => write!(line, "{c}"),
            None => write!(line, "-"),
        };
        let _ = writeln!(
            line,
            " {} {} {} {}B {}ms",
            l.method,
            l.path,
            l.status,
            self.bytes,
            l.start.elapsed().as_millis()
        );
        access_log(line);
    }
}

/// Access-log lines are written out once this many bytes wait, or [`ACCESS_LOG_FLUSH`] after
/// the first of them, whichever comes first (as nginx's `access_log … buffer= flush=`): a
/// write per request was a system call, and a wake-up of whatever reads the log, for each
/// small download.
const ACCESS_LOG_BUFFER: usize = 8 * 1024;
const ACCESS_LOG_FLUSH: std::time::Duration = std::time::Duration::from_millis(50);

/// The access-log lines not yet written; `armed` while a flush is scheduled.
struct Pending {
    bytes: Vec<u8>,
    armed: bool,
}

static PENDING: std::sync::Mutex<Pending> = std::sync::Mutex::new(Pending {
    bytes: Vec::new(),
    armed: false,
});

fn access_log(line: String) {
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    p.bytes.extend_from_slice(line.as_bytes());
    if p.bytes.len() >= ACCESS_LOG_BUFFER {
        write_out(&mut p);
    } else if !p.armed {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                p.armed = true;
                rt.spawn(async {
                    tokio::time::sleep(ACCESS_LOG_FLUSH).await;
                    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
                    p.armed = false;
                    write_out(&mut p);
                });
            }
            Err(_) => write_out(&mut p),
        }
    }
}

/// Writes out the access-log lines waiting (before any other line, and at the end).
pub fn flush_access_log() {
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    write_out(&mut p);
}

fn write_out(p: &mut Pending) {
    use std::io::Write as _;
    if !p.bytes.is_empty() {
        let _ = std::io::stderr().write_all(&p.bytes);
        p.bytes.clear();
    }
}
