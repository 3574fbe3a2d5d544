//! A throwaway PostgreSQL cluster for tests: Debian's `initdb` + `pg_ctl`, on 127.0.0.1 and a
//! free port, with fsync off. Shared by the unit tests (`src/server/pg.rs` includes this file)
//! and the integration tests.
//!
//! Without PostgreSQL installed the tests that need it are skipped, saying so on stderr; in CI
//! (`CI=true`) a missing PostgreSQL fails them instead, so CI cannot skip them silently.
//!
//! A cluster lives in a temporary directory; a small watcher process stops it and removes the
//! directory when the test process exits (a `OnceLock` is never dropped), so no `postgres`
//! outlives the test run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The directory holding `initdb`, `pg_ctl` and `psql`: `FILEIO_TEST_PG_BIN` if set (a
/// directory without them tries the skipping), else the highest Debian version, else
/// `pg_config --bindir`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FILEIO_TEST_PG_BIN") {
        let bin = PathBuf::from(dir);
        return bin.join("initdb").exists().then_some(bin);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

/// A line on stderr that the test harness does not capture (it captures only `eprintln!`),
/// so a plain `cargo test` shows what it skipped.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// PostgreSQL refuses to run as root: as root, clusters run as the `postgres` user.
fn as_postgres(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    databases: AtomicUsize,
}

impl Cluster {
    /// A new cluster, or `None` (after saying why on stderr) when PostgreSQL is not installed
    /// and this is not CI.
    pub fn start(test: &str) -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            let why = "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or pg_config --bindir); install the `postgresql` package to run them";
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: CI=true and {why}");
            }
            say(&format!("{test}: skipped the PostgreSQL tests: {why}"));
            return None;
        };
        Some(Cluster::start_in(bin).unwrap_or_else(|e| panic!("{test}: {e}")))
    }

    fn start_in(bin: PathBuf) -> Result<Cluster, String> {
        let tmp = tempfile::Builder::new()
            .prefix("fileio-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let dir = tmp.keep();
        let data = dir.join("data");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:"]).arg(&dir);
                    c
                },
                "chown",
            )?;
        }
        // Stops the cluster and removes its directory once this process has gone.
        let me = std::process::id();
        let pg_ctl = as_postgres(&bin, "pg_ctl");
        let stop = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; {} {} -D '{}' stop -m immediate >/dev/null 2>&1; rm -rf '{}'",
            pg_ctl.get_program().to_string_lossy(),
            pg_ctl
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            data.display(),
            dir.display()
        );
        Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the cluster's watcher: {e}"))?;
        let mut initdb = as_postgres(&bin, "initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb")?;
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            databases: AtomicUsize::new(0),
        };
        cluster.up()?;
        Ok(cluster)
    }

    /// Starts (or restarts) the server on the cluster's port and waits until it answers.
    pub fn up(&self) -> Result<(), String> {
        let mut pg_ctl = as_postgres(&self.bin, "pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' -c fsync=off -c full_page_writes=off -c max_connections=300",
                self.port,
                self.dir.display()
            ))
            .args(["-w", "-t", "60", "start"]);
        run(pg_ctl, "pg_ctl start")
    }

    /// Stops the server at once, as a crash or a network cut would look to clients.
    pub fn down(&self) {
        let mut pg_ctl = as_postgres(&self.bin, "pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        run(pg_ctl, "pg_ctl stop").unwrap();
    }

    /// The shared cluster of this test process, started on first use; `None` when skipped.
    pub fn shared(test: &str) -> Option<&'static Cluster> {
        static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
        let mut first = false;
        let c = SHARED
            .get_or_init(|| {
                first = true;
                Cluster::start(test)
            })
            .as_ref();
        if c.is_none() && !first {
            say(&format!("{test}: skipped: PostgreSQL is not installed"));
        }
        c
    }

    /// The URL of a database on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as the superuser in `db`.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A fresh, empty database; returns its URL.
    pub fn database(&self, test: &str) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect::<String>()
            .to_lowercase();
        let name = format!("t{}_{n}_{name}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }
}
