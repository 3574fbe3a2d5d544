//! `multipart/form-data` read as it streams in (RFC 7578, with RFC 2046's framing). A part's
//! contents are handed out as slices of the chunks hyper read, never copied: only part
//! headers, and the few bytes at a chunk's end that may begin a boundary, are.
//!
//! Written here rather than taken from a crate. multer, the maintained parser the server
//! used before, copies every byte into a buffer of its own and builds a new boundary
//! searcher at every read: about a tenth of the server's CPU in a 64 MiB upload, and, with
//! the chunk it copied from, most of what a stalled upload held (BENCHMARKS.md, round six).
//! The zero-copy crates looked at either copy into a buffer too (multipart_async_stream)
//! or take a body cut short before its closing boundary as complete (multiparty 0.1), which
//! would store a truncated upload. multer stays as the reference the tests compare with.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use memchr::memmem::Finder;

/// The most headers one part may carry (browsers send two or three).
const MAX_HEADERS: usize = 16;
/// The longest boundary taken: RFC 2046 allows 70 characters; some clients send a little
/// more, none anything like this.
const MAX_BOUNDARY: usize = 200;

/// Why a body could not be read as a form.
#[derive(Debug)]
pub enum Error {
    /// The body itself failed: a cut connection, a timeout, a size limit.
    Body(String),
    /// More framing (preamble, boundaries, part headers, epilogue) than allowed.
    Framing,
    /// The body does not follow the format; the text says how.
    Malformed(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Body(e) => write!(f, "{e}"),
            Error::Framing => f.write_str("too much multipart framing"),
            Error::Malformed(what) => f.write_str(what),
        }
    }
}

/// What a part's headers say.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartHead {
    /// The form field's name (`name=` of Content-Disposition).
    pub name: Option<String>,
    /// The file's name, for a file (`filename=`).
    pub file_name: Option<String>,
    /// The part's Content-Type.
    pub content_type: Option<String>,
}

/// The boundary of a `multipart/form-data` Content-Type; `None` for any other type, or a
/// boundary that is empty or far too long.
pub fn boundary(content_type: &str) -> Option<String> {
    let m: mime::Mime = content_type.parse().ok()?;
    if m.type_() != mime::MULTIPART || m.subtype() != mime::FORM_DATA {
        return None;
    }
    let b = m.get_param(mime::BOUNDARY)?.as_str();
    (!b.is_empty() && b.len() <= MAX_BOUNDARY).then(|| b.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary: skipped.
    Preamble,
    /// Just after a boundary: `--` ends the form, a line end starts a part.
    AfterBoundary,
    Headers,
    Contents,
    /// After the closing boundary: read to the end (so that the connection can be kept)
    /// and skipped.
    Epilogue,
    Done,
}

/// A form being read from `body`.
pub struct Multipart<S> {
    body: S,
    /// `\r\n--boundary`: what ends a part's contents.
    delimiter: Vec<u8>,
    finder: Finder<'static>,
    /// Copied bytes, read before `rest`: part headers being gathered, and a chunk's last
    /// bytes that may begin the delimiter (while the next chunk decides).
    front: BytesMut,
    /// The unread part of the last chunk.
    rest: Bytes,
    /// How much of `front` was searched for the end of the part headers.
    searched: usize,
    state: State,
    framing: u64,
    framing_cap: u64,
}

impl<S, E> Multipart<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    /// `boundary` as [`boundary`] gives it; at most `framing_cap` bytes of framing are read.
    pub fn new(body: S, boundary: &str, framing_cap: u64) -> Self {
        let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
        Multipart {
            body,
            finder: Finder::new(&delimiter).into_owned(),
            delimiter,
            // The first boundary may open the body, with no line end before it.
            front: BytesMut::from(&b"\r\n"[..]),
            rest: Bytes::new(),
            searched: 0,
            state: State::Preamble,
            framing: 0,
            framing_cap,
        }
    }

    /// The next part's headers; `None` once the form has ended (the body then has been
    /// read to its end). The contents of a part not read are skipped.
    pub async fn next_part(&mut self) -> Result<Option<PartHead>, Error> {
        std::future::poll_fn(|cx| self.poll_next_part(cx)).await
    }

    /// The next piece of the current part's contents; `None` at its end. Cancel-safe:
    /// nothing is lost when the future is dropped before it is ready.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        if self.state != State::Contents {
            return Ok(None);
        }
        std::future::poll_fn(|cx| self.poll_contents(cx)).await
    }

    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.framing += n as u64;
        if self.framing > self.framing_cap {
            return Err(Error::Framing);
        }
        Ok(())
    }

    /// Waits for the body's next chunk into `rest` (which is empty); false at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        debug_assert!(self.rest.is_empty());
        loop {
            match ready!(Pin::new(&mut self.body).poll_next(cx)) {
                None => return Poll::Ready(Ok(false)),
                Some(Err(e)) => return Poll::Ready(Err(Error::Body(e.to_string()))),
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    self.rest = chunk;
                    return Poll::Ready(Ok(true));
                }
            }
        }
    }

    /// Moves bytes from `rest` to `front` until it holds `n`, or `rest` is empty.
    fn top_up(&mut self, n: usize) {
        if self.front.len() < n && !self.rest.is_empty() {
            let k = (n - self.front.len()).min(self.rest.len());
            self.front.extend_from_slice(&self.rest[..k]);
            self.rest.advance(k);
        }
    }

    /// How many bytes at the end of `buf` may begin the delimiter (and so cannot be handed
    /// out before more bytes come).
    fn delimiter_start_at_end(&self, buf: &[u8]) -> usize {
        let from = buf.len().saturating_sub(self.delimiter.len() - 1);
        memchr::memchr_iter(b'\r', &buf[from..])
            .map(|i| from + i)
            .find(|&j| self.delimiter.starts_with(&buf[j..]))
            .map_or(0, |j| buf.len() - j)
    }

    /// The contents that can be handed out from what was read, up to the delimiter (the
    /// state then moves on); `None` when nothing can be decided without more bytes.
    fn scan(&mut self) -> Option<Bytes> {
        let d = self.delimiter.len();
        if self.front.is_empty() {
            if self.rest.is_empty() {
                return None;
            }
            if let Some(p) = self.finder.find(&self.rest) {
                let piece = self.rest.split_to(p);
                self.rest.advance(d);
                self.state = State::AfterBoundary;
                return Some(piece);
            }
            let keep = self.delimiter_start_at_end(&self.rest);
            let piece = self.rest.split_to(self.rest.len() - keep);
            self.front.extend_from_slice(&self.rest);
            self.rest = Bytes::new();
            return Some(piece);
        }
        // A delimiter may straddle `front` and `rest`: search a copy of both ends.
        self.top_up(2 * d);
        if let Some(p) = self.finder.find(&self.front) {
            let piece = self.front.split_to(p).freeze();
            self.front.advance(d);
            self.state = State::AfterBoundary;
            return Some(piece);
        }
        let keep = self.delimiter_start_at_end(&self.front);
        if keep == self.front.len() {
            return None;
        }
        Some(self.front.split_to(self.front.len() - keep).freeze())
    }

    fn poll_contents(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        loop {
            if !matches!(self.state, State::Preamble | State::Contents) {
                return Poll::Ready(Ok(None));
            }
            if let Some(piece) = self.scan() {
                if !piece.is_empty() {
                    return Poll::Ready(Ok(Some(piece)));
                }
                continue;
            }
            if !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Err(Error::Malformed(
                    "the body ended before the form's closing boundary",
                )));
            }
        }
    }

    fn poll_next_part(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<PartHead>, Error>> {
        loop {
            match self.state {
                State::Preamble => {
                    if let Some(skipped) = ready!(self.poll_contents(cx))? {
                        self.count(skipped.len())?;
                    }
                }
                State::Contents => {
                    ready!(self.poll_contents(cx))?;
                }
                State::AfterBoundary => {
                    self.top_up(2);
                    if self.front.starts_with(b"--") {
                        self.front.advance(2);
                        self.count(2)?;
                        self.state = State::Epilogue;
                    } else if self.front.starts_with(b"\r\n") {
                        self.front.advance(2);
                        self.count(2)?;
                        self.searched = 0;
                        self.state = State::Headers;
                    } else if matches!(self.front.first(), Some(b' ' | b'\t')) {
                        // Transport padding before the line end (RFC 2046).
                        self.front.advance(1);
                        self.count(1)?;
                    } else if self.front.len() >= 2 {
                        return Poll::Ready(Err(Error::Malformed(
                            "a boundary is followed by neither a line end nor \"--\"",
                        )));
                    } else if !ready!(self.poll_fill(cx))? {
                        return Poll::Ready(Err(Error::Malformed(
                            "the body ended just after a boundary",
                        )));
                    }
                }
                State::Headers => {
                    if let Some(head) = ready!(self.poll_headers(cx))? {
                        self.state = State::Contents;
                        return Poll::Ready(Ok(Some(head)));
                    }
                }
                State::Epilogue => {
                    let n = self.front.len() + self.rest.len();
                    self.front.clear();
                    self.rest = Bytes::new();
                    self.count(n)?;
                    if !ready!(self.poll_fill(cx))? {
                        self.state = State::Done;
                    }
                }
                State::Done => return Poll::Ready(Ok(None)),
            }
        }
    }

    /// Gathers and parses a part's headers; `None` (after reading more) until they are
    /// complete.
    fn poll_headers(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<PartHead>, Error>> {
        // Most often the whole block is in the chunk just read: parsed where it is.
        if self.front.is_empty() && !self.rest.is_empty() {
            if let Some((len, head)) = parse_headers(&self.rest)? {
                self.count(len)?;
                self.rest.advance(len);
                return Poll::Ready(Ok(Some(head)));
            }
        }
        // The block ends at the first empty line: searched for only in what is new, so
        // that a block trickling in a byte at a time costs no more than a whole one.
        let end = loop {
            let from = self.searched.saturating_sub(3);
            let found = if self.front.starts_with(b"\r\n") {
                Some(2)
            } else {
                memchr::memmem::find(&self.front[from..], b"\r\n\r\n").map(|i| from + i + 4)
            };
            if let Some(end) = found {
                break end;
            }
            self.searched = self.front.len();
            if self.framing + self.front.len() as u64 > self.framing_cap {
                return Poll::Ready(Err(Error::Framing));
            }
            if self.rest.is_empty() && !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Err(Error::Malformed(
                    "the body ended inside a part's headers",
                )));
            }
            // A line end at a time is enough to find the block's end; the rest of the
            // chunk stays where it is.
            let k = match memchr::memchr(b'\n', &self.rest) {
                Some(i) => i + 1,
                None => self.rest.len(),
            };
            self.front.extend_from_slice(&self.rest[..k]);
            self.rest.advance(k);
        };
        self.count(end)?;
        let Some((len, head)) = parse_headers(&self.front[..end])? else {
            return Poll::Ready(Err(Error::Malformed("a part's headers are cut short")));
        };
        debug_assert_eq!(len, end);
        self.front.advance(end);
        Poll::Ready(Ok(Some(head)))
    }
}

/// A part's header block at the start of `buf`: its length and what it says; `None` when
/// it is not complete yet.
fn parse_headers(buf: &[u8]) -> Result<Option<(usize, PartHead)>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let (len, headers) = match httparse::parse_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(done)) => done,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::Malformed("a part has too many headers"));
        }
        Err(_) => return Err(Error::Malformed("a part's headers are not valid")),
    };
    // httparse also takes bare line feeds; the block's end is searched for as CRLF CRLF
    // when it comes in pieces, so it must be that whole too.
    if !(buf[..len] == *b"\r\n" || buf[..len].ends_with(b"\r\n\r\n")) {
        return Err(Error::Malformed("a part's headers are not valid"));
    }
    let mut head = PartHead::default();
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("content-disposition") {
            head.name = param(h.value, b"name");
            head.file_name = param(h.value, b"filename");
        } else if h.name.eq_ignore_ascii_case("content-type") {
            head.content_type = std::str::from_utf8(h.value)
                .ok()
                .map(|v| v.trim().to_string());
        }
    }
    Ok(Some((len, head)))
}

/// A parameter of a Content-Disposition value, as browsers and curl write them: quoted
/// (`\"` inside stands for `"`, other backslashes stay, as Windows paths need) or bare (up to
/// `;` or a space). Names match in any case; the value must be UTF-8.
fn param(value: &[u8], name: &[u8]) -> Option<String> {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'=', &value[at..]).map(|i| at + i) {
        let before = value[..i].trim_ascii_end();
        let key_start = before
            .iter()
            .rposition(|&b| b == b';' || b.is_ascii_whitespace())
            .map_or(0, |p| p + 1);
        let key = &before[key_start..];
        let after = value[i + 1..].trim_ascii_start();
        let (raw, escaped, end) = if let Some(quoted) = after.strip_prefix(b"\"") {
            let mut k = memchr::memchr(b'"', quoted)?;
            let mut escaped = false;
            while k > 0 && quoted[k - 1] == b'\\' {
                escaped = true;
                k += 1 + memchr::memchr(b'"', &quoted[k + 1..])?;
            }
            let consumed = value.len() - after.len() + 1 + k + 1;
            (&quoted[..k], escaped, consumed)
        } else {
            let j = memchr::memchr2(b';', b' ', after).unwrap_or(after.len());
            (&after[..j], false, value.len() - after.len() + j)
        };
        // `name` must not match the end of `filename`: the key is the whole word.
        if key.eq_ignore_ascii_case(name) && key_start >= at {
            let text = std::str::from_utf8(raw).ok()?;
            return Some(if escaped {
                text.replace("\\\"", "\"")
            } else {
                text.to_string()
            });
        }
        at = end.min(value.len());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    type Parts = Vec<(PartHead, Vec<u8>)>;

    /// Parses `body` fed in the given pieces: every part with its contents, or the error.
    async fn parse(pieces: Vec<Vec<u8>>, boundary: &str, cap: u64) -> Result<Parts, String> {
        let stream = futures_util::stream::iter(
            pieces
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from(p))),
        );
        let mut mp = Multipart::new(stream, boundary, cap);
        let mut out = Vec::new();
        while let Some(head) = mp.next_part().await.map_err(|e| e.to_string())? {
            let mut contents = Vec::new();
            while let Some(c) = mp.chunk().await.map_err(|e| e.to_string())? {
                assert!(!c.is_empty());
                contents.extend_from_slice(&c);
            }
            out.push((head, contents));
        }
        Ok(out)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// What multer, the parser used before, makes of the same body in one piece.
    fn multer_parse(body: &[u8], boundary: &str) -> Result<Parts, String> {
        let body = Bytes::copy_from_slice(body);
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) }).boxed();
        block_on(async move {
            let mut mp = multer::Multipart::new(stream, boundary);
            let mut out = Vec::new();
            while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
                let head = PartHead {
                    name: field.name().map(str::to_string),
                    file_name: field.file_name().map(str::to_string),
                    content_type: field.content_type().map(|m| m.to_string()),
                };
                let contents = field.bytes().await.map_err(|e| e.to_string())?;
                out.push((head, contents.to_vec()));
            }
            Ok(out)
        })
    }

    /// `body` cut at every pair of places (small bodies) or in pieces of every size.
    fn cuts(body: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut out = vec![vec![body.to_vec()]];
        for step in 1..=body.len().min(80) {
            out.push(body.chunks(step).map(<[u8]>::to_vec).collect());
        }
        if body.len() <= 200 {
            for a in 0..=body.len() {
                for b in a..=body.len() {
                    out.push(vec![
                        body[..a].to_vec(),
                        body[a..b].to_vec(),
                        body[b..].to_vec(),
                    ]);
                }
            }
        }
        out
    }

    fn form(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (headers, contents) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
            body.extend_from_slice(contents);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        body
    }

    #[test]
    fn forms_read_as_multer_reads_them_in_any_pieces() {
        let b = "XyZ";
        // Contents that come close to the delimiter without being it.
        let tricky: &[u8] = b"a\r\n--Xy\r\n-\r\n--XyQ\r\r\n--X\r";
        let bodies = [
            form(
                b,
                &[
                    ("Content-Disposition: form-data; name=\"expires\"", b"1d"),
                    (
                        "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\nContent-Type: text/plain",
                        tricky,
                    ),
                ],
            ),
            form(
                b,
                &[(
                    "Content-Disposition: form-data; name=file; filename=x.bin",
                    b"",
                )],
            ),
            form(
                b,
                &[(
                    "content-disposition: form-data; filename=\"C:\\dir\\f.txt\"; name=\"f\"",
                    b"\r\n",
                )],
            ),
            [
                &b"preamble\r\n"[..],
                &form(
                    b,
                    &[("Content-Disposition: form-data; name=\"t\"", b"--XyZ")],
                ),
            ]
            .concat(),
            format!("--{b}--\r\n").into_bytes(),
            format!("--{b}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--{b}--")
                .into_bytes(),
        ];
        for body in &bodies {
            let want = multer_parse(body, b).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for pieces in cuts(body) {
                assert_eq!(
                    rt.block_on(parse(pieces.clone(), b, 1 << 20)),
                    Ok(want.clone()),
                    "{:?} in {:?}",
                    String::from_utf8_lossy(body),
                    pieces.iter().map(Vec::len).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn contents_are_slices_of_what_was_read() {
        let contents = vec![b'z'; 1 << 20];
        let body = form(
            "b",
            &[("Content-Disposition: form-data; name=\"file\"", &contents)],
        );
        let chunks: Vec<Bytes> = body.chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
        let ranges: Vec<_> = chunks
            .iter()
            .map(|c| c.as_ptr() as usize..c.as_ptr() as usize + c.len())
            .collect();
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let mut mp = Multipart::new(stream, "b", 1 << 16);
        block_on(async move {
            mp.next_part().await.unwrap().unwrap();
            let (mut total, mut copied) = (0, 0);
            while let Some(c) = mp.chunk().await.unwrap() {
                total += c.len();
                let p = c.as_ptr() as usize;
                if !ranges.iter().any(|r| r.contains(&p)) {
                    copied += c.len();
                }
            }
            assert_eq!(total, contents.len());
            // Only the bytes that came with the headers (one chunk's head) may be copies.
            assert!(copied < 100, "{copied} bytes copied");
        });
    }

    #[test]
    fn bad_forms_are_refused_and_framing_is_bounded() {
        let b = "XyZ";
        let cases: Vec<(Vec<u8>, &str)> = vec![
            // Cut short: inside contents, just after a boundary, inside the headers.
            (
                format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc")
                    .into_bytes(),
                "the body ended before the form's closing boundary",
            ),
            (
                format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--{b}"
                )
                .into_bytes(),
                "the body ended just after a boundary",
            ),
            (
                format!("--{b}\r\nContent-Disposition: form-data").into_bytes(),
                "the body ended inside a part's headers",
            ),
            (
                b"no boundary at all".to_vec(),
                "the body ended before the form's closing boundary",
            ),
            (
                format!("--{b}xx\r\n").into_bytes(),
                "a boundary is followed by neither a line end nor \"--\"",
            ),
            (
                format!("--{b}\r\nbad header\r\n\r\n").into_bytes(),
                "a part's headers are not valid",
            ),
            (
                format!("--{b}\r\n{}\r\n", "X-A: 1\r\n".repeat(MAX_HEADERS + 1)).into_bytes(),
                "a part has too many headers",
            ),
            // Framing past the cap: a preamble, a header block, an epilogue.
            (vec![b'p'; 5000], "too much multipart framing"),
            (
                format!("--{b}\r\nX-A: {}\r\n\r\n", "h".repeat(5000)).into_bytes(),
                "too much multipart framing",
            ),
            (
                format!("--{b}--\r\n{}", "e".repeat(5000)).into_bytes(),
                "too much multipart framing",
            ),
        ];
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for (body, want) in cases {
            for pieces in [
                vec![body.clone()],
                body.chunks(7).map(<[u8]>::to_vec).collect(),
            ] {
                assert_eq!(
                    rt.block_on(parse(pieces, b, 4096)),
                    Err(want.to_string()),
                    "{:?}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }

    #[test]
    fn boundaries_come_from_form_data_types_only() {
        assert_eq!(
            boundary("multipart/form-data; boundary=ABC").as_deref(),
            Some("ABC")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; boundary=\"a b:c\"").as_deref(),
            Some("a b:c")
        );
        assert_eq!(boundary("multipart/mixed; boundary=ABC"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary=\"\""), None);
        let long = format!(
            "multipart/form-data; boundary={}",
            "b".repeat(MAX_BOUNDARY + 1)
        );
        assert_eq!(boundary(&long), None);
    }

    #[test]
    fn disposition_parameters_are_read_as_clients_write_them() {
        let v = br#"form-data; name="file"; filename="a\"b.txt""#;
        assert_eq!(param(v, b"name").as_deref(), Some("file"));
        assert_eq!(param(v, b"filename").as_deref(), Some("a\"b.txt"));
        let v = br#"form-data; filename=report.pdf; name=doc"#;
        assert_eq!(param(v, b"name").as_deref(), Some("doc"));
        assert_eq!(param(v, b"filename").as_deref(), Some("report.pdf"));
        let v = br#"form-data; FileName="C:\dir\x=y.txt"; Name = "f""#;
        assert_eq!(param(v, b"filename").as_deref(), Some("C:\\dir\\x=y.txt"));
        assert_eq!(param(v, b"name").as_deref(), Some("f"));
        assert_eq!(param(br#"form-data; filename="x""#, b"name"), None);
        assert_eq!(param(b"form-data; name=\"\xff\"", b"name"), None);
    }
}
