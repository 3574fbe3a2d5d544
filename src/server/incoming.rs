//! Reading what uploads and updates send: a multipart form (streamed to disk), a urlencoded
//! form, or nothing (the query string alone).

use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::server::blobs::{Staged, next_or_flush};
use crate::server::errors::ApiError;
use crate::server::fields::Fields;
use crate::server::multipart::{self, Multipart};
use crate::server::store::{Store, Upload};
use crate::size::ByteSize;

/// The most bytes of all the form fields other than the file (and `text`) together.
const FIELDS_CAP: u64 = 64 * 1024;
/// The most bytes of multipart framing (boundaries, part headers, preamble) in one request.
const FRAMING_CAP: u64 = 64 * 1024;
/// The most parts in one multipart request.
const MAX_PARTS: usize = 64;
/// What a request may carry beyond its file: fields and framing.
const OVERHEAD: u64 = FIELDS_CAP + FRAMING_CAP;
/// The most text (`text=`) when no --max-size is set.
const TEXT_CAP: u64 = 64 * 1024 * 1024;

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
#[derive(Default)]
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
pub fn mime_for(name: &str, given: Option<&str>) -> String {
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
        if len > limit.bytes.saturating_add(OVERHEAD) {
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

fn text_too_large(limit: Option<Limit>) -> ApiError {
    limit.map_or_else(
        || {
            ApiError::too_large(format!(
                "The text is larger than {}: upload it as a file instead.",
                ByteSize(TEXT_CAP)
            ))
        },
        |l| l.error(),
    )
}

fn fields_too_large() -> ApiError {
    ApiError::too_large(format!(
        "The form fields other than 'file' and 'text' hold more than {} together: send only the settings fields (expires, maxDownloads, autoDelete).",
        ByteSize(FIELDS_CAP)
    ))
    .with_code("FORM_TOO_LARGE")
}

fn two_files() -> ApiError {
    ApiError::bad_request(
        "The request holds more than one file: send one 'file' or 'text' field per request.",
    )
}

fn body_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("The request body could not be read: {e}."))
}

/// A file being received into the blob store's staging, bounded by `cap` while it is
/// written.
struct Receiving {
    out: Box<dyn Staged>,
    size: u64,
    cap: u64,
}

impl Receiving {
    async fn create(store: &Store, cap: u64) -> Result<Receiving, ApiError> {
        Ok(Receiving {
            out: store.stage().await?,
            size: 0,
            cap,
        })
    }

    /// Appends bytes; false when they would pass the cap (nothing is written then).
    async fn write(&mut self, bytes: Bytes) -> Result<bool, ApiError> {
        self.size += bytes.len() as u64;
        if self.size > self.cap {
            return Ok(false);
        }
        self.out.write_bytes(bytes).await?;
        Ok(true)
    }

    /// The bytes still buffered are written by the commit ([`Staged::commit`] takes what
    /// was written, flushed or not), which saves a small upload a trip to the disk.
    async fn finish(self, name: String, mime: String) -> Result<Upload, ApiError> {
        Ok(Upload {
            staged: self.out,
            name,
            mime,
            size: self.size,
        })
    }
}

/// Reads a urlencoded form as it streams in: `text` goes to disk, the other fields (64 KiB
/// together at most) to memory.
async fn read_urlencoded(
    store: &Store,
    req: Request,
    fields: Fields,
    limit: Option<Limit>,
) -> Result<Incoming, ApiError> {
    let mut stream = req.into_body().into_data_stream();
    let mut incoming = Incoming {
        fields,
        upload: None,
    };
    let mut decoder = FormDecoder::default();
    let mut text: Option<Receiving> = None;
    let mut fields_size: u64 = 0;
    let mut events = Vec::new();
    loop {
        let chunk = match stream.next().await {
            Some(c) => c.map_err(body_error)?,
            None => Bytes::new(),
        };
        let last = chunk.is_empty();
        decoder.feed(&chunk, last, &mut events);
        for event in events.drain(..) {
            match event {
                FormEvent::Value(bytes) => {
                    let t = match &mut text {
                        Some(t) => t,
                        None => text.insert(Receiving::create(store, text_cap(limit)).await?),
                    };
                    if !t.write(Bytes::from(bytes)).await? {
                        return Err(text_too_large(limit));
                    }
                }
                FormEvent::Pair { name, value } => {
                    if name == b"text" {
                        if incoming.upload.is_some() {
                            return Err(two_files());
                        }
                        let t = match text.take() {
                            Some(t) => t,
                            None => Receiving::create(store, text_cap(limit)).await?,
                        };
                        incoming.upload = Some(
                            t.finish(
                                "text.txt".to_string(),
                                "text/plain; charset=utf-8".to_string(),
                            )
                            .await?,
                        );
                    } else {
                        incoming.fields.push(
                            String::from_utf8_lossy(&name).into_owned(),
                            String::from_utf8_lossy(&value).into_owned(),
                        );
                    }
                }
            }
        }
        fields_size = fields_size.max(decoder.fields_bytes);
        if fields_size > FIELDS_CAP {
            return Err(fields_too_large());
        }
        if last {
            break;
        }
    }
    Ok(incoming)
}

/// What [`FormDecoder`] finds.
enum FormEvent {
    /// Decoded bytes of the `text` value, as they arrive.
    Value(Vec<u8>),
    /// A complete pair; for `text` the value is empty (it went out as `Value` events).
    Pair { name: Vec<u8>, value: Vec<u8> },
}

/// A streaming `application/x-www-form-urlencoded` decoder (`+` is a space, `%XX` a byte,
/// a malformed escape stays as it is, as `form_urlencoded` does). Hand-written because the
/// crates that decode forms (serde_urlencoded, form_urlencoded) need the whole body at once.
#[derive(Default)]
struct FormDecoder {
    name: Vec<u8>,
    value: Vec<u8>,
    in_value: bool,
    /// The pair being read is `text`: its value is streamed, not kept.
    in_text: bool,
    /// `%` and up to one hex digit waiting for the rest of their escape.
    escape: Vec<u8>,
    /// Bytes of names and values kept so far (text excluded).
    fields_bytes: u64,
}

impl FormDecoder {
    fn feed(&mut self, chunk: &[u8], last: bool, events: &mut Vec<FormEvent>) {
        let mut text_out = Vec::new();
        for &b in chunk {
            if !self.escape.is_empty() {
                self.escape.push(b);
                if self.escape.len() < 3 {
                    continue;
                }
                let esc = std::mem::take(&mut self.escape);
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(esc[1]), hex(esc[2])) {
                    (Some(h), Some(l)) => self.push((h * 16 + l) as u8, &mut text_out),
                    _ => {
                        // Not an escape: keep `%` and look at the other two bytes again.
                        self.push(b'%', &mut text_out);
                        self.feed_plain(esc[1], &mut text_out, events);
                        self.feed_plain(esc[2], &mut text_out, events);
                    }
                }
                continue;
            }
            self.feed_plain(b, &mut text_out, events);
        }
        if last {
            for b in std::mem::take(&mut self.escape) {
                self.push(b, &mut text_out);
            }
            if !text_out.is_empty() {
                events.push(FormEvent::Value(std::mem::take(&mut text_out)));
            }
            self.end_pair(events);
        } else if !text_out.is_empty() {
            events.push(FormEvent::Value(text_out));
        }
    }

    fn feed_plain(&mut self, b: u8, text_out: &mut Vec<u8>, events: &mut Vec<FormEvent>) {
        match b {
            b'%' => self.escape.push(b),
            b'&' => {
                if !text_out.is_empty() {
                    events.push(FormEvent::Value(std::mem::take(text_out)));
                }
                self.end_pair(events);
            }
            b'=' if !self.in_value => {
                self.in_value = true;
                self.in_text = self.name == b"text";
            }
            b'+' => self.push(b' ', text_out),
            _ => self.push(b, text_out),
        }
    }

    fn push(&mut self, b: u8, text_out: &mut Vec<u8>) {
        if self.in_text {
            text_out.push(b);
        } else {
            self.fields_bytes += 1;
            if self.in_value {
                self.value.push(b);
            } else {
                self.name.push(b);
            }
        }
    }

    fn end_pair(&mut self, events: &mut Vec<FormEvent>) {
        let name = std::mem::take(&mut self.name);
        let value = std::mem::take(&mut self.value);
        let was_value = std::mem::replace(&mut self.in_value, false);
        self.in_text = false;
        if !name.is_empty() || was_value {
            events.push(FormEvent::Pair { name, value });
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "The multipart body could not be read ({e}): send multipart/form-data with a 'file' field."
    ))
}

fn framing_too_large() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        format!(
            "The multipart framing (part headers, boundaries) is larger than {}: send a 'file' part with short headers.",
            ByteSize(FRAMING_CAP)
        ),
    )
}

fn multipart_error(e: multipart::Error) -> ApiError {
    match e {
        multipart::Error::Framing => framing_too_large(),
        e => malformed(e),
    }
}

async fn read_multipart(
    store: &Store,
    req: Request,
    fields: Fields,
    limit: Option<Limit>,
    check: Check<'_>,
) -> Result<Incoming, ApiError> {
    let boundary = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(multipart::boundary)
        .ok_or_else(|| malformed("no boundary in its Content-Type"))?;
    let mut mp = Multipart::new(req.into_body().into_data_stream(), &boundary, FRAMING_CAP);
    let mut incoming = Incoming {
        fields,
        upload: None,
    };
    let mut parts = 0;
    let mut fields_size: u64 = 0;
    while let Some(head) = mp.next_part().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::too_large(format!(
                "The form has more than {MAX_PARTS} parts: send a 'file' part and the settings fields only."
            ))
            .with_code("FORM_TOO_LARGE"));
        }
        let name = head.name.unwrap_or_default();
        let is_file = name == "file" || (head.file_name.is_some() && name != "text");
        if is_file || name == "text" {
            if incoming.upload.is_some() {
                return Err(two_files());
            }
            check(&incoming.fields)?;
            let (stored_name, mime, cap) = if is_file {
                let n = sanitize_name(head.file_name.as_deref().unwrap_or("file"));
                let m = mime_for(&n, head.content_type.as_deref());
                (n, m, limit.map_or(u64::MAX, |l| l.bytes))
            } else {
                (
                    "text.txt".to_string(),
                    "text/plain; charset=utf-8".to_string(),
                    text_cap(limit),
                )
            };
            let mut recv = Receiving::create(store, cap).await?;
            while let Some(piece) = next_or_flush(&mut recv.out, mp.chunk())
                .await?
                .map_err(multipart_error)?
            {
                if !recv.write(piece).await? {
                    return Err(if is_file {
                        limit.map_or_else(|| ApiError::internal("no limit"), |l| l.error())
                    } else {
                        text_too_large(limit)
                    });
                }
            }
            incoming.upload = Some(recv.finish(stored_name, mime).await?);
        } else {
            let mut value = Vec::new();
            fields_size += name.len() as u64;
            while let Some(piece) = mp.chunk().await.map_err(multipart_error)? {
                fields_size += piece.len() as u64;
                if fields_size > FIELDS_CAP {
                    return Err(fields_too_large());
                }
                value.extend_from_slice(&piece);
            }
            if fields_size > FIELDS_CAP {
                return Err(fields_too_large());
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

    /// Decodes `input` fed in pieces of `step` bytes: the pairs, with text's value rebuilt.
    fn decode(input: &[u8], step: usize) -> Vec<(String, String)> {
        let mut d = FormDecoder::default();
        let mut events = Vec::new();
        for piece in input.chunks(step) {
            d.feed(piece, false, &mut events);
        }
        d.feed(&[], true, &mut events);
        let mut text = Vec::new();
        let mut out = Vec::new();
        for e in events {
            match e {
                FormEvent::Value(v) => text.extend(v),
                FormEvent::Pair { name, value } => {
                    let value = if name == b"text" {
                        std::mem::take(&mut text)
                    } else {
                        value
                    };
                    out.push((
                        String::from_utf8_lossy(&name).into_owned(),
                        String::from_utf8_lossy(&value).into_owned(),
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn forms_decode_like_form_urlencoded_in_any_pieces() {
        for input in [
            &b"a=1&text=x%20y+z%26&&b=%zz%4&c"[..],
            b"text=%E6%97%A5&expires=1d",
            b"=&%",
            b"",
        ] {
            let want: Vec<(String, String)> = serde_urlencoded::from_bytes(input).unwrap();
            for step in 1..=input.len().max(1) {
                assert_eq!(
                    decode(input, step),
                    want,
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
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
