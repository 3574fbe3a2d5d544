//! `fileio serve` against hostile clients written here with raw TCP: idle and slow
//! connections, floods, stalled bodies, downloaders that stop reading, clients still sending
//! when refused, oversized forms, odd Host headers — and the data directory's permissions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Env;

const KEY: &str = "HOSTILE1.aaaaaaa-bbbbbbb-ccccccc";

/// A `fileio serve` started with a hook run in the child before exec (limits, umask).
struct Serve {
    child: Child,
    addr: String,
    url: String,
    data: PathBuf,
    log: PathBuf,
}

impl Serve {
    fn start(env: &Env, args: &[&str]) -> Serve {
        Serve::start_with(env, args, || {})
    }

    fn start_with(env: &Env, args: &[&str], pre_exec: fn()) -> Serve {
        Serve::start_full(env, args, &[], pre_exec)
    }

    fn start_full(env: &Env, args: &[&str], vars: &[(&str, &str)], pre_exec: fn()) -> Serve {
        let data = env.path("serverdata");
        let mut cmd = env.std_cmd();
        cmd.envs(vars.iter().copied());
        cmd.arg("serve")
            .arg("--data")
            .arg(&data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !args.contains(&"--bind") {
            cmd.args(["--bind", "127.0.0.1:0"]);
        }
        #[cfg(unix)]
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                pre_exec();
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("spawn fileio serve");
        let mut reader = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in banner {first:?}"))
            .to_string();
        let log = env.path(&format!("serve-{}.log", child.id()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut out = std::fs::File::create(&log2).unwrap();
            let _ = std::io::copy(&mut reader, &mut out);
        });
        let addr = url.strip_prefix("http://").unwrap().to_string();
        Serve {
            child,
            addr,
            url,
            data,
            log,
        }
    }

    /// What the server logged, access-log lines being written in batches (as
    /// `support::Server::log`, whose wait this repeats).
    fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(250));
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to 5 s for the log to say `needle`.
    fn wait_log(&self, needle: &str) {
        let t = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the log never said {needle:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's peak resident memory, in KiB.
    fn vm_hwm(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    fn tmp_count(&self) -> usize {
        std::fs::read_dir(self.data.join("tmp")).unwrap().count()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer read until the server closes.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}{}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Reads one answer: the head, then Content-Length bytes of body.
fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = got[end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            // A HEAD answer (or a cut one: the callers compare what they got).
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Answer { status, head, body })
}

/// Sends a whole request and reads its answer on a fresh connection.
fn request(s: &Serve, req: &[u8]) -> Answer {
    let mut c = s.connect();
    c.write_all(req).unwrap();
    read_answer(&mut c).unwrap()
}

/// True when the server closes the connection (EOF or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Uploads a file with the real client and returns its link.
fn fileio_upload(env: &Env, s: &Serve, path: &Path, extra: &[&str]) -> String {
    fileio_upload_as(env, s, None, path, extra)
}

fn fileio_upload_as(
    env: &Env,
    s: &Serve,
    key: Option<&str>,
    path: &Path,
    extra: &[&str],
) -> String {
    let mut cmd = env.cmd();
    if let Some(k) = key {
        cmd.env("FILEIO_API_KEY", k);
    }
    let out = cmd
        .args(["--server", &s.url, "upload"])
        .args(extra)
        .arg(path)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "upload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn key_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_string()
}

fn multipart_head(host: &str, len: Option<u64>) -> String {
    let len = match len {
        Some(n) => format!("Content-Length: {n}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_string(),
    };
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\n{len}Content-Type: multipart/form-data; boundary=XyZ\r\n\r\n"
    )
}

const FILE_PART: &str =
    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\n";

#[test]
fn idle_and_slow_request_heads_are_closed() {
    let env = Env::new();
    let s = Serve::start(&env, &["--header-timeout", "1"]);
    let t = Instant::now();
    let mut silent = s.connect();
    let mut slow = s.connect();
    slow.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    // Dribbling a header a byte at a time does not keep it open either.
    for b in b"st: x\r\nX-A: b" {
        std::thread::sleep(Duration::from_millis(100));
        if slow.write_all(&[*b]).is_err() {
            break;
        }
    }
    assert!(closed_within(&mut silent, Duration::from_secs(4)));
    assert!(closed_within(&mut slow, Duration::from_secs(4)));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // A kept-alive connection waiting for its next request is closed the same way.
    let mut kept = s.connect();
    kept.write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut kept).unwrap().status, 404);
    assert!(closed_within(&mut kept, Duration::from_secs(4)));
}

#[test]
fn the_open_file_limit_is_raised_to_its_hard_maximum() {
    let env = Env::new();
    let s = Serve::start_with(&env, &[], || unsafe {
        let lim = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 2048,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums, ["2048", "2048"], "{line}");
}

#[test]
fn a_flood_of_idle_connections_does_not_lock_clients_out() {
    let env = Env::new();
    // A server with few file descriptors, flooded with more idle connections than it has.
    let s = Serve::start_with(&env, &["--header-timeout", "1"], || unsafe {
        let lim = libc::rlimit {
            rlim_cur: 128,
            rlim_max: 128,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    });
    // 128 descriptors: 96 spare (the database, the 32 small blobs kept open, ...), two for
    // each connection.
    s.wait_log("serving at most 16 connections at once, not 1024");
    let flood: Vec<TcpStream> = (0..150).map(|_| s.connect()).collect();
    let f = env.write("hello.txt", "through the flood");
    let t = Instant::now();
    let link = fileio_upload(&env, &s, &f, &[]);
    env.cmd()
        .args(["download", &link, "-o", "got.txt"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(env.work().join("got.txt")).unwrap(),
        "through the flood"
    );
    // The flood is shed in header-timeout rounds of 16 connections.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    drop(flood);
}

#[test]
fn a_stalled_upload_is_abandoned_and_its_partial_file_removed() {
    let env = Env::new();
    let s = Serve::start(&env, &["--body-timeout", "1"]);
    for len in [Some(10_000_000), None] {
        let mut c = s.connect();
        c.write_all(multipart_head(&s.addr, len).as_bytes())
            .unwrap();
        let first = format!("{FILE_PART}{}", "a".repeat(100_000));
        match len {
            Some(_) => c.write_all(first.as_bytes()).unwrap(),
            None => c
                .write_all(format!("{:x}\r\n{first}\r\n", first.len()).as_bytes())
                .unwrap(),
        }
        // The partial upload exists while bytes arrive...
        let t = Instant::now();
        while s.tmp_count() == 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(s.tmp_count(), 1);
        // ...and is gone soon after they stop, with the connection.
        assert!(closed_within(&mut c, Duration::from_secs(5)));
        let t = Instant::now();
        while s.tmp_count() > 0 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(s.tmp_count(), 0, "{len:?}");
    }
}

/// An upload whose client stops sending keeps nothing back in memory: within about a
/// second every byte of the file that came is in its staging file (pieces wait only while
/// more keep coming).
#[test]
fn a_stalled_upload_has_written_what_it_sent() {
    let env = Env::new();
    let s = Serve::start(&env, &[]);
    // Not a multiple of the 128 KiB the writer gathers.
    let sent: u64 = 300_000;
    let mut c = s.connect();
    c.write_all(multipart_head(&s.addr, Some(10_000_000)).as_bytes())
        .unwrap();
    c.write_all(format!("{FILE_PART}{}", "a".repeat(sent as usize)).as_bytes())
        .unwrap();
    let written = || crate::support::largest_file(&s.data.join("tmp"));
    let t = Instant::now();
    while written() < sent && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(written(), sent);
    drop(c);
}

#[test]
fn a_downloader_that_stops_reading_gives_the_one_time_file_back() {
    let env = Env::new();
    let s = Serve::start(&env, &["--send-timeout", "1"]);
    // Larger than what socket buffers on both sides hold.
    let size: usize = 48 << 20;
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let f = env.write("big.bin", &content);
    let link = fileio_upload(&env, &s, &f, &[]);
    let key = key_of(&link);
    let mut hostage = s.connect();
    hostage
        .write_all(format!("GET /{key} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut head = [0u8; 12];
    hostage.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // It never reads again, but stays connected.
    std::thread::sleep(Duration::from_millis(2500));
    env.cmd()
        .args(["download", &link, "-o", "got.bin"])
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    assert!(std::fs::read(env.work().join("got.bin")).unwrap() == content);
    drop(hostage);
}

/// Sends `head`, then keeps sending body bytes for `for_` (as a client that has not noticed
/// the answer would), and only then reads the answer. Asserts a lingering close: the server
/// kept taking the body (no write failed) and closed with a FIN after the answer, not a
/// reset; without it the client's writes fail and its reads end in ECONNRESET.
fn refused_while_sending(s: &Serve, head: &str, for_: Duration) -> Answer {
    let mut c = s.connect();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(FILE_PART.as_bytes()).unwrap();
    let chunk = vec![b'x'; 32 * 1024];
    let t = Instant::now();
    while t.elapsed() < for_ {
        if let Err(e) = c.write_all(&chunk) {
            panic!(
                "the server stopped taking the body after {:?}: {e}",
                t.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let answer = read_answer(&mut c).expect("the answer");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest)
        .expect("a clean close (FIN) after the answer, not a reset");
    assert!(rest.is_empty());
    answer
}

#[test]
fn early_refusals_reach_a_client_that_is_still_sending() {
    let env = Env::new();
    let s = Serve::start(
        &env,
        &[
            "--max-size",
            "1MB",
            "--api-key",
            KEY,
            "--require-auth",
            "--rate-limit",
            "3/min",
        ],
    );
    let auth = format!("Authorization: Bearer {KEY}\r\n");
    // 413: Content-Length over --max-size.
    let head =
        multipart_head(&s.addr, Some(50_000_000)).replacen("\r\n", &format!("\r\n{auth}"), 1);
    let a = refused_while_sending(&s, &head, Duration::from_millis(1500));
    assert_eq!(a.status, 413, "{}", a.head);
    assert_eq!(a.json()["code"], "FILE_TOO_LARGE");
    // 401: no key on a server that requires one.
    let head = multipart_head(&s.addr, Some(50_000_000));
    let a = refused_while_sending(&s, &head, Duration::from_millis(1500));
    assert_eq!(a.status, 401, "{}", a.head);
    assert_eq!(a.json()["code"], "UNAUTHORIZED");
    // 429: the third request of a 3/min window was the last allowed.
    let _ = request(
        &s,
        b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let head =
        multipart_head(&s.addr, Some(50_000_000)).replacen("\r\n", &format!("\r\n{auth}"), 1);
    let a = refused_while_sending(&s, &head, Duration::from_millis(1500));
    assert_eq!(a.status, 429, "{}", a.head);
    assert_eq!(a.json()["code"], "TOO_MANY_REQUESTS");
}

/// Sends a chunked request head and then `body` in 64 KiB chunks, and reads the answer
/// (the server may answer and stop reading early).
fn chunked(s: &Serve, head: &str, body: impl Iterator<Item = Vec<u8>>) -> Answer {
    let mut c = s.connect();
    c.write_all(head.as_bytes()).unwrap();
    for piece in body {
        let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
        frame.extend_from_slice(&piece);
        frame.extend_from_slice(b"\r\n");
        if c.write_all(&frame).is_err() {
            break;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n");
    read_answer(&mut c).expect("an answer")
}

fn repeat(piece: Vec<u8>, times: usize) -> impl Iterator<Item = Vec<u8>> {
    std::iter::repeat_n(piece, times)
}

fn field(name: &str, value: &str) -> String {
    format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

#[test]
fn multipart_forms_are_bounded_while_streaming() {
    let env = Env::new();
    let s = Serve::start(&env, &["--max-size", "1MB"]);
    let before = s.vm_hwm();
    let head = multipart_head(&s.addr, None);

    // Many parts: refused at the 65th, whatever their size.
    let parts = field("x", "1").into_bytes();
    let a = chunked(&s, &head, repeat(parts, 100_000));
    assert_eq!(a.status, 413, "{}", a.head);
    assert_eq!(a.json()["code"], "FORM_TOO_LARGE");
    assert!(
        a.json()["message"]
            .as_str()
            .unwrap()
            .contains("more than 64 parts")
    );

    // Fields of 40 KiB each are each allowed, but not 64 KiB of them together.
    let body = format!(
        "{}{}",
        field("a", &"v".repeat(40_000)),
        field("b", &"v".repeat(40_000))
    );
    let a = chunked(&s, &head, std::iter::once(body.into_bytes()));
    assert_eq!(a.status, 413, "{}", a.head);
    assert_eq!(a.json()["code"], "FORM_TOO_LARGE");
    assert!(
        a.json()["message"]
            .as_str()
            .unwrap()
            .contains("KiB together")
    );

    // One endless field.
    let mut first = b"--XyZ\r\nContent-Disposition: form-data; name=\"big\"\r\n\r\n".to_vec();
    first.extend(vec![b'f'; 1 << 16]);
    let a = chunked(
        &s,
        &head,
        std::iter::once(first).chain(repeat(vec![b'f'; 1 << 16], 800)),
    );
    assert_eq!(a.status, 413, "{}", a.head);
    assert_eq!(a.json()["code"], "FORM_TOO_LARGE");

    // An endless part header, and an endless preamble: framing, bounded too.
    let mut first = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".to_vec();
    first.extend(vec![b'h'; 1 << 16]);
    let a = chunked(
        &s,
        &head,
        std::iter::once(first).chain(repeat(vec![b'h'; 1 << 16], 800)),
    );
    assert_eq!(a.status, 431, "{}", a.head);
    assert_eq!(a.json()["code"], "HEADERS_TOO_LARGE");
    let a = chunked(&s, &head, repeat(vec![b'p'; 1 << 16], 800));
    assert_eq!(a.status, 431, "{}", a.head);

    // The same with a Content-Length that --max-size allows.
    let len = 1_000_000 + 100_000;
    let mut c = s.connect();
    c.write_all(multipart_head(&s.addr, Some(len)).as_bytes())
        .unwrap();
    let mut sent = 0;
    let piece = vec![b'p'; 1 << 16];
    while sent < len
        && c.write_all(&piece[..(len - sent).min(1 << 16) as usize])
            .is_ok()
    {
        sent += 1 << 16;
    }
    let a = read_answer(&mut c).unwrap();
    assert_eq!(a.status, 431, "{}", a.head);

    // A huge request head is refused by hyper itself.
    let mut c = s.connect();
    let _ = c.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "b".repeat(2 << 20)
        )
        .as_bytes(),
    );
    let a = read_answer(&mut c).unwrap();
    assert_eq!(a.status, 431, "{}", a.head);

    let after = s.vm_hwm();
    eprintln!("server peak RSS: {before} KiB before, {after} KiB after the floods");
    assert!(
        after - before < 16 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(s.tmp_count(), 0);
    // A normal upload with the settings fields still works.
    let body = format!(
        "{}{FILE_PART}hello\r\n--XyZ--\r\n",
        field("maxDownloads", "2")
    );
    let a = chunked(&s, &head, std::iter::once(body.into_bytes()));
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(a.json()["maxDownloads"], 2);
}

#[test]
fn urlencoded_text_streams_to_disk() {
    let env = Env::new();
    let s = Serve::start(&env, &[]);
    let before = s.vm_hwm();
    // 44 MB of encoded text, with escapes split across chunks.
    let reps = 4_000_000;
    let mut body = b"maxDownloads=3&text=".to_vec();
    let mut expected = Vec::with_capacity(reps * 7);
    for _ in 0..reps {
        body.extend_from_slice(b"a%20b+c%26d");
        expected.extend_from_slice(b"a b c&d");
    }
    body.extend_from_slice(b"&autoDelete=false");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
        s.addr
    );
    let chunks: Vec<Vec<u8>> = body.chunks(7919).map(<[u8]>::to_vec).collect();
    drop(body);
    let a = chunked(&s, &head, chunks.into_iter());
    assert_eq!(a.status, 200, "{}", a.head);
    let v = a.json();
    assert_eq!(v["name"], "text.txt");
    assert_eq!(v["size"], expected.len());
    assert_eq!(v["maxDownloads"], 3);
    assert_eq!(v["autoDelete"], false);
    let after = s.vm_hwm();
    eprintln!("server peak RSS: {before} KiB before, {after} KiB after 28 MB of urlencoded text");
    assert!(
        after - before < 16 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
    let key = v["key"].as_str().unwrap();
    let got = request(
        &s,
        format!("GET /{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(got.status, 200);
    assert!(got.body == expected);
}

#[test]
fn replacing_contents_during_a_download_keeps_the_new_ones() {
    let env = Env::new();
    let s = Serve::start(&env, &["--api-key", KEY]);
    let old: Vec<u8> = (0..(16 << 20)).map(|i| (i % 253) as u8).collect();
    let f = env.write("old.bin", &old);
    let link = fileio_upload_as(&env, &s, Some(KEY), &f, &[]);
    let key = key_of(&link);
    // An old download under way, reading slowly.
    let mut slow = s.connect();
    slow.write_all(
        format!("GET /{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut first = vec![0u8; 4096];
    slow.read_exact(&mut first).unwrap();
    // The owner replaces the contents (PUT) meanwhile.
    let body = format!("{FILE_PART}new contents\r\n--XyZ--\r\n");
    let put = format!(
        "PUT /{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let a = request(&s, put.as_bytes());
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // The old download completes with the old contents...
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).unwrap();
    first.extend(rest);
    let end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(first[end + 4..] == old[..], "the old download was cut");
    // ...and neither spends nor deletes the new ones.
    env.cmd()
        .args(["download", &link, "-o", "new.txt"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(env.work().join("new.txt")).unwrap(),
        "new contents"
    );
    // The new contents were downloaded once: they are gone now, and so are the old ones.
    assert_eq!(std::fs::read_dir(s.data.join("blobs")).unwrap().count(), 0);
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_data_directory_is_private_whatever_the_umask() {
    let env = Env::new();
    let s = Serve::start_with(&env, &[], || unsafe {
        libc::umask(0);
    });
    let f = env.write("secret.txt", "for one person");
    let link = fileio_upload(&env, &s, &f, &["--max-downloads", "2"]);
    let key = key_of(&link);
    for dir in ["", "tmp", "blobs"] {
        assert_eq!(mode(&s.data.join(dir)), 0o700, "{dir}");
    }
    for file in ["fileio.db", "fileio.db-wal", "fileio.db-shm"] {
        assert_eq!(mode(&s.data.join(file)), 0o600, "{file}");
    }
    let blobs: Vec<_> = std::fs::read_dir(s.data.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(blobs.len(), 1);
    assert!(
        blobs[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&key)
    );
    assert_eq!(mode(&blobs[0]), 0o600);
    assert!(
        !s.log().contains("can be read by other users"),
        "{}",
        s.log()
    );
}

#[test]
fn a_data_directory_others_can_read_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let data = env.path("serverdata");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = Serve::start(&env, &[]);
    s.wait_log(&format!(
        "fileio serve: warning: the data directory {} can be read by other users (mode 0755): restrict it with chmod 700 {}",
        data.display(),
        data.display()
    ));
}

fn upload_with_host(s: &Serve, host: &str) -> Answer {
    let body = format!("{FILE_PART}hi\r\n--XyZ--\r\n");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    request(s, req.as_bytes())
}

#[test]
fn links_are_built_only_from_a_valid_host() {
    let env = Env::new();
    let s = Serve::start(&env, &[]);
    for bad in [
        "evil.example#x",
        "evil.example?x=",
        "evil.example/path",
        "user@evil.example",
        "evil .example",
        "evil.example:80x",
        "[::1",
        "evil\x01.example",
        "",
    ] {
        let a = upload_with_host(&s, bad);
        assert_eq!(a.status, 400, "{bad:?}: {}", a.head);
        // hyper refuses some on its own, with an empty body.
        if !a.body.is_empty() {
            assert!(
                a.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("not a valid host name"),
                "{bad:?}"
            );
        }
    }
    assert_eq!(std::fs::read_dir(s.data.join("blobs")).unwrap().count(), 0);
    for good in [
        "files.example.com:8443",
        "127.0.0.1",
        "[::1]:8080",
        "my_host",
    ] {
        let a = upload_with_host(&s, good);
        assert_eq!(a.status, 200, "{good:?}: {}", a.head);
        let link = a.json()["link"].as_str().unwrap().to_string();
        assert!(link.starts_with(&format!("http://{good}/")), "{link}");
    }

    // With --public-url the Host does not matter.
    drop(s);
    let s = Serve::start(&env, &["--public-url", "https://files.example.com/"]);
    let a = upload_with_host(&s, "evil.example#x");
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(
        a.json()["link"]
            .as_str()
            .unwrap()
            .starts_with("https://files.example.com/")
    );
}

#[test]
fn error_help_links_point_at_the_server() {
    let env = Env::new();
    let s = Serve::start(&env, &[]);
    let a = request(
        &s,
        format!(
            "GET /NoSuchKey HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    assert_eq!(a.status, 404);
    let help = a.json()["help"].as_str().unwrap().to_string();
    assert_eq!(help, format!("{}/help/api/errors/FILE_NOT_FOUND", s.url));
    // The page is there, on the server.
    let page = request(
        &s,
        format!(
            "GET /help/api/errors/FILE_NOT_FOUND HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(
        String::from_utf8_lossy(&page.body).starts_with("FILE_NOT_FOUND: No file with this key")
    );
    // An invalid Host never reaches the link.
    let a = request(
        &s,
        b"GET /NoSuchKey HTTP/1.1\r\nHost: evil#x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        a.json()["help"],
        format!("{}/help/api/errors/FILE_NOT_FOUND", s.url).as_str()
    );
    drop(s);
    let s = Serve::start(&env, &["--public-url", "https://files.example.com"]);
    let a = request(
        &s,
        b"GET /NoSuchKey HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        a.json()["help"],
        "https://files.example.com/help/api/errors/FILE_NOT_FOUND"
    );
}

#[test]
fn require_auth_all_closes_downloads_too_and_uploads_leaves_them_open() {
    let env = Env::new();
    let f = env.write("a.txt", "for key holders");
    for (args, env_value, downloads_need_key) in [
        (vec!["--require-auth"], None, false),
        (vec!["--require-auth=uploads"], None, false),
        (vec!["--require-auth=all"], None, true),
        (vec![], Some("all"), true),
        (vec![], Some("true"), false),
    ] {
        let mut args = args;
        args.extend(["--api-key", KEY]);
        let vars: Vec<(&str, &str)> = env_value
            .map(|v| ("FILEIO_REQUIRE_AUTH", v))
            .into_iter()
            .collect();
        let s = Serve::start_full(&env, &args, &vars, || {});
        // Anonymous uploads are refused either way.
        let anon = upload_with_host(&s, "x");
        assert_eq!(anon.status, 401, "{args:?} {env_value:?}");
        let link = fileio_upload_as(&env, &s, Some(KEY), &f, &["--max-downloads", "5"]);
        let key = key_of(&link);
        for method in ["HEAD", "GET"] {
            let anon = request(
                &s,
                format!("{method} /{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let with_key = request(
                &s,
                format!(
                    "{method} /{key} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
            assert_eq!(with_key.status, 200, "{method} {args:?} {env_value:?}");
            let want = if downloads_need_key { 401 } else { 200 };
            assert_eq!(anon.status, want, "{method} {args:?} {env_value:?}");
        }
        drop(s);
        let _ = std::fs::remove_dir_all(env.path("serverdata"));
    }
}

#[test]
fn listening_beyond_loopback_without_required_keys_warns() {
    let env = Env::new();
    let warning = "without --require-auth: anyone who can reach this address may upload";
    let s = Serve::start(&env, &["--bind", "0.0.0.0:0"]);
    assert!(s.url.starts_with("http://0.0.0.0:"), "{}", s.url);
    s.wait_log(warning);
    drop(s);
    // Keys that are not required leave anonymous uploads open: still a warning.
    let s = Serve::start(&env, &["--bind", "0.0.0.0:0", "--api-key", KEY]);
    s.wait_log(warning);
    drop(s);
    // Not with --require-auth, nor on loopback.
    for args in [
        vec!["--bind", "0.0.0.0:0", "--api-key", KEY, "--require-auth"],
        vec!["--bind", "127.0.0.1:0"],
    ] {
        let s = Serve::start(&env, &args);
        let port = s.url.rsplit(':').next().unwrap().to_string();
        // A request makes sure the start-up messages are all out.
        let a = request(
            &s,
            format!("GET /x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(a.status, 404);
        s.wait_log("GET /x 404");
        assert!(!s.log().contains(warning), "{args:?}: {}", s.log());
    }
}

/// The issue's own case, both sides ours: a 20 MB upload to a `--max-size 1MB` server is a
/// refusal (exit 5, the server's words), sent once — never "the connection broke" after
/// sending the file four times. Repeated, since a reset that loses the answer is a race.
#[test]
fn our_client_sees_our_servers_early_refusal_every_time() {
    let env = Env::new();
    let s = Serve::start(&env, &["--max-size", "1MB"]);
    let big = env.write("big.bin", vec![7u8; 20_000_000]);
    for round in 0..8 {
        let out = env
            .cmd()
            .args(["--server", &s.url, "upload"])
            .arg(&big)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "round {round}: {stderr}");
        assert!(stderr.contains("1000000 bytes"), "round {round}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // The log line of a refused request is written once its connection closes: wait for
    // the eighth, then make sure no ninth follows.
    let posts = || s.log().lines().filter(|l| l.contains("POST /")).count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while posts() < 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(posts(), 8, "one request per upload: {}", s.log());
}

impl Serve {
    /// The server's resident memory now, in KiB.
    fn vm_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The resident memory once it has stopped moving (three readings 100 ms apart agree
    /// within 1 MiB), or after 3 s.
    fn settled_rss(&self) -> u64 {
        let t = Instant::now();
        let mut last = [0u64; 3];
        for i in 0.. {
            last[i % 3] = self.vm_rss();
            let (lo, hi) = (last.iter().min().unwrap(), last.iter().max().unwrap());
            if i >= 2 && hi - lo < 1024 || t.elapsed() > Duration::from_secs(3) {
                return last[i % 3];
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unreachable!()
    }
}

/// Uploads and downloads in flight each hold a bounded buffer, whatever the file's size:
/// 100 of each, stalled, stay well under 512 KiB a connection (they took ~2 MiB and ~700
/// KiB before issue 13; the benchmark's stalled rows measure them precisely).
#[test]
fn stalled_uploads_and_downloads_hold_little_memory_each() {
    const N: usize = 100;
    const SENT: usize = 1 << 20;
    let env = Env::new();
    let s = Serve::start(&env, &[]);
    // A file for the downloads, larger than what socket buffers hold.
    let size = 16 << 20;
    let body = format!(
        "{}{FILE_PART}{}\r\n--XyZ--\r\n",
        field("maxDownloads", "1000"),
        "d".repeat(size)
    );
    let mut c = s.connect();
    c.write_all(multipart_head(&s.addr, Some(body.len() as u64)).as_bytes())
        .unwrap();
    c.write_all(body.as_bytes()).unwrap();
    let a = read_answer(&mut c).unwrap();
    assert_eq!(a.status, 200, "{}", a.head);
    let key = a.json()["key"].as_str().unwrap().to_string();
    drop((c, body));

    let before = s.settled_rss();
    let mut uploads = Vec::new();
    let first = format!("{FILE_PART}{}", "u".repeat(SENT));
    for _ in 0..N {
        let mut c = s.connect();
        c.write_all(multipart_head(&s.addr, Some(64 << 20)).as_bytes())
            .unwrap();
        c.write_all(first.as_bytes()).unwrap();
        uploads.push(c);
    }
    // Wait until the server has taken in (nearly) all that was sent.
    let t = Instant::now();
    let taken = || -> usize {
        std::fs::read_dir(s.data.join("tmp"))
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.len() as usize >= SENT - (256 << 10))
            .count()
    };
    while taken() < N && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(taken(), N, "not every upload reached its file");
    let with_uploads = s.settled_rss();
    let mut downloads = Vec::new();
    for _ in 0..N {
        let mut c = s.connect();
        c.write_all(format!("GET /{key} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let mut head = [0u8; 12];
        c.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        downloads.push(c);
    }
    let with_downloads = s.settled_rss();
    let per_upload = with_uploads.saturating_sub(before) / N as u64;
    let per_download = with_downloads.saturating_sub(with_uploads) / N as u64;
    eprintln!(
        "server RSS {before} KiB, {with_uploads} KiB with {N} stalled uploads ({per_upload} KiB each), {with_downloads} KiB with {N} stalled downloads too ({per_download} KiB each)"
    );
    assert!(per_upload < 512, "{per_upload} KiB per stalled upload");
    assert!(
        per_download < 512,
        "{per_download} KiB per stalled download"
    );
}
