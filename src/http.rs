//! The one HTTP client every command shares: timeouts, retries with backoff, verbose logging
//! with secrets redacted, and turning a server's unhelpful answer into a clear [`Failure`].

use std::time::Duration;

use anyhow::Result;
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use crate::activity::Activity;
use crate::error::{Failure, Kind, failure_of};

/// Header names whose values are never logged.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "x-token",
    "cookie",
    "set-cookie",
];

/// The longest `Retry-After` we wait for before giving up and telling the user instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// When a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Once only: an upload whose body cannot be read twice (standard input). Reported
    /// as an upload is when its fate is unknown.
    Never,
    /// After any transient failure: sending it twice does no harm (GET, HEAD, DELETE, PUT,
    /// PATCH, a chunk to its fixed place).
    Safe,
    /// Only when the server surely did not store it: a connect error, or a 429 or 503
    /// answer. An upload that creates a file is sent this way, so a retry never makes a
    /// second copy (and a refused upload is never sent again).
    IfNotStored,
}

/// `true` is [`Retry::Safe`], `false` [`Retry::Never`].
impl From<bool> for Retry {
    fn from(replayable: bool) -> Retry {
        if replayable {
            Retry::Safe
        } else {
            Retry::Never
        }
    }
}

/// What to do about a refused key, as a 401 or 403 says it.
pub const BAD_KEY_HINT: &str = "set FILEIO_API_KEY to a valid API key for this server";

/// What to do when an upload's fate is unknown.
const MAYBE_STORED_HINT: &str = "it was not sent again, as the server may have stored it: check with `fileio list` (or `fileio history`) before uploading it again";

/// How the client behaves, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Connect and read timeout, and how long an upload may make no progress.
    pub timeout: Duration,
    pub retries: u32,
    /// Log requests and responses on stderr, secrets redacted.
    pub verbose: bool,
    /// No retry warnings.
    pub quiet: bool,
}

#[derive(Clone)]
pub struct Http {
    pub client: Client,
    retries: u32,
    verbose: bool,
    quiet: bool,
    pub timeout: Duration,
}

impl Http {
    pub fn new(settings: &HttpOptions) -> Result<Http> {
        // reqwest is built without a default crypto provider (ring builds far faster than
        // aws-lc); install ours once. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = crate::tls::client_config()
            .map_err(|e| Failure::new(Kind::Other, format!("cannot set up TLS: {e}")))?;
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("fileio/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            // Redirects are looked at, not followed blindly: a moved API is news for the user.
            .redirect(reqwest::redirect::Policy::none())
            .connector_layer(crate::tcp::NotSentLowat)
            .build()
            .map_err(|e| Failure::new(Kind::Other, format!("cannot set up HTTP: {e}")))?;
        Ok(Http {
            client,
            retries: settings.retries,
            verbose: settings.verbose,
            quiet: settings.quiet,
            timeout: settings.timeout,
        })
    }

    /// Sends a request built by `make`, retrying transient failures with exponential backoff
    /// and jitter as `retry` allows; `make` is called again for each try so that a file body
    /// is re-read from its start.
    ///
    /// With an `activity`, a request whose body stops moving for the timeout is abandoned too
    /// (a server that stops reading an upload never trips a read timeout).
    ///
    /// An answer that arrives while the body is still being sent (an early 413, 401 or 429)
    /// is returned like any other: hyper hands it over as soon as its head is read, so the
    /// caller reports the refusal. Only a server that resets the connection before its answer
    /// is read leaves nothing but a broken connection to report.
    pub async fn send<F>(
        &self,
        what: &str,
        retry: impl Into<Retry>,
        activity: Option<&Activity>,
        mut make: F,
    ) -> Result<Response>
    where
        F: FnMut() -> Result<RequestBuilder>,
    {
        let retry = retry.into();
        let mut attempt = 0u32;
        loop {
            let request = make()?.build().map_err(|e| build_failure(what, &e))?;
            if !matches!(request.url().scheme(), "http" | "https") {
                return Err(not_http(what, request.url()).into());
            }
            if self.verbose {
                log_request(&request);
            }
            let can_retry = retry != Retry::Never && attempt < self.retries;
            let result = match activity {
                Some(a) => match a
                    .guard(what, self.timeout, self.client.execute(request))
                    .await
                {
                    Ok(r) => r,
                    // A stalled upload may have been stored: only safe requests are sent again.
                    Err(stalled) if retry != Retry::Safe => {
                        let message = failure_of(&stalled)
                            .map_or_else(|| format!("{stalled:#}"), |f| f.message.clone());
                        return Err(Failure::new(Kind::Network, message)
                            .hint("raise --timeout if the server is just slow")
                            .hint(MAYBE_STORED_HINT)
                            .into());
                    }
                    Err(stalled) if !can_retry => return Err(stalled),
                    Err(_) => {
                        let wait = backoff(attempt);
                        let why = format!("no progress for {}s", self.timeout.as_secs());
                        self.note_retry(&why, wait, attempt);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                },
                None => self.client.execute(request).await,
            };
            match result {
                Ok(resp) => {
                    if self.verbose {
                        log_response(&resp);
                    }
                    let status = resp.status();
                    let transient = match retry {
                        // 429 and 503 say the request was not processed; a 502 or 504 comes
                        // from a proxy that may have passed the whole upload on.
                        Retry::IfNotStored => matches!(status.as_u16(), 429 | 503),
                        _ => matches!(status.as_u16(), 429 | 502 | 503 | 504),
                    };
                    if retry != Retry::Safe
                        && status.is_server_error()
                        && status != StatusCode::SERVICE_UNAVAILABLE
                    {
                        return Err(error_from_response(what, resp)
                            .await
                            .hint(MAYBE_STORED_HINT)
                            .into());
                    }
                    if !transient || !can_retry {
                        return Ok(resp);
                    }
                    let wait = match retry_after(resp.headers()) {
                        Some(w) if w > MAX_RETRY_AFTER => return Ok(resp),
                        Some(w) => w,
                        None => backoff(attempt),
                    };
                    self.note_retry(&format!("the server answered {status}"), wait, attempt);
                    tokio::time::sleep(wait).await;
                }
                Err(err) => {
                    // A dropped connection is retried too, where that cannot store twice.
                    let transient = match retry {
                        Retry::IfNotStored => err.is_connect(),
                        _ => {
                            err.is_connect()
                                || err.is_timeout()
                                || err.is_request()
                                || err.is_body()
                        }
                    };
                    if retry != Retry::Safe && !err.is_connect() {
                        return Err(upload_broke(what, &err, self.timeout).into());
                    }
                    if !can_retry || !transient {
                        return Err(network_failure(what, &err, self.timeout).into());
                    }
                    let wait = backoff(attempt);
                    self.note_retry(&describe_reqwest(&err, self.timeout), wait, attempt);
                    tokio::time::sleep(wait).await;
                }
            }
            attempt += 1;
        }
    }

    /// How many times a transient failure is retried (`--retries`).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Says on stderr that a failure is retried after `wait` (unless quiet).
    pub fn note_retry(&self, why: &str, wait: Duration, attempt: u32) {
        if !self.quiet {
            // Above any progress bar, not through it.
            crate::progress::suspend(|| {
                eprintln!(
                    "fileio: warning: {why}; retrying in {:.1}s (retry {} of {})",
                    wait.as_secs_f64(),
                    attempt + 1,
                    self.retries
                )
            });
        }
    }
}

/// 250 ms, doubling each try, capped at 8 s, with up to 50% jitter so that many clients
/// retrying at once spread out.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1 << attempt.min(5));
    let base = base.min(Duration::from_secs(8));
    let jitter = rand::rng().random_range(0.0..0.5);
    base.mul_f64(1.0 + jitter)
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

/// A transport error as one sentence, with exit code 7.
pub fn network_failure(what: &str, err: &reqwest::Error, timeout: Duration) -> Failure {
    let url = err
        .url()
        .map(|u| redact_url(u.as_str()))
        .unwrap_or_default();
    let described = describe_reqwest(err, timeout);
    let mut f = Failure::new(Kind::Network, format!("{what} failed: {described}"));
    if is_certificate_error(err) {
        f = f.hint("the server's certificate is not trusted; for a private CA, set SSL_CERT_FILE to its certificate (PEM)");
    } else if err.is_connect() && !url.is_empty() {
        f = f.hint(format!(
            "check that {url} is reachable, or point --server at another server"
        ));
    } else if err.is_timeout() {
        f = f.hint("raise --timeout if the server is just slow");
    }
    f
}

/// Whether the TLS layer refused the server's certificate: a rustls error somewhere in the
/// error's chain says so (rustls-platform-verifier reports through it too).
fn is_certificate_error(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            );
        }
        // An io::Error's source() skips the error it wraps: step into it instead.
        cause = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// An upload whose connection broke (or went quiet) after it started: not retried, since
/// the server may have refused it (too large, a key needed, rate limited: a server that
/// closes without a lingering close loses its own answer) or may have stored it.
fn upload_broke(what: &str, err: &reqwest::Error, timeout: Duration) -> Failure {
    let described = describe_reqwest(err, timeout);
    Failure::new(Kind::Network, format!("{what} failed: {described}"))
        .hint("the server may have refused the upload before reading all of it (too large, a key needed, rate limited) without its answer arriving; `fileio me` shows its limits where it has them")
        .hint(MAYBE_STORED_HINT)
}

/// A request that could not be built: a redirect or link to a URL fileio cannot fetch is
/// the server's doing (exit 8), anything else a bad value.
fn build_failure(what: &str, e: &reqwest::Error) -> Failure {
    match e.url() {
        Some(u) if !matches!(u.scheme(), "http" | "https") => not_http(what, u),
        _ => Failure::new(
            Kind::Usage,
            format!("cannot build the request for {what}: {e}"),
        ),
    }
}

/// The server pointed at a `file:`, `data:`, `javascript:`… URL: never followed. Only its
/// scheme is shown (a `data:` URL is the server's text, of any length).
fn not_http(what: &str, url: &reqwest::Url) -> Failure {
    Failure::new(
        Kind::BadAnswer,
        format!(
            "{what}: the server pointed to a {}: URL, not http(s); fileio does not follow it",
            url.scheme()
        ),
    )
    .hint("the server is misconfigured or hostile; open the link in a browser only if you trust it")
}

fn describe_reqwest(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        // The same words as the stall watchdog's (crate::activity): whichever notices first.
        return format!("no progress for {}s", timeout.as_secs());
    }
    // The innermost cause says most (connection refused, dns error, …).
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let root = cause.to_string();
    if err.is_connect() {
        format!("cannot connect ({root})")
    } else if err.is_body() || err.is_request() {
        format!("the connection broke ({root})")
    } else {
        root
    }
}

/// Reads an error answer (status ≥ 300) and turns it into a [`Failure`]: the server's own
/// message where it gave one in JSON, otherwise what came back and what to try.
pub async fn error_from_response(what: &str, resp: Response) -> Failure {
    let status = resp.status();
    let content_type = content_type(resp.headers());
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let retry = retry_after(resp.headers());
    // Error bodies are small; read at most 64 KiB of one.
    let body = read_capped(resp, 64 * 1024).await;
    let server_msg = json_message(&body);

    if status.is_redirection() {
        // The Location is the server's: its secrets redacted, a non-http one shown by scheme.
        let to = location
            .as_deref()
            .map_or("elsewhere".into(), redact_location);
        return Failure::new(
            Kind::BadAnswer,
            format!("{what}: the server redirected to {to} instead of answering the API ({status}); the service may have changed"),
        )
        .status(status.as_u16())
        .hint("point --server at a compatible server (for example one started with `fileio serve`), or pick another --service");
    }
    // A status with a meaning keeps it whatever the body: an HTML 413 from a proxy is still
    // "too large". Only an answer whose status says nothing precise is reported as a page.
    let meaningful =
        matches!(status.as_u16(), 401 | 403 | 404 | 410 | 413 | 429) || status.is_server_error();
    if server_msg.is_none() && !meaningful && looks_like_html(&content_type, &body) {
        return html_failure(what, status, &content_type);
    }
    let detail = server_msg.unwrap_or_else(|| first_line(&strip_tags(&body)));
    status_failure(what, status, &detail, retry)
}

/// A redirect target for a message: a URL with its secrets redacted, or only the scheme of
/// one that is not http(s).
fn redact_location(location: &str) -> String {
    match reqwest::Url::parse(location) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => format!("a {}: URL", u.scheme()),
        Ok(u) => redact_url(u.as_str()),
        // A relative Location: no host to speak of, but it may still hold a secret.
        Err(_) if location.contains("/tus/") => "a tus upload URL (redacted)".into(),
        Err(_) => match location.split_once('?') {
            Some((path, _)) => format!("{} (query redacted)", first_line(path)),
            None => first_line(location),
        },
    }
}

/// An error answer from a service whose errors are plain text or HTML pages (0x0): the
/// status and the first line of the body, tags removed.
pub async fn error_from_plain_response(what: &str, resp: Response) -> Failure {
    let status = resp.status();
    let retry = retry_after(resp.headers());
    let body = read_capped(resp, 64 * 1024).await;
    let text = strip_tags(&body);
    let detail = json_message(&body).unwrap_or_else(|| first_line(&text));
    status_failure(what, status, &detail, retry)
}

/// The failure for an error status, with the exit code its status means.
fn status_failure(
    what: &str,
    status: StatusCode,
    detail: &str,
    retry: Option<Duration>,
) -> Failure {
    let detail = match status.as_u16() {
        _ if !detail.is_empty() => detail.to_string(),
        // An answer without a body (a HEAD, a bare 404): what such a status means here.
        404 | 410 => {
            "nothing at this link: it may have expired, been downloaded already, or never existed"
                .to_string()
        }
        _ => status.to_string(),
    };
    let kind = match status.as_u16() {
        400 | 411 | 414 | 415 | 422 => Kind::Usage,
        401 | 403 => Kind::Auth,
        404 | 410 | 451 => Kind::NotFound,
        413 => Kind::TooLarge,
        429 => Kind::RateLimited,
        _ => Kind::BadAnswer,
    };
    let mut f = Failure::new(kind, format!("{what}: {detail} ({status})")).status(status.as_u16());
    match kind {
        Kind::Auth => f = f.hint(BAD_KEY_HINT),
        Kind::RateLimited => {
            let wait = retry
                .map(|d| format!(" in {}s", d.as_secs()))
                .unwrap_or_default();
            f = f.hint(format!(
                "the server is rate limiting; try again{wait}, or raise --retries"
            ));
        }
        Kind::BadAnswer if status.is_server_error() => {
            f = f.hint("the server failed; try again later")
        }
        _ => {}
    }
    f
}

/// Text with `<…>` tags removed, for HTML error pages.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push('\n');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The answer was a web page, not the API: say so, and what to try.
pub fn html_failure(what: &str, status: StatusCode, content_type: &str) -> Failure {
    let ct = if content_type.is_empty() {
        "no content type".into()
    } else {
        content_type.to_string()
    };
    Failure::new(
        Kind::BadAnswer,
        format!("{what}: the server answered {status} with a web page ({ct}) instead of the API; the service may have changed"),
    )
    .status(status.as_u16())
    .hint("point --server at a compatible server (for example one started with `fileio serve`), or pick another --service")
}

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn looks_like_html(content_type: &str, body: &str) -> bool {
    let start = body
        .trim_start()
        .get(..15)
        .unwrap_or("")
        .to_ascii_lowercase();
    content_type.contains("text/html")
        || start.starts_with("<!doctype")
        || start.starts_with("<html")
}

/// The `message` (v2, classic, or `error` string) of a JSON error body.
fn json_message(body: &str) -> Option<String> {
    /// A JSON error body as it comes over the wire; a field that is not a string is no message.
    #[derive(serde::Deserialize)]
    struct WireError {
        #[serde(default)]
        message: Option<Text>,
        #[serde(default)]
        error: Option<Text>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    let text = |t: Option<Text>| match t {
        Some(Text::Text(s)) => Some(s),
        _ => None,
    };
    let v: WireError = serde_json::from_str(body).ok()?;
    let msg = text(v.message).or_else(|| text(v.error))?;
    Some(msg.trim().trim_end_matches('.').to_string())
}

fn first_line(body: &str) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(200).filter(|c| !c.is_control()).collect()
}

/// Reads up to `cap` bytes of a body as text, never more.
pub async fn read_capped(mut resp: Response, cap: usize) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= cap {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The most of a JSON answer that is read: far above any real page or record.
const JSON_CAP: usize = 16 << 20;

/// Reads a JSON answer that is expected to be small (at most 16 MiB) straight into a typed
/// wire struct, reporting HTML, a truncated body or malformed JSON as an unexpected answer
/// rather than a parse error. serde skips what the struct does not name instead of building
/// a tree of it, so a page costs a small multiple of its size.
pub async fn read_typed<T: serde::de::DeserializeOwned>(what: &str, resp: Response) -> Result<T> {
    let status = resp.status();
    let ct = content_type(resp.headers());
    let buf = read_bytes(what, resp).await?;
    if looks_like_html(&ct, &String::from_utf8_lossy(&buf[..buf.len().min(64)])) {
        return Err(html_failure(what, status, &ct).into());
    }
    serde_json::from_slice(&buf).map_err(|_| {
        let ct = if ct.is_empty() {
            "no content type".into()
        } else {
            ct
        };
        let start = String::from_utf8_lossy(&buf[..buf.len().min(1024)]).into_owned();
        Failure::new(
            Kind::BadAnswer,
            format!(
                "{what}: the server's answer is not the JSON the API gives ({status}, {ct}): {}",
                first_line(&start)
            ),
        )
        .hint("check that --server and --service name a compatible server")
        .into()
    })
}

/// The whole body, refused beyond [`JSON_CAP`].
async fn read_bytes(what: &str, mut resp: Response) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > JSON_CAP {
                    return Err(Failure::new(
                        Kind::BadAnswer,
                        format!("{what}: the answer is larger than 16 MiB; this is not the API"),
                    )
                    .into());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf),
            Err(e) => {
                return Err(Failure::new(
                    Kind::Network,
                    format!(
                        "{what}: the connection broke while reading the answer ({})",
                        root_cause(&e)
                    ),
                )
                .into());
            }
        }
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn log_request(req: &reqwest::Request) {
    eprintln!("> {} {}", req.method(), redact_url(req.url().as_str()));
    log_headers('>', req.headers());
}

fn log_response(resp: &Response) {
    eprintln!("< {:?} {}", resp.version(), resp.status());
    log_headers('<', resp.headers());
}

fn log_headers(dir: char, headers: &HeaderMap) {
    for (name, value) in headers {
        // A header may carry bidi overrides and other invisible characters as UTF-8.
        let value = redact_header(name.as_str(), value);
        eprintln!("{dir} {}: {}", name, crate::terminal_text::inert(&value));
    }
}

fn redact_header(name: &str, value: &HeaderValue) -> String {
    if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        let scheme = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .map(|(s, _)| s);
        return match scheme {
            Some(s) => format!("{s} (redacted)"),
            None => "(redacted)".into(),
        };
    }
    let text = String::from_utf8_lossy(value.as_bytes());
    // A redirect target may carry a presigned signature or a token in its query.
    if matches!(
        name.to_ascii_lowercase().as_str(),
        "location" | "content-location" | "refresh" | "link"
    ) {
        return match name.eq_ignore_ascii_case("location") {
            true => redact_location(&text),
            false => redact_urls_in(&text),
        };
    }
    text.into_owned()
}

/// Every http(s) URL inside a header value (`Refresh: 0; url=…`, `Link: <…>`) redacted.
fn redact_urls_in(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | '"' | '\'' | ';' | ','))
            .unwrap_or(tail.len());
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Whether a query parameter's value looks like a credential, by its name: the usual names
/// (`key`, `token`, `password`, `signature`…), S3's presigned-URL fields, and any name
/// ending in one of them (`upload_token`, `X-Goog-Signature`).
fn is_secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    const EXACT: &[&str] = &[
        "key",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "signature",
        "sig",
        "password",
        "passwd",
        "pass",
        "pwd",
        "secret",
        "client_secret",
        "session",
        "sessionid",
        "code",
        "x_amz_signature",
        "x_amz_credential",
        "x_amz_security_token",
        "awsaccesskeyid",
        "credential",
    ];
    const ENDINGS: &[&str] = &[
        "_key",
        "_token",
        "_secret",
        "_signature",
        "_password",
        "_credential",
        "apikey",
    ];
    EXACT.contains(&n.as_str()) || ENDINGS.iter().any(|e| n.ends_with(e))
}

/// A URL with credential-like query values (see [`is_secret_param`]) and user info
/// removed, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let _ = u.set_password(None);
    let _ = u.set_username("");
    // An encrypted link's fragment holds its key: never sent, so never shown either.
    u.set_fragment(None);
    // A tus upload's URL (`…/tus/ID`) is a capability: whoever has it may write to the upload.
    let segments: Option<Vec<String>> = u.path_segments().map(|s| s.map(str::to_owned).collect());
    if let Some(mut segs) = segments {
        if let Some(i) = segs.iter().position(|s| s == "tus") {
            if segs.get(i + 1).is_some_and(|id| !id.is_empty()) {
                segs[i + 1] = "(redacted)".into();
                segs.truncate(i + 2);
                u.set_path(&segs.join("/"));
            }
        }
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret = is_secret_param(&k);
                (
                    k.into_owned(),
                    if secret {
                        "(redacted)".into()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each connection the client makes keeps at most `tcp::NOTSENT_LOWAT` unsent.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_client_sets_the_unsent_limit_on_the_connections_it_makes() {
        use crate::tcp::{NOTSENT_LOWAT, tests::ONE_AT_A_TIME, tests::lowat_of_socket_to};
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let http = Http::new(&HttpOptions {
                timeout: Duration::from_secs(10),
                retries: 0,
                verbose: false,
                quiet: true,
            })
            .unwrap();
            let client = http.client.clone();
            let request = tokio::spawn(async move {
                let _ = client.get(format!("http://{addr}/")).send().await;
            });
            let (_held, _) = listener.accept().await.unwrap();
            let t = std::time::Instant::now();
            while lowat_of_socket_to(addr) != Some(NOTSENT_LOWAT) && t.elapsed().as_secs() < 5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(lowat_of_socket_to(addr), Some(NOTSENT_LOWAT));
            request.abort();
        });
    }

    #[test]
    fn redacts_keys_in_urls_and_headers() {
        assert_eq!(
            redact_url("https://u:p@x.test/a?key=fii_secret&page=2"),
            "https://x.test/a?key=%28redacted%29&page=2"
        );
        let v = HeaderValue::from_static("Bearer abc.def");
        assert_eq!(redact_header("authorization", &v), "Bearer (redacted)");
        assert_eq!(
            redact_header("x-api-key", &HeaderValue::from_static("k")),
            "(redacted)"
        );
        let presigned = "https://b.s3.test/o?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=abc&part=1";
        assert_eq!(
            redact_url(presigned),
            "https://b.s3.test/o?X-Amz-Credential=%28redacted%29&X-Amz-Signature=%28redacted%29&part=1"
        );
        assert_eq!(
            redact_header(
                "location",
                &HeaderValue::from_static("https://x.test/d?access_token=t0k&sig=s")
            ),
            "https://x.test/d?access_token=%28redacted%29&sig=%28redacted%29"
        );
        assert_eq!(
            redact_header(
                "location",
                &HeaderValue::from_static("/next?password=hunter2")
            ),
            "/next (query redacted)"
        );
        assert_eq!(
            redact_header(
                "link",
                &HeaderValue::from_static("<https://x.test/?token=t>; rel=next")
            ),
            "<https://x.test/?token=%28redacted%29>; rel=next"
        );
        for name in [
            "api_key",
            "upload_token",
            "X-Goog-Signature",
            "client_secret",
            "secret",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        assert!(!is_secret_param("page") && !is_secret_param("offset"));
        assert_eq!(
            redact_url("http://h:1/tus/AbC123secret"),
            "http://h:1/tus/(redacted)"
        );
        assert_eq!(redact_url("http://h:1/tus/"), "http://h:1/tus/");
        assert_eq!(
            redact_header("location", &HeaderValue::from_static("http://h/tus/AbC")),
            "http://h/tus/(redacted)"
        );
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(
            backoff(0) >= Duration::from_millis(250) && backoff(0) < Duration::from_millis(400)
        );
        assert!(backoff(10) <= Duration::from_secs(12));
    }
}
