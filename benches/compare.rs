//! fileio against curl, on one loopback `fileio serve`, and `fileio serve` against nginx (and
//! rustypaste), in one run.
//!
//! `cargo bench --bench compare` builds the release binary, starts `fileio serve` on
//! 127.0.0.1 with a temporary data directory, times uploads and downloads of 1 MiB, 64 MiB
//! and 1 GiB files, 200 small uploads in a row, 8 parallel 64 MiB uploads, 256 MiB uploads
//! while a background writer keeps the disk busy, and start-up, with each client's peak RSS
//! (from `wait4`) and the server's (VmHWM, reset before every run); then fileio with
//! `--encrypt` against fileio without, 1 GiB up and down. Then the server rows:
//! `fileio serve`, nginx (from a config the benchmark writes) and rustypaste (when on PATH),
//! each in its own directory, for start-up, 10 KiB uploads and downloads from wrk with 32
//! connections, 1 GiB up and down with curl, and memory per stalled connection. Then the
//! scale-out rows: `fileio serve` embedded, on PostgreSQL + S3 (the tests' throwaway cluster,
//! moto's server mode) as one instance and as two behind nginx (the README's configuration),
//! for the same wrk loads, 64 MiB up and down, and the instances' memory idle and after the
//! load. A server or tool that is missing leaves its cells empty with a note. It prints the
//! tables and writes them into BENCHMARKS.md between its markers.
//!
//! Options (after `--`): `--smoke` (64 KiB files, one run each, nothing written: what CI
//! runs), `--runs N` (runs per big-file row), `--only TEXT` (rows whose name holds TEXT),
//! `--fileio PATH` (another build to compare), `--no-write`. Run without `--bench` (as
//! `cargo test --bench compare` does) it is a smoke run.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

const BEGIN: &str = "<!-- compare:begin (written by `cargo bench --bench compare`) -->";
const END: &str = "<!-- compare:end -->";

struct Opts {
    smoke: bool,
    write: bool,
    runs: Option<usize>,
    only: Option<String>,
    fileio: PathBuf,
}

fn opts() -> Opts {
    let mut o = Opts {
        smoke: true,
        write: true,
        runs: None,
        only: None,
        fileio: PathBuf::from(env!("CARGO_BIN_EXE_fileio")),
    };
    let mut bench = false;
    let mut smoke = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => bench = true,
            "--smoke" => smoke = true,
            "--no-write" => o.write = false,
            "--runs" => o.runs = args.next().and_then(|n| n.parse().ok()),
            "--only" => o.only = args.next(),
            "--fileio" => o.fileio = args.next().expect("--fileio PATH").into(),
            other => panic!(
                "unknown argument {other}; use --smoke, --runs N, --only TEXT, --fileio PATH, --no-write"
            ),
        }
    }
    o.smoke = smoke || !bench;
    o.write &= !o.smoke && o.only.is_none() && o.runs.is_none();
    o
}

/// One measured run (or batch of runs) of a client.
#[derive(Clone, Copy)]
struct Sample {
    secs: f64,
    /// The client's peak RSS (the largest of a batch), KiB.
    rss_kib: u64,
    /// The server's peak RSS during the run, KiB.
    server_kib: u64,
}

struct Row {
    name: String,
    /// Bytes moved by one sample; 0 where throughput means nothing.
    bytes: u64,
    fileio: Vec<Sample>,
    curl: Vec<Sample>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Client {
    Fileio,
    Curl,
}

/// The temporary directory, the server and how to run each client.
struct Bench {
    dir: tempfile::TempDir,
    fileio: PathBuf,
    url: String,
    server: Server,
    counter: std::cell::Cell<u64>,
}

struct Server {
    child: Child,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resets the peak RSS (VmHWM) so the next read covers only what comes after.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .expect("cannot reset the server's peak RSS (/proc/PID/clear_refs)");
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server is gone");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a spawned child to its end: wall time from before `spawn` and peak RSS from wait4.
fn finish(child: Child, started: Instant) -> (f64, u64, bool) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux reports ru_maxrss in KiB.
    (started.elapsed().as_secs_f64(), usage.ru_maxrss as u64, ok)
}

fn read_all(child: &mut Child) -> (String, String) {
    let mut out = String::new();
    let mut err = String::new();
    if let Some(s) = child.stdout.as_mut() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(s) = child.stderr.as_mut() {
        let _ = s.read_to_string(&mut err);
    }
    (out, err)
}

/// Starts `fileio serve` on a free port of 127.0.0.1: the child and its URL.
fn spawn_fileio_serve(fileio: &Path, data: &Path) -> (Child, String) {
    spawn_fileio_serve_with(fileio, data, &[], &[])
}

/// `fileio serve` with more arguments and environment variables (a database, a bucket).
fn spawn_fileio_serve_with(
    fileio: &Path,
    data: &Path,
    extra: &[String],
    vars: &[(&str, &str)],
) -> (Child, String) {
    let mut child = Command::new(fileio)
        .args(["serve", "--bind", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", fileio.display()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let url = first
        .strip_prefix("fileio serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the server: {first:?}"))
        .to_string();
    // The access log goes nowhere, but must be read so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

impl Bench {
    fn start(fileio: PathBuf) -> Bench {
        let dir = tempfile::Builder::new()
            .prefix("fileio-bench-")
            .tempdir_in(std::env::temp_dir())
            .expect("cannot create a temporary directory");
        for d in ["home", "config", "data", "cache", "server", "out"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let (child, url) = spawn_fileio_serve(&fileio, &dir.path().join("server"));
        Bench {
            dir,
            fileio,
            url,
            server: Server { child },
            counter: std::cell::Cell::new(0),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command with a clean environment: temporary HOME and XDG dirs, no user config.
    fn command(&self, client: Client) -> Command {
        let mut c = match client {
            Client::Fileio => Command::new(&self.fileio),
            Client::Curl => Command::new("curl"),
        };
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("FILEIO_") || k.starts_with("CURL_") || k.ends_with("_proxy") {
                c.env_remove(&k);
            }
        }
        c.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if client == Client::Curl {
            // -q first: no ~/.curlrc.
            c.args(["-q", "-sS", "--fail-with-body"]);
        }
        c
    }

    fn upload_cmd(&self, client: Client, file: &Path, max_downloads: Option<u32>) -> Command {
        let mut c = self.command(client);
        match client {
            Client::Fileio => {
                c.args(["--server", &self.url, "upload"]).arg(file);
                if let Some(n) = max_downloads {
                    c.args(["--max-downloads", &n.to_string()]);
                }
            }
            Client::Curl => {
                if let Some(n) = max_downloads {
                    c.args(["-F", &format!("maxDownloads={n}")]);
                }
                c.arg("-F")
                    .arg(format!("file=@{}", file.display()))
                    .arg(format!("{}/", self.url));
            }
        }
        c
    }

    fn download_cmd(&self, client: Client, key: &str, out: &Path) -> Command {
        let mut c = self.command(client);
        match client {
            Client::Fileio => {
                c.args(["--server", &self.url, "download", key, "-o"])
                    .arg(out);
            }
            Client::Curl => {
                c.arg("-o").arg(out).arg(format!("{}/{key}", self.url));
            }
        }
        c
    }

    /// Runs one command, measured; panics with its stderr when it fails. Returns stdout too.
    fn measure(&self, mut cmd: Command) -> (Sample, String) {
        self.server.reset_peak();
        let started = Instant::now();
        let mut child = cmd.spawn().expect("cannot start a client");
        let (out, err) = read_all(&mut child);
        let (secs, rss_kib, ok) = finish(child, started);
        assert!(ok, "{cmd:?} failed:\n{err}{out}");
        let server_kib = self.server.peak_kib();
        (
            Sample {
                secs,
                rss_kib,
                server_kib,
            },
            out,
        )
    }

    /// Runs several commands at once; the sample is the batch's wall time and largest RSS.
    fn measure_parallel(&self, cmds: Vec<Command>) -> (Sample, Vec<String>) {
        self.server.reset_peak();
        let started = Instant::now();
        let children: Vec<Child> = cmds
            .into_iter()
            .map(|mut c| c.spawn().expect("cannot start a client"))
            .collect();
        let mut rss_kib = 0;
        let mut outs = Vec::new();
        let mut secs = 0.0;
        for mut child in children {
            // Answers are tiny: reading them in turn never blocks a sibling.
            let (out, err) = read_all(&mut child);
            let (s, rss, ok) = finish(child, started);
            assert!(ok, "a parallel upload failed:\n{err}{out}");
            secs = f64::max(secs, s);
            rss_kib = rss_kib.max(rss);
            outs.push(out);
        }
        let server_kib = self.server.peak_kib();
        (
            Sample {
                secs,
                rss_kib,
                server_kib,
            },
            outs,
        )
    }

    fn fresh_out(&self) -> PathBuf {
        let n = self.counter.get();
        self.counter.set(n + 1);
        self.path("out").join(format!("download-{n}"))
    }
}

/// The key in fileio's printed link or in curl's JSON answer.
fn key_of(client: Client, out: &str) -> String {
    match client {
        Client::Fileio => out.trim().rsplit('/').next().unwrap().to_string(),
        Client::Curl => {
            let v = out.split("\"key\":\"").nth(1).expect("a key in the answer");
            v[..v.find('"').unwrap()].to_string()
        }
    }
}

/// A file of `len` pseudo-random (incompressible) bytes.
fn make_file(path: &Path, len: u64) {
    let mut block = vec![0u8; (MIB.min(len)) as usize];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len;
    for b in block.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

fn same_contents(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// The two clients in turns, the first alternating, so drift and caches hit both alike.
fn order(i: usize) -> [Client; 2] {
    if i % 2 == 0 {
        [Client::Fileio, Client::Curl]
    } else {
        [Client::Curl, Client::Fileio]
    }
}

/// Upload and download rows for one file size. Each turn, each client uploads the file once
/// (allowing one download) and then each client downloads one of those files, which the
/// server then deletes: few files pile up, and their dirty pages are dropped unwritten
/// instead of loading the disk under later runs.
fn transfer_rows(b: &Bench, label: &str, len: u64, runs: usize, smoke: bool) -> [Row; 2] {
    let src = b.path(&format!("src-{label}"));
    make_file(&src, len);
    let mut up = Row {
        name: format!("upload {label}"),
        bytes: len,
        fileio: vec![],
        curl: vec![],
    };
    let mut down = Row {
        name: format!("download {label}"),
        bytes: len,
        fileio: vec![],
        curl: vec![],
    };
    for i in 0..runs {
        let mut keys = Vec::new();
        for client in order(i) {
            let (s, out) = b.measure(b.upload_cmd(client, &src, Some(1)));
            keys.push(key_of(client, &out));
            push(&mut up, client, s);
        }
        for (client, key) in order(i + 1).into_iter().zip(keys) {
            let out = b.fresh_out();
            let (s, _) = b.measure(b.download_cmd(client, &key, &out));
            let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            assert_eq!(got, len, "{client:?} downloaded {got} of {len} bytes");
            if smoke {
                assert!(
                    same_contents(&src, &out),
                    "{client:?}: the download differs"
                );
            }
            std::fs::remove_file(&out).unwrap();
            push(&mut down, client, s);
        }
    }
    std::fs::remove_file(&src).unwrap();
    [up, down]
}

/// fileio with `--encrypt` against fileio without, in alternating turns (issue 14's targets:
/// throughput at least 0.8× the unencrypted, peak memory within 2 MiB): a table of its own,
/// since its columns are not fileio and curl.
fn encrypted_table(b: &Bench, label: &str, len: u64, runs: usize, smoke: bool) -> String {
    let src = b.path(&format!("src-enc-{label}"));
    make_file(&src, len);
    // [plain, encrypted] samples for upload and download.
    let mut up: [Vec<Sample>; 2] = [vec![], vec![]];
    let mut down: [Vec<Sample>; 2] = [vec![], vec![]];
    for i in 0..runs {
        let turns = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut links = [String::new(), String::new()];
        for e in turns {
            let mut cmd = b.upload_cmd(Client::Fileio, &src, Some(1));
            if e == 1 {
                cmd.arg("--encrypt");
            }
            let (s, out) = b.measure(cmd);
            links[e] = key_of(Client::Fileio, &out);
            up[e].push(s);
        }
        for e in turns {
            let out = b.fresh_out();
            let (s, _) = b.measure(b.download_cmd(Client::Fileio, &links[e], &out));
            let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            assert_eq!(got, len, "encrypted: {e}: downloaded {got} of {len} bytes");
            if smoke {
                assert!(
                    same_contents(&src, &out),
                    "encrypted: {e}: the download differs"
                );
            }
            std::fs::remove_file(&out).unwrap();
            down[e].push(s);
        }
    }
    std::fs::remove_file(&src).unwrap();
    let mut t = String::from(
        "fileio with `--encrypt` (age v1) against fileio without, same file, alternating turns:\n\n\
         | test | runs | plain time | encrypted time | **throughput encrypted/plain** | plain peak RSS | encrypted peak RSS | **RSS encrypted − plain** |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for (what, samples) in [("upload", &up), ("download", &down)] {
        let p = summarize(&samples[0]);
        let e = summarize(&samples[1]);
        let _ = writeln!(
            t,
            "| {what} {label} | {runs} | {} | {} | **{:.2}** | {} | {} | **{:+.1} MiB** |",
            time(p.secs),
            time(e.secs),
            p.secs / e.secs,
            mib(p.rss_kib),
            mib(e.rss_kib),
            (e.rss_kib as f64 - p.rss_kib as f64) / 1024.0,
        );
    }
    t
}

fn push(row: &mut Row, client: Client, s: Sample) {
    match client {
        Client::Fileio => row.fileio.push(s),
        Client::Curl => row.curl.push(s),
    }
}

/// `count` 10 KiB uploads one after another, `runs` times per client.
fn small_row(b: &Bench, count: usize, runs: usize, no_history: bool) -> Row {
    let src = b.path("src-10k");
    make_file(&src, 10 * KIB);
    let mut row = Row {
        name: if no_history {
            format!("{count} × 10 KiB uploads in a row, fileio --no-history")
        } else {
            format!("{count} × 10 KiB uploads in a row")
        },
        bytes: count as u64 * 10 * KIB,
        fileio: vec![],
        curl: vec![],
    };
    for i in 0..runs {
        for client in order(i) {
            let mut total = Sample {
                secs: 0.0,
                rss_kib: 0,
                server_kib: 0,
            };
            for _ in 0..count {
                let mut cmd = b.upload_cmd(client, &src, None);
                if no_history && client == Client::Fileio {
                    cmd.arg("--no-history");
                }
                let (s, _) = b.measure(cmd);
                total.secs += s.secs;
                total.rss_kib = total.rss_kib.max(s.rss_kib);
                total.server_kib = total.server_kib.max(s.server_kib);
            }
            push(&mut row, client, total);
        }
    }
    row
}

/// `jobs` processes uploading a `label` file each, at once.
fn parallel_row(b: &Bench, jobs: usize, label: &str, len: u64, runs: usize) -> Row {
    let src = b.path(&format!("src-par-{label}"));
    make_file(&src, len);
    let mut row = Row {
        name: format!("{jobs} parallel {label} uploads"),
        bytes: jobs as u64 * len,
        fileio: vec![],
        curl: vec![],
    };
    for i in 0..runs {
        for client in order(i) {
            let cmds = (0..jobs)
                .map(|_| b.upload_cmd(client, &src, Some(1)))
                .collect();
            let (s, outs) = b.measure_parallel(cmds);
            // Spend the one download each allows, off the clock, so the files go.
            for out in outs {
                let key = key_of(client, &out);
                let status = b
                    .download_cmd(Client::Curl, &key, Path::new("/dev/null"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
            }
            push(&mut row, client, s);
        }
    }
    std::fs::remove_file(&src).unwrap();
    row
}

/// A background writer dirtying the page cache on the filesystem of the clients' data
/// directory (and the history in it), as a build that just finished does: it writes files of
/// `file_len` in turn, without `fsync`, keeping the last `keep` (so their pages must be written
/// back, not dropped unwritten), until stopped or `limit` bytes are written.
struct BusyDisk {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl BusyDisk {
    fn start(dir: PathBuf, file_len: u64, keep: usize, limit: u64) -> BusyDisk {
        use std::sync::atomic::{AtomicBool, Ordering};
        std::fs::create_dir_all(&dir).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let block = vec![0x5au8; MIB as usize];
            let mut written = 0u64;
            let mut n = 0usize;
            'outer: loop {
                let path = dir.join(format!("busy-{n}"));
                let mut f = std::fs::File::create(&path).unwrap();
                let mut left = file_len;
                while left > 0 {
                    if flag.load(Ordering::Relaxed) || written >= limit {
                        break 'outer;
                    }
                    let k = left.min(MIB) as usize;
                    f.write_all(&block[..k]).unwrap();
                    left -= k as u64;
                    written += k as u64;
                }
                if n >= keep {
                    let _ = std::fs::remove_file(dir.join(format!("busy-{}", n - keep)));
                }
                n += 1;
            }
            let _ = std::fs::remove_dir_all(&dir);
            written
        });
        BusyDisk {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the writer; how much it wrote.
    fn stop(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap())
    }
}

impl Drop for BusyDisk {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Dirty and under-write-back page cache, KiB (/proc/meminfo).
fn dirty_kib() -> u64 {
    let m = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    ["Dirty:", "Writeback:"]
        .iter()
        .map(|f| {
            m.lines()
                .find_map(|l| l.strip_prefix(f))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// Uploads of one file with a background writer keeping the disk busy: fileio (with its
/// history, and with `--no-history`) and curl in turns under the same load. Each upload
/// allows one download, spent off the clock, so the server deletes the file.
fn busy_disk_rows(b: &Bench, label: &str, len: u64, runs: usize, smoke: bool) -> [Row; 2] {
    let src = b.path(&format!("src-busy-{label}"));
    make_file(&src, len);
    let (file_len, keep, limit, warm_kib) = if smoke {
        (16 * MIB, 2, 64 * MIB, 0)
    } else {
        (512 * MIB, 8, u64::MAX, GIB / KIB)
    };
    let busy = BusyDisk::start(b.path("data/busy"), file_len, keep, limit);
    // Let the dirty pages pile up before the first run, so every run sees write-back.
    let warm_until = Instant::now() + Duration::from_secs(20);
    while dirty_kib() < warm_kib && Instant::now() < warm_until {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rows = [false, true].map(|no_history| Row {
        name: if no_history {
            format!("upload {label}, busy disk, fileio --no-history")
        } else {
            format!("upload {label}, busy disk")
        },
        bytes: len,
        fileio: vec![],
        curl: vec![],
    });
    let mut dirty = Vec::new();
    for i in 0..runs {
        for (r, row) in rows.iter_mut().enumerate() {
            for client in order(i + r) {
                let mut cmd = b.upload_cmd(client, &src, Some(1));
                if r == 1 && client == Client::Fileio {
                    cmd.arg("--no-history");
                }
                dirty.push(dirty_kib() as f64);
                let (s, out) = b.measure(cmd);
                push(row, client, s);
                let key = key_of(client, &out);
                let status = b
                    .download_cmd(Client::Curl, &key, Path::new("/dev/null"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
    }
    let written = busy.stop();
    // The writer leaves ~2 GiB dirty: written back now, or the rows after these (the
    // server's, whose uploads write files) would run under its write-back.
    // SAFETY: sync(2) takes nothing and cannot fail.
    unsafe { libc::sync() };
    let note = format!(
        " (writer: {:.1} GiB written, dirty + write-back median {})",
        written as f64 / GIB as f64,
        mib(median(dirty.into_iter()) as u64)
    );
    for row in &mut rows {
        row.name.push_str(&note);
    }
    std::fs::remove_file(&src).unwrap();
    rows
}

fn startup_row(b: &Bench, runs: usize) -> Row {
    let mut row = Row {
        name: "start-up (`--version`)".into(),
        bytes: 0,
        fileio: vec![],
        curl: vec![],
    };
    for i in 0..runs {
        for client in order(i) {
            let mut c = b.command(client);
            c.arg("--version");
            let (s, _) = b.measure(c);
            push(&mut row, client, s);
        }
    }
    row
}

fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Summary {
    secs: f64,
    rss_kib: u64,
    server_kib: u64,
}

fn summarize(s: &[Sample]) -> Summary {
    Summary {
        secs: median(s.iter().map(|s| s.secs)),
        rss_kib: s.iter().map(|s| s.rss_kib).max().unwrap_or(0),
        server_kib: s.iter().map(|s| s.server_kib).max().unwrap_or(0),
    }
}

fn time(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else {
        format!("{secs:.2} s")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn rate(bytes: u64, secs: f64) -> String {
    if bytes == 0 {
        "–".into()
    } else {
        format!("{:.0}", bytes as f64 / MIB as f64 / secs)
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str("| test | runs | fileio time | curl time | **time fileio/curl** | fileio MiB/s | curl MiB/s | fileio peak RSS | curl peak RSS | **RSS fileio/curl** | server peak RSS (fileio / curl runs) |\n");
    t.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let (f, c) = (summarize(&r.fileio), summarize(&r.curl));
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | **{:.2}** | {} | {} | {} | {} | **{:.2}** | {} / {} |",
            r.name,
            r.fileio.len(),
            time(f.secs),
            time(c.secs),
            f.secs / c.secs,
            rate(r.bytes, f.secs),
            rate(r.bytes, c.secs),
            mib(f.rss_kib),
            mib(c.rss_kib),
            f.rss_kib as f64 / c.rss_kib as f64,
            mib(f.server_kib),
            mib(c.server_kib),
        );
    }
    t
}

/// The targets of issue 7, each with how it went.
fn verdicts(rows: &[Row]) -> String {
    let mut v = String::new();
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    for r in rows {
        // Every row that times uploads or downloads, the parallel and in-a-row ones too.
        if ["upload", "download"]
            .iter()
            .any(|w| r.name.starts_with(w) || r.name.contains(&format!("{w}s")))
        {
            let (f, c) = (summarize(&r.fileio), summarize(&r.curl));
            let ok = |b: bool| if b { "met" } else { "MISSED" };
            let _ = writeln!(
                v,
                "- {}: time ≤ 1.00× curl {} ({:.2}×); peak RSS ≤ curl's {} ({} vs {})",
                r.name,
                ok(f.secs <= c.secs),
                f.secs / c.secs,
                ok(f.rss_kib <= c.rss_kib),
                mib(f.rss_kib),
                mib(c.rss_kib),
            );
        }
    }
    for dir in ["upload", "download"] {
        if let (Some(small), Some(big)) =
            (find(&format!("{dir} 1 MiB")), find(&format!("{dir} 1 GiB")))
        {
            let d = summarize(&big.fileio).rss_kib as i64 - summarize(&small.fileio).rss_kib as i64;
            let _ = writeln!(
                v,
                "- {dir}: fileio's peak RSS grows {:+.1} MiB from 1 MiB to 1 GiB (target within 2 MiB): {}",
                d as f64 / 1024.0,
                if d.abs() <= 2048 { "met" } else { "MISSED" }
            );
        }
    }
    if let Some(r) = rows.iter().find(|r| r.name.starts_with("start-up")) {
        let s = summarize(&r.fileio).secs;
        let _ = writeln!(
            v,
            "- start-up {} (target under 5 ms): {}",
            time(s),
            if s < 0.005 { "met" } else { "MISSED" }
        );
    }
    v
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| format!("{cmd}: unknown"))
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {}; {}; {}; loopback, data on {}",
        kernel.trim(),
        first_line("rustc", &["--version"]),
        first_line("curl", &["--version"])
            .split(" (")
            .next()
            .unwrap_or(""),
        std::env::temp_dir().display(),
    )
}

/// Raises the soft limit on open files to the hard limit (1,000 stalled connections).
fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

fn write_report(report: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        format!("# Benchmarks\n\n`cargo bench --bench compare` writes the results below.\n\n{BEGIN}\n{END}\n")
    });
    let (Some(b), Some(e)) = (old.find(BEGIN), old.find(END)) else {
        panic!("{} lacks the markers {BEGIN} … {END}", path.display());
    };
    let new = format!("{}{BEGIN}\n{report}{}", &old[..b], &old[e..]);
    std::fs::write(&path, new).unwrap();
    eprintln!("wrote {}", path.display());
}

// ---------------------------------------------------------------------------------------------
// Server rows: `fileio serve` against nginx (and rustypaste, when installed), driven by wrk for
// small requests, by curl for 1 GiB transfers, and by raw sockets for stalled connections.

#[derive(Clone, Copy, PartialEq, Debug)]
enum PeerKind {
    Fileio,
    Nginx,
    Rustypaste,
}

const PEERS: [PeerKind; 3] = [PeerKind::Fileio, PeerKind::Nginx, PeerKind::Rustypaste];

impl PeerKind {
    fn name(self) -> &'static str {
        match self {
            PeerKind::Fileio => "fileio serve",
            PeerKind::Nginx => "nginx",
            PeerKind::Rustypaste => "rustypaste",
        }
    }
}

/// A server under test, in a directory of its own.
struct Peer {
    kind: PeerKind,
    server: Server,
    addr: std::net::SocketAddr,
    url: String,
    dir: PathBuf,
    /// From spawn to the first accepted connection.
    ready_secs: f64,
    idle_kib: u64,
    /// More instances measured with `server` (the second of two behind nginx).
    more: Vec<Server>,
    /// What stands in front of the instances (nginx), kept running but not measured.
    _front: Option<Server>,
}

/// A program on PATH, or in the sbin directories a non-root PATH may lack.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// Waits until `addr` accepts a connection; false after `limit`.
fn wait_ready(addr: std::net::SocketAddr, started: Instant, limit: Duration) -> bool {
    while started.elapsed() < limit {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// The process and its descendants (nginx's workers), from /proc.
fn process_tree(root: u32) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(ppid) = proc_stat(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok())) {
            parent.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
        i += 1;
    }
    tree
}

/// The fields of /proc/PID/stat after the command name (state first).
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

impl Peer {
    fn pids(&self) -> Vec<u32> {
        std::iter::once(&self.server)
            .chain(&self.more)
            .flat_map(|s| process_tree(s.pid()))
            .collect()
    }

    /// Resident memory of the server and its workers, KiB.
    fn rss_kib(&self) -> u64 {
        self.pids()
            .into_iter()
            .map(|p| status_kib(p, "VmRSS:"))
            .sum()
    }

    /// CPU time used so far by the server and its workers, seconds.
    fn cpu_secs(&self) -> f64 {
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        self.pids()
            .into_iter()
            .filter_map(proc_stat)
            .map(|f| {
                let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                (t(11) + t(12)) / tick
            })
            .sum()
    }

    /// Waits for the resident memory to settle (three readings within 1%, 200 ms apart).
    fn settled_rss_kib(&self, limit: Duration) -> u64 {
        let started = Instant::now();
        let mut last = self.rss_kib();
        let mut steady = 0;
        while steady < 3 && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
            let now = self.rss_kib();
            if now.abs_diff(last) * 100 <= last {
                steady += 1;
            } else {
                steady = 0;
            }
            last = now;
        }
        last
    }

    fn finish_start(
        kind: PeerKind,
        child: Child,
        port: u16,
        dir: PathBuf,
        started: Instant,
    ) -> Result<Peer, String> {
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut server = Server { child };
        if !wait_ready(addr, started, Duration::from_secs(10)) {
            let status = server.child.try_wait().ok().flatten();
            return Err(format!(
                "did not accept connections within 10 s ({})",
                status.map_or("still running".into(), |s| s.to_string())
            ));
        }
        let ready_secs = started.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_millis(200));
        let mut p = Peer {
            kind,
            server,
            addr,
            url: format!("http://{addr}"),
            dir,
            ready_secs,
            idle_kib: 0,
            more: vec![],
            _front: None,
        };
        p.idle_kib = p.rss_kib();
        Ok(p)
    }

    fn start_fileio(fileio: &Path, dir: PathBuf) -> Result<Peer, String> {
        Peer::start_fileio_with(fileio, dir, &[], &[])
    }

    fn start_fileio_with(
        fileio: &Path,
        dir: PathBuf,
        extra: &[String],
        vars: &[(&str, &str)],
    ) -> Result<Peer, String> {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let started = Instant::now();
        let (child, url) = spawn_fileio_serve_with(fileio, &dir.join("data"), extra, vars);
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .ok_or_else(|| format!("no port in {url}"))?;
        Peer::finish_start(PeerKind::Fileio, child, port, dir, started)
    }

    /// nginx from a configuration of our own: a worker per core (fileio serve and rustypaste
    /// use every core too), its own temp/log/pid paths, a static root for GET and WebDAV PUT
    /// for uploads (the body goes to a temporary file, then is renamed into the root).
    fn start_nginx(nginx: &Path, dir: PathBuf) -> Result<Peer, String> {
        for d in [
            "www/up",
            "tmp/body",
            "tmp/proxy",
            "tmp/fastcgi",
            "tmp/uwsgi",
            "tmp/scgi",
        ] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let port = free_port();
        let d = dir.display();
        // As root the master hands the worker to `user`: keep it root so it can write into
        // this 0700 directory (as another user the directive is ignored with a warning).
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let conf = format!(
            "daemon off;\n{user}\nworker_processes auto;\nworker_rlimit_nofile 16384;\n\
             pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n\
             keepalive_requests 100000000;\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
             scgi_temp_path {d}/tmp/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n\
             client_max_body_size 0;\n\
             location /up/ {{ dav_methods PUT DELETE; create_full_put_path on; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let started = Instant::now();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", nginx.display()))?;
        Peer::finish_start(PeerKind::Nginx, child, port, dir.clone(), started).map_err(|e| {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            format!("{e}: {}", log.trim())
        })
    }

    /// rustypaste with random names (so equal uploads do not collide) and a 2 GB limit.
    fn start_rustypaste(bin: &Path, dir: PathBuf) -> Result<Peer, String> {
        std::fs::create_dir_all(dir.join("upload")).unwrap();
        let port = free_port();
        let conf = format!(
            "[config]\nrefresh_rate = \"1h\"\n\n[server]\naddress = \"127.0.0.1:{port}\"\n\
             max_content_length = \"2GB\"\nupload_path = \"{}\"\ntimeout = \"60s\"\n\
             expose_version = false\nexpose_list = false\nhandle_spaces = \"replace\"\n\n\
             [landing_page]\ntext = \"rustypaste\"\ncontent_type = \"text/plain; charset=utf-8\"\n\n\
             [paste]\nrandom_url = {{ type = \"alphanumeric\", length = 16 }}\n\
             default_extension = \"txt\"\nmime_override = []\nmime_blacklist = []\n\
             duplicate_files = true\ndelete_expired_files = {{ enabled = false, interval = \"1h\" }}\n",
            dir.join("upload").display()
        );
        std::fs::write(dir.join("config.toml"), conf).unwrap();
        let started = Instant::now();
        let child = Command::new(bin)
            .current_dir(&dir)
            .env("CONFIG", dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        Peer::finish_start(PeerKind::Rustypaste, child, port, dir, started)
    }

    /// The head of an upload request of `len` body bytes, and the multipart prologue and
    /// epilogue around the file's bytes (empty for nginx's plain PUT).
    fn upload_head(&self, name: &str, file_len: u64) -> (String, Vec<u8>, Vec<u8>) {
        match self.kind {
            PeerKind::Nginx => (
                format!(
                    "PUT /up/{name} HTTP/1.1\r\nHost: {}\r\nContent-Length: {file_len}\r\n\r\n",
                    self.addr
                ),
                vec![],
                vec![],
            ),
            PeerKind::Fileio | PeerKind::Rustypaste => {
                let (pre, post) = multipart_parts(name);
                let len = pre.len() as u64 + file_len + post.len() as u64;
                (
                    format!(
                        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len}\r\n\r\n",
                        self.addr
                    ),
                    pre,
                    post,
                )
            }
        }
    }

    /// Uploads `src` with curl, for downloads by many: the path to GET it by.
    fn put_many(&self, src: &Path, name: &str) -> Result<String, String> {
        let out = self.curl_upload(src, name, None)?;
        Ok(self.path_of(&out, name))
    }

    /// curl's upload command line for this server.
    fn curl_upload_cmd(&self, src: &Path, name: &str, max_downloads: Option<u32>) -> Command {
        let mut c = curl();
        match self.kind {
            PeerKind::Nginx => {
                c.arg("-T").arg(src).arg(format!("{}/up/{name}", self.url));
            }
            PeerKind::Fileio => {
                c.args([
                    "-F",
                    &format!("maxDownloads={}", max_downloads.unwrap_or(1_000_000_000)),
                ])
                .arg("-F")
                .arg(format!("file=@{};filename={name}", src.display()))
                .arg(format!("{}/", self.url));
            }
            PeerKind::Rustypaste => {
                c.arg("-F")
                    .arg(format!("file=@{};filename={name}", src.display()))
                    .arg(format!("{}/", self.url));
            }
        }
        c
    }

    fn curl_upload(
        &self,
        src: &Path,
        name: &str,
        max_downloads: Option<u32>,
    ) -> Result<String, String> {
        let out = self
            .curl_upload_cmd(src, name, max_downloads)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "upload failed: {}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The path to download an upload by, from the upload's answer.
    fn path_of(&self, answer: &str, name: &str) -> String {
        match self.kind {
            PeerKind::Nginx => format!("/up/{name}"),
            PeerKind::Fileio => format!("/{}", key_of(Client::Curl, answer)),
            PeerKind::Rustypaste => {
                let url = answer.trim();
                format!("/{}", url.rsplit('/').next().unwrap_or(url))
            }
        }
    }

    /// Removes a file a download left (nginx and rustypaste keep them).
    fn forget(&self, path: &str) {
        let name = path.rsplit('/').next().unwrap_or(path);
        match self.kind {
            PeerKind::Fileio => {}
            PeerKind::Nginx => {
                let _ = std::fs::remove_file(self.dir.join("www/up").join(name));
            }
            PeerKind::Rustypaste => {
                let _ = std::fs::remove_file(self.dir.join("upload").join(name));
            }
        }
    }
}

const BOUNDARY: &str = "fileio-bench-boundary-7d1c";

fn multipart_parts(name: &str) -> (Vec<u8>, Vec<u8>) {
    (
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes(),
        format!("\r\n--{BOUNDARY}--\r\n").into_bytes(),
    )
}

/// curl with no ~/.curlrc, failing on HTTP errors, quiet but for errors.
fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-q", "-sS", "--fail-with-body"])
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdin(Stdio::null());
    c
}

/// One measurement of one server.
#[derive(Clone)]
struct Cell {
    /// req/s, MiB/s, KiB per connection or milliseconds, as the row says.
    value: f64,
    /// What to print.
    text: String,
    /// The server's CPU use during the measurement, in cores.
    server_cores: Option<f64>,
    /// The load generator's (wrk, curl) CPU use, in cores.
    client_cores: Option<f64>,
    /// The server's whole resident memory, where the row is about memory.
    total_kib: Option<u64>,
}

struct ServerRow {
    name: String,
    /// One list of runs per peer, in PEERS order.
    cells: [Vec<Cell>; 3],
}

impl ServerRow {
    fn new(name: impl Into<String>) -> ServerRow {
        ServerRow {
            name: name.into(),
            cells: [vec![], vec![], vec![]],
        }
    }

    fn push(&mut self, kind: PeerKind, c: Cell) {
        self.cells[PEERS.iter().position(|&k| k == kind).unwrap()].push(c);
    }

    /// The median run of a peer.
    fn median(&self, i: usize) -> Option<&Cell> {
        let mut v: Vec<&Cell> = self.cells[i].iter().collect();
        v.sort_by(|a, b| a.value.total_cmp(&b.value));
        v.get(v.len().saturating_sub(1) / 2).copied()
    }
}

/// Runs a child to its end: wall time, CPU time (user + system, from wait4) and success.
fn run_measured(mut cmd: Command) -> Result<(f64, f64, String), String> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let (out, err) = read_all(&mut child);
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    let secs = started.elapsed().as_secs_f64();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("{cmd:?} failed: {err}{out}"));
    }
    Ok((secs, cpu, out))
}

/// wrk with one thread (it shares the two cores with the server) and `conns` connections
/// for `secs` seconds; requests per second, with the server's and wrk's CPU use.
fn wrk(
    wrk: &Path,
    peer: &Peer,
    path: &str,
    script: Option<&Path>,
    conns: usize,
    secs: u64,
) -> Result<Cell, String> {
    let mut c = Command::new(wrk);
    c.args(["-t1", &format!("-c{conns}"), &format!("-d{secs}s")]);
    if let Some(s) = script {
        c.arg("-s").arg(s);
    }
    c.arg(format!("{}{path}", peer.url));
    let cpu0 = peer.cpu_secs();
    let (wall, gen_cpu, out) = run_measured(c)?;
    let server_cpu = peer.cpu_secs() - cpu0;
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{out}"))?;
    let mut text = format!("{rps:.0} req/s");
    if let Some(bad) = field("Non-2xx or 3xx responses:") {
        text.push_str(&format!(" ({bad} non-2xx!)"));
    }
    if let Some(errs) = field("Socket errors:") {
        text.push_str(&format!(" (socket errors {errs})"));
    }
    Ok(Cell {
        value: rps,
        text,
        server_cores: Some(server_cpu / wall),
        client_cores: Some(gen_cpu / wall),
        total_kib: None,
    })
}

/// A wrk script uploading one body over and over: multipart POSTs for fileio and rustypaste,
/// PUTs to new names for nginx (each one a new file, as the others make).
fn upload_script(peer: &Peer, file: &Path) -> PathBuf {
    let body = peer.dir.join("wrk-body");
    let data = std::fs::read(file).unwrap();
    let (head, pre, post) = peer.upload_head("small", data.len() as u64);
    std::fs::write(&body, [pre, data, post].concat()).unwrap();
    let mut lua = format!(
        "local f = assert(io.open(\"{}\", \"rb\"))\nwrk.body = f:read(\"*a\")\nf:close()\n",
        body.display()
    );
    if peer.kind == PeerKind::Nginx {
        lua.push_str(
            "wrk.method = \"PUT\"\nlocal n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, \"/up/small-\" .. n)\nend\n",
        );
    } else {
        let ct = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Type: "))
            .unwrap()
            .to_string();
        lua.push_str(&format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"{ct}\"\n"
        ));
    }
    let script = peer.dir.join("upload.lua");
    std::fs::write(&script, lua).unwrap();
    script
}

/// One big upload and its download with curl (to /dev/null), each timed; the server's file is
/// then gone (fileio: one download allowed; the others: removed by hand).
fn big_transfer(peer: &Peer, src: &Path, len: u64) -> Result<(Cell, Cell), String> {
    let cell = |secs: f64, cpu: f64, server: f64| Cell {
        value: len as f64 / MIB as f64 / secs,
        text: format!("{:.0} MiB/s", len as f64 / MIB as f64 / secs),
        server_cores: Some(server / secs),
        client_cores: Some(cpu / secs),
        total_kib: None,
    };
    let cpu0 = peer.cpu_secs();
    let (secs, cpu, out) = run_measured(peer.curl_upload_cmd(src, "big", Some(1)))?;
    let up = cell(secs, cpu, peer.cpu_secs() - cpu0);
    let path = peer.path_of(&out, "big");
    let mut c = curl();
    c.args(["-o", "/dev/null"])
        .arg(format!("{}{path}", peer.url));
    let cpu0 = peer.cpu_secs();
    let (secs, cpu, _) = run_measured(c)?;
    let down = cell(secs, cpu, peer.cpu_secs() - cpu0);
    peer.forget(&path);
    Ok((up, down))
}

/// `n` connections that each send a request's head (and, for uploads, `sent` bytes of a
/// 64 MiB body), then stall: the server's resident memory growth per connection.
fn stalled(
    peer: &Peer,
    n: usize,
    upload: bool,
    sent: u64,
    download_path: &str,
) -> Result<Cell, String> {
    let before = peer.settled_rss_kib(Duration::from_secs(3));
    let mut conns = Vec::with_capacity(n);
    let chunk = vec![0x42u8; sent as usize];
    for i in 0..n {
        let mut s = std::net::TcpStream::connect(peer.addr)
            .map_err(|e| format!("connection {i} of {n}: {e}"))?;
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let sent_ok = if upload {
            let (head, pre, _) = peer.upload_head(&format!("stalled-{i}"), 64 * MIB);
            s.write_all(head.as_bytes())
                .and_then(|_| s.write_all(&pre))
                .and_then(|_| s.write_all(&chunk))
        } else {
            s.write_all(
                format!(
                    "GET {download_path} HTTP/1.1\r\nHost: {}\r\n\r\n",
                    peer.addr
                )
                .as_bytes(),
            )
        };
        sent_ok.map_err(|e| format!("connection {i} of {n}: {e}"))?;
        conns.push(s);
    }
    let after = peer.settled_rss_kib(Duration::from_secs(10));
    drop(conns);
    // Let the server see the connections go and clean up before the next measurement.
    std::thread::sleep(Duration::from_millis(500));
    if upload {
        for i in 0..n {
            peer.forget(&format!("stalled-{i}"));
        }
    }
    let per = after.saturating_sub(before) as f64 / n as f64;
    Ok(Cell {
        value: per,
        text: format!("{per:.0} KiB/conn ({} → {})", mib(before), mib(after)),
        server_cores: None,
        client_cores: None,
        total_kib: Some(after),
    })
}

struct ServerOpts {
    smoke: bool,
    runs: Option<usize>,
}

/// Starts the servers that are installed; notes for the ones that are not.
fn start_peers(fileio: &Path, root: &Path) -> (Vec<Peer>, Vec<String>) {
    let mut peers = Vec::new();
    let mut notes = Vec::new();
    for kind in PEERS {
        let dir = root.join(kind.name().replace(' ', "-"));
        let started = match kind {
            PeerKind::Fileio => Some(Peer::start_fileio(fileio, dir)),
            PeerKind::Nginx => {
                match find_program("nginx") {
                    Some(p) => Some(Peer::start_nginx(&p, dir)),
                    None => {
                        notes.push("nginx is not installed (Debian package nginx-light): its column is empty".into());
                        None
                    }
                }
            }
            PeerKind::Rustypaste => match find_program("rustypaste") {
                Some(p) => Some(Peer::start_rustypaste(&p, dir)),
                None => {
                    notes.push("rustypaste is not on PATH (`cargo install rustypaste`): its column is empty".into());
                    None
                }
            },
        };
        match started {
            Some(Ok(p)) => peers.push(p),
            Some(Err(e)) => notes.push(format!("{} did not start: {e}", kind.name())),
            None => {}
        }
    }
    (peers, notes)
}

fn server_rows(
    fileio: &Path,
    root: &Path,
    o: &ServerOpts,
    want: &dyn Fn(&str) -> bool,
) -> (Vec<ServerRow>, Vec<String>) {
    let (conns, secs) = if o.smoke { (4, 1) } else { (32, 5) };
    let (label, len) = if o.smoke {
        ("1 MiB", MIB)
    } else {
        ("1 GiB", GIB)
    };
    let (counts, sent): (&[usize], u64) = if o.smoke {
        (&[20], 64 * KIB)
    } else {
        (&[200, 1000], MIB)
    };
    let stalled_downloads = if o.smoke { 20 } else { 200 };
    let ready_name = "server: ready after start (idle RSS)";
    let small_up_name = format!("server: 10 KiB uploads, {conns} connections (wrk)");
    let small_down_name = format!("server: 10 KiB downloads, {conns} connections (wrk)");
    let big_up_name = format!("server: {label} upload (curl)");
    let big_down_name = format!("server: {label} download (curl)");
    let stalled_name = |n: usize| {
        format!(
            "server: memory per stalled upload, {n} connections, {} KiB of the body sent",
            sent / KIB
        )
    };
    let stalled_down_name = format!(
        "server: memory per stalled download (64 MiB file), {stalled_downloads} connections"
    );
    let mut names = vec![
        ready_name.to_string(),
        small_up_name.clone(),
        small_down_name.clone(),
        big_up_name.clone(),
        big_down_name.clone(),
        stalled_down_name.clone(),
    ];
    names.extend(counts.iter().map(|&n| stalled_name(n)));
    if !names.iter().any(|n| want(n)) {
        return (vec![], vec![]);
    }
    eprintln!("server rows…");
    // Every stalled connection is a descriptor here and in the server.
    raise_fd_limit();

    let (peers, mut notes) = start_peers(fileio, root);
    let mut rows = Vec::new();
    let runs = o.runs.unwrap_or(if o.smoke { 1 } else { 3 });
    // Each round visits the servers in a different order, so drift hits all alike.
    let rounds = |i: usize| -> Vec<&Peer> {
        let mut v: Vec<&Peer> = peers.iter().collect();
        let len = v.len().max(1);
        v.rotate_left(i % len);
        v
    };

    if want(ready_name) {
        let mut row = ServerRow::new(ready_name);
        for p in &peers {
            row.push(
                p.kind,
                Cell {
                    value: p.ready_secs * 1000.0,
                    text: format!("{} ({})", time(p.ready_secs), mib(p.idle_kib)),
                    server_cores: None,
                    client_cores: None,
                    total_kib: Some(p.idle_kib),
                },
            );
        }
        rows.push(row);
    }

    let small = root.join("src-10k");
    make_file(&small, 10 * KIB);
    let (up_name, down_name) = (small_up_name, small_down_name);
    if want(&up_name) || want(&down_name) {
        match find_program("wrk") {
            None => notes.push(
                "wrk is not installed (Debian package wrk): the small-request rows are skipped"
                    .into(),
            ),
            Some(wrk_bin) => {
                let mut up = ServerRow::new(&up_name);
                let mut down = ServerRow::new(&down_name);
                let mut targets = Vec::new();
                for p in &peers {
                    let script = upload_script(p, &small);
                    match p.put_many(&small, "small-get") {
                        Ok(path) => targets.push(Some((script, path))),
                        Err(e) => {
                            notes.push(format!("{}: {e}", p.kind.name()));
                            targets.push(None);
                        }
                    }
                }
                for i in 0..runs {
                    for p in rounds(i) {
                        let idx = peers.iter().position(|q| std::ptr::eq(q, p)).unwrap();
                        let Some((script, path)) = &targets[idx] else {
                            continue;
                        };
                        if want(&up_name) {
                            match wrk(&wrk_bin, p, "/", Some(script), conns, secs) {
                                Ok(c) => up.push(p.kind, c),
                                Err(e) => notes.push(format!("{}: {e}", p.kind.name())),
                            }
                        }
                        if want(&down_name) {
                            match wrk(&wrk_bin, p, path, None, conns, secs) {
                                Ok(c) => down.push(p.kind, c),
                                Err(e) => notes.push(format!("{}: {e}", p.kind.name())),
                            }
                        }
                    }
                }
                rows.extend([up, down].into_iter().filter(|r| want(&r.name)));
            }
        }
    }

    let (up_name, down_name) = (big_up_name, big_down_name);
    if want(&up_name) || want(&down_name) {
        let src = root.join("src-big");
        make_file(&src, len);
        let mut up = ServerRow::new(&up_name);
        let mut down = ServerRow::new(&down_name);
        for i in 0..runs {
            for p in rounds(i) {
                match big_transfer(p, &src, len) {
                    Ok((u, d)) => {
                        up.push(p.kind, u);
                        down.push(p.kind, d);
                    }
                    Err(e) => notes.push(format!("{}: {e}", p.kind.name())),
                }
            }
        }
        std::fs::remove_file(&src).unwrap();
        rows.extend([up, down].into_iter().filter(|r| want(&r.name)));
    }

    // Each memory row on servers started afresh: fileio serve keeps much of what stalled
    // connections made it allocate after they are gone, which would skew the next row.
    drop(peers);
    let fresh = |label: String| start_peers(fileio, &root.join(label)).0;
    for &n in counts {
        let name = stalled_name(n);
        if want(&name) {
            let mut row = ServerRow::new(name);
            for p in &fresh(format!("stalled-up-{n}")) {
                match stalled(p, n, true, sent, "") {
                    Ok(c) => row.push(p.kind, c),
                    Err(e) => notes.push(format!("{}: {e}", p.kind.name())),
                }
            }
            rows.push(row);
        }
    }
    let n = stalled_downloads;
    let name = stalled_down_name;
    if want(&name) {
        let src = root.join("src-64m");
        make_file(&src, if o.smoke { MIB } else { 64 * MIB });
        let mut row = ServerRow::new(name);
        for p in &fresh(format!("stalled-down-{n}")) {
            let r = p.put_many(&src, "stall-get").and_then(|path| {
                let c = stalled(p, n, false, 0, &path);
                p.forget(&path);
                c
            });
            match r {
                Ok(c) => row.push(p.kind, c),
                Err(e) => notes.push(format!("{}: {e}", p.kind.name())),
            }
        }
        std::fs::remove_file(&src).unwrap();
        rows.push(row);
    }
    (rows, notes)
}

fn cores(cells: &[Option<&Cell>], f: fn(&Cell) -> Option<f64>) -> String {
    let v: Vec<String> = cells
        .iter()
        .map(|c| c.and_then(f).map_or("–".into(), |x| format!("{x:.2}")))
        .collect();
    v.join(" / ")
}

fn server_table(rows: &[ServerRow]) -> String {
    let mut t = String::new();
    t.push_str("| test | fileio serve | nginx | rustypaste | **fileio/nginx** | server CPU, cores (fileio / nginx / rustypaste) | client CPU, cores (same order) |\n");
    t.push_str("|---|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let cells: Vec<Option<&Cell>> = (0..3).map(|i| r.median(i)).collect();
        let text = |c: Option<&Cell>| c.map_or("–".to_string(), |c| c.text.clone());
        let ratio = match (cells[0], cells[1]) {
            (Some(f), Some(n)) if n.value > 0.0 => format!("**{:.2}**", f.value / n.value),
            _ => "–".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            text(cells[0]),
            text(cells[1]),
            text(cells[2]),
            ratio,
            cores(&cells, |c| c.server_cores),
            cores(&cells, |c| c.client_cores),
        );
    }
    t
}

/// The server targets of issue 13, each with how it went.
fn server_verdicts(rows: &[ServerRow]) -> String {
    let mut v = String::new();
    let ok = |b: bool| if b { "met" } else { "MISSED" };
    for r in rows {
        let (Some(f), n) = (r.median(0), r.median(1)) else {
            continue;
        };
        let vs_nginx = |want: f64| match n {
            Some(n) => format!(
                "≥ {want:.1}× nginx {} ({:.2}×)",
                ok(f.value >= want * n.value),
                f.value / n.value
            ),
            None => "no nginx to compare with".into(),
        };
        let line = if r.name.contains("10 KiB") {
            vs_nginx(0.5)
        } else if r.name.contains("GiB upload") || r.name.contains("GiB download") {
            vs_nginx(0.8)
        } else if r.name.contains("stalled") {
            let total_ok = if r.name.contains("1000 connections") {
                let total = f.total_kib.unwrap_or(0);
                format!(
                    "; 1,000 stalled under 300 MiB {} ({})",
                    ok(total < 300 * 1024),
                    mib(total)
                )
            } else {
                String::new()
            };
            format!(
                "≤ 256 KiB per connection {} ({:.0} KiB){total_ok}",
                ok(f.value <= 256.0),
                f.value
            )
        } else if r.name.contains("ready") {
            format!("ready in < 50 ms {} ({})", ok(f.value < 50.0), f.text)
        } else {
            continue;
        };
        let _ = writeln!(v, "- {}: {line}", r.name);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Scale-out rows: `fileio serve` embedded (SQLite + --data), on PostgreSQL + S3 as one
// instance, and as two instances behind nginx; the cluster is the tests' throwaway one, the
// S3 server moto's server mode, the nginx configuration the README's.

#[path = "../tests/cli/pg_cluster.rs"]
mod pg_cluster;

const SCALE: [&str; 3] = [
    "embedded (SQLite + --data)",
    "PostgreSQL + S3, one instance",
    "PostgreSQL + S3, two instances behind nginx",
];

const BUCKET: &str = "fileio-bench";

/// moto's credentials: it checks no signatures, but the server needs some to sign with.
const AWS_VARS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIAFILEIOBENCH00001"),
    ("AWS_SECRET_ACCESS_KEY", "bench-secret-not-a-real-one"),
    ("AWS_REGION", "us-east-1"),
];

/// moto's S3 server on a free port with the benchmark's bucket: the process and its URL.
fn start_moto(moto: &Path) -> Result<(Server, String), String> {
    let port = free_port();
    let started = Instant::now();
    let child = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", moto.display()))?;
    let server = Server { child };
    let endpoint = format!("http://127.0.0.1:{port}");
    // It binds before it serves: retry the bucket's creation until it answers.
    let limit = Duration::from_secs(30);
    loop {
        let out = curl()
            .args(["-X", "PUT"])
            .arg(format!("{endpoint}/{BUCKET}"))
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            return Ok((server, endpoint));
        }
        if started.elapsed() > limit {
            return Err(format!(
                "moto did not create the bucket within 30 s: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The README's nginx site for two instances, on our ports and without its rate limit (it
/// would cap wrk at 50 requests a second), in the configuration tests/cli/server_pg.rs wraps
/// it in.
fn nginx_conf(dir: &Path, port: u16, a: &Peer, b: &Peer) -> Result<String, String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .map_err(|e| format!("README.md: {e}"))?;
    let section = readme
        .find("### Running several instances")
        .map(|i| &readme[i..])
        .ok_or("README.md has no \"Running several instances\" section")?;
    let start = section
        .find("```nginx\n")
        .ok_or("README.md shows no nginx configuration")?
        + "```nginx\n".len();
    let end = start
        + section[start..]
            .find("```")
            .ok_or("unterminated nginx block")?;
    let site: String = section[start..end]
        .lines()
        .filter(|l| !l.contains("limit_req"))
        .map(|l| format!("{l}\n"))
        .collect();
    let site = site
        .replace("127.0.0.1:8081", &a.addr.to_string())
        .replace("127.0.0.1:8082", &b.addr.to_string())
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    if !site.contains(&a.addr.to_string()) || !site.contains(&b.addr.to_string()) {
        return Err("the README's nginx block no longer names 127.0.0.1:8081 and :8082".into());
    }
    let d = dir.display();
    Ok(format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    ))
}

/// Two instances on one database and bucket, and nginx in front: one peer whose URL is
/// nginx's and whose CPU and memory are both instances'.
fn start_pair(fileio: &Path, nginx: &Path, dir: &Path, extra: &[String]) -> Result<Peer, String> {
    let mut a = Peer::start_fileio_with(fileio, dir.join("a"), extra, &AWS_VARS)?;
    let b = Peer::start_fileio_with(fileio, dir.join("b"), extra, &AWS_VARS)?;
    let front = dir.join("nginx");
    std::fs::create_dir_all(&front).unwrap();
    let port = free_port();
    std::fs::write(front.join("nginx.conf"), nginx_conf(&front, port, &a, &b)?).unwrap();
    let started = Instant::now();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&front)
        .arg("-c")
        .arg(front.join("nginx.conf"))
        .arg("-e")
        .arg(front.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", nginx.display()))?;
    let front_server = Server { child };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    if !wait_ready(addr, started, Duration::from_secs(10)) {
        let log = std::fs::read_to_string(front.join("error.log")).unwrap_or_default();
        return Err(format!("nginx did not start: {}", log.trim()));
    }
    a.idle_kib += b.idle_kib;
    a.more.push(b.server);
    a._front = Some(front_server);
    a.addr = addr;
    a.url = format!("http://{addr}");
    Ok(a)
}

/// The three columns, each `None` with a note when what it needs is missing; the other
/// processes (the cluster, moto) live as long as the returned guard.
fn start_scale_peers(
    fileio: &Path,
    root: &Path,
) -> ([Option<Peer>; 3], Option<Server>, Vec<String>) {
    let mut notes = Vec::new();
    let embedded = Peer::start_fileio(fileio, root.join("embedded"))
        .map_err(|e| notes.push(format!("{}: {e}", SCALE[0])))
        .ok();
    let mut missing = Vec::new();
    let cluster = pg_cluster::Cluster::start("compare (scale-out rows)");
    if cluster.is_none() {
        missing.push("PostgreSQL is not installed (Debian package postgresql)");
    }
    let moto = find_program("moto_server");
    if moto.is_none() {
        missing.push("moto_server is not on PATH (pip install 'moto[server]')");
    }
    let nginx = find_program("nginx");
    if nginx.is_none() {
        missing.push("nginx is not installed (Debian package nginx-light)");
    }
    let (Some(cluster), Some(moto)) = (cluster, moto) else {
        for m in missing {
            notes.push(format!("{m}: the PostgreSQL + S3 columns are empty"));
        }
        return ([embedded, None, None], None, notes);
    };
    let (moto, endpoint) = match start_moto(&moto) {
        Ok(m) => m,
        Err(e) => {
            notes.push(format!("{e}: the PostgreSQL + S3 columns are empty"));
            return ([embedded, None, None], None, notes);
        }
    };
    let args = |db: &str, prefix: &str| -> Vec<String> {
        [
            "--database".to_string(),
            cluster.database(db),
            "--storage".into(),
            format!("s3://{BUCKET}/{prefix}"),
            "--s3-endpoint".into(),
            endpoint.clone(),
        ]
        .into()
    };
    let one = Peer::start_fileio_with(fileio, root.join("one"), &args("one", "one"), &AWS_VARS)
        .map_err(|e| notes.push(format!("{}: {e}", SCALE[1])))
        .ok();
    let two = match nginx {
        Some(nginx) => start_pair(fileio, &nginx, &root.join("two"), &args("two", "two"))
            .map_err(|e| notes.push(format!("{}: {e}", SCALE[2])))
            .ok(),
        None => {
            notes.push(format!("{}: its column is empty", missing.join("; ")));
            None
        }
    };
    // The cluster stops when this process exits (pg_cluster's watcher).
    ([embedded, one, two], Some(moto), notes)
}

fn scale_rows(
    fileio: &Path,
    root: &Path,
    o: &ServerOpts,
    want: &dyn Fn(&str) -> bool,
) -> (Vec<ServerRow>, Vec<String>) {
    let (conns, secs) = if o.smoke { (4, 1) } else { (32, 5) };
    let (label, len) = if o.smoke {
        ("1 MiB", MIB)
    } else {
        ("64 MiB", 64 * MIB)
    };
    let idle_name = "scale-out: fileio serve's RSS after start (idle; sum of instances)";
    let up_name = format!("scale-out: 10 KiB uploads, {conns} connections (wrk)");
    let down_name = format!("scale-out: 10 KiB downloads, {conns} connections (wrk)");
    let big_up_name = format!("scale-out: {label} upload (curl)");
    let big_down_name = format!("scale-out: {label} download (curl)");
    let loaded_name = "scale-out: fileio serve's RSS after the load (sum of instances)";
    let names = [
        idle_name,
        &up_name,
        &down_name,
        &big_up_name,
        &big_down_name,
        loaded_name,
    ];
    if !names.iter().any(|n| want(n)) {
        return (vec![], vec![]);
    }
    eprintln!("scale-out rows…");
    let (peers, _moto, mut notes) = start_scale_peers(fileio, root);
    let runs = o.runs.unwrap_or(if o.smoke { 1 } else { 3 });
    // Each round visits the columns in a different order, so drift hits all alike.
    let rounds = |i: usize| -> Vec<(usize, &Peer)> {
        let mut v: Vec<(usize, &Peer)> = peers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)))
            .collect();
        let len = v.len().max(1);
        v.rotate_left(i % len);
        v
    };
    let memory = |kib: u64| Cell {
        value: kib as f64,
        text: mib(kib),
        server_cores: None,
        client_cores: None,
        total_kib: Some(kib),
    };
    let mut rows = Vec::new();
    let mut idle = ServerRow::new(idle_name);
    for (i, p) in rounds(0) {
        idle.cells[i].push(memory(p.idle_kib));
    }
    rows.push(idle);

    let wrk_bin = find_program("wrk");
    if wrk_bin.is_none() && (want(&up_name) || want(&down_name)) {
        notes.push("wrk is not installed (Debian package wrk): the 10 KiB rows are empty".into());
    }
    let small = root.join("src-10k");
    make_file(&small, 10 * KIB);
    let big = root.join("src-big");
    if want(&big_up_name) || want(&big_down_name) {
        make_file(&big, len);
    }
    // Per column: the upload script and the path of a file to download over and over.
    let targets: Vec<Option<(PathBuf, String)>> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let p = p.as_ref()?;
            let script = upload_script(p, &small);
            p.put_many(&small, "small-get")
                .map(|path| (script, path))
                .map_err(|e| notes.push(format!("{}: {e}", SCALE[i])))
                .ok()
        })
        .collect();
    let [mut up, mut down, mut big_up, mut big_down] =
        [&up_name, &down_name, &big_up_name, &big_down_name].map(ServerRow::new);
    for round in 0..runs {
        for (i, p) in rounds(round) {
            let name = SCALE[i];
            if let (Some(wrk_bin), Some((script, path))) = (&wrk_bin, &targets[i]) {
                if want(&up_name) {
                    match wrk(wrk_bin, p, "/", Some(script), conns, secs) {
                        Ok(c) => up.cells[i].push(c),
                        Err(e) => notes.push(format!("{name}: {e}")),
                    }
                }
                if want(&down_name) {
                    match wrk(wrk_bin, p, path, None, conns, secs) {
                        Ok(c) => down.cells[i].push(c),
                        Err(e) => notes.push(format!("{name}: {e}")),
                    }
                }
            }
            if want(&big_up_name) || want(&big_down_name) {
                match big_transfer(p, &big, len) {
                    Ok((u, d)) => {
                        big_up.cells[i].push(u);
                        big_down.cells[i].push(d);
                    }
                    Err(e) => notes.push(format!("{name}: {e}")),
                }
            }
        }
    }
    rows.extend([up, down, big_up, big_down]);
    let _ = std::fs::remove_file(&big);
    let mut loaded = ServerRow::new(loaded_name);
    let settle = Duration::from_secs(if o.smoke { 1 } else { 10 });
    for (i, p) in rounds(0) {
        loaded.cells[i].push(memory(p.settled_rss_kib(settle)));
    }
    rows.push(loaded);
    rows.retain(|r| want(&r.name));
    (rows, notes)
}

fn scale_table(rows: &[ServerRow]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| test | {} | {} | {} | **two/one** | server CPU, cores (same order) | client CPU, cores (same order) |",
        SCALE[0], SCALE[1], SCALE[2]
    );
    t.push_str("|---|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let cells: Vec<Option<&Cell>> = (0..3).map(|i| r.median(i)).collect();
        let text = |c: Option<&Cell>| c.map_or("–".to_string(), |c| c.text.clone());
        let ratio = match (cells[2], cells[1]) {
            (Some(two), Some(one)) if one.value > 0.0 => {
                format!("**{:.2}**", two.value / one.value)
            }
            _ => "–".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            text(cells[0]),
            text(cells[1]),
            text(cells[2]),
            ratio,
            cores(&cells, |c| c.server_cores),
            cores(&cells, |c| c.client_cores),
        );
    }
    t
}

fn main() {
    let o = opts();
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is not installed: the benchmark compares fileio with it");
    }
    let b = Bench::start(o.fileio.clone());
    let idle_kib = b.server.status_kib("VmRSS:");
    let want = |name: &str| o.only.as_deref().is_none_or(|t| name.contains(t));
    let started = Instant::now();
    let mut rows = Vec::new();

    let sizes: &[(&str, u64, usize)] = if o.smoke {
        &[("64 KiB", 64 * KIB, 1)]
    } else {
        &[
            ("1 MiB", MIB, 15),
            ("64 MiB", 64 * MIB, 7),
            ("1 GiB", GIB, 5),
        ]
    };
    for &(label, len, runs) in sizes {
        if want(&format!("upload {label}")) || want(&format!("download {label}")) {
            eprintln!("{label} uploads and downloads…");
            rows.extend(transfer_rows(
                &b,
                label,
                len,
                o.runs.unwrap_or(runs),
                o.smoke,
            ));
        }
    }
    let (count, small_runs) = if o.smoke { (5, 1) } else { (200, 3) };
    if want("in a row") {
        eprintln!("{count} small uploads…");
        rows.push(small_row(&b, count, small_runs, false));
        rows.push(small_row(&b, count, small_runs, true));
    }
    let (plabel, plen, pruns) = if o.smoke {
        ("64 KiB", 64 * KIB, 1)
    } else {
        // Each run is under half a second; medians of 3 moved by ±3% between full runs.
        ("64 MiB", 64 * MIB, 9)
    };
    if want("parallel") {
        eprintln!("8 parallel uploads…");
        rows.push(parallel_row(&b, 8, plabel, plen, o.runs.unwrap_or(pruns)));
    }
    if want("busy disk") {
        eprintln!("uploads on a busy disk…");
        let (label, len, runs) = if o.smoke {
            ("64 KiB", 64 * KIB, 1)
        } else {
            // Write-back makes single runs vary two-fold: 21 runs per client, not 11, for
            // medians that move less between full runs.
            ("256 MiB", 256 * MIB, 21)
        };
        rows.extend(busy_disk_rows(
            &b,
            label,
            len,
            o.runs.unwrap_or(runs),
            o.smoke,
        ));
    }
    if want("start-up") {
        eprintln!("start-up…");
        rows.push(startup_row(&b, if o.smoke { 3 } else { 100 }));
    }

    let mut encrypted = String::new();
    if want("encrypted") {
        let (label, len, runs) = if o.smoke {
            ("64 KiB", 64 * KIB, 1)
        } else {
            ("1 GiB", GIB, 5)
        };
        eprintln!("encrypted and plain {label} uploads and downloads…");
        encrypted = encrypted_table(&b, label, len, o.runs.unwrap_or(runs), o.smoke);
    }

    let (server_rows, server_notes) = server_rows(
        &o.fileio,
        &b.path("servers"),
        &ServerOpts {
            smoke: o.smoke,
            runs: o.runs,
        },
        &want,
    );

    let (scale_rows, scale_notes) = scale_rows(
        &o.fileio,
        &b.path("scale"),
        &ServerOpts {
            smoke: o.smoke,
            runs: o.runs,
        },
        &want,
    );

    // A child spawned with vfork starts from this process's peak RSS (exec keeps it in
    // ru_maxrss): below every client's, or the RSS columns would be this process's.
    let own_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "Machine: {}.\n\n{} ({}), server `fileio serve` on 127.0.0.1 (idle RSS {}); \
         times are medians, RSS the largest of the runs (the benchmark's own peak, a floor \
         for them, was {}). Whole run: {:.0} s.\n",
        machine(),
        first_line(o.fileio.to_str().unwrap(), &["--version"]),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        },
        mib(idle_kib),
        mib(own_kib),
        started.elapsed().as_secs_f64(),
    );
    if !rows.is_empty() {
        report.push_str(&table(&rows));
        report.push('\n');
    }
    if !encrypted.is_empty() {
        report.push_str(&encrypted);
        report.push('\n');
    }
    if !server_rows.is_empty() || !server_notes.is_empty() {
        report.push_str(
            "Servers, side by side on the same machine: small requests from wrk (one thread, \
             keep-alive; uploads are multipart POSTs to fileio serve and rustypaste, WebDAV PUTs \
             of new files to nginx), big transfers from curl (download to /dev/null), stalled \
             connections from raw sockets (resident memory growth of the server and its \
             workers / connections). Rates are medians; CPU is CPU seconds per wall second.\n\n",
        );
        report.push_str(&server_table(&server_rows));
        for n in &server_notes {
            let _ = writeln!(report, "\nNote: {n}.");
        }
        report.push('\n');
    }
    if !scale_rows.is_empty() || !scale_notes.is_empty() {
        let _ = write!(
            report,
            "Scale-out, side by side: `fileio serve` embedded (SQLite and files in `--data`), on \
             PostgreSQL + S3 as one instance, and as two instances behind nginx (round robin, \
             the README's configuration without its rate limit); PostgreSQL is a throwaway \
             cluster with fsync off, S3 is moto's server mode (an in-memory Python emulator, \
             far slower than a real store: these columns show what the store costs here, not \
             what S3 can do). Loads as above ({}); server CPU and RSS are the fileio \
             instances' own, summed for two, without PostgreSQL, moto or nginx.\n\n",
            if o.smoke {
                "toy sizes"
            } else {
                "64 MiB for the big transfer"
            }
        );
        report.push_str(&scale_table(&scale_rows));
        for n in &scale_notes {
            let _ = writeln!(report, "\nNote: {n}.");
        }
        report.push('\n');
    }
    if o.smoke {
        // Verdicts on 64 KiB files and a debug build would only mislead a reader of CI's log.
        report.push_str(
            "A smoke run: files too small and builds too slow to judge the targets by; no verdicts.\n",
        );
    } else {
        report.push_str(&verdicts(&rows));
        report.push_str(&server_verdicts(&server_rows));
    }
    println!("\n{report}");
    if o.write {
        write_report(&report);
    }
}
