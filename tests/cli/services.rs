//! The other services, each against a small emulator written from its card in
//! `../shared/api/`, quirks included.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::support::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn host(req: &SeenRequest) -> String {
    format!("http://{}", req.header("host").unwrap())
}

fn html(status: &str, msg: &str) -> Reply {
    response(
        status,
        &[("Content-Type", "text/html; charset=utf-8")],
        format!("<!DOCTYPE html>\n<html><body><p>{msg}</p></body></html>"),
    )
}

// ---------------------------------------------------------------------------------------
// 0x0: plain text, HTML errors, X-Token only for new content, fractional X-Expires.

#[derive(Default)]
struct NullPointer {
    /// id → (bytes, token)
    files: HashMap<String, (Vec<u8>, String)>,
    created_status: &'static str,
}

fn null_pointer(created_status: &'static str) -> (Canned, Arc<Mutex<NullPointer>>) {
    let state = Arc::new(Mutex::new(NullPointer {
        created_status,
        ..Default::default()
    }));
    let s = state.clone();
    let server = Canned::start(move |req, _| {
        let mut st = s.lock().unwrap();
        let path = req.target.clone();
        if req.method == "POST" && path == "/" {
            let parts = multipart(req);
            let Some(file) = parts.iter().find(|p| p.name == "file") else {
                return html("400 BAD REQUEST", "no file");
            };
            if let Some(e) = parts.iter().find(|p| p.name == "expires") {
                if text(&e.data).parse::<i64>().is_err() {
                    return html("400 BAD REQUEST", "Invalid expiration");
                }
            }
            let id = format!(
                "{:x}",
                file.data
                    .iter()
                    .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)))
                    % 0xfffff
            );
            let secret = parts.iter().any(|p| p.name == "secret");
            let url = if secret {
                format!("{}/s/SeCrEt/{id}.txt", host(req))
            } else {
                format!("{}/{id}.txt", host(req))
            };
            let key = format!("{id}.txt");
            if st.files.contains_key(&key) {
                // Same bytes again: the same URL, and no token.
                return response(
                    "200 OK",
                    &[("X-Expires", "1826879881125.2686")],
                    format!("{url}\n"),
                );
            }
            let token = format!("tok-{id}");
            st.files.insert(key, (file.data.clone(), token.clone()));
            let status = st.created_status;
            return response(
                status,
                &[("X-Token", &token), ("X-Expires", "1826879881125.2686")],
                format!("{url}\n"),
            );
        }
        let key = path.rsplit('/').next().unwrap_or("").to_string();
        match req.method.as_str() {
            "GET" => match st.files.get(&key) {
                Some((bytes, _)) => response(
                    "200 OK",
                    &[
                        ("Content-Type", "text/plain; charset=utf-8; charset=utf-8"),
                        ("X-Expires", "1826879881125.2686"),
                    ],
                    bytes.clone(),
                ),
                None => html("404 NOT FOUND", "Not Found"),
            },
            "POST" => {
                let form = req.body_text();
                let Some((_, token)) = st.files.get(&key) else {
                    return html("404 NOT FOUND", "Not Found");
                };
                if form_value(&form, "token").as_deref() != Some(token.as_str()) {
                    return html("401 UNAUTHORIZED", "Unauthorized");
                }
                if form_value(&form, "delete").is_some() {
                    st.files.remove(&key);
                    response("200 OK", &[], "")
                } else if let Some(e) = form_value(&form, "expires") {
                    if e.parse::<i64>().is_err() {
                        return html("400 BAD REQUEST", "Invalid expiration");
                    }
                    response("202 ACCEPTED", &[], "")
                } else {
                    html("400 BAD REQUEST", "Bad Request")
                }
            }
            _ => html("405 METHOD NOT ALLOWED", "Method Not Allowed"),
        }
    });
    (server, state)
}

#[test]
fn null_pointer_upload_keeps_the_token_secret_and_uses_it_to_manage() {
    let env = Env::new();
    let (server, state) = null_pointer("201 CREATED");
    env.write("notes.txt", "some notes");
    let out = env
        .cmd()
        .args([
            "--service",
            "0x0",
            "--server",
            &server.url,
            "-v",
            "--json",
            "upload",
            "notes.txt",
            "--expires",
            "24h",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let link = v["link"].as_str().unwrap().to_string();
    assert_eq!(v["service"], "0x0");
    assert_eq!(
        v["expires"], "2027-11-22T10:38:01Z",
        "fractional X-Expires is read"
    );
    assert_eq!(
        (v["max_downloads"].is_null(), v["size"].as_u64()),
        (true, Some(10))
    );
    let token = state
        .lock()
        .unwrap()
        .files
        .values()
        .next()
        .unwrap()
        .1
        .clone();
    assert!(
        !both(out.get_output()).contains(&token),
        "the token is never shown"
    );
    let req = &server.requests()[0];
    let parts = multipart(req);
    assert_eq!(
        parts
            .iter()
            .find(|p| p.name == "expires")
            .map(|p| text(&p.data))
            .as_deref(),
        Some("24")
    );

    // The same bytes again: same URL, no token; the one in the history is kept.
    env.cmd()
        .args(["--service", "0x0", "--server", &server.url, "upload", "notes.txt"])
        .assert()
        .success()
        .stdout(format!("{link}\n"))
        .stderr("fileio: note: 0x0 sent no management token (these bytes were uploaded before); the token from that upload is kept\n");

    env.cmd()
        .args([
            "--service",
            "0x0",
            "--server",
            &server.url,
            "download",
            &link,
            "-o",
            "-",
        ])
        .assert()
        .success()
        .stdout("some notes");
    env.cmd()
        .args([
            "--service",
            "0x0",
            "--server",
            &server.url,
            "update",
            &link,
            "--expires",
            "2h",
        ])
        .assert()
        .success();
    let manage = server.requests().last().unwrap().clone();
    assert_eq!(
        form_value(&manage.body_text(), "expires").as_deref(),
        Some("2")
    );
    assert_eq!(
        form_value(&manage.body_text(), "token").as_deref(),
        Some(token.as_str())
    );

    let key = link.rsplit('/').next().unwrap().to_string();
    env.cmd()
        .args(["--service", "0x0", "--server", &server.url, "delete", &key])
        .assert()
        .success()
        .stderr(format!("Deleted {key}.\n"));
    assert!(state.lock().unwrap().files.is_empty());
    env.cmd()
        .args([
            "--service",
            "0x0",
            "--server",
            &server.url,
            "download",
            &link,
            "-o",
            "-",
        ])
        .assert()
        .code(4)
        .stderr(predicates::str::starts_with(format!(
            "fileio: error: downloading {link}: Not Found (404 Not Found)\n"
        )));
}

fn both(o: &std::process::Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

#[test]
fn null_pointer_refuses_what_it_cannot_do_and_reports_html_errors() {
    let env = Env::new();
    let (server, state) = null_pointer("200 OK");
    env.write("a.txt", "a");
    let zero = ["--service", "0x0", "--server", &server.url];
    env.cmd()
        .args(zero)
        .args(["upload", "a.txt", "--max-downloads", "2"])
        .assert()
        .code(2)
        .stderr(
            "fileio: error: 0x0.st (The Null Pointer) does not support a download limit (--max-downloads)\n\
             hint: 0x0 supports: --name, --expires, --secret\n\
             hint: see `fileio services` for what each service can do\n",
        );
    env.cmd()
        .args(zero)
        .args(["list"])
        .assert()
        .code(2)
        .stderr(contains("does not support `fileio list`"));
    env.cmd().args(zero).args(["me"]).assert().code(2);
    assert!(
        server.requests().is_empty(),
        "refused before anything was sent"
    );

    let link = {
        let out = env
            .cmd()
            .args(zero)
            .args(["upload", "a.txt", "--secret"])
            .assert()
            .success();
        text(&out.get_output().stdout).trim().to_string()
    };
    assert!(link.contains("/s/SeCrEt/"), "{link}");
    // A wrong token (the server lost it, say) is an authentication failure with the page's text.
    state
        .lock()
        .unwrap()
        .files
        .values_mut()
        .for_each(|f| f.1 = "other".into());
    env.cmd()
        .args(zero)
        .args(["delete", &link])
        .assert()
        .code(3)
        .stderr(predicates::str::starts_with(format!(
            "fileio: error: deleting {}: Unauthorized (401 Unauthorized)\n",
            link.rsplit('/').next().unwrap()
        )));
    // Without a history there is no token, and the user is told so at upload time.
    env.write("b.txt", "b");
    env.cmd()
        .args(zero)
        .args(["--no-history", "upload", "b.txt"])
        .assert()
        .success()
        .stderr(contains("the history is off, so").and(contains("management token is not kept")));
    env.cmd()
        .args(zero)
        .args(["delete", "https://0x0.example/nothere.txt"])
        .assert()
        .code(3)
        .stderr(predicates::str::starts_with(
            "fileio: error: no management token for nothere.txt in the history\n",
        ));
}

// ---------------------------------------------------------------------------------------
// FileShot: Bearer, {"error"} bodies, 403 for a low tier, chunked and resumable uploads.

#[derive(Default)]
struct FileShot {
    files: HashMap<String, (String, Vec<u8>)>,
    /// fileId → chunks received, by index
    chunks: HashMap<String, HashMap<u64, Vec<u8>>>,
    pending: HashMap<String, (String, u64)>,
    /// Chunk index → how many more times it fails
    fail: HashMap<u64, usize>,
    chunk_posts: Vec<u64>,
}

fn fileshot() -> (Canned, Arc<Mutex<FileShot>>) {
    let state = Arc::new(Mutex::new(FileShot::default()));
    let s = state.clone();
    let next = Arc::new(AtomicUsize::new(1));
    let server = Canned::start(move |req, _| {
        let mut st = s.lock().unwrap();
        let err = |status: &str, msg: &str| {
            response(
                status,
                &[("Content-Type", "application/json")],
                format!(r#"{{"error":"{msg}"}}"#),
            )
        };
        let path = req.target.split('?').next().unwrap().to_string();
        let is_download = path.starts_with("/api/files/download/") || path.starts_with("/cdn/");
        let is_info = req.method == "GET"
            && path.starts_with("/api/files/")
            && path.split('/').count() == 4
            && !path.ends_with("/usage");
        if !is_download && !is_info {
            match req.header("authorization") {
                Some("Bearer creator-key") => {}
                Some("Bearer lowtier-key") => {
                    return err("403 Forbidden", "API access requires the Creator tier");
                }
                _ => return err("401 Unauthorized", "Invalid or missing API key"),
            }
        }
        let details = |id: &str, name: &str, size: usize| {
            format!(
                r#"{{"success":true,"fileId":"{id}","fileName":"{name}","downloadUrl":"https://fileshot.io/f/{id}","expiresAt":"2026-12-25T12:00:00Z","fileSize":{size}}}"#
            )
        };
        let new_id = || format!("fs{}", next.fetch_add(1, Ordering::SeqCst));
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method.as_str(), segs.as_slice()) {
            ("POST", ["api", "files", "upload"]) => {
                let parts = multipart(req);
                let f = parts.iter().find(|p| p.name == "file").unwrap();
                let id = new_id();
                let name = f.filename.clone().unwrap();
                st.files.insert(id.clone(), (name.clone(), f.data.clone()));
                json(&details(&id, &name, f.data.len()))
            }
            ("POST", ["api", "files", "init-upload" | "pre-upload"]) => {
                let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                let id = new_id();
                st.pending.insert(
                    id.clone(),
                    (
                        v["fileName"].as_str().unwrap().to_string(),
                        v["fileSize"].as_u64().unwrap(),
                    ),
                );
                json(&format!(r#"{{"success":true,"fileId":"{id}"}}"#))
            }
            ("POST", ["api", "files", "upload-chunk", id, i]) => {
                let i: u64 = i.parse().unwrap();
                st.chunk_posts.push(i);
                if let Some(n) = st.fail.get_mut(&i) {
                    if *n > 0 {
                        *n -= 1;
                        return err("503 Service Unavailable", "try again");
                    }
                }
                let data = if req
                    .header("content-type")
                    .unwrap_or("")
                    .starts_with("multipart/")
                {
                    let parts = multipart(req);
                    assert!(parts.iter().any(|p| p.name == "totalChunks"));
                    parts.into_iter().find(|p| p.name == "chunk").unwrap().data
                } else {
                    req.body.clone()
                };
                st.chunks.entry(id.to_string()).or_default().insert(i, data);
                json(r#"{"success":true}"#)
            }
            ("POST", ["api", "files", "finalize-upload", id]) => {
                let (name, size) = st.pending[*id].clone();
                let chunks = st.chunks.remove(*id).unwrap_or_default();
                let mut all = Vec::new();
                for i in 0..chunks.len() as u64 {
                    all.extend_from_slice(&chunks[&i]);
                }
                assert_eq!(all.len() as u64, size);
                st.files.insert(id.to_string(), (name.clone(), all));
                json(&details(id, &name, size as usize))
            }
            ("GET", ["api", "files", "usage"]) => {
                json(r#"{"usage":4096,"limit":null,"tier":"creator"}"#)
            }
            ("GET", ["api", "files"]) => {
                let items: Vec<String> = st
                    .files
                    .iter()
                    .map(|(id, (n, d))| details(id, n, d.len()))
                    .collect();
                json(&format!(
                    r#"{{"files":[{}],"total":{}}}"#,
                    items.join(","),
                    items.len()
                ))
            }
            ("GET", ["api", "files", "download", id]) => {
                response("302 Found", &[("Location", &format!("/cdn/{id}"))], "")
            }
            ("GET", ["cdn", id]) => match st.files.get(*id) {
                Some((_, d)) => response(
                    "200 OK",
                    &[("Content-Type", "application/octet-stream")],
                    d.clone(),
                ),
                None => err("404 Not Found", "File not found"),
            },
            ("GET", ["api", "files", id]) => {
                // Chunked uploads of the documented kind become a file once all chunks are in.
                if let Some((name, size)) = st.pending.get(*id).cloned() {
                    if let Some(chunks) = st.chunks.remove(*id) {
                        let mut all = Vec::new();
                        for i in 0..chunks.len() as u64 {
                            all.extend_from_slice(&chunks[&i]);
                        }
                        assert_eq!(all.len() as u64, size);
                        st.files.insert(id.to_string(), (name, all));
                    }
                }
                match st.files.get(*id) {
                    Some((n, d)) => json(&format!(
                        r#"{{"fileId":"{id}","fileName":"{n}","fileSize":{},"mimeType":"text/plain","expiresAt":"2026-12-25T12:00:00Z","isZeroKnowledge":false,"passwordProtected":false}}"#,
                        d.len()
                    )),
                    None => err("404 Not Found", "File not found or expired"),
                }
            }
            ("DELETE", ["api", "files", id]) => match st.files.remove(*id) {
                Some(_) => json(r#"{"success":true}"#),
                None => err("404 Not Found", "File not found"),
            },
            _ => err("404 Not Found", "no such endpoint"),
        }
    });
    (server, state)
}

fn config(env: &Env, text: &str) {
    let p = env.path("config/fileio/config.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn fileshot_whole_file_download_info_list_me_delete() {
    let env = Env::new();
    let (server, _state) = fileshot();
    let fs = ["--service", "fileshot", "--server", &server.url];
    env.write("doc.txt", "document");
    env.cmd()
        .env("FILEIO_API_KEY", "lowtier-key")
        .args(fs)
        .args(["upload", "doc.txt"])
        .assert()
        .code(3)
        .stderr(
            "fileio: error: uploading doc.txt: API access requires the Creator tier (403 Forbidden)\n\
             hint: FileShot's API needs the Creator tier or above; a key of a lower tier is refused\n",
        );
    env.cmd()
        .env("FILEIO_API_KEY", "creator-key")
        .args(fs)
        .args(["upload", "doc.txt", "--expires", "30m"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "fileio: error: FileShot keeps files for whole days, 1 to 365; --expires 30m is not\n",
        ));
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "creator-key")
        .args(fs)
        .args(["--json", "upload", "doc.txt", "--expires", "2w"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["link"], "https://fileshot.io/f/fs1");
    assert_eq!(
        (v["key"].as_str(), v["size"].as_u64(), v["expires"].as_str()),
        (Some("fs1"), Some(8), Some("2026-12-25T12:00:00Z"))
    );
    assert!(v["downloads"].is_null() && v["auto_delete"].is_null());
    let parts = multipart(&server.requests().last().unwrap().clone());
    assert_eq!(
        parts
            .iter()
            .find(|p| p.name == "expiryDays")
            .map(|p| text(&p.data))
            .as_deref(),
        Some("14")
    );

    env.cmd()
        .args(fs)
        .args(["download", "https://fileshot.io/f/fs1", "-o", "-"])
        .assert()
        .success()
        .stdout("document");
    env.cmd()
        .args(fs)
        .args(["info", "fs1"])
        .assert()
        .success()
        .stdout(contains("name:      doc.txt"));
    let key = ["--api-key-file"];
    let keyfile = env.write("k", "creator-key");
    env.cmd()
        .args(fs)
        .args(key)
        .arg(&keyfile)
        .args(["list"])
        .assert()
        .success()
        .stdout(contains("fs1\tdoc.txt\t8 B"));
    env.cmd()
        .args(fs)
        .args(key)
        .arg(&keyfile)
        .args(["me"])
        .assert()
        .success()
        .stdout(contains("plan:              creator"));
    env.cmd()
        .args(fs)
        .args(key)
        .arg(&keyfile)
        .args(["delete", "fs1"])
        .assert()
        .success();
    env.cmd().args(fs).args(["info", "fs1"]).assert().code(4);
}

#[test]
fn fileshot_chunks_are_retried_and_an_interrupted_upload_resumes() {
    let env = Env::new();
    let (server, state) = fileshot();
    config(&env, "[services]\nfileshot-chunk-threshold = \"1MB\"\n");
    let data: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 251) as u8).collect();
    env.write("big.bin", &data);
    let fs = ["--service", "fileshot", "--server", &server.url];

    // Chunk 1 fails once (retried); chunk 2 fails beyond the retries: the run fails.
    state.lock().unwrap().fail.insert(1, 1);
    state.lock().unwrap().fail.insert(2, 99);
    env.cmd()
        .env("FILEIO_API_KEY", "creator-key")
        .args(fs)
        .args(["--retries", "1", "-q", "upload", "big.bin", "-j", "1"])
        .assert()
        .code(8)
        .stderr(contains("chunk 3 of 3").and(contains(
            "hint: run the same command again to send only the chunks that are missing",
        )));
    assert_eq!(state.lock().unwrap().chunk_posts, [0, 1, 1, 2, 2]);

    // Again: only the missing chunk is sent.
    state.lock().unwrap().fail.clear();
    state.lock().unwrap().chunk_posts.clear();
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "creator-key")
        .args(fs)
        .args(["upload", "big.bin"])
        .assert()
        .success();
    assert_eq!(
        text(&out.get_output().stderr),
        "fileio: resuming big.bin: 2 of 3 chunks were sent before\n"
    );
    assert_eq!(state.lock().unwrap().chunk_posts, [2]);
    let link = text(&out.get_output().stdout).trim().to_string();
    env.cmd()
        .args(fs)
        .args(["download", &link, "-o", "back.bin"])
        .assert()
        .success();
    assert!(std::fs::read(env.work().join("back.bin")).unwrap() == data);
    let states: i64 = rusqlite::Connection::open(env.path("data/fileio/resume.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM states", [], |r| r.get(0))
        .unwrap();
    assert_eq!(states, 0, "state removed on success");
}

#[test]
fn fileshot_pre_upload_protocol_by_config() {
    let env = Env::new();
    let (server, state) = fileshot();
    config(
        &env,
        "[services]\nfileshot-chunk-threshold = \"1KB\"\nfileshot-chunk-protocol = \"pre-upload\"\n",
    );
    env.write("mid.bin", vec![3u8; 9 << 20]);
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "creator-key")
        .args([
            "--service",
            "fileshot",
            "--server",
            &server.url,
            "--json",
            "upload",
            "mid.bin",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["size"].as_u64(), Some(9 << 20));
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets[0], "/api/files/pre-upload");
    assert!(
        targets
            .last()
            .unwrap()
            .starts_with("/api/files/finalize-upload/")
    );
    assert_eq!(
        state.lock().unwrap().files.values().next().unwrap().1.len(),
        9 << 20
    );
}

// ---------------------------------------------------------------------------------------
// fii.one: `image` field, share_url and direct_link, Bearer only (never ?key=).

/// id → (name, bytes)
type FiiFiles = Arc<Mutex<HashMap<String, (String, Vec<u8>)>>>;

fn fiione() -> (Canned, FiiFiles) {
    let files = Arc::new(Mutex::new(HashMap::<String, (String, Vec<u8>)>::new()));
    let f = files.clone();
    let server = Canned::start(move |req, _| {
        assert!(
            !req.target.contains("key="),
            "the key never goes in the URL: {}",
            req.target
        );
        let mut files = f.lock().unwrap();
        let path = req.target.split('?').next().unwrap().to_string();
        if path.starts_with("/cdn/") {
            let id = path.trim_start_matches("/cdn/");
            return match files.get(id) {
                Some((_, d)) => response("200 OK", &[("Content-Type", "image/png")], d.clone()),
                None => response("404 Not Found", &[], ""),
            };
        }
        if req.header("authorization") != Some("Bearer fii_good") {
            return response(
                "401 Unauthorized",
                &[("Content-Type", "application/json")],
                r#"{"success":false,"error":"Invalid API key"}"#,
            );
        }
        let obj = |id: &str, name: &str, size: usize| {
            format!(
                r#"{{"id":"{id}","title":"{name}","url":"{h}/cdn/{id}","direct_link":"{h}/cdn/{id}","share_url":"https://fii.one/s/{id}","size":{size},"mime":"image/png","created_at":"2026-05-03T10:00:00.000Z"}}"#,
                h = host(req)
            )
        };
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method.as_str(), segs.as_slice()) {
            ("POST", ["api", "v1", "upload"]) => {
                let parts = multipart(req);
                let img = parts.iter().find(|p| p.name == "image").unwrap();
                let name = parts
                    .iter()
                    .find(|p| p.name == "name")
                    .map(|p| text(&p.data))
                    .unwrap();
                let id = format!("id{}", files.len() + 1);
                files.insert(id.clone(), (name.clone(), img.data.clone()));
                json(&format!(
                    r#"{{"success":true,"data":{}}}"#,
                    obj(&id, &name, img.data.len())
                ))
            }
            ("GET", ["api", "v1", "files"]) => {
                let mut items: Vec<(&String, &(String, Vec<u8>))> = files.iter().collect();
                items.sort();
                let list: Vec<String> = items
                    .iter()
                    .map(|(id, (n, d))| obj(id, n, d.len()))
                    .collect();
                json(&format!(
                    r#"{{"success":true,"data":[{}],"pagination":{{"page":1,"total":{}}}}}"#,
                    list.join(","),
                    list.len()
                ))
            }
            ("GET", ["api", "v1", "files", id]) => match files.get(*id) {
                Some((n, d)) => json(&format!(
                    r#"{{"success":true,"data":{}}}"#,
                    obj(id, n, d.len())
                )),
                None => response("404 Not Found", &[], ""),
            },
            ("PATCH", ["api", "v1", "files", id]) => {
                let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
                let Some(entry) = files.get_mut(*id) else {
                    return response("404 Not Found", &[], "");
                };
                entry.0 = v["name"].as_str().unwrap().to_string();
                let (n, d) = entry.clone();
                json(&format!(
                    r#"{{"success":true,"data":{}}}"#,
                    obj(id, &n, d.len())
                ))
            }
            ("DELETE", ["api", "v1", "files", id]) => match files.remove(*id) {
                Some(_) => json(r#"{"success":true}"#),
                None => response("404 Not Found", &[], ""),
            },
            _ => response("404 Not Found", &[], ""),
        }
    });
    (server, files)
}

#[test]
fn fiione_upload_share_link_list_rename_download_delete() {
    let env = Env::new();
    let (server, files) = fiione();
    let fii = ["--service", "fiione", "--server", &server.url];
    env.write("pic.png", "PNGDATA");
    env.cmd()
        .env("FILEIO_API_KEY", "fii_bad")
        .args(fii)
        .args(["upload", "pic.png"])
        .assert()
        .code(3)
        .stderr(predicates::str::starts_with(
            "fileio: error: uploading pic.png: Invalid API key (401 Unauthorized)\n",
        ));
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["upload", "pic.png", "--expires", "1d"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "fileio: error: fii.one does not support an expiry (--expires)\n",
        ));
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["upload", "pic.png", "--name", "holiday.png"])
        .assert()
        .success()
        .stdout("https://fii.one/s/id1\n");
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["--json", "list"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v[0]["name"], "holiday.png");
    assert_eq!(v[0]["direct_link"], format!("{}/cdn/id1", server.url));
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["update", "id1", "--name", "beach.png"])
        .assert()
        .success()
        .stdout("https://fii.one/s/id1\n");
    assert_eq!(files.lock().unwrap()["id1"].0, "beach.png");
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["update", "id1", "--max-downloads", "3"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "fileio: error: fii.one does not support updating --max-downloads\n",
        ));
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["download", "id1", "-o", "-"])
        .assert()
        .success()
        .stdout("PNGDATA");
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["delete", "id1"])
        .assert()
        .success();
    assert!(files.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// FilePost: X-API-Key, optional answer fields, unpublished list/delete paths.

#[test]
fn filepost_upload_with_optional_fields_missing_and_configurable_paths() {
    let env = Env::new();
    let server = Canned::start(|req, i| {
        if req.target.starts_with("/cdn/") {
            return response("200 OK", &[], "pdfbytes");
        }
        if req.header("x-api-key") != Some("fp_key") || req.header("authorization").is_some() {
            return response(
                "401 Unauthorized",
                &[("Content-Type", "application/json")],
                r#"{"error":"bad key"}"#,
            );
        }
        match (req.method.as_str(), req.target.as_str()) {
            ("POST", "/v1/upload") => json(&format!(
                r#"{{"file_id":"fp{i}","url":"{}/cdn/file/filepost/uploads/fp{i}.pdf","size":8}}"#,
                host(req)
            )),
            ("GET", t) if t.starts_with("/v1/files") => json(
                r#"{"files":[{"file_id":"fp0","url":"https://cdn.example/fp0.pdf","name":"r.pdf","size":8}]}"#,
            ),
            ("DELETE", "/v1/files/fp0") => json(r#"{"success":true}"#),
            _ => response("404 Not Found", &[], ""),
        }
    });
    let fp = ["--service", "filepost", "--server", &server.url];
    env.write("r.pdf", "pdfbytes");
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "fp_key")
        .args(fp)
        .args(["--json", "upload", "r.pdf"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (v["key"].as_str(), v["size"].as_u64(), v["name"].as_str()),
        (Some("fp0"), Some(8), Some("r.pdf"))
    );
    assert!(v["expires"].is_null() && v["created"].is_null() && v["max_downloads"].is_null());
    let link = v["link"].as_str().unwrap().to_string();
    env.cmd()
        .args(fp)
        .args(["download", &link, "-o", "-"])
        .assert()
        .success()
        .stdout("pdfbytes");
    env.cmd()
        .args(fp)
        .args(["download", "fp0"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "fileio: error: FilePost files are downloaded by their link, not their id\n",
        ));
    env.cmd()
        .env("FILEIO_API_KEY", "fp_key")
        .args(fp)
        .args(["list"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with("fileio: error: FilePost does not support `fileio list`\nhint: filepost supports: upload, download\n"));
    config(
        &env,
        "[services]\nfilepost-list-path = \"/v1/files\"\nfilepost-delete-path = \"/v1/files/{id}\"\n",
    );
    env.cmd()
        .env("FILEIO_API_KEY", "fp_key")
        .args(fp)
        .args(["list"])
        .assert()
        .success()
        .stdout(contains("fp0\tr.pdf"));
    env.cmd()
        .env("FILEIO_API_KEY", "fp_key")
        .args(fp)
        .args(["delete", "fp0"])
        .assert()
        .success();
}

#[test]
fn services_lists_every_service_and_what_it_can_do() {
    let env = Env::new();
    let out = env.cmd().args(["services"]).assert().success();
    let stdout = text(&out.get_output().stdout);
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["fileio", "fileshot", "fiione", "filepost", "0x0"]);
    let out = env.cmd().args(["--json", "services"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v[1]["resumable"], true);
    assert_eq!(v[4]["secret_url"], true);
    assert_eq!(v[3]["list"], false);
    env.cmd().args(["--service", "dropbox", "services"]).assert().code(2).stderr(
        "fileio: error: unknown service 'dropbox'\nhint: services: fileio, fileshot, fiione, filepost, 0x0\n",
    );
}

#[test]
fn search_and_sort_are_done_here_for_services_that_cannot() {
    let env = Env::new();
    let (server, _files) = fiione();
    let fii = ["--service", "fiione", "--server", &server.url];
    for (file, content) in [
        ("b-report.png", "bb"),
        ("a-report.png", "a"),
        ("c-photo.png", "ccc"),
    ] {
        env.write(file, content);
        env.cmd()
            .env("FILEIO_API_KEY", "fii_good")
            .args(fii)
            .args(["upload", file])
            .assert()
            .success();
    }
    let names = |args: &[&str]| -> Vec<String> {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", "fii_good")
            .args(fii)
            .args(args)
            .assert()
            .success();
        text(&out.get_output().stdout)
            .lines()
            .map(|l| l.split('\t').nth(1).unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&["list", "--search", "report", "--sort", "name"]),
        ["a-report.png", "b-report.png"]
    );
    assert_eq!(
        names(&["list", "--sort", "size"]),
        ["a-report.png", "b-report.png", "c-photo.png"]
    );
    assert_eq!(
        names(&["list", "--all", "--search", "photo"]),
        ["c-photo.png"]
    );
    for r in server.requests() {
        assert!(
            !r.target.contains("search") && !r.target.contains("sort"),
            "{}",
            r.target
        );
    }
    env.cmd()
        .env("FILEIO_API_KEY", "fii_good")
        .args(fii)
        .args(["list", "--sort", "colour"])
        .assert()
        .code(2)
        .stderr(
            "fileio: error: cannot sort by 'colour'\nhint: sort by name, size, expires, created\n",
        );
}

// ---------------------------------------------------------------------------------------
// Encrypted uploads (issue 14) through each emulator: the service sees only an age file
// named file.age, and the link (with its #fragment) downloads the plaintext back.

/// Uploads `data` with --encrypt through `svc` and downloads it back by its link (or its key
/// and the link's fragment, `by_key`); returns the link.
fn encrypted_round_trip(
    env: &Env,
    svc: &[&str],
    api_key: &str,
    upload_args: &[&str],
    data: &[u8],
    by_key: bool,
) -> String {
    env.write("secret.bin", data);
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", api_key)
        .args(svc)
        .args(["--json", "upload", "--encrypt", "secret.bin"])
        .args(upload_args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = v["link"].as_str().unwrap().to_string();
    assert!(link.contains("#key=AGE-SECRET-KEY-1"), "{link}");
    assert_eq!(v["name"], "secret.bin");
    assert_eq!(v["size"], data.len());
    let _ = std::fs::remove_file(env.work().join("back.bin"));
    // A service whose links point at its public host is reached by the key, fragment kept.
    let target = if by_key {
        let frag = link.split_once('#').unwrap().1;
        format!("{}#{frag}", v["key"].as_str().unwrap())
    } else {
        link.clone()
    };
    let back = env
        .cmd()
        .env("FILEIO_API_KEY", api_key)
        .args(svc)
        .args(["download", &target, "-o", "back.bin"])
        .output()
        .unwrap();
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert!(std::fs::read(env.work().join("back.bin")).unwrap() == data);
    link
}

fn age_magic(b: &[u8]) -> bool {
    b.starts_with(b"age-encryption.org/v1\n")
}

#[test]
fn encrypted_uploads_round_trip_through_0x0() {
    let env = Env::new();
    let (server, state) = null_pointer("200 OK");
    let svc = ["--service", "0x0", "--server", &server.url];
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let link = encrypted_round_trip(&env, &svc, "", &["--expires", "24h"], &data, false);
    let st = state.lock().unwrap();
    assert!(st.files.values().all(|(b, _)| age_magic(b)));
    for req in server.requests() {
        if req.method == "POST" {
            let parts = multipart(&req);
            let file = parts.iter().find(|p| p.name == "file").unwrap();
            assert_eq!(file.filename.as_deref(), Some("file.age"));
        }
    }
    drop(st);
    // Managed by its bare key, the link (fragment and all) comes from the history: the
    // fragment is never sent, nor shown in -v's log of the request.
    let secret = link
        .split_once("#key=")
        .unwrap()
        .1
        .split('&')
        .next()
        .unwrap();
    let file_key = link.split_once('#').unwrap().0.rsplit('/').next().unwrap();
    for args in [
        vec!["update", file_key, "--expires", "1h"],
        vec!["delete", file_key],
    ] {
        let out = env.cmd().args(svc).arg("-v").args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("> POST "), "{args:?}: {stderr}");
        assert!(!stderr.contains(secret), "{args:?}: {stderr}");
        assert!(
            !text(&out.stdout).replace(&link, "").contains(secret),
            "{args:?}"
        );
    }
    assert!(server.requests().iter().all(|r| !r.target.contains('#')));
}

#[test]
fn encrypted_uploads_round_trip_through_fileshot_whole_and_in_chunks() {
    let env = Env::new();
    let (server, state) = fileshot();
    let svc = ["--service", "fileshot", "--server", &server.url];
    let small: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    encrypted_round_trip(
        &env,
        &svc,
        "creator-key",
        &["--expires", "2d"],
        &small,
        false,
    );
    config(&env, "[services]\nfileshot-chunk-threshold = \"1MB\"\n");
    let big: Vec<u8> = (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect();
    encrypted_round_trip(&env, &svc, "creator-key", &["-j", "3"], &big, false);
    assert!(
        !state.lock().unwrap().chunk_posts.is_empty(),
        "the large file went up in chunks"
    );
}

#[test]
fn encrypted_uploads_round_trip_through_fiione() {
    let env = Env::new();
    let (server, _files) = fiione();
    let svc = ["--service", "fiione", "--server", &server.url];
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 239) as u8).collect();
    encrypted_round_trip(&env, &svc, "fii_good", &[], &data, true);
}

#[test]
fn encrypted_uploads_to_filepost_send_only_an_age_file() {
    let env = Env::new();
    let server = Canned::start(|req, _| {
        json(&format!(
            r#"{{"file_id":"fp1","url":"{}/cdn/fp1.age"}}"#,
            host(req)
        ))
    });
    env.write("r.pdf", "pdf bytes");
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "fp_key")
        .args(["--service", "filepost", "--server", &server.url])
        .args(["upload", "--encrypt", "r.pdf"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("/cdn/fp1.age#key=AGE-SECRET-KEY-1"));
    let reqs = server.requests();
    let parts = multipart(&reqs[0]);
    let file = parts.iter().find(|p| p.name == "file").unwrap();
    assert_eq!(file.filename.as_deref(), Some("file.age"));
    assert!(age_magic(&file.data));
    assert!(!reqs[0].body_text().contains("r.pdf"));
}
