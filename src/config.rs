//! Settings: a flag beats its environment variable (clap handles those two), which beats the
//! config file, which beats the built-in default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use clap::builder::FalseyValueParser;
use serde::Deserialize;

use crate::credentials::{self, KeySource, StoreChoice};
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::http::{Http, HttpOptions};
use crate::secret::Secret;
use crate::services::{Api, Service, ServiceConfig};

/// Options every command takes: the settings a flag (or its FILEIO_* variable) gives,
/// which beat the config file.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    // The help text names the services of the registry (crate::services::SERVICES).
    #[arg(long, global = true, env = "FILEIO_SERVICE", value_name = "NAME",
          help = crate::services::service_help(),
          value_parser = crate::known::Known::services(), hide_possible_values = true)]
    pub service: Option<String>,

    /// Talk to the server at this base URL instead of the service's own, e.g.
    /// http://127.0.0.1:8080 for `fileio serve`
    #[arg(long, global = true, env = "FILEIO_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Print results as JSON on standard output, one value per line: upload and update an
    /// object per file, delete an object per key, list, history and services one array, info,
    /// me and auth status one object (download prints the saved path either way)
    #[arg(long, global = true, env = "FILEIO_JSON", value_parser = FalseyValueParser::new())]
    pub json: bool,

    /// Print only the result: no summary, hints or progress
    #[arg(short, long, global = true, env = "FILEIO_QUIET", value_parser = FalseyValueParser::new())]
    pub quiet: bool,

    /// Log requests and responses on stderr, secrets redacted
    #[arg(short, long, global = true, env = "FILEIO_VERBOSE", value_parser = FalseyValueParser::new())]
    pub verbose: bool,

    /// Never draw progress bars
    #[arg(long, global = true, env = "FILEIO_NO_PROGRESS", value_parser = FalseyValueParser::new())]
    pub no_progress: bool,

    /// Give up on a request that makes no progress for this many seconds [default: 30]
    #[arg(long, global = true, env = "FILEIO_TIMEOUT", value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload
    /// is sent again only after a connect error or a 429 or 503, so it is never stored twice
    /// [default: 3]
    #[arg(long, global = true, env = "FILEIO_RETRIES", value_name = "N")]
    pub retries: Option<u32>,

    /// Read the API key from the first line of this file (e.g. a CI secret file); beats
    /// FILEIO_API_KEY and the keyring
    #[arg(long, global = true, env = "FILEIO_API_KEY_FILE", value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// Do not record uploads in the local history
    #[arg(long, global = true, env = "FILEIO_NO_HISTORY", value_parser = FalseyValueParser::new())]
    pub no_history: bool,

    /// Read settings from this TOML file instead of config.toml in the user's config directory
    #[arg(long, global = true, env = "FILEIO_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

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
    /// Encrypt every upload as `--encrypt` does (`--no-encrypt` overrides it).
    pub encrypt: Option<bool>,
    /// `upload --resumable-above`: a size, or "never".
    pub resumable_above: Option<String>,
    /// The uncertain details of the services (`[services]`).
    #[serde(default)]
    pub services: ServiceConfig,
}

/// Files larger than this go up resumably by default, where the server offers it: below it a
/// cut upload costs little to send again, and one request is quicker than four.
pub const DEFAULT_RESUMABLE_ABOVE: u64 = 64 << 20;

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
            .hint("keys: service, server, expires, max-downloads, timeout, retries, jobs, credential-store, history, encrypt, resumable-above, [services]")
            .into()
        })
    }
}

/// Everything a command needs to know about how to talk to a service.
#[derive(Debug, Clone)]
pub struct Settings {
    pub service: &'static dyn Service,
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
    /// The config file's `encrypt = true`: uploads encrypted unless `--no-encrypt`.
    pub default_encrypt: bool,
    /// Files larger than this go up resumably where the server offers it (the config's
    /// `resumable-above`, else 64 MiB); `None`: never.
    pub resumable_above: Option<u64>,
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
        let service = crate::services::find(&service_name)?;
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
        let resumable_above = match &file.resumable_above {
            Some(s) => {
                s.parse::<crate::size::Threshold>()
                    .map_err(|e| {
                        Failure::new(Kind::Usage, format!("config file: resumable-above: {e}"))
                    })?
                    .0
            }
            None => Some(DEFAULT_RESUMABLE_ABOVE),
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
            default_encrypt: file.encrypt.unwrap_or(false),
            resumable_above,
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

    /// The HTTP client these settings call for.
    pub fn http(&self) -> Result<Http> {
        Http::new(&HttpOptions {
            timeout: self.timeout,
            retries: self.retries,
            verbose: self.verbose,
            quiet: self.quiet,
        })
    }

    /// What a call to the service needs, with `key` if there is one.
    pub fn api<'a>(&'a self, http: &'a Http, key: Option<&'a Secret>) -> Api<'a> {
        Api {
            http,
            service: self.service,
            server: &self.server,
            key,
            config: &self.services,
            quiet: self.quiet,
            tus_endpoint: Default::default(),
        }
    }

    /// The key a command on this service needs: none where the service takes no account
    /// keys (0x0), else the key in use (exit 3 when missing).
    pub fn key_for_management(&self) -> Result<Option<Secret>> {
        match self.service.capabilities(&self.services).auth {
            crate::services::AuthScheme::None => Ok(None),
            _ => self.require_api_key().map(Some),
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
