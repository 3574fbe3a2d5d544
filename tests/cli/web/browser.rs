//! The pages in a real browser: headless Chromium driven by chromedriver (Debian's
//! `chromium` and `chromium-driver`) over the W3C WebDriver protocol.
//!
//! The protocol is spoken here directly — JSON over HTTP/1.1 on a loopback socket, a few
//! dozen lines — rather than through fantoccini or thirtyfour, which would add their own
//! HTTP stacks and some thirty crates to the test build for the eight commands used.
//!
//! Without Chromium the test says so and passes; with `CI=true` a missing Chromium fails it.
//! On failure, a screenshot of every page visited is saved in `target/web-artifacts/`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{BOTS, decode_qr_svg, key, request, upload};
use crate::support::{Env, Server};

const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

/// Where chromedriver is, or why the test cannot run.
fn find_browser() -> Result<PathBuf, String> {
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    match driver {
        Some(d) if Path::new(CHROMIUM).exists() => Ok(d),
        _ => Err(format!(
            "no {CHROMIUM} and chromedriver: install the Debian packages chromium and chromium-driver"
        )),
    }
}

/// A chromedriver process and one Chromium session under it.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    downloads: PathBuf,
    /// A screenshot (base64 PNG) of each page visited, written out only if the test fails.
    shots: Vec<(String, String)>,
}

impl Browser {
    fn start(driver: &Path, profile: &Path, downloads: &Path) -> Browser {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        // In a process group of its own, so that the Chromium it starts goes with it.
        use std::os::unix::process::CommandExt as _;
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut b = Browser {
            driver: child,
            port,
            session: String::new(),
            downloads: downloads.to_path_buf(),
            shots: vec![],
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=420,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                },
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        // Headless Chromium saves downloads only where told to.
        b.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Browser.setDownloadBehavior", "params": {
                "behavior": "allow", "downloadPath": downloads.display().to_string()}}),
        );
        b
    }

    /// One WebDriver request; the answer's `value`. Panics on a WebDriver error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        // chromedriver keeps connections open whatever the request says: read the head,
        // then as many bytes as it announces.
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        let end = loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "chromedriver closed the connection");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let mut payload = raw[end + 4..].to_vec();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse::<usize>().unwrap());
        match length {
            Some(len) => {
                while payload.len() < len {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "chromedriver closed the connection");
                    payload.extend_from_slice(&buf[..n]);
                }
            }
            None => {
                s.read_to_end(&mut payload).unwrap();
                if head.contains("transfer-encoding: chunked") {
                    payload = dechunk(&payload);
                }
            }
        }
        let v: Value = serde_json::from_slice(&payload).unwrap_or_else(|e| {
            panic!(
                "WebDriver {path}: {e}: {}",
                String::from_utf8_lossy(&payload)
            )
        });
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if let Some(err) = value.get("error") {
            panic!("WebDriver {method} {path}: {err}: {}", value["message"]);
        }
        value
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method == "POST").then_some(body);
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&mut self, url: &str, name: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
        let shot = self.cmd("GET", "/screenshot", Value::Null);
        self.shots.push((
            name.to_string(),
            shot.as_str().unwrap_or_default().to_string(),
        ));
    }

    fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Waits up to 15 s for a script to return something truthy; returns it.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.script(script);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if Instant::now() > deadline {
                let body = self.script("return document.body.innerText");
                panic!("timed out waiting for {what}; the page says: {body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        );
    }

    /// Presses keys on whatever has the focus, as a person at the keyboard would.
    fn press(&self, keys: &[&str]) {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    fn focused_id(&self) -> String {
        self.script("return document.activeElement ? document.activeElement.id : ''")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The HTTP status of the page shown.
    fn status(&self) -> u64 {
        self.script("return performance.getEntriesByType('navigation')[0].responseStatus")
            .as_u64()
            .unwrap_or(0)
    }

    /// The browser's console since the last call.
    fn console(&self) -> Vec<Value> {
        self.cmd("POST", "/se/log", json!({"type": "browser"}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits for `name` to be saved in full in the download directory; its bytes.
    fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.join(name);
        let partial = self.downloads.join(format!("{name}.crdownload"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !path.exists() || partial.exists() {
            assert!(
                Instant::now() < deadline,
                "{name} was not downloaded; the directory holds {:?}",
                std::fs::read_dir(&self.downloads)
                    .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::read(path).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/web-artifacts");
            let _ = std::fs::create_dir_all(&dir);
            use base64::Engine as _;
            for (i, (name, png)) in self.shots.iter().enumerate() {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(png) {
                    let _ = std::fs::write(dir.join(format!("{i:02}-{name}.png")), bytes);
                }
            }
            // And the page the failure happened on.
            if !self.session.is_empty() {
                let shot = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.cmd("GET", "/screenshot", Value::Null)
                }));
                if let Ok(Value::String(png)) = shot {
                    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(png) {
                        let _ = std::fs::write(dir.join("failed.png"), bytes);
                    }
                }
            }
            eprintln!("screenshots of the pages are in {}", dir.display());
        }
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &format!("/session/{}", self.session), None)
            }));
        }
        // SAFETY: a plain kill(2) of the group this test started.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
        let len =
            usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            break;
        }
        out.extend_from_slice(&rest[nl + 2..nl + 2 + len]);
        rest = &rest[nl + 2 + len + 2..];
    }
    out
}

/// Console entries that are errors, leaving out the one a page with a 404 or 410 status is
/// expected to log about itself.
fn errors(log: &[Value], expected_status_of: Option<&str>) -> Vec<String> {
    log.iter()
        .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .filter(|m| {
            !expected_status_of.is_some_and(|url| {
                m.starts_with(url) && (m.contains("status of 404") || m.contains("status of 410"))
            })
        })
        .collect()
}

/// The `d` of the SVG's path: the QR code's dark modules.
fn modules(svg: &str) -> String {
    let start = svg.find(" d=\"").expect("a path") + 4;
    svg[start..start + svg[start..].find('"').unwrap()].to_string()
}

/// chromedriver, or `None` (after saying so) when the browser is not installed; under
/// `CI=true` a missing browser fails the test instead.
fn driver_or_skip() -> Option<PathBuf> {
    match find_browser() {
        Ok(_) if super::no_curl("web::browser") => None,
        Ok(d) => Some(d),
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI needs the browser tests: {why}");
            }
            eprintln!("skipped: {why}");
            None
        }
    }
}

#[test]
fn the_pages_work_in_a_real_browser() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let downloads = env.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let mut b = Browser::start(&driver, &env.path("profile"), &downloads);

    // The upload page, with the keyboard alone: Tab to the file input and give it two files.
    b.goto(&format!("{}/", s.url), "upload-page");
    assert_eq!(b.status(), 200);
    b.press(&[TAB, TAB, TAB]);
    assert_eq!(b.focused_id(), "files", "three Tabs reach the file input");
    let one = env.write("one.txt", b"the first file\n");
    let two = env.write("two bytes.bin", [0u8, 1, 2, 255, 254].repeat(1000));
    b.type_into("#files", &format!("{}\n{}", one.display(), two.display()));
    b.wait_for(
        "two links with their QR codes",
        "return document.querySelectorAll('li.done .qr svg').length === 2",
    );
    b.goto_shot("uploaded");
    let items = b.script(
        "return Array.from(document.querySelectorAll('li.done')).map(li => ({
            name: li.querySelector('.name').textContent,
            link: li.querySelector('.link-text').value,
            svg: li.querySelector('.qr svg').outerHTML,
            copy: li.querySelector('button').textContent,
            progress: li.querySelector('progress').value }))",
    );
    let items = items.as_array().unwrap();
    let mut links = std::collections::HashMap::new();
    for it in items {
        let link = it["link"].as_str().unwrap();
        assert!(link.starts_with(&format!("{}/", s.url)), "{link}");
        assert_eq!(it["copy"], "Copy link");
        // Filled by the upload's progress events, not by the answer.
        assert_eq!(it["progress"], 100.0, "{it}");
        // The code on the page encodes the link: the same modules as the crate draws for it.
        let expected = fileio::qr::svg(link).unwrap();
        assert_eq!(modules(it["svg"].as_str().unwrap()), modules(&expected));
        // And a decoder reads the link back from the code the page shows.
        assert_eq!(decode_qr_svg(it["svg"].as_str().unwrap()), link);
        links.insert(it["name"].as_str().unwrap().to_string(), link.to_string());
    }
    let link_one = links["one.txt"].clone();
    let link_two = links["two bytes.bin"].clone();
    let log = b.console();
    assert!(errors(&log, None).is_empty(), "console: {log:?}");

    // Three preview bots and a HEAD first: the one-time link survives them.
    let path_one = link_one.strip_prefix(&s.url).unwrap().to_string();
    for ua in &BOTS[..3] {
        let r = request(&s, "GET", &path_one, &[("User-Agent", ua)]);
        assert_eq!(r.status, 200);
        assert!(!r.text().contains("the first file"));
    }
    assert_eq!(request(&s, "HEAD", &path_one, &[]).status, 200);

    // The landing page; its Download button saves the file.
    b.goto(&link_one, "landing-page");
    assert_eq!(b.status(), 200);
    let text = b
        .script("return document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("one.txt") && text.contains("15 bytes"),
        "{text}"
    );
    assert!(text.contains("Downloads left"), "{text}");
    b.click("#download");
    assert_eq!(b.downloaded("one.txt"), b"the first file\n");
    // Spent by that download alone: 410, saying so.
    b.goto(&link_one, "spent-page");
    assert_eq!(b.status(), 410);
    let text = b
        .script("return document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("This link is gone"), "{text}");
    assert!(
        text.contains("downloaded as often as its sender allowed"),
        "{text}"
    );
    let log = b.console();
    assert!(errors(&log, Some(&link_one)).is_empty(), "console: {log:?}");

    // The second file with the keyboard: Tab to the Download button, Enter.
    b.goto(&link_two, "landing-page-keyboard");
    b.press(&[TAB]);
    assert_eq!(b.focused_id(), "download");
    b.press(&[ENTER]);
    assert_eq!(
        b.downloaded("two bytes.bin"),
        [0u8, 1, 2, 255, 254].repeat(1000)
    );

    // An expired link: its page, 410; a link that never was: 404.
    let expired = upload(
        &s,
        &env,
        "old.txt",
        b"old",
        &["expires=1s", "autoDelete=false"],
    );
    std::thread::sleep(Duration::from_millis(1100));
    let expired_link = format!("{}/{}", s.url, key(&expired));
    b.goto(&expired_link, "expired-page");
    assert_eq!(b.status(), 410);
    let text = b
        .script("return document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("This link is gone") && text.contains("The file expired on "),
        "{text}"
    );
    let log = b.console();
    assert!(
        errors(&log, Some(&expired_link)).is_empty(),
        "console: {log:?}"
    );
    let unknown_link = format!("{}/nosuchkey123", s.url);
    b.goto(&unknown_link, "unknown-page");
    assert_eq!(b.status(), 404);
    let text = b
        .script("return document.body.innerText")
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("No file at this link"), "{text}");
    let log = b.console();
    assert!(
        errors(&log, Some(&unknown_link)).is_empty(),
        "console: {log:?}"
    );

    // An end-to-end encrypted link: the notice, and the fragment never reached the server.
    let e2e = upload(&s, &env, "sealed.age", b"age-encryption.org/v1", &[]);
    let secret = "AGE-SECRET-KEY-1QQQQTESTFRAGMENT";
    b.goto(
        &format!("{}#{secret}", e2e["link"].as_str().unwrap()),
        "encrypted-page",
    );
    let notice = b.wait_for(
        "the end-to-end notice",
        "var e = document.getElementById('e2e'); return !e.hidden && e.innerText",
    );
    assert!(
        notice.as_str().unwrap().contains("fileio download"),
        "{notice}"
    );
    assert!(!s.log().contains(secret), "the fragment reached the server");

    let log = b.console();
    assert!(
        errors(&log, Some(&expired_link)).is_empty(),
        "console: {log:?}"
    );
    let csp: Vec<_> = log
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Content Security Policy")
        })
        .collect();
    assert!(csp.is_empty(), "CSP violations: {csp:?}");
}

impl Browser {
    /// A screenshot of the page as it is now (after a script changed it).
    fn goto_shot(&mut self, name: &str) {
        let shot = self.cmd("GET", "/screenshot", Value::Null);
        self.shots.push((
            name.to_string(),
            shot.as_str().unwrap_or_default().to_string(),
        ));
    }
}

#[test]
fn the_upload_page_takes_a_key_and_says_what_went_wrong() {
    let Some(driver) = driver_or_skip() else {
        return;
    };
    const KEY: &str = "PAGEKEY1.abcdefgh-ijklmnop";
    let env = Env::new();
    let s = Server::start(&env, &["--api-key", KEY, "--require-auth"]);
    let downloads = env.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let mut b = Browser::start(&driver, &env.path("profile"), &downloads);
    b.goto(&format!("{}/", s.url), "upload-page-with-key");
    let f = env.write("k.txt", b"with a key");

    // No key yet: a sentence, and nothing sent.
    b.type_into("#files", &f.display().to_string());
    let said = b.wait_for(
        "the missing-key sentence",
        "var e = document.querySelector('li.failed .status'); return e && e.textContent",
    );
    assert!(
        said.as_str().unwrap().contains("only with an API key"),
        "{said}"
    );

    // A refusal by the server, shown as its own sentence.
    b.press(&[TAB]);
    assert_eq!(b.focused_id(), "key", "the key field comes first");
    b.type_into("#key", KEY);
    b.script("document.getElementById('downloads').value = '0'");
    b.type_into("#files", &f.display().to_string());
    let said = b.wait_for(
        "the server's sentence",
        "var e = document.querySelectorAll('li.failed .status'); return e.length === 2 && e[1].textContent",
    );
    assert!(
        said.as_str()
            .unwrap()
            .contains("The maxDownloads value '0' is not valid"),
        "{said}"
    );

    // With the key and sane settings: a link. The key stayed in the tab, out of every URL.
    b.script("document.getElementById('downloads').value = '2'");
    b.type_into("#files", &f.display().to_string());
    let link = b.wait_for(
        "the link",
        "var e = document.querySelector('li.done .link-text'); return e && e.value",
    );
    let link = link.as_str().unwrap();
    assert!(link.starts_with(&s.url), "{link}");
    assert_eq!(
        b.script("return sessionStorage.getItem('fileio-api-key')"),
        KEY
    );
    assert!(
        !b.script("return location.href")
            .as_str()
            .unwrap()
            .contains(KEY)
    );
    assert!(!s.log().contains(KEY));
    let got = request(&s, "GET", link.strip_prefix(&s.url).unwrap(), &[]);
    assert_eq!(got.body, b"with a key");

    // Files dropped on the drop zone go up the same way.
    b.script(
        "var dt = new DataTransfer();
         dt.items.add(new File(['dropped bytes'], 'dropped.txt', {type: 'text/plain'}));
         document.getElementById('drop').dispatchEvent(
             new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));",
    );
    let dropped = b.wait_for(
        "the dropped file's link",
        "var e = document.querySelectorAll('li.done .link-text'); return e.length === 2 && e[1].value",
    );
    let got = request(
        &s,
        "GET",
        dropped.as_str().unwrap().strip_prefix(&s.url).unwrap(),
        &[],
    );
    assert_eq!(got.body, b"dropped bytes");

    // The page's own refusals are answers, not console errors: only the 400 of the refused
    // upload itself may be logged.
    let log = b.console();
    let unexpected: Vec<_> = errors(&log, None)
        .into_iter()
        .filter(|m| !m.contains("status of 400"))
        .collect();
    assert!(unexpected.is_empty(), "console: {log:?}");
}
