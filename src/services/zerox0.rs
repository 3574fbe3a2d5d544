//! 0x0.st ("The Null Pointer") and self-hosted copies: plain-text answers, HTML errors, and a
//! management token per file (`X-Token`, sent only for new content) that delete and expiry
//! changes need. The token is kept, secret, in the local history.

use anyhow::Result;
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::multipart::Form;
use reqwest::{Method, Url};

use super::{
    Api, Capabilities, Change, FileRecord, Managed, Service, ServiceConfig, UpdateCaps, Upload,
    UploadCaps, UploadOptions, Uploaded, epoch_ms_to_time,
};
use crate::error::{Failure, Kind};
use crate::expires::Expires;
use crate::http;
use crate::secret::Secret;

pub const DEFAULT_BASE_URL: &str = "https://0x0.st";

const NAME: &str = "0x0";

/// 0x0.st ("The Null Pointer") and self-hosted copies.
#[derive(Debug)]
pub struct ZeroX0;

#[async_trait]
impl Service for ZeroX0 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["0x0.st", "nullpointer"]
    }

    fn title(&self) -> &'static str {
        "0x0.st (The Null Pointer)"
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn capabilities(&self, _cfg: &ServiceConfig) -> Capabilities {
        Capabilities {
            upload: UploadCaps {
                expires: true,
                secret_url: true,
                ..UploadCaps::default()
            },
            update: Some(UpdateCaps {
                expires: true,
                by_token: true,
                ..UpdateCaps::default()
            }),
            delete: true,
            tokens: true,
            ..Capabilities::BASIC
        }
    }

    async fn upload(
        &self,
        api: &Api<'_>,
        up: &Upload<'_>,
        opts: &UploadOptions,
    ) -> Result<Uploaded> {
        upload(api, up, opts).await
    }

    async fn download_url(&self, api: &Api<'_>, target: &str) -> Result<Url> {
        download_url(api.base(), target)
    }

    /// Deletes the file at its link (or a key on this server) with its token.
    async fn delete(&self, api: &Api<'_>, file: &Managed<'_>) -> Result<()> {
        let key = super::key_of(file.target)?;
        let token = need_token(&key, file.token)?;
        let what = format!("deleting {key}");
        manage(
            api,
            file.target,
            &what,
            vec![
                ("token", token.expose().to_string()),
                ("delete", String::new()),
            ],
        )
        .await
    }

    /// Changes the expiry of the file at its link with its token (the only change 0x0 takes).
    async fn update(
        &self,
        api: &Api<'_>,
        file: &Managed<'_>,
        change: &Change<'_>,
    ) -> Result<FileRecord> {
        let e = change.expires.expect("checked: 0x0 updates an expiry");
        let key = super::key_of(file.target)?;
        let token = need_token(&key, file.token)?;
        let what = format!("updating {key}");
        manage(
            api,
            file.target,
            &what,
            vec![
                ("token", token.expose().to_string()),
                ("expires", expires_param(e)?),
            ],
        )
        .await?;
        let mut r = FileRecord::new(
            NAME,
            file.key.to_string(),
            download_url(api.base(), file.target)?.to_string(),
        );
        r.expires = e
            .resolve(chrono::Utc::now())
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        Ok(r)
    }
}

/// 0x0's `expires`: whole hours as hours, anything else as epoch milliseconds.
pub fn expires_param(e: &Expires) -> Result<String> {
    let now = chrono::Utc::now();
    let at = e
        .resolve(now)
        .ok_or_else(|| Failure::new(Kind::Usage, format!("--expires {e} is too far away")))?;
    let secs = (at - now).num_seconds();
    if let Expires::Period { .. } = e {
        if secs > 0 && secs % 3600 == 0 {
            return Ok((secs / 3600).to_string());
        }
    }
    Ok(at.timestamp_millis().to_string())
}

/// `X-Expires` (epoch ms, maybe with a fraction) as RFC 3339.
fn expires_header(headers: &HeaderMap) -> Option<String> {
    let v = headers
        .get("x-expires")?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    epoch_ms_to_time(v)
}

async fn upload(api: &Api<'_>, up: &Upload<'_>, opts: &UploadOptions) -> Result<Uploaded> {
    let what = format!("uploading {}", up.name);
    let expires = opts.expires.as_ref().map(expires_param).transpose()?;
    let url = api.url("/");
    let make = || {
        let part = up.part()?;
        let mut form = Form::new();
        if let Some(e) = &expires {
            form = form.text("expires", e.clone());
        }
        if opts.secret {
            form = form.text("secret", "");
        }
        form = form.part("file", part);
        Ok(api.request(Method::POST, &url).multipart(form))
    };
    let resp = api.send(&what, up.retry(), Some(up.activity), make).await?;
    if !resp.status().is_success() {
        return Err(plain_error(&what, resp).await);
    }
    let token = resp
        .headers()
        .get("x-token")
        .and_then(|v| v.to_str().ok())
        .map(|t| Secret::new(t.trim()));
    let expires = expires_header(resp.headers());
    let body = http::read_capped(resp, 8 * 1024).await;
    let link = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    if !(link.starts_with("http://") || link.starts_with("https://")) {
        return Err(Failure::new(
            Kind::BadAnswer,
            format!("{what}: the server's answer is not a link: {link}"),
        )
        .hint("check that --server points at a 0x0 server")
        .into());
    }
    let key = super::key_of(&link)?;
    let record = FileRecord {
        name: Some(up.name.to_string()),
        size: up.size(),
        expires,
        ..FileRecord::new(NAME, key, link)
    };
    Ok(Uploaded { record, token })
}

fn download_url(base: &str, target: &str) -> Result<Url> {
    let s = if super::is_link(target) {
        target.to_string()
    } else {
        format!("{base}/{}", super::key_of(target)?)
    };
    Url::parse(&s).map_err(|e| Failure::new(Kind::Usage, format!("invalid link '{s}': {e}")).into())
}

fn need_token(key: &str, token: Option<&Secret>) -> Result<Secret> {
    token.cloned().ok_or_else(|| {
        Failure::new(Kind::Auth, format!("no management token for {key} in the history"))
            .hint("0x0 hands the token out only at upload time; files uploaded elsewhere, or with --no-history, cannot be changed from here")
            .into()
    })
}

/// POSTs a management form to the file's URL.
async fn manage(
    api: &Api<'_>,
    target: &str,
    what: &str,
    fields: Vec<(&'static str, String)>,
) -> Result<()> {
    let url = download_url(api.base(), target)?;
    let resp = api
        .send(what, true, None, || {
            Ok(api.request(Method::POST, url.clone()).form(&fields))
        })
        .await?;
    if !resp.status().is_success() {
        return Err(plain_error(what, resp).await);
    }
    Ok(())
}

/// An error answer, plain text or an HTML page, as a failure of this service.
async fn plain_error(what: &str, resp: reqwest::Response) -> anyhow::Error {
    let mut f = http::error_from_plain_response(what, resp).await;
    f.service = Some(NAME);
    f.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_in_hours_or_epoch_milliseconds() {
        assert_eq!(expires_param(&"24h".parse().unwrap()).unwrap(), "24");
        assert_eq!(expires_param(&"2d".parse().unwrap()).unwrap(), "48");
        let ms: i64 = expires_param(&"30m".parse().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(ms > 1_650_460_320_000);
        let mut h = HeaderMap::new();
        h.insert("x-expires", "1826879881125.2686".parse().unwrap());
        assert_eq!(expires_header(&h).as_deref(), Some("2027-11-22T10:38:01Z"));
    }
}
