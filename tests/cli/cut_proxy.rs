//! A TCP proxy on 127.0.0.1 that cuts connections after a number of bytes, for the tests of
//! resumed uploads and downloads: the network dropping mid-body, as hotel Wi-Fi does.
//!
//! It knows nothing of HTTP. Each accepted connection takes the next planned cut, if any
//! (`cut_next_upload_after` counts bytes from client to server, `cut_next_download_after`
//! from server to client, headers included); connections with no plan pass through. It counts
//! every byte it forwards, so a test can tell how much was sent again after a cut.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: the body of an upload.
    Up,
    /// Server to client: the body of a download.
    Down,
}

#[derive(Default)]
struct Shared {
    plans: Mutex<VecDeque<(Direction, u64)>>,
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    cuts: AtomicU64,
    stop: AtomicBool,
}

pub struct CutProxy {
    /// `http://127.0.0.1:PORT`, to use in place of the server's URL.
    pub url: String,
    shared: Arc<Shared>,
    port: u16,
}

impl CutProxy {
    /// A proxy in front of `upstream` (`http://127.0.0.1:PORT`, as `Server::url` gives).
    pub fn start(upstream: &str) -> CutProxy {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the cutting proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let accept = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                accept.connections.fetch_add(1, Ordering::SeqCst);
                let plan = accept.plans.lock().unwrap().pop_front();
                let Ok(server) = connect_upstream(&target) else {
                    continue;
                };
                let shared = accept.clone();
                thread::spawn(move || relay(client, server, plan, shared));
            }
        });
        CutProxy {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            port,
        }
    }

    /// The next connection is cut once `bytes` have gone from the client to the server.
    pub fn cut_next_upload_after(&self, bytes: u64) {
        self.plan(Direction::Up, bytes);
    }

    /// The next connection is cut once `bytes` have gone from the server to the client.
    pub fn cut_next_download_after(&self, bytes: u64) {
        self.plan(Direction::Down, bytes);
    }

    /// Any cut, in the order connections arrive.
    pub fn plan(&self, direction: Direction, bytes: u64) {
        self.shared
            .plans
            .lock()
            .unwrap()
            .push_back((direction, bytes));
    }

    /// Planned cuts no connection has taken yet.
    pub fn plans_left(&self) -> usize {
        self.shared.plans.lock().unwrap().len()
    }

    /// Bytes forwarded from clients to the server, over all connections.
    pub fn bytes_up(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Bytes forwarded from the server to clients, over all connections.
    pub fn bytes_down(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many connections were cut.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    plan: Option<(Direction, u64)>,
    shared: Arc<Shared>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let budget = |d: Direction| match plan {
        Some((dir, n)) if dir == d => Some(n),
        _ => None,
    };
    let up = {
        let (from, to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let shared = shared.clone();
        let limit = budget(Direction::Up);
        thread::spawn(move || pump(from, to, limit, &shared.up, &shared, [c, s]))
    };
    let limit = budget(Direction::Down);
    let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    pump(server, client, limit, &shared.down, &shared, [c, s]);
    let _ = up.join();
}

/// Connects to the server with a small, fixed receive buffer. Linux grows a loopback
/// socket's buffer up to `tcp_rmem`'s maximum (32 MiB on some machines): the server would
/// hand over, and count, the end of a download that the proxy then cuts off unseen. With
/// 256 KiB, what is in flight past a cut is the server's send buffer and this, a few MiB.
fn connect_upstream(target: &str) -> std::io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let addr = target
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_recv_buffer_size(256 * 1024)?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

/// Copies `from` to `to` until either ends or `limit` bytes have passed; a cut closes both
/// sockets of the connection at once, so that neither side can finish what it was doing.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: Option<u64>,
    counter: &AtomicU64,
    shared: &Shared,
    both: [TcpStream; 2],
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        let want = match limit {
            Some(limit) if sent >= limit => {
                shared.cuts.fetch_add(1, Ordering::SeqCst);
                for s in &both {
                    let _ = s.shutdown(Shutdown::Both);
                }
                return;
            }
            Some(limit) => buf.len().min((limit - sent) as usize),
            None => buf.len(),
        };
        let n = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
    // One direction ended normally: pass the end on, as a real connection would.
    let _ = to.shutdown(Shutdown::Write);
}

#[test]
fn the_proxy_passes_bytes_and_cuts_where_it_was_told() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap();
    // An echo server.
    thread::spawn(move || {
        for conn in upstream.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let proxy = CutProxy::start(&format!("http://{addr}"));
    let port = proxy.url.rsplit(':').next().unwrap().to_string();

    // Passes through.
    let mut c = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    c.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    drop(c);

    // Cut after 10 bytes up: the echo of at most 10 bytes comes back, then the end.
    proxy.cut_next_upload_after(10);
    let mut c = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    let _ = c.write_all(&[b'x'; 100]);
    let mut back = Vec::new();
    let _ = c.read_to_end(&mut back);
    assert!(back.len() <= 10, "{} bytes came back", back.len());
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(proxy.plans_left(), 0);
    assert!(proxy.bytes_up() >= 15 && proxy.bytes_up() <= 15 + 10);
}
