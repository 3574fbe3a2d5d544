//! `fileio serve` over real HTTP: every endpoint, every error, and the promises users rely on
//! (one-time links, expiry, limits, persistence, flat memory). What needs no process (default
//! flags, no sockets) runs in process in `server_api.rs`; these need the real binary: its
//! flags, its sockets, its log, restarts, signals, or curl as an independent client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Env, Server};

const K1: &str = "KEYONE1.aaaaaaa-bbbbbbb-ccccccc-ddddddd";
const K2: &str = "KEYTWO2.eeeeeee-fffffff-ggggggg-hhhhhhh";

/// An HTTP answer.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn parse(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + len]);
            rest = &rest[nl + 2 + len + 2..];
        }
        body = out;
    }
    Resp {
        status: status.parse().unwrap(),
        headers,
        body,
    }
}

/// Whether curl is missing, for a test that uses it as an independent client: the test is
/// then skipped saying so (failed under CI, where .ci/run installs curl).
fn no_curl(test: &str) -> bool {
    !crate::support::have_tool("curl", &format!("server::{test}"))
}

/// Runs curl and returns the answer (`-i`: headers, then the body).
fn curl(args: &[&str]) -> Resp {
    let out = StdCommand::new("curl")
        .args(["-sS", "-i", "-H", "Expect:", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&out.stdout)
}

fn bearer(key: &str) -> String {
    format!("Authorization: Bearer {key}")
}

/// `host:port` of a server.
fn addr(s: &Server) -> &str {
    s.url.strip_prefix("http://").unwrap()
}

/// Sends raw bytes as a request and reads the answer until the server closes.
fn raw(s: &Server, request: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr(s)).unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    parse(&out)
}

fn raw_get(s: &Server, key: &str) -> Resp {
    raw(
        s,
        format!(
            "GET /{key} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            addr(s)
        )
        .as_bytes(),
    )
}

/// Uploads a file with curl `-F` arguments; asserts 200 and returns the FileDetails.
fn upload(s: &Server, key: Option<&str>, path: &std::path::Path, extra: &[&str]) -> Value {
    let file = format!("file=@{}", path.display());
    let auth = key.map(bearer);
    let mut args: Vec<&str> = vec!["-F", &file];
    if let Some(a) = &auth {
        args.extend(["-H", a]);
    }
    args.extend(extra);
    args.push(&s.url);
    let r = curl(&args);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn key_of(v: &Value) -> String {
    v["key"].as_str().unwrap().to_string()
}

fn get(s: &Server, key: &str) -> Resp {
    curl(&[&format!("{}/{key}", s.url)])
}

fn blob(s: &Server, key: &str) -> std::path::PathBuf {
    blob_in(&s.data, key)
}

/// The file holding a key's contents: `blobs/<key>-<random>`, a new name for every upload and
/// replacement (or `blobs/<key>`, which never exists, when there is none).
fn blob_in(data: &std::path::Path, key: &str) -> std::path::PathBuf {
    let prefix = format!("{key}-");
    std::fs::read_dir(data.join("blobs"))
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map_or_else(|| data.join("blobs").join(key), |e| e.path())
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["status"], status);
    assert_eq!(v["code"], code);
    // The help link points at the server itself.
    let help = v["help"].as_str().unwrap();
    assert!(
        help.starts_with("http://") && help.ends_with(&format!("/help/api/errors/{code}")),
        "{help}"
    );
    assert!(v["key"].is_null());
    assert!(v["message"].as_str().unwrap().ends_with('.'));
}

fn keys(env: &Env) -> Vec<String> {
    let _ = env;
    vec!["--api-key".into(), K1.into(), "--api-key".into(), K2.into()]
}

thread_local! {
    /// Flags every server this test thread starts gets besides its own: how
    /// tests/cli/server_pg.rs runs some of these tests again with `--database`.
    pub(crate) static BACKEND_ARGS: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn start(env: &Env, extra: &[&str]) -> Server {
    let mut args = keys(env);
    args.extend(extra.iter().map(|s| s.to_string()));
    BACKEND_ARGS.with(|b| args.extend(b.borrow().iter().cloned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(env, &args)
}

#[test]
fn banner_names_the_real_port() {
    let env = Env::new();
    let s = start(&env, &[]);
    let port: u16 = s.url.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0);
    assert!(s.url.starts_with("http://127.0.0.1:"));
}

#[test]
pub(crate) fn upload_answers_v2_file_details_in_order() {
    if no_curl("upload_answers_v2_file_details_in_order") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let f = env.write("report.pdf", b"%PDF-1.4 hello");
    let file = format!("file=@{}", f.display());
    let r = curl(&["-H", "Accept: application/json", "-F", &file, &s.url]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let text = r.text();
    let order = [
        "success",
        "status",
        "id",
        "key",
        "path",
        "nodeType",
        "name",
        "title",
        "description",
        "link",
        "private",
        "expires",
        "expiry",
        "downloads",
        "maxDownloads",
        "autoDelete",
        "size",
        "mimeType",
        "screeningStatus",
        "created",
        "modified",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| {
            text.find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let v = r.json();
    let key = key_of(&v);
    assert_eq!(key.len(), 12);
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(v["success"], true);
    assert_eq!(v["status"], 200);
    assert_eq!(v["id"], key.as_str());
    assert_eq!(v["path"], "/");
    assert_eq!(v["nodeType"], "file");
    assert_eq!(v["name"], "report.pdf");
    assert_eq!(v["title"], "report.pdf");
    assert_eq!(v["link"], format!("{}/{key}", s.url).as_str());
    assert_eq!(v["private"], false);
    assert_eq!(v["expiry"], "14 days");
    assert_eq!(v["downloads"], 0);
    assert_eq!(v["maxDownloads"], 1);
    assert_eq!(v["autoDelete"], true);
    assert_eq!(v["size"], 14);
    assert_eq!(v["mimeType"], "application/pdf");
    assert_eq!(v["screeningStatus"], "ok");
    for t in ["expires", "created", "modified"] {
        let t = v[t].as_str().unwrap();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
        chrono::DateTime::parse_from_rfc3339(t).unwrap();
    }
    let created = chrono::DateTime::parse_from_rfc3339(v["created"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires"].as_str().unwrap()).unwrap();
    assert_eq!((expires - created).num_days(), 14);
    assert_eq!(std::fs::read(blob(&s, &key)).unwrap(), b"%PDF-1.4 hello");
}

#[test]
pub(crate) fn twenty_racing_downloads_get_exactly_one_file() {
    if no_curl("twenty_racing_downloads_get_exactly_one_file") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let f = env.write("race.bin", vec![7u8; 300_000]);
    let key = key_of(&upload(&s, None, &f, &[]));
    let barrier = std::sync::Barrier::new(20);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let r = raw_get(&s, &key);
                    if r.status == 200 {
                        assert_eq!(r.body.len(), 300_000);
                    }
                    r.status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 404).count(),
        19,
        "{statuses:?}"
    );
}

#[test]
pub(crate) fn an_interrupted_download_gives_its_download_back() {
    if no_curl("an_interrupted_download_gives_its_download_back") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let size = 32 << 20;
    let f = env.write("big.bin", vec![42u8; size]);
    let key = key_of(&upload(&s, None, &f, &[]));
    {
        let mut stream = TcpStream::connect(addr(&s)).unwrap();
        stream
            .write_all(format!("GET /{key} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 8192];
        stream.read_exact(&mut buf).unwrap();
    }
    // The server notices the closed socket on its next write; until then the download is
    // still reserved.
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = env.path("got.bin");
    loop {
        let r = StdCommand::new("curl")
            .args(["-sS", "-o"])
            .arg(&out)
            .args(["-w", "%{http_code}", &format!("{}/{key}", s.url)])
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&r.stdout).into_owned();
        if code == "200" {
            break;
        }
        assert_eq!(code, "404");
        assert!(
            Instant::now() < deadline,
            "the broken download was never given back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::metadata(&out).unwrap().len(), size as u64);
    assert_error(&get(&s, &key), 404, "FILE_NOT_FOUND");
}

#[test]
pub(crate) fn the_sweeper_deletes_expired_blobs() {
    if no_curl("the_sweeper_deletes_expired_blobs") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--sweep-interval", "1"]);
    let f = env.write("soon.txt", b"soon");
    let gone = key_of(&upload(&s, None, &f, &["-F", "expires=1s"]));
    let kept = key_of(&upload(
        &s,
        Some(K1),
        &f,
        &["-F", "expires=1s", "-F", "autoDelete=false"],
    ));
    assert!(blob(&s, &gone).exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while blob(&s, &gone).exists() {
        assert!(Instant::now() < deadline, "the sweeper left the blob");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(blob(&s, &kept).exists());
    // The line is written once the sweep is over, just after the blob goes.
    while !s.log().contains("deleted 1 expired files") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.log().contains("deleted 1 expired files"), "{}", s.log());
}

#[test]
pub(crate) fn files_survive_a_restart() {
    if no_curl("files_survive_a_restart") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let f = env.write("persist.txt", b"still here");
    let key = key_of(&upload(&s, None, &f, &[]));
    let status = s.stop();
    assert!(status.success(), "{status:?}");
    let s = start(&env, &[]);
    assert_eq!(get(&s, &key).body, b"still here");
}

/// A busy file's downloads are counted a block ahead (one write per block): what a stop
/// finds unused goes back, so the count after a restart is exact; a crash keeps at most a
/// block counted that was never delivered, and never lets more than that go uncounted.
#[test]
fn downloads_counted_ahead_go_back_at_a_stop_and_a_crash_loses_at_most_a_block() {
    if no_curl("downloads_counted_ahead_go_back_at_a_stop_and_a_crash_loses_at_most_a_block") {
        return;
    }
    let block = fileio::server::store::PREPAID_BLOCK as u64;
    let env = Env::new();
    let f = env.write("busy.txt", b"busy");
    let downloads = |s: &Server, key: &str, n: usize| {
        let url = format!("{}/{key}", s.url);
        let mut c = StdCommand::new("curl");
        c.args(["-sS", "--fail", "--noproxy", "*"]);
        for _ in 0..n {
            c.args(["-o", "/dev/null", &url]);
        }
        assert!(c.status().unwrap().success());
    };
    let counted = |s: &Server| {
        let r = curl(&["-H", &bearer(K1), &format!("{}/", s.url)]);
        r.json()["nodes"][0]["downloads"].as_u64().unwrap()
    };
    let s = start(&env, &[]);
    let key = key_of(&upload(&s, Some(K1), &f, &["-F", "maxDownloads=100000"]));
    downloads(&s, &key, 100);
    assert_eq!(counted(&s), 100);
    assert!(s.stop().success());
    let s = start(&env, &[]);
    assert_eq!(counted(&s), 100, "a stop gives back what was counted ahead");
    downloads(&s, &key, 100);
    assert_eq!(counted(&s), 200);
    drop(s); // SIGKILL
    let s = start(&env, &[]);
    let after = counted(&s);
    assert!(
        (200..200 + block).contains(&after),
        "a crash keeps at most a block counted ahead: {after}"
    );
}

/// A download under way when SIGTERM comes finishes in the grace period, and its access-log
/// line (written in batches) is not lost with the process.
#[test]
fn a_download_finished_during_shutdown_is_in_the_log() {
    if no_curl("a_download_finished_during_shutdown_is_in_the_log") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let len = 32 << 20;
    let f = env.write("big.bin", vec![1u8; len]);
    let key = key_of(&upload(&s, None, &f, &[]));
    let mut stream = TcpStream::connect(addr(&s)).unwrap();
    stream
        .write_all(
            format!(
                "GET /{key} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                addr(&s)
            )
            .as_bytes(),
        )
        .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head[..], b"HTTP/1.1 200");
    // Read the rest only once the server has been told to stop.
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    let (status, log) = s.stop_with_log();
    assert!(status.success(), "{status:?}");
    assert!(reader.join().unwrap() > len, "the download was cut short");
    let at = log.find("shutting down").unwrap();
    assert!(log[at..].contains(&format!(" GET /{key} 200")), "{log}");
}

#[test]
fn crash_leftovers_are_cleaned_at_start() {
    if no_curl("crash_leftovers_are_cleaned_at_start") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let f = env.write("a.txt", b"aaa");
    let keep = key_of(&upload(&s, Some(K1), &f, &[]));
    let lose = key_of(&upload(&s, Some(K1), &f, &[]));
    assert!(s.stop().success());
    let data = env.path("serverdata");
    std::fs::write(data.join("tmp").join("partial"), b"half an upload").unwrap();
    std::fs::write(data.join("blobs").join("OrphanBlob00"), b"no row").unwrap();
    std::fs::remove_file(blob_in(&data, &lose)).unwrap();
    let s = start(&env, &[]);
    assert_eq!(std::fs::read_dir(data.join("tmp")).unwrap().count(), 0);
    assert!(!data.join("blobs").join("OrphanBlob00").exists());
    let list = curl(&["-H", &bearer(K1), &s.url]).json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["nodes"][0]["key"], keep.as_str());
    assert_error(&get(&s, &lose), 404, "FILE_NOT_FOUND");
    assert_eq!(get(&s, &keep).status, 200);
}

/// The server's peak resident memory, in KiB.
fn vm_hwm(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn max_size_refuses_a_huge_upload_at_once() {
    if no_curl("max_size_refuses_a_huge_upload_at_once") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--max-size", "1MB"]);
    // A sparse 200 MB file: announced by Content-Length, refused before it is read.
    let big = env.path("huge.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(200_000_000)
        .unwrap();
    // curl asks `Expect: 100-continue` for a large body: the server refuses before it is sent.
    let t = Instant::now();
    let out = StdCommand::new("curl")
        .args(["-sS", "-i", "--noproxy", "*", "-F"])
        .arg(format!("file=@{}", big.display()))
        .arg(&s.url)
        .output()
        .unwrap();
    let r = parse(&out.stdout);
    assert_error(&r, 413, "FILE_TOO_LARGE");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("limit of 976.6 KiB (1000000 bytes)"),
        "{}",
        r.text()
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // Without Expect: answered before the body, which is never read.
    let mut stream = TcpStream::connect(addr(&s)).unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\
              Content-Type: multipart/form-data; boundary=XyZ\r\n\r\n--XyZ\r\n",
        )
        .unwrap();
    let mut got = vec![0u8; 12];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, b"HTTP/1.1 413");
    drop(stream);

    // Streamed without Content-Length: refused once the stream passes the limit.
    let mut stream = TcpStream::connect(addr(&s)).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
        Content-Type: multipart/form-data; boundary=XyZ\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let part =
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n";
    stream
        .write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes())
        .unwrap();
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'z'; 1 << 16];
        let mut sent = 0u64;
        while sent < 200_000_000 {
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            if stream.write_all(&frame).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(reader);
    // After the answer the server reads and discards what is still sent (a lingering close,
    // so the client is not reset before it reads the 413), for a bounded time only: nothing
    // of it is kept.
    let _sent = writer.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(9),
        "the lingering close outlived its bound: {:?}",
        t.elapsed()
    );
    assert_eq!(std::fs::read_dir(s.data.join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(s.data.join("blobs")).unwrap().count(), 0);
}

#[test]
fn memory_stays_flat_for_a_large_file() {
    if no_curl("memory_stays_flat_for_a_large_file") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let size = 96 << 20;
    let f = env.path("big.bin");
    std::fs::File::create(&f).unwrap().set_len(size).unwrap();
    let before = vm_hwm(&s);
    let key = key_of(&upload(&s, None, &f, &[]));
    let out = env.path("out.bin");
    let r = StdCommand::new("curl")
        .args(["-sS", "-o"])
        .arg(&out)
        .args(["-w", "%{http_code}", &format!("{}/{key}", s.url)])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&r.stdout), "200");
    assert_eq!(std::fs::metadata(&out).unwrap().len(), size);
    let after = vm_hwm(&s);
    assert!(
        after - before < 40 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB for a {} MiB file",
        size >> 20
    );
}

#[test]
pub(crate) fn chunked_upload_without_content_length() {
    if no_curl("chunked_upload_without_content_length") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let body = "--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\Users\\\\me\\\\chunk.txt\"\r\n\r\nchunked content\r\n--B0undary\r\nContent-Disposition: form-data; name=\"maxDownloads\"\r\n\r\n2\r\n--B0undary--\r\n";
    let (a, b) = body.split_at(40);
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: multipart/form-data; boundary=B0undary\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        addr(&s),
        a.len(),
        b.len()
    );
    let r = raw(&s, req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "chunk.txt");
    assert_eq!(v["maxDownloads"], 2);
    assert_eq!(v["mimeType"], "text/plain");
    assert_eq!(get(&s, &key_of(&v)).body, b"chunked content");
}

#[test]
fn absolute_form_request_lines_route_normally() {
    let env = Env::new();
    let s = start(&env, &[]);
    let body = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.txt\"\r\n\r\nvia proxy\r\n--b--\r\n";
    let req = format!(
        "POST http://file.io/?expires=1d HTTP/1.1\r\nHost: file.io\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = raw(&s, req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let key = key_of(&v);
    assert_eq!(v["link"], format!("http://file.io/{key}").as_str());
    assert_eq!(v["expiry"], "1 day");
    let r = raw(
        &s,
        format!("GET http://file.io/{key} HTTP/1.1\r\nHost: file.io\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"via proxy");
}

#[test]
fn require_auth_refuses_anonymous_uploads() {
    if no_curl("require_auth_refuses_anonymous_uploads") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--require-auth"]);
    let f = env.write("a.txt", b"a");
    let r = curl(&["-F", &format!("file=@{}", f.display()), &s.url]);
    assert_error(&r, 401, "UNAUTHORIZED");
    upload(&s, Some(K1), &f, &[]);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    if no_curl("rate_limit_answers_429_with_retry_after") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--rate-limit", "3/min"]);
    for _ in 0..3 {
        assert_eq!(get(&s, "nosuchkey123").status, 404);
    }
    let r = get(&s, "nosuchkey123");
    assert_error(&r, 429, "TOO_MANY_REQUESTS");
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // CORS headers reach browsers on refusals too.
    let r = curl(&["-H", "Origin: http://app.example", &format!("{}/me", s.url)]);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
pub(crate) fn me_reports_real_usage_and_limits() {
    if no_curl("me_reports_real_usage_and_limits") {
        return;
    }
    let env = Env::new();
    let s = start(
        &env,
        &[
            "--max-size",
            "5MB",
            "--max-storage",
            "1MB",
            "--max-expiry",
            "30d",
            "--rate-limit",
            "100/min",
        ],
    );
    upload(&s, Some(K1), &env.write("k.bin", vec![1u8; 1000]), &[]);
    upload(&s, Some(K1), &env.write("l.bin", vec![1u8; 234]), &[]);
    upload(&s, None, &env.write("m.bin", vec![1u8; 5000]), &[]);
    let r = curl(&["-H", &bearer(K1), &format!("{}/me", s.url)]);
    assert_eq!(
        r.text(),
        r#"{"success":true,"status":200,"planId":0,"maxUploadBytes":5000000,"maxStorageBytes":1000000,"usedStorageBytes":1234,"rateLimit":"100/min","maxExpiry":"30d","customDomain":"","directDownload":0}"#
    );
    let env2 = Env::new();
    let s2 = start(&env2, &[]);
    let v = curl(&["-H", &bearer(K2), &format!("{}/me", s2.url)]).json();
    assert!(v["maxUploadBytes"].is_null() && v["maxStorageBytes"].is_null());
    assert!(v["rateLimit"].is_null() && v["maxExpiry"].is_null());
    assert_eq!(v["usedStorageBytes"], 0);
}

#[test]
pub(crate) fn max_storage_is_per_key() {
    if no_curl("max_storage_is_per_key") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--max-storage", "1000"]);
    let f = env.write("six.bin", vec![0u8; 600]);
    upload(&s, Some(K1), &f, &[]);
    let r = curl(&[
        "-H",
        &bearer(K1),
        "-F",
        &format!("file=@{}", f.display()),
        &s.url,
    ]);
    assert_error(&r, 413, "FILE_TOO_LARGE");
    assert!(
        r.json()["message"].as_str().unwrap().contains("storage"),
        "{}",
        r.text()
    );
    upload(&s, Some(K2), &f, &[]);
    assert_eq!(std::fs::read_dir(s.data.join("blobs")).unwrap().count(), 2);
    assert_eq!(std::fs::read_dir(s.data.join("tmp")).unwrap().count(), 0);
}

#[test]
fn max_expiry_refuses_longer_and_clamps_the_default() {
    if no_curl("max_expiry_refuses_longer_and_clamps_the_default") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--max-expiry", "1d"]);
    let f = env.write("a.txt", b"a");
    let r = curl(&[
        "-F",
        &format!("file=@{}", f.display()),
        "-F",
        "expires=2d",
        &s.url,
    ]);
    assert_error(&r, 400, "BAD_REQUEST");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 1d")
    );
    assert_eq!(upload(&s, None, &f, &[])["expiry"], "1 day");
    assert_eq!(
        upload(&s, None, &f, &["-F", "expires=12h"])["expiry"],
        "12 hours"
    );
}

#[test]
fn cors_preflight_is_answered() {
    if no_curl("cors_preflight_is_answered") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--require-auth"]);
    let r = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://app.example",
        "-H",
        "Access-Control-Request-Method: DELETE",
        "-H",
        "Access-Control-Request-Headers: authorization",
        &format!("{}/abc", s.url),
    ]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("DELETE")
    );
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    let f = env.write("a.txt", b"a");
    let key = key_of(&upload(&s, Some(K1), &f, &[]));
    let r = curl(&[
        "-H",
        "Origin: https://app.example",
        &format!("{}/{key}", s.url),
    ]);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-expose-headers")
            .unwrap()
            .contains("content-disposition")
    );
}

#[test]
fn the_log_has_one_line_per_request_and_never_the_key() {
    if no_curl("the_log_has_one_line_per_request_and_never_the_key") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    let f = env.write("a.txt", b"a");
    let key = key_of(&upload(&s, Some(K1), &f, &[]));
    curl(&["-u", &format!("{K1}:"), &format!("{}/me?token={K1}", s.url)]);
    get(&s, &key);
    let status = s.stop();
    assert!(status.success());
    let log = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("serve-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(!log.contains(K1) && !log.contains("KEYONE1"), "{log}");
    assert!(!log.contains("token"), "{log}");
    assert!(log.contains(" POST / 200 "), "{log}");
    assert!(log.contains(" GET /me 200 "), "{log}");
    assert!(log.contains(&format!(" GET /{key} 200 1B ")), "{log}");
    assert!(log.contains("127.0.0.1:"), "{log}");
    let requests = log.lines().filter(|l| l.contains("ms")).count();
    assert_eq!(requests, 3, "{log}");
}

#[test]
fn keys_come_from_a_file_and_the_environment() {
    if no_curl("keys_come_from_a_file_and_the_environment") {
        return;
    }
    let env = Env::new();
    let file = env.write("keys.txt", format!("# ours\n\n  {K1}  \n"));
    let s = Server::start(&env, &["--api-keys-file", file.to_str().unwrap()]);
    assert_eq!(curl(&["-H", &bearer(K1), &s.url]).status, 200);
    assert_eq!(curl(&["-H", &bearer(K2), &s.url]).status, 401);
    drop(s);

    // FILEIO_SERVE_API_KEYS keeps keys out of the process list.
    let mut child = KillOnDrop(
        env.std_cmd()
            .env("FILEIO_SERVE_API_KEYS", format!("{K1}, {K2}"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data"])
            .arg(env.path("d"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = std::io::BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    // Keep reading the log so that the server never writes to a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let me = format!("{url}/me");
    assert_eq!(curl(&["-H", &bearer(K2), &me]).status, 200);
    assert_eq!(curl(&["-H", &bearer(K1), &me]).status, 200);
    assert_eq!(curl(&["-H", &bearer("other"), &me]).status, 401);
}

/// A child process killed when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bad_flags_exit_2_and_a_busy_port_is_explained() {
    let env = Env::new();
    for args in [
        vec!["--max-size", "12XB"],
        vec!["--rate-limit", "lots"],
        vec!["--max-expiry", "2026-12-31"],
        vec!["--api-keys-file", "/nonexistent/keys"],
        vec!["--require-auth"],
    ] {
        let out = env
            .cmd()
            .arg("serve")
            .args(["--bind", "127.0.0.1:0", "--data"])
            .arg(env.path("d"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = start(&env, &[]);
    let out = env
        .cmd()
        .args(["serve", "--bind", addr(&s), "--data"])
        .arg(env.path("d2"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("fileio: error: cannot listen on {}", addr(&s))),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn public_url_sets_the_links() {
    if no_curl("public_url_sets_the_links") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &["--public-url", "https://files.example.com/"]);
    let f = env.write("a.txt", b"a");
    let v = upload(&s, Some(K1), &f, &[]);
    let key = key_of(&v);
    assert_eq!(
        v["link"],
        format!("https://files.example.com/{key}").as_str()
    );
    let list = curl(&["-H", &bearer(K1), &s.url]).json();
    assert_eq!(list["nodes"][0]["link"], v["link"]);
}

#[test]
fn sigint_stops_cleanly() {
    let env = Env::new();
    let mut s = start(&env, &[]);
    StdCommand::new("kill")
        .args(["-INT", &s.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "still running after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_fields_before_the_file_are_refused_before_it_is_read() {
    let env = Env::new();
    let s = start(&env, &[]);
    let mut stream = TcpStream::connect(addr(&s)).unwrap();
    let body = "--b\r\nContent-Disposition: form-data; name=\"expires\"\r\n\r\nbogus\r\n\
        --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n";
    stream
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\
                 Content-Type: multipart/form-data; boundary=b\r\n\r\n{body}"
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(&[0u8; 65536]).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(std::fs::read_dir(s.data.join("tmp")).unwrap().count(), 0);
}

#[test]
pub(crate) fn an_upload_cut_off_midway_leaves_nothing() {
    if no_curl("an_upload_cut_off_midway_leaves_nothing") {
        return;
    }
    let env = Env::new();
    let s = start(&env, &[]);
    {
        let mut stream = TcpStream::connect(addr(&s)).unwrap();
        let part =
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n";
        stream
            .write_all(
                format!(
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\
                     Content-Type: multipart/form-data; boundary=b\r\n\r\n{part}"
                )
                .as_bytes(),
            )
            .unwrap();
        stream.write_all(&vec![1u8; 3 << 20]).unwrap();
        // Let the server write some of it to tmp/ before the client goes away.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_dir(s.data.join("tmp")).unwrap().count() == 0 {
            assert!(Instant::now() < deadline, "nothing written to tmp/");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(s.data.join("tmp")).unwrap().count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the partial upload stayed in tmp/"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_dir(s.data.join("blobs")).unwrap().count(), 0);
    let list = curl(&["-H", &bearer(K1), &s.url]).json();
    assert_eq!(list["count"], 0);
}

/// Without curl on PATH, a test that uses it is skipped saying so, and fails under CI.
#[test]
fn tests_needing_curl_skip_without_it_and_fail_in_ci() {
    let empty = tempfile::tempdir().unwrap();
    let run = |ci: Option<&str>| {
        let mut cmd = StdCommand::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "server::cors_preflight_is_answered",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PATH", empty.path())
        .env_remove("CI");
        if let Some(v) = ci {
            cmd.env("CI", v);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped server::cors_preflight_is_answered: it needs curl"),
        "{stderr}"
    );
    let out = run(Some("true"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("needs curl, which .ci/run installs"),
        "{stderr}"
    );
}
