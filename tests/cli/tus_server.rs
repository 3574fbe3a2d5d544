//! Resumable uploads (tus 1.0.0) on `fileio serve`.
//!
//! - The protocol with raw HTTP against the router in process (the harness of
//!   `server_api.rs`, the store's clock in the test's hands), on SQLite and PostgreSQL.
//! - Real processes: two instances on PostgreSQL and S3 (moto) sharing one upload.
//! - Interop: the tus clients written by others, `tuspy` (Python) and `tus-js-client`
//!   (Node), upload through `fileio serve`, resuming after a cut connection.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;

use crate::server_api::{Answer, Api, Backend, K1, K2, KEY, assert_error, key_of, req};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let test = concat!("tus_server::postgres::", stringify!($name));
                    let Some(cluster) = crate::pg_cluster::Cluster::shared(test) else {
                        return;
                    };
                    let url = cluster.database(concat!("tus_", stringify!($name)));
                    super::$name(super::Backend::Postgres(url)).await
                }
            )*
        }
    };
}

on_both_backends!(
    discovery_creation_offsets_and_completion_make_a_normal_file,
    requests_without_tus_resumable_get_412_and_every_answer_says_it,
    creation_with_upload_and_empty_uploads_complete_at_once,
    limits_and_bad_metadata_are_refused_at_creation_before_any_byte,
    only_the_key_that_created_an_upload_may_touch_it,
    quota_counts_uploads_under_way,
    termination_deletes_the_bytes,
    expired_partial_uploads_are_swept_with_their_bytes,
    one_patch_at_a_time_others_get_423,
    a_patch_cut_off_mid_body_keeps_what_arrived,
    a_stalled_patch_has_written_what_it_sent,
    a_deferred_length_is_declared_once_in_a_later_patch,
    a_deferred_upload_stays_within_max_size_and_the_quota,
    a_body_that_does_not_match_its_checksum_records_nothing,
);

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `Upload-Metadata` from pairs.
fn meta(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", b64(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn tus(method: &str, path: &str) -> crate::server_api::Req {
    req(method, path).header("tus-resumable", "1.0.0")
}

/// `POST /tus/` with a key (or none), a length and metadata; 201 asserted. Returns the
/// upload's path.
async fn create(api: &Api, key: Option<&str>, length: u64, pairs: &[(&str, &str)]) -> String {
    let mut r = tus("POST", "/tus/")
        .header("upload-length", &length.to_string())
        .header("upload-metadata", &meta(pairs));
    if let Some(k) = key {
        r = r.key(k);
    }
    let a = api.go(r).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let location = a.header("location").unwrap();
    let path = location
        .strip_prefix("http://files.test")
        .unwrap_or_else(|| panic!("not an absolute URL on the Host: {location}"));
    assert!(path.starts_with("/tus/"), "{location}");
    let id = &path["/tus/".len()..];
    assert!(
        id.len() >= 22 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    path.to_string()
}

async fn patch(api: &Api, key: Option<&str>, path: &str, offset: u64, data: &[u8]) -> Answer {
    let mut r = tus("PATCH", path)
        .header("upload-offset", &offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .raw(data);
    if let Some(k) = key {
        r = r.key(k);
    }
    api.go(r).await
}

async fn head(api: &Api, key: Option<&str>, path: &str) -> Answer {
    let mut r = tus("HEAD", path);
    if let Some(k) = key {
        r = r.key(k);
    }
    api.go(r).await
}

fn partials(api: &Api) -> usize {
    std::fs::read_dir(api.data.join("partial")).unwrap().count()
}

async fn discovery_creation_offsets_and_completion_make_a_normal_file(backend: Backend) {
    let api = Api::new(backend, |o| o.max_size = Some(1 << 20)).await;
    // Discovery: OPTIONS / names the endpoint, OPTIONS /tus/ what it speaks.
    let a = api.go(req("OPTIONS", "/")).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(a.header("tus-version"), Some("1.0.0"));
    assert_eq!(
        a.header("fileio-tus-endpoint"),
        Some("http://files.test/tus/")
    );
    let a = api.go(req("OPTIONS", "/tus/")).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.header("tus-version"), Some("1.0.0"));
    assert_eq!(
        a.header("tus-extension"),
        Some("creation,creation-with-upload,termination,expiration,creation-defer-length,checksum")
    );
    assert_eq!(a.header("tus-max-size"), Some("1048576"));
    assert_eq!(
        a.header("tus-checksum-algorithm"),
        Some("sha1,sha256,sha512")
    );

    let path = create(
        &api,
        Some(KEY),
        11,
        &[
            ("filename", "notes.txt"),
            ("filetype", "text/plain"),
            ("maxDownloads", "2"),
            ("expires", "2d"),
            ("unknown", "ignored"),
        ],
    )
    .await;
    let h = head(&api, Some(KEY), &path).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("upload-offset"), Some("0"));
    assert_eq!(h.header("upload-length"), Some("11"));
    assert_eq!(h.header("cache-control"), Some("no-store"));
    assert_eq!(h.header("tus-resumable"), Some("1.0.0"));
    // 24 hours after creation, as an HTTP date.
    assert_eq!(
        h.header("upload-expires"),
        Some("Wed, 02 Jan 2030 12:00:00 GMT")
    );
    assert_eq!(h.header("fileio-link"), None);
    // Not complete: not a file, not listed, and GET says so.
    let a = api.go(tus("GET", &path).key(KEY)).await;
    assert_error(&a, 409, "CONFLICT");
    let list = api.go(req("GET", "/").key(KEY)).await.json();
    assert_eq!(list["count"], 0);

    let a = patch(&api, Some(KEY), &path, 0, b"hello ").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert_eq!(a.header("upload-offset"), Some("6"));
    assert_eq!(a.header("fileio-link"), None);
    // The wrong offset is refused, whichever side it is on; nothing changes.
    for wrong in [0, 5, 7] {
        let a = patch(&api, Some(KEY), &path, wrong, b"world").await;
        assert_error(&a, 409, "CONFLICT");
    }
    assert_eq!(
        head(&api, Some(KEY), &path).await.header("upload-offset"),
        Some("6")
    );
    let list = api.go(req("GET", "/").key(KEY)).await.json();
    assert_eq!(list["count"], 0);

    let a = patch(&api, Some(KEY), &path, 6, b"world").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert_eq!(a.header("upload-offset"), Some("11"));
    let link = a.header("fileio-link").unwrap().to_string();
    assert!(link.starts_with("http://files.test/"), "{link}");
    // HEAD and GET of the finished upload give the link and POST /'s answer.
    let h = head(&api, Some(KEY), &path).await;
    assert_eq!(h.header("fileio-link"), Some(link.as_str()));
    assert_eq!(h.header("upload-offset"), Some("11"));
    let a = api.go(tus("GET", &path).key(KEY)).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["link"], link.as_str());
    assert_eq!(
        (v["success"].as_bool(), v["status"].as_u64()),
        (Some(true), Some(200))
    );
    assert_eq!(v["name"], "notes.txt");
    assert_eq!(v["mimeType"], "text/plain");
    assert_eq!(v["size"], 11);
    assert_eq!(v["maxDownloads"], 2);
    assert_eq!(v["expiry"], "2 days");
    // A repeated final PATCH (its answer was lost) is answered again.
    let a = patch(&api, Some(KEY), &path, 11, b"").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.header("fileio-link"), Some(link.as_str()));
    // A normal file: listed, downloaded twice, then gone.
    let key = key_of(&v);
    let list = api.go(req("GET", "/").key(KEY)).await.json();
    assert_eq!(list["count"], 1);
    for _ in 0..2 {
        let a = api.get_key(&key).await;
        assert_eq!(
            (a.status, &a.body[..]),
            (StatusCode::OK, &b"hello world"[..])
        );
    }
    assert_eq!(api.get_key(&key).await.status, StatusCode::NOT_FOUND);
    assert_eq!(partials(&api), 0);
}

async fn requests_without_tus_resumable_get_412_and_every_answer_says_it(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, None, 3, &[]).await;
    for (method, p) in [
        ("POST", "/tus/"),
        ("HEAD", path.as_str()),
        ("PATCH", path.as_str()),
        ("DELETE", path.as_str()),
        ("GET", path.as_str()),
    ] {
        let a = api
            .go(req(method, p)
                .header("upload-length", "3")
                .header("upload-offset", "0"))
            .await;
        assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{method} {p}");
        assert_eq!(a.header("tus-version"), Some("1.0.0"));
        assert_eq!(a.header("tus-resumable"), Some("1.0.0"));
        let a = api
            .go(req(method, p)
                .header("tus-resumable", "0.2.2")
                .header("upload-length", "3"))
            .await;
        assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{method} {p}");
    }
    // Still there, untouched; errors carry the header too.
    let h = head(&api, None, &path).await;
    assert_eq!(h.header("upload-offset"), Some("0"));
    let a = head(&api, None, "/tus/nosuchupload").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.header("tus-resumable"), Some("1.0.0"));
    // A PATCH without the right type is refused.
    let a = api
        .go(tus("PATCH", &path)
            .header("upload-offset", "0")
            .header("content-type", "text/plain")
            .raw(b"abc"))
        .await;
    assert_error(&a, 415, "UNSUPPORTED_MEDIA_TYPE");
}

async fn creation_with_upload_and_empty_uploads_complete_at_once(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    // The first bytes with the creation.
    let a = api
        .go(tus("POST", "/tus/")
            .header("upload-length", "10")
            .header("upload-metadata", &meta(&[("name", "a.bin")]))
            .header("content-type", "application/offset+octet-stream")
            .raw(b"01234"))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.header("upload-offset"), Some("5"));
    let path = a.header("location").unwrap()["http://files.test".len()..].to_string();
    let a = patch(&api, None, &path, 5, b"56789").await;
    let link = a.header("fileio-link").unwrap().to_string();
    let key = link.rsplit('/').next().unwrap();
    assert_eq!(api.get_key(key).await.body, b"0123456789");
    // The whole upload in its creation.
    let a = api
        .go(tus("POST", "/tus/")
            .header("upload-length", "3")
            .header("content-type", "application/offset+octet-stream")
            .raw(b"abc"))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.header("upload-offset"), Some("3"));
    let key = a.header("fileio-link").unwrap().rsplit('/').next().unwrap();
    let got = api.get_key(key).await;
    assert_eq!(got.body, b"abc");
    // An empty upload is complete when created.
    let a = api
        .go(tus("POST", "/tus/")
            .header("upload-length", "0")
            .header("upload-metadata", &meta(&[("filename", "empty.txt")])))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let key = a.header("fileio-link").unwrap().rsplit('/').next().unwrap();
    let got = api.get_key(key).await;
    assert_eq!((got.status, got.body.len()), (StatusCode::OK, 0));
    // More than the upload's length is refused, and nothing of it kept.
    let path = create(&api, None, 4, &[]).await;
    let a = patch(&api, None, &path, 0, b"too long").await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    assert_eq!(
        head(&api, None, &path).await.header("upload-offset"),
        Some("0")
    );
}

async fn limits_and_bad_metadata_are_refused_at_creation_before_any_byte(backend: Backend) {
    let api = Api::new(backend, |o| {
        o.max_size = Some(100);
        o.require_auth = fileio::server::config::RequireAuth::Uploads;
    })
    .await;
    let go = |length: &str, key: Option<&str>, m: String| {
        let mut r = tus("POST", "/tus/")
            .header("upload-length", length)
            .header("upload-metadata", &m);
        if let Some(k) = key {
            r = r.key(k);
        }
        r
    };
    // --max-size against Upload-Length, before any byte.
    let a = api.go(go("101", Some(KEY), String::new())).await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    assert!(a.json()["message"].as_str().unwrap().contains("100 bytes"));
    // --require-auth, and a key that is not valid.
    let a = api.go(go("10", None, String::new())).await;
    assert_error(&a, 401, "UNAUTHORIZED");
    let a = api.go(go("10", Some("not-a-key"), String::new())).await;
    assert_error(&a, 401, "UNAUTHORIZED");
    // No length, a bad one; a deferral other than 1, or with a length too.
    for bad in ["", "-1", "abc", "1e3"] {
        let a = api.go(go(bad, Some(KEY), String::new())).await;
        assert_error(&a, 400, "BAD_REQUEST");
    }
    let a = api.go(tus("POST", "/tus/").key(KEY)).await;
    assert_error(&a, 400, "BAD_REQUEST");
    for defer in ["0", "2", "yes"] {
        let a = api
            .go(tus("POST", "/tus/")
                .key(KEY)
                .header("upload-defer-length", defer))
            .await;
        assert_error(&a, 400, "BAD_REQUEST");
    }
    let a = api
        .go(go("10", Some(KEY), String::new()).header("upload-defer-length", "1"))
        .await;
    assert_error(&a, 400, "BAD_REQUEST");
    // Settings in the metadata: the same answers as POST / gives.
    for (k, v) in [
        ("expires", "yesterday"),
        ("maxDownloads", "0"),
        ("autoDelete", "perhaps"),
    ] {
        let tus_answer = api.go(go("10", Some(KEY), meta(&[(k, v)]))).await;
        let form = api
            .go(req("POST", "/").key(KEY).form(&format!("text=x&{k}={v}")))
            .await;
        assert_error(&tus_answer, 400, "BAD_REQUEST");
        assert_eq!(tus_answer.json()["message"], form.json()["message"], "{k}");
    }
    // Metadata that is not base64.
    let a = api.go(go("10", Some(KEY), "filename %%%".into())).await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert_eq!(partials(&api), 0);
    assert_eq!(api.go(req("GET", "/").key(KEY)).await.json()["count"], 0);
}

async fn only_the_key_that_created_an_upload_may_touch_it(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, Some(K1), 4, &[]).await;
    for key in [Some(K2), None] {
        assert_eq!(head(&api, key, &path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            patch(&api, key, &path, 0, b"ab").await.status,
            StatusCode::NOT_FOUND
        );
        let mut r = tus("DELETE", &path);
        if let Some(k) = key {
            r = r.key(k);
        }
        assert_eq!(api.go(r).await.status, StatusCode::NOT_FOUND);
    }
    let a = patch(&api, Some(K1), &path, 0, b"abcd").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let key = a
        .header("fileio-link")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // The file is K1's, as if uploaded with POST /.
    let list = api.go(req("GET", "/").key(K1)).await.json();
    assert_eq!(list["nodes"][0]["key"], key.as_str());
    assert_eq!(api.go(req("GET", "/").key(K2)).await.json()["count"], 0);
    assert_eq!(
        api.go(tus("GET", &path).key(K2)).await.status,
        StatusCode::NOT_FOUND
    );
    // An anonymous upload's URL is its own capability.
    let path = create(&api, None, 2, &[]).await;
    assert_eq!(
        patch(&api, Some(K2), &path, 0, b"x").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        head(&api, None, &path).await.header("upload-offset"),
        Some("1")
    );
}

async fn quota_counts_uploads_under_way(backend: Backend) {
    let api = Api::new(backend, |o| o.max_storage = Some(100)).await;
    api.put_file(Some(KEY), "a.txt", &[b'a'; 30], &[]).await;
    // 30 stored + 60 under way + 11 > 100.
    let path = create(&api, Some(KEY), 60, &[]).await;
    let a = api
        .go(tus("POST", "/tus/").key(KEY).header("upload-length", "11"))
        .await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    // POST / sees the room kept for the upload under way too.
    let a = api
        .go(req("POST", "/")
            .key(KEY)
            .form(&format!("text={}", "b".repeat(11))))
        .await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    // Another key has its own quota.
    create(&api, Some(K2), 100, &[]).await;
    // Terminated, the room is free again.
    let a = api.go(tus("DELETE", &path).key(KEY)).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    create(&api, Some(KEY), 70, &[]).await;
}

async fn termination_deletes_the_bytes(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, None, 10, &[]).await;
    patch(&api, None, &path, 0, b"12345").await;
    assert_eq!(partials(&api), 1);
    let a = api.go(tus("DELETE", &path)).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(partials(&api), 0);
    assert_eq!(head(&api, None, &path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        patch(&api, None, &path, 5, b"6").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.go(tus("DELETE", &path)).await.status,
        StatusCode::NOT_FOUND
    );
    // Terminating a finished upload forgets the upload, not the file.
    let path = create(&api, None, 1, &[]).await;
    let link = patch(&api, None, &path, 0, b"z")
        .await
        .header("fileio-link")
        .unwrap()
        .to_string();
    assert_eq!(
        api.go(tus("DELETE", &path)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get_key(link.rsplit('/').next().unwrap()).await.body,
        b"z"
    );
}

async fn expired_partial_uploads_are_swept_with_their_bytes(backend: Backend) {
    let api = Api::new(backend, |o| {
        o.tus_expiry = std::time::Duration::from_secs(3600)
    })
    .await;
    let unfinished = create(&api, None, 10, &[]).await;
    patch(&api, None, &unfinished, 0, b"1234").await;
    let finished = create(&api, None, 2, &[("maxDownloads", "5")]).await;
    let link = patch(&api, None, &finished, 0, b"ok")
        .await
        .header("fileio-link")
        .unwrap()
        .to_string();
    assert_eq!(
        head(&api, None, &unfinished).await.header("upload-expires"),
        Some("Tue, 01 Jan 2030 13:00:00 GMT")
    );
    api.advance(chrono::Duration::minutes(59));
    assert_eq!(api.store.tus_sweep().await.unwrap(), 0);
    assert_eq!(
        head(&api, None, &finished).await.header("fileio-link"),
        Some(link.as_str())
    );
    api.advance(chrono::Duration::minutes(2));
    // Expired: gone for every request at once, swept with its bytes.
    assert_eq!(
        head(&api, None, &unfinished).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        patch(&api, None, &unfinished, 4, b"5").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        head(&api, None, &finished).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(partials(&api), 1);
    assert_eq!(api.store.tus_sweep().await.unwrap(), 1);
    assert_eq!(partials(&api), 0);
    // The file a finished upload became lives on by its own expiry.
    assert_eq!(
        api.get_key(link.rsplit('/').next().unwrap()).await.body,
        b"ok"
    );
}

async fn one_patch_at_a_time_others_get_423(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, None, 10, &[]).await;
    let id = path.rsplit('/').next().unwrap();
    // A PATCH under way elsewhere (this instance or another) holds the upload.
    let hold = api.store.tus_hold(id).await.unwrap();
    let a = patch(&api, None, &path, 0, b"abc").await;
    assert_error(&a, 423, "LOCKED");
    assert_eq!(
        api.go(tus("DELETE", &path)).await.status,
        StatusCode::LOCKED
    );
    // HEAD still answers.
    assert_eq!(
        head(&api, None, &path).await.header("upload-offset"),
        Some("0")
    );
    hold.release().await;
    assert_eq!(
        patch(&api, None, &path, 0, b"abc").await.status,
        StatusCode::NO_CONTENT
    );
    // A hold whose instance was killed runs out, and the upload goes on.
    let hold = api.store.tus_hold(id).await.unwrap();
    std::mem::forget(hold);
    assert_eq!(
        patch(&api, None, &path, 3, b"d").await.status,
        StatusCode::LOCKED
    );
    api.advance(chrono::Duration::seconds(61));
    assert_eq!(
        patch(&api, None, &path, 3, b"d").await.status,
        StatusCode::NO_CONTENT
    );
}

/// A PATCH from offset 0 that says it holds `len` bytes, its body `body` as it streams.
fn streamed_patch<S>(path: &str, len: u64, body: S) -> Request<Body>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
{
    Request::builder()
        .method("PATCH")
        .uri(path)
        .header("host", "files.test")
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .header("content-length", len.to_string())
        .body(Body::from_stream(body))
        .unwrap()
}

async fn a_patch_cut_off_mid_body_keeps_what_arrived(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, None, 1 << 20, &[]).await;
    // 300,000 bytes, then the connection breaks.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from(vec![b'a'; 200_000])),
        Ok(bytes::Bytes::from(vec![b'b'; 100_000])),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )),
    ];
    let a = api
        .call(streamed_patch(
            &path,
            1 << 20,
            futures_util::stream::iter(chunks),
        ))
        .await;
    assert_error(&a, 400, "BAD_REQUEST");
    let h = head(&api, None, &path).await;
    assert_eq!(h.header("upload-offset"), Some("300000"));
    // Resumed from there, the file is whole and in order.
    let rest = vec![b'c'; (1 << 20) - 300_000];
    let a = patch(&api, None, &path, 300_000, &rest).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let key = a
        .header("fileio-link")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let got = api.get_key(&key).await.body;
    assert_eq!(got.len(), 1 << 20);
    assert!(got[..200_000].iter().all(|b| *b == b'a'));
    assert!(got[200_000..300_000].iter().all(|b| *b == b'b'));
    assert!(got[300_000..].iter().all(|b| *b == b'c'));
}

/// A PATCH whose client stops sending keeps nothing back in memory: within about a second
/// every byte that came is in the partial file (pieces wait only while more keep coming).
async fn a_stalled_patch_has_written_what_it_sent(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, None, 1 << 20, &[]).await;
    // The first piece is written at once (past the 128 KiB the writer gathers), the second
    // waits for more; then nothing comes, for ever.
    let sent: usize = 300_000;
    let pieces =
        [200_000, 100_000].map(|n| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; n])));
    let body = futures_util::StreamExt::chain(
        futures_util::stream::iter(pieces),
        futures_util::stream::pending(),
    );
    let call = api.call(streamed_patch(&path, 1 << 20, body));
    let written = || crate::support::largest_file(&api.data.join("partial"));
    let watch = async {
        let t = std::time::Instant::now();
        while written() < sent as u64 && t.elapsed() < std::time::Duration::from_secs(5) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        a = call => panic!("the PATCH ended: {}", a.text()),
        () = watch => {}
    }
    assert_eq!(written(), sent as u64);
}

// Interop: the tus clients written by others, against the real server process.

use crate::support::{Env, Server};

/// The value of an environment variable `.ci/run` exports, or None after saying the test
/// is skipped (failing under CI=true, where it must be there).
pub(crate) fn tool_var(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "{test} needs {var}, which .ci/run exports: it is missing"
            );
            eprintln!("skipped {test}: set {var} (.ci/run installs the client and exports it)");
            None
        }
    }
}

/// 3 MiB and a bit, every byte telling its position.
pub(crate) fn patterned(env: &Env) -> std::path::PathBuf {
    let path = env.path("upload.bin");
    let data: Vec<u8> = (0..(3 << 20) + 12345u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, data).unwrap();
    path
}

/// The upload URL's link (HEAD with curl), then the file by that link.
pub(crate) fn fetch_finished(upload_url: &str) -> Vec<u8> {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-I",
            "--noproxy",
            "*",
            "-H",
            "Tus-Resumable: 1.0.0",
            upload_url,
        ])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    let link = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("fileio-link")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no Fileio-Link on HEAD {upload_url}: {head}"));
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--noproxy", "*", &link])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub(crate) const TUSPY_SCRIPT: &str = r#"
import socket, sys, time
from urllib.parse import urlparse
from tusclient import client

endpoint, path = sys.argv[1], sys.argv[2]
chunk = 1 << 20
c = client.TusClient(endpoint)
first = c.uploader(path, chunk_size=chunk, metadata={"filename": "from-tuspy.bin"})
first.upload(stop_at=chunk)
url, offset = first.url, first.offset
# The next chunk's PATCH is cut off after 300,000 bytes: the connection drops.
data = open(path, "rb").read()
u = urlparse(url)
body = data[offset:offset + chunk]
s = socket.create_connection((u.hostname, u.port))
s.sendall((
    f"PATCH {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nTus-Resumable: 1.0.0\r\n"
    f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
    f"Content-Length: {len(body)}\r\n\r\n"
).encode())
s.sendall(body[:300000])
s.close()
# A new uploader resumes from the offset the server reports (HEAD).
for _ in range(100):
    resumed = c.uploader(path, url=url, chunk_size=chunk)
    if resumed.offset > offset:
        break
    time.sleep(0.05)
print(url)
print(offset, resumed.offset)
resumed.upload()
"#;

#[test]
fn tuspy_uploads_and_resumes_after_a_cut_connection() {
    let test = "tus_server::tuspy_uploads_and_resumes_after_a_cut_connection";
    let Some(python) = tool_var("FILEIO_TUSPY_PYTHON", test) else {
        return;
    };
    if !crate::support::have_tool("curl", test) {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let file = patterned(&env);
    let script = env.path("up.py");
    std::fs::write(&script, TUSPY_SCRIPT).unwrap();
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(format!("{}/tus/", server.url))
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
    // What arrived of the cut PATCH was kept: the client resumed beyond it.
    assert_eq!(offsets, [1 << 20, (1 << 20) + 300_000], "{stdout}");
    assert_eq!(fetch_finished(&url), std::fs::read(&file).unwrap());
}

const TUS_JS_SCRIPT: &str = r#"
const tus = require("tus-js-client");
const fs = require("fs");
const [endpoint, path] = process.argv.slice(2);
const data = fs.readFileSync(path);
const chunkSize = 1 << 20;

function run(extra, stopAfter) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      chunkSize,
      retryDelays: [100, 200, 400, 800, 1600],
      metadata: { filename: "from-tus-js.bin", filetype: "application/octet-stream" },
      ...extra,
      onError: reject,
      onSuccess: () => resolve(upload),
      onChunkComplete: (_size, sent) => {
        // Stop while the next chunk is being sent: its request is cut off.
        if (stopAfter && sent >= stopAfter) {
          setTimeout(() => upload.abort().then(() => resolve(upload)), 5);
        }
      },
    });
    upload.start();
  });
}

(async () => {
  const first = await run({}, chunkSize);
  const url = first.url;
  let resumedFrom = -1;
  await run({
    uploadUrl: url,
    onProgress: (sent) => { if (resumedFrom < 0) resumedFrom = sent; },
  });
  console.log(url);
  console.log(resumedFrom);
})().catch((e) => { console.error(String(e)); process.exit(1); });
"#;

#[test]
fn tus_js_client_uploads_and_resumes_after_an_abort() {
    let test = "tus_server::tus_js_client_uploads_and_resumes_after_an_abort";
    let Some(dir) = tool_var("FILEIO_TUS_JS_DIR", test) else {
        return;
    };
    if !crate::support::have_tool("node", test) || !crate::support::have_tool("curl", test) {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let file = patterned(&env);
    let script = env.path("up.js");
    std::fs::write(&script, TUS_JS_SCRIPT).unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(format!("{}/tus/", server.url))
        .arg(&file)
        .env("NODE_PATH", std::path::Path::new(&dir).join("node_modules"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = stdout.lines();
    let url = lines.next().unwrap().to_string();
    let resumed_from: i64 = lines.next().unwrap().parse().unwrap();
    // The second run asked the server (HEAD) and went on from at least the first chunk.
    assert!(resumed_from >= 1 << 20, "{stdout}");
    assert!(server.log().contains("HEAD /tus/"), "{}", server.log());
    assert_eq!(fetch_finished(&url), std::fs::read(&file).unwrap());
}

const TUS_JS_DEFERRED_SCRIPT: &str = r#"
const tus = require("tus-js-client");
const fs = require("fs");
const [endpoint, path] = process.argv.slice(2);
// A Buffer: tus-js-client 4.3.1's Node stream source announces a whole chunk's
// Content-Length for the shorter last chunk, and so never finishes against any server.
const upload = new tus.Upload(fs.readFileSync(path), {
  endpoint,
  chunkSize: 1 << 20,
  uploadLengthDeferred: true,
  retryDelays: [100, 200, 400],
  metadata: { filename: "streamed.bin" },
  onError: (e) => { console.error(String(e)); process.exit(1); },
  onSuccess: () => console.log(upload.url),
});
upload.start();
"#;

/// creation-defer-length with a client written by others: tus-js-client creates the upload
/// with its length deferred, sends it in chunks and declares the length with the last one.
#[test]
fn tus_js_client_uploads_with_a_deferred_length() {
    let test = "tus_server::tus_js_client_uploads_with_a_deferred_length";
    let Some(dir) = tool_var("FILEIO_TUS_JS_DIR", test) else {
        return;
    };
    if !crate::support::have_tool("node", test) || !crate::support::have_tool("curl", test) {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let file = patterned(&env);
    let script = env.path("deferred.js");
    std::fs::write(&script, TUS_JS_DEFERRED_SCRIPT).unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(format!("{}/tus/", server.url))
        .arg(&file)
        .env("NODE_PATH", std::path::Path::new(&dir).join("node_modules"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(fetch_finished(&url), std::fs::read(&file).unwrap());
}

/// curl with the tus header; the status line's code and the headers.
fn tus_curl(args: &[&str]) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--noproxy",
            "*",
            "-H",
            "Expect:",
            "-H",
            "Tus-Resumable: 1.0.0",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, text)
}

fn header_of(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[test]
fn two_instances_on_postgres_share_one_upload() {
    let test = "tus_server::two_instances_on_postgres_share_one_upload";
    if !crate::support::have_tool("curl", test) {
        return;
    }
    let Some(cluster) = crate::pg_cluster::Cluster::shared(test) else {
        return;
    };
    let url = cluster.database("tus_two_instances");
    let env = Env::new();
    let data = env.path("shared");
    let a = Server::start_with_data(&env, &data, &["--database", &url]);
    let b = Server::start_with_data(&env, &data, &["--database", &url]);
    let file = patterned(&env);
    let bytes = std::fs::read(&file).unwrap();
    let half = bytes.len() / 2;
    let first = env.path("first.bin");
    let second = env.path("second.bin");
    std::fs::write(&first, &bytes[..half]).unwrap();
    std::fs::write(&second, &bytes[half..]).unwrap();
    // Created on A, with its first half.
    let (code, text) = tus_curl(&[
        "-X",
        "POST",
        "-H",
        &format!("Upload-Length: {}", bytes.len()),
        "-H",
        "Content-Type: application/offset+octet-stream",
        "--data-binary",
        &format!("@{}", first.display()),
        &format!("{}/tus/", a.url),
    ]);
    assert_eq!(code, 201, "{text}");
    assert_eq!(header_of(&text, "upload-offset"), Some(half.to_string()));
    let location = header_of(&text, "location").unwrap();
    let id = location.rsplit('/').next().unwrap();
    // B knows it, and takes the rest.
    let on_b = format!("{}/tus/{id}", b.url);
    let (code, text) = tus_curl(&["-I", &on_b]);
    assert_eq!(
        (code, header_of(&text, "upload-offset")),
        (200, Some(half.to_string()))
    );
    let (code, text) = tus_curl(&[
        "-X",
        "PATCH",
        "-H",
        &format!("Upload-Offset: {half}"),
        "-H",
        "Content-Type: application/offset+octet-stream",
        "--data-binary",
        &format!("@{}", second.display()),
        &on_b,
    ]);
    assert_eq!(code, 204, "{text}");
    let link = header_of(&text, "fileio-link").unwrap();
    // A gives the link too, and the file.
    let (_, text) = tus_curl(&["-I", &location]);
    assert_eq!(header_of(&text, "fileio-link"), Some(link.clone()));
    let key = link.rsplit('/').next().unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--noproxy",
            "*",
            &format!("{}/{key}", a.url),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout == bytes,
        "the file differs from what was uploaded"
    );
}
/// `POST /tus/` with `Upload-Defer-Length: 1`; 201 asserted. Returns the upload's path.
async fn create_deferred(api: &Api, key: Option<&str>) -> String {
    let mut r = tus("POST", "/tus/").header("upload-defer-length", "1");
    if let Some(k) = key {
        r = r.key(k);
    }
    let a = api.go(r).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    assert_eq!(a.header("upload-length"), None);
    assert_eq!(a.header("upload-defer-length"), Some("1"));
    let location = a.header("location").unwrap();
    location
        .strip_prefix("http://files.test")
        .unwrap()
        .to_string()
}

/// A PATCH whose body has no Content-Length, as a stream of unknown length is sent.
async fn patch_chunked(
    api: &Api,
    key: Option<&str>,
    path: &str,
    offset: u64,
    data: &[u8],
) -> Answer {
    let mut r = tus("PATCH", path)
        .header("upload-offset", &offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .raw(data);
    if let Some(k) = key {
        r = r.key(k);
    }
    let mut request = r.build();
    request.headers_mut().remove("content-length");
    api.call(request).await
}

/// creation-defer-length: the length is unknown at creation (HEAD says so), bytes come
/// before it, it is declared once (the same value again is a retried last PATCH; another is
/// refused), never below what is stored, and the upload completes when it is reached.
async fn a_deferred_length_is_declared_once_in_a_later_patch(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create_deferred(&api, Some(KEY)).await;
    let h = head(&api, Some(KEY), &path).await;
    assert_eq!(
        (h.header("upload-offset"), h.header("upload-length")),
        (Some("0"), None)
    );
    assert_eq!(h.header("upload-defer-length"), Some("1"));
    let a = patch_chunked(&api, Some(KEY), &path, 0, b"hello ").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert_eq!(a.header("upload-offset"), Some("6"));
    assert_eq!(a.header("fileio-link"), None);
    let a = patch_chunked(&api, Some(KEY), &path, 6, b"world").await;
    assert_eq!(a.header("upload-offset"), Some("11"));
    // Not complete while the length is unknown: GET says so, nothing is listed.
    let a = api.go(tus("GET", &path).key(KEY)).await;
    assert_error(&a, 409, "CONFLICT");
    assert_eq!(api.go(req("GET", "/").key(KEY)).await.json()["count"], 0);
    // A length below what is stored is refused, and changes nothing.
    let a = api
        .go(tus("PATCH", &path)
            .key(KEY)
            .header("upload-offset", "11")
            .header("upload-length", "10")
            .header("content-type", "application/offset+octet-stream"))
        .await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert_eq!(
        head(&api, Some(KEY), &path).await.header("upload-length"),
        None
    );
    // The last PATCH: empty, with the length.
    let last = || {
        tus("PATCH", &path)
            .key(KEY)
            .header("upload-offset", "11")
            .header("upload-length", "11")
            .header("content-type", "application/offset+octet-stream")
    };
    let a = api.go(last()).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert_eq!(a.header("upload-length"), Some("11"));
    assert_eq!(a.header("upload-defer-length"), None);
    let link = a.header("fileio-link").unwrap().to_string();
    // Said again as it is (its answer was lost), it is answered again; another is refused.
    let a = api.go(last()).await;
    assert_eq!(a.header("fileio-link"), Some(link.as_str()));
    let a = api
        .go(tus("PATCH", &path)
            .key(KEY)
            .header("upload-offset", "11")
            .header("upload-length", "12")
            .header("content-type", "application/offset+octet-stream"))
        .await;
    assert_error(&a, 400, "BAD_REQUEST");
    let v = api.go(tus("GET", &path).key(KEY)).await.json();
    assert_eq!(v["size"], 11);
    let a = api.get_key(&key_of(&v)).await;
    assert_eq!(
        (a.status, &a.body[..]),
        (StatusCode::OK, &b"hello world"[..])
    );
    // A length given at creation cannot be changed by a PATCH either.
    let fixed = create(&api, Some(KEY), 5, &[]).await;
    let a = api
        .go(tus("PATCH", &fixed)
            .key(KEY)
            .header("upload-offset", "0")
            .header("upload-length", "4")
            .header("content-type", "application/offset+octet-stream")
            .raw(b"abcd"))
        .await;
    assert_error(&a, 400, "BAD_REQUEST");
    assert_eq!(
        head(&api, Some(KEY), &fixed).await.header("upload-offset"),
        Some("0")
    );
    assert_eq!(
        api.go(tus("DELETE", &fixed).key(KEY)).await.status,
        StatusCode::NO_CONTENT
    );
    // The length may come with the last bytes, and may be reached at once.
    let path = create_deferred(&api, None).await;
    let a = api
        .go(tus("PATCH", &path)
            .header("upload-offset", "0")
            .header("upload-length", "3")
            .header("content-type", "application/offset+octet-stream")
            .raw(b"abc"))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert!(a.header("fileio-link").is_some());
    assert_eq!(partials(&api), 0);
}

/// While the length is unknown, --max-size and the quota still bound the bytes: a PATCH
/// that would pass them is refused with 413 (before reading, given a Content-Length; at the
/// bound, streamed), and so is a declared length beyond them.
async fn a_deferred_upload_stays_within_max_size_and_the_quota(backend: Backend) {
    let api = Api::new(backend, |o| {
        o.max_size = Some(100);
        o.max_storage = Some(150);
    })
    .await;
    let path = create_deferred(&api, Some(KEY)).await;
    assert_eq!(
        patch(&api, Some(KEY), &path, 0, &[b'a'; 60]).await.status,
        StatusCode::NO_CONTENT
    );
    // 60 + 41 > 100, with a Content-Length: refused before a byte is read.
    let a = patch(&api, Some(KEY), &path, 60, &[b'b'; 41]).await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    assert!(a.json()["message"].as_str().unwrap().contains("100 bytes"));
    assert_eq!(
        head(&api, Some(KEY), &path).await.header("upload-offset"),
        Some("60")
    );
    // Streamed: refused at the bound; nothing beyond it is stored.
    let a = patch_chunked(&api, Some(KEY), &path, 60, &[b'b'; 41]).await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    let offset: u64 = head(&api, Some(KEY), &path)
        .await
        .header("upload-offset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(offset <= 100, "{offset}");
    // A declared length beyond --max-size.
    let a = api
        .go(tus("PATCH", &path)
            .key(KEY)
            .header("upload-offset", &offset.to_string())
            .header("upload-length", "101")
            .header("content-type", "application/offset+octet-stream"))
        .await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    assert_eq!(
        head(&api, Some(KEY), &path).await.header("upload-length"),
        None
    );
    // The quota: the deferred upload counts what it holds, so another one has 150 - offset.
    let other = create_deferred(&api, Some(KEY)).await;
    let left = 150 - offset;
    let a = patch(&api, Some(KEY), &other, 0, &vec![b'c'; left as usize + 1]).await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
    assert!(
        a.json()["message"]
            .as_str()
            .unwrap()
            .contains("storage allowance"),
        "{}",
        a.text()
    );
    let a = patch(&api, Some(KEY), &other, 0, &vec![b'c'; left as usize]).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    // The quota is full: a new deferred upload is refused at creation.
    let a = api
        .go(tus("POST", "/tus/")
            .key(KEY)
            .header("upload-defer-length", "1"))
        .await;
    assert_error(&a, 413, "FILE_TOO_LARGE");
}

/// `Upload-Checksum` of `data` under `algorithm`.
fn digest(algorithm: &str, data: &[u8]) -> String {
    use sha2::Digest;
    let d = match algorithm {
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        _ => sha2::Sha512::digest(data).to_vec(),
    };
    format!(
        "{algorithm} {}",
        base64::engine::general_purpose::STANDARD.encode(d)
    )
}

/// checksum: a PATCH's body is hashed as it streams in; one that does not match gets 460
/// and none of its bytes are recorded (the offset stays, the next PATCH overwrites them);
/// an unknown algorithm or a malformed digest is refused with 400 before a byte is kept.
async fn a_body_that_does_not_match_its_checksum_records_nothing(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let path = create(&api, None, 11, &[]).await;
    let checked = |offset: u64, data: &'static [u8], sum: String| {
        tus("PATCH", &path)
            .header("upload-offset", &offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .header("upload-checksum", &sum)
            .raw(data)
    };
    let a = api
        .go(checked(0, b"hello ", digest("sha1", b"hello ")))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    assert_eq!(a.header("upload-offset"), Some("6"));
    // The digest of other bytes: 460, nothing recorded.
    let a = api.go(checked(6, b"WORLD", digest("sha1", b"world"))).await;
    assert_error(&a, 460, "CHECKSUM_MISMATCH");
    assert_eq!(
        head(&api, None, &path).await.header("upload-offset"),
        Some("6")
    );
    // Refused before a byte is kept: an unknown algorithm, a bad digest, a short one.
    for sum in [
        "crc32 AAAAAA==".to_string(),
        "sha1 not*base64".to_string(),
        "sha1 AAAA".to_string(),
        "sha1".to_string(),
    ] {
        let a = api.go(checked(6, b"WORLD", sum.clone())).await;
        assert_error(&a, 400, "BAD_REQUEST");
        assert_eq!(
            head(&api, None, &path).await.header("upload-offset"),
            Some("6"),
            "{sum}"
        );
    }
    // The right bytes complete it, under another algorithm; the wrong ones left no trace.
    let a = api
        .go(checked(6, b"world", digest("sha512", b"world")))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let v = api.go(tus("GET", &path)).await.json();
    let a = api.get_key(&key_of(&v)).await;
    assert_eq!(
        (a.status, &a.body[..]),
        (StatusCode::OK, &b"hello world"[..])
    );
    // With creation-with-upload too.
    let a = api
        .go(tus("POST", "/tus/")
            .header("upload-length", "3")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-checksum", &digest("sha256", b"abd"))
            .raw(b"abc"))
        .await;
    assert_error(&a, 460, "CHECKSUM_MISMATCH");
}
