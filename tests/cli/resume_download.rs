//! `fileio download` resumed with `Range` after the connection breaks mid-body: through the
//! cutting proxy in front of a real `fileio serve`, against scripted servers for the answers
//! that must never be spliced, and `curl -C -` against `fileio serve`.

use std::path::Path;
use std::process::Command as StdCommand;

use sha2::Digest;

use crate::cut_proxy::CutProxy;
use crate::support::*;

/// `len` bytes from a xorshift seeded with `seed`: no two offsets alike, so a misplaced
/// piece shows.
fn patterned(path: &Path, len: u64, seed: u32) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed | 1;
    let mut left = len;
    let mut buf = Vec::with_capacity(1 << 16);
    while left > 0 {
        buf.clear();
        while buf.len() < (1 << 16) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf.extend_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        out.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
}

fn sha256(path: &Path) -> Vec<u8> {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    h.finalize().to_vec()
}

/// Uploads `path` to `server` as a one-time link; returns its key.
fn upload_once(env: &Env, server: &Server, path: &Path) -> String {
    upload(env, server, path, "1")
}

/// Uploads `path` to `server`, allowing `downloads`; returns its key.
fn upload(env: &Env, server: &Server, path: &Path, downloads: &str) -> String {
    let out = env
        .cmd()
        .args(["--server", &server.url, "-q", "--no-history", "upload"])
        .args(["--max-downloads", downloads])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap();
    link.trim().rsplit('/').next().unwrap().to_string()
}

/// A small random generator for cut offsets, seeded from the clock (the seed is printed).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("cut offsets seeded with {seed}");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Downloads `key` through `proxy` into `out`, cut where planned; asserts success.
fn download_through(env: &Env, proxy: &CutProxy, key: &str, out: &Path, retries: &str) -> String {
    let o = env
        .cmd()
        .args([
            "--server",
            &proxy.url,
            "--retries",
            retries,
            "download",
            key,
            "-o",
        ])
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    stderr
}

/// What the kernel's buffers between the server and the client may hold on loopback
/// (the server's send buffer, up to `tcp_wmem`'s 4 MiB, and the proxy's receive buffer,
/// fixed at 256 KiB), with margin: a cut closer to the end than this may come after the
/// server handed over its last byte, and counted the download.
const IN_FLIGHT: u64 = 12 << 20;

#[test]
fn downloads_cut_at_random_offsets_resume_and_spend_a_one_time_link_once() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let proxy = CutProxy::start(&server.url);
    let mut rng = Rng::new();
    // Small files, many downloads allowed: the bytes come out identical wherever the cuts
    // fall. A 40 MiB one-time file: cut where the server cannot have sent its end yet, it is
    // spent exactly once.
    for (i, size) in [200_000u64, 1 << 20, 3_000_001, 40 << 20]
        .into_iter()
        .enumerate()
    {
        let one_time = size > 2 * IN_FLIGHT;
        let src = env.path(&format!("src{i}.bin"));
        patterned(&src, size, 7 + i as u32);
        let key = upload(&env, &server, &src, if one_time { "1" } else { "100" });
        // Two cuts: one in the first answer, one in the resumed one (each well inside what
        // that connection carries, headers included, so both happen).
        let margin = if one_time { IN_FLIGHT } else { 2_000 };
        let first = 1_000 + rng.below(size - margin);
        let second = 500 + rng.below(size - first - margin / 2);
        proxy.cut_next_download_after(first);
        proxy.cut_next_download_after(second);
        let cuts = proxy.cuts();
        let out = env.path(&format!("out{i}.bin"));
        let stderr = download_through(&env, &proxy, &key, &out, "3");
        assert_eq!(proxy.cuts() - cuts, 2, "{stderr}");
        assert_eq!(proxy.plans_left(), 0);
        assert!(stderr.contains("resuming from there"), "{stderr}");
        assert_eq!(
            sha256(&out),
            sha256(&src),
            "size {size}, cuts {first}, {second}"
        );
        std::fs::remove_file(&src).unwrap();
        if one_time {
            // Spent by that one (resumed) download: gone now.
            env.cmd()
                .args(["--server", &server.url, "download", &key, "-o"])
                .arg(env.path("again.bin"))
                .assert()
                .code(4);
        }
    }
    // No part files left beside the outputs.
    let parts = std::fs::read_dir(env.path("."))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".fileio-part")
        })
        .count();
    assert_eq!(parts, 0);
}

#[test]
fn more_cuts_than_retries_fail_cleanly_and_give_the_link_back() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let proxy = CutProxy::start(&server.url);
    let src = env.path("src.bin");
    // Longer than the buffers in flight: no cut can come after the server sent its end.
    patterned(&src, 2 * IN_FLIGHT, 3);
    let key = upload_once(&env, &server, &src);
    for _ in 0..3 {
        proxy.cut_next_download_after(100_000);
    }
    let out = env.path("out.bin");
    let o = env
        .cmd()
        .args([
            "--server",
            &proxy.url,
            "--retries",
            "2",
            "download",
            &key,
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());
    // Nothing was counted: the link still downloads, in one go.
    download_through(&env, &proxy, &key, &out, "0");
    assert_eq!(sha256(&out), sha256(&src));
}

#[test]
fn a_256_mib_download_cut_at_90_percent_resends_almost_nothing() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let proxy = CutProxy::start(&server.url);
    let size: u64 = 256 << 20;
    let src = env.path("big.bin");
    patterned(&src, size, 11);
    let key = upload_once(&env, &server, &src);
    proxy.cut_next_download_after(size / 10 * 9);
    let out = env.path("big.out");
    download_through(&env, &proxy, &key, &out, "3");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(sha256(&out), sha256(&src));
    // What came down beyond the file: two answers' headers, and whatever the cut connection
    // carried past what the client had taken (nothing but headers, here).
    let extra = proxy.bytes_down() - size;
    eprintln!("256 MiB cut at 90%: {extra} bytes sent beyond the file");
    assert!(extra < 64 * 1024, "{extra} bytes sent again");
    // Spent once, by the download that resumed.
    env.cmd()
        .args(["--server", &server.url, "download", &key, "-o"])
        .arg(env.path("again.bin"))
        .assert()
        .code(4);
    std::fs::remove_file(&src).unwrap();
    std::fs::remove_file(&out).unwrap();
}

/// A server that breaks off its first answer after `sent` of `body`'s bytes, then answers
/// the resumed request with `then`.
fn breaking(body: &'static [u8], sent: usize, then: Reply) -> Canned {
    let then = std::sync::Mutex::new(Some(then));
    let gets = std::sync::atomic::AtomicUsize::new(0);
    Canned::start(move |req, _| {
        // A keyless download to a file may ask HEAD first (is it a `--to` upload?).
        if req.method == "HEAD" {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            return Reply::Raw(head.into_bytes());
        }
        if gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut raw = head.into_bytes();
            raw.extend_from_slice(&body[..sent]);
            return Reply::Raw(raw);
        }
        assert_eq!(req.header("range"), Some(format!("bytes={sent}-").as_str()));
        assert_eq!(req.header("if-range"), Some("\"v1\""));
        then.lock().unwrap().take().expect("one resume")
    })
}

#[test]
fn a_file_replaced_between_two_ranges_is_never_spliced() {
    let env = Env::new();
    // If-Range failed: the server sends the new file whole.
    let server = breaking(
        b"old old old old ",
        6,
        response(
            "200 OK",
            &[("ETag", "\"v2\""), ("Accept-Ranges", "bytes")],
            "NEW NEW NEW NEW ",
        ),
    );
    let out = env.path("out.bin");
    let o = env
        .cmd()
        .args(["--server", &server.url, "download", "Key1", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(10), "{stderr}");
    assert!(
        stderr.contains("the file behind the link changed while it downloaded"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was saved"), "{stderr}");
    assert_eq!(std::fs::read_dir(env.work()).unwrap().count(), 0);
    assert!(!out.exists());

    // A 206 with another ETag, or for another range: refused as well.
    for (then, code) in [
        (
            response(
                "206 Partial Content",
                &[("ETag", "\"v2\""), ("Content-Range", "bytes 6-15/16")],
                "NEW NEW NE",
            ),
            10,
        ),
        (
            response(
                "206 Partial Content",
                &[("ETag", "\"v1\""), ("Content-Range", "bytes 0-15/16")],
                "old old old old ",
            ),
            8,
        ),
    ] {
        let server = breaking(b"old old old old ", 6, then);
        env.cmd()
            .args(["--server", &server.url, "download", "Key1", "-o"])
            .arg(&out)
            .assert()
            .code(code);
        assert!(!out.exists());
    }
}

#[test]
fn without_accept_ranges_a_broken_download_fails_as_before() {
    let env = Env::new();
    let server = Canned::start(|_, _| {
        Reply::Raw(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly part"
                .to_vec(),
        )
    });
    let out = env.path("out.bin");
    env.cmd()
        .args(["--server", &server.url, "download", "Key1", "-o"])
        .arg(&out)
        .assert()
        .code(7);
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(gets, 1);
    assert!(!out.exists());
}

#[test]
fn curl_resumes_a_download_from_fileio_serve() {
    if !have_tool("curl", "curl_resumes_a_download_from_fileio_serve") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let src = env.path("src.bin");
    patterned(&src, 500_000, 5);
    let key = upload_once(&env, &server, &src);
    // What a broken first try left: the first 123,456 bytes.
    let out = env.path("out.bin");
    let all = std::fs::read(&src).unwrap();
    std::fs::write(&out, &all[..123_456]).unwrap();
    let url = format!("{}/{key}", server.url);
    let curl = |out: &Path| {
        StdCommand::new("curl")
            .args(["-sS", "--noproxy", "*", "-C", "-", "-o"])
            .arg(out)
            .args(["-w", "%{http_code}", &url])
            .output()
            .unwrap()
    };
    let o = curl(&out);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "206",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(sha256(&out), sha256(&src));
    // That resumed download spent the one-time link.
    let o = curl(&env.path("again.bin"));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "404");
}
