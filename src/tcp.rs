//! A socket option reqwest does not expose: `TCP_NOTSENT_LOWAT` on the client's connections.
//!
//! Without it, Linux lets an upload queue megabytes that are not sent yet (the send buffer
//! grows to 4 MiB, net.ipv4.tcp_wmem), and the bytes then go out from the receiver's side:
//! each window update it sends pushes out more of the client's queue from the receiver's
//! own system call. To a loopback `fileio serve` the server then did that work on top of its
//! own: 256 MiB uploads took ~290 ms against curl's ~250; with the option, ~235 (BENCHMARKS.md,
//! round six). With it a write waits until fewer than [`NOTSENT_LOWAT`] bytes are unsent,
//! while what is in flight (sent, not yet acknowledged) stays unlimited: unlike a small
//! `SO_SNDBUF`, it does not slow a long, fast link.
//!
//! reqwest creates its sockets itself and hands none out (its connector's `Conn` is
//! sealed), so a connector layer ([`NotSentLowat`]) looks for each new connection's socket
//! among the process's descriptors once it is connected: the TCP sockets whose option is
//! still unset. Setting it on another of our sockets would do no harm.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// At most this much unsent data waits in a connection's socket.
pub const NOTSENT_LOWAT: u32 = 128 * 1024;

/// The connector layer: sets [`NOTSENT_LOWAT`] on each connection it makes.
#[derive(Clone, Copy, Default)]
pub struct NotSentLowat;

impl<S> tower_layer::Layer<S> for NotSentLowat {
    type Service = WithLowat<S>;

    fn layer(&self, inner: S) -> WithLowat<S> {
        WithLowat(inner)
    }
}

#[derive(Clone)]
pub struct WithLowat<S>(S);

impl<S, R> tower_service::Service<R> for WithLowat<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connecting = self.0.call(req);
        Box::pin(async move {
            let conn = connecting.await?;
            set_on_new_sockets();
            Ok(conn)
        })
    }
}

/// Sets [`NOTSENT_LOWAT`] on every TCP socket of this process that has none yet.
#[cfg(target_os = "linux")]
pub fn set_on_new_sockets() {
    use std::os::fd::BorrowedFd;
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // SAFETY: only system calls are made on the descriptor, and only these two, which
        // fail harmlessly (EBADF, ENOTSOCK, ENOPROTOOPT) if it was closed meanwhile or is
        // not a TCP socket.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket.tcp_notsent_lowat().is_ok_and(|v| v == 0) {
            let _ = socket.set_tcp_notsent_lowat(NOTSENT_LOWAT);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_on_new_sockets() {}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tests {
    use super::*;

    /// This test sets the option on every socket of the process: a test that checks that a
    /// client did (`http::tests`) must not run meanwhile.
    pub(crate) static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The option of this process's socket connected to `addr`, if there is one.
    pub(crate) fn lowat_of_socket_to(addr: std::net::SocketAddr) -> Option<u32> {
        use std::os::fd::BorrowedFd;
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .find_map(|fd| {
                // SAFETY: as in set_on_new_sockets.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                let s = socket2::SockRef::from(&fd);
                (s.peer_addr().ok()?.as_socket()? == addr).then(|| s.tcp_notsent_lowat().ok())?
            })
    }

    #[test]
    fn unset_tcp_sockets_get_the_option_and_others_are_left_alone() {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fresh = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let chosen = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        socket2::SockRef::from(&chosen)
            .set_tcp_notsent_lowat(4096)
            .unwrap();
        set_on_new_sockets();
        assert_eq!(
            socket2::SockRef::from(&fresh).tcp_notsent_lowat().unwrap(),
            NOTSENT_LOWAT
        );
        assert_eq!(
            socket2::SockRef::from(&chosen).tcp_notsent_lowat().unwrap(),
            4096
        );
    }
}
