//! `fileio download` against canned servers: where files land, and that nothing is lost,
//! clobbered or left half-written.

use std::path::Path;

use crate::support::*;

fn file_server(name: &'static str, body: &'static str) -> Canned {
    Canned::start(move |_, _| {
        response(
            "200 OK",
            &[
                ("Content-Type", "text/plain"),
                (
                    "Content-Disposition",
                    &format!("attachment; filename=\"{name}\""),
                ),
            ],
            body,
        )
    })
}

/// Every entry of a directory, hidden ones included, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn saves_under_the_servers_name_and_prints_the_path() {
    let env = Env::new();
    let server = file_server("report.txt", "contents");
    env.cmd()
        .args(["--server", &server.url, "download", "AbC123"])
        .assert()
        .success()
        .stdout("report.txt\n")
        .stderr("");
    assert_eq!(
        std::fs::read_to_string(env.work().join("report.txt")).unwrap(),
        "contents"
    );
    let reqs = server.requests();
    let seen: Vec<_> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(seen, ["HEAD /AbC123", "GET /AbC123"]);
    assert_eq!(entries(&env.work()), ["report.txt"]);
}

#[test]
fn accepts_a_whole_link_and_an_explicit_file_or_directory() {
    let env = Env::new();
    let server = file_server("report.txt", "contents");
    let link = format!("{}/AbC123", server.url);
    env.cmd()
        .args(["download", &link, "-o", "mine.txt"])
        .assert()
        .success()
        .stdout("mine.txt\n");
    assert_eq!(
        std::fs::read_to_string(env.work().join("mine.txt")).unwrap(),
        "contents"
    );
    std::fs::create_dir(env.work().join("out")).unwrap();
    env.cmd()
        .args(["download", &link, "-o", "out/"])
        .assert()
        .success()
        .stdout("out/report.txt\n");
    env.cmd()
        .args(["download", &link, "-o", "out/"])
        .assert()
        .code(9);
    env.cmd()
        .args(["download", &link, "-o", "nowhere/"])
        .assert()
        .code(9)
        .stderr("fileio: error: directory nowhere/ does not exist\nhint: create it first: mkdir -p nowhere/\n");
}

#[test]
fn streams_to_standard_output() {
    let env = Env::new();
    let server = file_server("report.txt", "contents");
    env.cmd()
        .args(["--server", &server.url, "download", "K", "-o", "-"])
        .assert()
        .success()
        .stdout("contents");
    // One GET, after the HEAD that asks whether the file needs a key (issue 14).
    let methods: Vec<_> = server.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["HEAD", "GET"]);
    assert_eq!(entries(&env.work()), Vec::<String>::new());
}

#[test]
fn an_existing_file_is_refused_before_any_request() {
    let env = Env::new();
    let server = file_server("report.txt", "new");
    env.write("mine.txt", "old");
    env.cmd()
        .args(["--server", &server.url, "download", "K", "-o", "mine.txt"])
        .assert()
        .code(9)
        .stdout("")
        .stderr("fileio: error: mine.txt already exists\nhint: use --force to overwrite it, or -o to save elsewhere\n");
    assert!(
        server.requests().is_empty(),
        "a refusal must not spend a one-time link"
    );
    assert_eq!(
        std::fs::read_to_string(env.work().join("mine.txt")).unwrap(),
        "old"
    );

    // Saving under the server's name learns it with HEAD, which never counts, and stops there.
    env.write("report.txt", "old");
    env.cmd()
        .args(["--server", &server.url, "download", "K"])
        .assert()
        .code(9);
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["HEAD"]);

    env.cmd()
        .args([
            "--server",
            &server.url,
            "download",
            "K",
            "-o",
            "mine.txt",
            "--force",
        ])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(env.work().join("mine.txt")).unwrap(),
        "new"
    );
}

#[test]
fn a_hostile_file_name_stays_in_the_target_directory() {
    let env = Env::new();
    let server = file_server("../../escape.sh", "#!/bin/sh");
    std::fs::create_dir(env.work().join("inbox")).unwrap();
    env.cmd()
        .args(["--server", &server.url, "download", "K", "-o", "inbox/"])
        .assert()
        .success()
        .stdout("inbox/escape.sh\n");
    assert_eq!(entries(&env.work().join("inbox")), ["escape.sh"]);
    assert_eq!(entries(&env.work()), ["inbox"]);
    assert!(!env.path("escape.sh").exists());

    let dotted = file_server(".bashrc", "x");
    env.cmd()
        .args(["--server", &dotted.url, "download", "K", "-o", "inbox/"])
        .assert()
        .success()
        .stdout("inbox/bashrc\n");
}

#[test]
fn the_key_names_the_file_when_the_server_gives_no_name() {
    let env = Env::new();
    let server = Canned::start(|_, _| {
        response(
            "200 OK",
            &[("Content-Type", "application/octet-stream")],
            "raw",
        )
    });
    env.cmd()
        .args(["--server", &server.url, "download", "Key42"])
        .assert()
        .success()
        .stdout("Key42\n");
}

#[test]
fn a_short_body_leaves_nothing_behind() {
    let env = Env::new();
    let server = Canned::start(|req, _| {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Disposition: attachment; filename=\"f.bin\"\r\nConnection: close\r\n\r\n";
        if req.method == "HEAD" {
            Reply::Raw(head.into())
        } else {
            Reply::Raw(format!("{head}only part").into_bytes())
        }
    });
    env.cmd()
        .args(["--server", &server.url, "download", "K"])
        .assert()
        .code(7)
        .stdout("")
        .stderr(predicates::str::starts_with(
            "fileio: error: the download broke off after 9 of 1000 bytes",
        ));
    assert_eq!(
        entries(&env.work()),
        Vec::<String>::new(),
        "no partial file, no temporary file"
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.method == "GET")
            .count(),
        1,
        "never retried once bytes arrived"
    );
}

#[test]
fn a_missing_file_is_exit_4_with_a_hint() {
    let env = Env::new();
    let server = Canned::start(|_, _| {
        response(
            "404 Not Found",
            &[("Content-Type", "application/json")],
            r#"{"success":false,"status":404,"code":"FILE_NOT_FOUND","message":"File not found","key":null}"#,
        )
    });
    env.cmd()
        .args(["--server", &server.url, "download", "Gone1", "-o", "x"])
        .assert()
        .code(4)
        .stderr(
            "fileio: error: downloading Gone1: File not found (404 Not Found)\n\
             hint: the link may have expired, or been used up: a one-time link is gone after one download\n",
        );
    assert!(!env.work().join("x").exists());
}

#[test]
fn a_redirect_to_a_landing_page_is_said_plainly() {
    let env = Env::new();
    let server = Canned::start(|req, _| {
        if req.target == "/K" {
            response("302 Found", &[("Location", "/landing")], "")
        } else {
            response(
                "200 OK",
                &[("Content-Type", "text/html")],
                "<html>download here</html>",
            )
        }
    });
    env.cmd()
        .args(["--server", &server.url, "download", "K", "-o", "out.bin"])
        .assert()
        .code(8)
        .stderr(predicates::str::starts_with(format!(
            "fileio: error: downloading K: the link led to a web page ({}/landing), not to the file",
            server.url
        )));
    assert!(!env.work().join("out.bin").exists());
}

#[test]
fn a_landing_page_url_is_shown_without_its_secrets() {
    let env = Env::new();
    let server = Canned::start(|req, _| {
        if req.target == "/K" {
            response(
                "302 Found",
                &[("Location", "/landing?token=s3cr3t&page=%1B%5D0%3Bx")],
                "",
            )
        } else {
            response(
                "200 OK",
                &[("Content-Type", "text/html")],
                "<html>download here</html>",
            )
        }
    });
    let out = env
        .cmd()
        .args(["--server", &server.url, "download", "K", "-o", "out.bin"])
        .assert()
        .code(8)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
    assert!(stderr.contains("token=%28redacted%29"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(!env.work().join("out.bin").exists());
}

#[test]
fn a_redirect_to_the_bytes_is_followed() {
    let env = Env::new();
    let server = Canned::start(|req, _| {
        if req.target == "/K" {
            response("302 Found", &[("Location", "/cdn/blob")], "")
        } else {
            response(
                "200 OK",
                &[("Content-Disposition", "attachment; filename=\"b.bin\"")],
                "blob",
            )
        }
    });
    env.cmd()
        .args(["--server", &server.url, "download", "K", "-o", "-"])
        .assert()
        .success()
        .stdout("blob");
}

#[test]
fn unavailable_is_retried_before_the_body_starts() {
    let env = Env::new();
    let server = Canned::start(|_, i| {
        if i == 0 {
            response("503 Service Unavailable", &[("Retry-After", "0")], "")
        } else {
            response("200 OK", &[], "ok")
        }
    });
    env.cmd()
        .args(["--server", &server.url, "-q", "download", "K", "-o", "-"])
        .assert()
        .success()
        .stdout("ok")
        .stderr("");
}

#[test]
fn not_a_key_is_a_usage_error() {
    let env = Env::new();
    env.cmd()
        .args([
            "--server",
            "http://127.0.0.1:9",
            "download",
            "../etc/passwd",
        ])
        .assert()
        .code(2)
        .stderr(
            "fileio: error: '../etc/passwd' is neither a key nor a link\n\
             hint: give the key (like Vv7QtVfMVBr2) or the whole link the upload printed\n",
        );
}

/// A server that sends the head and 1 MiB of a 16 MiB body, then stalls.
fn stalling_server() -> Canned {
    Canned::start(|req, _| {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 16777216\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nConnection: close\r\n\r\n";
        if req.method == "HEAD" {
            return Reply::Raw(head.into());
        }
        let mut bytes = head.as_bytes().to_vec();
        bytes.extend(vec![b'x'; 1 << 20]);
        Reply::RawThenHang(bytes, std::time::Duration::from_secs(10))
    })
}

#[cfg(unix)]
#[test]
fn ctrl_c_exits_130_and_leaves_nothing_behind() {
    let env = Env::new();
    let server = stalling_server();
    let child = env
        .std_cmd()
        .args(["--server", &server.url, "download", "K", "-o", "out.bin"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the part file to appear: the Ctrl-C handler is installed before it is made.
    let started = std::time::Instant::now();
    while entries(&env.work()).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the download never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "fileio: error: interrupted; nothing was saved\n"
    );
    assert_eq!(
        entries(&env.work()),
        Vec::<String>::new(),
        "no partial file, no temporary file"
    );
}

#[test]
fn a_stalled_body_times_out_and_leaves_nothing_behind() {
    let env = Env::new();
    let server = stalling_server();
    env.cmd()
        .args(["--server", &server.url, "--timeout", "1", "download", "K"])
        .assert()
        .code(7)
        .stderr(predicates::str::starts_with(
            "fileio: error: the download broke off after 1048576 of 16777216 bytes",
        ));
    assert_eq!(entries(&env.work()), Vec::<String>::new());
}

/// Needs root to mount a tiny file system: .ci/run runs it (CI is root).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root to mount a tmpfs: run by .ci/run"]
fn a_full_disk_is_a_local_error_and_leaves_nothing_behind() {
    let env = Env::new();
    let server = Canned::start(|req, _| {
        let body = vec![b'y'; 4 << 20];
        let headers = [("Content-Disposition", "attachment; filename=\"big.bin\"")];
        if req.method == "HEAD" {
            response("200 OK", &headers, "")
        } else {
            response("200 OK", &headers, body)
        }
    });
    let mnt = env.path("small");
    std::fs::create_dir(&mnt).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(status.success(), "mount a 1 MiB tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    env.cmd()
        .args(["--server", &server.url, "download", "K", "-o"])
        .arg(format!("{}/", mnt.display()))
        .assert()
        .code(9)
        .stderr("fileio: error: cannot write the download: the disk is full; nothing was saved\n");
    assert_eq!(
        entries(&mnt),
        Vec::<String>::new(),
        "the part file is removed"
    );
}

/// A name with a right-to-left override would show as `invoiceexe.pdf`; saved, it loses the
/// override and every other invisible formatting character, and is what it really is.
#[test]
fn a_saved_name_drops_bidi_overrides_and_invisible_characters() {
    let env = Env::new();
    let server = Canned::start(|_, _| {
        response(
            "200 OK",
            &[(
                "Content-Disposition",
                "attachment; filename*=UTF-8''%EF%BB%BFinvoice%E2%80%AEfdp%E2%80%8B%E2%81%A6.exe%C2%9B",
            )],
            "MZ",
        )
    });
    env.cmd()
        .args(["--server", &server.url, "download", "K"])
        .assert()
        .success()
        .stdout("invoicefdp.exe\n");
    assert_eq!(entries(&env.work()), ["invoicefdp.exe"]);
}
