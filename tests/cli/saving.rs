//! `fileio download` saving safely, against a real `fileio serve` and servers written here:
//! everything that would make saving fail is refused before a one-time link is spent, a
//! finished download is never thrown away, and nothing that is not a regular file is ever
//! replaced by one.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::*;

const CONTENTS: &str = "the one-time contents\n";

/// A `fileio serve` holding one one-time file, `notes.txt`, and its link.
fn one_time_file(env: &Env) -> (Server, String) {
    let s = Server::start(env, &[]);
    let outbox = env.path("outbox");
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::write(outbox.join("notes.txt"), CONTENTS).unwrap();
    let out = env
        .cmd()
        .args(["--server", &s.url, "-q", "upload"])
        .arg(outbox.join("notes.txt"))
        .assert()
        .success();
    let link = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    (s, link)
}

/// The refused download spent nothing: the one-time file is still there, once.
fn still_downloadable(env: &Env, link: &str) {
    env.cmd()
        .args(["download", link, "-o", "-"])
        .assert()
        .success()
        .stdout(CONTENTS);
    env.cmd()
        .args(["download", link, "-o", "-"])
        .assert()
        .code(4);
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

fn is_symlink(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

// ---- Check before you spend -------------------------------------------------------------

#[test]
fn a_missing_directory_is_refused_before_the_link_is_spent() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    env.cmd()
        .args(["download", &link, "-o", "nowhere/out.txt"])
        .assert()
        .code(9)
        .stdout("")
        .stderr(
            "fileio: error: directory nowhere does not exist\n\
             hint: create it first: mkdir -p nowhere, or give -o another path\n",
        );
    env.write("plain", "x");
    env.cmd()
        .args(["download", &link, "-o", "plain/out.txt"])
        .assert()
        .code(9)
        .stderr("fileio: error: plain is not a directory\n");
    assert_eq!(entries(&env.work()), ["plain"]);
    still_downloadable(&env, &link);
}

/// `/proc` takes no new files, even from root: the part file cannot be created, and that is
/// found out before the GET. (A read-only mount is tested too, as root.)
#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_directory_is_refused_before_the_link_is_spent() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    env.cmd()
        .args(["download", &link, "-o", "/proc/fileio-out.txt"])
        .assert()
        .code(9)
        .stdout("")
        .stderr(predicates::str::starts_with(
            "fileio: error: cannot write in /proc: ",
        ))
        .stderr(predicates::str::ends_with(
            "\nhint: nothing was downloaded: choose a writable place with -o\n",
        ));
    still_downloadable(&env, &link);
}

#[test]
fn a_directory_or_an_existing_file_is_refused_before_the_link_is_spent() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    // The server's name is a directory here: not even --force replaces that.
    std::fs::create_dir(env.work().join("notes.txt")).unwrap();
    env.cmd()
        .args(["download", &link, "--force"])
        .assert()
        .code(9)
        .stderr(
            "fileio: error: notes.txt is a directory\n\
             hint: to save in it under the server's name, end the path with /: -o notes.txt/\n",
        );
    std::fs::remove_dir(env.work().join("notes.txt")).unwrap();
    env.write("notes.txt", "mine");
    env.cmd().args(["download", &link]).assert().code(9).stderr(
        "fileio: error: notes.txt already exists\n\
             hint: use --force to overwrite it, or -o to save elsewhere\n",
    );
    assert_eq!(entries(&env.work()), ["notes.txt"]);
    assert_eq!(
        std::fs::read_to_string(env.work().join("notes.txt")).unwrap(),
        "mine"
    );
    still_downloadable(&env, &link);
}

// ---- Symbolic links ---------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_link_to_nothing_is_refused_even_with_force() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    std::os::unix::fs::symlink("elsewhere.txt", env.work().join("out.txt")).unwrap();
    for force in [false, true] {
        let mut cmd = env.cmd();
        cmd.args(["download", &link, "-o", "out.txt"]);
        if force {
            cmd.arg("--force");
        }
        cmd.assert().code(9).stderr(
            "fileio: error: out.txt is a symbolic link to elsewhere.txt, which does not exist\n\
             hint: remove the link, or give -o another path\n",
        );
    }
    assert!(is_symlink(&env.work().join("out.txt")));
    assert_eq!(
        entries(&env.work()),
        ["out.txt"],
        "nothing created through it"
    );
    still_downloadable(&env, &link);
}

#[cfg(unix)]
#[test]
fn force_through_a_link_replaces_the_file_it_points_to_and_keeps_the_link() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    std::fs::create_dir(env.work().join("real")).unwrap();
    env.write("real/config.txt", "old");
    std::os::unix::fs::symlink("real/config.txt", env.work().join("config.txt")).unwrap();
    env.cmd()
        .args(["download", &link, "-o", "config.txt"])
        .assert()
        .code(9)
        .stderr(
            "fileio: error: config.txt already exists\n\
             hint: use --force to overwrite it, or -o to save elsewhere\n",
        );
    env.cmd()
        .args(["download", &link, "-o", "config.txt", "--force"])
        .assert()
        .success()
        .stdout("config.txt\n");
    let l = env.work().join("config.txt");
    assert!(is_symlink(&l), "the link stays a link");
    assert_eq!(
        std::fs::read_link(&l).unwrap(),
        Path::new("real/config.txt")
    );
    assert_eq!(
        std::fs::read_to_string(env.work().join("real/config.txt")).unwrap(),
        CONTENTS
    );
    assert_eq!(entries(&env.work()), ["config.txt", "real"]);
    assert_eq!(entries(&env.work().join("real")), ["config.txt"]);
}

/// A name the server chose never follows a link, even with --force: a server must not be
/// able to write through a link that happens to be in the download directory.
#[cfg(unix)]
#[test]
fn a_name_the_server_chose_never_follows_a_link() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    std::fs::create_dir(env.path("secret")).unwrap();
    std::fs::write(env.path("secret/keys"), "precious").unwrap();
    std::os::unix::fs::symlink(env.path("secret/keys"), env.work().join("notes.txt")).unwrap();
    env.cmd()
        .args(["download", &link, "--force"])
        .assert()
        .code(9)
        .stderr(
            "fileio: error: notes.txt is a symbolic link; a name the server chose never follows one\n\
             hint: give -o with the path to save to\n",
        );
    assert_eq!(
        std::fs::read_to_string(env.path("secret/keys")).unwrap(),
        "precious"
    );
    assert!(is_symlink(&env.work().join("notes.txt")));
    still_downloadable(&env, &link);
}

// ---- Devices, FIFOs, /dev/stdout ----------------------------------------------------------

#[test]
fn dev_null_is_written_through_not_replaced() {
    let env = Env::new();
    let (s, link) = one_time_file(&env);
    env.cmd()
        .args(["download", &link, "-o", "/dev/null"])
        .assert()
        .success()
        .stdout("/dev/null\n")
        .stderr("");
    // A full delivery: the one-time file is spent.
    env.cmd()
        .args(["download", &link, "-o", "-"])
        .assert()
        .code(4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let m = std::fs::symlink_metadata("/dev/null").unwrap();
        assert!(
            m.file_type().is_char_device(),
            "/dev/null is still a device"
        );
    }
    drop(s);
}

#[cfg(unix)]
#[test]
fn dev_stdout_is_standard_output() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    env.cmd()
        .args(["download", &link, "-o", "/dev/stdout"])
        .assert()
        .success()
        .stdout(CONTENTS)
        .stderr("");
}

/// `/dev/stdout` appends where the shell's `>>` said: our descriptor is written, not the
/// file reopened from its start.
#[cfg(unix)]
#[test]
fn dev_stdout_redirected_to_a_file_keeps_appending() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    let log = env.write("log.txt", "before\n");
    let file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let status = env
        .std_cmd()
        .args(["download", &link, "-o", "/dev/stdout"])
        .stdout(file)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("before\n{CONTENTS}")
    );
}

/// A FIFO gets the bytes as they come, with or without --force, and stays a FIFO; so does a
/// link to a device.
#[cfg(unix)]
#[test]
fn a_fifo_and_a_link_to_a_device_are_written_through() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::new();
    let s = Server::start(&env, &[]);
    let fifo = env.work().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo");
    for force in [false, true] {
        let link = upload_text(&env, &s, CONTENTS);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        let mut cmd = env.cmd();
        cmd.args(["download", &link, "-o", "pipe"]);
        if force {
            cmd.arg("--force");
        }
        cmd.assert().success().stdout("pipe\n");
        assert_eq!(reader.join().unwrap(), CONTENTS);
        let m = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(m.file_type().is_fifo(), "still a FIFO");
    }

    std::os::unix::fs::symlink("/dev/null", env.work().join("sink")).unwrap();
    let link = upload_text(&env, &s, CONTENTS);
    env.cmd()
        .args(["download", &link, "-o", "sink", "--force"])
        .assert()
        .success()
        .stdout("sink\n");
    assert!(
        is_symlink(&env.work().join("sink")),
        "the link stays a link"
    );
    assert_eq!(entries(&env.work()), ["pipe", "sink"], "no part file left");
}

/// Uploads `text` as a one-time file and returns its link.
fn upload_text(env: &Env, s: &Server, text: &str) -> String {
    let out = env
        .cmd()
        .args(["--server", &s.url, "-q", "upload", "-", "--name", "t.txt"])
        .write_stdin(text.to_string())
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string()
}

// ---- A finished download is never thrown away ---------------------------------------------

/// A server that sends the head and the first half of `body`, waits for the test to say go
/// (or 10 s), then sends the rest.
struct Gated {
    url: String,
    go: mpsc::Sender<()>,
}

fn gated_server(name: &'static str, body: &'static str) -> Gated {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (go, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let half = body.len() / 2;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body.as_bytes()[..half]);
            let _ = stream.flush();
            let _ = wait.recv_timeout(Duration::from_secs(10));
            let _ = stream.write_all(&body.as_bytes()[half..]);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = reader.read(&mut [0; 1]);
        }
    });
    Gated { url, go }
}

/// Waits until a part file is in `dir`, and returns it.
fn wait_for_part(dir: &Path) -> PathBuf {
    let started = Instant::now();
    loop {
        if let Some(p) = entries(dir).iter().find(|n| n.ends_with(".fileio-part")) {
            return dir.join(p);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A file that appears at the target while downloading is not overwritten, and the finished
/// download is not thrown away either: the part file stays and the error names it. Each way
/// of saving without clobbering is run: `renameat2(RENAME_NOREPLACE)`, then the ways for file
/// systems without it (a hard link) and without hard links too (an exclusive placeholder).
#[test]
fn a_file_that_appears_while_downloading_is_kept_and_so_is_the_download() {
    for fallback in ["", "link", "placeholder"] {
        let env = Env::new();
        let body = "0123456789abcdefghij";
        let server = gated_server("out.bin", body);
        let child = env
            .std_cmd()
            .env("FILEIO_TEST_SAVE_FALLBACK", fallback)
            .args(["--server", &server.url, "download", "K", "-o", "out.bin"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let part = wait_for_part(&env.work());
        std::fs::write(env.work().join("out.bin"), "someone else's").unwrap();
        server.go.send(()).unwrap();
        let out = child.wait_with_output().unwrap();
        let part_name = part.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(out.status.code(), Some(9), "{fallback}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{fallback}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "fileio: error: cannot save out.bin: it appeared while downloading, and was not overwritten; \
                 the download is kept in ./{part_name}\n\
                 hint: the link may be used up now: keep that file, and rename it to where it belongs\n"
            ),
            "{fallback}"
        );
        assert_eq!(
            std::fs::read_to_string(env.work().join("out.bin")).unwrap(),
            "someone else's",
            "{fallback}"
        );
        assert_eq!(std::fs::read_to_string(&part).unwrap(), body, "{fallback}");
        assert_eq!(entries(&env.work()), [part_name, "out.bin".into()]);
    }
}

/// With --force, a file is replaced, but a link that took its place while downloading is
/// not: the link stays, and so does the download.
#[cfg(unix)]
#[test]
fn force_never_replaces_a_link_that_took_a_files_place() {
    let env = Env::new();
    let body = "0123456789abcdefghij";
    let server = gated_server("out.bin", body);
    env.write("out.bin", "old");
    let child = env
        .std_cmd()
        .args([
            "--server",
            &server.url,
            "download",
            "K",
            "-o",
            "out.bin",
            "--force",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let part = wait_for_part(&env.work());
    std::fs::remove_file(env.work().join("out.bin")).unwrap();
    std::os::unix::fs::symlink("/dev/null", env.work().join("out.bin")).unwrap();
    server.go.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    let part_name = part.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(out.status.code(), Some(9));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "fileio: error: cannot save out.bin: it is no longer a regular file, and was not replaced; \
             the download is kept in ./{part_name}\n\
             hint: the link may be used up now: keep that file, and rename it to where it belongs\n"
        ),
    );
    assert!(is_symlink(&env.work().join("out.bin")));
    assert_eq!(std::fs::read_to_string(&part).unwrap(), body);
}

/// The ways for file systems without `RENAME_NOREPLACE`, and without hard links, save as the
/// first does and leave nothing else behind.
#[test]
fn every_way_of_saving_saves_and_leaves_nothing_else() {
    for fallback in ["", "link", "placeholder"] {
        let env = Env::new();
        let (_s, link) = one_time_file(&env);
        env.cmd()
            .env("FILEIO_TEST_SAVE_FALLBACK", fallback)
            .args(["download", &link])
            .assert()
            .success()
            .stdout("notes.txt\n");
        assert_eq!(
            std::fs::read_to_string(env.work().join("notes.txt")).unwrap(),
            CONTENTS
        );
        assert_eq!(entries(&env.work()), ["notes.txt"], "{fallback}");
    }
}

// ---- As root: real file systems -------------------------------------------------------------

/// Unmounts when dropped.
#[cfg(target_os = "linux")]
struct Mounted(PathBuf);

#[cfg(target_os = "linux")]
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[cfg(target_os = "linux")]
fn run(cmd: &str, args: &[&std::ffi::OsStr]) {
    let status = std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(status.success(), "{cmd} {args:?}");
}

/// A FAT file system, through FUSE (`fusefat`: this kernel may have no vfat), which has no
/// hard links and whose rename takes no flags: saving falls back to the placeholder, and
/// still never clobbers. Needs root to mount: .ci/run runs it (CI is root).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root, mkfs.vfat and fusefat: run by .ci/run"]
fn root_fat_without_links_saves_and_never_clobbers() {
    let env = Env::new();
    let img = env.path("fat.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    run("mkfs.vfat", &[img.as_os_str()]);
    let mnt = env.path("fat");
    std::fs::create_dir(&mnt).unwrap();
    run(
        "fusefat",
        &[
            "-o".as_ref(),
            "rw+".as_ref(),
            img.as_os_str(),
            mnt.as_os_str(),
        ],
    );
    let _guard = Mounted(mnt.clone());
    // The premise: no hard links here.
    std::fs::write(mnt.join("probe"), "x").unwrap();
    assert!(std::fs::hard_link(mnt.join("probe"), mnt.join("probe2")).is_err());
    std::fs::remove_file(mnt.join("probe")).unwrap();

    let (_s, link) = one_time_file(&env);
    let dir = format!("{}/", mnt.display());
    env.cmd()
        .args(["download", &link, "-o", &dir])
        .assert()
        .success()
        .stdout(format!("{dir}notes.txt\n"));
    assert_eq!(
        std::fs::read_to_string(mnt.join("notes.txt")).unwrap(),
        CONTENTS
    );
    assert_eq!(entries(&mnt), ["notes.txt"]);

    // An existing file is refused before the GET, and replaced with --force.
    let (_s2, link) = one_time_file(&env);
    env.cmd()
        .args(["download", &link, "-o", &dir])
        .assert()
        .code(9);
    std::fs::write(mnt.join("notes.txt"), "old").unwrap();
    env.cmd()
        .args(["download", &link, "-o", &dir, "--force"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(mnt.join("notes.txt")).unwrap(),
        CONTENTS
    );

    // A file that appears while downloading is not overwritten; the download is kept.
    let body = "0123456789abcdefghij";
    let server = gated_server("late.bin", body);
    let child = env
        .std_cmd()
        .args(["--server", &server.url, "download", "K", "-o"])
        .arg(mnt.join("late.bin"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let part = wait_for_part(&mnt);
    std::fs::write(mnt.join("late.bin"), "someone else's").unwrap();
    server.go.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(9));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "it appeared while downloading, and was not overwritten; the download is kept in {}",
            part.display()
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(mnt.join("late.bin")).unwrap(),
        "someone else's"
    );
    assert_eq!(std::fs::read_to_string(&part).unwrap(), body);
}

/// A read-only file system refuses the part file, even to root, before the GET.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root to mount: run by .ci/run"]
fn root_read_only_directory_is_refused_before_the_link_is_spent() {
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    let mnt = env.path("ro");
    std::fs::create_dir(&mnt).unwrap();
    run(
        "mount",
        &[
            "-t".as_ref(),
            "tmpfs".as_ref(),
            "-o".as_ref(),
            "ro,size=1m".as_ref(),
            "tmpfs".as_ref(),
            mnt.as_os_str(),
        ],
    );
    let _guard = Mounted(mnt.clone());
    env.cmd()
        .args(["download", &link, "-o"])
        .arg(mnt.join("out.txt"))
        .assert()
        .code(9)
        .stderr(predicates::str::contains("Read-only file system"));
    still_downloadable(&env, &link);
}

/// A character device node is written through, never replaced, even with --force as root.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root for mknod: run by .ci/run"]
fn root_a_device_is_never_replaced_even_with_force() {
    use std::os::unix::fs::FileTypeExt;
    let env = Env::new();
    let (_s, link) = one_time_file(&env);
    let node = env.work().join("null");
    run(
        "mknod",
        &[node.as_os_str(), "c".as_ref(), "1".as_ref(), "3".as_ref()],
    );
    env.cmd()
        .args(["download", &link, "-o", "null", "--force"])
        .assert()
        .success()
        .stdout("null\n");
    let m = std::fs::symlink_metadata(&node).unwrap();
    assert!(m.file_type().is_char_device(), "still a device");
    assert_eq!(entries(&env.work()), ["null"]);
}
