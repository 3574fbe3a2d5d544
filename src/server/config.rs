//! The server's settings ([`Options`]), which `fileio serve` builds from its flags, and the
//! types of the values they hold.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::expires::{Expires, Unit};
use crate::secret::Secret;

/// How long a download's lease lasts unless renewed; it is renewed three times as often.
pub const LEASE: Duration = Duration::from_secs(60);
/// How long resumable uploads are kept by default.
pub const TUS_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// The longest --tus-expiry: an object store's multipart upload that no metadata refers to
/// (an instance killed between starting it and recording it) is aborted once it is older.
pub const TUS_EXPIRY_MAX_HOURS: u64 = 7 * 24;
const _: () = assert!(TUS_EXPIRY_MAX_HOURS * 3600 < crate::server::s3::TUS_ABANDONED.as_secs());

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
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub bind: String,
    /// The database, and the files unless `storage` is given.
    pub data: PathBuf,
    /// The files in an S3-compatible object store instead of `data/blobs`.
    pub storage: Option<crate::server::s3::S3Location>,
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
    /// Serve the browser pages (upload page, landing pages); off with --no-web.
    pub web: bool,
    /// PostgreSQL for the metadata, shared with other instances; `None`: SQLite in `data`.
    pub database: Option<Secret>,
    /// How long a download's lease lasts unless renewed (how soon a killed instance's
    /// downloads count again).
    pub lease: Duration,
    /// With --database and files under `data`: how long a staging file stays unchanged
    /// before a sweep takes it for a killed instance's.
    pub staging_abandoned: Duration,
    /// How long a resumable (tus) upload is kept after its creation: unfinished, its bytes
    /// are then swept; finished, its URL stops giving the link.
    pub tus_expiry: Duration,
}

impl Options {
    /// The settings `fileio serve` has with no flags, storing under `data` (what tests and
    /// embedders start from; a test in commands::serve keeps the two in step).
    pub fn new(data: PathBuf) -> Options {
        Options {
            bind: "127.0.0.1:8080".to_string(),
            data,
            storage: None,
            key_hashes: HashSet::new(),
            max_size: None,
            max_storage: None,
            max_expiry: None,
            rate_limit: None,
            public_url: None,
            require_auth: RequireAuth::Off,
            sweep_interval: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_connections: 1024,
            web: true,
            database: None,
            lease: LEASE,
            staging_abandoned: crate::server::blobs::STAGING_ABANDONED,
            tus_expiry: TUS_EXPIRY,
        }
    }

    /// The expiry used when a request gives none: 14 days, or the maximum if shorter.
    pub fn default_expires(&self, now: chrono::DateTime<chrono::Utc>) -> Expires {
        let fourteen = Expires::Period {
            count: 14,
            unit: Unit::Days,
        };
        match self.max_expiry {
            Some(max) => {
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
