//! `fileio serve --database` on a real PostgreSQL (the test run's throwaway cluster, one fresh
//! database per test): the important process-level tests of server.rs again, failures of the
//! database at start and while serving, and two instances behind a real nginx configured by
//! the file README.md shows: sharing a data directory, and sharing a bucket (moto), where an
//! instance killed mid-upload leaves nothing once the other's sweep has run.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::pg_cluster::Cluster;
use crate::server_s3::{BUCKET, Moto, PREFIX, aws_vars, eventually, ours, slow_upload};
use crate::support::{Env, Server};

pub(crate) const KEY: &str = "PGKEY01.aaaaaaa-bbbbbbb-ccccccc-ddddddd";

/// Runs tests of server.rs with `--database` on a fresh database.
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let test = concat!("server_pg::", stringify!($name));
                let Some(cluster) = Cluster::shared(test) else {
                    return;
                };
                let url = cluster.database(stringify!($name));
                crate::server::BACKEND_ARGS.with(|b| {
                    *b.borrow_mut() = vec!["--database".to_string(), url];
                });
                crate::server::$name();
            }
        )*
    };
}

on_postgres!(
    upload_answers_v2_file_details_in_order,
    twenty_racing_downloads_get_exactly_one_file,
    an_interrupted_download_gives_its_download_back,
    the_sweeper_deletes_expired_blobs,
    files_survive_a_restart,
    max_storage_is_per_key,
    me_reports_real_usage_and_limits,
    an_upload_cut_off_midway_leaves_nothing,
    chunked_upload_without_content_length,
);

/// An HTTP answer from curl.
pub(crate) struct Resp {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Runs curl; the status, the headers and the body.
pub(crate) fn curl(args: &[&str]) -> Resp {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head");
    let out = StdCommand::new("curl")
        .args(["-sS", "-H", "Expect:", "--noproxy", "*", "-D"])
        .arg(&head)
        .args(["-w", "%{http_code}", "-o"])
        .arg(dir.path().join("body"))
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Resp {
        status: String::from_utf8_lossy(&out.stdout).parse().unwrap(),
        headers: std::fs::read_to_string(head).unwrap_or_default(),
        body: std::fs::read(dir.path().join("body")).unwrap_or_default(),
    }
}

pub(crate) fn auth() -> String {
    format!("Authorization: Bearer {KEY}")
}

pub(crate) fn upload(base: &str, path: &Path, extra: &[&str]) -> Value {
    let file = format!("file=@{}", path.display());
    let auth = auth();
    let mut args = vec!["-F", &file, "-H", &auth];
    args.extend(extra);
    args.push(base);
    let r = curl(&args);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub(crate) fn key_of(v: &Value) -> String {
    v["key"].as_str().unwrap().to_string()
}

/// One instance on `url`'s database and the shared `data` directory.
fn instance(env: &Env, data: &Path, url: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--api-key", KEY, "--database", url];
    args.extend(extra);
    Server::start_with_data(env, data, &args)
}

#[test]
fn an_unreachable_database_at_start_is_one_line_naming_it_without_its_password() {
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:hunter2secret@127.0.0.1:{port}/files");
    let out = env
        .cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(env.path("data"))
        .env("FILEIO_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "fileio: error: cannot connect to the database postgres://app@127.0.0.1:{port}/files: error connecting to server: Connection refused (os error 111)"
        ),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("hint: check that PostgreSQL is running"),
        "{stderr}"
    );
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(!stderr.contains("hunter2secret"));
    // A URL that is not one: a usage error, the password not echoed either.
    let out = env
        .cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(env.path("data"))
        .env(
            "FILEIO_DATABASE_URL",
            "postgres://app:hunter2secret@host:port/x",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("fileio: error: invalid database URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2secret"));
    // The variable's value never shows in --help.
    let out = env
        .cmd()
        .args(["serve", "--help"])
        .env("FILEIO_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8(out.stdout)
            .unwrap()
            .contains("hunter2secret")
    );
}

/// A peer that accepts connections and never answers (a hung or hostile database): the
/// start gives up after the URL's connect_timeout, saying so.
#[test]
fn a_silent_database_at_start_is_given_up_on_in_time() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut held = vec![];
        for c in silent.incoming().take(1) {
            held.push(c);
            std::thread::sleep(Duration::from_secs(5));
        }
    });
    let env = Env::new();
    let started = Instant::now();
    let out = env
        .cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(env.path("data"))
        .env(
            "FILEIO_DATABASE_URL",
            format!("postgres://app:pw@127.0.0.1:{port}/files?connect_timeout=1"),
        )
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!(
            "fileio: error: cannot connect to the database postgres://app@127.0.0.1:{port}/files: no answer within 1 s"
        )
    );
    drop(held);
}

#[test]
fn a_database_gone_while_serving_is_503_with_retry_after_and_the_server_recovers() {
    // Its own cluster: this test stops it.
    let Some(cluster) = Cluster::start("server_pg::a_database_gone_while_serving") else {
        return;
    };
    let env = Env::new();
    // The cluster trusts local connections, so the password is sent nowhere; it must show
    // nowhere either.
    let url = cluster
        .database("gone")
        .replace("postgres://postgres@", "postgres://postgres:hunter2@");
    let s = instance(&env, &env.path("data"), &url, &[]);
    let f = env.write("a.txt", b"survives");
    let key = key_of(&upload(&s.url, &f, &["-F", "maxDownloads=2"]));
    cluster.down();
    let auth = auth();
    for r in [
        curl(&[&format!("{}/{key}", s.url)]),
        curl(&["-H", &auth, &format!("{}/", s.url)]),
        curl(&["-H", &auth, "-F", &format!("file=@{}", f.display()), &s.url]),
    ] {
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            r.headers.to_ascii_lowercase().contains("retry-after: 5"),
            "{}",
            r.headers
        );
        let v = r.json();
        assert_eq!(v["success"], false);
        assert_eq!(v["status"], 503);
        assert!(v["message"].as_str().unwrap().contains("database"), "{v}");
    }
    cluster.up().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r = curl(&[&format!("{}/{key}", s.url)]);
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).as_ref()),
        (200, "survives"),
        "{}",
        s.log()
    );
    assert_eq!(curl(&[&format!("{}/{key}", s.url)]).status, 200);
    assert_eq!(curl(&[&format!("{}/{key}", s.url)]).status, 404);
    assert!(!s.log().contains("hunter2"), "{}", s.log());
}

/// A running nginx, from the README's configuration with the test's ports.
struct Nginx {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx file of README.md's "Running several instances".
fn readme_nginx_conf() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme
        .find("### Running several instances")
        .expect("README has the section")..];
    let start = section.find("```nginx\n").expect("an nginx block") + "```nginx\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

fn nginx_bin() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_nginx(test: &str, a: &Server, b: &Server) -> Option<Nginx> {
    let Some(bin) = nginx_bin() else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{test}: CI=true and nginx is not installed (Debian package nginx-light)");
        }
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped: nginx is not installed (Debian package nginx-light)"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = |s: &Server| s.url.strip_prefix("http://").unwrap().to_string();
    let site = readme_nginx_conf()
        .replace("127.0.0.1:8081", &addr(a))
        .replace("127.0.0.1:8082", &addr(b))
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    assert!(site.contains(&addr(a)) && site.contains(&addr(b)));
    let d = dir.path().display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let child = StdCommand::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Nginx {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    })
}

/// Two instances on one database and one data directory, and nginx in front.
struct Pair {
    env: Env,
    a: Server,
    b: Server,
    nginx: Nginx,
    url: String,
}

fn pair(test: &str, extra: &[&str]) -> Option<Pair> {
    let cluster = Cluster::shared(test)?;
    let env = Env::new();
    let url = cluster.database(test.rsplit(':').next().unwrap());
    let data = env.path("shared");
    let a = instance(&env, &data, &url, extra);
    let b = instance(&env, &data, &url, extra);
    let nginx = start_nginx(test, &a, &b)?;
    Some(Pair {
        env,
        a,
        b,
        nginx,
        url,
    })
}

/// Two instances on one database and one bucket (moto), and nginx in front; the moto
/// lives as long as the pair.
fn pair_on_s3(test: &str, extra: &[&str]) -> Option<(Pair, Moto)> {
    let cluster = Cluster::shared(test)?;
    let moto = Moto::start()?;
    let env = Env::new();
    let url = cluster.database(test.rsplit(':').next().unwrap());
    let storage = format!("s3://{BUCKET}/{PREFIX}");
    let mut args = vec![
        "--api-key",
        KEY,
        "--database",
        &url,
        "--storage",
        &storage,
        "--s3-endpoint",
        &moto.endpoint,
    ];
    args.extend(extra);
    // Each its own --data: nothing is shared but the database and the bucket.
    let a = Server::start_with_vars(&env, &env.path("a"), &args, &aws_vars());
    let b = Server::start_with_vars(&env, &env.path("b"), &args, &aws_vars());
    let nginx = start_nginx(test, &a, &b)?;
    Some((
        Pair {
            env,
            a,
            b,
            nginx,
            url,
        },
        moto,
    ))
}

/// Requests served by an instance (its access log lines for GET /key).
fn gets_in(s: &Server, key: &str) -> usize {
    s.log().matches(&format!(" GET /{key} ")).count()
}

#[test]
fn two_instances_behind_nginx_are_one_server() {
    let Some(p) = pair("server_pg::two_instances_behind_nginx_are_one_server", &[]) else {
        return;
    };
    one_server(&p);
}

#[test]
fn two_instances_on_postgres_and_s3_behind_nginx_are_one_server() {
    let test = "server_pg::two_instances_on_postgres_and_s3_behind_nginx_are_one_server";
    let Some((p, moto)) = pair_on_s3(test, &[]) else {
        return;
    };
    one_server(&p);
    // Every file was deleted or downloaded as often as allowed: no object is left.
    eventually("every object is deleted", || ours(&moto).is_empty());
    assert!(moto.pending().is_empty());
}

/// list, me, update, delete, upload and download through both instances and nginx.
fn one_server(p: &Pair) {
    let auth = auth();
    let f = p.env.write("a.txt", b"from A");
    // An upload on A downloads from B.
    let key = key_of(&upload(&p.a.url, &f, &["-F", "maxDownloads=2"]));
    let r = curl(&[&format!("{}/{key}", p.b.url)]);
    assert_eq!((r.status, &r.body[..]), (200, &b"from A"[..]));
    // list, me, update and delete see the same state on both.
    for s in [&p.a, &p.b] {
        let l = curl(&["-H", &auth, &format!("{}/", s.url)]).json();
        assert_eq!(
            (l["count"].as_u64(), l["nodes"][0]["downloads"].as_u64()),
            (Some(1), Some(1))
        );
        let me = curl(&["-H", &auth, &format!("{}/me", s.url)]).json();
        assert_eq!(me["usedStorageBytes"], 6, "{me}");
    }
    let r = curl(&[
        "-X",
        "PATCH",
        "-H",
        &auth,
        "-d",
        "maxDownloads=5",
        &format!("{}/{key}", p.a.url),
    ]);
    assert_eq!(r.status, 200);
    let l = curl(&["-H", &auth, &format!("{}/", p.b.url)]).json();
    assert_eq!(l["nodes"][0]["maxDownloads"], 5);
    let r = curl(&["-X", "DELETE", "-H", &auth, &format!("{}/{key}", p.b.url)]);
    assert_eq!(r.status, 200);
    assert_eq!(curl(&[&format!("{}/{key}", p.a.url)]).status, 404);
    assert_eq!(
        curl(&["-H", &auth, &format!("{}/", p.a.url)]).json()["count"],
        0
    );
    // Through nginx: uploads and downloads reach both instances.
    let mut keys = vec![];
    for _ in 0..6 {
        keys.push(key_of(&upload(&p.nginx.url, &f, &[])));
    }
    for k in &keys {
        let r = curl(&[&format!("{}/{k}", p.nginx.url)]);
        assert_eq!((r.status, &r.body[..]), (200, &b"from A"[..]));
    }
    // Each instance writes its access log line after the answer: wait for all six.
    let count = |s: &Server| -> usize { keys.iter().map(|k| gets_in(s, k)).sum() };
    eventually("both logs show the six downloads", || {
        count(&p.a) + count(&p.b) == 6
    });
    let (on_a, on_b) = (count(&p.a), count(&p.b));
    assert!(
        on_a > 0 && on_b > 0,
        "nginx used one instance only: {on_a} {on_b}"
    );
    assert!(!p.url.is_empty());
}

/// 20 downloads at once through nginx, spread over both instances: exactly N succeed.
#[test]
fn a_twenty_way_race_through_nginx_gives_exactly_n_downloads() {
    let Some(p) = pair("server_pg::a_twenty_way_race_through_nginx", &[]) else {
        return;
    };
    race(&p);
}

#[test]
fn a_twenty_way_race_on_postgres_and_s3_through_nginx_gives_exactly_n_downloads() {
    let test = "server_pg::a_twenty_way_race_on_postgres_and_s3_through_nginx";
    let Some((p, moto)) = pair_on_s3(test, &[]) else {
        return;
    };
    race(&p);
    // Both files used up: their objects are deleted.
    eventually("the used-up objects are deleted", || ours(&moto).is_empty());
}

/// 20 downloads at once through nginx, for N = 1 and N = 3.
fn race(p: &Pair) {
    let f = p.env.write("race.bin", vec![7u8; 300_000]);
    let addr = p.nginx.url.strip_prefix("http://").unwrap().to_string();
    for n in [1usize, 3] {
        let key = key_of(&upload(
            &p.nginx.url,
            &f,
            &["-F", &format!("maxDownloads={n}")],
        ));
        let barrier = std::sync::Barrier::new(20);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        let mut s = TcpStream::connect(&addr).unwrap();
                        s.write_all(
                            format!(
                                "GET /{key} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
                            )
                            .as_bytes(),
                        )
                        .unwrap();
                        let mut out = Vec::new();
                        s.read_to_end(&mut out).unwrap();
                        let status: u16 = String::from_utf8_lossy(&out[..12])
                            .split_whitespace()
                            .nth(1)
                            .unwrap()
                            .parse()
                            .unwrap();
                        if status == 200 {
                            assert!(out.ends_with(&[7u8; 1000]));
                        }
                        status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = statuses.iter().filter(|&&c| c == 200).count();
        let gone = statuses.iter().filter(|&&c| c == 404).count();
        assert_eq!((ok, gone), (n, 20 - n), "{statuses:?}");
        // The access log is written in batches, 50 ms at the latest: wait for all twenty.
        eventually("both logs show the twenty downloads", || {
            gets_in(&p.a, &key) + gets_in(&p.b, &key) == 20
        });
        let (on_a, on_b) = (gets_in(&p.a, &key), gets_in(&p.b, &key));
        assert!(on_a > 0 && on_b > 0, "not split over both: {on_a} {on_b}");
    }
}

/// An instance killed with SIGKILL mid-download: its download counts again once its lease
/// runs out, on the other instance, and the file is then gone after one full download.
#[test]
fn a_killed_instances_download_is_given_back_after_its_lease() {
    let Some(mut p) = pair(
        "server_pg::a_killed_instances_download_is_given_back",
        &["--lease", "2"],
    ) else {
        return;
    };
    killed_download(&mut p);
}

#[test]
fn a_killed_instances_download_on_s3_is_given_back_after_its_lease() {
    let test = "server_pg::a_killed_instances_download_on_s3_is_given_back";
    let Some((mut p, moto)) = pair_on_s3(test, &["--lease", "2"]) else {
        return;
    };
    killed_download(&mut p);
    // Downloaded in full once: its object is deleted.
    eventually("the object is deleted", || ours(&moto).is_empty());
}

/// A killed mid-download; B serves the file once the lease ran out, once only.
fn killed_download(p: &mut Pair) {
    let size = 32 << 20;
    let f = p.env.write("big.bin", vec![42u8; size]);
    let key = key_of(&upload(&p.a.url, &f, &[]));
    let addr = p.a.url.strip_prefix("http://").unwrap().to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .write_all(format!("GET /{key} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = [0u8; 8192];
    stream.read_exact(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200"));
    // Held by A: B refuses.
    assert_eq!(curl(&[&format!("{}/{key}", p.b.url)]).status, 404);
    let killed = Instant::now();
    p.a.child.kill().unwrap();
    p.a.child.wait().unwrap();
    drop(stream);
    let out = p.env.path("got.bin");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = StdCommand::new("curl")
            .args(["-sS", "--noproxy", "*", "-o"])
            .arg(&out)
            .args(["-w", "%{http_code}", &format!("{}/{key}", p.b.url)])
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&r.stdout).into_owned();
        if code == "200" {
            break;
        }
        assert_eq!(code, "404");
        assert!(
            Instant::now() < deadline,
            "the killed download was never given back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Not before the lease could have run out: 2 s from its last renewal, which came at most
    // a third of that before the kill.
    assert!(
        killed.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), size as u64);
    assert_eq!(curl(&[&format!("{}/{key}", p.b.url)]).status, 404);
    assert_eq!(curl(&[&format!("{}/{key}", p.nginx.url)]).status, 404);
}

/// 1,000 expired files and two instances sweeping every second: every blob is deleted,
/// and the two sweeps together report each file once.
#[test]
fn two_sweepers_delete_a_thousand_expired_files_once() {
    let test = "server_pg::two_sweepers_delete_a_thousand_expired_files_once";
    let Some(cluster) = Cluster::shared(test) else {
        return;
    };
    let env = Env::new();
    let url = cluster.database("sweepers");
    let db = url.rsplit('/').next().unwrap().to_string();
    let data = env.path("shared");
    // The first instance creates the schema and the directories, then sweeps with the other.
    let a = instance(&env, &data, &url, &["--sweep-interval", "1"]);
    let b = instance(&env, &data, &url, &["--sweep-interval", "1"]);
    for i in 0..1000 {
        std::fs::write(data.join("blobs").join(format!("k{i:04}-blob")), b"x").unwrap();
    }
    cluster.psql(
        &db,
        "INSERT INTO files (key, blob, owner, name, mime, size, downloads, max_downloads, auto_delete, expires, created, modified)
         SELECT 'k' || lpad(i::text, 4, '0'), 'k' || lpad(i::text, 4, '0') || '-blob', NULL, 'x.txt',
                'text/plain', 1, 0, 1, true, now() - interval '1 minute', now() - interval '1 hour', now()
         FROM generate_series(0, 999) AS i",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(data.join("blobs")).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "the sweepers left blobs");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM files").trim(), "0");
    let deleted = |s: &Server| -> usize {
        s.log()
            .lines()
            .filter_map(|l| l.strip_prefix("fileio serve: deleted "))
            .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
            .sum()
    };
    // Each sweep logs what it deleted just after deleting the blobs; wait for the lines,
    // then a sweep more, in case one reported a file twice.
    while deleted(&a) + deleted(&b) < 1000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(deleted(&a) + deleted(&b), 1000, "{}\n{}", a.log(), b.log());
    assert!(!a.log().contains("cannot delete") && !b.log().contains("cannot delete"));
}

/// An instance killed with SIGKILL mid-upload on PostgreSQL + S3: once the upload's lease
/// runs out, the other instance's sweep aborts the pending multipart upload, and nothing
/// is left: no object, no pending upload, no lease, no row.
#[test]
fn a_killed_instances_upload_on_s3_is_aborted_by_the_other_instances_sweep() {
    let test = "server_pg::a_killed_instances_upload_on_s3_is_aborted";
    let Some((mut p, moto)) =
        pair_on_s3(test, &["--s3-upload-lease", "2", "--sweep-interval", "1"])
    else {
        return;
    };
    let db = p.url.rsplit('/').next().unwrap().to_string();
    let stream = slow_upload(&p.a, 20 << 20, 7 << 20);
    eventually("A's upload is pending", || moto.pending().len() == 1);
    // Longer than the lease: A renews it, so B's sweeps leave it alone.
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(moto.pending().len(), 1, "{}", p.b.log());
    p.a.child.kill().unwrap();
    p.a.child.wait().unwrap();
    drop(stream);
    eventually("B's sweep aborts the killed upload", || {
        moto.pending().is_empty()
    });
    eventually("the lease goes too", || ours(&moto).is_empty());
    let cluster = Cluster::shared(test).unwrap();
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM files").trim(), "0");
    assert!(
        p.b.log().contains("aborted 1 uploads abandoned"),
        "{}",
        p.b.log()
    );
}

/// Two instances sharing a data directory: a killed instance's partial upload in tmp/ is
/// removed by the other's sweep once unchanged for the staging lease, while an upload under
/// way on the living instance keeps its file and completes.
#[test]
fn a_killed_instances_partial_upload_in_a_shared_directory_is_swept_by_age() {
    let test = "server_pg::a_killed_instances_partial_upload_in_a_shared_directory";
    let Some(mut p) = pair(test, &["--staging-lease", "3", "--sweep-interval", "1"]) else {
        return;
    };
    let tmp = p.env.path("shared").join("tmp");
    let files = || std::fs::read_dir(&tmp).unwrap().count();
    // A on its way (past the write buffer, so its file has bytes), then killed.
    let killed = slow_upload(&p.a, 20 << 20, 2 << 20);
    eventually("A's partial upload is on disk", || files() == 1);
    p.a.child.kill().unwrap();
    p.a.child.wait().unwrap();
    drop(killed);
    // B's upload under way, writing a megabyte a second: never unchanged for the lease.
    let mut live = slow_upload(&p.b, 8 << 20, 1 << 20);
    eventually("B's upload is on disk too", || files() == 2);
    let chunk = vec![b'x'; 1 << 20];
    for _ in 1..8 {
        std::thread::sleep(Duration::from_millis(1000));
        live.write_all(&chunk).unwrap();
    }
    // A's file is gone, B's remains until B completes its upload.
    assert_eq!(files(), 1, "{}", p.b.log());
    live.write_all(b"\r\n--XX--\r\n").unwrap();
    let mut answer = String::new();
    live.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(files(), 0);
    assert!(
        p.b.log().contains("aborted 1 uploads abandoned"),
        "{}",
        p.b.log()
    );
}
