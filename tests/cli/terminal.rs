//! Progress bars in a real terminal: the binary runs with standard output and standard error
//! on a pseudo-terminal of a known size, everything it writes goes through a terminal
//! emulator (vt100), and the final screen must hold the result and nothing else: no frozen
//! bar, no half-line left by a bar that wrapped.
//!
//! Transfers go through a throttling TCP proxy in front of a real `fileio serve`, so that they
//! last long enough for bars to be drawn; each test also checks that the raw output did
//! contain a bar, so that none of them can pass because nothing was ever drawn.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command as StdCommand, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Env, Server};

/// The widths every scenario is checked at.
const WIDTHS: [u16; 2] = [80, 120];
/// Tall enough that nothing these commands print scrolls off the screen.
const ROWS: u16 = 50;
const KEY: &str = "terminal-test-key-0123456789";

/// A pseudo-terminal pair; the child gets the slave side, the test reads the master.
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
}

impl Pty {
    fn open(cols: u16, rows: u16) -> Pty {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the integers it is given; the name,
        // termios and winsize pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        for fd in [&master, &slave] {
            // Other tests spawn children at the same time: they must not inherit these.
            // SAFETY: F_SETFD on a descriptor we own.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer.
        let rc = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
        Pty { master, slave }
    }
}

/// What a command left in the terminal.
struct Run {
    status: ExitStatus,
    /// Every byte it wrote, escape sequences included.
    raw: Vec<u8>,
    /// The screen's lines at the end (a wrapped row joined to the next), trailing blanks
    /// trimmed, trailing empty lines dropped.
    lines: Vec<String>,
    /// Bar lines that were ever wider than the terminal, as the terminal showed them.
    cut_bars: Vec<String>,
    cols: u16,
}

impl Run {
    fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Whether a progress bar or spinner was drawn.
    fn drew_a_bar(&self) -> bool {
        self.raw_text().chars().any(is_bar_glyph)
    }

    /// Whether any escape sequence was written: bars and spinners move the cursor and erase
    /// lines with them, and nothing else fileio prints uses one.
    fn wrote_escapes(&self) -> bool {
        self.raw.contains(&0x1b)
    }

    fn describe(&self) -> String {
        format!(
            "{} columns, exit {:?}\nscreen:\n{}\nbars cut by the edge: {:?}\nraw: {:?}",
            self.cols,
            self.status.code(),
            self.lines
                .iter()
                .map(|l| format!("  |{l}|"))
                .collect::<Vec<_>>()
                .join("\n"),
            self.cut_bars,
            self.raw_text()
        )
    }

    /// The screen holds exactly these lines (each a predicate, for the parts that vary), and
    /// no bar was ever wider than the terminal.
    fn assert_screen(&self, expected: &[&dyn Fn(&str) -> bool]) {
        assert!(
            self.lines.len() == expected.len()
                && self.lines.iter().zip(expected).all(|(l, ok)| ok(l)),
            "unexpected screen; {}",
            self.describe()
        );
        assert!(
            self.cut_bars.is_empty(),
            "a bar was wider than the terminal; {}",
            self.describe()
        );
    }
}

/// Runs `cmd` with standard output and standard error on a `cols`-wide terminal, feeding it
/// `stdin` through a pipe when given (otherwise standard input is empty).
fn run_in_terminal(cmd: StdCommand, cols: u16, stdin: Option<Vec<u8>>) -> Run {
    run_in_terminal_interrupted(cmd, cols, stdin, None)
}

/// A test of what a command has written so far.
type Watch = dyn Fn(&[u8]) -> bool;

/// [`run_in_terminal`], sending SIGINT (as Ctrl-C does) once what was written so far
/// satisfies `interrupt_when`.
fn run_in_terminal_interrupted(
    mut cmd: StdCommand,
    cols: u16,
    stdin: Option<Vec<u8>>,
    interrupt_when: Option<&Watch>,
) -> Run {
    let mut interrupted = false;
    let pty = Pty::open(cols, ROWS);
    cmd.env("TERM", "xterm-256color")
        .env_remove("COLUMNS")
        .env_remove("LINES")
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("spawn fileio");
    // Only the child may keep the slave open, so that reading the master ends with it.
    drop(cmd);
    drop(pty.slave);
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });

    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = None;
    loop {
        let mut poll = libc::pollfd {
            fd: pty.master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 50) };
        if ready > 0 {
            // SAFETY: reading into a buffer of the size given.
            let n =
                unsafe { libc::read(pty.master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                raw.extend_from_slice(&buf[..n as usize]);
                if !interrupted && interrupt_when.is_some_and(|f| f(&raw)) {
                    interrupted = true;
                    // SAFETY: kill with a pid of our own child and a valid signal.
                    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
                }
                continue;
            }
            // EIO: the child closed its side.
            if status.is_some() {
                break;
            }
        }
        match status {
            // Exited, and nothing more came within a poll period: all is read.
            Some(_) if ready <= 0 => break,
            Some(_) => {}
            None => status = child.try_wait().unwrap(),
        }
        if status.is_none() && Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "fileio did not finish in time; so far: {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
    }
    if let Some(f) = feeder {
        f.join().unwrap();
    }

    let mut parser = vt100::Parser::new(ROWS.try_into().unwrap(), cols.try_into().unwrap(), 0);
    // Frame by frame: each piece ends where the next escape sequence starts, so after each
    // one every bar on screen has been written in full.
    let mut cut_bars = Vec::new();
    let mut start = 0;
    for (i, _) in raw.windows(2).enumerate().filter(|(_, w)| *w == b"\x1b[") {
        parser.process(&raw[start..i]);
        start = i;
        for row in parser.screen().rows(0, cols) {
            // Every template at these widths ends with a rate: a row with a bar but no
            // rate is a bar line the terminal cut in two.
            if row.chars().any(is_bar_glyph) && !row.contains("/s") {
                cut_bars.push(row.trim_end().to_string());
            }
        }
    }
    parser.process(&raw[start..]);
    let screen = parser.screen();
    // Logical lines: a row the terminal wrapped goes on in the next one.
    let mut lines: Vec<String> = Vec::new();
    let mut continues = false;
    for (r, row) in screen.rows(0, cols).enumerate() {
        match lines.last_mut() {
            Some(last) if continues => last.push_str(&row),
            _ => lines.push(row),
        }
        continues = screen.row_wrapped(r as u16);
    }
    for l in &mut lines {
        *l = l.trim_end().to_string();
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    Run {
        status: status.unwrap(),
        raw,
        lines,
        cut_bars,
        cols,
    }
}

/// What bars and spinners are drawn with, and nothing else fileio prints.
fn is_bar_glyph(c: char) -> bool {
    matches!(c, '█' | '▌' | '░' | '\u{2800}'..='\u{28FF}')
}

/// A TCP proxy that passes bytes both ways at about 8 MiB/s, so that a transfer of a few
/// MiB on loopback lasts long enough for progress bars to be drawn several times.
struct SlowProxy {
    url: String,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl SlowProxy {
    fn start(upstream: &str) -> SlowProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(client, server));
                std::thread::spawn(move || pump(s2, c2));
            }
        });
        SlowProxy {
            url: format!("http://{addr}"),
            stop,
            addr,
        }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(4));
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Bytes that do not compress and do not repeat.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const MIB: usize = 1024 * 1024;

/// One server, one proxy in front of it, one environment: what every scenario needs.
struct Setup {
    env: Env,
    _server: Server,
    proxy: SlowProxy,
}

impl Setup {
    fn new() -> Setup {
        let env = Env::new();
        let server = Server::start(&env, &["--api-key", KEY]);
        let proxy = SlowProxy::start(&server.url);
        Setup {
            env,
            _server: server,
            proxy,
        }
    }

    fn cmd(&self, args: &[&str]) -> StdCommand {
        let mut cmd = self.env.std_cmd();
        cmd.arg("--server")
            .arg(&self.proxy.url)
            .env("FILEIO_API_KEY", KEY)
            .args(args);
        cmd
    }

    fn is_link(&self) -> impl Fn(&str) -> bool + '_ {
        move |l: &str| {
            l.strip_prefix(&format!("{}/", self.proxy.url))
                .is_some_and(|key| {
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric())
                })
        }
    }
}

/// The line an upload prints on the terminal after its link.
fn summary_of(name: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| {
        l.strip_prefix(name).is_some_and(|rest| {
            rest.starts_with(": expires ") && rest.ends_with("1 download allowed")
        })
    }
}

#[test]
fn an_upload_leaves_only_its_link_and_summary() {
    for cols in WIDTHS {
        let s = Setup::new();
        s.env.write("big.bin", noise(6 * MIB, 1));
        let run = run_in_terminal(s.cmd(&["upload", "big.bin"]), cols, None);
        assert!(run.status.success(), "{}", run.describe());
        assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
        run.assert_screen(&[&s.is_link(), &summary_of("big.bin")]);
    }
}

#[test]
fn a_multi_file_upload_leaves_only_its_links_and_summaries() {
    for cols in WIDTHS {
        let s = Setup::new();
        let names = ["first-file-with-a-long-name.bin", "second.bin", "third.bin"];
        for (i, n) in names.iter().enumerate() {
            s.env.write(n, noise(3 * MIB, i as u64 + 2));
        }
        let mut args = vec!["upload", "--jobs", "3"];
        args.extend(names);
        let run = run_in_terminal(s.cmd(&args), cols, None);
        assert!(run.status.success(), "{}", run.describe());
        assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
        let link = s.is_link();
        let sums: Vec<_> = names.iter().map(|n| summary_of(n)).collect();
        run.assert_screen(&[&link, &sums[0], &link, &sums[1], &link, &sums[2]]);
    }
}

#[test]
fn a_stdin_upload_leaves_only_its_link_and_summary() {
    for cols in WIDTHS {
        let s = Setup::new();
        let run = run_in_terminal(
            s.cmd(&["upload", "-", "--name", "piped.bin"]),
            cols,
            Some(noise(6 * MIB, 7)),
        );
        assert!(run.status.success(), "{}", run.describe());
        assert!(run.drew_a_bar(), "no spinner was drawn; {}", run.describe());
        run.assert_screen(&[&s.is_link(), &summary_of("piped.bin")]);
    }
}

#[test]
fn a_download_leaves_only_the_saved_path() {
    for cols in WIDTHS {
        let s = Setup::new();
        s.env.write("src/payload.bin", noise(6 * MIB, 9));
        let up = s
            .cmd(&["--no-history", "upload", "src/payload.bin"])
            .output()
            .unwrap();
        assert!(up.status.success(), "{up:?}");
        let link = String::from_utf8(up.stdout).unwrap().trim().to_string();
        let run = run_in_terminal(s.cmd(&["download", &link]), cols, None);
        assert!(run.status.success(), "{}", run.describe());
        assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
        run.assert_screen(&[&|l: &str| l == "payload.bin"]);
        assert_eq!(
            std::fs::read(s.env.work().join("payload.bin")).unwrap(),
            noise(6 * MIB, 9)
        );
    }
}

#[test]
fn an_update_without_a_file_draws_no_bar() {
    for cols in WIDTHS {
        let s = Setup::new();
        s.env.write("small.txt", "hello\n");
        let up = s.cmd(&["upload", "small.txt"]).output().unwrap();
        assert!(up.status.success(), "{up:?}");
        let link = String::from_utf8(up.stdout).unwrap().trim().to_string();
        let key = link.rsplit('/').next().unwrap().to_string();
        let run = run_in_terminal(s.cmd(&["update", &key, "--expires", "1d"]), cols, None);
        assert!(run.status.success(), "{}", run.describe());
        assert!(
            !run.wrote_escapes() && !run.drew_a_bar(),
            "something was drawn and erased; {}",
            run.describe()
        );
        run.assert_screen(&[&s.is_link(), &|l: &str| {
            l.starts_with("small.txt: expires ")
        }]);
    }
}

#[test]
fn an_update_with_a_file_leaves_only_its_link_and_summary() {
    let s = Setup::new();
    s.env.write("small.txt", "hello\n");
    s.env.write("new.bin", noise(6 * MIB, 11));
    let up = s.cmd(&["upload", "small.txt"]).output().unwrap();
    assert!(up.status.success(), "{up:?}");
    let link = String::from_utf8(up.stdout).unwrap().trim().to_string();
    let key = link.rsplit('/').next().unwrap().to_string();
    let run = run_in_terminal(s.cmd(&["update", &key, "--file", "new.bin"]), 80, None);
    assert!(run.status.success(), "{}", run.describe());
    assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
    run.assert_screen(&[&s.is_link(), &|l: &str| l.contains(": expires ")]);
}

/// Lines fileio prints about a failure: errors, warnings and hints, nothing else.
fn is_message(l: &str) -> bool {
    l.starts_with("fileio: ") || l.starts_with("hint: ")
}

#[test]
fn a_download_that_stalls_leaves_only_the_error() {
    for cols in WIDTHS {
        let env = Env::new();
        // Headers for 6 MiB, 1 MiB of it, then nothing.
        let mut reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            6 * MIB
        )
        .into_bytes();
        reply.extend(noise(MIB, 3));
        let canned = crate::support::Canned::start(move |_, _| {
            crate::support::Reply::RawThenHang(reply.clone(), Duration::from_secs(4))
        });
        let mut cmd = env.std_cmd();
        cmd.args(["--timeout", "1", "--retries", "0", "download"])
            .arg(format!("{}/stalled", canned.url))
            .args(["-o", "out.bin"]);
        let run = run_in_terminal(cmd, cols, None);
        assert!(!run.status.success(), "{}", run.describe());
        assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
        let expected: Vec<&dyn Fn(&str) -> bool> = vec![&is_message; run.lines.len().max(1)];
        run.assert_screen(&expected);
        assert!(
            run.lines[0].starts_with("fileio: error: "),
            "{}",
            run.describe()
        );
    }
}

#[test]
fn retry_warnings_during_an_upload_leave_no_bar_behind() {
    for cols in WIDTHS {
        let env = Env::new();
        env.write("big.bin", noise(MIB, 5));
        // A port nothing listens on: every attempt is refused, and retried.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = env.std_cmd();
        cmd.arg("--server")
            .arg(format!("http://127.0.0.1:{port}"))
            .args(["--retries", "3", "upload", "big.bin"]);
        let run = run_in_terminal(cmd, cols, None);
        assert!(!run.status.success(), "{}", run.describe());
        // The bar was on screen when the last warning was printed (the backoff before it
        // is longer than the bar's tick), so the warning had to make room for it.
        let raw = run.raw_text();
        let last_warning = raw.rfind("fileio: warning:").expect("a retry warning");
        assert!(
            raw[..last_warning].chars().any(is_bar_glyph),
            "no bar was drawn before the warning; {}",
            run.describe()
        );
        let expected: Vec<&dyn Fn(&str) -> bool> = vec![&is_message; run.lines.len().max(1)];
        run.assert_screen(&expected);
        let warnings = run
            .lines
            .iter()
            .filter(|l| l.starts_with("fileio: warning:"));
        assert_eq!(warnings.count(), 3, "{}", run.describe());
    }
}

/// A terminal narrower than the full bar gets a shorter one, still on one line.
#[test]
fn bars_fit_a_narrow_terminal() {
    let s = Setup::new();
    s.env.write("big.bin", noise(6 * MIB, 13));
    let run = run_in_terminal(s.cmd(&["upload", "big.bin"]), 50, None);
    assert!(run.status.success(), "{}", run.describe());
    assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
    run.assert_screen(&[&s.is_link(), &summary_of("big.bin")]);
    let run = run_in_terminal(
        s.cmd(&["upload", "-", "--name", "piped.bin"]),
        50,
        Some(noise(6 * MIB, 14)),
    );
    assert!(run.status.success(), "{}", run.describe());
    assert!(run.drew_a_bar(), "no spinner was drawn; {}", run.describe());
    run.assert_screen(&[&s.is_link(), &summary_of("piped.bin")]);
}

#[test]
fn ctrl_c_during_an_upload_clears_the_bars_and_keeps_the_links_printed() {
    for cols in WIDTHS {
        let env = Env::new();
        env.write("small.txt", "hello");
        env.write("big.bin", noise(4 * MIB, 21));
        // The first upload is answered at once; the second is read whole, then left hanging.
        let canned = crate::support::Canned::start(|req, _| {
            if req.body_text().contains("filename=\"small.txt\"") {
                crate::support::json(&crate::support::file_details(
                    "Small1",
                    "http://files.test",
                    "small.txt",
                    5,
                ))
            } else {
                crate::support::Reply::Hang(Duration::from_secs(20))
            }
        });
        let mut cmd = env.std_cmd();
        cmd.args([
            "--server",
            &canned.url,
            "upload",
            "--jobs",
            "1",
            "small.txt",
            "big.bin",
        ]);
        // Interrupted once the first link is out and a bar has been drawn after it.
        let when = |raw: &[u8]| {
            let text = String::from_utf8_lossy(raw);
            text.find("http://files.test/Small1")
                .is_some_and(|at| text[at..].chars().any(is_bar_glyph))
        };
        let run = run_in_terminal_interrupted(cmd, cols, None, Some(&when));
        assert_eq!(run.status.code(), Some(130), "{}", run.describe());
        assert!(run.drew_a_bar(), "no bar was drawn; {}", run.describe());
        let link = |l: &str| l == "http://files.test/Small1";
        let summary = |l: &str| l.starts_with("small.txt: ");
        let error = |l: &str| l == "fileio: error: interrupted; the link printed above is kept";
        let hint = |l: &str| l.starts_with("hint: an upload cut off may still have been stored");
        run.assert_screen(&[&link, &summary, &error, &hint]);
        // And the link is in the history.
        let history = env.cmd().args(["history"]).output().unwrap();
        assert!(
            String::from_utf8_lossy(&history.stdout).contains("http://files.test/Small1"),
            "{history:?}"
        );
    }
}
