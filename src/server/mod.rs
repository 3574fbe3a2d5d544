//! The file.io-compatible server behind `fileio serve`.
//!
//! - [`config`]: flags checked into a [`config::Config`]
//! - [`store`]: SQLite metadata and blobs on disk
//! - [`incoming`]: request bodies (multipart streamed to disk, urlencoded)
//! - [`handlers`], [`download`]: the endpoints
//! - [`auth`], [`limits`]: API keys, rate limiting
//! - [`response`]: the v2 answer and error shapes
//! - [`body`]: the access log and download counting

/// Writes a line on stderr, ignoring failures: a closed log must not stop the server.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use log;

pub mod auth;
pub mod body;
pub mod config;
pub mod download;
pub mod fields;
pub mod handlers;
pub mod incoming;
pub mod limits;
pub mod response;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::cors::{Any, CorsLayer};

use crate::error::{Failure, Kind};
use crate::server::body::{LogLine, LoggedBody};
use crate::server::config::Config;
use crate::server::limits::Limiter;
use crate::server::response::ApiError;
use crate::server::store::Store;

/// How long a stop waits for requests under way.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What every handler shares.
pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub limiter: Option<Limiter>,
    pub local_addr: SocketAddr,
}

/// Runs the server on its own multi-threaded runtime until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> Result<()> {
    let (store, cleanup) = Store::open(&config.data)
        .with_context(|| format!("cannot open the data directory {}", config.data.display()))?;
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
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    // Requests under way get some time to finish; a stalled download does not hold the
    // process forever.
    let grace = async {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let result = tokio::select! {
        r = server => r,
        _ = grace => {
            log!("fileio serve: requests still under way after {} s: closing them", SHUTDOWN_GRACE.as_secs());
            Ok(())
        }
    };
    sweeper.abort();
    result.context("the server failed")?;
    log!("fileio serve: stopped");
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
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::RANGE,
        ])
        .expose_headers([
            header::CONTENT_DISPOSITION,
            header::CONTENT_LENGTH,
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(3600));
    Router::new()
        .route("/", get(handlers::list).post(handlers::upload))
        .route("/me", get(handlers::me))
        .route(
            "/{key}",
            get(download::get)
                .head(download::head)
                .put(handlers::put)
                .patch(handlers::patch)
                .delete(handlers::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), rate_limit))
        .layer(DefaultBodyLimit::disable())
        .layer(cors)
        .layer(middleware::from_fn(access_log))
        .with_state(app)
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

async fn rate_limit(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let connect = req.extensions().get::<ConnectInfo<SocketAddr>>().copied();
    if let (Some(limiter), Some(ConnectInfo(addr))) = (&app.limiter, connect) {
        if req.method() != Method::OPTIONS {
            if let Err(e) = limiter.check(addr.ip()) {
                return e.into_response();
            }
        }
    }
    next.run(req).await
}

/// One line per request on stderr, when its response has been sent: client, method, path
/// (never the query string), status, bytes, milliseconds. Headers are never logged.
async fn access_log(req: Request, next: Next) -> Response {
    let connect = req.extensions().get::<ConnectInfo<SocketAddr>>().copied();
    let line = LogLine {
        client: connect.map(|c| c.0),
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        status: 0,
        start: Instant::now(),
    };
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let line = LogLine {
        status: parts.status.as_u16(),
        ..line
    };
    Response::from_parts(parts, LoggedBody::wrap(body, line))
}

/// Deletes expired files every --sweep-interval.
async fn sweep(app: Arc<App>) {
    let mut tick = tokio::time::interval(app.config.sweep_interval);
    loop {
        tick.tick().await;
        let a = app.clone();
        let swept = tokio::task::spawn_blocking(move || {
            if let Some(l) = &a.limiter {
                l.prune();
            }
            a.store.sweep()
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => log!("fileio serve: deleted {n} expired files"),
            Ok(Err(e)) => log!("fileio serve: sweeping expired files failed: {e:#}"),
            Err(e) => log!("fileio serve: sweeping expired files failed: {e}"),
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
