//! Blobs in an S3-compatible object store (`--storage s3://bucket/prefix`).
//!
//! - Uploads stream through `object_store`'s [`BufWriter`]: a file smaller than one part is
//!   held (at most [`PART_SIZE`]) and PUT with its length; a larger one, or one of unknown
//!   length, goes out as a multipart upload in [`PART_SIZE`] parts, at most
//!   [`PART_CONCURRENCY`] in flight, so an upload holds about
//!   `PART_SIZE × (PART_CONCURRENCY + 1)` in memory and nothing on local disk.
//! - Each upload gets a fresh random object key when it starts ([`Staged::name`]): objects are
//!   never overwritten, so nothing relies on conditional writes.
//! - An upload dropped before its commit (client gone, 413, server error) aborts its multipart
//!   upload. One left behind by a killed instance is found with a signed
//!   `ListMultipartUploads` request (which `object_store` does not offer) and aborted by the
//!   start-up cleanup once it is older than `--s3-stale-upload`: S3 itself knows every pending
//!   upload, so nothing has to be recorded elsewhere, and an instance that died between
//!   recording and creating could not leak one.
//! - Downloads stream the object's body (a GET) through the server.
//! - A store that cannot be reached is [`Unavailable`] (503 with `Retry-After`).
//!
//! Credentials come only from the standard `AWS_*` variables (as `object_store` reads them:
//! keys, session token, web identity, container and instance credentials), never from flags.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer};
use object_store::buffered::BufWriter;
use object_store::client::{HttpRequest, HttpRequestBody};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::Deserialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{Failure, Kind};
use crate::server::blobs::{BlobReader, Blobs, Staged, Unavailable};

/// The size of each part of a multipart upload, and the most of a small file held before it
/// is sent. S3's smallest part (but the last) is 5 MiB.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// Parts of one upload in flight at once.
pub const PART_CONCURRENCY: usize = 2;

/// A pending multipart upload older than this is taken for one a killed instance left.
pub const STALE_UPLOAD: Duration = Duration::from_secs(24 * 3600);

/// The most of a `ListMultipartUploads` answer read (1,000 uploads take about 400 KB).
const LIST_ANSWER_CAP: usize = 4 << 20;

/// Where the blobs go: `s3://bucket/prefix`, and how to reach the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or segments ending with `/`.
    pub prefix: String,
    /// `--s3-endpoint`; without it, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, then AWS.
    pub endpoint: Option<String>,
    /// `--s3-region`; without it, `AWS_REGION`, `AWS_DEFAULT_REGION`, then us-east-1.
    pub region: Option<String>,
    /// Pending multipart uploads older than this are aborted at start.
    pub stale_upload: Duration,
}

impl FromStr for S3Location {
    type Err = String;

    /// `s3://bucket` or `s3://bucket/some/prefix`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!(
                "invalid --storage '{s}': {why}; use s3://bucket/prefix, or leave --storage out to keep files under --data"
            )
        };
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| bad("only s3:// object storage is supported"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok {
            return Err(bad(
                "a bucket name has 3 to 63 lowercase letters, digits, '-' or '.'",
            ));
        }
        let segments: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        let prefix_ok = segments.iter().all(|seg| {
            *seg != "."
                && *seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
        if !prefix_ok {
            return Err(bad(
                "a prefix has letters, digits, '-', '_', '.' and '/' only",
            ));
        }
        let prefix = segments.iter().map(|seg| format!("{seg}/")).collect();
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix,
            endpoint: None,
            region: None,
            stale_upload: STALE_UPLOAD,
        })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "s3://{}/{}",
            self.bucket,
            self.prefix.trim_end_matches('/')
        )
    }
}

/// Checks an `--s3-endpoint`: an http(s) URL without credentials in it.
pub fn check_endpoint(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            format!(
                "invalid --s3-endpoint '{url}': use an http:// or https:// URL such as http://127.0.0.1:9000"
            )
        })?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        // Never echo it: the part before '@' is a secret.
        return Err(
            "--s3-endpoint may not hold credentials: give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string(),
        );
    }
    if authority.is_empty() {
        return Err(format!(
            "invalid --s3-endpoint '{url}': it names no host; use a URL such as http://127.0.0.1:9000"
        ));
    }
    Ok(url.to_string())
}

/// The blob store in a bucket.
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    s3: Arc<AmazonS3>,
    /// `<endpoint>/<bucket>` (path-style), for the requests `object_store` cannot make.
    bucket_url: String,
    region: String,
    prefix: String,
    stale_upload: Duration,
    http: reqwest::Client,
    /// Where the store is, for messages: the endpoint, never credentials.
    shown: String,
}

/// A one-line description of an `object_store` error (they may span lines).
fn one_line(e: &dyn fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An `object_store` error as an [`io::Error`]: not found stays not found, everything else
/// is the store being unavailable.
fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        other => Unavailable::io(one_line(&other)),
    }
}

/// An I/O error from `object_store`'s writer, whose requests failing means the store is
/// unavailable.
fn write_error(e: io::Error) -> io::Error {
    if Unavailable::find(&e).is_some() {
        e
    } else {
        Unavailable::io(one_line(&e))
    }
}

impl S3Blobs {
    /// Connects to the store and checks that the bucket can be listed. `env` holds the
    /// `AWS_*` variables (the process's, or a test's).
    pub async fn connect(
        location: &S3Location,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<S3Blobs> {
        // object_store's client is reqwest with rustls, whose provider we choose: ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new();
        let mut env_endpoint = None;
        let mut env_region = None;
        for (k, v) in env {
            let key = k.to_ascii_lowercase();
            match key.as_str() {
                // The bucket and endpoint come from --storage and --s3-endpoint (or the
                // endpoint variables below): an AWS_BUCKET meant for another tool is ignored.
                "aws_bucket" | "aws_bucket_name" => continue,
                "aws_endpoint_url_s3" => env_endpoint = Some(v.clone()),
                "aws_endpoint_url" | "aws_endpoint" => {
                    env_endpoint.get_or_insert(v.clone());
                }
                "aws_region" => env_region = Some(v.clone()),
                "aws_default_region" => {
                    env_region.get_or_insert(v.clone());
                }
                _ => {}
            }
            if let Ok(config) = key.parse() {
                builder = builder.with_config(config, v);
            }
        }
        let endpoint = match location.endpoint.clone().or(env_endpoint) {
            Some(e) => Some(check_endpoint(&e).map_err(|m| Failure::new(Kind::Usage, m))?),
            None => None,
        };
        let region = location
            .region
            .clone()
            .or(env_region)
            .unwrap_or_else(|| "us-east-1".to_string());
        let bucket_url = match &endpoint {
            Some(e) => format!("{e}/{}", location.bucket),
            None => format!("https://s3.{region}.amazonaws.com/{}", location.bucket),
        };
        let shown = endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        builder = builder
            .with_bucket_name(&location.bucket)
            .with_region(&region)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            })
            // No deadline on a whole request: a download streams for as long as its client
            // reads. A stalled store is caught by the read timeout instead, which is longer
            // than the server's default --send-timeout so a slow client is what gets cut.
            .with_client_options(
                ClientOptions::new()
                    .with_timeout_disabled()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_read_timeout(Duration::from_secs(120))
                    .with_allow_http(
                        endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    ),
            );
        if let Some(e) = &endpoint {
            builder = builder.with_endpoint(e);
        }
        let s3 = Arc::new(builder.build().map_err(|e| {
            Failure::new(
                Kind::Usage,
                format!("cannot use the object store {location}: {}", one_line(&e)),
            )
        })?);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client for the object store")?;
        let blobs = S3Blobs {
            store: s3.clone(),
            s3,
            bucket_url,
            region,
            prefix: location.prefix.clone(),
            stale_upload: location.stale_upload,
            http,
            shown,
        };
        blobs.probe(location).await?;
        Ok(blobs)
    }

    /// Lists the prefix once: the store answers, the bucket exists, the credentials do.
    async fn probe(&self, location: &S3Location) -> anyhow::Result<()> {
        let prefix = self.prefix_path();
        let probe = self.store.list_with_delimiter(prefix.as_ref());
        match tokio::time::timeout(Duration::from_secs(30), probe).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(object_store::Error::NotFound { .. })) => Err(Failure::new(
                Kind::Other,
                format!(
                    "the bucket '{}' does not exist at {}",
                    location.bucket, self.shown
                ),
            )
            .hint("create it (e.g. aws s3 mb s3://BUCKET), or name another with --storage s3://BUCKET/PREFIX")
            .into()),
            Ok(Err(e)) => Err(unreachable(&self.shown, &one_line(&e))),
            Err(_) => Err(unreachable(&self.shown, "no answer within 30 s")),
        }
    }

    fn prefix_path(&self) -> Option<Path> {
        (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()))
    }

    fn path(&self, name: &str) -> io::Result<Path> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid blob name {name:?}"),
            ));
        }
        Ok(Path::from(format!("{}{name}", self.prefix)))
    }

    /// Sends a request `object_store` has no method for, signed with the store's credentials.
    async fn signed(&self, method: reqwest::Method, url: &str) -> io::Result<reqwest::Response> {
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(io_error)?;
        let mut req = HttpRequest::new(HttpRequestBody::from(Bytes::new()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = url
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut req, None)
            .map_err(io_error)?;
        let mut out = self.http.request(method, url);
        for (name, value) in req.headers() {
            out = out.header(name, value);
        }
        let resp = out
            .send()
            .await
            .map_err(|e| Unavailable::io(one_line(&e)))?;
        if !resp.status().is_success() {
            return Err(Unavailable::io(format!(
                "{} answered {} to a request for pending uploads",
                self.shown,
                resp.status()
            )));
        }
        Ok(resp)
    }

    /// The multipart uploads under our prefix that were started and neither completed nor
    /// aborted (`ListMultipartUploads`, all pages).
    pub async fn pending_uploads(&self) -> io::Result<Vec<PendingUpload>> {
        let mut all = Vec::new();
        let mut markers: Option<(String, String)> = None;
        for _ in 0..1000 {
            let mut query = vec![("prefix", self.prefix.clone())];
            if let Some((key, id)) = &markers {
                query.push(("key-marker", key.clone()));
                query.push(("upload-id-marker", id.clone()));
            }
            query.push(("uploads", String::new()));
            let query = serde_urlencoded::to_string(&query)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let url = format!("{}?{query}", self.bucket_url);
            let resp = self.signed(reqwest::Method::GET, &url).await?;
            let body = read_capped(resp, LIST_ANSWER_CAP).await?;
            let page: ListUploads = quick_xml::de::from_reader(body.as_ref()).map_err(|e| {
                Unavailable::io(format!(
                    "{} sent a list of pending uploads that is not S3's: {e}",
                    self.shown
                ))
            })?;
            all.extend(page.uploads);
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(k), Some(u))
                    if Some((&k, &u)) != markers.as_ref().map(|m| (&m.0, &m.1)) =>
                {
                    markers = Some((k, u))
                }
                _ => break,
            }
        }
        Ok(all)
    }

    /// Aborts one pending multipart upload.
    async fn abort_upload(&self, upload: &PendingUpload) -> io::Result<()> {
        let key = upload
            .key
            .split('/')
            .map(|seg| {
                percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        let query = serde_urlencoded::to_string([("uploadId", &upload.upload_id)])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let url = format!("{}/{key}?{query}", self.bucket_url);
        self.signed(reqwest::Method::DELETE, &url).await?;
        Ok(())
    }
}

fn unreachable(shown: &str, detail: &str) -> anyhow::Error {
    Failure::new(
        Kind::Other,
        format!("cannot reach the object store at {shown}: {detail}"),
    )
    .hint("check --s3-endpoint (or AWS_ENDPOINT_URL), that the store is up and reachable, and the AWS_* credentials")
    .into()
}

/// Reads a response body, refusing one larger than `cap`.
async fn read_capped(resp: reqwest::Response, cap: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Unavailable::io(one_line(&e)))?;
        if body.len() + chunk.len() > cap {
            return Err(Unavailable::io(format!(
                "the object store's answer is larger than {cap} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A `ListMultipartUploadsResult`, the parts of it we use.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListUploads {
    #[serde(default, rename = "Upload")]
    uploads: Vec<PendingUpload>,
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
}

/// One pending multipart upload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PendingUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated: DateTime<Utc>,
}

impl Blobs for S3Blobs {
    fn stage(&self) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        Box::pin(async move {
            let name = crate::server::store::random_name();
            let writer = BufWriter::with_capacity(self.store.clone(), self.path(&name)?, PART_SIZE)
                .with_max_concurrency(PART_CONCURRENCY);
            Ok(Box::new(S3Staged {
                name,
                writer: Some(writer),
                shut: false,
            }) as Box<dyn Staged>)
        })
    }

    fn open(&self, name: String) -> BoxFuture<'_, io::Result<BlobReader>> {
        Box::pin(async move {
            let got = self.store.get(&self.path(&name)?).await.map_err(io_error)?;
            let stream = got.into_stream().map_err(io_error);
            Ok(Box::new(tokio_util::io::StreamReader::new(stream)) as BlobReader)
        })
    }

    fn delete(&self, name: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            match self.store.delete(&self.path(&name)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn names(&self) -> BoxFuture<'_, io::Result<HashSet<String>>> {
        Box::pin(async move {
            let prefix = self.prefix_path();
            let mut list = self.store.list(prefix.as_ref());
            let mut names = HashSet::new();
            while let Some(meta) = list.next().await {
                let meta = meta.map_err(io_error)?;
                let key = meta.location.as_ref();
                // Only our own blobs: directly under the prefix.
                if let Some(name) = key.strip_prefix(self.prefix.as_str()) {
                    if !name.contains('/') {
                        names.insert(name.to_string());
                    }
                }
            }
            Ok(names)
        })
    }

    /// Aborts pending multipart uploads older than `--s3-stale-upload`: those a killed
    /// instance left. Younger ones may be another instance's upload under way.
    fn clean_staging(&self) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(async move {
            let cutoff = Utc::now()
                - chrono::Duration::from_std(self.stale_upload).unwrap_or(chrono::Duration::MAX);
            let mut n = 0;
            for upload in self.pending_uploads().await? {
                if upload.initiated <= cutoff && upload.key.starts_with(self.prefix.as_str()) {
                    self.abort_upload(&upload).await?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }
}

/// An upload streaming into the store; aborted if dropped before its commit.
struct S3Staged {
    name: String,
    writer: Option<BufWriter>,
    /// Shutting down (completing) has begun: aborting through the writer is no longer
    /// possible (a failed completion aborts by itself).
    shut: bool,
}

impl S3Staged {
    fn writer(&mut self) -> &mut BufWriter {
        self.writer
            .as_mut()
            .expect("the writer lives until commit or drop")
    }
}

impl Staged for S3Staged {
    fn commit(mut self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(async move {
            if name != self.name {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "an S3 upload is committed under the name it started with, not {name:?}"
                    ),
                ));
            }
            self.shut = true;
            self.writer().shutdown().await.map_err(write_error)
        })
    }

    fn name(&self) -> Option<String> {
        Some(self.name.clone())
    }
}

impl Drop for S3Staged {
    fn drop(&mut self) {
        if self.shut {
            return;
        }
        if let (Some(mut writer), Ok(rt)) =
            (self.writer.take(), tokio::runtime::Handle::try_current())
        {
            rt.spawn(async move {
                if let Err(e) = writer.abort().await {
                    crate::server::log!(
                        "fileio serve: cannot abort an unfinished upload to the object store (the start-up cleanup will): {}",
                        one_line(&e)
                    );
                }
            });
        }
    }
}

impl AsyncWrite for S3Staged {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.writer())
            .poll_write(cx, buf)
            .map_err(write_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.writer()).poll_flush(cx).map_err(write_error)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut = true;
        Pin::new(self.writer())
            .poll_shutdown(cx)
            .map_err(write_error)
    }
}
