//! A moto S3 server (`pip install 'moto[server]'`) on a free loopback port, for tests. Shared
//! by the unit tests (`src/server/s3.rs` includes this file) and the integration tests.
//!
//! Without `moto_server` on PATH the tests that need it say so and pass, except in CI
//! (`CI=true`), where a missing moto fails them.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

pub(crate) const ACCESS_KEY: &str = "AKIAFILEIOTEST000001";
pub(crate) const SECRET_KEY: &str = "s3cr3t-F1LEIO-never-shown-anywhere";
pub(crate) const BUCKET: &str = "fileio-test";
pub(crate) const PREFIX: &str = "srv/files";

/// A moto S3 server on a free loopback port, killed when dropped.
pub struct Moto {
    pub(crate) child: Child,
    port: u16,
    pub endpoint: String,
}

/// Says once, on the real stderr (past the test harness's capture), why S3 tests are skipped.
fn say_skipped(why: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "note: the S3 tests (server_s3) were skipped: {why}; install it with pip install 'moto[server]' to run them"
        );
    });
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// A fresh moto with the test bucket, or `None` (after saying why) when moto is not
    /// installed; in CI that is a failure.
    pub fn start() -> Option<Moto> {
        let installed = StdCommand::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
            assert!(
                !ci,
                "moto_server is not installed, and CI must run the S3 tests: pip install 'moto[server]'"
            );
            say_skipped("moto_server is not on PATH");
            return None;
        }
        let moto = Moto::start_on(free_port());
        moto.create_bucket(BUCKET);
        Some(moto)
    }

    /// moto on `port`, once it answers.
    fn start_on(port: u16) -> Moto {
        let child = StdCommand::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let mut moto = Moto {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if moto.try_request("GET", "/", &[]).is_some() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills this moto (its state goes with it) and starts a fresh one on the same port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let port = self.port;
        *self = Moto::start_on(port);
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One HTTP/1.0 request to moto (which takes it unsigned): status and body.
    fn try_request(&self, method: &str, target: &str, body: &[u8]) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let head = format!(
            "{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).ok()?;
        s.write_all(body).ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).ok()?;
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }

    pub(crate) fn request(&self, method: &str, target: &str) -> (u16, String) {
        self.try_request(method, target, &[])
            .unwrap_or_else(|| panic!("moto did not answer {method} {target}"))
    }

    pub(crate) fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "create bucket: {body}");
    }

    /// Every object in the bucket: key and ETag.
    pub(crate) fn objects(&self) -> Vec<(String, String)> {
        let (status, body) = self.request("GET", &format!("/{BUCKET}?list-type=2"));
        assert_eq!(status, 200, "{body}");
        body.split("<Contents>")
            .skip(1)
            .map(|c| {
                (
                    between(c, "<Key>", "</Key>"),
                    between(c, "<ETag>", "</ETag>"),
                )
            })
            .collect()
    }

    /// The keys of the multipart uploads started and neither completed nor aborted.
    pub(crate) fn pending(&self) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{BUCKET}?uploads"));
        assert_eq!(status, 200, "{body}");
        body.split("<Upload>")
            .skip(1)
            .map(|u| between(u, "<Key>", "</Key>"))
            .collect()
    }

    /// Starts a multipart upload as a killed instance would have left it.
    pub(crate) fn start_upload(&self, key: &str) {
        let (status, body) = self.request("POST", &format!("/{BUCKET}/{key}?uploads"));
        assert_eq!(status, 200, "{body}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn aws_vars() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ]
}

fn between(s: &str, start: &str, end: &str) -> String {
    let from = s.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = s[from..].find(end).map_or(s.len(), |i| from + i);
    s[from..to].replace("&#34;", "\"").replace("&quot;", "\"")
}
