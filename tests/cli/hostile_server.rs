//! The client against servers that refuse early, lie, loop or send terminal escapes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
