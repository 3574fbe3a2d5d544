//! Resumable uploads (issue 16): the fileio service sends large files through tus where the
//! server offers it, resumes after cut connections within a run and after an interrupted
//! run, and keeps its state private and only as long as it is needed.
// The helpers for the end-to-end tests against `fileio serve`'s tus endpoint wait for it.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::cut_proxy::CutProxy;
use crate::support::*;

const MIB: u64 = 1 << 20;

/// A file of `len` bytes that differ all along (a counter stream from `seed`), written in
/// pieces so that no test holds a large file in memory.
fn write_file(env: &Env, name: &str, len: u64, seed: u64) -> PathBuf {
    use std::io::Write;
    let path = env.work().join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut x = seed | 1;
    let mut left = len;
    let mut piece = vec![0u8; MIB as usize];
    while left > 0 {
        for b in piece.chunks_mut(8) {
            // xorshift64: cheap bytes that no compression or deduplication flatters.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        let n = left.min(MIB) as usize;
        out.write_all(&piece[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
    path
}

fn sha256_of(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).unwrap();
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The resume states the client keeps.
fn states(env: &Env) -> Vec<PathBuf> {
    let dir = env.path("data/fileio/resume");
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Downloads `link` straight from the server and checks it is `expected`'s bytes.
fn assert_downloads_as(env: &Env, link: &str, expected: &Path) {
    let out = env.work().join(format!(
        "down-{}",
        expected.file_name().unwrap().to_string_lossy()
    ));
    env.cmd()
        .args(["download", link, "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(
        sha256_of(&out),
        sha256_of(expected),
        "downloaded bytes differ"
    );
    std::fs::remove_file(&out).unwrap();
}

/// The number of files the server stores (blobs), to check that a resumed upload made one.
fn stored_files(server: &Server) -> usize {
    let dir = server.data.join("blobs");
    walk_count(&dir)
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { walk_count(&p) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn upload_through(
    env: &Env,
    proxy: &CutProxy,
    file: &Path,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    env.cmd()
        .args(["--server", &proxy.url, "--no-progress", "upload"])
        .args(extra)
        .arg(file)
        .assert()
}

/// A first run cut off for good (no retries), leaving its state.
fn cut_off_run(env: &Env, proxy: &CutProxy, file: &Path, at: u64) {
    proxy.cut_next_upload_after(at);
    upload_through(
        env,
        proxy,
        file,
        &["--resumable-above", "0", "--retries", "0"],
    )
    .failure()
    .code(7)
    .stderr(predicates::str::contains("run the same command again"));
    assert_eq!(states(env).len(), 1);
}

/// A file.io emulator without tus: OPTIONS gets what file.io's web server gives (an HTML
/// page), POST / stores.
fn plain_fileio() -> Canned {
    Canned::start(|req, i| {
        let host = req.header("host").unwrap_or("x").to_string();
        match req.method.as_str() {
            "POST" if req.target == "/" => json(&file_details(
                &format!("Key{i}"),
                &format!("http://{host}"),
                "f.bin",
                0,
            )),
            _ => response(
                "200 OK",
                &[("Content-Type", "text/html")],
                "<!doctype html><title>file.io</title>",
            ),
        }
    })
}

#[test]
fn small_files_go_up_in_one_post_without_asking_for_tus() {
    let env = Env::new();
    let server = plain_fileio();
    env.write("small.bin", vec![7u8; 10_000]);
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "small.bin",
            "--resumable-above",
            "1MiB",
        ])
        .assert()
        .success();
    let seen: Vec<(String, String)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.target))
        .collect();
    assert_eq!(seen, [("POST".to_string(), "/".to_string())]);
}

#[test]
fn a_server_without_tus_gets_a_plain_post_and_is_asked_once() {
    let env = Env::new();
    let server = plain_fileio();
    env.write("a.bin", vec![1u8; 3000]);
    env.write("b.bin", vec![2u8; 3000]);
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "a.bin",
            "b.bin",
            "--resumable-above",
            "0",
        ])
        .assert()
        .success();
    let mut seen: Vec<(String, String)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.target))
        .collect();
    seen.sort();
    let s = |m: &str, t: &str| (m.to_string(), t.to_string());
    assert_eq!(seen, [s("OPTIONS", "/"), s("POST", "/"), s("POST", "/")]);
}

#[test]
fn streams_that_cannot_be_read_again_go_up_in_one_post() {
    let env = Env::new();
    let server = plain_fileio();
    env.write("secret.txt", vec![3u8; 5000]);
    env.write("dir/x.txt", "x");
    // Encrypted, a folder, standard input: no tus however low the threshold.
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "--encrypt",
            "secret.txt",
            "--resumable-above",
            "0",
        ])
        .assert()
        .success();
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "dir",
            "--resumable-above",
            "0",
        ])
        .assert()
        .success();
    env.cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "-",
            "--resumable-above",
            "0",
        ])
        .write_stdin(vec![4u8; 5000])
        .assert()
        .success();
    assert!(server.requests().iter().all(|r| r.method == "POST"));
}

#[test]
fn the_threshold_comes_from_the_flag_or_the_config_file_and_never_turns_it_off() {
    let env = Env::new();
    let server = plain_fileio();
    env.write("f.bin", vec![5u8; 100_000]);
    let always = env.write("always.toml", "resumable-above = \"0\"\n");
    let upload = |extra: &[&str]| {
        env.cmd()
            .args(["--server", &server.url, "--config"])
            .arg(&always)
            .args(["upload", "f.bin"])
            .args(extra)
            .assert()
            .success();
    };
    upload(&[]);
    upload(&["--resumable-above", "never"]);
    let methods: Vec<String> = server.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["OPTIONS", "POST", "POST"]);
    let bad = env.write("bad.toml", "resumable-above = \"sometimes\"\n");
    env.cmd()
        .args(["--server", &server.url, "--config"])
        .arg(&bad)
        .args(["upload", "f.bin"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("resumable-above"));
}
