//! `fileio serve migrate`: a populated single-machine server (SQLite and a directory) moved
//! to PostgreSQL (the test run's throwaway cluster) and S3 (moto), then served from there.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::pg_cluster::Cluster;
use crate::server_pg::{KEY, auth, curl, key_of, upload};
use crate::server_s3::{BUCKET, Moto, PREFIX, aws_vars, ours, patterned};
use crate::support::{Env, Server};

/// Every file under `dir`, with its contents. SQLite's `-shm` (an index that every reader
/// updates, rebuilt from the WAL) is left out, and an empty WAL counts as none: a reader's
/// connection may leave either behind, depending on when its process ends, without a byte of
/// the data changing.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                let bytes = std::fs::read(&p).unwrap();
                if rel.ends_with("-shm") || (rel.ends_with("-wal") && bytes.is_empty()) {
                    continue;
                }
                out.insert(rel, bytes);
            }
        }
    }
    out
}

fn migrate(env: &Env, from: &Path, url: &str, moto: &Moto, extra: &[&str]) -> Output {
    env.cmd()
        .envs(aws_vars())
        .env("FILEIO_DATABASE_URL", url)
        .args(["serve", "migrate", "--from"])
        .arg(from)
        .args([
            "--storage",
            &format!("s3://{BUCKET}/{PREFIX}"),
            "--s3-endpoint",
            &moto.endpoint,
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn get(s: &Server, key: &str) -> (u16, Vec<u8>) {
    let r = curl(&[&format!("{}/{key}", s.url)]);
    (r.status, r.body)
}

#[test]
fn a_single_machine_server_moves_to_postgres_and_s3_with_every_file_and_count() {
    let test = "server_migrate::a_single_machine_server_moves_to_postgres_and_s3";
    let Some(cluster) = Cluster::shared(test) else {
        return;
    };
    let Some(moto) = Moto::start() else { return };
    let env = Env::new();
    let old = env.path("old");

    // A server as it runs today, with files in every state worth keeping.
    let s = Server::start_with_data(&env, &old, &["--api-key", KEY]);
    let once = key_of(&upload(
        &s.url,
        &env.write("once.txt", b"one time only"),
        &["-F", "maxDownloads=1"],
    ));
    let thrice = key_of(&upload(
        &s.url,
        &env.write("thrice.txt", b"three times"),
        &["-F", "maxDownloads=3"],
    ));
    assert_eq!(get(&s, &thrice), (200, b"three times".to_vec()));
    let big_file = patterned(&env, "big.bin", (6 << 20) + 12345);
    let big = key_of(&upload(&s.url, &big_file, &[]));
    let anonymous = curl(&[
        "-F",
        &format!("file=@{}", env.write("anon.txt", b"no key").display()),
        &s.url,
    ]);
    assert_eq!(anonymous.status, 200);
    let anonymous = key_of(&anonymous.json());
    let used = get(&s, &once);
    assert_eq!(used, (200, b"one time only".to_vec()));
    let once2 = key_of(&upload(
        &s.url,
        &env.write("once2.txt", b"still unread"),
        &["-F", "maxDownloads=1"],
    ));
    let auth = auth();
    let list_before = curl(&["-H", &auth, &format!("{}/", s.url)]).json();
    let me_before = curl(&["-H", &auth, &format!("{}/me", s.url)]).json();
    let expired = key_of(&upload(&s.url, &env.write("expired.txt", b"old news"), &[]));
    assert!(s.stop().success());
    // Expired while the server was stopped: gone for good, left behind.
    let conn = rusqlite::Connection::open(old.join("fileio.db")).unwrap();
    conn.execute("UPDATE files SET expires = 0 WHERE key = ?1", [&expired])
        .unwrap();
    drop(conn);
    let before = snapshot(&old);

    // A first run; then, as if it had been cut short, only one file's row is in the database
    // (the contents of all are in the bucket, committed before their rows).
    // The cluster trusts local connections: the password is sent nowhere, and must show
    // nowhere either.
    let url = cluster
        .database("migrate")
        .replace("postgres://postgres@", "postgres://postgres:hunter2@");
    let db = url.rsplit('/').next().unwrap().to_string();
    let out = migrate(&env, &old, &url, &moto, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "migrated 4 files (6.0 MiB) from {}; 0 were already there; 1 expired or used up were left behind\n",
            old.display()
        )
    );
    let objects = ours(&moto);
    assert_eq!(objects.len(), 4, "{objects:?}");
    cluster.psql(&db, &format!("DELETE FROM files WHERE key <> '{big}'"));
    // Run again: what is there is skipped, the rest is finished, nothing doubles.
    let out = migrate(&env, &old, &url, &moto, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "migrated 3 files (0 B) from {}; 1 were already there; 1 expired or used up were left behind\n",
            old.display()
        )
    );
    let out = migrate(&env, &old, &url, &moto, &[]);
    assert!(
        text(&out.stdout).starts_with("migrated 0 files (0 B) from"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("; 4 were already there"));
    assert_eq!(ours(&moto).len(), 4);
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM files").trim(), "4");
    // Nothing in the source changed.
    assert_eq!(snapshot(&old), before);
    assert!(!text(&out.stderr).contains("hunter2"));

    // Another server's files make the target one it will not mix into unless told.
    let other = env.path("other");
    let s = Server::start_with_data(&env, &other, &["--api-key", KEY]);
    let theirs = curl(&[
        "-F",
        &format!("file=@{}", env.write("theirs.txt", b"theirs").display()),
        &s.url,
    ]);
    let theirs = key_of(&theirs.json());
    assert!(s.stop().success());
    let out = migrate(&env, &other, &url, &moto, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "fileio: error: the database and the bucket s3://{BUCKET}/{PREFIX} already hold 4 files that are not from {}\n\
             hint: to add this server's files to them, give --merge; to start afresh, give an empty database and an unused bucket prefix\n",
            other.display()
        )
    );
    let out = migrate(&env, &other, &url, &moto, &["--merge"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("migrated 1 files"));

    // Two servers on the target serve every file as before, with every count kept.
    let shared = [
        "--api-key",
        KEY,
        "--database",
        &url,
        "--storage",
        &format!("s3://{BUCKET}/{PREFIX}"),
        "--s3-endpoint",
        &moto.endpoint,
    ];
    let a = Server::start_with_vars(&env, &env.path("a"), &shared, &aws_vars());
    let b = Server::start_with_vars(&env, &env.path("b"), &shared, &aws_vars());
    let list = curl(&["-H", &auth, &format!("{}/", a.url)]).json();
    assert_eq!(list["count"], list_before["count"], "{list}");
    let me = curl(&["-H", &auth, &format!("{}/me", b.url)]).json();
    assert_eq!(
        me["usedStorageBytes"], me_before["usedStorageBytes"],
        "{me}"
    );
    let fields = |v: &serde_json::Value| {
        let mut nodes: Vec<String> = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                format!(
                    "{} {} {} {} {} {} {}",
                    n["key"],
                    n["name"],
                    n["size"],
                    n["downloads"],
                    n["maxDownloads"],
                    n["expires"],
                    n["created"]
                )
            })
            .collect();
        nodes.sort();
        nodes
    };
    assert_eq!(fields(&list), fields(&list_before));
    assert_eq!(get(&a, &big).1, std::fs::read(&big_file).unwrap());
    assert_eq!(get(&b, &anonymous), (200, b"no key".to_vec()));
    assert_eq!(get(&a, &theirs), (200, b"theirs".to_vec()));
    // A one-time link still works exactly once; one spent before stays spent.
    assert_eq!(get(&b, &once2), (200, b"still unread".to_vec()));
    assert_eq!(get(&a, &once2).0, 404);
    assert_eq!(get(&a, &once).0, 404);
    assert_eq!(get(&a, &expired).0, 404);
    // Downloaded once of three before: two more, on either server.
    assert_eq!(get(&a, &thrice), (200, b"three times".to_vec()));
    assert_eq!(get(&b, &thrice), (200, b"three times".to_vec()));
    assert_eq!(get(&a, &thrice).0, 404);
}

#[test]
fn migrate_refuses_a_directory_that_holds_no_server_and_a_missing_target() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["serve", "migrate", "--from"])
        .arg(env.path("nothing"))
        .args(["--database", "postgres://fileio@127.0.0.1:1/fileio"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "fileio: error: {} holds no fileio server: no fileio.db and blobs/ in it\n\
             hint: give --from the --data directory of the server to move (stop that server first)\n",
            env.path("nothing").display()
        )
    );
    let out = env
        .cmd()
        .args(["serve", "migrate", "--from"])
        .arg(env.path("nothing"))
        .env_remove("FILEIO_DATABASE_URL")
        .env_remove("FILEIO_STORAGE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with(
            "fileio: error: nothing to migrate to: give --database, --storage, or both\n"
        ),
        "{}",
        text(&out.stderr)
    );
}
