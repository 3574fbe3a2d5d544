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
//!   upload. For one a killed instance leaves behind, an upload holds a lease in the bucket
//!   itself: before its multipart upload is created it writes an empty marker object
//!   `<prefix>uploads-in-progress/<name>`, rewritten every quarter of the lease while the
//!   upload lasts and deleted at its end. The start-up cleanup and every sweep list the
//!   pending multipart uploads with a signed `ListMultipartUploads` request (which
//!   `object_store` does not offer) and abort those under our prefix whose marker is missing
//!   or older than the lease, so they never touch another instance's upload under way. The lease lives beside the data
//!   (no database needed) and does not trust S3's `Initiated` date, which some servers (moto)
//!   do not keep.
//! - A resumable (tus) upload is one multipart upload under the key the file will have
//!   (`<prefix>tus-<random>`, which the lease cleanup above leaves alone), created with the
//!   upload and completed by its last request, on any instance. Its state, kept in the
//!   metadata row, is JSON: the upload id, the ETags of the full parts sent, and the *tail*:
//!   the bytes after the last full part (S3 takes no part under 5 MiB but the last), saved
//!   as their own small object under `<prefix>tus-tails/<name>/` and replayed in front of
//!   the next request's bytes. A request holds what a `POST /` upload holds
//!   (`PART_SIZE × (PART_CONCURRENCY + 1)`). Termination and expiry abort the upload and
//!   delete its tails; a `created` marker beside them lets a sweep abort an upload nothing
//!   refers to any more.
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
use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer};
use object_store::buffered::BufWriter;
use object_store::client::{HttpRequest, HttpRequestBody};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::Deserialize;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{Failure, Kind};
use crate::server::blobs::{Appending, BlobChunks, BlobReader, Blobs, Staged};
use crate::server::errors::Unavailable;

/// The size of each part of a multipart upload, and the most of a small file held before it
/// is sent. S3's smallest part (but the last) is 5 MiB.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// The most parts a multipart upload may have (S3's limit).
const MAX_PARTS: u64 = 10_000;

/// Parts of one upload in flight at once.
pub const PART_CONCURRENCY: usize = 2;

/// How long an upload's lease lasts unless renewed; it is renewed four times as often.
/// Generous, as it is compared with the store's clock.
pub const UPLOAD_LEASE: Duration = Duration::from_secs(600);

/// Where the leases of uploads under way are, under the prefix. Blob names hold no '/', so
/// no blob is ever taken for one.
const LEASES: &str = "uploads-in-progress/";

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
    /// An upload's lease in the bucket: a pending multipart upload whose lease ran out is
    /// aborted at start.
    pub upload_lease: Duration,
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
            upload_lease: UPLOAD_LEASE,
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
    upload_lease: Duration,
    /// [`TUS_ABANDONED`] (tests shorten it).
    tus_abandoned: Duration,
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
            upload_lease: location.upload_lease,
            tus_abandoned: TUS_ABANDONED,
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
            Ok(Err(object_store::Error::NotFound { .. })) => Err(no_bucket(location, &self.shown)),
            Ok(Err(e)) => {
                let detail = one_line(&e);
                // object_store reports S3's own refusals as generic errors with the answer
                // in the text.
                if detail.contains("NoSuchBucket") {
                    Err(no_bucket(location, &self.shown))
                } else if [
                    "403 Forbidden",
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                    "AccessDenied",
                ]
                .iter()
                .any(|w| detail.contains(w))
                {
                    Err(Failure::new(
                        Kind::Other,
                        format!(
                            "the object store at {} refused access to the bucket '{}'",
                            self.shown, location.bucket
                        ),
                    )
                    .hint("check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE's role), and that they may list, read and write the bucket")
                    .into())
                } else {
                    Err(unreachable(&self.shown, &detail))
                }
            }
            Err(_) => Err(unreachable(&self.shown, "no answer within 30 s")),
        }
    }

    fn prefix_path(&self) -> Option<Path> {
        (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()))
    }

    fn lease_path(&self, name: &str) -> Path {
        Path::from(format!("{}{LEASES}{name}", self.prefix))
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

fn no_bucket(location: &S3Location, shown: &str) -> anyhow::Error {
    Failure::new(
        Kind::Other,
        format!("the bucket '{}' does not exist at {shown}", location.bucket),
    )
    .hint(
        "create it (e.g. aws s3 mb s3://BUCKET), or name another with --storage s3://BUCKET/PREFIX",
    )
    .into()
}

fn unreachable(shown: &str, detail: &str) -> anyhow::Error {
    // The details of a failed request run long (the URL, retries, the answer): enough of
    // them to tell a refused connection from a timeout.
    let detail: String = if detail.chars().count() > 300 {
        detail.chars().take(300).chain("…".chars()).collect()
    } else {
        detail.to_string()
    };
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
}

impl Blobs for S3Blobs {
    fn stage(&self) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        self.stage_named(crate::server::ids::random(16))
    }

    fn stage_named(&self, name: String) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        Box::pin(async move {
            let writer = BufWriter::with_capacity(self.store.clone(), self.path(&name)?, PART_SIZE)
                .with_max_concurrency(PART_CONCURRENCY);
            Ok(Box::new(S3Staged {
                lease: Lease {
                    store: self.store.clone(),
                    path: self.lease_path(&name),
                    every: (self.upload_lease / 4).max(Duration::from_millis(100)),
                    state: LeaseState::None,
                },
                name,
                writer: Some(writer),
                written: 0,
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

    /// A ranged GET: a download that resumes at `from` reads only what it sends.
    fn open_chunks(
        &self,
        name: String,
        from: u64,
        len: u64,
        chunk: usize,
    ) -> BoxFuture<'_, io::Result<BlobChunks>> {
        Box::pin(async move {
            use tokio::io::AsyncReadExt;
            let path = self.path(&name)?;
            if len == 0 {
                // S3 refuses an empty range; an empty read still says whether it exists.
                self.store.head(&path).await.map_err(io_error)?;
                return Ok(Box::pin(futures_util::stream::empty()) as BlobChunks);
            }
            let range = from..from.saturating_add(len);
            let options = object_store::GetOptions::default().with_range(Some(range));
            let got = self
                .store
                .get_opts(&path, options)
                .await
                .map_err(io_error)?;
            let reader = tokio_util::io::StreamReader::new(got.into_stream().map_err(io_error));
            let stream = tokio_util::io::ReaderStream::with_capacity(reader.take(len), chunk);
            Ok(Box::pin(stream) as BlobChunks)
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

    /// At start, as at every sweep: [`S3Blobs::abort_abandoned`].
    fn clean_staging(&self) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(self.abort_abandoned())
    }

    fn sweep_abandoned(&self) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(self.abort_abandoned())
    }

    /// S3's 10,000 parts of [`PART_SIZE`].
    fn partial_max(&self) -> Option<u64> {
        Some(MAX_PARTS * PART_SIZE as u64)
    }

    fn partial_create(&self) -> BoxFuture<'_, io::Result<String>> {
        Box::pin(async move {
            let name = format!("{TUS_NAMES}{}", crate::server::ids::random(24));
            // Written first: a pending resumable upload without it is one whose creation
            // was cut off, never recorded ([`S3Blobs::abort_abandoned_tus`]).
            let marker = self.tails_dir(&name)?.join(TUS_CREATED);
            self.store
                .put(&marker, object_store::PutPayload::default())
                .await
                .map_err(io_error)?;
            let upload = self
                .s3
                .create_multipart(&self.path(&name)?)
                .await
                .map_err(io_error)?;
            TusState {
                name,
                upload,
                len: 0,
                parts: vec![],
                tail: None,
                last: false,
            }
            .encode()
        })
    }

    fn partial_append(
        &self,
        state: String,
        offset: u64,
    ) -> BoxFuture<'_, io::Result<Box<dyn Appending>>> {
        Box::pin(async move {
            let state = TusState::decode(&state)?;
            if state.len != offset {
                return Err(io::Error::other(format!(
                    "an upload's state holds {} bytes, not the {offset} recorded",
                    state.len
                )));
            }
            let mut buf = object_store::PutPayloadMut::new();
            if let Some(tail) = &state.tail {
                // Replayed in front of the new bytes: S3 takes no part under 5 MiB but the
                // last, so what followed the last full part waits in its own object.
                let got = self
                    .store
                    .get(&self.tail_path(&state.name, &tail.object)?)
                    .await
                    .map_err(io_error)?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(io_error)?;
                    if buf.content_length() + chunk.len() > tail.len as usize {
                        break;
                    }
                    buf.push(chunk);
                }
                if buf.content_length() as u64 != tail.len {
                    return Err(Unavailable::io(format!(
                        "an upload's last bytes in the object store are not the {} recorded",
                        tail.len
                    )));
                }
            }
            Ok(Box::new(S3Appending {
                s3: self.s3.clone(),
                store: self.store.clone(),
                path: self.path(&state.name)?,
                tails: self.tails_dir(&state.name)?,
                first_part: state.parts.len(),
                buf,
                parts: Default::default(),
                sending: tokio::task::JoinSet::new(),
                written: 0,
                failed: None,
                state,
            }) as Box<dyn Appending>)
        })
    }

    fn partial_forget(&self, old: String, new: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let (old, new) = (TusState::decode(&old)?, TusState::decode(&new)?);
            match &old.tail {
                Some(tail) if new.tail.as_ref().map(|t| &t.object) != Some(&tail.object) => {
                    self.delete_path(&self.tail_path(&old.name, &tail.object)?)
                        .await
                }
                _ => Ok(()),
            }
        })
    }

    fn partial_finish(&self, state: String) -> BoxFuture<'_, io::Result<Box<dyn Staged>>> {
        Box::pin(async move {
            let state = TusState::decode(&state)?;
            if !state.last {
                return Err(io::Error::other(
                    "an upload is finished before its last bytes were saved",
                ));
            }
            Ok(Box::new(S3Finished {
                s3: self.s3.clone(),
                store: self.store.clone(),
                path: self.path(&state.name)?,
                tails: self.tails_dir(&state.name)?,
                state,
            }) as Box<dyn Staged>)
        })
    }

    /// Aborts the multipart upload (one completed or already aborted is not there to abort)
    /// and deletes every tail object of the upload, those of requests cut off before their
    /// state was recorded included.
    fn partial_delete(&self, state: String) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let state = TusState::decode(&state)?;
            match self
                .s3
                .abort_multipart(&self.path(&state.name)?, &state.upload)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_error(e)),
            }
            delete_all(&self.store, &self.tails_dir(&state.name)?).await
        })
    }
}

/// Blob names of resumable uploads start with this: their multipart uploads are pending
/// for as long as the upload lasts (hours, over many requests and instances), without the
/// lease of a `POST /` upload, so [`S3Blobs::abort_abandoned`] leaves them to the tus
/// sweep ([`Blobs::partial_delete`]). No other blob name has it (the others are 16 letters
/// and digits, or a 12-character key, '-' and more).
const TUS_NAMES: &str = "tus-";

/// Where the tail objects of resumable uploads are, under the prefix (a sub-"directory":
/// never taken for a blob): `<prefix>tus-tails/<blob name>/<random>`, beside the upload's
/// empty [`TUS_CREATED`] marker.
const TUS_TAILS: &str = "tus-tails/";

/// The object written when a resumable upload is created, deleted with its tails: how
/// [`S3Blobs::abort_abandoned_tus`] tells a live upload from one nothing refers to.
const TUS_CREATED: &str = "created";

/// A resumable upload whose `created` marker is older than this is one the sweep should
/// have deleted: uploads expire after `--tus-expiry`, which `config` checks is shorter.
pub const TUS_ABANDONED: Duration = Duration::from_secs((7 * 24 + 1) * 3600);

/// A resumable upload's state (kept in its metadata row): its multipart upload, the parts
/// sent (all [`PART_SIZE`] but the last one of a finished upload), and the bytes after the
/// last full part, kept in a small object of their own until a part is full.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct TusState {
    /// The blob the upload becomes: its multipart upload's key.
    name: String,
    upload: String,
    /// The bytes saved so far.
    len: u64,
    /// The ETags of parts 1, 2, …
    parts: Vec<String>,
    tail: Option<Tail>,
    /// The last part is sent: nothing is left but to complete the multipart upload.
    last: bool,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
struct Tail {
    object: String,
    len: u64,
}

impl TusState {
    fn encode(&self) -> io::Result<String> {
        serde_json::to_string(self).map_err(io::Error::other)
    }

    fn decode(state: &str) -> io::Result<TusState> {
        let state: TusState = serde_json::from_str(state).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("an upload's state is not an object store's: {e}"),
            )
        })?;
        let tail = state.tail.as_ref().map_or(0, |t| t.len);
        let parts = if state.last {
            None
        } else {
            (state.parts.len() as u64)
                .checked_mul(PART_SIZE as u64)
                .and_then(|n| n.checked_add(tail))
        };
        let broken = !state.name.starts_with(TUS_NAMES)
            || tail >= PART_SIZE as u64
            || (state.last && state.tail.is_some())
            || state
                .tail
                .as_ref()
                .is_some_and(|t| t.object.is_empty() || t.object.contains('/'));
        if broken || parts.is_some_and(|n| n != state.len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an upload's state does not add up",
            ));
        }
        Ok(state)
    }
}

impl S3Blobs {
    /// The "directory" of a resumable upload's tail objects.
    fn tails_dir(&self, name: &str) -> io::Result<Path> {
        self.path(name)?;
        Ok(Path::from(format!("{}{TUS_TAILS}{name}", self.prefix)))
    }

    fn tail_path(&self, name: &str, object: &str) -> io::Result<Path> {
        Ok(self.tails_dir(name)?.join(object))
    }

    async fn delete_path(&self, path: &Path) -> io::Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }
}

/// Deletes every object under `dir`.
async fn delete_all(store: &Arc<dyn ObjectStore>, dir: &Path) -> io::Result<()> {
    let found: Vec<Path> = store
        .list(Some(dir))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .map_err(io_error)?;
    for path in found {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    Ok(())
}

/// Bytes appended to a resumable upload: every full [`PART_SIZE`] goes out as a part, at
/// most [`PART_CONCURRENCY`] at once (the memory of a `POST /` upload: about
/// `PART_SIZE × (PART_CONCURRENCY + 1)`); what is left at the save becomes the new tail
/// object, or the last part.
struct S3Appending {
    s3: Arc<AmazonS3>,
    store: Arc<dyn ObjectStore>,
    path: Path,
    tails: Path,
    state: TusState,
    /// The index of the first part this request sends.
    first_part: usize,
    /// Bytes not yet in a part: the old tail first, then the new bytes (in the 8 KiB blocks
    /// `object_store`'s own writer gathers a part in).
    buf: object_store::PutPayloadMut,
    /// The ETags of the parts sent by this request, by index.
    parts: std::collections::BTreeMap<usize, String>,
    /// Parts being sent; dropped (a request cut off), they are cancelled, and the parts
    /// they may have stored are never referenced (or overwritten by the next request).
    sending: tokio::task::JoinSet<(usize, object_store::Result<object_store::multipart::PartId>)>,
    /// New bytes taken by this request.
    written: u64,
    /// A part failed: the request fails, and nothing it sent is recorded.
    failed: Option<String>,
}

impl S3Appending {
    /// Gathers the parts sent; ready when fewer than `most` are in flight (none for 0).
    fn poll_sent(&mut self, cx: &mut Context<'_>, most: usize) -> Poll<io::Result<()>> {
        while self.sending.len() >= most.max(1) {
            match std::task::ready!(self.sending.poll_join_next(cx)) {
                Some(Ok((idx, Ok(part)))) => {
                    self.parts.insert(idx, part.content_id);
                }
                Some(Ok((_, Err(e)))) => self.failed = Some(one_line(&e)),
                Some(Err(e)) => self.failed = Some(e.to_string()),
                None => break,
            }
        }
        match &self.failed {
            Some(why) => Poll::Ready(Err(Unavailable::io(why.clone()))),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Sends the full buffer as the next part.
    fn send_part(&mut self) {
        let idx = self.first_part + self.parts.len() + self.sending.len();
        let data = std::mem::take(&mut self.buf).freeze();
        let (s3, path, upload) = (
            self.s3.clone(),
            self.path.clone(),
            self.state.upload.clone(),
        );
        self.sending.spawn(async move {
            let sent = s3.put_part(&path, &upload, idx, data).await;
            (idx, sent)
        });
    }
}

impl Appending for S3Appending {
    fn save(mut self: Box<Self>, last: bool) -> BoxFuture<'static, io::Result<String>> {
        Box::pin(async move {
            std::future::poll_fn(|cx| self.poll_sent(cx, 0)).await?;
            let mut state = self.state.clone();
            if state.last {
                // Saved as the last already (a completion tried again): nothing can follow.
                if self.written > 0 {
                    return Err(io::Error::other("bytes after an upload's last part"));
                }
                return state.encode();
            }
            if self.written == 0 && !last {
                // Nothing new: the old tail stays as it is.
                return state.encode();
            }
            let parts = std::mem::take(&mut self.parts);
            for (i, (idx, etag)) in parts.into_iter().enumerate() {
                if idx != self.first_part + i {
                    return Err(io::Error::other("a part of an upload is missing"));
                }
                state.parts.push(etag);
            }
            state.len += self.written;
            let rest = std::mem::take(&mut self.buf);
            state.tail = None;
            if last {
                if !rest.is_empty() {
                    let idx = state.parts.len();
                    let part = self
                        .s3
                        .put_part(&self.path, &state.upload, idx, rest.freeze())
                        .await
                        .map_err(io_error)?;
                    state.parts.push(part.content_id);
                }
                state.last = true;
            } else if !rest.is_empty() {
                let object = crate::server::ids::random(16);
                let len = rest.content_length() as u64;
                let path = self.tails.clone().join(object.as_str());
                self.store
                    .put(&path, rest.freeze())
                    .await
                    .map_err(io_error)?;
                state.tail = Some(Tail { object, len });
            }
            state.encode()
        })
    }
}

impl crate::server::blobs::Sink for S3Appending {}

impl AsyncWrite for S3Appending {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_sent(cx, PART_CONCURRENCY))?;
        let n = buf.len().min(PART_SIZE - this.buf.content_length());
        this.buf.extend_from_slice(&buf[..n]);
        this.written += n as u64;
        if this.buf.content_length() == PART_SIZE {
            this.send_part();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes short of a part are saved by `save`, not by a flush.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A complete resumable upload: its commit completes the multipart upload, under the name
/// the upload was created with.
struct S3Finished {
    s3: Arc<AmazonS3>,
    store: Arc<dyn ObjectStore>,
    path: Path,
    tails: Path,
    state: TusState,
}

impl Staged for S3Finished {
    fn commit(self: Box<Self>, name: String) -> BoxFuture<'static, io::Result<()>> {
        Box::pin(async move {
            if name != self.state.name {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "an S3 upload is committed under the name it started with, not {name:?}"
                    ),
                ));
            }
            let parts = self
                .state
                .parts
                .iter()
                .map(|e| object_store::multipart::PartId {
                    content_id: e.clone(),
                })
                .collect();
            // Completed already (by a request whose instance died before recording it) is
            // an error, as a local upload's file moved away is: the object may have a row.
            self.s3
                .complete_multipart(&self.path, &self.state.upload, parts)
                .await
                .map_err(io_error)?;
            // Tails of requests cut off before their state was recorded.
            if let Err(e) = delete_all(&self.store, &self.tails).await {
                crate::server::log!(
                    "fileio serve: cannot delete what a resumable upload left in the object store: {e}"
                );
            }
            Ok(())
        })
    }

    fn name(&self) -> Option<String> {
        Some(self.state.name.clone())
    }
}

impl crate::server::blobs::Sink for S3Finished {}

impl AsyncWrite for S3Finished {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::other(
            "a finished upload takes no more bytes",
        )))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl S3Blobs {
    /// Aborts the pending multipart uploads under our prefix whose lease ran out (or that
    /// have none): those of instances killed mid-upload. Then removes leases run out.
    async fn abort_abandoned(&self) -> io::Result<usize> {
        let run_out = Utc::now()
            - chrono::Duration::from_std(self.upload_lease).unwrap_or(chrono::Duration::MAX);
        let lease_prefix = Path::from(format!("{}{LEASES}", self.prefix));
        let mut leases = std::collections::HashMap::new();
        let mut list = self.store.list(Some(&lease_prefix));
        while let Some(meta) = list.next().await {
            let meta = meta.map_err(io_error)?;
            if let Some(name) = meta.location.filename() {
                leases.insert(
                    name.to_string(),
                    (meta.location.clone(), meta.last_modified),
                );
            }
        }
        let pending = self.pending_uploads().await?;
        let mut n = self.abort_abandoned_tus(&pending).await?;
        for upload in pending {
            let Some(name) = upload.key.strip_prefix(self.prefix.as_str()) else {
                continue;
            };
            if name.contains('/') || name.starts_with(TUS_NAMES) {
                continue;
            }
            let live = leases.get(name).is_some_and(|(_, at)| *at > run_out);
            if !live {
                self.abort_upload(&upload).await?;
                n += 1;
            }
        }
        for (path, at) in leases.into_values() {
            if at <= run_out {
                let _ = self.store.delete(&path).await;
            }
        }
        Ok(n)
    }

    /// Aborts the resumable uploads in `pending` that no metadata can refer to any more:
    /// their `created` marker is missing (an instance killed before it was written) or
    /// older than the longest `--tus-expiry` (the sweep that should have deleted them
    /// failed). The markers are listed after `pending`, so an upload created in between is
    /// not in `pending`, and one finished in between is not there to abort.
    async fn abort_abandoned_tus(&self, pending: &[PendingUpload]) -> io::Result<usize> {
        let ours: Vec<(&str, &PendingUpload)> = pending
            .iter()
            .filter_map(|u| {
                let name = u.key.strip_prefix(self.prefix.as_str())?;
                (name.starts_with(TUS_NAMES) && !name.contains('/')).then_some((name, u))
            })
            .collect();
        if ours.is_empty() {
            return Ok(0);
        }
        let run_out = Utc::now()
            - chrono::Duration::from_std(self.tus_abandoned).unwrap_or(chrono::Duration::MAX);
        let mut created = std::collections::HashMap::new();
        let dir = Path::from(format!("{}{TUS_TAILS}", self.prefix));
        let mut list = self.store.list(Some(&dir));
        while let Some(meta) = list.next().await {
            let meta = meta.map_err(io_error)?;
            let mut parts = meta.location.parts().collect::<Vec<_>>().into_iter().rev();
            if let (Some(file), Some(name)) = (parts.next(), parts.next()) {
                if file.as_ref() == TUS_CREATED {
                    created.insert(name.as_ref().to_string(), meta.last_modified);
                }
            }
        }
        let mut n = 0;
        for (name, upload) in ours {
            if created.get(name).is_some_and(|at| *at > run_out) {
                continue;
            }
            match self
                .s3
                .abort_multipart(&self.path(name)?, &upload.upload_id)
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_error(e)),
            }
            delete_all(&self.store, &self.tails_dir(name)?).await?;
            n += 1;
        }
        Ok(n)
    }
}

/// An upload streaming into the store; aborted if dropped before its commit.
struct S3Staged {
    name: String,
    writer: Option<BufWriter>,
    /// Bytes accepted so far: the writer turns to a multipart upload when they would reach
    /// [`PART_SIZE`], and the lease must be taken before that.
    written: u64,
    lease: Lease,
    /// Shutting down (completing) has begun: aborting through the writer is no longer
    /// possible (a failed completion aborts by itself).
    shut: bool,
}

/// An upload's lease in the bucket: an empty object rewritten while the upload lasts.
struct Lease {
    store: Arc<dyn ObjectStore>,
    path: Path,
    every: Duration,
    state: LeaseState,
}

enum LeaseState {
    /// Not needed yet (the upload is still one part, held here).
    None,
    /// Being written, before the multipart upload may start.
    Taking(BoxFuture<'static, io::Result<()>>),
    /// Held, renewed by this task.
    Held(tokio::task::JoinHandle<()>),
}

impl Lease {
    fn take(&mut self) {
        let (store, path) = (self.store.clone(), self.path.clone());
        self.state = LeaseState::Taking(Box::pin(async move {
            store
                .put(&path, object_store::PutPayload::default())
                .await
                .map(drop)
                .map_err(io_error)
        }));
    }

    fn renew(&mut self) {
        let (store, path, every) = (self.store.clone(), self.path.clone(), self.every);
        self.state = LeaseState::Held(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // A failure here is retried next round: the lease has margin.
                let _ = store.put(&path, object_store::PutPayload::default()).await;
            }
        }));
    }

    /// Stops renewing; returns what removes the lease, if one may have been written.
    fn end(&mut self) -> Option<BoxFuture<'static, ()>> {
        match std::mem::replace(&mut self.state, LeaseState::None) {
            LeaseState::None => None,
            state => {
                if let LeaseState::Held(h) = state {
                    h.abort();
                }
                let (store, path) = (self.store.clone(), self.path.clone());
                Some(Box::pin(async move {
                    let _ = store.delete(&path).await;
                }))
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let LeaseState::Held(h) = &self.state {
            h.abort();
        }
    }
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
            let done = self.writer().shutdown().await.map_err(write_error);
            if let Some(release) = self.lease.end() {
                release.await;
            }
            done
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
        let release = self.lease.end();
        if let (Some(mut writer), Ok(rt)) =
            (self.writer.take(), tokio::runtime::Handle::try_current())
        {
            rt.spawn(async move {
                if let Err(e) = writer.abort().await {
                    crate::server::log!(
                        "fileio serve: cannot abort an unfinished upload to the object store (the start-up cleanup will): {}",
                        one_line(&e)
                    );
                    // The lease stays, so the cleanup waits for it to run out.
                    return;
                }
                if let Some(release) = release {
                    release.await;
                }
            });
        }
    }
}

impl crate::server::blobs::Sink for S3Staged {}

impl AsyncWrite for S3Staged {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // The lease is taken before the writer starts a multipart upload (when the bytes
        // held would reach a part), so a pending upload of ours always has one.
        let this = self.get_mut();
        loop {
            match &mut this.lease.state {
                LeaseState::None if this.written + buf.len() as u64 >= PART_SIZE as u64 => {
                    this.lease.take()
                }
                LeaseState::Taking(f) => {
                    std::task::ready!(f.as_mut().poll(cx))?;
                    this.lease.renew();
                }
                _ => break,
            }
        }
        let n =
            std::task::ready!(Pin::new(this.writer()).poll_write(cx, buf)).map_err(write_error)?;
        this.written += n as u64;
        Poll::Ready(Ok(n))
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

#[cfg(test)]
#[path = "../../tests/cli/moto.rs"]
pub(crate) mod moto;

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::moto::{BUCKET, Moto, PREFIX, aws_vars};
    use super::*;

    /// moto (started off the async threads: it waits for it to answer), and the blobs in it.
    async fn on_moto() -> Option<(Moto, S3Blobs)> {
        let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap()?;
        let mut location: S3Location = format!("s3://{BUCKET}/{PREFIX}").parse().unwrap();
        location.endpoint = Some(moto.endpoint.clone());
        let vars = aws_vars().map(|(k, v)| (k.to_string(), v.to_string()));
        let blobs = S3Blobs::connect(&location, vars).await.unwrap();
        Some((moto, blobs))
    }

    /// Every object under the prefix, and every pending multipart upload.
    async fn left(blobs: &S3Blobs) -> (Vec<String>, Vec<String>) {
        let objects: Vec<String> = blobs
            .store
            .list(blobs.prefix_path().as_ref())
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        let pending = blobs.pending_uploads().await.unwrap();
        (objects, pending.into_iter().map(|u| u.key).collect())
    }

    async fn stop(moto: Moto) {
        tokio::task::spawn_blocking(move || drop(moto))
            .await
            .unwrap();
    }

    /// A byte pattern that shows a part out of place.
    fn patterned(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_blobs_meet_the_blobs_contract() {
        let Some((moto, blobs)) = on_moto().await else {
            return;
        };
        crate::server::blobs::conformance::run(&blobs, &|| None).await;
        // Resumable uploads leave no tail object and no pending multipart upload.
        assert_eq!(left(&blobs).await, (vec![], vec![]));
        stop(moto).await;
    }

    /// Appends of all sizes, one cut off after parts went up, another instance going on from
    /// the recorded state: the object is the bytes in order, made of full parts and a
    /// short last one, and nothing else stays behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_a_resumable_upload_goes_up_in_parts_with_its_tail_replayed() {
        let Some((moto, blobs)) = on_moto().await else {
            return;
        };
        let want = patterned((16 << 20) + 12345, 7);
        let mut state = blobs.partial_create().await.unwrap();
        let mut at = 0usize;
        // Short of a part, across one, across three at once (more than are sent at once).
        for len in [1000, PART_SIZE, (3 * PART_SIZE) / 2 - 1000] {
            let mut w = blobs
                .partial_append(state.clone(), at as u64)
                .await
                .unwrap();
            for chunk in want[at..at + len].chunks(64 * 1024) {
                w.write_all(chunk).await.unwrap();
            }
            let new = w.save(false).await.unwrap();
            blobs.partial_forget(state, new.clone()).await.unwrap();
            state = new;
            at += len;
            let s = TusState::decode(&state).unwrap();
            assert_eq!(s.len, at as u64);
            assert_eq!(s.parts.len(), at / PART_SIZE);
            // The marker, and one tail object at most: the old one goes once the new one
            // is recorded.
            let (objects, pending) = left(&blobs).await;
            assert_eq!(
                objects.len(),
                1 + usize::from(at % PART_SIZE != 0),
                "{objects:?}"
            );
            assert_eq!(pending.len(), 1);
        }
        // Cut off mid-request after a part went up, its state never recorded.
        let mut w = blobs
            .partial_append(state.clone(), at as u64)
            .await
            .unwrap();
        w.write_all(&vec![b'!'; 2 * PART_SIZE]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(w);
        // Another instance (its own client) goes on from what was recorded, to the end.
        let mut location: S3Location = format!("s3://{BUCKET}/{PREFIX}").parse().unwrap();
        location.endpoint = Some(moto.endpoint.clone());
        let vars = aws_vars().map(|(k, v)| (k.to_string(), v.to_string()));
        let other = S3Blobs::connect(&location, vars).await.unwrap();
        let mut w = other
            .partial_append(state.clone(), at as u64)
            .await
            .unwrap();
        w.write_all(&want[at..]).await.unwrap();
        let done = w.save(true).await.unwrap();
        other.partial_forget(state, done.clone()).await.unwrap();
        // Saved as the last again (a completion tried again): the same state.
        let again = other
            .partial_append(done.clone(), want.len() as u64)
            .await
            .unwrap();
        let same = again.save(true).await.unwrap();
        assert_eq!(
            TusState::decode(&same).unwrap().parts,
            TusState::decode(&done).unwrap().parts
        );
        let staged = other.partial_finish(done).await.unwrap();
        let name = staged.name().unwrap();
        assert!(name.starts_with(TUS_NAMES));
        staged.commit(name.clone()).await.unwrap();
        let mut got = Vec::new();
        blobs
            .open(name.clone())
            .await
            .unwrap()
            .read_to_end(&mut got)
            .await
            .unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the object is not the bytes appended");
        assert_eq!(blobs.names().await.unwrap(), [name.clone()].into());
        let (objects, pending) = left(&blobs).await;
        assert_eq!(objects, vec![format!("{PREFIX}/{name}")]);
        assert!(pending.is_empty(), "{pending:?}");
        blobs.delete(name).await.unwrap();
        stop(moto).await;
    }

    /// An empty upload completes; a resumable upload's multipart upload is not taken for an
    /// abandoned `POST /` one; deleting it aborts it and removes its tail objects, those of
    /// requests cut off before their state was recorded too; one nothing refers to any more
    /// is aborted by a sweep.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_resumable_uploads_survive_the_cleanup_and_their_deletion_leaves_nothing() {
        let Some((moto, mut blobs)) = on_moto().await else {
            return;
        };
        let empty = blobs.partial_create().await.unwrap();
        let w = blobs.partial_append(empty.clone(), 0).await.unwrap();
        let empty = w.save(true).await.unwrap();
        let staged = blobs.partial_finish(empty).await.unwrap();
        let name = staged.name().unwrap();
        staged.commit(name.clone()).await.unwrap();
        let mut got = Vec::new();
        let mut r = blobs.open(name.clone()).await.unwrap();
        r.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty());
        blobs.delete(name).await.unwrap();

        let state = blobs.partial_create().await.unwrap();
        let mut w = blobs.partial_append(state.clone(), 0).await.unwrap();
        w.write_all(b"recorded").await.unwrap();
        let recorded = w.save(false).await.unwrap();
        // Saved, then the instance died before recording it: a tail no state names.
        let mut w = blobs.partial_append(recorded.clone(), 8).await.unwrap();
        w.write_all(b" and lost").await.unwrap();
        let _lost = w.save(false).await.unwrap();
        assert_eq!(blobs.clean_staging().await.unwrap(), 0);
        assert_eq!(blobs.sweep_abandoned().await.unwrap(), 0);
        let (objects, pending) = left(&blobs).await;
        assert_eq!((objects.len(), pending.len()), (3, 1), "{objects:?}");
        assert!(blobs.names().await.unwrap().is_empty());
        blobs.partial_delete(recorded.clone()).await.unwrap();
        assert_eq!(left(&blobs).await, (vec![], vec![]));
        blobs.partial_delete(recorded.clone()).await.unwrap();

        // One whose creation was cut off before it was recorded (no marker): aborted by the
        // next sweep; a live one is left alone, until it is older than any upload can be.
        let live = blobs.partial_create().await.unwrap();
        let mut w = blobs.partial_append(live, 0).await.unwrap();
        w.write_all(b"live").await.unwrap();
        w.save(false).await.unwrap();
        let cut_off = blobs.path("tus-cutoff0000000000000000").unwrap();
        blobs.s3.create_multipart(&cut_off).await.unwrap();
        assert_eq!(left(&blobs).await.1.len(), 2);
        assert_eq!(blobs.sweep_abandoned().await.unwrap(), 1);
        let (objects, pending) = left(&blobs).await;
        assert_eq!((objects.len(), pending.len()), (2, 1), "{objects:?}");
        blobs.tus_abandoned = Duration::ZERO;
        assert_eq!(blobs.clean_staging().await.unwrap(), 1);
        assert_eq!(left(&blobs).await, (vec![], vec![]));
        // A state that is not ours is refused, not acted on.
        assert!(blobs.partial_append("{}".into(), 0).await.is_err());
        assert!(blobs.partial_append(recorded, 3).await.is_err());
        stop(moto).await;
    }
}
