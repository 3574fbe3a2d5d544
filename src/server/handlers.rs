//! The API's JSON endpoints: upload, list, me, update (PUT, PATCH) and delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Uri, header};

use crate::server::App;
use crate::server::auth::{self, Owner};
use crate::server::fields::Fields;
use crate::server::incoming::{self, Incoming, Limit};
use crate::server::response::{ApiError, Done, FileDetails, ListAnswer, MeAnswer, file_details};
use crate::server::store::{Settings, SortField};

/// The base of links: --public-url, else `http://` and the Host the client used.
fn base_url(app: &App, headers: &HeaderMap, uri: &Uri) -> String {
    if let Some(u) = &app.config.public_url {
        return u.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']))
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| app.local_addr.to_string());
    format!("http://{host}")
}

/// How much an upload by `owner` may hold.
fn limit_for(app: &App, owner: &Owner, replacing: bool) -> Result<Option<Limit>, ApiError> {
    let size = app.config.max_size.map(|b| Limit {
        bytes: b,
        quota: false,
    });
    let quota = match app.config.max_storage {
        Some(max) if !replacing => {
            let used = app.store.used(owner)?;
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
) -> Result<Incoming, ApiError> {
    let check = |f: &Fields| f.validate(&app.config);
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
    if app.config.require_auth && owner.is_none() {
        return Err(ApiError::unauthorized(
            "This server accepts uploads only with an API key: send 'Authorization: Bearer <API key>'.",
        ));
    }
    // Refuse bad settings in the query string before reading a byte of the body.
    Fields::from_query(query.as_deref()).validate(&app.config)?;
    let limit = limit_for(&app, &owner, false)?;
    let incoming = read_fields(&app, query.as_deref(), req, limit).await?;
    let upload = incoming.upload.ok_or_else(missing_file)?;
    let settings = incoming.fields.settings(&app.config, None)?;
    let row = app
        .store
        .insert(&owner, &upload, &settings, app.config.max_storage)?;
    Ok(Json(file_details(&row, &base_url(&app, &headers, &uri))))
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
    let page = app
        .store
        .list(&owner, q.get("search"), sort, offset, limit)?;
    let base = base_url(&app, &headers, &uri);
    let nodes = page.rows.iter().map(|r| file_details(r, &base)).collect();
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
    let used = app.store.used(&Some(owner))?;
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
    let limit = limit_for(&app, &Some(owner.clone()), true)?;
    let incoming = read_fields(&app, query.as_deref(), req, limit).await?;
    if replace && incoming.upload.is_none() {
        return Err(ApiError::bad_request(
            "PUT replaces the file and needs the multipart field 'file': use PATCH to change only its settings.",
        ));
    }
    let fields = incoming.fields;
    let config = &app.config;
    let row = app.store.update(
        &key,
        &owner,
        incoming.upload,
        |row| {
            if replace {
                fields.settings(config, None)
            } else {
                let current = Settings {
                    expires: row.expires,
                    max_downloads: row.max_downloads,
                    auto_delete: row.auto_delete,
                };
                fields.settings(config, Some(&current))
            }
        },
        replace,
        config.max_storage,
    )?;
    Ok(Json(file_details(&row, &base_url(&app, &headers, &uri))))
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
    app.store.delete(&key, &owner)?;
    Ok(Json(Done {
        success: true,
        status: 200,
    }))
}
