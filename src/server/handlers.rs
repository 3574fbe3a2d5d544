//! The API's JSON endpoints: upload, list, me, update (PUT, PATCH) and delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Uri, header};
use chrono::{DateTime, Utc};

use crate::server::app::App;
use crate::server::auth::{self, Owner};
use crate::server::config::RequireAuth;
use crate::server::errors::ApiError;
use crate::server::fields::Fields;
use crate::server::incoming::{self, Incoming, Limit};
use crate::server::meta::{ListQuery, Settings, SortField};
use crate::server::response::{Done, FileDetails, ListAnswer, MeAnswer, file_details};

/// Whether a Host header (or a request target's authority) is a plain `host[:port]`: a DNS
/// name or IPv4 address, or an IPv6 address in brackets, and a port of digits. Nothing else
/// (`#`, `?`, `/`, `@`, spaces, control characters…) may go into a link.
pub fn valid_host(h: &str) -> bool {
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("x", Some(p)),
                None => return false,
            },
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    host_ok && port_ok
}

/// The host links are built from when there is no --public-url: the Host header, else the
/// request target's authority, else the address the server listens on. `None` when the
/// client sent one that is not a valid `host[:port]`.
pub fn link_host(app: &App, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    match headers.get(header::HOST) {
        Some(h) => h
            .to_str()
            .ok()
            .filter(|h| valid_host(h))
            .map(str::to_string),
        None => match uri.authority() {
            Some(a) => Some(a.as_str())
                .filter(|a| valid_host(a))
                .map(str::to_string),
            None => Some(app.local_addr.to_string()),
        },
    }
}

/// The base of links: --public-url, else `http://` and the host the client used; 400 when
/// that host is not a valid `host[:port]`.
pub fn base_url(app: &App, headers: &HeaderMap, uri: &Uri) -> Result<String, ApiError> {
    if let Some(u) = &app.config.public_url {
        return Ok(u.clone());
    }
    link_host(app, headers, uri)
        .map(|h| format!("http://{h}"))
        .ok_or_else(|| {
            ApiError::bad_request(
                "The Host header is not a valid host name: send the server's name or address with an optional port, such as files.example.com or 127.0.0.1:8080.",
            )
        })
}

/// How much an upload by `owner` may hold.
pub async fn limit_for(
    app: &App,
    owner: &Owner,
    replacing: bool,
) -> Result<Option<Limit>, ApiError> {
    let size = app.config.max_size.map(|b| Limit {
        bytes: b,
        quota: false,
    });
    let quota = match app.config.max_storage {
        Some(max) if !replacing => {
            // Resumable uploads under way have their room kept for them.
            let used = app.store.used(owner).await? + app.store.tus_pending(owner).await?;
            Some(Limit {
                bytes: max.saturating_sub(used),
                quota: true,
            })
        }
        Some(max) => Some(Limit {
            bytes: max,
            quota: true,
        }),
        None => None,
    };
    Ok(match (size, quota) {
        (Some(s), Some(q)) => Some(if q.bytes < s.bytes { q } else { s }),
        (s, q) => s.or(q),
    })
}

async fn read_fields(
    app: &App,
    query: Option<&str>,
    req: Request,
    limit: Option<Limit>,
    now: DateTime<Utc>,
) -> Result<Incoming, ApiError> {
    let check = |f: &Fields| f.validate(&app.config, now);
    incoming::read(&app.store, req, Fields::from_query(query), limit, &check).await
}

fn missing_file() -> ApiError {
    ApiError::bad_request(
        "The request has no file: send it as the multipart field 'file', or text as the field 'text'.",
    )
}

/// `POST /`: stores a file and answers its FileDetails.
pub async fn upload(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Result<Json<FileDetails>, ApiError> {
    let headers = req.headers().clone();
    let uri = req.uri().clone();
    let owner = auth::caller(&headers, &app.config)?;
    let base = base_url(&app, &headers, &uri)?;
    check_may_upload(&app, &owner)?;
    // Refuse bad settings in the query string before reading a byte of the body.
    let now = app.store.now().await?;
    Fields::from_query(query.as_deref()).validate(&app.config, now)?;
    let limit = limit_for(&app, &owner, false).await?;
    let incoming = read_fields(&app, query.as_deref(), req, limit, now).await?;
    let upload = incoming.upload.ok_or_else(missing_file)?;
    let now = app.store.now().await?;
    let settings = incoming.fields.settings(&app.config, None, now)?;
    let row = app
        .store
        .insert(&owner, upload, &settings, app.config.max_storage, now)
        .await?;
    Ok(Json(file_details(&row, &base, now)))
}

/// 401 when this server takes uploads only with a key and `owner` has none.
pub fn check_may_upload(app: &App, owner: &Owner) -> Result<(), ApiError> {
    if app.config.require_auth != RequireAuth::Off && owner.is_none() {
        return Err(ApiError::unauthorized(
            "This server accepts uploads only with an API key: send 'Authorization: Bearer <API key>'.",
        ));
    }
    Ok(())
}

fn bad_number(name: &str, v: &str) -> ApiError {
    ApiError::bad_request(format!(
        "The {name} value '{v}' is not valid: use a whole number of 0 or more."
    ))
}

/// `GET /`: the caller's files.
pub async fn list(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Json<ListAnswer>, ApiError> {
    let owner = auth::require_key(&headers, &app.config)?;
    let base = base_url(&app, &headers, &uri)?;
    let q = Fields::from_query(query.as_deref());
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        q.get(name)
            .map(|v| v.parse::<u64>().map_err(|_| bad_number(name, v)))
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let limit = number("limit")?;
    let sort = match q.get("sort") {
        None => None,
        Some(s) => {
            let (desc, name) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s.strip_prefix('+').unwrap_or(s)),
            };
            let field = SortField::parse(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The sort value '{s}' is not valid: use name, size, expires, created, modified or downloads, with '-' in front for descending order."
                ))
            })?;
            Some((field, desc))
        }
    };
    let query = ListQuery {
        owner,
        search: q.get("search").map(str::to_string),
        sort,
        offset,
        limit,
    };
    let page = app.store.list(query).await?;
    let now = app.store.now().await?;
    let nodes = page
        .rows
        .iter()
        .map(|r| file_details(r, &base, now))
        .collect();
    Ok(Json(ListAnswer {
        success: true,
        status: 200,
        nodes,
        count: page.count,
        size: page.size,
    }))
}

/// `GET /me`: the caller's usage and this server's limits.
pub async fn me(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<MeAnswer>, ApiError> {
    let owner = auth::require_key(&headers, &app.config)?;
    let used = app.store.used(&Some(owner)).await?;
    let c = &app.config;
    Ok(Json(MeAnswer {
        success: true,
        status: 200,
        plan_id: 0,
        max_upload_bytes: c.max_size,
        max_storage_bytes: c.max_storage,
        used_storage_bytes: used,
        rate_limit: c.rate_limit.map(|r| r.to_string()),
        max_expiry: c.max_expiry.map(|e| e.to_string()),
        custom_domain: "",
        direct_download: 0,
    }))
}

async fn update(
    app: Arc<App>,
    key: String,
    query: Option<String>,
    req: Request,
    replace: bool,
) -> Result<Json<FileDetails>, ApiError> {
    let headers = req.headers().clone();
    let uri = req.uri().clone();
    let owner = auth::require_key(&headers, &app.config)?;
    let base = base_url(&app, &headers, &uri)?;
    let limit = limit_for(&app, &Some(owner.clone()), true).await?;
    let now = app.store.now().await?;
    let incoming = read_fields(&app, query.as_deref(), req, limit, now).await?;
    if replace && incoming.upload.is_none() {
        return Err(ApiError::bad_request(
            "PUT replaces the file and needs the multipart field 'file': use PATCH to change only its settings.",
        ));
    }
    let fields = incoming.fields;
    let now = app.store.now().await?;
    let a = app.clone();
    let settings = Box::new(move |row: &crate::server::meta::FileRow| {
        if replace {
            fields.settings(&a.config, None, now)
        } else {
            let current = Settings {
                expires: row.expires,
                max_downloads: row.max_downloads,
                auto_delete: row.auto_delete,
            };
            fields.settings(&a.config, Some(&current), now)
        }
    });
    let row = app
        .store
        .update(
            &key,
            &owner,
            incoming.upload,
            settings,
            replace,
            app.config.max_storage,
        )
        .await?;
    Ok(Json(file_details(&row, &base, now)))
}

/// `PUT /{key}`: new content, and settings reset to the defaults where not given.
pub async fn put(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Result<Json<FileDetails>, ApiError> {
    update(app, key, query, req, true).await
}

/// `PATCH /{key}`: changes what is given, keeps the rest.
pub async fn patch(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Result<Json<FileDetails>, ApiError> {
    update(app, key, query, req, false).await
}

/// `DELETE /{key}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Done>, ApiError> {
    let owner = auth::require_key(&headers, &app.config)?;
    app.store.delete(&key, &owner).await?;
    Ok(Json(Done {
        success: true,
        status: 200,
    }))
}
