//! fileio against curl, on one loopback `fileio serve`, in one run.
//!
//! `cargo bench --bench compare` builds the release binary, starts `fileio serve` on
//! 127.0.0.1 with a temporary data directory, times uploads and downloads of 1 MiB, 64 MiB
//! and 1 GiB files, 200 small uploads in a row, 8 parallel 64 MiB uploads and start-up, with
//! each client's peak RSS (from `wait4`) and the server's (VmHWM, reset before every run),
//! prints the table and writes it into BENCHMARKS.md between its markers.
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

impl Bench {
    fn start(fileio: PathBuf) -> Bench {
        let dir = tempfile::Builder::new()
            .prefix("fileio-bench-")
            .tempdir_in(std::env::temp_dir())
            .expect("cannot create a temporary directory");
        for d in ["home", "config", "data", "cache", "server", "out"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let mut child = Command::new(&fileio)
            .args(["serve", "--bind", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("server"))
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
        if r.name.starts_with("upload") || r.name.starts_with("download") {
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
        ("64 MiB", 64 * MIB, 3)
    };
    if want("parallel") {
        eprintln!("8 parallel uploads…");
        rows.push(parallel_row(&b, 8, plabel, plen, o.runs.unwrap_or(pruns)));
    }
    if want("start-up") {
        eprintln!("start-up…");
        rows.push(startup_row(&b, if o.smoke { 3 } else { 100 }));
    }

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
    report.push_str(&table(&rows));
    report.push('\n');
    if o.smoke {
        // Verdicts on 64 KiB files and a debug build would only mislead a reader of CI's log.
        report.push_str(
            "A smoke run: files too small and builds too slow to judge the targets by; no verdicts.\n",
        );
    } else {
        report.push_str(&verdicts(&rows));
    }
    println!("\n{report}");
    if o.write {
        write_report(&report);
    }
}
