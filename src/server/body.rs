//! Response bodies that report back: one that logs its request when done, and one that
//! counts a download once the file has been sent in full.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;
use http_body::{Frame, SizeHint};

use crate::server::store::Store;

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

/// A reserved download: counted when the whole file has been handed over, given back if
/// the body is dropped before that (the client went away).
/// It belongs to the contents (blob) it was made for, not to the key.
pub struct Reservation {
    store: Arc<Store>,
    key: String,
    blob: String,
    settled: bool,
}

impl Reservation {
    pub fn new(store: Arc<Store>, key: String, blob: String) -> Reservation {
        Reservation {
            store,
            key,
            blob,
            settled: false,
        }
    }

    pub fn complete(&mut self) {
        if !self.settled {
            self.settled = true;
            self.store.complete(&self.key, &self.blob);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.store.release(&self.blob);
        }
    }
}

/// The stream of a download's bytes, settling its reservation.
pub struct DownloadStream<S> {
    inner: S,
    sent: u64,
    size: u64,
    reservation: Reservation,
}

impl<S> DownloadStream<S> {
    pub fn new(inner: S, size: u64, reservation: Reservation) -> Self {
        DownloadStream {
            inner,
            sent: 0,
            size,
            reservation,
        }
    }
}

impl<S> Stream for DownloadStream<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                self.sent += chunk.len() as u64;
                // The server may not poll again once Content-Length bytes are out: the last
                // chunk handed over is the end of the download.
                if self.sent >= self.size {
                    self.reservation.complete();
                }
            }
            Poll::Ready(None) if self.sent >= self.size => self.reservation.complete(),
            _ => {}
        }
        polled
    }
}
