//! The server's API in process, against its router: no separate process, no sockets, and
//! the store's clock in the test's hands, so expiry and leases are tested without sleeping.
//! A panic in a handler or in the store surfaces here, in the test that caused it.
//!
//! Every test runs twice, with the same assertions: on the embedded store (SQLite) and on
//! PostgreSQL (a fresh database on the test run's throwaway cluster), blobs on disk for both.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use fileio::server::auth::hash_key;
use fileio::server::meta::{
    Change, Completed, FileRow, Garbage, Inserted, LeaseId, ListQuery, Meta, MetaResult, NewFile,
    Outcome, Page, TusLock, TusRow,
};
use fileio::server::store::{Clock, Store};
use fileio::server::{App, Options};

pub(crate) const KEY: &str = "INPROC1.aaaaaaa-bbbbbbb-ccccccc";
pub(crate) const K1: &str = "KEYONE1.aaaaaaa-bbbbbbb-ccccccc-ddddddd";
pub(crate) const K2: &str = "KEYTWO2.eeeeeee-fffffff-ggggggg-hhhhhhh";

/// Where the store keeps its metadata.
pub(crate) enum Backend {
    Sqlite,
    /// The URL of a fresh database.
    Postgres(String),
}

/// Each named test, as `sqlite::NAME` and `postgres::NAME` (skipped, saying why, where
/// PostgreSQL is not installed).
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
                    let test = concat!("server_api::postgres::", stringify!($name));
                    let Some(cluster) = crate::pg_cluster::Cluster::shared(test) else {
                        return;
                    };
                    let url = cluster.database(stringify!($name));
                    super::$name(super::Backend::Postgres(url)).await
                }
            )*
        }
    };
}

on_both_backends!(
    requests_needing_a_key_and_bad_keys_get_401,
    expired_files_are_never_served,
    download_sends_headers_and_is_gone_after_one,
    head_never_counts_and_names_are_encoded,
    two_files_in_one_upload_are_refused,
    empty_fields_mean_not_given_and_auto_delete_off,
    classic_query_string_parameters,
    text_bodies_become_files,
    keys_cannot_see_or_touch_each_others_files,
    list_filters_sorts_and_pages,
    bad_values_get_400_saying_what_is_accepted,
    auto_delete_false_keeps_a_spent_file_that_an_update_revives,
    put_replaces_and_resets_patch_keeps,
    expiry_follows_the_stores_clock,
    the_sweep_deletes_what_expired_by_the_stores_clock,
    a_lease_that_ran_out_is_not_counted_late,
    leases_count_against_max_downloads_until_settled,
    put_gives_new_contents_a_new_blob_and_frees_the_old,
    gone_links_are_410_pages_saying_why_and_404_to_the_api,
    ranges_are_answered_206_and_only_the_last_byte_counts,
    a_range_short_of_the_end_needs_a_free_download,
    if_range_never_splices_replaced_contents,
    downloads_without_a_lease_count_up_to_the_last,
    no_more_downloads_are_delivered_in_full_than_allowed,
    small_downloads_without_a_lease_are_counted_before_the_answer,
    a_stale_unleased_download_is_delivered_but_not_counted,
    a_busy_file_is_counted_ahead_and_shows_what_was_delivered,
);

/// A router over a store in a temporary directory, with a clock the test moves.
pub(crate) struct Api {
    router: axum::Router,
    clock: Arc<Mutex<DateTime<Utc>>>,
    pub(crate) store: Arc<Store>,
    pub(crate) data: PathBuf,
    /// On SQLite (else PostgreSQL).
    sqlite: bool,
    _dir: tempfile::TempDir,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Api {
    pub(crate) async fn new(backend: Backend, configure: impl FnOnce(&mut Options)) -> Api {
        Api::with_store(backend, configure, |s| s).await
    }

    /// The same, with the store adjusted by `tweak` before it serves.
    async fn with_store(
        backend: Backend,
        configure: impl FnOnce(&mut Options),
        tweak: impl FnOnce(Store) -> Store,
    ) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut options = Options::new(data.clone());
        for k in [KEY, K1, K2] {
            options.key_hashes.insert(hash_key(k));
        }
        configure(&mut options);
        let start = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(Mutex::new(start));
        let c = clock.clone();
        let store_clock: Clock = Arc::new(move || *c.lock().unwrap());
        let sqlite = matches!(backend, Backend::Sqlite);
        let (store, _) = match backend {
            Backend::Sqlite => Store::open_local(&data, store_clock).await.unwrap(),
            Backend::Postgres(url) => Store::open_shared(
                &data,
                &url,
                None,
                Some(store_clock),
                fileio::server::blobs::STAGING_ABANDONED,
            )
            .await
            .unwrap(),
        };
        let store = Arc::new(tweak(store));
        let app = Arc::new(App {
            config: options,
            store: store.clone(),
            limiter: None,
            local_addr: "127.0.0.1:8080".parse().unwrap(),
        });
        Api {
            router: fileio::server::router(app),
            clock,
            store,
            data,
            sqlite,
            _dir: dir,
        }
    }

    pub(crate) fn advance(&self, by: chrono::Duration) {
        *self.clock.lock().unwrap() += by;
    }

    async fn send(&self, req: Request<Body>) -> axum::response::Response {
        let mut router = self.router.clone();
        tower_service::Service::call(&mut router, req)
            .await
            .unwrap()
    }

    pub(crate) async fn call(&self, req: Request<Body>) -> Answer {
        let resp = self.send(req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    fn get(&self, path: &str) -> Request<Body> {
        Request::get(path)
            .header("host", "files.test")
            .body(Body::empty())
            .unwrap()
    }

    /// `POST /` (or `PUT /key`) of a multipart form with a file and fields.
    fn form(
        &self,
        method: &str,
        path: &str,
        contents: &str,
        fields: &[(&str, &str)],
    ) -> Request<Body> {
        let mut body = String::new();
        for (k, v) in fields {
            body.push_str(&format!(
                "--b\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\r\n{contents}\r\n--b--\r\n"
        ));
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", "files.test")
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "multipart/form-data; boundary=b")
            .header("content-length", body.len())
            .body(Body::from(body))
            .unwrap()
    }

    async fn upload(&self, contents: &str, fields: &[(&str, &str)]) -> Value {
        let a = self.call(self.form("POST", "/", contents, fields)).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        a.json()
    }

    /// A request with the key, of `method` on `path`, with a urlencoded body.
    fn with_key(&self, method: &str, path: &str, form: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", "files.test")
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap()
    }

    /// An anonymous upload.
    async fn upload_anonymous(&self, contents: &str, fields: &[(&str, &str)]) -> Value {
        let mut req = self.form("POST", "/", contents, fields);
        req.headers_mut().remove("authorization");
        let a = self.call(req).await;
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        a.json()
    }

    fn blob_of(&self, key: &str) -> bool {
        std::fs::read_dir(self.data.join("blobs"))
            .unwrap()
            .any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{key}-"))
            })
    }

    pub(crate) fn blobs(&self) -> usize {
        std::fs::read_dir(self.data.join("blobs")).unwrap().count()
    }
}

/// An error answer in file.io's v2 shape, with its help link on this server.
pub(crate) fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(
        a.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let v = a.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["status"], status);
    assert_eq!(v["code"], code);
    assert_eq!(
        v["help"],
        format!("http://files.test/help/api/errors/{code}").as_str()
    );
    assert!(v["key"].is_null());
    assert!(v["message"].as_str().unwrap().ends_with('.'));
}

/// Moved from tests/cli/server.rs, where it slept past a 1 s expiry.
async fn expired_files_are_never_served(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api
        .upload_anonymous("soon", &[("expires", "1s"), ("autoDelete", "true")])
        .await;
    assert_eq!(v["expiry"], "1 second");
    let gone = v["key"].as_str().unwrap().to_string();
    let kept = api
        .upload("soon", &[("expires", "1s"), ("autoDelete", "false")])
        .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    api.advance(chrono::Duration::milliseconds(1100));
    assert_error(
        &api.call(api.get(&format!("/{gone}"))).await,
        404,
        "FILE_NOT_FOUND",
    );
    assert!(!api.blob_of(&gone));
    let head = Request::head(format!("/{kept}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.call(head).await.status, 404);
    assert_error(
        &api.call(api.get(&format!("/{kept}"))).await,
        404,
        "FILE_NOT_FOUND",
    );
    // Kept without autoDelete: still listed, and a new expiry revives it.
    assert_eq!(
        api.call(api.with_key("GET", "/", "")).await.json()["count"],
        1
    );
    let r = api
        .call(api.with_key("PATCH", &format!("/{kept}"), "expires=1h"))
        .await;
    assert_eq!(r.json()["expiry"], "1 hour");
    assert_eq!(api.call(api.get(&format!("/{kept}"))).await.body, b"soon");
}

/// One part of a multipart form, as `curl -F` sends it.
enum Part<'a> {
    /// `file=@path` (with `;filename=` and `;type=` when given).
    File {
        filename: &'a str,
        ctype: Option<&'a str>,
        data: &'a [u8],
    },
    /// `name=value`.
    Field(&'a str, &'a str),
}

fn file<'a>(filename: &'a str, data: &'a [u8]) -> Part<'a> {
    Part::File {
        filename,
        ctype: None,
        data,
    }
}

/// A request being built, as a curl command line would describe it.
pub(crate) struct Req {
    builder: axum::http::request::Builder,
    body: Vec<u8>,
}

pub(crate) fn req(method: &str, path: &str) -> Req {
    Req {
        builder: Request::builder()
            .method(method)
            .uri(path)
            .header("host", "files.test"),
        body: Vec::new(),
    }
}

impl Req {
    pub(crate) fn key(self, key: &str) -> Req {
        self.header("authorization", &format!("Bearer {key}"))
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Req {
        self.builder = self.builder.header(name, value);
        self
    }

    /// `-F` parts.
    fn parts(mut self, parts: &[Part<'_>]) -> Req {
        let mut body = Vec::new();
        for p in parts {
            match p {
                Part::File {
                    filename,
                    ctype,
                    data,
                } => {
                    body.extend(
                        format!(
                            "--XbX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                        )
                        .bytes(),
                    );
                    if let Some(t) = ctype {
                        body.extend(format!("Content-Type: {t}\r\n").bytes());
                    }
                    body.extend(b"\r\n");
                    body.extend(*data);
                    body.extend(b"\r\n");
                }
                Part::Field(name, value) => body.extend(
                    format!(
                        "--XbX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                    )
                    .bytes(),
                ),
            }
        }
        body.extend(b"--XbX--\r\n");
        self.body = body;
        self.header("content-type", "multipart/form-data; boundary=XbX")
    }

    /// A body as it is (`--data-binary`), without a content type.
    pub(crate) fn raw(mut self, data: &[u8]) -> Req {
        self.body = data.to_vec();
        self
    }

    /// `-d` (already urlencoded).
    pub(crate) fn form(mut self, data: &str) -> Req {
        self.body = data.as_bytes().to_vec();
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    pub(crate) fn build(self) -> Request<Body> {
        let len = self.body.len().to_string();
        let builder = if self.body.is_empty() {
            self.builder
        } else {
            self.builder.header("content-length", len)
        };
        builder.body(Body::from(self.body)).unwrap()
    }
}

impl Api {
    pub(crate) async fn go(&self, r: Req) -> Answer {
        self.call(r.build()).await
    }

    /// `upload()` of tests/cli/server.rs: a file and fields, 200 asserted.
    pub(crate) async fn put_file(
        &self,
        key: Option<&str>,
        name: &str,
        data: &[u8],
        fields: &[(&str, &str)],
    ) -> Value {
        let mut parts = vec![file(name, data)];
        parts.extend(fields.iter().map(|(k, v)| Part::Field(k, v)));
        let mut r = req("POST", "/").parts(&parts);
        if let Some(k) = key {
            r = r.key(k);
        }
        let a = self.go(r).await;
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()
    }

    pub(crate) async fn get_key(&self, key: &str) -> Answer {
        self.go(req("GET", &format!("/{key}"))).await
    }

    pub(crate) fn tmp_count(&self) -> usize {
        std::fs::read_dir(self.data.join("tmp")).unwrap().count()
    }
}

pub(crate) fn key_of(v: &Value) -> String {
    v["key"].as_str().unwrap().to_string()
}

// Moved from tests/cli/server.rs (they need no process: default flags, no sockets).

async fn download_sends_headers_and_is_gone_after_one(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(&api.put_file(None, "notes.txt", b"hello world\n", &[]).await);
    let r = api
        .go(req("GET", &format!("/{key}")).header("accept", "*/*"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello world\n");
    assert_eq!(r.header("content-length"), Some("12"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"notes.txt\"")
    );
    assert_error(&api.get_key(&key).await, 404, "FILE_NOT_FOUND");
    assert!(!api.blob_of(&key));
    assert_error(&api.get_key("nosuchkey123").await, 404, "FILE_NOT_FOUND");
}

async fn head_never_counts_and_names_are_encoded(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let r = api
        .go(req("POST", "/").parts(&[Part::File {
            filename: "dir/sub/résumé v2.bin",
            ctype: Some("application/octet-stream"),
            data: &[0u8, 1, 2, 3],
        }]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "résumé v2.bin");
    assert_eq!(v["mimeType"], "application/octet-stream");
    let key = key_of(&v);
    for _ in 0..3 {
        let h = api.go(req("HEAD", &format!("/{key}"))).await;
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-length"), Some("4"));
        assert!(h.body.is_empty());
        assert_eq!(
            h.header("content-disposition"),
            Some(
                "attachment; filename=\"r_sum_ v2.bin\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20v2.bin"
            )
        );
    }
    assert_eq!(api.get_key(&key).await.body, [0u8, 1, 2, 3]);
    assert_eq!(api.go(req("HEAD", &format!("/{key}"))).await.status, 404);
}

async fn two_files_in_one_upload_are_refused(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let r = api
        .go(req("POST", "/").parts(&[file("a.txt", b"a"), file("a.txt", b"a")]))
        .await;
    assert_error(&r, 400, "BAD_REQUEST");
    let r = api
        .go(req("POST", "/").parts(&[Part::Field("expires", "1d")]))
        .await;
    assert_error(&r, 400, "BAD_REQUEST");
    assert!(r.json()["message"].as_str().unwrap().contains("'file'"));
    assert_eq!(api.tmp_count(), 0);
}

async fn empty_fields_mean_not_given_and_auto_delete_off(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api
        .put_file(
            None,
            "e.txt",
            b"e",
            &[("expires", ""), ("maxDownloads", ""), ("autoDelete", "")],
        )
        .await;
    assert_eq!(v["expiry"], "14 days");
    assert_eq!(v["maxDownloads"], 1);
    assert_eq!(v["autoDelete"], false);
    let r = api
        .go(req("POST", "/?expires=&maxDownloads=").parts(&[file("e.txt", b"e")]))
        .await;
    assert_eq!(r.json()["expiry"], "14 days");
}

async fn classic_query_string_parameters(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let q = file("q.txt", b"q");
    let r = api
        .go(req("POST", "/?expires=1w&maxDownloads=3&expiry=bogus&color=red").parts(&[q]))
        .await;
    let v = r.json();
    assert_eq!(v["expiry"], "7 days");
    assert_eq!(v["maxDownloads"], 3);
    let v = api
        .go(req("POST", "/?expires=2").parts(&[file("q.txt", b"q")]))
        .await
        .json();
    assert_eq!(v["expiry"], "2 days");
    // A form field wins over the query string.
    let v = api
        .go(req("POST", "/?expires=2").parts(&[file("q.txt", b"q"), Part::Field("expires", "3h")]))
        .await
        .json();
    assert_eq!(v["expiry"], "3 hours");
    for e in ["20991231T235959", "2099-12-31T23:59:59Z", "2099-12-31"] {
        let v = api.put_file(None, "q.txt", b"q", &[("expires", e)]).await;
        assert!(
            v["expires"].as_str().unwrap().starts_with("2099-12-31T"),
            "{e}: {v}"
        );
    }
}

async fn text_bodies_become_files(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    // curl --data-urlencode "text=hello world & more" -d maxDownloads=2
    let r = api
        .go(req("POST", "/").form("text=hello%20world%20%26%20more&maxDownloads=2"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "text.txt");
    assert_eq!(v["maxDownloads"], 2);
    assert_eq!(v["size"], 18);
    let d = api.get_key(&key_of(&v)).await;
    assert_eq!(d.body, b"hello world & more");
    assert!(d.header("content-type").unwrap().starts_with("text/plain"));
    let v = api
        .go(req("POST", "/").parts(&[Part::Field("text", "multipart text")]))
        .await
        .json();
    assert_eq!(api.get_key(&key_of(&v)).await.body, b"multipart text");
}

async fn keys_cannot_see_or_touch_each_others_files(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(&api.put_file(Some(K1), "mine.txt", b"mine", &[]).await);
    let url = format!("/{key}");
    assert_eq!(api.go(req("GET", "/").key(K2)).await.json()["count"], 0);
    assert_error(
        &api.go(req("DELETE", &url).key(K2)).await,
        404,
        "FILE_NOT_FOUND",
    );
    assert_error(
        &api.go(req("PATCH", &url)
            .key(K2)
            .parts(&[Part::Field("maxDownloads", "9")]))
            .await,
        404,
        "FILE_NOT_FOUND",
    );
    assert_error(
        &api.go(req("PUT", &url).key(K2).parts(&[file("mine.txt", b"mine")]))
            .await,
        404,
        "FILE_NOT_FOUND",
    );
    assert_eq!(
        api.go(req("GET", "/me").key(K2)).await.json()["usedStorageBytes"],
        0
    );
    // Anonymous files belong to no key.
    let anon = key_of(&api.put_file(None, "mine.txt", b"mine", &[]).await);
    assert_error(
        &api.go(req("DELETE", &format!("/{anon}")).key(K1)).await,
        404,
        "FILE_NOT_FOUND",
    );
    assert_eq!(api.go(req("GET", "/").key(K1)).await.json()["count"], 1);
    let r = api.go(req("DELETE", &url).key(K1)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"success":true,"status":200}"#);
    assert!(!api.blob_of(&key));
    assert_error(&api.get_key(&key).await, 404, "FILE_NOT_FOUND");
    assert_error(
        &api.go(req("DELETE", &url).key(K1)).await,
        404,
        "FILE_NOT_FOUND",
    );
    // The database holds digests, never keys (on PostgreSQL only those tables hold owners,
    // and this test cannot read them).
    if !api.sqlite {
        return;
    }
    let db = std::fs::read(api.data.join("fileio.db")).unwrap();
    let wal = std::fs::read(api.data.join("fileio.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(K1.len()).any(|w| w == K1.as_bytes()));
    }
}

async fn requests_needing_a_key_and_bad_keys_get_401(backend: Backend) {
    use base64::Engine;
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(&api.put_file(None, "a.txt", b"a", &[]).await);
    let url = format!("/{key}");
    let basic = |user: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
        )
    };
    for r in [
        req("GET", "/"),
        req("GET", "/me"),
        req("DELETE", &url),
        req("PATCH", &url).parts(&[Part::Field("maxDownloads", "2")]),
        req("GET", "/me").header("authorization", "Bearer not-a-key"),
        req("POST", "/")
            .header("authorization", "Bearer not-a-key")
            .parts(&[file("a.txt", b"a")]),
        req("GET", "/").header("authorization", &basic("not-a-key")),
        req("GET", "/").header("authorization", "Token abc"),
        req("GET", &url).header("authorization", "Bearer not-a-key"),
    ] {
        assert_error(&api.go(r).await, 401, "UNAUTHORIZED");
    }
    // Refused downloads do not count.
    assert_eq!(api.get_key(&key).await.status, 200);
    // HTTP Basic with the key as user name works.
    let r = api
        .go(req("GET", "/").header("authorization", &basic(K1)))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["nodes"], serde_json::json!([]));
}

async fn list_filters_sorts_and_pages(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    for (name, size) in [("b.txt", 3), ("a.txt", 10), ("c.log", 1), ("ab.txt", 5)] {
        api.put_file(Some(K1), name, &vec![b'x'; size], &[("maxDownloads", "2")])
            .await;
        // Distinct creation times, by the store's clock.
        api.advance(chrono::Duration::milliseconds(5));
    }
    api.put_file(Some(K2), "a2.txt", b"other", &[]).await;
    let names = async |query: &str| -> (Vec<String>, Value, Value) {
        let r = api.go(req("GET", &format!("/?{query}")).key(K1)).await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        let v = r.json();
        let names = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        (names, v["count"].clone(), v["size"].clone())
    };
    let (n, count, size) = names("sort=name").await;
    assert_eq!(n, ["a.txt", "ab.txt", "b.txt", "c.log"]);
    assert_eq!((count, size), (4.into(), 19.into()));
    assert_eq!(
        names("sort=-size").await.0,
        ["a.txt", "ab.txt", "b.txt", "c.log"]
    );
    assert_eq!(
        names("sort=size").await.0,
        ["c.log", "b.txt", "ab.txt", "a.txt"]
    );
    let (n, count, size) = names("search=A&sort=name").await;
    assert_eq!(n, ["a.txt", "ab.txt"]);
    assert_eq!((count, size), (2.into(), 15.into()));
    let (n, count, _) = names("sort=name&offset=1&limit=2").await;
    assert_eq!(n, ["ab.txt", "b.txt"]);
    assert_eq!(count, 4);
    assert_eq!(names("search=.txt&sort=-name&limit=1").await.0, ["b.txt"]);
    assert_eq!(names("sort=created&limit=").await.0.len(), 4);
    assert_eq!(
        names("sort=-created").await.0,
        ["ab.txt", "c.log", "a.txt", "b.txt"]
    );
    assert_eq!(names("sort=expires&search=b").await.0, ["b.txt", "ab.txt"]);
    for bad in ["limit=-1", "offset=x", "sort=colour"] {
        let r = api.go(req("GET", &format!("/?{bad}")).key(K1)).await;
        assert_error(&r, 400, "BAD_REQUEST");
    }
}

async fn bad_values_get_400_saying_what_is_accepted(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    for e in ["bogus", "0", "10 days", "1.5h", "2020-01-01"] {
        let r = api
            .go(req("POST", "/").parts(&[file("a.txt", b"a"), Part::Field("expires", e)]))
            .await;
        assert_error(&r, 400, "BAD_REQUEST");
        let msg = r.json()["message"].as_str().unwrap().to_string();
        if e == "2020-01-01" {
            assert!(msg.contains("in the past"), "{msg}");
        } else {
            assert!(msg.contains(fileio::expires::ACCEPTED), "{msg}");
        }
    }
    let r = api
        .go(req("POST", "/?expires=nope").parts(&[file("a.txt", b"a")]))
        .await;
    assert_error(&r, 400, "BAD_REQUEST");
    for (name, value, word) in [
        ("maxDownloads", "0", "at least 1"),
        ("maxDownloads", "x", "at least 1"),
        ("autoDelete", "maybe", "true or false"),
    ] {
        let r = api
            .go(req("POST", "/").parts(&[file("a.txt", b"a"), Part::Field(name, value)]))
            .await;
        assert_error(&r, 400, "BAD_REQUEST");
        assert!(r.json()["message"].as_str().unwrap().contains(word));
    }
    let mut r = req("POST", "/").header("content-type", "application/json");
    r.body = b"{}".to_vec();
    assert_error(&api.go(r).await, 400, "BAD_REQUEST");
    assert_eq!(api.blobs(), 0);
    assert_eq!(api.tmp_count(), 0);
}

async fn auto_delete_false_keeps_a_spent_file_that_an_update_revives(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(
        &api.put_file(Some(K1), "keep.txt", b"keep me", &[("autoDelete", "false")])
            .await,
    );
    assert_eq!(api.get_key(&key).await.status, 200);
    assert_error(&api.get_key(&key).await, 404, "FILE_NOT_FOUND");
    assert!(api.blob_of(&key));
    let list = api.go(req("GET", "/").key(K1)).await.json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["nodes"][0]["downloads"], 1);
    let r = api
        .go(req("PATCH", &format!("/{key}?maxDownloads=2")).key(K1))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["downloads"], 1);
    assert_eq!(v["maxDownloads"], 2);
    assert_eq!(v["autoDelete"], false);
    assert_eq!(api.get_key(&key).await.body, b"keep me");
    assert_eq!(api.get_key(&key).await.status, 404);
    // Still listed, and storage still counted.
    let me = api.go(req("GET", "/me").key(K1)).await.json();
    assert_eq!(me["usedStorageBytes"], 7);
}

async fn put_replaces_and_resets_patch_keeps(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api
        .put_file(
            Some(K1),
            "one.txt",
            b"first",
            &[
                ("maxDownloads", "5"),
                ("autoDelete", "false"),
                ("expires", "1w"),
            ],
        )
        .await;
    let key = key_of(&v);
    let url = format!("/{key}");
    assert_eq!(api.get_key(&key).await.status, 200);
    api.advance(chrono::Duration::seconds(1));

    // PATCH by urlencoded form: only expires changes.
    let r = api.go(req("PATCH", &url).key(K1).form("expires=2d")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["expiry"], "2 days");
    assert_eq!(p["maxDownloads"], 5);
    assert_eq!(p["autoDelete"], false);
    assert_eq!(p["downloads"], 1);
    assert_eq!(p["name"], "one.txt");
    assert_eq!(p["created"], v["created"]);
    assert_ne!(p["modified"], v["modified"]);
    // PATCH by multipart with a new file.
    let r = api
        .go(req("PATCH", &url)
            .key(K1)
            .parts(&[file("two.txt", b"second!")]))
        .await;
    let p = r.json();
    assert_eq!(
        (p["name"].as_str(), p["size"].as_u64()),
        (Some("two.txt"), Some(7))
    );
    assert_eq!(p["maxDownloads"], 5);
    assert_eq!(p["expiry"], "2 days");

    // PUT needs a file...
    let r = api
        .go(req("PUT", &url)
            .key(K1)
            .parts(&[Part::Field("maxDownloads", "2")]))
        .await;
    assert_error(&r, 400, "BAD_REQUEST");
    assert!(r.json()["message"].as_str().unwrap().contains("PATCH"));
    // ...and resets what is not given.
    let r = api
        .go(req("PUT", &url)
            .key(K1)
            .parts(&[file("three.txt", b"third")]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = r.json();
    assert_eq!(p["key"], key.as_str());
    assert_eq!(p["name"], "three.txt");
    assert_eq!(p["maxDownloads"], 1);
    assert_eq!(p["autoDelete"], true);
    assert_eq!(p["downloads"], 0);
    assert_eq!(p["expiry"], "14 days");
    assert_eq!(api.get_key(&key).await.body, b"third");
    assert_eq!(api.get_key(&key).await.status, 404);
    assert_error(
        &api.go(req("PATCH", &url).key(K1).form("expires=1d")).await,
        404,
        "FILE_NOT_FOUND",
    );
}

async fn expiry_follows_the_stores_clock(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api
        .upload("soon gone", &[("expires", "1h"), ("maxDownloads", "5")])
        .await;
    assert_eq!(v["expiry"], "1 hour");
    assert_eq!(v["expires"], "2030-01-01T13:00:00.000Z");
    assert_eq!(v["created"], "2030-01-01T12:00:00.000Z");
    assert_eq!(
        v["link"],
        format!("http://files.test/{}", v["key"].as_str().unwrap()).as_str()
    );
    let key = v["key"].as_str().unwrap().to_string();
    api.advance(chrono::Duration::minutes(59));
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 200);
    api.advance(chrono::Duration::minutes(1));
    let a = api.call(api.get(&format!("/{key}"))).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["code"], "FILE_NOT_FOUND");
    // The lookup dropped the expired file (auto-delete), contents included.
    assert_eq!(api.blobs(), 0);
}

async fn the_sweep_deletes_what_expired_by_the_stores_clock(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    api.upload("a day", &[("expires", "1d")]).await;
    api.upload("a week", &[("expires", "1w")]).await;
    assert_eq!(api.store.sweep().await.unwrap(), 0);
    api.advance(chrono::Duration::days(2));
    assert_eq!(api.store.sweep().await.unwrap(), 1);
    assert_eq!(api.blobs(), 1);
    let list = api
        .call(
            Request::get("/")
                .header("authorization", format!("Bearer {KEY}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["nodes"][0]["expiry"], "5 days");
}

async fn a_lease_that_ran_out_is_not_counted_late(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api.upload("one time", &[]).await;
    let key = v["key"].as_str().unwrap().to_string();
    // A download starts (its headers are out), then its instance stalls past the lease.
    let stalled = api.send(api.get(&format!("/{key}"))).await;
    assert_eq!(stalled.status(), 200);
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    api.advance(chrono::Duration::minutes(2));
    // The file is downloadable again, and this download counts...
    let again = api.call(api.get(&format!("/{key}"))).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, b"one time");
    assert_eq!(api.blobs(), 0);
    // ...while the stalled one, finishing late, is refused: nothing is counted twice, and
    // its open contents still read in full.
    let late = axum::body::to_bytes(stalled.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&late[..], b"one time");
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
}

async fn leases_count_against_max_downloads_until_settled(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api.upload("twice", &[("maxDownloads", "2")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    let first = api.send(api.get(&format!("/{key}"))).await;
    let second = api.send(api.get(&format!("/{key}"))).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    // A download dropped before its end gives its lease back.
    drop(first);
    let mut got = None;
    for _ in 0..100 {
        let a = api.call(api.get(&format!("/{key}"))).await;
        if a.status == 200 {
            got = Some(a);
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        got.expect("the dropped download's lease given back").body,
        b"twice"
    );
    let last = axum::body::to_bytes(second.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&last[..], b"twice");
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    assert_eq!(api.blobs(), 0);
}

async fn put_gives_new_contents_a_new_blob_and_frees_the_old(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let v = api.upload("old", &[("maxDownloads", "3")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    let old = api.send(api.get(&format!("/{key}"))).await;
    api.advance(chrono::Duration::hours(1));
    let a = api
        .call(api.form("PUT", &format!("/{key}"), "new", &[]))
        .await;
    assert_eq!(a.status, 200);
    let v = a.json();
    assert_eq!(v["modified"], "2030-01-01T13:00:00.000Z");
    assert_eq!(v["expiry"], "14 days");
    assert_eq!(v["maxDownloads"], 1);
    assert_eq!(api.blobs(), 1);
    // The old download still reads the old contents, and does not spend the new ones.
    let body = axum::body::to_bytes(old.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"old");
    let a = api.call(api.get(&format!("/{key}"))).await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"new"[..]));
}

/// With a headroom of 1, a file allowing 4 downloads goes without leases for its first 3
/// (on SQLite; PostgreSQL leases every one) and with one for the last: each counts, and
/// the fifth finds nothing.
async fn downloads_without_a_lease_count_up_to_the_last(backend: Backend) {
    let api = Api::with_store(backend, |_| {}, |s| s.with_unleased_headroom(1)).await;
    let v = api.upload("four", &[("maxDownloads", "4")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    for n in 1..=4 {
        let a = api.call(api.get(&format!("/{key}"))).await;
        assert_eq!(
            (a.status, &a.body[..]),
            (StatusCode::OK, &b"four"[..]),
            "#{n}"
        );
        if n < 4 {
            let list = api.call(api.with_key("GET", "/", "")).await.json();
            assert_eq!(list["nodes"][0]["downloads"], n, "#{n}");
        }
    }
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    assert_eq!(api.blobs(), 0);
}

/// Larger than one chunk of a download (160 KiB): sent as a stream, counted just before its
/// last chunk goes out (a smaller file read at once is counted before the answer).
fn streamed(word: &str) -> String {
    word.repeat(256 * 1024 / word.len())
}

/// Downloads that start together near the end: on SQLite with no headroom the first two go
/// without a lease and the third takes one (nothing counts it against them yet), so three
/// start for two downloads; the count that finds none left cuts its download off before
/// its last bytes. Whatever the backend, exactly two are delivered in full.
async fn no_more_downloads_are_delivered_in_full_than_allowed(backend: Backend) {
    let api = Api::with_store(backend, |_| {}, |s| s.with_unleased_headroom(0)).await;
    let contents = streamed("twice");
    let v = api.upload(&contents, &[("maxDownloads", "2")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    let mut started = vec![];
    for _ in 0..3 {
        let r = api.send(api.get(&format!("/{key}"))).await;
        if r.status() == StatusCode::OK {
            started.push(r);
        }
    }
    if api.sqlite {
        assert_eq!(started.len(), 3, "two unleased downloads and a leased one");
    }
    let mut full = 0;
    for r in started {
        match axum::body::to_bytes(r.into_body(), usize::MAX).await {
            Ok(body) => {
                assert!(body == contents.as_bytes());
                full += 1;
            }
            Err(e) => assert!(format!("{e:?}").contains("none is left"), "{e:?}"),
        }
    }
    assert_eq!(full, 2);
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    assert_eq!(api.blobs(), 0);
}

/// A small file without a lease is read whole before the answer, and counted then (the
/// answer goes out as one buffer, with its head): a download started near the end is
/// counted before its headers, so one with none left is a 404, never a body cut off.
async fn small_downloads_without_a_lease_are_counted_before_the_answer(backend: Backend) {
    let api = Api::with_store(backend, |_| {}, |s| s.with_unleased_headroom(0)).await;
    let v = api.upload("twice", &[("maxDownloads", "2")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    let first = api.send(api.get(&format!("/{key}"))).await;
    assert_eq!(first.status(), StatusCode::OK);
    if api.sqlite {
        // Counted with its body unread.
        let list = api.call(api.with_key("GET", "/", "")).await.json();
        assert_eq!(list["nodes"][0]["downloads"], 1, "{list}");
    }
    let second = api.send(api.get(&format!("/{key}"))).await;
    assert_eq!(second.status(), StatusCode::OK);
    if api.sqlite {
        assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    }
    for r in [first, second] {
        let body = axum::body::to_bytes(r.into_body(), usize::MAX).await;
        assert_eq!(&body.unwrap()[..], b"twice");
    }
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
    assert_eq!(api.blobs(), 0);
}

/// A download of contents replaced while it streams, without a lease as with one: read in
/// full, counted against nothing.
async fn a_stale_unleased_download_is_delivered_but_not_counted(backend: Backend) {
    let api = Api::with_store(backend, |_| {}, |s| s.with_unleased_headroom(0)).await;
    let contents = streamed("old");
    let v = api.upload(&contents, &[("maxDownloads", "3")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    let old = api.send(api.get(&format!("/{key}"))).await;
    assert_eq!(old.status(), 200);
    let a = api
        .call(api.form("PUT", &format!("/{key}"), "new", &[]))
        .await;
    assert_eq!(a.status, 200);
    let body = axum::body::to_bytes(old.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(body == contents.as_bytes());
    let a = api.call(api.get(&format!("/{key}"))).await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"new"[..]));
    assert_eq!(api.call(api.get(&format!("/{key}"))).await.status, 404);
}

/// A busy file with plenty left is counted a block at a time on SQLite (PostgreSQL leases
/// every download): the database holds the block, the API shows the downloads delivered,
/// a change takes the rest back first, and so do an idle spell and a stop.
async fn a_busy_file_is_counted_ahead_and_shows_what_was_delivered(backend: Backend) {
    use fileio::server::store::{PREPAID_BLOCK, PREPAID_IDLE};
    let api = Api::new(backend, |_| {}).await;
    let v = api.upload("busy", &[("maxDownloads", "100000")]).await;
    let key = v["key"].as_str().unwrap().to_string();
    let stored = || -> Option<u32> {
        api.sqlite.then(|| {
            let db = rusqlite::Connection::open(api.data.join("fileio.db")).unwrap();
            db.query_row("SELECT downloads FROM files WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .unwrap()
        })
    };
    let shown = || async {
        let list = api.call(api.with_key("GET", "/", "")).await.json();
        list["nodes"][0]["downloads"].as_u64().unwrap()
    };
    let download = || async {
        let a = api.call(api.get(&format!("/{key}"))).await;
        assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"busy"[..]));
    };
    for _ in 0..100 {
        download().await;
    }
    assert_eq!(shown().await, 100);
    if let Some(n) = stored() {
        // The first counts itself, the rest take blocks: 1 + 64 + 64.
        assert_eq!(n, 1 + 2 * PREPAID_BLOCK, "counted ahead");
    }
    // A change first takes back what was counted ahead.
    let a = api
        .call(api.with_key("PATCH", &format!("/{key}"), "maxDownloads=5000"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["downloads"], 100);
    assert_eq!(stored().unwrap_or(100), 100);
    for _ in 0..10 {
        download().await;
    }
    assert_eq!(shown().await, 110);
    // Idle for a while: the rest goes back.
    tokio::time::sleep(PREPAID_IDLE + std::time::Duration::from_millis(100)).await;
    api.store.refund_idle(false).await;
    assert_eq!(stored().unwrap_or(110), 110);
    assert_eq!(shown().await, 110);
    for _ in 0..3 {
        download().await;
    }
    // At a stop, everything goes back.
    api.store.refund_idle(true).await;
    assert_eq!(stored().unwrap_or(113), 113);
    assert_eq!(shown().await, 113);
    // New contents start from nothing, blocks counted against the old ones or not.
    for _ in 0..3 {
        download().await;
    }
    let a = api
        .call(api.form(
            "PUT",
            &format!("/{key}"),
            "new",
            &[("maxDownloads", "100000")],
        ))
        .await;
    assert_eq!(
        (a.status, &a.json()["downloads"]),
        (StatusCode::OK, &0.into())
    );
    assert_eq!(stored().unwrap_or(0), 0);
    let a = api.call(api.get(&format!("/{key}"))).await;
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"new"[..]));
    assert_eq!(shown().await, 1);
}

/// A metadata backend that fails loudly: the harness must let that reach the test.
struct PanickingMeta;

impl Meta for PanickingMeta {
    fn now(&self) -> MetaResult<'_, DateTime<Utc>> {
        Box::pin(async { Ok(Utc::now()) })
    }
    fn insert(&self, _: NewFile) -> MetaResult<'_, Inserted> {
        unimplemented!()
    }
    fn peek(&self, _: String) -> MetaResult<'_, Outcome<FileRow>> {
        unimplemented!()
    }
    fn available(&self, _: String) -> MetaResult<'_, Outcome<FileRow>> {
        unimplemented!()
    }
    fn update(&self, _: Change) -> MetaResult<'_, Outcome<FileRow>> {
        unimplemented!()
    }
    fn delete(&self, _: String, _: String) -> MetaResult<'_, Outcome<()>> {
        unimplemented!()
    }
    fn list(&self, _: ListQuery) -> MetaResult<'_, Page> {
        Box::pin(async { panic!("boom in list") })
    }
    fn used(&self, _: Option<String>) -> MetaResult<'_, u64> {
        unimplemented!()
    }
    fn reserve(
        &self,
        _: String,
        _: std::time::Duration,
    ) -> MetaResult<'_, Outcome<(FileRow, LeaseId)>> {
        unimplemented!()
    }
    fn renew(&self, _: LeaseId, _: std::time::Duration) -> MetaResult<'_, bool> {
        unimplemented!()
    }
    fn complete(&self, _: LeaseId) -> MetaResult<'_, Completed> {
        unimplemented!()
    }
    fn release(&self, _: LeaseId) -> MetaResult<'_, ()> {
        unimplemented!()
    }
    fn sweep(&self) -> MetaResult<'_, Garbage> {
        unimplemented!()
    }
    fn blob_names(&self) -> MetaResult<'_, std::collections::HashSet<String>> {
        unimplemented!()
    }
    fn drop_rows_without(&self, _: std::collections::HashSet<String>) -> MetaResult<'_, usize> {
        unimplemented!()
    }
    fn tus_create(&self, _: TusRow) -> MetaResult<'_, ()> {
        unimplemented!()
    }
    fn tus_get(&self, _: String) -> MetaResult<'_, TusRow> {
        unimplemented!()
    }
    fn tus_pending(&self, _: Option<String>) -> MetaResult<'_, u64> {
        unimplemented!()
    }
    fn tus_lock(&self, _: String, _: std::time::Duration) -> MetaResult<'_, (TusRow, TusLock)> {
        unimplemented!()
    }
    fn tus_renew(&self, _: String, _: TusLock, _: std::time::Duration) -> MetaResult<'_, bool> {
        unimplemented!()
    }
    fn tus_advance(&self, _: String, _: TusLock, _: u64, _: String) -> MetaResult<'_, bool> {
        unimplemented!()
    }
    fn tus_declare(&self, _: String, _: TusLock, _: u64) -> MetaResult<'_, bool> {
        unimplemented!()
    }
    fn tus_finish(&self, _: String, _: TusLock, _: String) -> MetaResult<'_, bool> {
        unimplemented!()
    }
    fn tus_unlock(&self, _: String, _: TusLock) -> MetaResult<'_, ()> {
        unimplemented!()
    }
    fn tus_delete(&self, _: String) -> MetaResult<'_, Option<String>> {
        unimplemented!()
    }
    fn tus_sweep(&self) -> MetaResult<'_, Vec<String>> {
        unimplemented!()
    }
}

#[tokio::test]
#[should_panic(expected = "boom in list")]
async fn a_panic_in_the_server_fails_the_test_that_caused_it() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = fileio::server::blobs::LocalBlobs::open(dir.path()).unwrap();
    let store = Store::new(
        Arc::new(PanickingMeta),
        Arc::new(blobs),
        std::time::Duration::from_secs(60),
    );
    let mut options = Options::new(dir.path().to_path_buf());
    options.key_hashes.insert(hash_key(K1));
    let app = Arc::new(App {
        config: options,
        store: Arc::new(store),
        limiter: None,
        local_addr: "127.0.0.1:8080".parse().unwrap(),
    });
    let mut router = fileio::server::router(app);
    let req = req("GET", "/").key(K1).build();
    let _ = tower_service::Service::call(&mut router, req).await;
}

/// Browsers (and preview bots) are told 410 and why for a file that existed — expired, used
/// up, deleted — and 404 for a key that never did; API clients keep file.io's 404
/// `FILE_NOT_FOUND`, its message saying why. A revived file is served again; tombstones last
/// `TOMBSTONE_DAYS`, then a gone link is a plain 404 and the sweep drops them.
async fn gone_links_are_410_pages_saying_why_and_404_to_the_api(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let used = key_of(&api.put_file(None, "u.txt", b"u", &[]).await);
    let expired = key_of(
        &api.put_file(None, "e.txt", b"e", &[("expires", "1h")])
            .await,
    );
    let deleted = key_of(&api.put_file(Some(K1), "d.txt", b"d", &[]).await);
    let kept = key_of(
        &api.put_file(
            Some(K1),
            "k.txt",
            b"k",
            &[("expires", "1h"), ("autoDelete", "false")],
        )
        .await,
    );
    assert_eq!(api.get_key(&used).await.body, b"u");
    let r = api.go(req("DELETE", &format!("/{deleted}")).key(K1)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    api.advance(chrono::Duration::hours(2));

    let browse = |method: &str, key: &str| {
        req(method, &format!("/{key}")).header("accept", crate::web::BROWSER_ACCEPT)
    };
    let cases = [
        (
            &used,
            "The file was downloaded as often as its sender allowed on 2030-01-01 at 12:00 UTC",
            "This file was downloaded as often as its sender allowed: ask the sender for a new link.",
        ),
        (
            &expired,
            "The file expired on 2030-01-01 at 13:00 UTC",
            "This file has expired: ask the sender for a new link.",
        ),
        (
            &deleted,
            "The file was deleted by its owner on 2030-01-01 at 12:00 UTC",
            "This file was deleted by its owner.",
        ),
        (
            &kept,
            "The file expired on 2030-01-01 at 13:00 UTC",
            "This file has expired: ask the sender for a new link.",
        ),
    ];
    for (key, page_says, api_says) in cases {
        let page = api.go(browse("GET", key)).await;
        assert_eq!(page.status, 410, "{key}: {}", page.text());
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert!(page.text().contains("This link is gone"), "{}", page.text());
        assert!(page.text().contains(page_says), "{}", page.text());
        assert_eq!(api.go(browse("HEAD", key)).await.status, 410);
        let bot = req("GET", &format!("/{key}")).header("user-agent", "facebookexternalhit/1.1");
        assert_eq!(api.go(bot).await.status, 410);
        let json = api.get_key(key).await;
        assert_error(&json, 404, "FILE_NOT_FOUND");
        assert_eq!(json.json()["message"], api_says);
        let head = api.go(req("HEAD", &format!("/{key}"))).await;
        assert_eq!(head.status, 404);
    }
    let never = api.go(browse("GET", "nosuchkey123")).await;
    assert_eq!(never.status, 404);
    assert!(
        never.text().contains("No file at this link"),
        "{}",
        never.text()
    );
    let json = api.get_key("nosuchkey123").await;
    assert_error(&json, 404, "FILE_NOT_FOUND");
    assert!(
        json.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("No file with this key")
    );

    // Kept without autoDelete and revived: its landing page again, no tombstone in the way.
    let r = api
        .go(req("PATCH", &format!("/{kept}?expires=60d")).key(K1))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = api.go(browse("GET", &kept)).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("k.txt"), "{}", page.text());

    // A month on, gone links are forgotten: 404, and the sweep has dropped their tombstones.
    api.advance(chrono::Duration::days(fileio::server::meta::TOMBSTONE_DAYS));
    assert_eq!(api.store.sweep().await.unwrap(), 0);
    for key in [&used, &expired, &deleted] {
        let page = api.go(browse("GET", key)).await;
        assert_eq!(page.status, 404, "{key}: {}", page.text());
    }
    assert_eq!(api.go(browse("GET", &kept)).await.status, 200);
    if api.sqlite {
        let db = rusqlite::Connection::open(api.data.join("fileio.db")).unwrap();
        let left: i64 = db
            .query_row("SELECT COUNT(*) FROM gone", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}

// Ranged downloads (issue 16).

impl Api {
    async fn range(&self, key: &str, range: &str, if_range: Option<&str>) -> Answer {
        let mut r = req("GET", &format!("/{key}")).header("range", range);
        if let Some(v) = if_range {
            r = r.header("if-range", v);
        }
        self.go(r).await
    }
}

async fn ranges_are_answered_206_and_only_the_last_byte_counts(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(&api.upload("0123456789", &[]).await);
    // HEAD and whole answers say ranges are welcome, with the validators to resume by.
    let head = api.go(req("HEAD", &format!("/{key}"))).await;
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    let etag = head.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    assert_eq!(
        head.header("last-modified"),
        Some("Tue, 01 Jan 2030 12:00:00 GMT")
    );
    // Ranges short of the end, as often as asked: nothing is counted.
    for _ in 0..3 {
        let a = api.range(&key, "bytes=0-3", None).await;
        assert_eq!(a.status, 206);
        assert_eq!(a.body, b"0123");
        assert_eq!(a.header("content-range"), Some("bytes 0-3/10"));
        assert_eq!(a.header("content-length"), Some("4"));
        assert_eq!(a.header("etag"), Some(etag.as_str()));
    }
    let a = api.range(&key, "bytes=4-8", None).await;
    assert_eq!((a.status.as_u16(), &a.body[..]), (206, &b"45678"[..]));
    // Past the end: 416 with the size, and nothing counted.
    for past in ["bytes=10-", "bytes=20-30", "bytes=-0"] {
        let a = api.range(&key, past, None).await;
        assert_error(&a, 416, "RANGE_NOT_SATISFIABLE");
        assert_eq!(a.header("content-range"), Some("bytes */10"), "{past}");
    }
    // The range that delivers the last byte counts: the one-time file is spent...
    let a = api.range(&key, "bytes=9-", None).await;
    assert_eq!((a.status.as_u16(), &a.body[..]), (206, &b"9"[..]));
    assert_eq!(a.header("content-range"), Some("bytes 9-9/10"));
    // ...and gone for every range too.
    for r in ["bytes=0-3", "bytes=9-", "bytes=-1", "bytes=10-"] {
        assert_error(&api.range(&key, r, None).await, 404, "FILE_NOT_FOUND");
    }
    assert_eq!(api.blobs(), 0);

    // A suffix range counts too; several ranges are answered with the whole file (counted).
    let key = key_of(&api.upload("abcdef", &[("maxDownloads", "2")]).await);
    let a = api.range(&key, "bytes=-2", None).await;
    assert_eq!((a.status.as_u16(), &a.body[..]), (206, &b"ef"[..]));
    let a = api.range(&key, "bytes=0-1,3-4", None).await;
    assert_eq!((a.status.as_u16(), &a.body[..]), (200, &b"abcdef"[..]));
    assert_eq!(a.header("content-range"), None);
    assert_error(
        &api.range(&key, "bytes=0-1", None).await,
        404,
        "FILE_NOT_FOUND",
    );
}

async fn a_range_short_of_the_end_needs_a_free_download(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(&api.upload("one time only", &[]).await);
    // The one download is under way: not even a part of the file is served meanwhile.
    let whole = api.send(api.get(&format!("/{key}"))).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_error(
        &api.range(&key, "bytes=0-3", None).await,
        404,
        "FILE_NOT_FOUND",
    );
    assert_error(
        &api.range(&key, "bytes=4-", None).await,
        404,
        "FILE_NOT_FOUND",
    );
    // It breaks off: the download is free again, for a part or for the rest.
    drop(whole);
    let mut part = None;
    for _ in 0..100 {
        let a = api.range(&key, "bytes=0-3", None).await;
        if a.status == 206 {
            part = Some(a);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(part.expect("the broken download given back").body, b"one ");
    // A resumed download holds the lease like a whole one, and spends the link once.
    let rest = api.send(api.range_req(&key, "bytes=4-")).await;
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    assert_error(
        &api.range(&key, "bytes=0-3", None).await,
        404,
        "FILE_NOT_FOUND",
    );
    let body = axum::body::to_bytes(rest.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], b"time only");
    assert_error(&api.get_key(&key).await, 404, "FILE_NOT_FOUND");
    assert_eq!(api.blobs(), 0);
}

async fn if_range_never_splices_replaced_contents(backend: Backend) {
    let api = Api::new(backend, |_| {}).await;
    let key = key_of(&api.upload("old contents", &[("maxDownloads", "9")]).await);
    let first = api.range(&key, "bytes=0-3", None).await;
    assert_eq!(first.status, 206);
    let etag = first.header("etag").unwrap().to_string();
    let modified = first.header("last-modified").unwrap().to_string();
    // The validator holds: the rest comes as a range.
    let a = api.range(&key, "bytes=4-", Some(&etag)).await;
    assert_eq!((a.status.as_u16(), &a.body[..]), (206, &b"contents"[..]));
    // A weak tag, or another tag, never matches: the whole file, 200.
    let weak = format!("W/{etag}");
    for other in [weak.as_str(), "\"0123\"", "garbage"] {
        let a = api.range(&key, "bytes=4-", Some(other)).await;
        assert_eq!(
            (a.status.as_u16(), &a.body[..]),
            (200, &b"old contents"[..])
        );
    }
    // A date holds once it lies a second in the past, and only if it is Last-Modified.
    api.advance(chrono::Duration::seconds(5));
    let a = api.range(&key, "bytes=4-", Some(&modified)).await;
    assert_eq!((a.status.as_u16(), &a.body[..]), (206, &b"contents"[..]));
    let a = api
        .range(&key, "bytes=4-", Some("Tue, 01 Jan 2030 11:00:00 GMT"))
        .await;
    assert_eq!(a.status, 200);
    // Replaced: the old validator no longer holds, whatever the range.
    let a = api
        .call(api.form(
            "PUT",
            &format!("/{key}"),
            "NEW CONTENTS, longer",
            &[("maxDownloads", "9")],
        ))
        .await;
    assert_eq!(a.status, 200);
    for range in ["bytes=4-", "bytes=0-3", "bytes=-2"] {
        let a = api.range(&key, range, Some(&etag)).await;
        assert_eq!(a.status, 200, "{range}");
        assert_eq!(a.body, b"NEW CONTENTS, longer");
        assert_ne!(a.header("etag"), Some(etag.as_str()));
    }
}

impl Api {
    fn range_req(&self, key: &str, range: &str) -> Request<Body> {
        req("GET", &format!("/{key}"))
            .header("range", range)
            .build()
    }
}
