//! Reading what uploads and updates send: a multipart form (streamed to disk), a urlencoded
//! form, or nothing (the query string alone).

use std::path::{Path, PathBuf};

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::server::fields::Fields;
use crate::server::response::ApiError;
use crate::server::store::Store;
use crate::size::ByteSize;

/// Multipart framing allowed on top of the file when judging a Content-Length.
const FRAMING_SLACK: u64 = 64 * 1024;
/// The most a form field other than a file may hold.
const FIELD_CAP: usize = 64 * 1024;
/// The most text (`text=`) kept in memory when no --max-size is set.
const TEXT_CAP: u64 = 64 * 1024 * 1024;
/// Writes to disk go out in pieces this large.
const WRITE_BUFFER: usize = 1 << 20;

/// A file under `tmp/`, removed when dropped unless it was moved away.
#[derive(Debug)]
pub struct TmpFile(PathBuf);

impl TmpFile {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An uploaded file, on disk under `tmp/`.
#[derive(Debug)]
pub struct Upload {
    pub tmp: TmpFile,
    pub name: String,
    pub mime: String,
    pub size: u64,
}

/// The most bytes an upload may hold, and why.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bytes: u64,
    /// Whether the limit is the storage quota rather than --max-size.
    pub quota: bool,
}

impl Limit {
    pub fn error(&self) -> ApiError {
        if self.quota {
            ApiError::too_large(format!(
                "This upload would exceed your storage allowance ({} left, {} bytes): delete files or upload a smaller one.",
                ByteSize(self.bytes),
                self.bytes
            ))
        } else {
            ApiError::too_large(format!(
                "The file is larger than this server's limit of {} ({} bytes): upload a smaller file.",
                ByteSize(self.bytes),
                self.bytes
            ))
        }
    }
}

/// What a request carried.
#[derive(Debug, Default)]
pub struct Incoming {
    pub fields: Fields,
    pub upload: Option<Upload>,
}

/// Keeps the last path segment of a client's file name, without control characters.
pub fn sanitize_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    let clean = if clean.is_empty() || clean == "." || clean == ".." {
        "file"
    } else {
        clean
    };
    // At most 255 bytes, cut on a character boundary.
    let mut end = clean.len().min(255);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].to_string()
}

/// The type to store: the client's, if it says more than octet-stream, else a guess.
fn mime_for(name: &str, given: Option<&str>) -> String {
    if let Some(g) = given {
        let g = g.trim();
        let plausible = g.contains('/')
            && g.len() <= 200
            && g.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"');
        if plausible && !g.eq_ignore_ascii_case("application/octet-stream") {
            return g.to_string();
        }
    }
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_string()
}

/// Checks the fields known so far before a file is streamed, so that a bad value is
/// refused before the upload rather than after.
pub type Check<'a> = &'a (dyn Fn(&Fields) -> Result<(), ApiError> + Sync);

/// Reads a request's body into `fields` (which hold the query string's) and its file.
/// `limit` bounds the file; it is enforced while streaming.
pub async fn read(
    store: &Store,
    req: Request,
    fields: Fields,
    limit: Option<Limit>,
    check: Check<'_>,
) -> Result<Incoming, ApiError> {
    let headers = req.headers();
    if let (Some(limit), Some(len)) = (
        limit,
        headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok()),
    ) {
        if len > limit.bytes.saturating_add(FRAMING_SLACK) {
            return Err(limit.error());
        }
    }
    let ctype = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("multipart/form-data") {
        read_multipart(store, req, fields, limit, check).await
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        read_urlencoded(store, req, fields, limit).await
    } else {
        let empty_body = {
            use http_body::Body as _;
            req.body().is_end_stream()
                || headers
                    .get(CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() == b"0")
        };
        if empty_body || ctype.is_empty() && !has_body(&req) {
            Ok(Incoming {
                fields,
                upload: None,
            })
        } else {
            Err(ApiError::bad_request(
                "The request body is not a form: send multipart/form-data with a 'file' field, or application/x-www-form-urlencoded with a 'text' field.",
            ))
        }
    }
}

fn has_body(req: &Request) -> bool {
    req.headers().contains_key(CONTENT_LENGTH)
        || req
            .headers()
            .contains_key(axum::http::header::TRANSFER_ENCODING)
}

fn text_cap(limit: Option<Limit>) -> u64 {
    limit.map_or(TEXT_CAP, |l| l.bytes.min(TEXT_CAP))
}

async fn read_urlencoded(
    store: &Store,
    req: Request,
    fields: Fields,
    limit: Option<Limit>,
) -> Result<Incoming, ApiError> {
    let cap = text_cap(limit);
    let mut body = Vec::new();
    let mut stream = req.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("The request body could not be read: {e}."))
        })?;
        if (body.len() + chunk.len()) as u64 > cap.saturating_add(FRAMING_SLACK) {
            return Err(limit.map_or_else(
                || {
                    ApiError::too_large(format!(
                        "The text is larger than {}: upload it as a file instead.",
                        ByteSize(TEXT_CAP)
                    ))
                },
                |l| l.error(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        ApiError::bad_request("The form body is not valid application/x-www-form-urlencoded: encode it as name=value pairs joined by '&'.")
    })?;
    let mut incoming = Incoming {
        fields,
        upload: None,
    };
    for (name, value) in pairs {
        if name == "text" {
            incoming.upload = Some(text_upload(store, value.into_bytes(), limit).await?);
        } else {
            incoming.fields.push(name, value);
        }
    }
    Ok(incoming)
}

async fn text_upload(
    store: &Store,
    text: Vec<u8>,
    limit: Option<Limit>,
) -> Result<Upload, ApiError> {
    if let Some(l) = limit {
        if text.len() as u64 > l.bytes {
            return Err(l.error());
        }
    }
    let tmp = TmpFile(store.tmp_path());
    tokio::fs::write(tmp.path(), &text).await?;
    Ok(Upload {
        tmp,
        name: "text.txt".to_string(),
        mime: "text/plain; charset=utf-8".to_string(),
        size: text.len() as u64,
    })
}

fn malformed(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "The multipart body could not be read ({e}): send multipart/form-data with a 'file' field."
    ))
}

async fn read_multipart(
    store: &Store,
    req: Request,
    fields: Fields,
    limit: Option<Limit>,
    check: Check<'_>,
) -> Result<Incoming, ApiError> {
    let mut mp = Multipart::from_request(req, &()).await.map_err(malformed)?;
    let mut incoming = Incoming {
        fields,
        upload: None,
    };
    while let Some(mut field) = mp.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let is_file = name == "file" || (file_name.is_some() && name != "text");
        if is_file {
            if incoming.upload.is_some() {
                return Err(ApiError::bad_request(
                    "The request holds more than one file: send one 'file' field per request.",
                ));
            }
            check(&incoming.fields)?;
            let name = sanitize_name(file_name.as_deref().unwrap_or("file"));
            let mime = mime_for(&name, field.content_type());
            let tmp = TmpFile(store.tmp_path());
            let file = tokio::fs::File::create(tmp.path()).await?;
            let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut size: u64 = 0;
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                size += chunk.len() as u64;
                if let Some(l) = limit {
                    if size > l.bytes {
                        return Err(l.error());
                    }
                }
                out.write_all(&chunk).await?;
            }
            out.flush().await?;
            incoming.upload = Some(Upload {
                tmp,
                name,
                mime,
                size,
            });
        } else if name == "text" {
            let cap = text_cap(limit);
            let mut text = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                if (text.len() + chunk.len()) as u64 > cap {
                    return Err(limit.map_or_else(
                        || {
                            ApiError::too_large(format!(
                                "The text is larger than {}: upload it as a file instead.",
                                ByteSize(TEXT_CAP)
                            ))
                        },
                        |l| l.error(),
                    ));
                }
                text.extend_from_slice(&chunk);
            }
            if incoming.upload.is_some() {
                return Err(ApiError::bad_request(
                    "The request holds more than one file: send one 'file' or 'text' field per request.",
                ));
            }
            incoming.upload = Some(text_upload(store, text, limit).await?);
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                if value.len() + chunk.len() > FIELD_CAP {
                    return Err(ApiError::bad_request(format!(
                        "The form field '{name}' is too long: fields other than 'file' and 'text' hold at most 64 KiB."
                    )));
                }
                value.extend_from_slice(&chunk);
            }
            incoming
                .fields
                .push(name, String::from_utf8_lossy(&value).into_owned());
        }
    }
    Ok(incoming)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_last_segment_only() {
        assert_eq!(sanitize_name("report.pdf"), "report.pdf");
        assert_eq!(sanitize_name("/etc/passwd"), "passwd");
        assert_eq!(sanitize_name("C:\\Users\\me\\a b.txt"), "a b.txt");
        assert_eq!(sanitize_name("../../x\u{0}y\n.txt"), "xy.txt");
        assert_eq!(sanitize_name("dir/"), "file");
        assert_eq!(sanitize_name(".."), "file");
        assert_eq!(sanitize_name(&"é".repeat(200)).len(), 254);
    }

    #[test]
    fn types_are_taken_or_guessed() {
        assert_eq!(mime_for("a.pdf", None), "application/pdf");
        assert_eq!(
            mime_for("a.pdf", Some("application/octet-stream")),
            "application/pdf"
        );
        assert_eq!(mime_for("a.bin", Some("image/png")), "image/png");
        assert_eq!(mime_for("noext", None), "application/octet-stream");
        assert_eq!(mime_for("a.txt", Some("bad\"type/x")), "text/plain");
    }
}
