//! End-to-end encryption (issue 14): age v1 files on the server, the key only in the link's
//! fragment, refusals of anything that does not verify, and interop with stock `age`.

use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use crate::support::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Some bytes that are not all alike, `n` long.
fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
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

fn key_of(link: &str) -> String {
    let frag = link.split_once('#').expect("a fragment").1;
    let key = frag
        .split('&')
        .find_map(|p| p.strip_prefix("key="))
        .expect("a key");
    assert!(key.starts_with("AGE-SECRET-KEY-1"), "{key}");
    key.to_string()
}

/// The one blob `fileio serve` stored.
fn stored_blob(server: &Server) -> Vec<u8> {
    let blobs: Vec<_> = std::fs::read_dir(server.data.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    std::fs::read(&blobs[0]).unwrap()
}

#[test]
fn an_encrypted_upload_round_trips_and_its_key_is_only_in_the_link() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let data = payload(300_000);
    env.write("report.pdf", &data);
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "-v",
            "--json",
            "upload",
            "--encrypt",
        ])
        .args(["report.pdf", "--max-downloads", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = json["link"].as_str().unwrap().to_string();
    let key = key_of(&link);
    assert!(link.ends_with("&name=report.pdf"), "{link}");
    assert_eq!(json["name"], "report.pdf");
    assert_eq!(json["size"], 300_000, "the plaintext size");
    assert_eq!(json["max_downloads"], 2);
    // The key is in `link` and nowhere else: not in another field, not on stderr.
    let mut rest = json.clone();
    rest.as_object_mut().unwrap().remove("link");
    assert!(!rest.to_string().contains(&key));
    assert!(!text(&out.stderr).contains(&key));
    assert!(!text(&out.stderr).contains("report.pdf\""));

    // The host has ciphertext under a neutral name.
    let blob = stored_blob(&server);
    assert!(blob.starts_with(b"age-encryption.org/v1\n"));
    assert!(!blob.windows(1000).any(|w| w == &data[..1000]));

    // The history keeps the whole link.
    let hist = env.cmd().args(["--json", "history"]).output().unwrap();
    assert!(text(&hist.stdout).contains(&link), "{}", text(&hist.stdout));

    // The recipient gets the original name and bytes; the key is never sent or logged.
    std::fs::create_dir(env.work().join("got")).unwrap();
    let dl = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "-v",
            "download",
            &link,
            "-o",
            "got/",
        ])
        .output()
        .unwrap();
    assert!(dl.status.success(), "{}", text(&dl.stderr));
    assert_eq!(text(&dl.stdout), "got/report.pdf\n");
    assert!(std::fs::read(env.work().join("got/report.pdf")).unwrap() == data);
    assert!(!text(&dl.stderr).contains(&key), "{}", text(&dl.stderr));
    assert!(!text(&dl.stderr).contains('#'), "{}", text(&dl.stderr));
    let log = server.log();
    assert!(!log.contains(&key) && !log.contains("AGE-SECRET"), "{log}");
    assert!(
        !log.contains("report.pdf"),
        "the host never sees the name: {log}"
    );
}

#[test]
fn a_download_with_the_key_saves_the_plaintext_under_its_name() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let data = payload(200_000);
    env.write("in/data.bin", &data);
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "--encrypt",
            "in/data.bin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_string();
    std::fs::create_dir(env.work().join("got")).unwrap();
    env.cmd()
        .args(["--server", &server.url, "download", &link, "-o", "got/"])
        .assert()
        .success()
        .stdout("got/data.bin\n");
    assert_eq!(
        std::fs::read(env.work().join("got/data.bin")).unwrap(),
        data
    );
    assert_eq!(entries(&env.work().join("got")), ["data.bin"]);
}

#[test]
fn standard_input_encrypts_and_standard_output_decrypts() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let data = payload(150_001);
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "-q",
            "upload",
            "--encrypt",
            "-",
            "--name",
            "dump.sql",
        ])
        .write_stdin(data.clone())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_string();
    assert!(link.ends_with("&name=dump.sql"), "{link}");
    let got = env
        .cmd()
        .args(["--server", &server.url, "download", &link, "-o", "-"])
        .output()
        .unwrap();
    assert!(got.status.success(), "{}", text(&got.stderr));
    assert!(got.stdout == data);
}

#[test]
fn to_a_public_key_leaves_no_secret_in_the_link_and_decrypts_with_identity() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let id = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    env.write(
        "key.txt",
        format!("# mine\n{}\n", id.to_string().expose_secret()),
    );
    env.write(
        "other.txt",
        format!("{}\n", other.to_string().expose_secret()),
    );
    env.write("recipients.txt", format!("# team\n{}\n\n", id.to_public()));
    let data = payload(70_000);
    env.write("notes.txt", &data);
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "--to-file",
            "recipients.txt",
            "notes.txt",
            "--max-downloads",
            "5",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_string();
    assert!(link.ends_with("#name=notes.txt"), "{link}");
    assert!(stored_blob(&server).starts_with(b"age-encryption.org/v1\n"));

    // Without an identity: a clear refusal, nothing saved; into a directory the server's
    // name (file.age) tells before the GET, and the download is not spent.
    std::fs::create_dir(env.work().join("out")).unwrap();
    for out in ["out/", "out/notes.txt"] {
        env.cmd()
            .args(["--server", &server.url, "download", &link, "-o", out])
            .assert()
            .code(2)
            .stderr(predicates::str::contains("the file is encrypted (age)"))
            .stderr(predicates::str::contains("--identity FILE"));
    }
    // The wrong identity: exit 10, nothing saved.
    env.cmd()
        .args([
            "--server",
            &server.url,
            "download",
            &link,
            "-o",
            "out/",
            "-i",
            "other.txt",
        ])
        .assert()
        .code(10)
        .stderr(predicates::str::contains("did not verify"));
    assert!(entries(&env.work().join("out")).is_empty());
    // The right one, from FILEIO_IDENTITY.
    env.cmd()
        .env("FILEIO_IDENTITY", env.work().join("key.txt"))
        .args(["--server", &server.url, "download", &link, "-o", "out/"])
        .assert()
        .success()
        .stdout("out/notes.txt\n");
    assert_eq!(
        std::fs::read(env.work().join("out/notes.txt")).unwrap(),
        data
    );
}

#[test]
fn a_bad_recipient_is_a_usage_error_before_anything_is_sent() {
    let env = Env::new();
    env.write("a.txt", "a");
    env.cmd()
        .args([
            "--server",
            "http://127.0.0.1:9",
            "upload",
            "--to",
            "age1nope",
            "a.txt",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not an age recipient"));
}

#[test]
fn the_config_can_make_encryption_the_default_and_no_encrypt_overrides_it() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let p = env.path("config/fileio/config.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, "encrypt = true\n").unwrap();
    env.write("a.txt", "hello");
    let enc = env
        .cmd()
        .args(["--server", &server.url, "upload", "a.txt"])
        .output()
        .unwrap();
    assert!(text(&enc.stdout).contains("#key=AGE-SECRET-KEY-1"));
    let plain = env
        .cmd()
        .args(["--server", &server.url, "upload", "--no-encrypt", "a.txt"])
        .output()
        .unwrap();
    assert!(plain.status.success());
    assert!(
        !text(&plain.stdout).contains('#'),
        "{}",
        text(&plain.stdout)
    );
}

/// A server that hands out `bytes` as `file.age`.
fn age_server(bytes: Vec<u8>) -> Canned {
    Canned::start(move |_, _| {
        response(
            "200 OK",
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", "attachment; filename=\"file.age\""),
            ],
            bytes.clone(),
        )
    })
}

/// `data` encrypted to `to`, as the library makes it.
fn encrypt_to(to: &age::x25519::Recipient, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let enc = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap();
    out
}

#[test]
fn tampered_truncated_or_foreign_files_are_refused_and_nothing_is_saved() {
    let id = age::x25519::Identity::generate();
    let key = id.to_string().expose_secret().to_string();
    let data = payload(3 * 65536 + 1000);
    let good = encrypt_to(&id.to_public(), &data);
    let len = good.len();
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x01;
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("start", flip(30)),
        ("middle", flip(len / 2)),
        ("end", flip(len - 3)),
        ("truncated", good[..len - 20_000].to_vec()),
        ("cut at a chunk", good[..len - 1000 - 16].to_vec()),
        (
            "foreign",
            encrypt_to(&age::x25519::Identity::generate().to_public(), &data),
        ),
    ];
    for (what, bytes) in cases {
        let env = Env::new();
        let server = age_server(bytes);
        let link = format!("{}/AbC#key={key}&name=x.bin", server.url);
        let out = download_into_out(&env, &server.url, &link);
        assert_eq!(out.status.code(), Some(10), "{what}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("did not verify"), "{what}: {err}");
        assert!(err.contains("nothing was saved"), "{what}: {err}");
        assert!(err.contains("download is spent"), "{what}: {err}");
        assert!(!err.contains(&key), "{what}: {err}");
        assert!(entries(&env.work().join("out")).is_empty(), "{what}");
        assert!(out.stdout.is_empty(), "{what}");

        // To standard output: whatever verified went out, then an error and exit 10.
        let piped = env
            .cmd()
            .args(["--server", &server.url, "download", &link, "-o", "-"])
            .output()
            .unwrap();
        assert_eq!(piped.status.code(), Some(10), "{what}");
        assert!(
            text(&piped.stderr).contains("the output is incomplete"),
            "{what}"
        );
        assert!(piped.stdout.len() < data.len(), "{what}");
    }
}

/// `fileio download LINK -o out/` from `server`, into a fresh `out` directory.
fn download_into_out(env: &Env, server: &str, link: &str) -> std::process::Output {
    std::fs::create_dir(env.work().join("out")).unwrap();
    env.cmd()
        .args(["--server", server, "download", link, "-o", "out/"])
        .output()
        .unwrap()
}

#[test]
fn an_age_header_that_never_ends_is_refused_after_64_kib() {
    // Well-formed stanzas, 4 MiB of them and no end of the header: age would parse them all
    // again line by line, holding them in memory.
    let mut bytes = b"age-encryption.org/v1\n".to_vec();
    let stanza = format!("-> X25519 {}\n{}\n", "A".repeat(43), "A".repeat(43));
    while bytes.len() < 4 << 20 {
        bytes.extend_from_slice(stanza.as_bytes());
    }
    let server = age_server(bytes);
    let id = age::x25519::Identity::generate();
    let key = id.to_string().expose_secret().to_string();
    let link = format!("{}/AbC#key={key}&name=x.bin", server.url);
    let env = Env::new();
    let out = download_into_out(&env, &server.url, &link);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{err}");
    assert!(err.contains("its header is longer than 64 KiB"), "{err}");
    assert!(err.contains("nothing was saved"), "{err}");
    assert!(entries(&env.work().join("out")).is_empty());
}

#[test]
fn a_link_with_a_key_refuses_a_file_that_is_not_encrypted() {
    let env = Env::new();
    let server = age_server(b"plain text, not age".to_vec());
    let id = age::x25519::Identity::generate();
    let link = format!("{}/AbC#key={}", server.url, id.to_string().expose_secret());
    env.cmd()
        .args(["--server", &server.url, "download", &link])
        .assert()
        .code(10)
        .stderr(predicates::str::contains("not an age-encrypted file"));
    assert!(entries(&env.work()).is_empty());
}

#[test]
fn stock_age_decrypts_what_fileio_stored_and_fileio_what_stock_age_made() {
    let test = "stock_age_decrypts_what_fileio_stored_and_fileio_what_stock_age_made";
    if !have_tool("age", test) || !have_tool("age-keygen", test) || !have_tool("bash", test) {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let data = payload(100_000);
    env.write("a.bin", &data);

    // --encrypt: the key from the link's fragment opens the stored object (the README recipe).
    let out = env
        .cmd()
        .args(["--server", &server.url, "upload", "--encrypt", "a.bin"])
        .output()
        .unwrap();
    let link = text(&out.stdout).trim().to_string();
    let blob = stored_blob(&server);
    std::fs::write(env.work().join("blob.age"), &blob).unwrap();
    let recipe = format!(
        "LINK='{link}'; KEY=$(printf %s \"$LINK\" | sed 's/.*key=\\([^&]*\\).*/\\1/'); age -d -i <(printf '%s\\n' \"$KEY\") blob.age"
    );
    let plain = std::process::Command::new("bash")
        .args(["-c", &recipe])
        .current_dir(env.work())
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(plain.stdout == data);

    // --to age1…: stock `age -d -i key.txt`.
    let keygen = std::process::Command::new("age-keygen")
        .args(["-o", "key.txt"])
        .current_dir(env.work())
        .output()
        .unwrap();
    assert!(keygen.status.success());
    let id = age::x25519::Identity::from_str(
        std::fs::read_to_string(env.work().join("key.txt"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap(),
    )
    .unwrap();
    let public = id.to_public().to_string();
    let server2 = Server::start_with_data(&env, &env.path("data2"), &[]);
    env.cmd()
        .args(["--server", &server2.url, "upload", "--to", &public, "a.bin"])
        .assert()
        .success();
    std::fs::write(env.work().join("blob2.age"), stored_blob(&server2)).unwrap();
    let plain = std::process::Command::new("age")
        .args(["-d", "-i", "key.txt", "blob2.age"])
        .current_dir(env.work())
        .output()
        .unwrap();
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(plain.stdout == data);

    // A file stock `age -r` made, uploaded by hand, comes back decrypted with --identity.
    let made = std::process::Command::new("age")
        .args(["-r", &public, "-o", "hand.tar.age", "a.bin"])
        .current_dir(env.work())
        .status()
        .unwrap();
    assert!(made.success());
    let up = env
        .cmd()
        .args(["--server", &server.url, "upload", "hand.tar.age"])
        .output()
        .unwrap();
    let link = text(&up.stdout).trim().to_string();
    std::fs::create_dir(env.work().join("got")).unwrap();
    env.cmd()
        .args([
            "--server",
            &server.url,
            "download",
            &link,
            "-i",
            "key.txt",
            "-o",
            "got/",
        ])
        .assert()
        .success()
        .stdout("got/hand.tar\n");
    assert_eq!(
        std::fs::read(env.work().join("got/hand.tar")).unwrap(),
        data
    );
}

#[test]
fn ssh_recipients_work_as_age_takes_them() {
    if !have_tool("ssh-keygen", "ssh_recipients_work_as_age_takes_them") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", "id"])
        .current_dir(env.work())
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(env.work().join("id.pub")).unwrap();
    env.write("s.txt", "ssh secret");
    let out = env
        .cmd()
        .args([
            "--server",
            &server.url,
            "upload",
            "--to",
            public.trim(),
            "s.txt",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = text(&out.stdout).trim().to_string();
    std::fs::create_dir(env.work().join("got")).unwrap();
    env.cmd()
        .args([
            "--server",
            &server.url,
            "download",
            &link,
            "-i",
            "id",
            "-o",
            "got/",
        ])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(env.work().join("got/s.txt")).unwrap(),
        "ssh secret"
    );
}

#[test]
fn a_keyless_download_of_a_to_upload_is_refused_before_it_spends_the_link() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let id = age::x25519::Identity::generate();
    env.write("key.txt", format!("{}\n", id.to_string().expose_secret()));
    let data = payload(10_000);
    env.write("notes.txt", &data);
    let out = env
        .cmd()
        .args(["--server", &server.url, "upload", "notes.txt"])
        .args(["--to", &id.to_public().to_string(), "--max-downloads", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The link without its fragment, as a recipient might be handed it.
    let link = text(&out.stdout).trim().to_string();
    let bare = link.split_once('#').unwrap().0.to_string();
    std::fs::create_dir(env.work().join("out")).unwrap();
    for dest in [
        &["-o", "out/notes.txt"][..],
        &["-o", "-"],
        &["--extract", "out"],
    ] {
        let out = env
            .cmd()
            .args(["--server", &server.url, "download", &bare])
            .args(dest)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{dest:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("the file is encrypted (age)"),
            "{dest:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{dest:?}");
        assert!(entries(&env.work().join("out")).is_empty(), "{dest:?}");
    }
    // The one download was not spent: with the identity it comes through.
    env.cmd()
        .args(["--server", &server.url, "download", &bare, "-i", "key.txt"])
        .args(["-o", "out/notes.txt"])
        .assert()
        .success()
        .stdout("out/notes.txt\n");
    assert_eq!(
        std::fs::read(env.work().join("out/notes.txt")).unwrap(),
        data
    );
}

#[test]
fn jobs_expires_max_downloads_and_name_behave_as_without_encryption() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let id = age::x25519::Identity::generate();
    env.write("key.txt", format!("{}\n", id.to_string().expose_secret()));
    let sizes = [70_000usize, 1, 200_000];
    for (i, n) in sizes.iter().enumerate() {
        env.write(&format!("f{i}.bin"), payload(*n));
    }
    let to = id.to_public().to_string();
    for how in [vec!["--encrypt"], vec!["--to", to.as_str()]] {
        // Three files at once, two at a time, each allowing two downloads for a day.
        let out = env
            .cmd()
            .args(["--server", &server.url, "--json", "upload"])
            .args(&how)
            .args(["f0.bin", "f1.bin", "f2.bin", "--jobs", "2"])
            .args(["--expires", "1d", "--max-downloads", "2"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{how:?}: {}", text(&out.stderr));
        let lines: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{how:?}");
        for v in &lines {
            let i: usize = v["file"].as_str().unwrap()[1..2].parse().unwrap();
            assert_eq!(v["name"], format!("f{i}.bin"), "{how:?}");
            assert_eq!(v["size"], sizes[i], "{how:?}: the plaintext size");
            assert_eq!(v["max_downloads"], 2, "{how:?}");
            let expires = chrono::DateTime::parse_from_rfc3339(v["expires"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            let left = expires - chrono::Utc::now();
            assert!(
                left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
                "{how:?}: {left}"
            );
            // Two downloads, and the third finds the file gone, as without encryption.
            let link = v["link"].as_str().unwrap();
            for _ in 0..2 {
                env.cmd()
                    .args(["--server", &server.url, "download", link, "-i", "key.txt"])
                    .args(["-o", "-"])
                    .assert()
                    .success()
                    .stdout(predicates::ord::eq(payload(sizes[i])));
            }
            env.cmd()
                .args(["--server", &server.url, "download", link, "-i", "key.txt"])
                .args(["-o", "-"])
                .assert()
                .code(4);
        }
        // --name: the recipient gets that name; the host still sees only file.age.
        let out = env
            .cmd()
            .args(["--server", &server.url, "--json", "upload"])
            .args(&how)
            .args(["f0.bin", "--name", "report 2026.bin"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{how:?}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["name"], "report 2026.bin", "{how:?}");
        let link = v["link"].as_str().unwrap();
        let dir = env.work().join(format!("got{}", how.len()));
        std::fs::create_dir(&dir).unwrap();
        env.cmd()
            .args(["--server", &server.url, "download", link, "-i", "key.txt"])
            .arg("-o")
            .arg(format!("{}/", dir.display()))
            .assert()
            .success();
        assert_eq!(
            std::fs::read(dir.join("report 2026.bin")).unwrap(),
            payload(sizes[0])
        );
        assert!(!server.log().contains("report 2026"), "{how:?}");
    }
}

/// Where a command's output may carry an encrypted link's key: only inside the whole link,
/// and in JSON only in a `link` field. Everything else (stderr with `-v`, other fields,
/// other columns) must not have it.
fn assert_no_secret(what: &str, out: &std::process::Output, links: &[&str]) {
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains("AGE-SECRET-KEY"),
        "{what}: a key on stderr:\n{stderr}"
    );
    let stdout = text(&out.stdout);
    let mut rest = links
        .iter()
        .fold(stdout.clone(), |rest, link| rest.replace(link, ""));
    if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(stdout.trim()) {
        fn drop_links(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    m.remove("link");
                    m.values_mut().for_each(drop_links);
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(drop_links),
                _ => {}
            }
        }
        drop_links(&mut v);
        rest = v.to_string();
    }
    assert!(
        !rest.contains("AGE-SECRET-KEY"),
        "{what}: a key outside its link:\n{stdout}"
    );
    for link in links {
        let key = key_of(link);
        assert!(!stderr.contains(&key) && !rest.contains(&key), "{what}");
    }
}

#[test]
fn no_command_shows_the_key_outside_the_link_and_the_server_never_logs_it() {
    const API: &str = "KEYONE1.AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD";
    let env = Env::new();
    let server = Server::start(&env, &["--api-key", API]);
    env.write("plans.txt", "the plans");
    let run = |args: &[&str]| {
        env.cmd()
            .env("FILEIO_API_KEY", API)
            .args(["--server", &server.url, "-v"])
            .args(args)
            .output()
            .unwrap()
    };
    let ok = |what: &str, out: &std::process::Output| {
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
    };

    let up = run(&["upload", "--encrypt", "plans.txt", "--max-downloads", "5"]);
    ok("upload", &up);
    let link = text(&up.stdout).trim().to_string();
    let key = key_of(&link);
    let file_key = link
        .split_once('#')
        .unwrap()
        .0
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_no_secret("upload", &up, &[&link]);
    let up_json = run(&["--json", "upload", "--encrypt", "plans.txt"]);
    ok("upload --json", &up_json);
    let other: serde_json::Value = serde_json::from_slice(&up_json.stdout).unwrap();
    let other_link = other["link"].as_str().unwrap().to_string();
    assert_no_secret("upload --json", &up_json, &[&other_link]);
    assert!(!text(&up_json.stdout).contains(&key));
    let links = [link.as_str(), other_link.as_str()];

    // Every command that can show the upload, in text and JSON, by key and by whole link.
    let commands: Vec<Vec<&str>> = vec![
        vec!["history"],
        vec!["--json", "history"],
        vec!["list"],
        vec!["--json", "list"],
        vec!["info", &file_key],
        vec!["info", &link],
        vec!["--json", "info", &link],
        vec!["me"],
        vec!["--json", "me"],
        vec!["update", &file_key, "--max-downloads", "4"],
        vec!["--json", "update", &link, "--expires", "2d"],
        vec!["download", &link, "-o", "-"],
    ];
    for args in &commands {
        let out = run(args);
        ok(&format!("{args:?}"), &out);
        assert_no_secret(&format!("{args:?}"), &out, &links);
    }
    // The host has only a neutral name and the ciphertext's size; info and list show what
    // the history knows: the name and size the recipient gets.
    let info = run(&["--json", "info", &file_key]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!((&v["name"], &v["size"]), (&"plans.txt".into(), &9.into()));
    let listed = run(&["--json", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == file_key.as_str())
        .unwrap();
    assert_eq!(
        (&row["name"], &row["size"]),
        (&"plans.txt".into(), &9.into())
    );
    // Without the history, the host's view.
    let info = run(&["--no-history", "--json", "info", &file_key]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_ne!(v["name"], "plans.txt");
    assert!(v["size"].as_u64().unwrap() > 9);
    // The history still has the whole link after the updates: it is the only copy the
    // uploader has.
    let hist = run(&["--json", "history"]);
    assert!(text(&hist.stdout).contains(&link), "{}", text(&hist.stdout));
    let hist = run(&["history"]);
    assert!(text(&hist.stdout).contains(&link), "{}", text(&hist.stdout));

    let del = run(&["delete", &file_key]);
    ok("delete", &del);
    assert_no_secret("delete", &del, &links);
    // And when they fail: the file is gone now.
    for args in [
        vec!["info", link.as_str()],
        vec!["update", link.as_str(), "--max-downloads", "2"],
        vec!["delete", link.as_str()],
        vec!["download", link.as_str(), "-o", "-"],
        vec!["--json", "delete", link.as_str()],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert_no_secret(&format!("{args:?}"), &out, &links);
        // Nothing printed on a failure is the link: not even inside one.
        assert!(!text(&out.stdout).contains(&key), "{args:?}");
        assert!(
            !text(&out.stderr).contains('#'),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // A link that does not parse is quoted without its fragment.
    let bad = format!("http://exa mple/{file_key}#key={key}");
    for cmd in ["info", "delete", "download"] {
        let out = run(&[cmd, &bad]);
        assert!(!out.status.success(), "{cmd}");
        assert_no_secret(&format!("{cmd} (bad link)"), &out, &links);
    }

    let log = server.log();
    assert!(log.contains(&file_key), "the log has the requests: {log}");
    assert!(!log.contains(&key) && !log.contains("AGE-SECRET"), "{log}");
    assert!(!log.contains("plans.txt"), "{log}");
}
