//! `fileio serve`: the file.io-compatible server (see `crate::server`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::server::Options;
use crate::server::auth::hash_key;
use crate::server::config::{RateLimit, RequireAuth};
use crate::server::s3::{S3Location, check_endpoint};
use crate::size::ByteSize;

/// Run a file.io-compatible server.
///
/// Answers the file.io v2 API (upload, download, list, me, update, delete) and everything
/// third-party file.io clients send. Metadata lives in SQLite (or PostgreSQL with --database),
/// files on disk under --data or in an S3-compatible object store (--storage).
#[derive(Debug, Args)]
#[command(next_help_heading = "Server options")]
#[command(after_long_help = "\
The server answers the file.io v2 API (upload, download, list, me, update, delete) and what \
third-party file.io clients send. Metadata lives in SQLite, files on disk under --data (kept \
private: 0700 and 0600) or, with --storage s3://BUCKET/PREFIX, in an S3-compatible object store: \
uploads stream to it in 5 MiB multipart parts and downloads stream from it through the server; \
if it cannot be reached at start the server does not start, and later requests get 503 with \
Retry-After until it is back. With --database, the metadata lives in PostgreSQL instead, and several \
instances sharing that database and the files (one --storage bucket, or one --data directory) behind \
one load balancer behave as one server (README.md, \"Running several instances\"). \
Anyone who can reach the address may upload unless --require-auth is \
given (it warns when listening beyond loopback without it); --require-auth=all makes downloads \
need a key too. The keys from --api-key, --api-keys-file and FILEIO_SERVE_API_KEYS are the \
accounts. SIGINT or SIGTERM stops it cleanly.

Limits against slow or hostile clients: a request head must arrive within --header-timeout; a \
connection that receives nothing for --body-timeout is closed (a stalled upload is removed); a \
download the client accepts nothing of for --send-timeout is dropped and a one-time file \
becomes downloadable again; at most --max-connections at once, below the open-file limit \
(raised to its hard maximum at start). A form may hold at most 64 parts, 64 KiB of fields \
besides the file and 64 KiB of part headers; --max-size bounds the whole request.

Browsers get pages: an upload page at / and, at each link, a landing page with the file's name, size, expiry, downloads left and a Download button; link-preview fetchers (Slack, Teams, Discord, iMessage...) get that page too, so a preview never spends a one-time link. curl, wget and API clients get JSON and the bytes as before. --no-web turns the pages off.

Examples:
  Try the client offline, in two shells:
    fileio serve --data /tmp/fileio-data
    FILEIO_SERVER=http://127.0.0.1:8080 fileio upload notes.txt

  Files in a MinIO bucket, with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment:
    fileio serve --data /var/lib/fileio --storage s3://fileio/files \\
      --s3-endpoint http://127.0.0.1:9000

  Behind a reverse proxy that serves https://files.example.com, keys one per line in a file:
    fileio serve --bind 127.0.0.1:8080 --public-url https://files.example.com \\
      --api-keys-file /etc/fileio/keys --require-auth --max-size 2GiB")]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the banner on stderr shows the real one)
    #[arg(
        long,
        env = "FILEIO_BIND",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: String,

    /// Directory for the database and, without --storage, the stored files
    /// [default: <user data dir>/fileio/server]
    #[arg(long, env = "FILEIO_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Keep the files in an S3-compatible object store (AWS S3, MinIO, Garage, Ceph, R2…)
    /// under s3://BUCKET/PREFIX instead of under --data (which keeps the database).
    /// Credentials come from the standard AWS_* variables (AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN…), never from flags [default: --data]
    #[arg(long, env = "FILEIO_STORAGE", value_name = "URL")]
    pub storage: Option<S3Location>,

    /// The object store's URL, e.g. http://127.0.0.1:9000 for MinIO
    /// [default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL", requires = "storage")]
    pub s3_endpoint: Option<String>,

    /// The object store's region [default: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1]
    #[arg(long, value_name = "REGION", requires = "storage")]
    pub s3_region: Option<String>,

    /// Seconds an upload's lease in the object store lasts unless renewed; at start,
    /// pending multipart uploads whose lease ran out are aborted (for tests)
    #[arg(long, value_name = "SECS", default_value_t = 600, hide = true)]
    pub s3_upload_lease: u64,

    /// Accept this API key (repeatable); keys are also read from FILEIO_SERVE_API_KEYS
    /// (comma-separated), which keeps them out of the process list
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,

    /// Accept the API keys listed in FILE, one per line (`#` comments and blank lines ignored)
    #[arg(long, env = "FILEIO_SERVE_API_KEYS_FILE", value_name = "FILE")]
    pub api_keys_file: Option<PathBuf>,

    /// Refuse uploads larger than SIZE (e.g. 100MB, 2GiB) with 413 [default: unlimited]
    #[arg(long, env = "FILEIO_MAX_SIZE", value_name = "SIZE")]
    pub max_size: Option<ByteSize>,

    /// Limit the bytes stored per API key (anonymous uploads share one allowance) [default: unlimited]
    #[arg(long, env = "FILEIO_MAX_STORAGE", value_name = "SIZE")]
    pub max_storage: Option<ByteSize>,

    /// Refuse expiries further away than PERIOD (e.g. 30d, 1y); the default of 14 days is
    /// shortened to it [default: unlimited]
    #[arg(long, env = "FILEIO_MAX_EXPIRY", value_name = "PERIOD")]
    pub max_expiry: Option<String>,

    /// Allow each client address N requests per window, e.g. 60/min, 5/s, 1000/h; the browser
    /// pages' assets are counted apart, up to 10×N (at least 100) [default: unlimited]
    #[arg(long, env = "FILEIO_RATE_LIMIT", value_name = "N/min")]
    pub rate_limit: Option<RateLimit>,

    /// Base URL for the links in answers when behind a reverse proxy, e.g. https://files.example.com
    /// [default: http://<Host header>]
    #[arg(long, env = "FILEIO_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Refuse uploads without an API key, downloads staying open to anyone with the link
    /// (`--require-auth`, or `=uploads`); or refuse every request without one, downloads
    /// included (`--require-auth=all`). Listing and managing files always need a key
    #[arg(
        long,
        env = "FILEIO_REQUIRE_AUTH",
        value_name = "WHAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "uploads",
        value_parser = require_auth_parser(),
    )]
    pub require_auth: Option<RequireAuth>,

    /// Close a connection whose request head (the first, or the next one on a kept-alive
    /// connection) has not arrived in full after SECS seconds
    #[arg(
        long,
        env = "FILEIO_HEADER_TIMEOUT",
        value_name = "SECS",
        default_value_t = 10
    )]
    pub header_timeout: u64,

    /// Abandon a request whose body sends nothing for SECS seconds (its partial upload is
    /// removed)
    #[arg(
        long,
        env = "FILEIO_BODY_TIMEOUT",
        value_name = "SECS",
        default_value_t = 60
    )]
    pub body_timeout: u64,

    /// Drop a download whose client accepts no bytes for SECS seconds; a one-time file it
    /// held becomes downloadable again
    #[arg(
        long,
        env = "FILEIO_SEND_TIMEOUT",
        value_name = "SECS",
        default_value_t = 60
    )]
    pub send_timeout: u64,

    /// Serve at most N connections at once; more wait to be accepted. Kept below the open-file
    /// limit, which is raised to its hard maximum at start
    #[arg(
        long,
        env = "FILEIO_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 1024
    )]
    pub max_connections: usize,

    /// Serve no browser pages: `/` and `/{key}` answer every client as the API does (JSON
    /// and the file's bytes)
    #[arg(long, env = "FILEIO_NO_WEB", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_web: bool,

    /// Keep the metadata in this PostgreSQL database instead of SQLite in --data, so that
    /// several instances can share it, e.g. postgres://fileio@db.example/fileio. Give a
    /// password through FILEIO_DATABASE_URL, not this flag (other users can see a
    /// command's arguments). The files stay in --data (or --storage), which the instances
    /// must share
    #[arg(
        long,
        env = "FILEIO_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: Option<String>,

    /// Hours a resumable (tus) upload is kept after it starts: an unfinished one is then
    /// deleted with its bytes, a finished one's upload URL stops answering (at most 168)
    #[arg(
        long,
        env = "FILEIO_TUS_EXPIRY",
        value_name = "HOURS",
        default_value_t = 24
    )]
    pub tus_expiry: u64,

    /// Seconds between sweeps that delete expired files (for tests)
    #[arg(long, value_name = "SECS", default_value_t = 60, hide = true)]
    pub sweep_interval: u64,

    /// Seconds a download's lease lasts unless renewed: how soon a download held by a killed
    /// instance counts again (for tests)
    #[arg(long, value_name = "SECS", default_value_t = 60, hide = true)]
    pub lease: u64,

    /// With --database and the files under --data: seconds a partial upload's file in tmp/
    /// stays unchanged before a sweep removes it as a killed instance's (for tests)
    #[arg(long, value_name = "SECS", default_value_t = 3600, hide = true)]
    pub staging_lease: u64,

    #[command(subcommand)]
    pub command: Option<ServeCommand>,
}

/// What `fileio serve` does besides serving.
#[derive(Debug, clap::Subcommand)]
pub enum ServeCommand {
    /// Move a single-machine server's files and metadata to PostgreSQL, an S3-compatible
    /// object store, or both
    Migrate(MigrateArgs),
}

/// Move a single-machine server's files and metadata to PostgreSQL and an object store.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Copies every file of the server whose --data directory is DIR (its fileio.db and blobs/) into \
the PostgreSQL database of --database and the bucket of --storage, or into one of them (the \
other staying in DIR): keys, owners (API keys), download counts, limits, expiry and times \
are kept, so every link and one-time link works as before, and /me reports the same usage. \
Stop the server first. Contents stream from disk to the bucket under the same names; a file's \
record is written only once its contents are there. Nothing in DIR is changed or deleted.

If it is cut off, run the same command again: what is already in the target is skipped. A \
target that holds other files is refused unless --merge is given; a file whose key is taken \
there is never moved and makes the command fail after the others. Expired and used-up files \
stay behind. Then start the servers with the same --database and --storage (and the same API \
keys), and with --data pointing elsewhere, or at DIR if the files stay there.

Example:
  export FILEIO_DATABASE_URL='postgres://fileio:PASSWORD@db.example/fileio'
  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  fileio serve migrate --from /var/lib/fileio --storage s3://fileio/files")]
pub struct MigrateArgs {
    /// The data directory of the server to move (its --data)
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,

    /// The PostgreSQL database to move the metadata into [default: keep SQLite in DIR]
    #[arg(
        long,
        env = "FILEIO_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: Option<String>,

    /// The object store to move the files into, as s3://BUCKET/PREFIX; credentials from the
    /// AWS_* variables [default: keep the files in DIR]
    #[arg(long, env = "FILEIO_STORAGE", value_name = "URL")]
    pub storage: Option<S3Location>,

    /// The object store's URL [default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL", requires = "storage")]
    pub s3_endpoint: Option<String>,

    /// The object store's region [default: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1]
    #[arg(long, value_name = "REGION", requires = "storage")]
    pub s3_region: Option<String>,

    /// Add the files to a database or bucket that already holds other files
    #[arg(long)]
    pub merge: bool,
}

/// `uploads` and `all`, plus the boolean words the variable accepted before there was a choice.
fn require_auth_parser() -> impl clap::builder::TypedValueParser<Value = RequireAuth> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let hidden = ["true", "false", "1", "0", "yes", "no", "on", "off", "none"]
        .map(|v| PossibleValue::new(v).hide(true));
    PossibleValuesParser::new(
        [
            PossibleValue::new("uploads").help("uploads need a key, downloads stay open"),
            PossibleValue::new("all").help("every request needs a key, downloads included"),
        ]
        .into_iter()
        .chain(hidden),
    )
    .map(|v| v.parse::<RequireAuth>().unwrap_or(RequireAuth::Uploads))
}

/// Builds the configuration, then runs the server on its own runtime until SIGINT/SIGTERM;
/// or runs `fileio serve migrate`.
pub fn run(mut args: ServeArgs) -> Result<()> {
    match args.command.take() {
        Some(ServeCommand::Migrate(m)) => migrate(m),
        None => crate::server::run(options(args)?),
    }
}

fn migrate(args: MigrateArgs) -> Result<()> {
    let storage = match args.storage {
        Some(location) => Some(s3_location(
            location,
            args.s3_endpoint,
            args.s3_region,
            crate::server::s3::UPLOAD_LEASE.as_secs(),
        )?),
        None => None,
    };
    let from = args.from.clone();
    let report = crate::server::migrate::run(crate::server::migrate::Migration {
        from: args.from,
        database: args.database.map(crate::secret::Secret::new),
        storage,
        merge: args.merge,
    })?;
    println!(
        "migrated {} files ({}) from {}; {} were already there; {} expired or used up were left behind",
        report.moved,
        ByteSize(report.bytes),
        from.display(),
        report.present,
        report.spent
    );
    if !report.missing.is_empty() {
        eprintln!(
            "fileio: warning: {} files have no contents in {} (lost before the migration), not moved: {}",
            report.missing.len(),
            from.display(),
            report.missing.join(" ")
        );
    }
    if !report.taken.is_empty() {
        return Err(Failure::new(
            Kind::Other,
            format!(
                "{} files were not moved: their keys are taken in the target by other files: {}",
                report.taken.len(),
                report.taken.join(" ")
            ),
        )
        .hint("their links cannot keep working there: serve them from the old server, or move them to an empty target")
        .into());
    }
    Ok(())
}

fn usage(message: String) -> anyhow::Error {
    Failure::new(Kind::Usage, message).into()
}

/// Checks the flags into the server's [`Options`]: reads the keys (from the flags, the
/// environment and the keys file) and keeps only their digests.
fn options(args: ServeArgs) -> Result<Options> {
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
    if !(1..=crate::server::config::TUS_EXPIRY_MAX_HOURS).contains(&args.tus_expiry) {
        return Err(usage(format!(
            "--tus-expiry must be between 1 and {} hours: give a number of hours such as 24",
            crate::server::config::TUS_EXPIRY_MAX_HOURS
        )));
    }
    if args.lease == 0 {
        return Err(usage("--lease must be at least 1 second".to_string()));
    }
    if args.max_connections == 0 {
        return Err(usage(
            "--max-connections must be at least 1: give a number such as 1024".to_string(),
        ));
    }

    let storage = match args.storage {
        Some(location) => Some(s3_location(
            location,
            args.s3_endpoint,
            args.s3_region,
            args.s3_upload_lease,
        )?),
        None => None,
    };

    Ok(Options {
        bind: args.bind,
        data,
        storage,
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
        web: !args.no_web,

        database: args.database.map(crate::secret::Secret::new),
        lease: Duration::from_secs(args.lease),
        staging_abandoned: Duration::from_secs(args.staging_lease.max(1)),
        tus_expiry: Duration::from_secs(args.tus_expiry * 3600),
    })
}

/// --storage completed by --s3-endpoint, --s3-region and the upload lease, checked.
fn s3_location(
    mut location: S3Location,
    endpoint: Option<String>,
    region: Option<String>,
    upload_lease: u64,
) -> Result<S3Location> {
    if let Some(e) = endpoint {
        location.endpoint = Some(check_endpoint(&e).map_err(usage)?);
    }
    if let Some(r) = region {
        let r = r.trim();
        if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(usage(format!(
                "invalid --s3-region '{r}': use a region name such as us-east-1 or eu-west-3"
            )));
        }
        location.region = Some(r.to_string());
    }
    if upload_lease == 0 {
        return Err(usage(
            "--s3-upload-lease must be at least 1 second".to_string(),
        ));
    }
    location.upload_lease = Duration::from_secs(upload_lease);
    Ok(location)
}

#[cfg(test)]
mod tests {
    use crate::commands::serve::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn no_flags_give_the_servers_own_defaults() {
        // Only the variables the flags read could change this; the test environment has none.
        if std::env::vars().any(|(k, _)| k.starts_with("FILEIO_")) {
            return;
        }
        let cli = Cli::parse_from(["serve", "--data", "/srv/fileio"]);
        let options = options(cli.serve).unwrap();
        assert_eq!(options, Options::new(PathBuf::from("/srv/fileio")));
    }
}
