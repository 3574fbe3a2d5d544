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
use fileio::server::store::{Clock, Store};
use fileio::server::{App, Options};

const KEY: &str = "INPROC1.aaaaaaa-bbbbbbb-ccccccc";

/// Where the store keeps its metadata.
enum Backend {
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
    expired_files_are_never_served,
    expiry_follows_the_stores_clock,
    the_sweep_deletes_what_expired_by_the_stores_clock,
    a_lease_that_ran_out_is_not_counted_late,
    leases_count_against_max_downloads_until_settled,
    put_gives_new_contents_a_new_blob_and_frees_the_old,
);

/// A router over a store in a temporary directory, with a clock the test moves.
struct Api {
    router: axum::Router,
    clock: Arc<Mutex<DateTime<Utc>>>,
    store: Arc<Store>,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Api {
    async fn new(backend: Backend, configure: impl FnOnce(&mut Options)) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut options = Options::new(data.clone());
        options.key_hashes.insert(hash_key(KEY));
        configure(&mut options);
        let start = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(Mutex::new(start));
        let c = clock.clone();
        let store_clock: Clock = Arc::new(move || *c.lock().unwrap());
        let (store, _) = match backend {
            Backend::Sqlite => Store::open_local(&data, store_clock).await.unwrap(),
            Backend::Postgres(url) => Store::open_shared(&data, &url, Some(store_clock))
                .await
                .unwrap(),
        };
        let store = Arc::new(store);
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
            _dir: dir,
        }
    }

    fn advance(&self, by: chrono::Duration) {
        *self.clock.lock().unwrap() += by;
    }

    async fn send(&self, req: Request<Body>) -> axum::response::Response {
        let mut router = self.router.clone();
        tower_service::Service::call(&mut router, req)
            .await
            .unwrap()
    }

    async fn call(&self, req: Request<Body>) -> Answer {
        let resp = self.send(req).await;
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer { status, body }
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

    fn blobs(&self) -> usize {
        std::fs::read_dir(self.data.join("blobs")).unwrap().count()
    }
}

/// An error answer in file.io's v2 shape, with its help link on this server.
fn assert_error(a: &Answer, status: u16, code: &str) {
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
