//! Keys, list, me, update, delete and history against a real `fileio serve`.

use std::process::Output;

use predicates::prelude::PredicateBooleanExt;

use crate::support::*;

const KEY: &str = "KEYONE1.AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD";
const OTHER: &str = "KEYTWO2.EEEEEEE-FFFFFFF-GGGGGGG-HHHHHHH";

fn server(env: &Env) -> Server {
    Server::start(env, &["--api-key", KEY, "--api-key", OTHER])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

/// Uploads `name` with `key` and returns the link.
fn upload(env: &Env, s: &Server, name: &str, key: Option<&str>, extra: &[&str]) -> String {
    env.write(name, format!("contents of {name}"));
    let mut cmd = env.cmd();
    if let Some(k) = key {
        cmd.env("FILEIO_API_KEY", k);
    }
    let out = cmd
        .args(["--server", &s.url, "upload", name])
        .args(extra)
        .assert()
        .success();
    text(&out.get_output().stdout).trim().to_string()
}

#[test]
fn login_checks_the_key_stores_it_0600_and_logout_removes_it() {
    let env = Env::new();
    let s = server(&env);
    let creds = env.path("config/fileio/credentials.toml");

    env.cmd()
        .args(["--server", &s.url, "auth", "login", "--with-token"])
        .write_stdin("WRONG.KEY\n")
        .assert()
        .code(3)
        .stderr(format!(
            "fileio: error: {0}: the server refused this key\nhint: check the key: {0} accepts the keys its operator set (for `fileio serve`: --api-key, --api-keys-file or FILEIO_SERVE_API_KEYS)\n",
            s.url
        ));
    assert!(!creds.exists(), "a refused key is not stored");

    let out = env
        .cmd()
        .args(["--server", &s.url, "auth", "login", "--with-token"])
        .write_stdin(format!("{KEY}\n"))
        .assert()
        .success()
        .stdout("");
    let said = both(out.get_output());
    assert!(
        said.starts_with(&format!(
            "Logged in to {} (0 B used); the key is in ",
            s.url
        )),
        "{said}"
    );
    assert!(!said.contains(KEY));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let out = env
        .cmd()
        .args(["--server", &s.url, "auth", "status"])
        .assert()
        .success();
    assert_eq!(
        text(&out.get_output().stdout),
        format!(
            "Logged in to {} with the key from the credentials file {}: 0 B used.\n",
            s.url,
            creds.display()
        )
    );
    // The stored key is used by the commands that need one.
    upload(&env, &s, "mine.txt", None, &[]);
    env.cmd()
        .args(["--server", &s.url, "list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("mine.txt"));

    env.cmd()
        .args(["--server", &s.url, "auth", "logout"])
        .assert()
        .success();
    assert!(!creds.exists());
    env.cmd()
        .args(["--server", &s.url, "auth", "status"])
        .assert()
        .code(3)
        .stderr(format!("fileio: error: not logged in to {}\nhint: run `fileio auth login`, or set FILEIO_API_KEY\n", s.url));
}

#[test]
fn login_without_a_terminal_needs_with_token() {
    let env = Env::new();
    env.cmd()
        .args(["--server", "http://127.0.0.1:9", "auth", "login"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(
            "fileio: error: no terminal to prompt for the key\nhint: pipe it in with --with-token: fileio auth login --with-token < key.txt\n",
        );
}

#[test]
fn commands_that_need_a_key_say_so() {
    let env = Env::new();
    let s = server(&env);
    for args in [
        vec!["list"],
        vec!["me"],
        vec!["delete", "abc"],
        vec!["update", "abc", "--max-downloads", "2"],
    ] {
        env.cmd()
            .args(["--server", &s.url])
            .args(&args)
            .assert()
            .code(3)
            .stderr(format!(
                "fileio: error: this needs an API key for {}, and none is set\n\
                 hint: run `fileio auth login`, or set FILEIO_API_KEY (in CI, from the secret store)\n",
                s.url
            ));
    }
    env.cmd()
        .env("FILEIO_API_KEY", "NOT.A.KEY")
        .args(["--server", &s.url, "me"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains(
            "hint: set FILEIO_API_KEY to a valid API key for this server",
        ));
}

#[test]
fn an_api_key_file_is_read_and_a_missing_one_is_a_local_error() {
    let env = Env::new();
    let s = server(&env);
    let key_file = env.write("secret.key", format!("\n{KEY}\n"));
    env.cmd()
        .args(["--server", &s.url, "--api-key-file"])
        .arg(&key_file)
        .args(["me", "--json"])
        .assert()
        .success()
        .stdout(predicates::str::contains("\"used_storage_bytes\":0"));
    env.cmd()
        .args(["--server", &s.url, "--api-key-file", "nope.key", "me"])
        .assert()
        .code(9)
        .stderr(predicates::str::starts_with(
            "fileio: error: cannot read the API key file nope.key: ",
        ));
}

#[test]
fn list_me_update_and_delete_touch_only_the_callers_files() {
    let env = Env::new();
    let s = server(&env);
    let a = upload(&env, &s, "alpha.txt", Some(KEY), &[]);
    upload(&env, &s, "beta.txt", Some(KEY), &["--max-downloads", "5"]);
    upload(&env, &s, "theirs.txt", Some(OTHER), &[]);

    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "list", "--sort", "name"])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(names, ["alpha.txt", "beta.txt"]);
    assert!(
        stdout.lines().nth(1).unwrap().contains("\t0/5\t"),
        "{stdout}"
    );

    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "--json", "list", "--search", "bet"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["name"], "beta.txt");
    assert_eq!(v[0]["service"], "fileio");

    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "me"])
        .assert()
        .success();
    assert!(
        text(&out.get_output().stdout).contains("storage:           41 B used of unlimited"),
        "{}",
        text(&out.get_output().stdout)
    );

    // update: PATCH keeps what is not given.
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args([
            "--server",
            &s.url,
            "--json",
            "update",
            &a,
            "--max-downloads",
            "9",
        ])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (v["max_downloads"].as_u64(), v["name"].as_str()),
        (Some(9), Some("alpha.txt"))
    );
    env.cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "update", &a, "--replace-all"])
        .assert()
        .code(2)
        .stderr("fileio: error: --replace-all replaces the whole file and needs --file PATH\n");
    env.cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "update", &a])
        .assert()
        .code(2)
        .stderr("fileio: error: nothing to update\nhint: give --expires, --max-downloads, --auto-delete, --file, --replace-all\n");
    let replacement = env.write("new.txt", "replaced");
    env.cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "update", &a, "--replace-all", "--file"])
        .arg(&replacement)
        .assert()
        .success();
    env.cmd()
        .args(["--server", &s.url, "download", &a, "-o", "-"])
        .assert()
        .success()
        .stdout("replaced");

    // Another key's file is invisible: not found, and still there afterwards.
    let theirs = {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", OTHER)
            .args(["--server", &s.url, "list"])
            .assert()
            .success();
        text(&out.get_output().stdout)
            .split('\t')
            .next()
            .unwrap()
            .to_string()
    };
    let b_key = {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", KEY)
            .args(["--server", &s.url, "list", "--search", "beta"])
            .assert()
            .success();
        text(&out.get_output().stdout)
            .split('\t')
            .next()
            .unwrap()
            .to_string()
    };
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &s.url, "delete", &b_key, &theirs])
        .assert()
        .code(4);
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.starts_with(&format!(
            "Deleted {b_key}.\nfileio: error: deleting {theirs}: "
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("fileio: error: 1 of 2 deletions failed\n"),
        "{stderr}"
    );
    env.cmd()
        .env("FILEIO_API_KEY", OTHER)
        .args(["--server", &s.url, "list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("theirs.txt"));
}

#[test]
fn list_all_follows_the_pages() {
    let env = Env::new();
    // A canned server with 250 files, served 100 at a time.
    let server = Canned::start(|req, _| {
        let q = req.target.split_once('?').map(|(_, q)| q).unwrap_or("");
        let get = |k: &str| {
            q.split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse::<usize>().ok())
        };
        let (offset, limit) = (get("offset").unwrap_or(0), get("limit").unwrap_or(20));
        let nodes: Vec<String> = (offset..(offset + limit).min(250))
            .map(|i| file_details(&format!("K{i:03}"), "http://x", &format!("f{i}"), 1))
            .collect();
        json(&format!(
            r#"{{"success":true,"status":200,"nodes":[{}],"count":250,"size":250}}"#,
            nodes.join(",")
        ))
    });
    let out = env
        .cmd()
        .env("FILEIO_API_KEY", KEY)
        .args(["--server", &server.url, "list", "--all"])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    assert_eq!(stdout.lines().count(), 250);
    assert!(stdout.lines().last().unwrap().starts_with("K249\t"));
    let targets: Vec<String> = server.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        [
            "/?offset=0&limit=100",
            "/?offset=100&limit=100",
            "/?offset=200&limit=100"
        ]
    );
}

#[test]
fn the_key_never_appears_in_any_output() {
    let env = Env::new();
    let s = server(&env);
    let link = upload(&env, &s, "f.txt", Some(KEY), &["--max-downloads", "3"]);
    let key_file = env.write("k", KEY);
    let runs: Vec<Vec<&str>> = vec![
        vec!["-v", "upload", "f.txt"],
        vec!["-v", "list"],
        vec!["-v", "--json", "list"],
        vec!["-v", "me"],
        vec!["-v", "update", &link, "--max-downloads", "4"],
        vec!["-v", "download", &link, "-o", "-"],
        vec!["-v", "auth", "status"],
        vec!["-v", "history"],
        vec!["-v", "delete", &link],
        vec!["-v", "delete", &link],
    ];
    for args in runs {
        let out = env
            .cmd()
            .env("FILEIO_API_KEY", KEY)
            .args(["--server", &s.url])
            .args(&args)
            .output()
            .unwrap();
        let all = both(&out);
        assert!(
            !all.contains(KEY) && !all.contains("KEYONE1"),
            "{args:?} leaked the key:\n{all}"
        );
        let out = env
            .cmd()
            .args(["--server", &s.url, "--api-key-file"])
            .arg(&key_file)
            .args(&args)
            .output()
            .unwrap();
        assert!(!both(&out).contains("KEYONE1"), "{args:?} leaked the key");
    }
    env.cmd()
        .args(["--server", &s.url, "auth", "login", "--with-token", "-v"])
        .write_stdin(KEY)
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains("KEYONE1").not());
    assert!(
        !s.log().contains("KEYONE1"),
        "the server's log leaked the key"
    );
}

#[test]
fn history_records_lists_forgets_and_can_be_turned_off() {
    let env = Env::new();
    let s = server(&env);
    let link = upload(&env, &s, "a.txt", None, &[]);
    upload(&env, &s, "b.txt", None, &["--expires", "1s"]);
    upload(&env, &s, "c.txt", None, &["--no-history"]);
    env.cmd()
        .env("FILEIO_NO_HISTORY", "1")
        .args(["--server", &s.url, "upload", "c.txt"])
        .assert()
        .success();

    // A minute on, by the client's clock (no waiting): b.txt has expired.
    let later = std::process::Command::new("date")
        .args(["-u", "-d", "+1 minute", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    let later = String::from_utf8(later.stdout).unwrap();
    let out = env
        .cmd()
        .env("FILEIO_TEST_NOW", later.trim())
        .args(["history"])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "expired entries are hidden: {stdout}"
    );
    let fields: Vec<&str> = stdout.trim_end().split('\t').collect();
    assert_eq!(
        (fields[1], fields[2], fields[3], fields[5]),
        (
            link.rsplit('/').next().unwrap(),
            "a.txt",
            "17 B",
            link.as_str()
        )
    );
    let out = env
        .cmd()
        .args(["--json", "history", "--all"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b.txt", "a.txt"]);
    assert_eq!(v[1]["server"], s.url.as_str());
    assert_eq!(v[1]["link"], link.as_str());

    let key = link.rsplit('/').next().unwrap();
    env.cmd()
        .args(["history", "--rm", key])
        .assert()
        .success()
        .stderr(format!("Forgot {key}.\n"));
    env.cmd()
        .args(["history", "--rm", key])
        .assert()
        .code(4)
        .stderr(format!(
            "fileio: error: no upload with key {key} in the history\n"
        ));
    env.cmd()
        .args(["history", "--clear"])
        .assert()
        .success()
        .stderr("Forgot 1 upload.\n");
    env.cmd()
        .args(["history", "--all"])
        .assert()
        .success()
        .stdout("");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("data/fileio/history.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_corrupt_history_warns_and_the_upload_still_succeeds() {
    let env = Env::new();
    let s = server(&env);
    let db = env.path("data/fileio/history.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, "not a database ".repeat(100)).unwrap();
    env.write("a.txt", "x");
    let out = env
        .cmd()
        .args(["--server", &s.url, "upload", "a.txt"])
        .assert()
        .success();
    assert!(text(&out.get_output().stdout).starts_with(&s.url));
    assert!(
        text(&out.get_output().stderr)
            .starts_with("fileio: warning: the upload history is unusable ("),
        "{}",
        text(&out.get_output().stderr)
    );
}

#[test]
fn concurrent_uploads_all_land_in_the_history() {
    let env = Env::new();
    let s = server(&env);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let name = format!("f{i}.txt");
            env.write(&name, format!("file {i}"));
            env.std_cmd()
                .args(["--server", &s.url, "upload", &name])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let out = env.cmd().args(["--json", "history"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 8);
}

/// Login, a second process reading the key, and logout against a real Secret Service.
/// CI runs it inside `dbus-run-session` with an unlocked gnome-keyring (see .ci/run).
#[test]
#[ignore = "needs a Secret Service: run by .ci/run under dbus-run-session"]
fn secret_service_end_to_end() {
    let env = Env::new();
    let s = server(&env);
    let keyring = |cmd: &mut assert_cmd::Command| {
        cmd.env("FILEIO_CREDENTIAL_STORE", "keyring").env(
            "DBUS_SESSION_BUS_ADDRESS",
            std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap(),
        );
    };
    let mut login = env.cmd();
    keyring(&mut login);
    login
        .args(["--server", &s.url, "auth", "login", "--with-token"])
        .write_stdin(KEY)
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "the key is in the OS keyring (Secret Service)",
        ));
    assert!(!env.path("config/fileio/credentials.toml").exists());
    let mut status = env.cmd();
    keyring(&mut status);
    status
        .args(["--server", &s.url, "auth", "status"])
        .assert()
        .success()
        .stdout(format!(
            "Logged in to {} with the key from the OS keyring (Secret Service): 0 B used.\n",
            s.url
        ));
    let mut logout = env.cmd();
    keyring(&mut logout);
    logout
        .args(["--server", &s.url, "auth", "logout"])
        .assert()
        .success();
    let mut after = env.cmd();
    keyring(&mut after);
    after
        .args(["--server", &s.url, "auth", "status"])
        .assert()
        .code(3);
}

#[test]
fn an_unavailable_keyring_falls_back_to_the_file_with_a_warning() {
    let env = Env::new();
    let s = server(&env);
    // A D-Bus address where nothing listens: the Secret Service cannot be reached, and the
    // user's real keyring is never touched.
    let bus = format!("unix:path={}", env.path("no-bus").display());
    let out = env
        .cmd()
        .env("FILEIO_CREDENTIAL_STORE", "auto")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .args(["--server", &s.url, "auth", "login", "--with-token"])
        .write_stdin(KEY)
        .assert()
        .success();
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.starts_with("fileio: warning: the OS keyring (Secret Service) is unavailable: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("; storing the key in a file readable only by you instead\n"),
        "{stderr}"
    );
    let creds = env.path("config/fileio/credentials.toml");
    assert!(
        stderr.ends_with(&format!("the key is in {} (mode 0600).\n", creds.display())),
        "{stderr}"
    );
    env.cmd()
        .env("FILEIO_CREDENTIAL_STORE", "keyring")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .args(["--server", &s.url, "auth", "login", "--with-token"])
        .write_stdin(KEY)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "hint: unlock the keyring and try again, or use --insecure-storage",
        ));
    env.cmd()
        .env("FILEIO_CREDENTIAL_STORE", "auto")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus)
        .args(["--server", &s.url, "me"])
        .assert()
        .success();
}

#[test]
fn auth_status_names_a_plan_as_me_does_and_leaves_out_plan_0() {
    let env = Env::new();
    for (plan, said) in [
        (serde_json::json!(0), "0 B used"),
        (serde_json::json!(7), "plan id 7, 0 B used"),
        (serde_json::json!("creator"), "plan creator, 0 B used"),
    ] {
        let body =
            serde_json::json!({"success": true, "planId": plan, "usedStorageBytes": 0}).to_string();
        let s = Canned::start(move |_, _| json(&body));
        env.cmd()
            .env("FILEIO_API_KEY", "k")
            .args(["--server", &s.url, "auth", "status"])
            .assert()
            .success()
            .stdout(format!(
                "Logged in to {} with the key from the FILEIO_API_KEY environment variable: {said}.\n",
                s.url
            ));
    }
}
