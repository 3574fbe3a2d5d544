//! Who is calling: an API key from `Authorization: Bearer` or HTTP Basic, or nobody.
//!
//! Keys are never stored or logged: the server keeps and compares SHA-256 digests, and a
//! file's owner in the database is the digest of the key that uploaded it.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::server::config::Options;
use crate::server::errors::ApiError;

/// The SHA-256 of a key, in lowercase hex.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The owner a request acts as: `None` for anonymous, else the digest of its key.
pub type Owner = Option<String>;

/// Reads the caller's key, if any; a key that is not configured is refused with 401.
pub fn caller(headers: &HeaderMap, config: &Options) -> Result<Owner, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::unauthorized(
            "The Authorization header is malformed: send 'Bearer <API key>' or HTTP Basic with the key as user name.",
        )
    };
    let value = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
    let rest = rest.trim();
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        rest.to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        if user.is_empty() {
            password.to_string()
        } else {
            user.to_string()
        }
    } else {
        return Err(bad());
    };
    if key.is_empty() {
        return Err(bad());
    }
    let hash = hash_key(&key);
    if config.key_hashes.contains(&hash) {
        Ok(Some(hash))
    } else {
        Err(ApiError::unauthorized(
            "The API key is not valid on this server: check the key, or upload without one.",
        ))
    }
}

/// The caller's key digest, or 401 when the request carries no key.
pub fn require_key(headers: &HeaderMap, config: &Options) -> Result<String, ApiError> {
    caller(headers, config)?.ok_or_else(|| {
        ApiError::unauthorized(
            "This request needs an API key: send 'Authorization: Bearer <API key>'.",
        )
    })
}
