//! The client against servers that refuse early, lie, loop or send terminal escapes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// How a server that answers before the body is read ends the connection.
#[derive(Clone, Copy)]
enum Close {
    /// Keeps reading and discarding for this long after answering (nginx's lingering close).
    Linger(Duration),
    /// Closes at once, unread body and all (the client's kernel may then get a reset).
    AtOnce,
}

/// A server that answers every request as soon as its head arrives, before any body, and
/// counts the requests it receives.
struct EarlyAnswer {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl EarlyAnswer {
    fn start(answer: String, close: Close) -> EarlyAnswer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (count, answer) = (count.clone(), answer.clone());
                std::thread::spawn(move || early_answer(stream, &answer, close, &count));
            }
        });
        EarlyAnswer { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn early_answer(stream: TcpStream, answer: &str, close: Close, count: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let mut w = &stream;
    let _ = w.write_all(answer.as_bytes());
    let _ = w.flush();
    match close {
        Close::Linger(d) => {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let until = Instant::now() + d;
            let mut buf = vec![0; 64 * 1024];
            while Instant::now() < until {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
        }
        Close::AtOnce => {}
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn http_answer(status: &str, content_type: &str, body: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

fn big_file(env: &Env, mib: usize) -> std::path::PathBuf {
    env.write("big.bin", vec![7u8; mib << 20])
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_early_413_with_a_lingering_close_is_reported_once_as_too_large() {
    let env = Env::new();
    let s = EarlyAnswer::start(
        http_answer(
            "413 Payload Too Large",
            "application/json",
            r#"{"success":false,"status":413,"message":"Files are limited to 1 MB here."}"#,
            "",
        ),
        Close::Linger(Duration::from_secs(3)),
    );
    big_file(&env, 20);
    let out = env
        .cmd()
        .args(["--server", &s.url, "upload", "big.bin"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("Files are limited to 1 MB here"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert_eq!(s.requests(), 1);
}

#[test]
fn an_early_401_403_and_429_are_refusals_not_network_errors() {
    for (status, ct, body, code) in [
        (
            "401 Unauthorized",
            "application/json",
            r#"{"message":"Missing API key"}"#,
            3,
        ),
        ("403 Forbidden", "text/html", "<h1>Forbidden</h1>", 3),
        // Retry-After beyond what fileio waits: reported at once, not retried.
        (
            "429 Too Many Requests",
            "text/html",
            "<h1>Slow down</h1>",
            6,
        ),
    ] {
        let env = Env::new();
        let s = EarlyAnswer::start(
            http_answer(status, ct, body, "Retry-After: 3600\r\n"),
            Close::Linger(Duration::from_secs(3)),
        );
        big_file(&env, 8);
        let out = env
            .cmd()
            .args(["--server", &s.url, "upload", "big.bin"])
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(code), "{status}: {err}");
        assert!(!err.contains("connection broke"), "{status}: {err}");
        assert_eq!(s.requests(), 1, "{status}: {err}");
    }
}

#[test]
fn an_answer_then_an_immediate_close_is_never_sent_again() {
    // Best effort: the answer may be lost to a reset, but the file is never sent again.
    let env = Env::new();
    let s = EarlyAnswer::start(
        http_answer(
            "413 Payload Too Large",
            "application/json",
            r#"{"message":"Too big"}"#,
            "",
        ),
        Close::AtOnce,
    );
    big_file(&env, 20);
    let out = env
        .cmd()
        .args(["--server", &s.url, "upload", "big.bin"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(!out.status.success());
    assert!(!err.contains("retrying"), "{err}");
    assert_eq!(s.requests(), 1, "{err}");
    assert!(
        out.status.code() == Some(5) || err.contains("fileio list"),
        "either the answer or a way to check: {err}"
    );
}

fn run(env: &Env, args: &[&str]) -> std::process::Output {
    env.cmd()
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap()
}

fn stdout_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_upload_is_retried_only_when_the_server_surely_did_not_store_it() {
    let env = Env::new();
    env.write("a.txt", "hello");
    // 502/504/500 after the body: maybe stored; said, not retried.
    for status in [
        "502 Bad Gateway",
        "504 Gateway Timeout",
        "500 Internal Server Error",
    ] {
        let s = Canned::start(move |_, _| response(status, &[], "upstream trouble"));
        let out = run(
            &env,
            &["--server", &s.url, "--retries", "3", "upload", "a.txt"],
        );
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(8), "{status}: {err}");
        assert_eq!(s.requests().len(), 1, "{status}: {err}");
        assert!(
            err.contains(&format!("upstream trouble ({status})")),
            "{err}"
        );
        assert!(
            err.contains(
                "check with `fileio list` (or `fileio history`) before uploading it again"
            ),
            "{err}"
        );
        assert!(!err.contains("retrying"), "{err}");
    }
    // 503 and 429 say the request was not processed: retried.
    for status in ["503 Service Unavailable", "429 Too Many Requests"] {
        let s = Canned::start(move |_, i| {
            if i < 2 {
                response(status, &[("Retry-After", "0")], "busy")
            } else {
                json(&file_details("K1", "http://x.test", "a.txt", 5))
            }
        });
        let out = run(
            &env,
            &["--server", &s.url, "--retries", "3", "upload", "a.txt"],
        );
        assert!(out.status.success(), "{status}: {}", stderr_of(&out));
        assert_eq!(stdout_of(&out), "http://x.test/K1\n");
        assert_eq!(s.requests().len(), 3);
    }
    // A download (GET) is still retried after a 502.
    let s = Canned::start(|_, _| response("502 Bad Gateway", &[], "upstream"));
    let out = run(
        &env,
        &["--server", &s.url, "--retries", "1", "download", "Key1"],
    );
    assert_eq!(out.status.code(), Some(8), "{}", stderr_of(&out));
    assert!(s.requests().len() >= 2, "GET/HEAD retries stay");
}

#[test]
fn a_silent_server_after_the_upload_is_not_sent_the_file_again() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let s = Canned::start(|_, _| Reply::Hang(Duration::from_secs(4)));
    let out = run(
        &env,
        &[
            "--server",
            &s.url,
            "--timeout",
            "1",
            "--retries",
            "3",
            "upload",
            "a.txt",
        ],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert_eq!(s.requests().len(), 1, "{err}");
    assert!(err.contains("fileio list"), "{err}");
}

#[test]
fn exit_codes_follow_the_status_whatever_the_body() {
    let env = Env::new();
    env.write("a.txt", "hello");
    for (status, code) in [
        ("413 Request Entity Too Large", 5),
        ("429 Too Many Requests", 6),
        ("401 Unauthorized", 3),
        ("403 Forbidden", 3),
        ("404 Not Found", 4),
        ("410 Gone", 4),
        ("500 Internal Server Error", 8),
        ("502 Bad Gateway", 8),
    ] {
        let s = Canned::start(move |_, _| {
            response(
                status,
                &[("Content-Type", "text/html")],
                format!(
                    "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>"
                ),
            )
        });
        let out = run(
            &env,
            &["--server", &s.url, "--retries", "0", "upload", "a.txt"],
        );
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(code), "{status}: {err}");
        // The page's first line (its title) and the status, with the status's exit code.
        assert!(
            err.starts_with(&format!(
                "fileio: error: uploading a.txt: {status} ({}",
                &status[..3]
            )),
            "{err}"
        );
    }
}

#[test]
fn a_redirect_to_a_scheme_that_is_not_http_is_the_servers_fault() {
    let env = Env::new();
    for location in [
        "file:///etc/passwd",
        "data:text/plain;base64,aGk=",
        "javascript:alert(1)",
        "file://host/share/x",
        "ftp://example.test/x",
    ] {
        let s = Canned::start(move |_, _| response("302 Found", &[("Location", location)], ""));
        for cmd in [&["download", "Key1"][..], &["download", "Key1", "-o", "-"]] {
            let out = run(&env, &[&["--server", &s.url][..], cmd].concat());
            let err = stderr_of(&out);
            assert_eq!(out.status.code(), Some(8), "{location}: {err}");
            assert!(
                err.contains("not http(s)") || err.contains("redirected"),
                "{err}"
            );
            assert!(
                !err.contains("etc/passwd") && !err.contains("aGk="),
                "{err}"
            );
        }
    }
}

#[test]
fn secrets_in_redirects_are_redacted_in_errors_and_verbose_logs() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let s = Canned::start(|_, _| {
        response(
            "307 Temporary Redirect",
            &[(
                "Location",
                "https://u:hunter2@cdn.test/o?X-Amz-Credential=AKIDSECRET&X-Amz-Signature=SIGSECRET&token=TOKSECRET&part=1",
            )],
            "",
        )
    });
    let out = run(&env, &["--server", &s.url, "-v", "upload", "a.txt"]);
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(8), "{all}");
    for secret in ["hunter2", "AKIDSECRET", "SIGSECRET", "TOKSECRET"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert!(
        all.contains("< location: https://cdn.test/o?X-Amz-Credential=%28redacted%29"),
        "{all}"
    );
    assert!(all.contains("redirected to https://cdn.test/o?"), "{all}");
    assert!(all.contains("part=1"), "{all}");
}

/// Text no terminal should receive raw.
const HOSTILE: &str = "evil\u{1b}]0;owned\u{7}\u{1b}[2J\u{9b}31m\u{202e}txt.exe\u{2066}\u{200b}";

fn assert_inert(text: &str) {
    for c in [
        '\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200b}',
    ] {
        assert!(!text.contains(c), "{c:?} reached the output: {text:?}");
    }
}

#[test]
fn hostile_text_from_a_server_stays_inert() {
    let env = Env::new();
    env.write("a.txt", "hello");
    // An error message.
    let s = Canned::start(|_, _| {
        response(
            "400 Bad Request",
            &[("Content-Type", "application/json")],
            serde_json::json!({"success": false, "message": HOSTILE}).to_string(),
        )
    });
    let out = run(&env, &["--server", &s.url, "upload", "a.txt"]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_inert(&err);
    assert!(
        err.contains("evil\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u{202e}txt.exe"),
        "{err}"
    );
    // A link, a name, and their --json form.
    let s = Canned::start(|_, _| {
        json(
            &serde_json::json!({"success": true, "key": "K1", "link": format!("http://x.test/K1{HOSTILE}"),
                "name": HOSTILE, "size": 5})
            .to_string(),
        )
    });
    let out = run(&env, &["--server", &s.url, "upload", "a.txt"]);
    assert!(out.status.success());
    assert_inert(&stdout_of(&out));
    assert!(stdout_of(&out).starts_with("http://x.test/K1evil\\x1b]0;owned"));
    let out = run(&env, &["--server", &s.url, "--json", "upload", "a.txt"]);
    let line = stdout_of(&out);
    assert_inert(&line);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["name"], HOSTILE, "the JSON value itself is kept, escaped");
    // A verbose log shows the server's headers inert too.
    let s2 = Canned::start(|_, _| {
        response(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("X-Note", "a\u{202e}b\u{2066}c"),
            ],
            file_details("K1", "http://x.test", "a.txt", 5),
        )
    });
    let out = run(&env, &["--server", &s2.url, "-v", "upload", "a.txt"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_inert(&stderr_of(&out));
    assert!(
        stderr_of(&out).contains("< x-note: a\\u{202e}b\\u{2066}c"),
        "{}",
        stderr_of(&out)
    );
    // The history shows what the server named it.
    let out = run(&env, &["history"]);
    assert_inert(&stdout_of(&out));
    assert!(stdout_of(&out).contains("\\u{202e}"), "{}", stdout_of(&out));
}

#[test]
fn hostile_names_on_our_own_server_stay_inert_in_list_and_info() {
    const KEY: &str = "KEYONE1.AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD";
    // Our server refuses control characters in a part's header; bidi and invisible
    // formatting characters are plain UTF-8 and get through.
    const HOSTILE: &str = "evil\u{202e}txt.exe\u{2066}\u{200b}";
    let env = Env::new();
    let s = Server::start(&env, &["--api-key", KEY]);
    env.write("a.txt", "hello");
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args([
            "--server", &s.url, "--json", "upload", "a.txt", "--name", HOSTILE,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let key = v["key"].as_str().unwrap().to_string();
    for args in [
        vec!["list"],
        vec!["--json", "list"],
        vec!["info", &key],
        vec!["--json", "info", &key],
    ] {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", KEY)
            .args(["--server", &s.url])
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert_inert(&stdout_of(&out));
        assert_inert(&stderr_of(&out));
        assert!(stdout_of(&out).contains("evil"), "{args:?}");
    }
}

#[test]
fn a_used_one_time_link_says_so_in_the_servers_words() {
    let env = Env::new();
    let s = Server::start(&env, &[]);
    env.write("a.txt", "once");
    let out = run(&env, &["--server", &s.url, "upload", "a.txt"]);
    let link = stdout_of(&out).trim().to_string();
    let first = run(&env, &["download", &link, "-o", "-"]);
    assert!(first.status.success(), "{}", stderr_of(&first));
    for args in [vec!["download", &link], vec!["download", &link, "-o", "-"]] {
        let again = run(&env, &args);
        let err = stderr_of(&again);
        assert_eq!(again.status.code(), Some(4), "{err}");
        // To stdout the GET's answer speaks; to a file, the HEAD that asks for the name has
        // no words, and the client says what a bare 404 means.
        let said = if args.len() == 4 {
            "This file was downloaded as often as its sender allowed: ask the sender for a new link"
        } else {
            "nothing at this link: it may have expired, been downloaded already, or never existed"
        };
        assert!(err.contains(said), "{err}");
        assert!(!err.contains("404 Not Found (404 Not Found)"), "{err}");
    }
}

#[test]
fn several_files_print_each_link_as_it_is_made_and_record_it_at_once() {
    use std::process::Stdio;
    let env = Env::new();
    let (a, b) = (env.write("a.txt", "aaaa"), env.write("b.txt", "bbbb"));
    let _ = (a, b);
    // a.txt is answered at once; b.txt never (until the test ends).
    let s = Canned::start(|req, _| {
        if req.body_text().contains("filename=\"b.txt\"") {
            Reply::Hang(Duration::from_secs(20))
        } else {
            json(&file_details("KeyA", "http://x.test", "a.txt", 4))
        }
    });
    let mut child = env
        .std_cmd()
        .args([
            "--server",
            &s.url,
            "--timeout",
            "60",
            "--json",
            "upload",
            "a.txt",
            "b.txt",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the first link is printed while the second upload is still going");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (v["key"].as_str(), v["file"].as_str()),
        (Some("KeyA"), Some("a.txt"))
    );
    // Already in the history, though the run is not over: an interruption now loses nothing.
    let hist = run(&env, &["--json", "history"]);
    assert!(stdout_of(&hist).contains("KeyA"), "{}", stdout_of(&hist));
    assert!(
        child.try_wait().unwrap().is_none(),
        "b.txt is still uploading"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn several_files_in_json_carry_their_source_and_a_failure_is_named() {
    let env = Env::new();
    for n in ["a.txt", "b.txt", "c.txt"] {
        env.write(n, n);
    }
    let s = Canned::start(|req, i| {
        if req.body_text().contains("filename=\"b.txt\"") {
            response(
                "413 Payload Too Large",
                &[("Content-Type", "application/json")],
                r#"{"message":"Too big for this server"}"#,
            )
        } else {
            json(&file_details(&format!("K{i}"), "http://x.test", "f", 2))
        }
    });
    let out = run(
        &env,
        &[
            "--server", &s.url, "--json", "upload", "-j", "1", "a.txt", "b.txt", "c.txt",
        ],
    );
    assert_eq!(out.status.code(), Some(5));
    let files: Vec<String> = stdout_of(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["file"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(files, ["a.txt", "c.txt"]);
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "fileio: error: b.txt: uploading b.txt: Too big for this server (413 Payload Too Large)"
        ),
        "{err}"
    );
    assert!(
        err.ends_with("fileio: error: 1 of 3 uploads failed\n"),
        "{err}"
    );
}

#[test]
fn standard_input_without_a_name_gets_a_dated_one_and_a_note() {
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let out = env
        .cmd()
        .args(["--server", &s.url, "--json", "upload"])
        .write_stdin("piped bytes")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let name = v["name"].as_str().unwrap();
    assert!(
        name.starts_with("stdin-") && name.len() == "stdin-20261123-063000".len(),
        "{name}"
    );
    assert_eq!(v["file"], "-");
    assert!(
        stderr_of(&out).contains(&format!(
            "note: uploading standard input as {name}; name it with --name"
        )),
        "{}",
        stderr_of(&out)
    );
}

fn node(key: &str) -> serde_json::Value {
    serde_json::json!({"key": key, "link": format!("http://x.test/{key}"), "name": "f", "size": 1})
}

#[test]
fn a_server_that_repeats_its_first_page_cannot_make_list_loop() {
    let env = Env::new();
    let s = Canned::start(|_, _| {
        let nodes: Vec<_> = (0..100).map(|i| node(&format!("K{i}"))).collect();
        json(&serde_json::json!({"success": true, "nodes": nodes, "count": 1_000_000}).to_string())
    });
    for cmd in [vec!["list", "--all"], vec!["info", "Missing"]] {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", "k")
            .args(["--server", &s.url])
            .args(&cmd)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(8), "{cmd:?}: {err}");
        assert!(
            err.contains(
                "page 2 brought only files already listed; the server does not page as it says"
            ),
            "{err}"
        );
        assert_eq!(stdout_of(&out), "");
    }
}

#[test]
fn a_server_whose_pages_never_end_is_cut_off() {
    let env = Env::new();
    let s = Canned::start(|_, i| {
        let nodes: Vec<_> = (0..100).map(|k| node(&format!("K{i}x{k}"))).collect();
        json(
            &serde_json::json!({"success": true, "nodes": nodes, "count": 1_000_000_000u64})
                .to_string(),
        )
    });
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "k")
        .env("FILEIO_MAX_PAGES", "5")
        .args(["--server", &s.url, "list", "--all"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(
        err.contains("listing files: stopped after 5 pages (500 files) and the server still says there are more"),
        "{err}"
    );
    assert_eq!(s.requests().len(), 5);
}

#[test]
fn a_list_page_with_odd_fields_is_read_typed_and_leniently() {
    let env = Env::new();
    let s = Canned::start(|_, _| {
        json(
            &serde_json::json!({"success": true, "count": 2, "extra": {"deep": [[[{"x": 1}]]]},
                "nodes": [
                    {"key": "A1", "link": "http://x.test/A1", "name": "a", "size": "12", "junk": [1,2,3]},
                    {"key": "B2", "link": "http://x.test/B2", "name": 7, "size": 3, "maxDownloads": 1, "downloads": 0}
                ]})
            .to_string(),
        )
    });
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", "k")
        .args(["--server", &s.url, "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "A1\ta\t-\t-/-\t-\nB2\t\t3 B\t0/1\t-\n");
}

#[test]
fn a_server_that_stops_reading_an_upload_gets_it_once() {
    let env = Env::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            // Reads nothing, answers nothing: the upload stalls once the buffers are full.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(8));
                drop(stream);
            });
        }
    });
    big_file(&env, 32);
    let out = run(
        &env,
        &[
            "--server",
            &url,
            "--timeout",
            "1",
            "--retries",
            "3",
            "upload",
            "big.bin",
        ],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("no progress for 1s"), "{err}");
    assert!(err.contains("fileio list"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn standard_input_after_a_502_says_how_to_check_too() {
    let env = Env::new();
    let s = Canned::start(|_, _| response("502 Bad Gateway", &[], "upstream trouble"));
    let out = env
        .cmd()
        .args(["--server", &s.url, "-q", "upload", "-", "--name", "x.tgz"])
        .write_stdin("bytes")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(8), "{err}");
    assert!(err.contains("check with `fileio list`"), "{err}");
    let methods: Vec<String> = s.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["OPTIONS", "POST"]);
}

#[test]
fn an_account_answer_with_escapes_stays_inert_in_me_and_auth_status() {
    let env = Env::new();
    let s = Canned::start(|_, _| {
        json(
            &serde_json::json!({"success": true, "planId": HOSTILE, "rateLimit": {"note": HOSTILE},
                "maxUploadBytes": 100, "usedStorageBytes": 1})
            .to_string(),
        )
    });
    for args in [vec!["me"], vec!["--json", "me"], vec!["auth", "status"]] {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", "k")
            .args(["--server", &s.url])
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert_inert(&stdout_of(&out));
        assert!(stdout_of(&out).contains("evil"), "{args:?}");
    }
}
