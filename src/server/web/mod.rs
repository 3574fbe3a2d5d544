//! The browser face of `fileio serve`: an upload page at `/`, a landing page at `/{key}`,
//! their assets under `/_/`, and QR codes of this server's links as SVG.
//!
//! It sits in front of the API as one middleware ([`intercept`]) and answers only:
//! - `GET /` from a client that prefers `text/html` to JSON (a browser): the upload page;
//! - `GET`/`HEAD /{key}` from such a client, or from any link-preview fetcher or crawler
//!   ([`bots`]): the landing page, which reads the file's row and never reserves a download;
//! - `/_/…`: the embedded assets and `/_/qr/{key}`.
//!
//! Everything else — `curl`, `wget`, `fileio download`, every API client, and the landing
//! page's own Download button (`/{key}?download=1`) — goes on to the API as before, so only
//! that request counts, when its last byte has been sent. `--no-web` turns all this off.
//!
//! Pages carry a strict Content-Security-Policy: scripts and styles only from `/_/`, no
//! inline code, nothing from elsewhere, no framing.

pub mod bots;
mod pages;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::server::App;
use crate::server::config::RequireAuth;
use crate::server::handlers::link_host;

/// The embedded assets: path under `/_/`, content type, contents.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("assets/icon.svg"),
    ),
];

/// The total size of the embedded assets, in bytes (pages are rendered from templates in
/// [`pages`]).
pub fn assets_size() -> usize {
    ASSETS.iter().map(|(_, _, b)| b.len()).sum()
}

/// Scripts and styles from this origin only, no inline code, no plugins, no framing, and
/// connections only back to this server.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The longest key accepted in `/_/qr/{key}` (file keys are 12 characters).
const MAX_KEY: usize = 64;

/// The answer to a browser (or a preview fetcher) for the request, if it is one of ours;
/// else the API's answer, marked as varying with the headers this choice reads.
pub async fn intercept(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if !app.config.web {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let ours = method == Method::GET || method == Method::HEAD;
    if ours {
        if let Some(rest) = path.strip_prefix("/_/") {
            return asset(&app, req.headers(), req.uri(), rest);
        }
    }
    let key = landing_key(&path);
    let choosing = path == "/" || key.is_some();
    if ours && choosing {
        let headers = req.headers();
        let html = prefers_html(headers);
        let bot = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(bots::is_preview_bot);
        if path == "/" && method == Method::GET && html {
            return pages::upload(&app, headers, req.uri()).await;
        }
        if let Some(key) = key {
            // The Download button's request goes on to the API, except from a bot: a crawler
            // following the button must not spend the link either.
            if bot || (html && !wants_download(req.uri().query())) {
                return pages::landing(&app, headers, req.uri(), key).await;
            }
        }
    }
    let mut resp = next.run(req).await;
    if choosing {
        resp.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Accept, User-Agent"));
    }
    resp
}

/// The key of a landing page: a single path segment that is not one of the API's own.
fn landing_key(path: &str) -> Option<&str> {
    let key = path.strip_prefix('/')?;
    (!key.is_empty() && !key.contains('/') && key != "me" && key != "tus").then_some(key)
}

/// `?download=1` (or any value but 0/false): the landing page's Download button.
fn wants_download(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .unwrap_or_default()
            .iter()
            .any(|(k, v)| k == "download" && v != "0" && v != "false")
    })
}

/// Whether the client ranks `text/html` above `application/json` in its Accept header:
/// browsers do (`text/html,…,*/*;q=0.8`); curl, wget and API clients send `*/*`, JSON or
/// nothing, and get the API.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let accept: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let accept = accept.join(",");
    // The quality of the most specific range matching `ty/sub`; `explicit` when the range
    // names the type (`text/html` or `text/*`), not only `*/*`.
    let quality = |ty: &str, sub: &str| -> (f32, bool) {
        let mut best: Option<(u8, f32)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let Some(media) = parts.next().map(|m| m.trim().to_ascii_lowercase()) else {
                continue;
            };
            let Some((rt, rs)) = media.split_once('/') else {
                continue;
            };
            let specificity = match (rt == ty, rs == sub) {
                (true, true) => 2,
                (true, false) if rs == "*" => 1,
                _ if rt == "*" && rs == "*" => 0,
                _ => continue,
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            }
        }
        match best {
            Some((s, q)) => (q, s > 0),
            None => (0.0, false),
        }
    };
    let (html, explicit) = quality("text", "html");
    let (json, _) = quality("application", "json");
    explicit && html > 0.0 && html > json
}

/// The base of this server's links: --public-url, else `http://` and the Host the client
/// used (as the API builds them).
fn base_url(app: &App, headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    match &app.config.public_url {
        Some(u) => Some(u.clone()),
        None => link_host(app, headers, uri).map(|h| format!("http://{h}")),
    }
}

/// The security headers every page and asset carries.
fn secure(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "Cross-Origin-Opener-Policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "Cross-Origin-Resource-Policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "Permissions-Policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
}

fn answer(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: Body,
) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(&mut resp);
    resp
}

/// A page: HTML, never cached (it shows live counts), varying with Accept and User-Agent.
fn page(status: StatusCode, html: String) -> Response {
    let mut resp = answer(
        status,
        "text/html; charset=utf-8",
        "no-store",
        Body::from(html),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept, User-Agent"));
    resp
}

/// `/_/{name}`: an embedded asset, or `/_/qr/{key}`.
fn asset(app: &App, headers: &HeaderMap, uri: &axum::http::Uri, name: &str) -> Response {
    if let Some(key) = name.strip_prefix("qr/") {
        return qr(app, headers, uri, key);
    }
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, bytes)) => answer(
            StatusCode::OK,
            ty,
            "public, max-age=3600",
            Body::from(&bytes[..]),
        ),
        None => pages::not_found_plain(),
    }
}

/// `/_/qr/{key}`: the QR code of this server's link for `key`, as SVG. Only links of this
/// server: the key is a path segment of letters and digits, the base is the server's own.
fn qr(app: &App, headers: &HeaderMap, uri: &axum::http::Uri, key: &str) -> Response {
    let valid =
        !key.is_empty() && key.len() <= MAX_KEY && key.bytes().all(|b| b.is_ascii_alphanumeric());
    let link = base_url(app, headers, uri).filter(|_| valid);
    match link.and_then(|base| crate::qr::svg(&format!("{base}/{key}"))) {
        Some(svg) => answer(StatusCode::OK, "image/svg+xml", "no-store", Body::from(svg)),
        None => pages::not_found_plain(),
    }
}

/// Whether downloads need a key (`--require-auth=all`): then a landing page would show a
/// file's details to anyone, so it shows only how to download with a key.
fn closed(app: &App) -> bool {
    app.config.require_auth == RequireAuth::All
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn only_clients_ranking_html_above_json_prefer_html() {
        for browser in [
            CHROME,
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html",
            "text/*, application/json;q=0.5",
        ] {
            assert!(prefers_html(&accept(browser)), "{browser}");
        }
        for api in [
            "*/*",
            "application/json",
            "application/json, text/plain, */*",
            "text/html;q=0.5, application/json",
            "text/html, application/json",
            "text/html;q=0",
            "text/plain",
            "",
        ] {
            assert!(!prefers_html(&accept(api)), "{api}");
        }
        assert!(!prefers_html(&HeaderMap::new()));
    }

    const CHROME: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";

    #[test]
    fn the_download_button_and_the_api_paths_are_told_apart() {
        assert!(wants_download(Some("download=1")));
        assert!(wants_download(Some("a=b&download=yes")));
        assert!(!wants_download(Some("download=0")));
        assert!(!wants_download(Some("download=false")));
        assert!(!wants_download(None));
        assert_eq!(landing_key("/AbC123"), Some("AbC123"));
        assert_eq!(landing_key("/"), None);
        assert_eq!(landing_key("/me"), None);
        assert_eq!(landing_key("/help/api/errors/X"), None);
    }
}
