//! Request parameters, from the query string and the form, and the settings they ask for.

use chrono::{DateTime, Utc};

use crate::expires::{ACCEPTED, Expires};
use crate::server::config::Options;
use crate::server::errors::ApiError;
use crate::server::meta::Settings;

/// Name/value pairs in arrival order: the query string first, then form fields, so that a
/// form field wins over the same name in the query.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// Parses a query string; pairs that do not decode are ignored.
    pub fn from_query(query: Option<&str>) -> Fields {
        let pairs = query
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .unwrap_or_default();
        Fields(pairs)
    }

    pub fn push(&mut self, name: String, value: String) {
        self.0.push((name, value));
    }

    /// The last value given for a name (ASCII case-insensitive), empty or not.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The last value given for a name; an empty value means "not given".
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The expiry asked for, checked against the server's maximum.
    pub fn expires(
        &self,
        config: &Options,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(v) = self.get("expires") else {
            return Ok(None);
        };
        let invalid = || {
            ApiError::bad_request(format!(
                "The expires value '{v}' is not valid: use {ACCEPTED}; a bare number means days."
            ))
        };
        let e = Expires::parse_classic(v).map_err(|_| invalid())?;
        let at = e.resolve(now).ok_or_else(invalid)?;
        if at <= now {
            return Err(ApiError::bad_request(format!(
                "The expires date '{v}' is in the past: use a future date or a period such as 1d or 2w."
            )));
        }
        if let Some(max) = config.max_expiry {
            if let Some(limit) = max.resolve(now) {
                if at > limit + chrono::Duration::seconds(1) {
                    return Err(ApiError::bad_request(format!(
                        "The expires value '{v}' is beyond this server's maximum of {max}: use a shorter period."
                    )));
                }
            }
        }
        Ok(Some(at))
    }

    pub fn max_downloads(&self) -> Result<Option<u32>, ApiError> {
        let Some(v) = self.get("maxDownloads") else {
            return Ok(None);
        };
        match v.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "The maxDownloads value '{v}' is not valid: use a whole number of at least 1."
            ))),
        }
    }

    /// `autoDelete`: true or false; an empty value means false.
    pub fn auto_delete(&self) -> Result<Option<bool>, ApiError> {
        let Some(v) = self.raw("autoDelete") else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "" => Ok(Some(false)),
            _ => Err(ApiError::bad_request(format!(
                "The autoDelete value '{v}' is not valid: use true or false."
            ))),
        }
    }

    /// Refuses values that are not valid, whatever they would be combined with.
    pub fn validate(&self, config: &Options, now: DateTime<Utc>) -> Result<(), ApiError> {
        self.expires(config, now)?;
        self.max_downloads()?;
        self.auto_delete()?;
        Ok(())
    }

    /// The settings asked for, with what is not given taken from `base` (PATCH: the file's
    /// current settings) or from the defaults (upload, PUT).
    pub fn settings(
        &self,
        config: &Options,
        base: Option<&Settings>,
        now: DateTime<Utc>,
    ) -> Result<Settings, ApiError> {
        let expires = match self.expires(config, now)? {
            Some(t) => t,
            None => match base {
                Some(b) => b.expires,
                None => config
                    .default_expires(now)
                    .resolve(now)
                    .ok_or_else(|| ApiError::internal("default expiry out of range"))?,
            },
        };
        let max_downloads = self
            .max_downloads()?
            .or(base.map(|b| b.max_downloads))
            .unwrap_or(1);
        let auto_delete = self
            .auto_delete()?
            .or(base.map(|b| b.auto_delete))
            .unwrap_or(true);
        Ok(Settings {
            expires,
            max_downloads,
            auto_delete,
        })
    }
}
