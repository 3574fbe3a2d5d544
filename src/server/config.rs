//! The server's settings, checked once at start-up from `fileio serve`'s flags.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::commands::serve::ServeArgs;
use crate::error::{Failure, Kind};
use crate::expires::{Expires, Unit};
use crate::server::auth::hash_key;

/// At most `requests` requests per `window` from one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl FromStr for RateLimit {
    type Err = String;

    /// `60/min`, `5/s`, `1000/h`, or a bare number of requests per minute.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "invalid rate limit '{s}': use a number of requests per window, such as 60/min, 5/s or 1000/h"
            )
        };
        let t = s.trim();
        let (n, unit) = t.split_once('/').unwrap_or((t, "min"));
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        if requests == 0 {
            return Err(bad());
        }
        let window = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        Ok(RateLimit {
            requests,
            window: Duration::from_secs(window),
        })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.window.as_secs() {
            1 => "s",
            3600 => "h",
            _ => "min",
        };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// Which requests need an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequireAuth {
    /// None: anyone may upload; listing and managing always need a key.
    #[default]
    Off,
    /// Uploads need a key; downloads stay open to anyone with the link.
    Uploads,
    /// Every request needs a key, downloads included.
    All,
}

impl FromStr for RequireAuth {
    type Err = String;

    /// `uploads` or `all`; `true`/`1`/`yes`/`on` mean uploads, `false`/`0`/`no`/`off` none.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uploads" | "true" | "1" | "yes" | "on" => Ok(RequireAuth::Uploads),
            "all" => Ok(RequireAuth::All),
            "none" | "false" | "0" | "no" | "off" | "" => Ok(RequireAuth::Off),
            _ => Err(format!(
                "invalid value '{s}': use uploads (downloads stay open) or all (downloads need a key too)"
            )),
        }
    }
}

/// Everything the server needs to know, validated.
#[derive(Debug)]
pub struct Config {
    pub bind: String,
    pub data: PathBuf,
    /// SHA-256 hex digests of the accepted API keys; the keys themselves are not kept.
    pub key_hashes: HashSet<String>,
    pub max_size: Option<u64>,
    pub max_storage: Option<u64>,
    /// The longest expiry allowed, as a period.
    pub max_expiry: Option<Expires>,
    pub rate_limit: Option<RateLimit>,
    /// Base of the links, without a trailing slash.
    pub public_url: Option<String>,
    pub require_auth: RequireAuth,
    pub sweep_interval: Duration,
    /// The longest wait for a request head.
    pub header_timeout: Duration,
    /// The longest a connection may receive nothing while a body or a request is awaited.
    pub body_timeout: Duration,
    /// The longest a client may accept nothing of a response.
    pub send_timeout: Duration,
    /// The most connections open at once (before the open-file limit is taken into account).
    pub max_connections: usize,
}

fn usage(message: String) -> anyhow::Error {
    Failure::new(Kind::Usage, message).into()
}

impl Config {
    pub fn from_args(args: ServeArgs) -> Result<Config> {
        let data = match args.data {
            Some(d) => d,
            None => directories::ProjectDirs::from("", "", "fileio")
                .context("cannot find the user's data directory: pass --data DIR")?
                .data_dir()
                .join("server"),
        };

        let mut keys: Vec<String> = args.api_keys;
        if let Ok(env) = std::env::var("FILEIO_SERVE_API_KEYS") {
            keys.extend(env.split(',').map(str::to_string));
        }
        if let Some(file) = &args.api_keys_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                usage(format!(
                    "cannot read the API keys file {}: {e}",
                    file.display()
                ))
            })?;
            keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        let mut key_hashes = HashSet::new();
        for key in keys {
            let key = key.trim();
            if key.is_empty() {
                continue;
            }
            if key.contains(char::is_whitespace) || key.contains(':') {
                return Err(usage(
                    "an API key may not contain spaces or ':': use letters, digits and punctuation such as . - _"
                        .to_string(),
                ));
            }
            key_hashes.insert(hash_key(key));
        }
        let require_auth = args.require_auth.unwrap_or_default();
        if require_auth != RequireAuth::Off && key_hashes.is_empty() {
            return Err(usage(
                "--require-auth needs at least one API key: pass --api-key, --api-keys-file or FILEIO_SERVE_API_KEYS"
                    .to_string(),
            ));
        }

        let max_expiry = match args.max_expiry {
            None => None,
            Some(s) => match Expires::parse_classic(&s) {
                Ok(e @ Expires::Period { .. }) => Some(e),
                _ => {
                    return Err(usage(format!(
                        "invalid --max-expiry '{s}': use a period such as 30m, 12h, 7d, 2w, 6M or 1y"
                    )));
                }
            },
        };

        let public_url = args
            .public_url
            .map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(u) = &public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(usage(format!(
                    "invalid --public-url '{u}': use an http:// or https:// URL such as https://files.example.com"
                )));
            }
        }
        if args.sweep_interval == 0 {
            return Err(usage(
                "--sweep-interval must be at least 1 second".to_string(),
            ));
        }
        for (flag, secs) in [
            ("--header-timeout", args.header_timeout),
            ("--body-timeout", args.body_timeout),
            ("--send-timeout", args.send_timeout),
        ] {
            if secs == 0 {
                return Err(usage(format!(
                    "{flag} must be at least 1 second: give a number of seconds such as 10 or 60"
                )));
            }
        }
        if args.max_connections == 0 {
            return Err(usage(
                "--max-connections must be at least 1: give a number such as 1024".to_string(),
            ));
        }

        Ok(Config {
            bind: args.bind,
            data,
            key_hashes,
            max_size: args.max_size.map(|s| s.0),
            max_storage: args.max_storage.map(|s| s.0),
            max_expiry,
            rate_limit: args.rate_limit,
            public_url,
            require_auth,
            sweep_interval: Duration::from_secs(args.sweep_interval),
            header_timeout: Duration::from_secs(args.header_timeout),
            body_timeout: Duration::from_secs(args.body_timeout),
            send_timeout: Duration::from_secs(args.send_timeout),
            max_connections: args.max_connections,
        })
    }

    /// The expiry used when a request gives none: 14 days, or the maximum if shorter.
    pub fn default_expires(&self) -> Expires {
        let fourteen = Expires::Period {
            count: 14,
            unit: Unit::Days,
        };
        match self.max_expiry {
            Some(max) => {
                let now = chrono::Utc::now();
                if max.resolve(now) < fourteen.resolve(now) {
                    max
                } else {
                    fourteen
                }
            }
            None => fourteen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse() {
        let r: RateLimit = "60/min".parse().unwrap();
        assert_eq!((r.requests, r.window.as_secs()), (60, 60));
        assert_eq!(r.to_string(), "60/min");
        let r: RateLimit = "5/s".parse().unwrap();
        assert_eq!((r.requests, r.window.as_secs()), (5, 1));
        let r: RateLimit = "10".parse().unwrap();
        assert_eq!((r.requests, r.window.as_secs()), (10, 60));
        assert_eq!("100/h".parse::<RateLimit>().unwrap().to_string(), "100/h");
        for bad in ["", "0/min", "x/min", "5/day", "-1"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }
}
