//! What every integration test needs: an isolated environment for the binary, and a real
//! `fileio serve` on a loopback port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};

use assert_cmd::Command;
use tempfile::TempDir;

/// A private HOME, config, data and cache directory for one test, so no test reads the
/// user's config, history or keyring, and none sees another's.
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["home", "config", "data", "cache", "work"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Env { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The working directory commands run in.
    pub fn work(&self) -> PathBuf {
        self.path("work")
    }

    /// Writes a file under the working directory and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.work().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// `fileio` with this environment and nothing inherited that could change its behaviour.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    /// The same, as a `std::process::Command` (for long-running children).
    pub fn std_cmd(&self) -> StdCommand {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin!("fileio"));
        for (k, _) in std::env::vars() {
            if k.starts_with("FILEIO_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            // Never the real OS keyring: keys go to a file in this test's own directory.
            .env("FILEIO_CREDENTIAL_STORE", "file")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .current_dir(self.work());
        cmd
    }
}

/// A running `fileio serve` on 127.0.0.1, stopped when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub data: PathBuf,
    stderr_log: PathBuf,
}

impl Server {
    /// Starts `fileio serve --bind 127.0.0.1:0 --data <env>/serverdata` plus `args`.
    pub fn start(env: &Env, args: &[&str]) -> Server {
        Server::start_with_data(env, &env.path("serverdata"), args)
    }

    pub fn start_with_data(env: &Env, data: &Path, args: &[&str]) -> Server {
        Server::start_with_vars(env, data, args, &[])
    }

    /// The same, with these environment variables set for the server.
    pub fn start_with_vars(env: &Env, data: &Path, args: &[&str], vars: &[(&str, &str)]) -> Server {
        let log = env.path(&format!("serve-{}.log", rand_suffix()));
        let mut child = env
            .std_cmd()
            .envs(vars.iter().copied())
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fileio serve");
        // The server announces its address as the first line on stderr; the rest of its log
        // goes to a file the test can read.
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let mut first = String::new();
        reader.read_line(&mut first).expect("read serve banner");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in serve banner: {first:?}"))
            .to_string();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut out = std::fs::File::create(&log_path).unwrap();
            let _ = std::io::copy(&mut reader, &mut out);
        });
        Server {
            child,
            url,
            data: data.to_path_buf(),
            stderr_log: log,
        }
    }

    /// What the server has logged so far (after its banner). It writes access-log lines in
    /// batches, 50 ms after the first at the latest: this waits five times that first, so
    /// that a line is never missed, nor a secret's absence checked before its line is out.
    pub fn log(&self) -> String {
        std::thread::sleep(std::time::Duration::from_millis(250));
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Stops the server the way a service manager would (SIGTERM) and waits for it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    /// [`Server::stop`], and then everything it logged.
    pub fn stop_with_log(mut self) -> (std::process::ExitStatus, String) {
        let status = self.terminate();
        (status, self.log())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        #[cfg(unix)]
        {
            let _ = StdCommand::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return status;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One request as a canned server saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a canned server does with a request.
pub enum Reply {
    /// Sends these bytes as they are (a whole HTTP response, or a broken one), then closes.
    Raw(Vec<u8>),
    /// Reads the request, then says nothing for this long before closing.
    Hang(std::time::Duration),
    /// Closes the connection without answering.
    DropAfterHead,
    /// Sends these bytes, then stalls this long before closing (a transfer cut short).
    RawThenHang(Vec<u8>, std::time::Duration),
}

/// A full HTTP/1.1 response with a Content-Length, for `Reply::Raw`.
pub fn response(status: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Reply {
    let body = body.as_ref();
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    let has_len = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Raw(bytes)
}

/// A JSON 200 response.
pub fn json(body: &str) -> Reply {
    response("200 OK", &[("Content-Type", "application/json")], body)
}

type Handler = dyn Fn(&SeenRequest, usize) -> Reply + Send + Sync;

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers each request as a test scripts it: the
/// hostile servers (HTML, redirects, short bodies, stalls, drops) the client must survive.
///
/// A panic or failed assertion in a handler (an emulator checking what the client sent) is
/// kept, and fails the test when the server is dropped, as xh's test server does: it would
/// otherwise show only as a dropped connection, which the client may even retry.
pub struct Canned {
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<SeenRequest>>>,
    panics: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Canned {
    fn drop(&mut self) {
        let panics = self.panics.lock().map(|p| p.clone()).unwrap_or_default();
        if let Some(first) = panics.first() {
            if !std::thread::panicking() {
                panic!("a handler of the test server panicked: {first}");
            }
        }
    }
}

impl Canned {
    /// `handler` gets each request and its index (0 for the first).
    pub fn start(handler: impl Fn(&SeenRequest, usize) -> Reply + Send + Sync + 'static) -> Canned {
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen2 = seen.clone();
        let panics = Arc::new(Mutex::new(Vec::new()));
        let panics2 = panics.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (seen, handler, panics) = (seen2.clone(), handler.clone(), panics2.clone());
                std::thread::spawn(move || {
                    let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        serve_one(stream, &seen, &*handler)
                    }));
                    if let Err(p) = served {
                        let message = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "a panic without a message".into());
                        // A poisoned lock may fail after the first panic: keep that one first.
                        if let Ok(mut all) = panics.lock() {
                            all.push(message);
                        }
                    }
                });
            }
        });
        Canned { url, seen, panics }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one(
    mut stream: std::net::TcpStream,
    seen: &std::sync::Mutex<Vec<SeenRequest>>,
    handler: &Handler,
) {
    use std::io::{Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = SeenRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let index = {
        let s = seen.lock().unwrap();
        s.len()
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        let _ = reader.read_exact(&mut body);
        req.body = body;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        req.body = read_chunked(&mut reader);
    }
    let reply = handler(&req, index);
    seen.lock().unwrap().push(req);
    match reply {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
        }
        Reply::Hang(d) => std::thread::sleep(d),
        Reply::RawThenHang(bytes, d) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            std::thread::sleep(d);
        }
        Reply::DropAfterHead => {}
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if reader.read_line(&mut size).unwrap_or(0) == 0 {
            break;
        }
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            let mut end = String::new();
            let _ = reader.read_line(&mut end);
            break;
        }
        let mut chunk = vec![0; n + 2];
        if reader.read_exact(&mut chunk).is_err() {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body
}

/// A v2 FileDetails answer as file.io gives it.
pub fn file_details(key: &str, base: &str, name: &str, size: u64) -> String {
    format!(
        r#"{{"success":true,"status":200,"id":"{key}","key":"{key}","path":"/","nodeType":"file","name":"{name}","title":"{name}","description":"","link":"{base}/{key}","private":false,"expires":"2026-12-06T10:00:00.000Z","expiry":"14 days","downloads":0,"maxDownloads":1,"autoDelete":true,"size":{size},"mimeType":"application/octet-stream","screeningStatus":"ok","created":"2026-11-22T10:00:00.000Z","modified":"2026-11-22T10:00:00.000Z"}}"#
    )
}

/// The text of a multipart body's field `name` (not for file parts).
pub fn form_field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"\r\n\r\n");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find("\r\n")? + start;
    Some(body[start..end].to_string())
}

/// One part of a multipart body: its field name, file name and bytes.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// The parts of a `multipart/form-data` request, for emulators.
pub fn multipart(req: &SeenRequest) -> Vec<FormPart> {
    let ct = req.header("content-type").unwrap_or("");
    let Some(boundary) = ct.split("boundary=").nth(1) else {
        return Vec::new();
    };
    let delim = format!("--{}", boundary.trim_matches('"'));
    let body = &req.body;
    let mut parts = Vec::new();
    let mut pos = 0;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from.min(hay.len())..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    while let Some(start) = find(body, delim.as_bytes(), pos) {
        let head_start = start + delim.len() + 2;
        let Some(head_end) = find(body, b"\r\n\r\n", head_start) else {
            break;
        };
        let Some(next) = find(body, format!("\r\n{delim}").as_bytes(), head_end) else {
            break;
        };
        let head = String::from_utf8_lossy(&body[head_start..head_end]).into_owned();
        let attr = |k: &str| {
            head.split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{k}=\"")))
                .map(|v| v.split('"').next().unwrap_or("").to_string())
        };
        let name = head
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name=\""))
            .map(|v| v.split('"').next().unwrap_or("").to_string())
            .unwrap_or_default();
        parts.push(FormPart {
            name,
            filename: attr("filename"),
            data: body[head_end + 4..next].to_vec(),
        });
        pos = next + 2;
    }
    parts
}

/// The value of a urlencoded form field or query parameter.
pub fn form_value(encoded: &str, key: &str) -> Option<String> {
    encoded.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == key).then(|| v.replace('+', " "))
    })
}

#[test]
#[should_panic(expected = "a handler of the test server panicked: the emulator saw a wrong field")]
fn a_panic_in_a_test_server_fails_the_test_that_used_it() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let server = Canned::start(|_, _| panic!("the emulator saw a wrong field"));
    let _ = env
        .cmd()
        .args(["--server", &server.url, "--retries", "0", "upload", "a.txt"])
        .output();
    drop(server);
}

/// The size of the largest file in `dir` (a server's staging or partial uploads), 0 if none.
pub fn largest_file(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

/// Whether the program `name` can be run here. A test that needs one and does not find it
/// says so and is skipped in a plain `cargo test`; in CI (`CI` set), where .ci/run installs
/// every such tool before the tests, a missing one fails the test instead.
pub fn have_tool(name: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(name);
            std::fs::metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    });
    if !found {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "{test} needs {name}, which .ci/run installs: it is missing"
        );
        eprintln!(
            "skipped {test}: it needs {name}, which is not installed here (.ci/run installs it)"
        );
    }
    found
}

#[test]
fn a_missing_tool_is_found_missing_and_a_present_one_found() {
    assert!(have_tool("sh", "this test"));
    if std::env::var_os("CI").is_none() {
        assert!(!have_tool("no-such-tool-for-fileio-tests", "this test"));
    }
}
