//! `fileio serve --storage s3://…` against a real S3 server: moto's server mode
//! (`pip install 'moto[server]'`), started here on a free port for each test. Without
//! `moto_server` on PATH these tests say so and pass, except in CI (`CI=true`), where a
//! missing moto fails them.
//!
//! moto checks no signatures and accepts what real S3 refuses (a PUT without length), so
//! these tests check the protocol's shape — multipart parts, aborts, pending uploads — and
//! our behaviour, not the signing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) use crate::moto::{ACCESS_KEY, BUCKET, Moto, PREFIX, SECRET_KEY, aws_vars, free_port};
use crate::support::{Env, Server};

impl Moto {
    /// `fileio serve` on this store, with its credentials in the environment.
    pub(crate) fn serve(&self, env: &Env, extra: &[&str]) -> Server {
        let storage = format!("s3://{BUCKET}/{PREFIX}");
        let mut args = vec!["--storage", &storage, "--s3-endpoint", &self.endpoint];
        args.extend(extra);
        Server::start_with_vars(env, &env.path("serverdata"), &args, &aws_vars())
    }
}

/// curl, answering status, headers and body.
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

fn curl(args: &[&str]) -> Resp {
    let out = StdCommand::new("curl")
        .args(["-sS", "-i", "-H", "Expect:", "--noproxy", "*"])
        .args(args)
        .output()
        .expect("run curl");
    let raw = out.stdout;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {}", String::from_utf8_lossy(&out.stderr)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Resp {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    }
}

fn upload(s: &Server, path: &Path, extra: &[&str]) -> Resp {
    let file = format!("file=@{}", path.display());
    let mut args = vec!["-F", &file];
    args.extend(extra);
    args.push(&s.url);
    curl(&args)
}

fn uploaded(s: &Server, path: &Path, extra: &[&str]) -> String {
    let r = upload(s, path, extra);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["key"].as_str().unwrap().to_string()
}

/// Downloads a key into `out`; returns the status.
fn download(s: &Server, key: &str, out: &Path) -> u16 {
    let r = StdCommand::new("curl")
        .args(["-sS", "--noproxy", "*", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}", &format!("{}/{key}", s.url)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&r.stdout).parse().unwrap()
}

/// A file of `len` bytes that are not all alike, so a misplaced part shows.
pub(crate) fn patterned(env: &Env, name: &str, len: usize) -> std::path::PathBuf {
    let mut data = Vec::with_capacity(len);
    let mut x: u32 = 0x9e37_79b9;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    env.write(name, data)
}

/// Waits (up to 10 s) for `f` to hold: an abort is sent after the answer.
pub(crate) fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn ours(moto: &Moto) -> Vec<(String, String)> {
    moto.objects()
        .into_iter()
        .filter(|(k, _)| k.starts_with(&format!("{PREFIX}/")))
        .collect()
}

#[test]
fn s3_a_file_larger_than_a_part_goes_up_in_parts_and_comes_back_whole() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    // 12 MiB: two full 5 MiB parts and a last one of 2 MiB.
    let big = patterned(&env, "big.bin", 12 << 20);
    let key = uploaded(&s, &big, &["-F", "maxDownloads=2"]);
    let objects = ours(&moto);
    assert_eq!(objects.len(), 1, "{objects:?}");
    // A multipart object's ETag ends with its number of parts.
    assert!(objects[0].1.ends_with("-3\""), "{objects:?}");
    assert!(moto.pending().is_empty());
    // Nothing of it on local disk.
    assert!(!s.data.join("blobs").exists());

    let out = env.path("out.bin");
    assert_eq!(download(&s, &key, &out), 200);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&big).unwrap());
    // A small file goes up in one PUT.
    let small = env.write("small.txt", "hello s3\n");
    let small_key = uploaded(&s, &small, &[]);
    assert_eq!(ours(&moto).len(), 2);
    let out = env.path("small.out");
    assert_eq!(download(&s, &small_key, &out), 200);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello s3\n");
    // Used up (one download), the small one's object goes.
    eventually("the spent file's object is deleted", || {
        ours(&moto).len() == 1
    });
    assert_eq!(download(&s, &small_key, &out), 404);
}

#[test]
fn s3_replacing_and_deleting_use_fresh_objects_and_free_the_old() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let key_arg = "S3TEST1.aaaaaaa-bbbbbbb-ccccccc";
    let s = moto.serve(&env, &["--api-key", key_arg]);
    let auth = format!("Authorization: Bearer {key_arg}");
    let first = env.write("one.txt", "first contents\n");
    let key = uploaded(&s, &first, &["-H", &auth, "-F", "maxDownloads=5"]);
    let before = ours(&moto);
    assert_eq!(before.len(), 1);

    let second = env.write("two.txt", "second contents\n");
    let r = curl(&[
        "-X",
        "PUT",
        "-H",
        &auth,
        "-F",
        "maxDownloads=5",
        "-F",
        &format!("file=@{}", second.display()),
        &format!("{}/{key}", s.url),
    ]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let after = ours(&moto);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(
        after[0].0, before[0].0,
        "a replacement gets a fresh object key"
    );
    let out = env.path("got.txt");
    assert_eq!(download(&s, &key, &out), 200);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "second contents\n");

    let r = curl(&["-X", "DELETE", "-H", &auth, &format!("{}/{key}", s.url)]);
    assert_eq!(r.status, 200);
    assert!(ours(&moto).is_empty());
    assert_eq!(download(&s, &key, &out), 404);
}

/// Sends the head and `sent` bytes of a multipart upload announcing `total`, then hangs up.
fn cut_upload(s: &Server, total: usize, sent: usize) {
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    let part =
        "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n";
    let len = part.len() + total + "\r\n--XX--\r\n".len();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: {len}\r\n\r\n{part}"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..sent >> 20 {
        stream.write_all(&chunk).unwrap();
    }
    // Long enough for the server to have sent parts of it.
    std::thread::sleep(Duration::from_millis(500));
    drop(stream);
}

#[test]
fn s3_an_upload_cut_off_midway_leaves_no_object_and_no_pending_upload() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    // 12 MiB of a 20 MiB body: two parts are up when the client goes.
    cut_upload(&s, 20 << 20, 12 << 20);
    eventually("the multipart upload is aborted", || {
        moto.pending().is_empty() && ours(&moto).is_empty()
    });
    // And it had been a multipart upload: the server saw parts go up.
    let small = env.write("after.txt", "still fine\n");
    uploaded(&s, &small, &[]);
    assert_eq!(ours(&moto).len(), 1);
}

#[test]
fn s3_an_upload_refused_midway_with_413_leaves_nothing() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &["--max-size", "8MiB"]);
    // Sent chunked, so the size is learnt only from the body: refused past 8 MiB, after a
    // first part went up.
    let big = patterned(&env, "big.bin", 12 << 20);
    let r = upload(&s, &big, &["-H", "Transfer-Encoding: chunked"]);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    eventually("nothing is left in the bucket", || {
        moto.pending().is_empty() && ours(&moto).is_empty()
    });
}

#[test]
fn s3_an_upload_of_unknown_length_streams_in_parts() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    let big = patterned(&env, "big.bin", 11 << 20);
    let r = upload(&s, &big, &["-H", "Transfer-Encoding: chunked"]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let key = r.json()["key"].as_str().unwrap().to_string();
    let objects = ours(&moto);
    assert!(objects[0].1.ends_with("-3\""), "{objects:?}");
    let out = env.path("out.bin");
    assert_eq!(download(&s, &key, &out), 200);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&big).unwrap());
}

/// Sends the head of a multipart upload announcing `total` bytes and the first `sent`;
/// returns the connection, still open.
pub(crate) fn slow_upload(s: &Server, total: usize, sent: usize) -> TcpStream {
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    let part =
        "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n\r\n";
    let len = part.len() + total + "\r\n--XX--\r\n".len();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: {len}\r\n\r\n{part}"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..sent >> 20 {
        stream.write_all(&chunk).unwrap();
    }
    stream
}

#[test]
fn s3_an_upload_under_way_holds_a_lease_that_a_killed_instance_loses() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let lease = ["--s3-upload-lease", "2"];
    // As a killed instance of an older kind leaves one: no lease. And one outside our
    // prefix, not ours to touch.
    moto.start_upload(&format!("{PREFIX}/killedupload0001"));
    moto.start_upload("elsewhere/notours");
    let mut a = moto.serve(&env, &lease);
    assert_eq!(moto.pending(), vec!["elsewhere/notours".to_string()]);

    // A slow upload on A: past one part, so a multipart upload is pending, with its lease.
    let stream = slow_upload(&a, 20 << 20, 7 << 20);
    eventually("A's upload is pending", || moto.pending().len() == 2);
    let leases = moto
        .objects()
        .into_iter()
        .filter(|(k, _)| k.starts_with(&format!("{PREFIX}/uploads-in-progress/")))
        .count();
    assert_eq!(leases, 1);
    // Longer than the lease: A renews it, so B starting now leaves the upload alone.
    std::thread::sleep(Duration::from_millis(2500));
    let b = moto.serve(&env, &lease);
    assert_eq!(moto.pending().len(), 2, "{}", b.log());
    drop(b);

    // A dies mid-upload: its lease runs out, and the next start aborts the upload.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    drop(stream);
    std::thread::sleep(Duration::from_millis(2500));
    let c = moto.serve(&env, &lease);
    assert_eq!(moto.pending(), vec!["elsewhere/notours".to_string()]);
    // Its lease object goes too; nothing of A's upload is left.
    assert!(ours(&moto).is_empty(), "{:?}", ours(&moto));
    drop(c);
}

#[test]
fn s3_an_outage_is_503_with_retry_after_and_the_server_recovers() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    let f = env.write("a.txt", "before the outage\n");
    let key = uploaded(&s, &f, &["-F", "maxDownloads=1"]);

    moto.stop();
    let r = curl(&[&format!("{}/{key}", s.url)]);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Retry-After").as_deref(), Some("5"));
    let v = r.json();
    assert_eq!(v["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(v["success"], false);
    let r = upload(&s, &f, &[]);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Retry-After").as_deref(), Some("5"));

    // A fresh (empty) store on the same address: the server works again, without a restart.
    moto.restart();
    moto.create_bucket(BUCKET);
    let key2 = uploaded(&s, &f, &[]);
    let out = env.path("out.txt");
    assert_eq!(download(&s, &key2, &out), 200);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "before the outage\n"
    );
    let log = s.log();
    assert!(log.contains("503"), "{log}");
    assert!(!log.contains(SECRET_KEY), "{log}");
}

#[test]
fn s3_a_missing_bucket_stops_the_start_with_one_line_and_a_hint() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let out = env
        .cmd()
        .envs(aws_vars())
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(env.path("data"))
        .args([
            "--storage",
            "s3://no-such-bucket/x",
            "--s3-endpoint",
            &moto.endpoint,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "fileio: error: the bucket 'no-such-bucket' does not exist at {}",
            moto.endpoint
        ),
        "{err}"
    );
    assert!(err.contains("hint: create it"), "{err}");
}

/// No S3 server needed: nothing listens there.
#[test]
fn s3_an_unreachable_store_stops_the_start_with_one_line_and_no_secret() {
    let env = Env::new();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = env
        .cmd()
        .envs(aws_vars())
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(env.path("data"))
        .args(["--storage", "s3://fileio/files", "--s3-endpoint", &endpoint])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let mut lines = err.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!(
            "fileio: error: cannot reach the object store at {endpoint}: "
        )),
        "{err}"
    );
    assert_eq!(
        lines.next(),
        Some(
            "hint: check --s3-endpoint (or AWS_ENDPOINT_URL), that the store is up and reachable, and the AWS_* credentials"
        ),
        "{err}"
    );
    assert!(
        !err.contains(SECRET_KEY) && !err.contains(ACCESS_KEY),
        "{err}"
    );
    assert_eq!(out.stdout, b"");
}

#[test]
fn s3_flags_are_checked_before_anything_starts() {
    let env = Env::new();
    let run = |args: &[&str]| {
        let out = env
            .cmd()
            .args(["serve", "--bind", "127.0.0.1:0", "--data"])
            .arg(env.path("data"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--storage", "/srv/files"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("use s3://bucket/prefix"), "{err}");
    let (code, err) = run(&["--storage", "s3://Bad_Bucket/x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a bucket name has 3 to 63"), "{err}");
    let (code, err) = run(&[
        "--storage",
        "s3://fileio/x",
        "--s3-endpoint",
        "http://AKIAX:topsecret@127.0.0.1:9000",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("may not hold credentials"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    let (code, err) = run(&["--s3-endpoint", "http://127.0.0.1:9000"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--storage"), "{err}");
}

#[test]
fn s3_a_download_that_stops_reading_is_dropped_and_given_back() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &["--send-timeout", "1"]);
    let big = patterned(&env, "big.bin", 12 << 20);
    let key = uploaded(&s, &big, &[]);
    // A client that takes the first bytes, then reads nothing more, its socket left open.
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(format!("GET /{key} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut first = [0u8; 8192];
    stalled.read_exact(&mut first).unwrap();
    // Held by the stalled download, then given back once --send-timeout drops it.
    let out = env.path("out.bin");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match download(&s, &key, &out) {
            200 => break,
            404 => {}
            other => panic!("unexpected {other}"),
        }
        assert!(
            Instant::now() < deadline,
            "the stalled download was never given back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&big).unwrap());
    assert_eq!(download(&s, &key, &out), 404);
    drop(stalled);
}

/// In process, with the store's clock in the test's hands: the sweep deletes the objects of
/// files that expired by that clock, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_the_sweep_deletes_expired_objects_by_the_stores_clock() {
    use axum::body::Body;
    use axum::http::Request;
    use chrono::{TimeZone, Utc};
    use fileio::server::s3::{S3Blobs, S3Location};
    use fileio::server::store::{Clock, Store};
    use fileio::server::{App, Options};
    use std::sync::{Arc, Mutex};

    let Some(moto) = tokio::task::spawn_blocking(Moto::start).await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut location: S3Location = format!("s3://{BUCKET}/{PREFIX}").parse().unwrap();
    location.endpoint = Some(moto.endpoint.clone());
    let vars = aws_vars().map(|(k, v)| (k.to_string(), v.to_string()));
    let blobs = S3Blobs::connect(&location, vars).await.unwrap();
    let clock = Arc::new(Mutex::new(
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap(),
    ));
    let c = clock.clone();
    let store_clock: Clock = Arc::new(move || *c.lock().unwrap());
    let (store, _) = Store::open_with(&data, Some(Arc::new(blobs)), store_clock)
        .await
        .unwrap();
    let store = Arc::new(store);
    let app = Arc::new(App {
        config: Options::new(data.clone()),
        store: store.clone(),
        limiter: None,
        local_addr: "127.0.0.1:8080".parse().unwrap(),
    });
    let router = fileio::server::router(app);
    for (name, expires) in [("day.txt", "1d"), ("week.txt", "1w")] {
        let body = format!(
            "--B\r\nContent-Disposition: form-data; name=\"expires\"\r\n\r\n{expires}\r\n\
             --B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n\
             contents of {name}\r\n--B--\r\n"
        );
        let req = Request::post("/")
            .header("host", "files.test")
            .header("content-type", "multipart/form-data; boundary=B")
            .body(Body::from(body))
            .unwrap();
        let resp = tower_service::Service::call(&mut router.clone(), req)
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let objects = |moto: &Moto| ours(moto).len();
    assert_eq!(objects(&moto), 2);
    assert_eq!(store.sweep().await.unwrap(), 0);
    *clock.lock().unwrap() += chrono::Duration::days(2);
    assert_eq!(store.sweep().await.unwrap(), 1);
    assert_eq!(objects(&moto), 1);
    *clock.lock().unwrap() += chrono::Duration::days(6);
    assert_eq!(store.sweep().await.unwrap(), 1);
    assert_eq!(objects(&moto), 0);
    tokio::task::spawn_blocking(move || drop(moto))
        .await
        .unwrap();
}

#[test]
fn s3_uploads_abandoned_while_the_server_runs_are_swept_without_a_restart() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &["--s3-upload-lease", "2", "--sweep-interval", "1"]);
    // An upload under way on this server keeps its lease through the sweeps.
    let stream = slow_upload(&s, 20 << 20, 7 << 20);
    eventually("the upload is pending", || moto.pending().len() == 1);
    // Another instance, killed mid-upload after this one started: no live lease.
    moto.start_upload(&format!("{PREFIX}/abandoned00000001"));
    eventually("the abandoned upload is aborted by a sweep", || {
        moto.pending().len() == 1
    });
    std::thread::sleep(Duration::from_millis(2500));
    let pending = moto.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(!pending[0].ends_with("abandoned00000001"), "{pending:?}");
    assert!(
        s.log().contains("aborted 1 uploads abandoned"),
        "{}",
        s.log()
    );
    drop(stream);
}

#[test]
fn s3_ranges_are_read_from_the_bucket_and_only_the_last_byte_counts() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    // 12 MiB in three parts: ranges inside one part and across a part's edge.
    let big = patterned(&env, "big.bin", 12 << 20);
    let want = std::fs::read(&big).unwrap();
    let key = uploaded(&s, &big, &[]);
    let url = format!("{}/{key}", s.url);
    let edge = 5 << 20;
    for (from, to) in [(0, 99), (edge - 10, edge + 10), (11 << 20, (12 << 20) - 2)] {
        let r = curl(&["-r", &format!("{from}-{to}"), &url]);
        assert_eq!(r.status, 206, "{from}-{to}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {from}-{to}/{}", 12 << 20))
        );
        assert!(r.body == want[from..=to], "bytes {from}-{to} differ");
    }
    // The rest from 7 MiB on: the one download, counted; the object goes.
    let r = curl(&["-r", &format!("{}-", 7 << 20), &url]);
    assert_eq!(r.status, 206);
    assert!(r.body == want[7 << 20..], "the tail differs");
    eventually("the spent file's object is deleted", || {
        ours(&moto).is_empty()
    });
    assert_eq!(curl(&["-r", "0-9", &url]).status, 404);
}
