//! Settings: a flag beats its environment variable (clap handles those two), which beats the
//! config file, which beats the built-in default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::credentials::{self, KeySource, StoreChoice};
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::secret::Secret;
use crate::services::{ServiceConfig, ServiceKind};

/// The config file's keys. Unknown keys are refused so that a typo is noticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    pub service: Option<String>,
    pub server: Option<String>,
    pub expires: Option<String>,
    pub max_downloads: Option<u32>,
    pub timeout: Option<u64>,
    pub retries: Option<u32>,
    pub jobs: Option<usize>,
    pub credential_store: Option<String>,
    pub history: Option<bool>,
    /// The uncertain details of the services (`[services]`).
    #[serde(default)]
    pub services: ServiceConfig,
}

/// Where the config file lives when `--config` is not given.
pub fn default_config_path() -> Option<PathBuf> {
    crate::dirs::project().map(|d| d.config_dir().join("config.toml"))
}

impl ConfigFile {
    /// Reads `--config PATH` (which must exist) or the default file (which may not).
    pub fn load(explicit: Option<&Path>) -> Result<ConfigFile> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_config_path() {
                Some(p) => (p, false),
                None => return Ok(ConfigFile::default()),
            },
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(ConfigFile::default());
            }
            Err(e) => {
                return Err(Failure::new(
                    Kind::LocalFile,
                    format!("cannot read config file {}: {e}", path.display()),
                )
                .into());
            }
        };
        toml::from_str(&text).map_err(|e| {
            let first = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            Failure::new(
                Kind::Usage,
                format!("config file {} is invalid: {first}", path.display()),
            )
            .hint("keys: service, server, expires, max-downloads, timeout, retries, jobs, credential-store, history, [services]")
            .into()
        })
    }
}

/// Everything a command needs to know about how to talk to a service.
#[derive(Debug, Clone)]
pub struct Settings {
    pub service: ServiceKind,
    /// Base URL without a trailing slash.
    pub server: String,
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub progress: bool,
    pub timeout: Duration,
    pub retries: u32,
    pub default_expires: Option<Expires>,
    pub default_max_downloads: Option<u32>,
    pub default_jobs: Option<usize>,
    pub api_key_file: Option<PathBuf>,
    pub credential_store: StoreChoice,
    pub history: bool,
    pub services: ServiceConfig,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs) -> Result<Settings> {
        let file = ConfigFile::load(global.config.as_deref())?;
        let service_name = global
            .service
            .clone()
            .or(file.service.clone())
            .unwrap_or_else(|| "fileio".into());
        let service: ServiceKind = service_name.parse()?;
        let server = global
            .server
            .clone()
            .or(file.server.clone())
            .unwrap_or_else(|| service.default_base_url().to_string());
        let server = normalize_base_url(&server)?;
        let default_expires = match &file.expires {
            Some(s) => Some(
                s.parse::<Expires>()
                    .map_err(|e| Failure::new(Kind::Usage, format!("config file: {e}")))?,
            ),
            None => None,
        };
        if file.max_downloads == Some(0) {
            return Err(
                Failure::new(Kind::Usage, "config file: max-downloads must be at least 1").into(),
            );
        }
        let store = std::env::var("FILEIO_CREDENTIAL_STORE")
            .ok()
            .or(file.credential_store.clone());
        let credential_store = match store {
            Some(s) => s.parse::<StoreChoice>()?,
            None => StoreChoice::default(),
        };
        let stderr_tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Ok(Settings {
            service,
            server,
            json: global.json,
            quiet: global.quiet,
            verbose: global.verbose,
            progress: stderr_tty && !global.quiet && !global.json && !global.no_progress,
            timeout: Duration::from_secs(global.timeout.or(file.timeout).unwrap_or(30).max(1)),
            retries: global.retries.or(file.retries).unwrap_or(3),
            default_expires,
            default_max_downloads: file.max_downloads,
            default_jobs: file.jobs,
            api_key_file: global.api_key_file.clone(),
            credential_store,
            history: !global.no_history && file.history.unwrap_or(true),
            services: file.services.clone(),
        })
    }

    /// The keyring account of this service and server.
    pub fn account(&self) -> String {
        credentials::account(self.service.name(), &self.server)
    }

    /// The API key in use and where it came from, if there is one.
    pub fn api_key(&self) -> Result<Option<(Secret, KeySource)>> {
        credentials::lookup(
            self.api_key_file.as_deref(),
            self.credential_store,
            &self.account(),
        )
    }

    /// The API key, for a command that cannot work without one (exit 3 when missing).
    pub fn require_api_key(&self) -> Result<Secret> {
        match self.api_key()? {
            Some((k, _)) => Ok(k),
            None => Err(credentials::missing_key(&self.server).into()),
        }
    }

    /// Whether human-oriented notes (summaries, hints) go to stderr.
    pub fn chatty(&self) -> bool {
        !self.quiet && !self.json
    }
}

/// Checks a `--server` value and drops any trailing slash.
fn normalize_base_url(s: &str) -> Result<String> {
    let url = reqwest::Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            Failure::new(Kind::Usage, format!("invalid server URL '{s}'"))
                .hint("give a base URL such as http://127.0.0.1:8080 or https://files.example.com")
        })?;
    Ok(url.as_str().trim_end_matches('/').to_string())
}
