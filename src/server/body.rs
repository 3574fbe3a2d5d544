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
        let l = &self.line;
        let client = l.client.map_or_else(|| "-".to_string(), |c| c.to_string());
        crate::server::log!(
            "fileio serve: {client} {} {} {} {}B {}ms",
            l.method,
            l.path,
            l.status,
            self.bytes,
            l.start.elapsed().as_millis()
        );
    }
}
