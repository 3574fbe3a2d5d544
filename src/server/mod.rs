//! The file.io-compatible server behind `fileio serve`.
//!
//! - [`config`]: the server's [`Options`], which `fileio serve` builds from its flags
//! - [`store`]: the storage protocol (uploads, replacements, one-time downloads), written
//!   once above two seams: [`meta::Meta`] (metadata; [`sqlite`] implements it) and
//!   [`blobs::Blobs`] (contents; [`blobs::LocalBlobs`] implements it)
//! - [`incoming`]: request bodies (multipart streamed to disk, urlencoded)
//! - [`handlers`], [`download`]: the endpoints, sharing an [`App`]
//! - [`tus`]: resumable uploads (tus 1.0.0) under `/tus/`
//! - [`auth`], [`limits`]: API keys, rate limiting
//! - [`response`], [`errors`]: the v2 answer and error shapes
//! - [`body`]: the access log
//! - [`migrate`]: `fileio serve migrate`, from one data directory to PostgreSQL and S3
//! - [`conn`]: one connection's bounds (stalls, lingering close, the open-file limit); the
//!   accept loop below adds the connection cap and the request-head timeout

/// Writes a line on stderr, ignoring failures: a closed log must not stop the server. The
/// line is formatted first and written whole: stderr is unbuffered, so `writeln!` on it
/// made a system call for every piece of the format (about ten per access-log line), and
/// lines from two threads could interleave.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut line = format!($($arg)*);
        line.push('\n');
        // After the access-log lines waiting, so that the log stays in order.
        $crate::server::body::flush_access_log();
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}
pub(crate) use log;

pub mod app;
pub mod auth;
pub mod blobs;
pub mod body;
pub mod config;
pub mod conn;
pub mod download;
pub mod errors;
pub mod fields;
pub mod handlers;
pub mod ids;
pub mod incoming;
pub mod limits;
pub mod meta;
pub mod migrate;
pub mod multipart;
pub mod pg;
pub mod response;
pub mod s3;
pub mod sqlite;
pub mod store;
pub mod tus;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::cors::{Any, CorsLayer};

use crate::error::{Failure, Kind};
pub use crate::server::app::App;
use crate::server::body::{LogLine, LoggedBody};
pub use crate::server::config::Options;
use crate::server::errors::ApiError;
use crate::server::limits::Limiter;
use crate::server::store::Store;

/// How long a stop waits for requests under way.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the server on its own multi-threaded runtime until SIGINT or SIGTERM.
pub fn run(config: Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Options) -> Result<()> {
    let nofile = conn::raise_nofile_limit();
    let blobs: Option<Arc<dyn blobs::Blobs>> = match &config.storage {
        Some(location) => {
            let aws = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
            Some(Arc::new(s3::S3Blobs::connect(location, aws).await?))
        }
        None => None,
    };
    let (store, cleanup) = match &config.database {
        None => Store::open_with(&config.data, blobs, store::system_clock())
            .await
            .with_context(|| match &config.storage {
                Some(location) => format!(
                    "cannot open the data directory {} with the files in {location}",
                    config.data.display()
                ),
                None => format!("cannot open the data directory {}", config.data.display()),
            })?,
        // Its errors name the database (never its password) and say what to check.
        Some(url) => {
            Store::open_shared(
                &config.data,
                url.expose(),
                blobs,
                None,
                config.staging_abandoned,
            )
            .await?
        }
    };
    let store = store.with_lease(config.lease);
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|e| {
            let f = Failure::new(Kind::Other, format!("cannot listen on {}: {e}", config.bind));
            if e.kind() == std::io::ErrorKind::AddrInUse {
                f.hint("another program uses this port: pick another with --bind, e.g. --bind 127.0.0.1:8081")
            } else {
                f
            }
        })?;
    let local_addr = listener.local_addr()?;
    let stop = shutdown_signal()?;
    log!("fileio serve: listening on http://{local_addr}");
    let connections = connection_cap(config.max_connections, nofile);
    if !local_addr.ip().is_loopback() && config.require_auth == config::RequireAuth::Off {
        log!(
            "fileio serve: warning: listening on {local_addr} without --require-auth: anyone who can reach this address may upload. Give keys (FILEIO_SERVE_API_KEYS or --api-keys-file) and --require-auth, or bind to 127.0.0.1"
        );
    }
    for w in &cleanup.warnings {
        log!("fileio serve: warning: {w}");
    }
    if cleanup.tmp_files + cleanup.orphan_blobs + cleanup.orphan_rows > 0 {
        log!(
            "fileio serve: cleaned up after an unclean stop: {} partial uploads, {} files without a record, {} records without a file",
            cleanup.tmp_files,
            cleanup.orphan_blobs,
            cleanup.orphan_rows
        );
    }

    let app = Arc::new(App {
        limiter: config.rate_limit.map(Limiter::new),
        config,
        store: Arc::new(store),
        local_addr,
    });
    let sweeper = tokio::spawn(sweep(app.clone()));
    let refunder = tokio::spawn({
        let store = app.store.clone();
        async move {
            let mut tick = tokio::time::interval(crate::server::store::PREPAID_IDLE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                store.refund_idle(false).await;
            }
        }
    });
    let result = accept_loop(listener, app.clone(), connections, stop).await;
    sweeper.abort();
    refunder.abort();
    // Downloads counted ahead and never delivered are given back: only a crash keeps them.
    app.store.refund_idle(true).await;
    result.context("the server failed")?;
    log!("fileio serve: stopped");
    Ok(())
}

/// The most a connection buffers in hyper, each way, and so the most one read of a body
/// takes. A request head must fit in it (nginx by default allows lines of 8 KiB, 32 KiB in
/// all; our clients send well under 1 KiB). Each read is a trip through hyper, the form
/// parser and the writer, and the kernel acknowledges each: 64 KiB reads made 64 MiB
/// uploads 13-21% faster than 16 KiB ones (BENCHMARKS.md, round six). With uploads' pieces
/// written as they came and a stalled upload's flushed, a stalled upload holds ~165-220 KiB
/// at 64 KiB (~110-160 at 16 KiB).
const HYPER_BUFFER: usize = 64 * 1024;

/// Open files kept for the database, blobs being read or written, the small blobs kept
/// open, and the listener.
const SPARE_FILES: u64 = 64 + blobs::OPEN_FILES as u64;

/// --max-connections, lowered if the open-file limit would not allow that many: each
/// connection may also hold a blob open.
fn connection_cap(wanted: usize, nofile: Option<u64>) -> usize {
    let Some(nofile) = nofile else {
        return wanted;
    };
    let fit = (nofile.saturating_sub(SPARE_FILES) / 2).max(1);
    if (wanted as u64) > fit {
        log!(
            "fileio serve: warning: serving at most {fit} connections at once, not {wanted}: the open-file limit is {nofile} (raise it with ulimit -n)"
        );
        fit as usize
    } else {
        wanted
    }
}

/// Accepts connections until `stop`, at most `cap` at once, each served by hyper with the
/// bounds of [`conn`]; then gives those under way [`SHUTDOWN_GRACE`] to finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    cap: usize,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.header_timeout)
        // hyper's read buffer grows to 400 KiB by default, and it queues as much of a
        // response: with the upload's own copies, the largest share of what a stalled
        // upload held (100 stalled uploads: 1,320 KiB each at 400 KiB, 523 at 64 KiB, 226
        // at 16 KiB, before uploads were written without a copy).
        .max_buf_size(HYPER_BUFFER);
    builder.http2().timer(TokioTimer::new());
    let stall = conn::Stall {
        read: app.config.body_timeout,
        write: app.config.send_timeout,
    };
    let router = router(app.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        // A place is taken before accepting: connections beyond the cap wait in the
        // kernel's backlog, costing no file descriptor here.
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    log!("fileio serve: cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(conn::Guarded::new(stream, stall, permit));
        let router = router.clone();
        // Set by the first request: until then the connection lives at most
        // --header-timeout (hyper's own timer starts only once HTTP/1 has been recognised).
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started2 = started.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                started2.store(true, std::sync::atomic::Ordering::Relaxed);
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                tower_service::Service::call(&mut router, req)
            });
        let connection = builder.serve_connection(io, service).into_owned();
        let connection = graceful.watch(connection);
        let header_timeout = app.config.header_timeout;
        tokio::spawn(async move {
            tokio::pin!(connection);
            let first = tokio::time::sleep(header_timeout);
            tokio::pin!(first);
            // Errors here are a client's doing (a reset, a timeout): nothing to report.
            tokio::select! {
                _ = &mut connection => return,
                _ = &mut first => {}
            }
            if started.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = connection.await;
            }
        });
    }
    drop(listener);
    // Requests under way get some time to finish; a stalled download does not hold the
    // process forever.
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            log!("fileio serve: requests still under way after {} s: closing them", SHUTDOWN_GRACE.as_secs());
        }
    }
    // The lines of the requests that finished during the grace period: their timed flush
    // does not run once the runtime is gone.
    body::flush_access_log();
    Ok(())
}

/// The routes, CORS, the rate limit and the access log.
pub fn router(app: Arc<App>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(
            [
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::RANGE,
                HeaderName::from_static("x-requested-with"),
            ]
            .into_iter()
            .chain(tus::REQUEST_HEADERS)
            .collect::<Vec<_>>(),
        )
        .expose_headers(
            [
                header::CONTENT_DISPOSITION,
                header::CONTENT_LENGTH,
                header::RETRY_AFTER,
            ]
            .into_iter()
            .chain(tus::RESPONSE_HEADERS)
            .collect::<Vec<_>>(),
        )
        .max_age(std::time::Duration::from_secs(3600));
    let api = Router::new()
        .route(
            "/",
            get(handlers::list)
                .post(handlers::upload)
                .options(tus::discovery),
        )
        .route("/me", get(handlers::me))
        .route("/help/api/errors/{code}", get(error_help))
        .route(
            "/{key}",
            get(download::get)
                .head(download::head)
                .put(handlers::put)
                .patch(handlers::patch)
                .delete(handlers::delete),
        )
        .merge(tus::routes(app.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), front))
        .layer(DefaultBodyLimit::disable())
        .with_state(app);
    // The CORS layer answers every OPTIONS request itself, as a preflight; the others (tus
    // discovery: `OPTIONS /`, `OPTIONS /tus/`) go to the routes.
    // One layer each side of CORS: every `from_fn` layer clones the service below it and
    // boxes a future per request (five of them were ~10% of a small download's CPU time).
    let plain = api.clone();
    api.layer(cors)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let mut plain = plain.clone();
            access_log(req, move |req| async move {
                let preflight = req.method() == Method::OPTIONS
                    && req
                        .headers()
                        .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
                if req.method() == Method::OPTIONS && !preflight {
                    match tower_service::Service::call(&mut plain, req).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    }
                } else {
                    next.run(req).await
                }
            })
        }))
}

/// What runs before the routes, inside CORS: the help links' base, the rate limit, and the
/// browser face.
async fn front(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let base = help_base(&app, &req);
    errors::HELP_BASE
        .scope(base, async move {
            if let Err(refused) = rate_limit(&app, &req) {
                return refused.into_response();
            }
            web::intercept(State(app), req, next).await
        })
        .await
}

/// Sets the base of the `help` links in error answers: this server, as --public-url or the
/// client's valid Host names it.
fn help_base(app: &App, req: &Request) -> String {
    match &app.config.public_url {
        Some(u) => u.clone(),
        None => format!(
            "http://{}",
            handlers::link_host(app, req.headers(), req.uri())
                .unwrap_or_else(|| app.local_addr.to_string())
        ),
    }
}

/// `GET /help/api/errors/{code}`: what an error code means, as plain text.
async fn error_help(axum::extract::Path(code): axum::extract::Path<String>) -> Response {
    match errors::help_text(&code) {
        Some(text) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{code}: {text}\n"),
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed here: use POST / to upload, GET /{{key}} to download, GET / to list, PUT, PATCH or DELETE /{{key}} to manage."
        ),
    )
}

/// The rate limit's verdict on a request: refused when its client is over the limit.
fn rate_limit(app: &App, req: &Request) -> Result<(), ApiError> {
    let connect = req.extensions().get::<ConnectInfo<SocketAddr>>().copied();
    if let (Some(limiter), Some(ConnectInfo(addr))) = (&app.limiter, connect) {
        let asset = app.config.web
            && (req.method() == Method::GET || req.method() == Method::HEAD)
            && req.uri().path().starts_with("/_/");
        let counted = if asset {
            limiter.check_asset(addr.ip())
        } else if req.method() != Method::OPTIONS {
            limiter.check(addr.ip())
        } else {
            Ok(())
        };
        counted?;
    }
    Ok(())
}

/// One line per request on stderr, when its response has been sent: client, method, path
/// (never the query string), status, bytes, milliseconds. Headers are never logged.
async fn access_log<F>(req: Request, next: impl FnOnce(Request) -> F) -> Response
where
    F: std::future::Future<Output = Response>,
{
    let connect = req.extensions().get::<ConnectInfo<SocketAddr>>().copied();
    let line = LogLine {
        client: connect.map(|c| c.0),
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        status: 0,
        start: Instant::now(),
    };
    let resp = next(req).await;
    let (parts, body) = resp.into_parts();
    let line = LogLine {
        status: parts.status.as_u16(),
        ..line
    };
    Response::from_parts(parts, LoggedBody::wrap(body, line))
}

/// Deletes expired files, and aborts uploads abandoned by stopped instances, every
/// --sweep-interval.
async fn sweep(app: Arc<App>) {
    let mut tick = tokio::time::interval(app.config.sweep_interval);
    loop {
        tick.tick().await;
        if let Some(l) = &app.limiter {
            l.prune();
        }
        match app.store.sweep().await {
            Ok(0) => {}
            Ok(n) => log!("fileio serve: deleted {n} expired files"),
            Err(e) => log!("fileio serve: sweeping expired files failed: {}", e.message),
        }
        match app.store.tus_sweep().await {
            Ok(0) => {}
            Ok(n) => log!("fileio serve: deleted {n} expired unfinished resumable uploads"),
            Err(e) => log!(
                "fileio serve: sweeping resumable uploads failed: {}",
                e.message
            ),
        }
        match app.store.sweep_abandoned().await {
            Ok(0) => {}
            Ok(n) => log!("fileio serve: aborted {n} uploads abandoned by stopped instances"),
            Err(e) => log!("fileio serve: sweeping abandoned uploads failed: {e}"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// it is first polled, so a signal right after the banner is not lost to the default action.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            log!("fileio serve: shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            log!("fileio serve: shutting down");
        })
    }
}
