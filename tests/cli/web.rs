//! The browser face of `fileio serve` (issue 15) over real HTTP: who gets a page and who gets
//! the bytes, what a page may not spend, the headers, `--no-web`, QR codes, `upload --qr`.
//! The same in a real browser (headless Chromium under WebDriver) is in `web/browser.rs`.

mod browser;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command as StdCommand;

use serde_json::Value;

use crate::support::{Env, Server};

/// What Chromium sends when it opens a page.
pub const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

/// Preview fetchers as they introduce themselves.
const BOTS: &[&str] = &[
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/112.0.0.0 Safari/537.36 Edg/112.0.1722.48 MicrosoftPreview/2.0 +https://aka.ms/MicrosoftPreview",
    "TelegramBot (like TwitterBot)",
    "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "WhatsApp/2.23.20.0",
];

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request over a fresh connection (`Connection: close`), with these extra header lines;
/// the answer read to the end. Only Content-Length bodies (all the server sends here).
pub fn request(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let addr = server.url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status: status.parse().unwrap(),
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// A browser opening `path`.
pub fn browse(server: &Server, method: &str, path: &str) -> Resp {
    request(
        server,
        method,
        path,
        &[("Accept", BROWSER_ACCEPT), ("User-Agent", BROWSER_UA)],
    )
}

/// Whether curl is missing, for a test that uploads with it: the test is then skipped saying
/// so (failed under CI, where .ci/run installs curl).
pub fn no_curl(test: &str) -> bool {
    !crate::support::have_tool("curl", test)
}

/// Uploads `contents` as `name` with curl and these extra `-F` fields; returns the answer.
pub fn upload(server: &Server, env: &Env, name: &str, contents: &[u8], fields: &[&str]) -> Value {
    let path = env.write(name, contents);
    let mut cmd = StdCommand::new("curl");
    cmd.args(["-sS", "--noproxy", "*", "-F"])
        .arg(format!("file=@{}", path.display()));
    for f in fields {
        cmd.args(["-F", f]);
    }
    let out = cmd.arg(&server.url).output().expect("run curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Reads a QR code drawn as the server draws it (one `<path>` of `M x y h w v h H x V y`
/// rectangles in a `viewBox`): rasterised here, decoded by rqrr, an independent decoder.
pub fn decode_qr_svg(svg: &str) -> String {
    let attr = |name: &str| {
        let start = svg.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        svg[start..start + svg[start..].find('"').unwrap()].to_string()
    };
    let view: Vec<usize> = attr("viewBox")
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (w, h) = (view[2], view[3]);
    let mut dark = vec![false; w * h];
    for rect in attr("d").split('M').filter(|r| !r.is_empty()) {
        // "x yhWvHHxVy"
        let nums: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().unwrap())
            .collect();
        let (x, y, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                dark[yy * w + xx] = true;
            }
        }
    }
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| {
                if dark[y * w + x] { 0 } else { 255 }
            },
        );
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("a readable QR code").1
}

fn key(v: &Value) -> String {
    v["key"].as_str().unwrap().to_string()
}

/// The headers every page carries.
fn assert_secure(r: &Resp) {
    let csp = r.header("Content-Security-Policy").expect("a CSP");
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
}

#[test]
fn browsers_get_the_upload_page_and_api_clients_keep_json() {
    if no_curl("web::browsers_get_the_upload_page_and_api_clients_keep_json") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &[]);
    // API clients: the list needs a key, as before.
    for accept in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("application/json, text/html;q=0.5"),
    ] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
        let r = request(&s, "GET", "/", &headers);
        assert_eq!(r.status, 401, "{accept:?}: {}", r.text());
        assert_eq!(r.json()["success"], false);
        assert!(r.header("Vary").is_some_and(|v| v.contains("Accept")));
    }
    let r = browse(&s, "GET", "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_secure(&r);
    let html = r.text();
    assert!(html.contains("<input id=\"files\""), "{html}");
    assert!(html.contains("<script src=\"/_/app.js\""), "{html}");
    // No inline script or style anywhere.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    // No API key field when the server does not want one.
    assert!(!html.contains("id=\"key\""), "{html}");
    // Uploads from a browser go through the API as before.
    let up = upload(&s, &env, "a.txt", b"hi", &[]);
    assert_eq!(up["success"], true);
}

#[test]
fn the_upload_page_offers_the_servers_own_limits() {
    let env = Env::new();
    let s = Server::start(
        &env,
        &[
            "--max-expiry",
            "7d",
            "--max-size",
            "1MiB",
            "--api-key",
            "KEY1.abcdefgh",
            "--require-auth",
        ],
    );
    let html = browse(&s, "GET", "/").text();
    assert!(
        html.contains("<input id=\"key\" type=\"password\""),
        "{html}"
    );
    assert!(
        html.contains("<option value=\"7d\" selected>7 days</option>"),
        "{html}"
    );
    assert!(html.contains("<option value=\"1d\">"), "{html}");
    assert!(
        !html.contains("value=\"14d\"") && !html.contains("value=\"1y\""),
        "{html}"
    );
    assert!(html.contains("data-max-size=\"1048576\""), "{html}");
    assert!(
        html.contains("Files up to 1.0 MiB. Links live at most 7 days."),
        "{html}"
    );
}

#[test]
fn previews_heads_and_browsers_never_spend_a_one_time_link() {
    if no_curl("web::previews_heads_and_browsers_never_spend_a_one_time_link") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let up = upload(
        &s,
        &env,
        "report <b>.txt",
        b"secret bytes",
        &["maxDownloads=1"],
    );
    let k = key(&up);
    let path = format!("/{k}");

    let page = browse(&s, "GET", &path);
    assert_eq!(page.status, 200);
    assert_secure(&page);
    assert_eq!(page.header("Cache-Control"), Some("no-store"));
    assert!(page.header("Content-Disposition").is_none());
    let html = page.text();
    assert!(html.contains("report &lt;b&gt;.txt"), "{html}");
    assert!(!html.contains("report <b>"), "{html}");
    assert!(html.contains("12 bytes"), "{html}");
    assert!(html.contains("1 (this link works once)"), "{html}");
    assert!(
        html.contains(&format!("href=\"/{k}?download=1\"")),
        "{html}"
    );
    assert!(!html.contains("secret bytes"));

    let head = browse(&s, "HEAD", &path);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(head.body.is_empty());

    for ua in BOTS {
        for method in ["GET", "HEAD"] {
            let r = request(&s, method, &path, &[("User-Agent", ua), ("Accept", "*/*")]);
            assert_eq!(r.status, 200, "{ua}");
            assert_eq!(
                r.header("Content-Type"),
                Some("text/html; charset=utf-8"),
                "{ua}"
            );
            assert!(!r.text().contains("secret bytes"), "{ua}");
        }
        // Not even the Download button's URL: a crawler following it must not spend the link.
        let r = request(
            &s,
            "GET",
            &format!("{path}?download=1"),
            &[("User-Agent", ua)],
        );
        assert!(!r.text().contains("secret bytes"), "{ua}");
        assert!(r.text().contains("og:title"), "{ua}: a preview card");
    }
    // HEAD from an API client: headers of the file, never counted.
    let head = request(&s, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("12"));

    // Still there: the Download button's request gets the bytes, once.
    let r = browse(&s, "GET", &format!("{path}?download=1"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"secret bytes");
    assert!(
        r.header("Content-Disposition")
            .unwrap()
            .starts_with("attachment")
    );

    // Now gone: a friendly page saying why, 410, for browsers and bots; file.io's 404 JSON
    // for the API.
    let gone = browse(&s, "GET", &path);
    assert_eq!(gone.status, 410);
    assert_eq!(
        gone.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(gone.text().contains("This link is gone"), "{}", gone.text());
    assert!(
        gone.text()
            .contains("downloaded as often as its sender allowed"),
        "{}",
        gone.text()
    );
    assert_secure(&gone);
    let bot = request(
        &s,
        "GET",
        &path,
        &[("User-Agent", "Slackbot-LinkExpanding 1.0")],
    );
    assert_eq!(bot.status, 410);
    let api = request(&s, "GET", &path, &[]);
    assert_eq!(api.status, 404);
    assert_eq!(api.json()["code"], "FILE_NOT_FOUND");
}

#[test]
fn curl_wget_and_fileio_download_get_the_bytes() {
    if no_curl("web::curl_wget_and_fileio_download_get_the_bytes") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let link = |name: &str| {
        upload(&s, &env, name, format!("bytes of {name}").as_bytes(), &[])["link"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let dir = env.path("got");
    std::fs::create_dir_all(&dir).unwrap();

    // curl -OJ: the name from Content-Disposition.
    let l = link("viacurl.txt");
    let out = StdCommand::new("curl")
        .args(["-sS", "--noproxy", "*", "-OJ", &l])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("viacurl.txt")).unwrap(),
        b"bytes of viacurl.txt"
    );

    // Plain curl to stdout.
    let l = link("plain.txt");
    let out = StdCommand::new("curl")
        .args(["-sS", "--noproxy", "*", &l])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"bytes of plain.txt");

    // wget, when installed (Debian's is).
    if std::process::Command::new("wget")
        .arg("--version")
        .output()
        .is_ok()
    {
        let l = link("viawget.txt");
        let out = StdCommand::new("wget")
            .args(["-q", "--no-proxy", "--content-disposition", &l])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(dir.join("viawget.txt")).unwrap(),
            b"bytes of viawget.txt"
        );
    } else {
        eprintln!("wget is not installed: its check is skipped");
    }

    // fileio download.
    let l = link("viafileio.txt");
    env.cmd()
        .args(["download", &l, "-o", "-"])
        .assert()
        .success()
        .stdout("bytes of viafileio.txt");
}

#[test]
fn no_web_answers_every_client_as_the_api() {
    if no_curl("web::no_web_answers_every_client_as_the_api") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &["--no-web"]);
    let up = upload(&s, &env, "n.txt", b"api only", &[]);
    let r = browse(&s, "GET", "/");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["success"], false);
    let r = browse(&s, "GET", "/_/app.js");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["success"], false);
    let r = request(
        &s,
        "GET",
        &format!("/{}", key(&up)),
        &[("User-Agent", BOTS[0])],
    );
    assert_eq!(r.body, b"api only");
}

#[test]
fn assets_are_embedded_small_and_locked_down() {
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let mut total = 0;
    for (name, ty) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let r = request(&s, "GET", &format!("/_/{name}"), &[]);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("Content-Type"), Some(ty), "{name}");
        assert_secure(&r);
        let text = r.text();
        // Nothing from elsewhere: no CDN, no web fonts, no trackers.
        for outside in ["http://", "https://", "@import", "url("] {
            assert!(
                !text.contains(outside) || (name == "icon.svg" && outside == "http://"),
                "{name} refers to {outside}"
            );
        }
        total += r.body.len();
    }
    assert_eq!(total, fileio::server::web::assets_size());
    assert!(total < 32 * 1024, "assets are {total} bytes");
    assert_eq!(request(&s, "GET", "/_/nothing.js", &[]).status, 404);
}

#[test]
fn qr_codes_are_of_this_servers_links_only() {
    if no_curl("web::qr_codes_are_of_this_servers_links_only") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let up = upload(&s, &env, "q.txt", b"q", &[]);
    let r = request(&s, "GET", &format!("/_/qr/{}", key(&up)), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("image/svg+xml"));
    // The same crate the terminal uses, for the link the upload answered.
    let expected = fileio::qr::svg(up["link"].as_str().unwrap()).unwrap();
    assert_eq!(r.text(), expected);
    // And it reads back as the link.
    assert_eq!(decode_qr_svg(&r.text()), up["link"].as_str().unwrap());
    // Anything that is not a key is refused: no QR codes of other sites from this server.
    for bad in [
        "/_/qr/",
        "/_/qr/a%2Fb",
        "/_/qr/http:%2F%2Fevil.example",
        "/_/qr/a.b",
    ] {
        assert_eq!(request(&s, "GET", bad, &[]).status, 404, "{bad}");
    }
}

#[test]
fn with_require_auth_all_the_landing_page_shows_nothing_of_the_file() {
    if no_curl("web::with_require_auth_all_the_landing_page_shows_nothing_of_the_file") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &["--api-key", "KEY1.abcdefgh", "--require-auth=all"]);
    let path = env.write("hidden-name.txt", b"x");
    let out = StdCommand::new("curl")
        .args([
            "-sS",
            "--noproxy",
            "*",
            "-H",
            "Authorization: Bearer KEY1.abcdefgh",
            "-F",
        ])
        .arg(format!("file=@{}", path.display()))
        .arg(&s.url)
        .output()
        .unwrap();
    let up: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = browse(&s, "GET", &format!("/{}", key(&up)));
    assert_eq!(r.status, 401);
    assert!(!r.text().contains("hidden-name"), "{}", r.text());
    assert!(r.text().contains("API key"), "{}", r.text());
}

#[test]
fn an_expired_link_shows_a_friendly_page() {
    if no_curl("web::an_expired_link_shows_a_friendly_page") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let up = upload(&s, &env, "e.txt", b"e", &["expires=1s", "autoDelete=false"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = browse(&s, "GET", &format!("/{}", key(&up)));
    assert_eq!(r.status, 410);
    assert!(r.text().contains("This link is gone"), "{}", r.text());
    assert!(r.text().contains("The file expired on "), "{}", r.text());
    let r = browse(&s, "GET", "/nosuchkey123");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("No file at this link"), "{}", r.text());
}

#[test]
fn upload_qr_notes_when_stderr_is_not_a_terminal() {
    let env = Env::new();
    let s = Server::start(&env, &[]);
    env.write("f.txt", b"f");
    let out = env
        .cmd()
        .args(["--server", &s.url, "upload", "--qr", "f.txt"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with(&s.url), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--qr draws the QR code only when standard error is a terminal"),
        "{stderr}"
    );
    assert!(!stderr.contains('█'), "{stderr}");
}

/// Drawn on a terminal: black on white in explicit colours (so a light terminal shows it
/// the right way round too), and without colours under `NO_COLOR`, where the blocks are the
/// light modules of a dark terminal. Each is read back by an independent decoder.
#[cfg(target_os = "linux")]
#[test]
fn upload_qr_draws_the_link_on_a_terminal() {
    for coloured in [true, false] {
        let (link, drawn) = draw_qr(coloured);
        let expected = if coloured {
            fileio::qr::unicode(&link).unwrap()
        } else {
            fileio::qr::unicode_uncoloured(&link).unwrap()
        };
        assert!(drawn.contains(&expected), "{drawn}");
        let rows: Vec<Vec<char>> = drawn
            .lines()
            .map(|l| l.replace("\x1b[30;107m", "").replace("\x1b[0m", ""))
            .filter(|l| {
                l.chars().any(|c| "█▀▄".contains(c)) && l.chars().all(|c| " █▀▄".contains(c))
            })
            .map(|l| l.chars().collect())
            .collect();
        let (w, h, scale) = (rows[0].len(), rows.len() * 2, 4);
        let dark = |x: usize, y: usize| {
            let c = rows[y / 2][x];
            let block = c == '█' || (y % 2 == 0 && c == '▀') || (y % 2 == 1 && c == '▄');
            block == coloured
        };
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w * scale, h * scale, |x, y| {
            if dark(x / scale, y / scale) { 0 } else { 255 }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "{drawn}");
        assert_eq!(grids[0].decode().unwrap().1, link);
    }
}

/// Runs `upload --qr` with standard error on a pseudo-terminal: the link, and what was drawn.
#[cfg(target_os = "linux")]
fn draw_qr(coloured: bool) -> (String, String) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let env = Env::new();
    let s = Server::start(&env, &[]);
    env.write("f.txt", b"f");
    let (mut master, slave) = unsafe {
        let (mut m, mut sl) = (0, 0);
        assert_eq!(
            libc::openpty(
                &mut m,
                &mut sl,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null()
            ),
            0
        );
        (
            std::fs::File::from_raw_fd(m),
            std::fs::File::from_raw_fd(sl),
        )
    };
    let mut cmd = env.std_cmd();
    if coloured {
        cmd.env_remove("NO_COLOR").env("TERM", "xterm-256color");
    }
    let out = cmd
        .args([
            "--server",
            &s.url,
            "--no-progress",
            "upload",
            "--qr",
            "f.txt",
        ])
        .stderr(slave)
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    // The command holds the terminal's other end: until it goes, reading never ends.
    drop(cmd);
    assert!(out.status.success());
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut drawn = Vec::new();
    let mut buf = [0u8; 65536];
    // The child has exited and its end of the terminal is closed: read what it wrote.
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drawn.extend_from_slice(&buf[..n]),
        }
    }
    (link, String::from_utf8_lossy(&drawn).replace("\r\n", "\n"))
}

#[test]
fn fileio_no_web_in_the_environment_turns_the_pages_off_and_parses_its_value() {
    use std::io::{BufRead, BufReader};
    for (value, pages) in [("1", false), ("0", true)] {
        let env = Env::new();
        let mut child = env
            .std_cmd()
            .env("FILEIO_NO_WEB", value)
            .args(["serve", "--bind", "127.0.0.1:0", "--data"])
            .arg(env.path("serverdata"))
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut banner = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let addr = banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .unwrap()
            .to_string();
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: {addr}\r\nAccept: {BROWSER_ACCEPT}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let status = if pages { "200" } else { "401" };
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "FILEIO_NO_WEB={value}: {answer}"
        );
    }
}

/// Loading the pages' assets does not eat the uploads `--rate-limit` allows: they are counted
/// apart, against a bound ten times as large (at least 100 a window), which still stops a
/// client hammering them.
#[test]
fn page_assets_do_not_count_against_the_rate_limit() {
    if no_curl("web::page_assets_do_not_count_against_the_rate_limit") {
        return;
    }
    let env = Env::new();
    let s = Server::start(&env, &["--rate-limit", "2/min"]);
    // The upload page, loaded and reloaded: one request of the two, and its assets.
    assert_eq!(browse(&s, "GET", "/").status, 200);
    for _ in 0..10 {
        for asset in ["/_/app.js", "/_/app.css", "/_/icon.svg"] {
            assert_eq!(request(&s, "GET", asset, &[]).status, 200, "{asset}");
        }
    }
    let up = upload(&s, &env, "a.txt", b"a", &[]);
    let qr = format!("/_/qr/{}", key(&up));
    assert_eq!(request(&s, "GET", &qr, &[]).status, 200);
    // The two are used: the API refuses, the assets are still served.
    let r = request(&s, "GET", "/nosuchkey123", &[]);
    assert_eq!(r.status, 429);
    assert_eq!(request(&s, "GET", "/_/app.js", &[]).status, 200);
    // Up to their own bound: 100 a minute here.
    let mut served = 32;
    while request(&s, "HEAD", "/_/icon.svg", &[]).status == 200 {
        served += 1;
        assert!(served <= 100, "assets are not bounded");
    }
    assert_eq!(served, 100);
    let r = request(&s, "GET", "/_/app.css", &[]);
    assert_eq!(r.status, 429);
    assert!(r.header("Retry-After").is_some());
}
