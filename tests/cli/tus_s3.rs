//! Resumable (tus) uploads with the files in an object store (moto): each upload is an S3
//! multipart upload, the bytes after its last full part wait in a small "tail" object, and
//! nothing of either is left once the upload is finished, terminated or expired.

use std::path::Path;
use std::time::Duration;

use crate::cut_proxy::CutProxy;
use crate::server_s3::{BUCKET, Moto, PREFIX, aws_vars, eventually, ours, patterned};
use crate::support::{Env, Server};

const MIB: usize = 1 << 20;

/// What resumable uploads keep in the bucket beside their multipart uploads: each its
/// `created` marker and its tail object.
fn tails(moto: &Moto) -> Vec<String> {
    ours(moto)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(&format!("{PREFIX}/tus-tails/")))
        .collect()
}

/// Downloads `link` with fileio and checks that it is `expected`'s bytes.
fn downloads_as(env: &Env, link: &str, expected: &Path) {
    let out = env.path("downloaded.bin");
    env.cmd()
        .args(["download", link, "-o"])
        .arg(&out)
        .assert()
        .success();
    let (got, want) = (
        std::fs::read(&out).unwrap(),
        std::fs::read(expected).unwrap(),
    );
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the downloaded bytes differ");
    std::fs::remove_file(&out).unwrap();
}

/// `fileio upload` through a proxy that cuts the connection twice, to a server on S3: the
/// upload resumes, the file is whole, and the bucket holds the file's object and nothing
/// else (no pending multipart upload, no tail object).
#[test]
fn s3_a_tus_upload_cut_twice_resumes_and_leaves_only_its_object() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    let proxy = CutProxy::start(&s.url);
    // 12 MiB and a bit: two full parts and a tail, then the short last part.
    let file = patterned(&env, "big.bin", 12 * MIB + 12345);
    // Mid-second part, then (counting the next connection from its start) past a part more.
    proxy.cut_next_upload_after(7 * MIB as u64);
    proxy.cut_next_upload_after(3 * MIB as u64);
    let out = env
        .cmd()
        .args(["--server", &proxy.url, "--no-progress", "upload"])
        .args(["--resumable-above", "1MiB", "--retries", "5"])
        .arg(&file)
        .assert()
        .success()
        .get_output()
        .clone();
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retrying"), "{stderr}");
    assert_eq!(proxy.cuts(), 2);
    // Sent again: only what was in flight at each cut (HEAD waits for a broken PATCH to
    // record its bytes); the target is under 2% of the file, and a restart after each
    // cut would send 10 MiB again.
    let len = 12 * MIB as u64 + 12345;
    let resent = proxy.bytes_up().saturating_sub(len);
    eprintln!("{resent} bytes sent again");
    assert!(resent * 50 < len, "{resent} bytes sent again: {}", s.log());
    eventually("only the file's object is left", || {
        moto.pending().is_empty() && ours(&moto).len() == 1
    });
    let objects = ours(&moto);
    assert!(
        objects[0].0.starts_with(&format!("{PREFIX}/tus-")),
        "{objects:?}"
    );
    // A multipart object's ETag ends with its number of parts.
    assert!(objects[0].1.ends_with("-3\""), "{objects:?}");
    downloads_as(&env, &link, &file);
    // Spent by its one download.
    eventually("the spent file's object is deleted", || {
        ours(&moto).is_empty()
    });
}

/// Standard input to a server on S3: a deferred length over a multipart upload (its last
/// part saved by the empty PATCH that declares the length), resumed after a cut from the
/// client's window; a checksum that does not match leaves the next PATCH to overwrite the
/// parts it sent.
#[test]
fn s3_stdin_of_deferred_length_resumes_after_a_cut() {
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    let proxy = CutProxy::start(&s.url);
    let file = patterned(&env, "piped.bin", 12 * MIB + 777);
    proxy.cut_next_upload_after(7 * MIB as u64);
    let out = env
        .cmd()
        .args(["--server", &proxy.url, "--no-progress", "upload", "-"])
        .args(["--name", "piped.bin", "--retries", "5"])
        .pipe_stdin(&file)
        .unwrap()
        .assert()
        .success()
        .get_output()
        .clone();
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retrying"), "{stderr}");
    assert_eq!(proxy.cuts(), 1);
    eventually("only the file's object is left", || {
        moto.pending().is_empty() && ours(&moto).len() == 1
    });
    downloads_as(&env, &link, &file);

    // 6 MiB with a wrong checksum (a full part went up to S3 as it streamed), then the
    // right bytes: the file holds only the right ones.
    use sha2::Digest;
    let good = std::fs::read(&file).unwrap()[..6 * MIB].to_vec();
    let mut bad = good.clone();
    bad[100] ^= 1;
    let sum = format!(
        "sha256 {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            sha2::Sha256::digest(&good)
        )
    );
    let (code, text) = tus_curl(&[
        "-X",
        "POST",
        "-H",
        "Upload-Length: 6291456",
        &format!("{}/tus/", s.url),
    ]);
    assert_eq!(code, 201, "{text}");
    let upload = header_of(&text, "location").unwrap();
    let body = env.path("body.bin");
    for (bytes, want) in [(&bad, 460), (&good, 204)] {
        std::fs::write(&body, bytes).unwrap();
        let (code, text) = tus_curl(&[
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/offset+octet-stream",
            "-H",
            "Upload-Offset: 0",
            "-H",
            &format!("Upload-Checksum: {sum}"),
            "--data-binary",
            &format!("@{}", body.display()),
            &upload,
        ]);
        assert_eq!(code, want, "{text}");
    }
    let (_, text) = tus_curl(&["-I", &upload]);
    let link = header_of(&text, "fileio-link").unwrap();
    std::fs::write(&body, &good).unwrap();
    downloads_as(&env, &link, &body);
}

/// curl with `Tus-Resumable`: the status and the headers of the answer.
fn tus_curl(args: &[&str]) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-i", "--noproxy", "*", "-H", "Expect:"])
        .args(["-H", "Tus-Resumable: 1.0.0"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn header_of(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn offset_on(upload: &str) -> u64 {
    let (code, text) = tus_curl(&["-I", upload]);
    assert_eq!(code, 200, "{text}");
    header_of(&text, "upload-offset").unwrap().parse().unwrap()
}

/// PATCHes `bytes[from..]` at `from`; retried while the upload is still held (423) by the
/// request that was cut off, which records what it got before letting go.
fn patch_rest(upload: &str, env: &Env, bytes: &[u8], from: u64) -> (u16, String) {
    let rest = env.path("rest.bin");
    std::fs::write(&rest, &bytes[from as usize..]).unwrap();
    for _ in 0..100 {
        let (code, text) = tus_curl(&[
            "-X",
            "PATCH",
            "-H",
            &format!("Upload-Offset: {from}"),
            "-H",
            "Content-Type: application/offset+octet-stream",
            "--data-binary",
            &format!("@{}", rest.display()),
            upload,
        ]);
        if code != 423 {
            return (code, text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the upload stayed held");
}

/// Two instances sharing PostgreSQL and the bucket (each its own --data): an upload created
/// on A, its PATCH to A cut off mid-body, is resumed on B from the offset A recorded, and
/// becomes one file, whole, with nothing else left in the bucket.
#[test]
fn s3_two_instances_on_postgres_resume_each_others_upload() {
    let test = "tus_s3::s3_two_instances_on_postgres_resume_each_others_upload";
    if !crate::support::have_tool("curl", test) {
        return;
    }
    let Some(cluster) = crate::pg_cluster::Cluster::shared(test) else {
        return;
    };
    let Some(moto) = Moto::start() else { return };
    let url = cluster.database("tus_s3_two_instances");
    let env = Env::new();
    let storage = format!("s3://{BUCKET}/{PREFIX}");
    let args = [
        "--database",
        &url,
        "--storage",
        &storage,
        "--s3-endpoint",
        &moto.endpoint,
    ];
    let a = Server::start_with_vars(&env, &env.path("a"), &args, &aws_vars());
    let b = Server::start_with_vars(&env, &env.path("b"), &args, &aws_vars());
    let (code, text) = tus_curl(&["-X", "OPTIONS", &format!("{}/", b.url)]);
    assert_eq!(code, 204, "{text}");
    assert_eq!(
        header_of(&text, "fileio-tus-endpoint"),
        Some(format!("{}/tus/", b.url))
    );
    let file = patterned(&env, "two.bin", 11 * MIB + 333);
    let bytes = std::fs::read(&file).unwrap();
    let (code, text) = tus_curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Upload-Length: {}", bytes.len()),
        &format!("{}/tus/", a.url),
    ]);
    assert_eq!(code, 201, "{text}");
    let location = header_of(&text, "location").unwrap();
    let id = location.rsplit('/').next().unwrap().to_string();
    // The whole file to A, through a proxy that cuts it after 8 MiB.
    let proxy = CutProxy::start(&a.url);
    proxy.cut_next_upload_after(8 * MIB as u64);
    let _ = patch_rest(&format!("{}/tus/{id}", proxy.url), &env, &bytes, 0);
    assert_eq!(proxy.cuts(), 1);
    let on_b = format!("{}/tus/{id}", b.url);
    eventually("A records what it got", || offset_on(&on_b) > 0);
    let at = offset_on(&on_b);
    assert!(at > 5 * MIB as u64 && at < bytes.len() as u64, "{at}");
    let (code, text) = patch_rest(&on_b, &env, &bytes, at);
    assert_eq!(code, 204, "{text}");
    let link = header_of(&text, "fileio-link").unwrap();
    // A gives the link too.
    let (_, text) = tus_curl(&["-I", &location]);
    assert_eq!(header_of(&text, "fileio-link"), Some(link.clone()));
    assert!(moto.pending().is_empty(), "{:?}", moto.pending());
    assert!(tails(&moto).is_empty(), "{:?}", tails(&moto));
    assert_eq!(ours(&moto).len(), 1, "{:?}", ours(&moto));
    let key = link.rsplit('/').next().unwrap();
    downloads_as(&env, &format!("{}/{key}", b.url), &file);
}

/// In process, the store's clock in the test's hands: an upload longer than S3 can hold is
/// refused at creation; a terminated upload and an expired one, each with parts and a tail
/// in the bucket, leave no pending multipart upload and no tail object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_too_long_terminated_and_expired_tus_uploads_leave_nothing_in_the_bucket() {
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
    let mut config = Options::new(data.clone());
    config.storage = Some(location);
    let app = Arc::new(App {
        config,
        store: store.clone(),
        limiter: None,
        local_addr: "127.0.0.1:8080".parse().unwrap(),
    });
    let router = fileio::server::router(app);
    let call = |req: Request<Body>| {
        let mut router = router.clone();
        async move {
            tower_service::Service::call(&mut router, req)
                .await
                .unwrap()
        }
    };
    // Longer than S3's 10,000 parts of 5 MiB: refused at creation, nothing started.
    let resp = call(
        Request::post("/tus/")
            .header("host", "files.test")
            .header("tus-resumable", "1.0.0")
            .header("upload-length", (10_000 * 5 * MIB + 1).to_string())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 413);
    // Two uploads of 12 MiB, each given 6 MiB and a bit: one part and a tail.
    let first = vec![b'z'; 6 * MIB + 1];
    let mut uploads = vec![];
    for _ in 0..2 {
        let resp = call(
            Request::post("/tus/")
                .header("host", "files.test")
                .header("tus-resumable", "1.0.0")
                .header("upload-length", (12 * MIB).to_string())
                .header("content-type", "application/offset+octet-stream")
                .body(Body::from(first.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers()["upload-offset"], (6 * MIB + 1).to_string());
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        uploads.push(
            location
                .strip_prefix("http://files.test")
                .unwrap()
                .to_string(),
        );
    }
    let moto = Arc::new(moto);
    let m = moto.clone();
    let left = move || {
        let m = m.clone();
        async move {
            tokio::task::spawn_blocking(move || (m.pending().len(), tails(&m).len()))
                .await
                .unwrap()
        }
    };
    assert_eq!(left().await, (2, 4));
    // Terminated: its multipart upload is aborted, its tail deleted.
    let resp = call(
        Request::delete(uploads[0].as_str())
            .header("host", "files.test")
            .header("tus-resumable", "1.0.0")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(left().await, (1, 2));
    // Expired (24 hours by default): swept the same way.
    assert_eq!(store.tus_sweep().await.unwrap(), 0);
    *clock.lock().unwrap() += chrono::Duration::hours(25);
    assert_eq!(store.tus_sweep().await.unwrap(), 1);
    assert_eq!(left().await, (0, 0));
    let m = moto.clone();
    let objects = tokio::task::spawn_blocking(move || ours(&m)).await.unwrap();
    assert!(objects.is_empty(), "{objects:?}");
    tokio::task::spawn_blocking(move || drop(moto))
        .await
        .unwrap();
}

/// tuspy, the Python tus client written by others, in 1 MiB PATCHes (each one short of a
/// part, so each replays the tail the one before stored) with one cut off mid-body, on S3.
#[test]
fn s3_tuspy_uploads_in_small_patches_and_resumes_after_a_cut_connection() {
    use crate::tus_server::{TUSPY_SCRIPT, fetch_finished, tool_var};
    let test = "tus_s3::s3_tuspy_uploads_in_small_patches_and_resumes_after_a_cut_connection";
    let Some(python) = tool_var("FILEIO_TUSPY_PYTHON", test) else {
        return;
    };
    if !crate::support::have_tool("curl", test) {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let s = moto.serve(&env, &[]);
    // Two parts and a bit: the PATCHes cross a part's end.
    let file = patterned(&env, "tuspy.bin", 11 * MIB + 4321);
    let script = env.path("up.py");
    std::fs::write(&script, TUSPY_SCRIPT).unwrap();
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(format!("{}/tus/", s.url))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = stdout.lines();
    let url = lines.next().unwrap().to_string();
    let offsets: Vec<u64> = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    // What arrived of the cut PATCH was kept (in the tail object): resumed beyond it.
    assert_eq!(offsets, [1 << 20, (1 << 20) + 300_000], "{stdout}");
    assert!(moto.pending().is_empty(), "{:?}", moto.pending());
    assert!(tails(&moto).is_empty(), "{:?}", tails(&moto));
    assert_eq!(fetch_finished(&url), std::fs::read(&file).unwrap());
}
