//! Folders as archives (issue 14): `fileio upload DIR` streams one .tar.gz that stock tar
//! unpacks as the folder was, links kept as links, special files skipped with a note.

use crate::support::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A folder with nested directories, an empty one, a link inside and one pointing out, and
/// a FIFO (skipped).
fn make_tree(env: &Env) -> std::path::PathBuf {
    let root = env.work().join("proj");
    env.write("proj/a.txt", "alpha");
    env.write(
        "proj/src/deep/b.bin",
        (0..200_000u32).map(|i| i as u8).collect::<Vec<_>>(),
    );
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::os::unix::fs::symlink("src/deep/b.bin", root.join("link-in")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link-out")).unwrap();
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
    make_tree(&env);
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
    make_tree(&env);
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
