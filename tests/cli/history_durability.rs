//! The upload history survives the process that wrote it, although no upload waits for a
//! checkpoint or an fsync to put it on disk (issue 13).

use crate::support::{Env, Server};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn an_upload_recorded_without_a_checkpoint_is_read_by_the_next_process() {
    let env = Env::new();
    let s = Server::start(&env, &[]);
    env.write("a.txt", "first file");
    env.write("b.txt", "second file");
    let mut links = Vec::new();
    for f in ["a.txt", "b.txt"] {
        let out = env
            .cmd()
            .args(["--server", &s.url, "upload", f])
            .assert()
            .success();
        links.push(text(&out.get_output().stdout).trim().to_string());

        // The process closed its connection without checkpointing: the entry is still in
        // the write-ahead log (a checkpoint at close would have folded it into the database
        // and removed the log)...
        let wal = env.path("data/fileio/history.db-wal");
        let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "no write-ahead log left after uploading {f}");

        // ...and another process reads it there.
        let out = env.cmd().args(["--json", "history"]).assert().success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let got: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["link"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = links.iter().rev().map(String::as_str).collect();
        assert_eq!(got, want, "after uploading {f}");
    }
}

/// Opening the history is off the upload's path: while another process holds the history,
/// the file still reaches the server, and it is recorded once the history is free.
#[test]
fn an_upload_does_not_wait_for_the_history_to_open() {
    use std::time::{Duration, Instant};
    let env = Env::new();
    let s = Server::start(&env, &[]);
    env.write("a.txt", "first file");
    env.write("b.txt", "second file");
    env.cmd()
        .args(["--server", &s.url, "upload", "a.txt"])
        .assert()
        .success();
    let blobs = || std::fs::read_dir(s.data.join("blobs")).unwrap().count();
    assert_eq!(blobs(), 1);

    let holder = rusqlite::Connection::open(env.path("data/fileio/history.db")).unwrap();
    holder
        .execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;")
        .unwrap();
    let mut child = env
        .std_cmd()
        .args(["--server", &s.url, "upload", "b.txt"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while blobs() < 2 {
        assert!(
            Instant::now() < deadline,
            "the upload waited for the history"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the upload finished without waiting to record its link"
    );

    drop(holder);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let link = text(&out.stdout).trim().to_string();
    let listed = env.cmd().args(["--json", "history"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&listed.get_output().stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|e| e["link"] == link.as_str()),
        "{link} is not in the history"
    );
}
