//! `fileio upload` against canned servers: what is sent, what is printed, every failure.

use std::time::Duration;

use predicates::prelude::*;

use crate::support::*;

fn ok_server() -> Canned {
    Canned::start(|req, i| {
        let host = req.header("host").unwrap_or("x").to_string();
        let name = if req.body_text().contains("filename=\"b.txt\"") {
            "b.txt"
        } else {
            "a.txt"
        };
        json(&file_details(
            &format!("Key{i}"),
            &format!("http://{host}"),
            name,
            5,
        ))
    })
}

#[test]
fn prints_only_the_link_and_sends_a_streamed_multipart_with_length() {
    let env = Env::new();
    let server = ok_server();
    env.write("a.txt", "hello");
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "a.txt",
            "--expires",
            "30m",
            "--max-downloads",
            "3",
        ])
        .args(["--no-auto-delete"])
        .assert()
        .success()
        .stdout(format!("{}/Key0\n", server.url))
        .stderr("");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/"));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    let body = r.body_text();
    assert_eq!(form_field(&body, "expires").as_deref(), Some("30m"));
    assert_eq!(form_field(&body, "maxDownloads").as_deref(), Some("3"));
    assert_eq!(form_field(&body, "autoDelete").as_deref(), Some("false"));
    assert!(body.contains("name=\"file\"; filename=\"a.txt\"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n"));
    assert!(r.header("authorization").is_none());
}

#[test]
fn json_gives_the_normalized_fields() {
    let env = Env::new();
    let server = ok_server();
    env.write("a.txt", "hello");
    let out = env
        .cmd()
        .args(["--server", &server.url, "--json", "upload", "a.txt"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "service": "fileio", "key": "Key0", "link": format!("{}/Key0", server.url),
            "name": "a.txt", "size": 5, "expires": "2026-12-06T10:00:00Z", "downloads": 0,
            "max_downloads": 1, "auto_delete": true, "created": "2026-11-22T10:00:00Z",
            "direct_link": null, "file": "a.txt"
        })
    );
}

#[test]
fn several_files_print_links_in_argument_order_and_a_failure_fails_the_run() {
    let env = Env::new();
    let server = ok_server();
    env.write("a.txt", "hello");
    env.write("b.txt", "world");
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "a.txt",
            "missing.txt",
            "b.txt",
            "-j",
            "1",
        ])
        .assert()
        .code(9);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let links: Vec<&str> = stdout.lines().collect();
    assert_eq!(links.len(), 2);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        String::from_utf8(out.get_output().stderr.clone()).unwrap(),
        "fileio: error: missing.txt: cannot read missing.txt: no such file\n\
         fileio: error: 1 of 3 uploads failed\n"
    );
}

#[test]
fn standard_input_is_streamed_under_its_name() {
    let env = Env::new();
    let server = ok_server();
    env.cmd()
        .args(["--server", &server.url, "upload", "-", "--name", "log.txt"])
        .write_stdin("piped bytes")
        .assert()
        .success();
    let requests = server.requests();
    let post = requests.iter().find(|r| r.method == "POST").unwrap();
    let body = post.body_text();
    assert!(body.contains("filename=\"log.txt\""), "{body}");
    assert!(body.contains("\r\n\r\npiped bytes\r\n"), "{body}");
}

#[test]
fn bad_expiry_is_a_usage_error_before_anything_is_sent() {
    let env = Env::new();
    let server = ok_server();
    env.write("a.txt", "hello");
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "a.txt",
            "--expires",
            "5x",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("invalid expiry '5x': use a period such as 30m, 12h, 7d, 2w, 6M or 1y"),
        "{stderr}"
    );
    env.cmd()
        .args(["--server", &server.url, "upload", "a.txt", "--expires", "2001-01-01"])
        .assert()
        .code(2)
        .stderr("fileio: error: --expires 2001-01-01T00:00:00Z is not in the future\nhint: give a period such as 7d, or a date still to come\n");
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "a.txt",
            "--max-downloads",
            "0",
        ])
        .assert()
        .code(2);
    assert!(server.requests().is_empty());
}

#[test]
fn a_web_page_instead_of_the_api_is_said_plainly() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let html = Canned::start(|_, _| {
        response(
            "418 I'm a teapot",
            &[("Content-Type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><p>short and stout</p>",
        )
    });
    env.cmd()
        .args(["--server", &html.url, "upload", "a.txt"])
        .assert()
        .code(8)
        .stdout("")
        .stderr(
            "fileio: error: uploading a.txt: the server answered 418 I'm a teapot with a web page (text/html; charset=utf-8) \
             instead of the API; the service may have changed\n\
             hint: point --server at a compatible server (for example one started with `fileio serve`), or pick another --service\n",
        );
    let ok_html = Canned::start(|_, _| {
        response(
            "200 OK",
            &[("Content-Type", "text/html")],
            "<html>welcome</html>",
        )
    });
    env.cmd()
        .args(["--server", &ok_html.url, "upload", "a.txt"])
        .assert()
        .code(8)
        .stderr(predicates::str::contains(
            "the server answered 200 OK with a web page (text/html)",
        ));
}

#[test]
fn a_redirect_is_reported_not_followed() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let moved = Canned::start(|_, _| {
        response(
            "301 Moved Permanently",
            &[("Location", "https://www.example.test/")],
            "",
        )
    });
    env.cmd()
        .args(["--server", &moved.url, "upload", "a.txt"])
        .assert()
        .code(8)
        .stderr(predicates::str::starts_with(
            "fileio: error: uploading a.txt: the server redirected to https://www.example.test/ instead of answering the API (301 Moved Permanently); the service may have changed\n",
        ));
    assert_eq!(moved.requests().len(), 1);
}

#[test]
fn malformed_json_is_an_unexpected_answer() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let bad = Canned::start(|_, _| {
        response(
            "200 OK",
            &[("Content-Type", "application/json")],
            "{\"success\":tru",
        )
    });
    env.cmd()
        .args(["--server", &bad.url, "upload", "a.txt"])
        .assert()
        .code(8)
        .stderr(predicates::str::starts_with(
            "fileio: error: uploading a.txt: the server's answer is not the JSON the API gives (200 OK, application/json): {\"success\":tru\n",
        ));
}

#[test]
fn rate_limits_are_retried_after_the_servers_delay_then_reported() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let limited_once = Canned::start(|req, i| {
        if i == 0 {
            response(
                "429 Too Many Requests",
                &[("Retry-After", "1"), ("Content-Type", "application/json")],
                r#"{"success":false,"status":429,"code":"TOO_MANY_REQUESTS","message":"Too many requests"}"#,
            )
        } else {
            json(&file_details(
                "K",
                &format!("http://{}", req.header("host").unwrap()),
                "a.txt",
                5,
            ))
        }
    });
    let out = env
        .cmd()
        .args(["--server", &limited_once.url, "upload", "a.txt"])
        .assert()
        .success();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        "fileio: warning: the server answered 429 Too Many Requests; retrying in 1.0s (retry 1 of 3)\n"
    );
    let reqs = limited_once.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert!(
            r.body_text().contains("\r\n\r\nhello\r\n"),
            "the retry re-sends the whole file"
        );
    }

    let always = Canned::start(|_, _| {
        response(
            "429 Too Many Requests",
            &[("Retry-After", "0"), ("Content-Type", "application/json")],
            r#"{"success":false,"status":429,"code":"TOO_MANY_REQUESTS","message":"Too many requests"}"#,
        )
    });
    env.cmd()
        .args([
            "--server",
            &always.url,
            "--retries",
            "2",
            "-q",
            "upload",
            "a.txt",
        ])
        .assert()
        .code(6)
        .stderr(
            "fileio: error: uploading a.txt: Too many requests (429 Too Many Requests)\n\
             hint: the server is rate limiting; try again in 0s, or raise --retries\n",
        );
    assert_eq!(always.requests().len(), 3);
}

#[test]
fn standard_input_is_never_retried() {
    let env = Env::new();
    let unavailable = Canned::start(|_, _| response("503 Service Unavailable", &[], "down"));
    env.cmd()
        .args(["--server", &unavailable.url, "upload", "-"])
        .write_stdin("once")
        .assert()
        .code(8)
        .stderr(predicates::str::is_match(
            "^fileio: note: uploading standard input as stdin-[0-9]{8}-[0-9]{6}; name it with --name \\(e.g. --name dir.tgz\\)\n\
             fileio: error: uploading stdin-[0-9]{8}-[0-9]{6}: down \\(503 Service Unavailable\\)\nhint: the server failed; try again later\n$",
        ).unwrap());
    // One POST (the OPTIONS before it asked whether the server takes streams over tus).
    let methods: Vec<String> = unavailable
        .requests()
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(methods, ["OPTIONS", "POST"]);
}

#[test]
fn status_codes_map_to_exit_codes() {
    let env = Env::new();
    env.write("a.txt", "hello");
    for (status, code) in [
        ("401 Unauthorized", 3),
        ("403 Forbidden", 3),
        ("413 Payload Too Large", 5),
        ("400 Bad Request", 2),
    ] {
        let s = Canned::start(move |_, _| {
            response(
                status,
                &[("Content-Type", "application/json")],
                format!(
                    r#"{{"success":false,"status":{},"code":"X","message":"Nope."}}"#,
                    &status[..3]
                ),
            )
        });
        env.cmd()
            .args(["--server", &s.url, "upload", "a.txt"])
            .assert()
            .code(code)
            .stderr(predicates::str::starts_with(format!(
                "fileio: error: uploading a.txt: Nope ({status})\n"
            )));
    }
}

#[test]
fn a_silent_server_times_out() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let silent = Canned::start(|_, _| Reply::Hang(Duration::from_secs(5)));
    env.cmd()
        .args([
            "--server",
            &silent.url,
            "--timeout",
            "1",
            "--retries",
            "0",
            "upload",
            "a.txt",
        ])
        .assert()
        .code(7)
        .stderr(
            predicates::str::starts_with(
                "fileio: error: uploading a.txt failed: no progress for 1s\n",
            )
            .and(predicates::str::contains(
                "check with `fileio list` (or `fileio history`) before uploading it again",
            )),
        );
}

#[test]
fn a_dropped_connection_is_a_network_error() {
    let env = Env::new();
    env.write("big.bin", vec![7u8; 8 << 20]);
    let dropper = Canned::start(|_, _| Reply::DropAfterHead);
    env.cmd()
        .args([
            "--server",
            &dropper.url,
            "--retries",
            "1",
            "-q",
            "upload",
            "big.bin",
        ])
        .assert()
        .code(7)
        .stderr(
            predicates::str::starts_with("fileio: error: uploading big.bin failed: ")
                .and(predicates::str::contains("it was not sent again")),
        );
    // The server may have stored it (or refused it): an upload is not sent twice.
    assert_eq!(dropper.requests().len(), 1, "an upload is never sent twice");
}

#[test]
fn nothing_listening_is_a_network_error() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    env.cmd()
        .args(["--server", &url, "--retries", "0", "upload", "a.txt"])
        .assert()
        .code(7)
        .stderr(format!(
            "fileio: error: uploading a.txt failed: cannot connect (Connection refused (os error 111))\n\
             hint: check that {url}/ is reachable, or point --server at another server\n"
        ));
}

#[test]
fn a_special_or_unreadable_file_is_a_local_error() {
    let env = Env::new();
    let server = ok_server();
    // A folder is archived (tests/cli/folders.rs); a device is not uploaded.
    env.cmd()
        .args(["--server", &server.url, "upload", "/dev/null"])
        .assert()
        .code(9)
        .stderr(predicates::str::starts_with(
            "fileio: error: /dev/null is not a regular file\n",
        ));
    assert!(server.requests().is_empty());
}

#[test]
fn flags_beat_environment_which_beats_the_config_file() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let from_config = ok_server();
    let from_env = ok_server();
    let from_flag = ok_server();
    let config = env.path("config/fileio/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!("server = \"{}\"\nexpires = \"2h\"\n", from_config.url),
    )
    .unwrap();

    env.cmd().args(["upload", "a.txt"]).assert().success();
    assert_eq!(from_config.requests().len(), 1);
    assert_eq!(
        form_field(&from_config.requests()[0].body_text(), "expires").as_deref(),
        Some("2h")
    );

    env.cmd()
        .env("FILEIO_SERVER", &from_env.url)
        .args(["upload", "a.txt"])
        .assert()
        .success();
    assert_eq!(from_env.requests().len(), 1);

    env.cmd()
        .env("FILEIO_SERVER", &from_env.url)
        .args([
            "--server",
            &from_flag.url,
            "upload",
            "a.txt",
            "--expires",
            "1d",
        ])
        .assert()
        .success();
    assert_eq!(from_flag.requests().len(), 1);
    assert_eq!(
        form_field(&from_flag.requests()[0].body_text(), "expires").as_deref(),
        Some("1d")
    );
    assert_eq!(from_env.requests().len(), 1);

    std::fs::write(&config, "servr = \"typo\"\n").unwrap();
    env.cmd()
        .args(["upload", "a.txt"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "config.toml is invalid: unknown field `servr`",
        ));
    env.cmd()
        .args(["--config", "/nonexistent/fileio.toml", "upload", "a.txt"])
        .assert()
        .code(9)
        .stderr(predicates::str::starts_with(
            "fileio: error: cannot read config file /nonexistent/fileio.toml",
        ));
}

#[test]
fn the_api_key_is_sent_but_never_shown() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let server = ok_server();
    let key = "SECRETKEY1.ABCDEFG-HIJKLMN";
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", key)
        .args(["--server", &server.url, "-v", "upload", "a.txt"])
        .assert()
        .success();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stderr.contains("> authorization: Bearer (redacted)"),
        "{stderr}"
    );
    assert!(stderr.contains("> POST "), "{stderr}");
    assert!(!stderr.contains(key) && !stdout.contains(key));
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
}

#[test]
fn boolean_variables_read_their_value() {
    let env = Env::new();
    let server = Canned::start(|_, _| Reply::Hang(Duration::from_millis(10)));
    env.write("a.txt", "hello");
    // FILEIO_QUIET=0 is off: the retry warning shows; FILEIO_QUIET=1 hides it.
    for (value, warned) in [("0", true), ("false", true), ("1", false), ("yes", false)] {
        let out = env
            .cmd()
            .env("FILEIO_QUIET", value)
            .args([
                "--server",
                &server.url,
                "--retries",
                "1",
                "download",
                "Key1",
            ])
            .assert()
            .code(7);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(
            stderr.contains("warning"),
            warned,
            "FILEIO_QUIET={value}: {stderr}"
        );
    }
}

#[test]
fn json_that_is_not_the_api_is_an_unexpected_answer() {
    let env = Env::new();
    env.write("a.txt", "hello");
    let other = Canned::start(|_, _| json(r#"{"ok":true,"url":"elsewhere"}"#));
    env.cmd()
        .args(["--server", &other.url, "upload", "a.txt"])
        .assert()
        .code(8)
        .stdout("")
        .stderr(
            "fileio: error: uploading a.txt: the server's answer has no key or link; it does not look like the file.io API\n\
             hint: check that --server and --service name a compatible server\n",
        );
}
