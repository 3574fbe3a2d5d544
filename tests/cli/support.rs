//! What every integration test needs: an isolated environment for the binary, and a real
//! `fileio serve` on a loopback port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};

use assert_cmd::Command;
use tempfile::TempDir;

/// A private HOME, config, data and cache directory for one test, so no test reads the
/// user's config, history or keyring, and none sees another's.
pub struct Env {
    pub dir: TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["home", "config", "data", "cache", "work"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Env { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The working directory commands run in.
    pub fn work(&self) -> PathBuf {
        self.path("work")
    }

    /// Writes a file under the working directory and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.work().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// `fileio` with this environment and nothing inherited that could change its behaviour.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("fileio"));
        self.isolate(cmd.env_clear_fileio());
        cmd.current_dir(self.work());
        cmd
    }

    /// The same environment for a `std::process::Command` (long-running children).
    pub fn std_cmd(&self) -> StdCommand {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin!("fileio"));
        for (k, _) in std::env::vars() {
            if k.starts_with("FILEIO_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .current_dir(self.work());
        cmd
    }

    fn isolate<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "0")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
    }
}

trait ClearFileio {
    fn env_clear_fileio(&mut self) -> &mut Self;
}

impl ClearFileio for Command {
    fn env_clear_fileio(&mut self) -> &mut Self {
        for (k, _) in std::env::vars() {
            if k.starts_with("FILEIO_") {
                self.env_remove(k);
            }
        }
        self
    }
}

/// A running `fileio serve` on 127.0.0.1, stopped when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub data: PathBuf,
    stderr_log: PathBuf,
}

impl Server {
    /// Starts `fileio serve --bind 127.0.0.1:0 --data <env>/serverdata` plus `args`.
    pub fn start(env: &Env, args: &[&str]) -> Server {
        Server::start_with_data(env, &env.path("serverdata"), args)
    }

    pub fn start_with_data(env: &Env, data: &Path, args: &[&str]) -> Server {
        let log = env.path(&format!("serve-{}.log", rand_suffix()));
        let mut child = env
            .std_cmd()
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fileio serve");
        // The server announces its address as the first line on stderr; the rest of its log
        // goes to a file the test can read.
        let stderr = child.stderr.take().unwrap();
        let mut reader = BufReader::new(stderr);
        let mut first = String::new();
        reader.read_line(&mut first).expect("read serve banner");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in serve banner: {first:?}"))
            .to_string();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut out = std::fs::File::create(&log_path).unwrap();
            let _ = std::io::copy(&mut reader, &mut out);
        });
        Server {
            child,
            url,
            data: data.to_path_buf(),
            stderr_log: log,
        }
    }

    /// What the server has logged so far (after its banner).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Stops the server the way a service manager would (SIGTERM) and waits for it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        #[cfg(unix)]
        {
            let _ = StdCommand::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            for _ in 0..100 {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return status;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
