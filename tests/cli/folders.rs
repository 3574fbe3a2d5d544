//! Folders as archives (issue 14): `fileio upload DIR` streams one .tar.gz that stock tar
//! unpacks as the folder was, links kept as links, special files skipped with a note.

use std::path::Path;

use crate::support::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A folder with nested directories, an empty one, a link inside (and, with `link_out`, one
/// pointing out), and a FIFO (skipped).
fn make_tree(env: &Env, link_out: bool) -> std::path::PathBuf {
    let root = env.work().join("proj");
    env.write("proj/a.txt", "alpha");
    env.write(
        "proj/src/deep/b.bin",
        (0..200_000u32).map(|i| i as u8).collect::<Vec<_>>(),
    );
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::os::unix::fs::symlink("src/deep/b.bin", root.join("link-in")).unwrap();
    if link_out {
        std::os::unix::fs::symlink("/etc/passwd", root.join("link-out")).unwrap();
    }
    let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    root
}

fn unpack_and_compare(env: &Env, archive: &str) {
    let test = "folders";
    if !have_tool("tar", test) || !have_tool("diff", test) {
        return;
    }
    std::fs::create_dir(env.work().join("x")).unwrap();
    let st = std::process::Command::new("tar")
        .args(["xzf", archive, "-C", "x"])
        .current_dir(env.work())
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(env.work().join("proj/pipe")).unwrap();
    let diff = std::process::Command::new("diff")
        .args(["-r", "--no-dereference", "proj", "x/proj"])
        .current_dir(env.work())
        .output()
        .unwrap();
    assert!(diff.status.success(), "{}", text(&diff.stdout));
    let link = std::fs::read_link(env.work().join("x/proj/link-out")).unwrap();
    assert!(env.work().join("x/proj/link-in").is_symlink());
    assert_eq!(
        link.to_str(),
        Some("/etc/passwd"),
        "stored as a link, not followed"
    );
    assert!(env.work().join("x/proj/empty").is_dir());
}

#[test]
fn a_folder_goes_up_as_one_tar_gz_that_tar_unpacks_as_it_was() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    make_tree(&env, true);
    let out = env
        .cmd()
        .args(["--server", &server.url, "--json", "upload", "proj"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("skipping proj/pipe"),
        "{}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "proj.tar.gz");
    let link = v["link"].as_str().unwrap().to_string();
    env.cmd()
        .args(["--server", &server.url, "download", &link])
        .assert()
        .success()
        .stdout("proj.tar.gz\n");
    unpack_and_compare(&env, "proj.tar.gz");
}

#[test]
fn an_encrypted_folder_is_one_age_stream_of_the_archive() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    make_tree(&env, true);
    let out = env
        .cmd()
        .args(["--server", &server.url, "-q", "upload", "--encrypt", "proj"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_string();
    assert!(link.ends_with("&name=proj.tar.gz"), "{link}");
    env.cmd()
        .args(["--server", &server.url, "download", &link])
        .assert()
        .success()
        .stdout("proj.tar.gz\n");
    unpack_and_compare(&env, "proj.tar.gz");
}

#[test]
fn extract_unpacks_a_folder_as_it_downloads_plain_and_encrypted() {
    for encrypt in [false, true] {
        let env = Env::new();
        let server = Server::start(&env, &[]);
        // A link pointing out is stored, but --extract would refuse it (tested below).
        make_tree(&env, false);
        let mut up = env.cmd();
        up.args(["--server", &server.url, "-q", "upload", "proj"]);
        if encrypt {
            up.arg("--encrypt");
        }
        let out = up.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let link = text(&out.stdout).trim().to_string();
        env.cmd()
            .args(["--server", &server.url, "download", &link, "--extract", "x"])
            .assert()
            .success()
            .stdout("x/proj\n");
        // Nothing else beside it: the staging directory is gone.
        let names: Vec<_> = std::fs::read_dir(env.work().join("x"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["proj"]);
        std::fs::remove_file(env.work().join("proj/pipe")).unwrap();
        if have_tool("diff", "extract") {
            let diff = std::process::Command::new("diff")
                .args(["-r", "--no-dereference", "proj", "x/proj"])
                .current_dir(env.work())
                .output()
                .unwrap();
            assert!(diff.status.success(), "{}", text(&diff.stdout));
        }
    }
}

/// A .tar.gz with one entry whose name (and link target) are written raw, as a hostile
/// archive would have them.
fn hostile_archive(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    let raw = &mut header.as_old_mut().name;
    raw[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        header.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    header.set_entry_type(kind);
    let body = b"owned";
    header.set_size(if kind.is_file() { body.len() as u64 } else { 0 });
    header.set_mode(0o644);
    header.set_cksum();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    tar.append(&header, if kind.is_file() { &body[..] } else { &[][..] })
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_hostile_archive_is_refused_and_nothing_is_written() {
    let cases = [
        (
            "dotdot",
            hostile_archive("../escaped", tar::EntryType::Regular, None),
        ),
        (
            "absolute",
            hostile_archive("/tmp/fileio-escaped", tar::EntryType::Regular, None),
        ),
        (
            "link out",
            hostile_archive("evil", tar::EntryType::Symlink, Some("../../etc")),
        ),
        (
            "absolute link",
            hostile_archive("evil", tar::EntryType::Symlink, Some("/etc")),
        ),
    ];
    for (what, bytes) in cases {
        let env = Env::new();
        let server = Canned::start(move |_, _| {
            response(
                "200 OK",
                &[("Content-Disposition", "attachment; filename=\"x.tar.gz\"")],
                bytes.clone(),
            )
        });
        std::fs::create_dir(env.work().join("x")).unwrap();
        let out = env
            .cmd()
            .args(["--server", &server.url, "download", "K", "--extract", "x"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{what}");
        assert!(
            text(&out.stderr).contains("nothing was extracted"),
            "{what}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read_dir(env.work().join("x")).unwrap().count(),
            0,
            "{what}"
        );
        assert!(!env.work().join("escaped").exists(), "{what}");
        assert!(!Path::new("/tmp/fileio-escaped").exists(), "{what}");
    }
}

#[test]
fn extract_never_overwrites_without_force() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    env.write("proj/a.txt", "new");
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "-q",
            "upload",
            "proj",
            "--max-downloads",
            "2",
        ])
        .output()
        .unwrap();
    let link = text(&out.stdout).trim().to_string();
    env.write("x/proj/a.txt", "old");
    env.cmd()
        .args(["--server", &server.url, "download", &link, "--extract", "x"])
        .assert()
        .code(9)
        .stderr(predicates::str::contains(
            "already exists; nothing was extracted",
        ));
    assert_eq!(
        std::fs::read_to_string(env.work().join("x/proj/a.txt")).unwrap(),
        "old"
    );
    assert_eq!(std::fs::read_dir(env.work().join("x")).unwrap().count(), 1);
    env.cmd()
        .args([
            "--server",
            &server.url,
            "download",
            &link,
            "--extract",
            "x",
            "--force",
        ])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(env.work().join("x/proj/a.txt")).unwrap(),
        "new"
    );
}

/// A .tar.gz of a few files, made as `upload DIR` makes it.
fn small_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (name, n) in [("proj/a.bin", 150_000u32), ("proj/deep/b.bin", 90_000)] {
        // Not all alike, so that gzip leaves most of it as it is.
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(n);
        let body: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, &body[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_damaged_archive_is_refused_with_exit_10_and_nothing_is_extracted() {
    use age::secrecy::ExposeSecret;
    use std::io::Write;
    let plain = small_archive();
    let id = age::x25519::Identity::generate();
    let key = id.to_string().expose_secret().to_string();
    let sealed = {
        let to = id.to_public();
        let enc =
            age::Encryptor::with_recipients(std::iter::once(&to as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(&plain).unwrap();
        w.finish().unwrap();
        out
    };
    for (encrypted, good) in [(false, plain), (true, sealed)] {
        let len = good.len();
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x01;
            b
        };
        // The end of a .tar.gz is its CRC and length, which tar never reads: they are checked
        // all the same.
        let cases = [
            ("start", flip(40)),
            ("middle", flip(len / 2)),
            ("end", flip(len - 3)),
            ("truncated", good[..len - 10_000].to_vec()),
        ];
        for (what, bytes) in cases {
            let what = format!("{what}, encrypted: {encrypted}");
            let env = Env::new();
            let server = Canned::start(move |_, _| {
                response(
                    "200 OK",
                    &[("Content-Disposition", "attachment; filename=\"x.tar.gz\"")],
                    bytes.clone(),
                )
            });
            let link = if encrypted {
                format!("{}/K#key={key}&name=proj.tar.gz", server.url)
            } else {
                "K".to_string()
            };
            std::fs::create_dir(env.work().join("x")).unwrap();
            let out = env
                .cmd()
                .args(["--server", &server.url, "download", &link, "--extract", "x"])
                .output()
                .unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(10), "{what}: {err}");
            assert!(err.contains("nothing was extracted"), "{what}: {err}");
            assert!(!err.contains(&key), "{what}: {err}");
            assert!(out.stdout.is_empty(), "{what}");
            assert_eq!(
                std::fs::read_dir(env.work().join("x")).unwrap().count(),
                0,
                "{what}"
            );
        }
    }
}
